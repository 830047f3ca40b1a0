//! Scenarios: experiments written down as TOML — which network, which hardware (with
//! its global-SRAM size and the SEW-X state ablation as overrides), which schedules
//! against which baseline, whether to cross-check each with the simulator, and the
//! paper's published figures to compare with. `stems run` executes one.
//!
//! Paths inside a scenario are relative to the scenario file.

mod run;

pub use run::{ExperimentResult, RunError, RunResult, ScenarioResult, run};

use crate::cost::Report;
use crate::explore::Side;
use crate::mapping::{Mapper, Objective};
use crate::model::diag::{Collector, ModelError, SourceText};
use crate::model::{Accelerator, HardwareOverrides, Size, Workload};
use crate::schedule::{Allocation, Eviction, ScheduleSpec, SchedulerOptions, schedule};
use crate::sim::{SimError, SimOptions, VerificationReport, simulate};
use crate::validate::{self, Comparison};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    experiment: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    sweep: Vec<toml::Spanned<toml::Table>>,
}

/// A `[[sweep]]`: the cross product of hardware axes and schedules (`stems sweep`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    name: String,
    workload: String,
    hardware: String,
    #[serde(default)]
    gb: Option<String>,
    #[serde(default)]
    stateless_blocks: Vec<usize>,
    #[serde(default)]
    set: Vec<String>,
    /// Every feature tensor's density scaled by this factor (as `--activity`).
    #[serde(default)]
    activity: Option<f64>,
    /// A recording (.npz, relative to the scenario), as `--spikes`.
    #[serde(default)]
    spikes: Option<String>,
    schedules: Vec<String>,
    axes: Vec<String>,
    #[serde(default = "yes")]
    prefetch: bool,
    #[serde(default = "dram_bound_share")]
    dram_bound_share: f64,
    #[serde(default)]
    eviction: Option<String>,
}

fn dram_bound_share() -> f64 {
    0.05
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: String,
    workload: String,
    hardware: String,
    #[serde(default)]
    gb: Option<String>,
    /// Accelerator fields set by path (`dram.bw_bits=32`), as `--set` does.
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    stateless_blocks: Vec<usize>,
    /// Every feature tensor's density scaled by this factor (as `--activity`).
    #[serde(default)]
    activity: Option<f64>,
    /// A recording (.npz, relative to the scenario) whose densities the analytic half
    /// takes and whose spikes the simulator runs (as `--spikes`).
    #[serde(default)]
    spikes: Option<String>,
    /// How drawn spikes are spread when no recording is given (`uniform`, `clustered`).
    #[serde(default)]
    spike_pattern: Option<String>,
    /// Layer-to-core allocation (`LAYER=CORE` or `block:N=CORE`, comma-separated).
    #[serde(default)]
    allocate: Option<String>,
    baseline: String,
    schedules: Vec<String>,
    #[serde(default)]
    simulate: bool,
    #[serde(default = "yes")]
    prefetch: bool,
    /// The memory manager's eviction policy (`cost`, the default, or `paper`).
    #[serde(default)]
    eviction: Option<String>,
    #[serde(default)]
    paper: Option<PaperFigures>,
    /// Also run the best schedule of the paper's hybrid space, under each policy.
    #[serde(default)]
    best_hybrid: Option<HybridRequest>,
    /// Also run the best schedule a genetic search finds (`explore --space search`).
    #[serde(default)]
    search: Option<SearchRequest>,
    /// Also run the baseline and each schedule on the allocation a genetic search
    /// finds for it (`stems allocate`).
    #[serde(default)]
    allocation_search: Option<AllocationSearchRequest>,
}

/// `allocation_search = { … }`: the genetic allocation search's options.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AllocationSearchRequest {
    #[serde(default = "default_allocation_budget")]
    pub budget: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_population")]
    pub population: usize,
    /// latency, energy or edp.
    #[serde(default = "latency")]
    pub objective: String,
    /// layer or block.
    #[serde(default = "layer")]
    pub unit: String,
}

fn default_allocation_budget() -> usize {
    2000
}

fn latency() -> String {
    "latency".into()
}

fn layer() -> String {
    "layer".into()
}

/// A checked `allocation_search`.
#[derive(Debug, Clone, Copy)]
pub struct AllocationSearch {
    pub options: crate::explore::allocate::AllocateOptions,
    pub unit: crate::explore::allocate::Unit,
}

fn yes() -> bool {
    true
}

fn input_side() -> Side {
    Side::Input
}

/// `best_hybrid = { batch_from, fuse_from, evictions }`: the hybrid grid is explored
/// under each policy and its best schedule by energy is run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HybridRequest {
    #[serde(default = "input_side")]
    pub batch_from: Side,
    #[serde(default = "input_side")]
    pub fuse_from: Side,
    #[serde(default = "both_policies")]
    pub evictions: Vec<Eviction>,
}

fn both_policies() -> Vec<Eviction> {
    vec![Eviction::Paper, Eviction::Cost]
}

/// `search = { budget, seed, lines, population, eviction, batch_from, fuse_from }`: the
/// best by energy of a seeded genetic search, warm-started from the hybrid grid.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default = "default_budget")]
    pub budget: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_lines")]
    pub lines: Vec<u64>,
    #[serde(default = "default_population")]
    pub population: usize,
    #[serde(default)]
    pub eviction: Eviction,
    #[serde(default = "input_side")]
    pub batch_from: Side,
    #[serde(default = "input_side")]
    pub fuse_from: Side,
}

fn default_budget() -> usize {
    5000
}

fn default_lines() -> Vec<u64> {
    vec![1, 2, 4, 8]
}

fn default_population() -> usize {
    32
}

/// Figures the paper publishes for an experiment's best schedule against its baseline
/// (the energy reduction is not given for every experiment).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PaperFigures {
    pub dram_reduction: f64,
    #[serde(default)]
    pub energy_reduction: Option<f64>,
}

/// One resolved experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    pub workload: Workload,
    pub accelerator: Accelerator,
    pub allocation: Allocation,
    pub baseline: ScheduleSpec,
    pub schedules: Vec<ScheduleSpec>,
    pub simulate: bool,
    pub prefetch: bool,
    pub eviction: crate::schedule::Eviction,
    pub paper: Option<PaperFigures>,
    pub best_hybrid: Option<HybridRequest>,
    pub search: Option<SearchRequest>,
    pub allocation_search: Option<AllocationSearch>,
    /// The spikes its simulations execute (a recording, or drawn at the densities).
    pub spikes: crate::sim::SpikeSource,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub experiments: Vec<Experiment>,
    /// Named sweeps, run after the experiments.
    pub sweeps: Vec<(String, crate::hardware_sweep::SweepSpec)>,
}

impl Scenario {
    /// The runs `stems run` makes of every experiment (its baseline and schedules,
    /// the best hybrid and searched ones it asks for, and those on the allocations the
    /// allocation search finds) as runs of a validation: one configuration per
    /// experiment, policy and allocation.
    pub fn validation_plan(self) -> Result<crate::validate::plan::Plan, RunError> {
        let mut plan = crate::validate::plan::Plan::default();
        for x in &self.experiments {
            // (label, policy, allocation, schedules), in the order they first run.
            let mut groups: Vec<(String, Eviction, Allocation, Vec<ScheduleSpec>)> = Vec::new();
            for r in run::runs_of(x)? {
                match groups
                    .iter_mut()
                    .find(|g| g.1 == r.eviction && g.2 == r.allocation)
                {
                    Some(g) => g.3.push(r.spec),
                    None => {
                        let label = match groups.is_empty() {
                            true => x.name.clone(),
                            false => format!(
                                "{}, {} of {}",
                                x.name,
                                r.origin,
                                crate::schedule::spec::compact(&r.spec.to_string())
                            ),
                        };
                        groups.push((label, r.eviction, r.allocation, vec![r.spec]));
                    }
                }
            }
            for (label, eviction, allocation, specs) in groups {
                let config = crate::validate::runs::Config {
                    label,
                    workload: x.workload.clone(),
                    accelerator: x.accelerator.clone(),
                    allocation,
                    options: SchedulerOptions {
                        prefetch: x.prefetch,
                        objective: Objective::Energy,
                        eviction,
                    },
                    spikes: x.spikes.clone(),
                };
                plan.push(config, specs);
            }
        }
        Ok(plan)
    }

    /// Reads and validates a scenario, loading every model it names. Every problem is
    /// reported with its line.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let source = SourceText::read(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut diag = Collector::new(&source);
        let whole = 0..source.text.len();
        let Some(raw) = diag.document::<RawScenario>("scenario") else {
            return Err(diag.into_error());
        };
        let sweeps = raw
            .sweep
            .into_iter()
            .enumerate()
            .filter_map(|(i, table)| resolve_sweep(i, table, &base, &mut diag))
            .collect::<Vec<_>>();
        if raw.experiment.is_empty() && sweeps.is_empty() && diag.problems.is_empty() {
            diag.at(
                &whole,
                "scenario",
                "experiment",
                "has no [[experiment]] tables",
            );
        }
        let mut experiments = Vec::new();
        for (i, table) in raw.experiment.into_iter().enumerate() {
            let span = table.span();
            let table = table.into_inner();
            let el = match table.get("name").and_then(|v| v.as_str()) {
                Some(n) => format!("experiment '{n}'"),
                None => format!("experiment #{}", i + 1),
            };
            let Some(rx) = diag.table::<RawExperiment>(table, &el, &span) else {
                continue;
            };
            if let Some(x) = resolve_experiment(rx, span, &el, &base, &mut diag) {
                experiments.push(x);
            }
        }
        diag.finish()?;
        Ok(Self {
            name: raw.name,
            description: raw.description,
            experiments,
            sweeps,
        })
    }
}

/// Checks one `[[experiment]]` and loads its models; `None` when a problem was
/// reported.
fn resolve_experiment(
    rx: RawExperiment,
    span: std::ops::Range<usize>,
    el: &str,
    base: &Path,
    diag: &mut Collector,
) -> Option<Experiment> {
    check_paper_figures(&rx, &span, el, diag);
    let (workload, accelerator) = load_models(&rx, &span, el, base, diag);
    let mut workload = workload?;
    let spikes = experiment_spikes(&rx, &mut workload, base, diag, &span, el);
    let parse = |spec: &str, field: &str, diag: &mut Collector| {
        ScheduleSpec::parse(spec, workload.num_blocks, workload.timesteps)
            .map_err(|e| diag.at(&span, el, field, e.message))
            .ok()
    };
    let baseline = parse(&rx.baseline, "baseline", diag);
    let schedules: Vec<Option<ScheduleSpec>> = rx
        .schedules
        .iter()
        .map(|s| parse(s, "schedules", diag))
        .collect();
    check_comparisons(&rx, &span, el, diag);
    let allocation = accelerator.as_ref().and_then(|acc| {
        match rx
            .allocate
            .as_deref()
            .map(|a| Allocation::parse(a, &workload, acc))
        {
            None => Some(Allocation::first_able(&workload, acc)),
            Some(Ok(a)) => Some(a),
            Some(Err(e)) => {
                diag.at(&span, el, "allocate", e.to_string());
                None
            }
        }
    });
    let allocation_search = match &rx.allocation_search {
        None => Some(None),
        Some(q) => resolve_allocation_search(q, diag, &span, el).map(Some),
    };
    let eviction = match rx.eviction.as_deref().map(str::parse) {
        None => Some(crate::schedule::Eviction::default()),
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => {
            diag.at(&span, el, "eviction", m);
            None
        }
    };
    if let (
        Some(accelerator),
        Some(baseline),
        Some(allocation),
        Some(eviction),
        Some(allocation_search),
    ) = (
        accelerator,
        baseline,
        allocation,
        eviction,
        allocation_search,
    ) && schedules.iter().all(Option::is_some)
    {
        return Some(Experiment {
            name: rx.name,
            workload,
            accelerator,
            allocation,
            baseline,
            schedules: schedules.into_iter().flatten().collect(),
            simulate: rx.simulate,
            prefetch: rx.prefetch,
            eviction,
            paper: rx.paper,
            best_hybrid: rx.best_hybrid,
            search: rx.search,
            allocation_search,
            spikes: spikes?,
        });
    }
    None
}

/// The paper's reductions an experiment states are positive factors.
fn check_paper_figures(
    rx: &RawExperiment,
    span: &std::ops::Range<usize>,
    el: &str,
    diag: &mut Collector,
) {
    let Some(p) = &rx.paper else {
        return;
    };
    for (field, v) in [
        ("paper.dram_reduction", Some(p.dram_reduction)),
        ("paper.energy_reduction", p.energy_reduction),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
            diag.at(
                span,
                el,
                field,
                format!("a reduction is a positive factor, got {v}"),
            );
        }
    }
}

/// The experiment's workload (with its stateless blocks and activity factor) and
/// accelerator (with its global SRAM size and field sets), each `None` when it does
/// not load; every problem is reported.
fn load_models(
    rx: &RawExperiment,
    span: &std::ops::Range<usize>,
    el: &str,
    base: &Path,
    diag: &mut Collector,
) -> (Option<Workload>, Option<Accelerator>) {
    let gb = match rx.gb.as_deref().map(str::parse::<Size>) {
        Some(Ok(s)) => Some(s),
        Some(Err(m)) => {
            diag.at(span, el, "gb", m);
            None
        }
        None => None,
    };
    let workload = match Workload::load(&base.join(&rx.workload)) {
        Ok(mut w) => {
            // A bad override is reported; the schedules are still checked.
            if let Err(e) = w.make_blocks_stateless(&rx.stateless_blocks) {
                for p in e.problems {
                    diag.at(span, el, "stateless_blocks", p.message);
                }
            }
            match rx.activity {
                Some(f) if !(f.is_finite() && f >= 0.0) => diag.at(
                    span,
                    el,
                    "activity",
                    format!("scales densities: a finite factor ≥ 0, got {f}"),
                ),
                Some(f) => w.densities = w.densities.scaled(f, w.layers.len() + 1),
                None => {}
            }
            Some(w)
        }
        Err(e) => {
            diag.at(span, el, "workload", e.to_string());
            None
        }
    };
    let mut sets = Vec::new();
    for s in &rx.set {
        match s.parse::<crate::model::overrides::FieldSet>() {
            Ok(f) => sets.push(f),
            Err(m) => diag.at(span, el, "set", m),
        }
    }
    let accelerator = match Accelerator::load_with(
        &base.join(&rx.hardware),
        &sets,
        HardwareOverrides { global_sram: gb },
    ) {
        Ok(a) => Some(a),
        Err(e) => {
            diag.at(span, el, "hardware", e.to_string());
            None
        }
    };
    (workload, accelerator)
}

/// What the experiment compares with its baseline: something, and within range.
fn check_comparisons(
    rx: &RawExperiment,
    span: &std::ops::Range<usize>,
    el: &str,
    diag: &mut Collector,
) {
    if let Some(q) = &rx.search {
        for (field, ok) in [
            ("search.budget", (1..=1_000_000).contains(&q.budget)),
            ("search.population", (2..=4096).contains(&q.population)),
            (
                "search.lines",
                !q.lines.is_empty() && q.lines.iter().all(|l| (1..=4096).contains(l)),
            ),
        ] {
            if !ok {
                diag.at(
                    span,
                    el,
                    field,
                    "out of range (budget 1..=1000000, population 2..=4096, lines 1..=4096)",
                );
            }
        }
    }
    if rx
        .best_hybrid
        .as_ref()
        .is_some_and(|h| h.evictions.is_empty())
    {
        diag.at(span, el, "best_hybrid.evictions", "lists no policy");
    }
    if rx.schedules.is_empty()
        && rx.best_hybrid.is_none()
        && rx.search.is_none()
        && rx.allocation_search.is_none()
    {
        diag.at(
            span,
            el,
            "schedules",
            "lists no schedule to compare with the baseline",
        );
    }
}

/// The spikes an experiment's simulations run: its recording (whose densities become
/// the workload's), or drawn in its `spike_pattern`.
fn experiment_spikes(
    rx: &RawExperiment,
    workload: &mut Workload,
    base: &Path,
    diag: &mut Collector,
    span: &std::ops::Range<usize>,
    el: &str,
) -> Option<crate::sim::SpikeSource> {
    use crate::sim::SpikeSource;
    use crate::spikes::{Pattern, SpikeOptions};
    if let Some(file) = &rx.spikes {
        return match crate::spikes::record::attach(workload, &base.join(file)) {
            Ok(s) => Some(SpikeSource::Given(std::sync::Arc::new(s))),
            Err(e) => {
                diag.at(span, el, "spikes", e.to_string());
                None
            }
        };
    }
    let pattern = match rx.spike_pattern.as_deref() {
        None | Some("uniform") => Pattern::Uniform,
        Some("clustered") => Pattern::Clustered,
        Some(other) => {
            diag.at(
                span,
                el,
                "spike_pattern",
                format!("'{other}' is not one of uniform, clustered"),
            );
            return None;
        }
    };
    Some(SpikeSource::Generated(SpikeOptions { pattern, seed: 0 }))
}

/// Checks `allocation_search`: its objective and unit by name, its sizes in range.
fn resolve_allocation_search(
    q: &AllocationSearchRequest,
    diag: &mut Collector,
    span: &std::ops::Range<usize>,
    el: &str,
) -> Option<AllocationSearch> {
    use crate::explore::search::Objective as Goal;
    let objective = match q.objective.parse::<Goal>() {
        Ok(o @ (Goal::Latency | Goal::Energy | Goal::Edp)) => Some(o),
        _ => {
            let m = format!("'{}' is not latency, energy or edp", q.objective);
            diag.at(span, el, "allocation_search.objective", m);
            None
        }
    };
    let unit = match q.unit.parse() {
        Ok(u) => Some(u),
        Err(m) => {
            diag.at(span, el, "allocation_search.unit", m);
            None
        }
    };
    for (field, ok) in [
        (
            "allocation_search.budget",
            (1..=1_000_000).contains(&q.budget),
        ),
        (
            "allocation_search.population",
            (2..=4096).contains(&q.population),
        ),
    ] {
        if !ok {
            diag.at(
                span,
                el,
                field,
                "out of range (budget 1..=1000000, population 2..=4096)",
            );
        }
    }
    let options = crate::explore::allocate::AllocateOptions {
        budget: q.budget,
        seed: q.seed,
        population: q.population,
        objective: objective?,
    };
    Some(AllocationSearch {
        options,
        unit: unit?,
    })
}

/// A sweep's global SRAM size, overrides and axes, each parsed (a problem for each
/// that is not).
fn sweep_fields(
    rs: &RawSweep,
    diag: &mut Collector,
    span: &std::ops::Range<usize>,
    el: &str,
) -> (
    Option<Size>,
    Vec<crate::model::overrides::FieldSet>,
    Vec<crate::hardware_sweep::Axis>,
) {
    let gb = match rs.gb.as_deref().map(str::parse::<Size>) {
        Some(Ok(s)) => Some(s),
        Some(Err(m)) => {
            diag.at(span, el, "gb", m);
            None
        }
        None => None,
    };
    let mut sets = Vec::new();
    for s in &rs.set {
        match s.parse::<crate::model::overrides::FieldSet>() {
            Ok(f) => sets.push(f),
            Err(m) => diag.at(span, el, "set", m),
        }
    }
    let mut axes = Vec::new();
    for a in &rs.axes {
        match a.parse::<crate::hardware_sweep::Axis>() {
            Ok(a) => axes.push(a),
            Err(m) => diag.at(span, el, "axes", m),
        }
    }
    (gb, sets, axes)
}

/// Reads one `[[sweep]]`, checking its sizes, overrides, axes and schedules against its
/// models.
fn resolve_sweep(
    index: usize,
    table: toml::Spanned<toml::Table>,
    base: &Path,
    diag: &mut Collector,
) -> Option<(String, crate::hardware_sweep::SweepSpec)> {
    let span = table.span();
    let table = table.into_inner();
    let el = match table.get("name").and_then(|v| v.as_str()) {
        Some(n) => format!("sweep '{n}'"),
        None => format!("sweep #{}", index + 1),
    };
    let rs = diag.table::<RawSweep>(table, &el, &span)?;
    let before = diag.problems.len();
    let (gb, sets, axes) = sweep_fields(&rs, diag, &span, &el);
    if axes.is_empty() || rs.schedules.is_empty() {
        diag.at(
            &span,
            &el,
            "axes",
            "a sweep needs at least one axis and one schedule",
        );
    }
    let resolve = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let overrides = crate::model::Overrides {
        global_sram: gb,
        stateless_blocks: rs.stateless_blocks.clone(),
        hardware: sets,
        activity: rs.activity,
        layer_activity: Vec::new(),
    };
    let (workload, hardware) = (resolve(&rs.workload), resolve(&rs.hardware));
    match crate::model::load(&workload, &hardware, &overrides) {
        Ok((w, _)) => {
            for s in &rs.schedules {
                if let Err(e) = ScheduleSpec::parse(s, w.num_blocks, w.timesteps) {
                    diag.at(&span, &el, "schedules", e.message);
                }
            }
        }
        Err(e) => diag.at(&span, &el, load_field(&e, &hardware), e.to_string()),
    }
    let eviction = match rs.eviction.as_deref().map(str::parse) {
        None => Some(crate::schedule::Eviction::default()),
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => {
            diag.at(&span, &el, "eviction", m);
            None
        }
    };
    (diag.problems.len() == before).then_some((
        rs.name,
        crate::hardware_sweep::SweepSpec {
            workload,
            hardware,
            overrides,
            recording: rs.spikes.as_deref().map(resolve),
            prefetch: rs.prefetch,
            eviction: eviction?,
            shape: crate::hardware_sweep::SweepShape {
                axes,
                schedules: rs.schedules,
                dram_bound_share: rs.dram_bound_share,
            },
        },
    ))
}

/// The field of a sweep or experiment a loading problem belongs to: its hardware (or
/// the fields it sets over it) when the problem is the accelerator's, else its workload.
fn load_field(e: &crate::model::ModelError, hardware: &std::path::Path) -> &'static str {
    if !e.origin.starts_with(&hardware.display().to_string()) {
        "workload"
    } else if e.origin.contains(" with --set ") {
        "set"
    } else {
        "hardware"
    }
}
