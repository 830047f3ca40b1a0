//! `stems allocate`: a seeded genetic search over layer-to-core (or block-to-core)
//! allocations for one schedule (see `stems::explore::allocate`).

use super::{EvictionArg, Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use stems::cost::Report;
use stems::explore::allocate::{
    AllocateOptions, AllocationEvaluated, AllocationSpace, Unit, allocate, best, best_so_far,
};
use stems::explore::search::Objective;
use stems::mapping::Objective as MapObjective;
use stems::model::units::thousands;
use stems::report::Table;
use stems::schedule::{ScheduleSpec, SchedulerOptions};

#[derive(Args)]
pub struct AllocateArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// Cuts: one `<time>-<space>` entry for every block (TB-LF) or one per block.
    #[arg(long, allow_hyphen_values = true, value_name = "SPEC")]
    pub schedule: String,
    /// What the search minimises: latency, energy or edp.
    #[arg(long, allow_hyphen_values = true, default_value = "latency", value_parser = parse_objective)]
    pub objective: Objective,
    /// Allocations to cost, the single-core warm start included.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 2000,
        value_name = "N"
    )]
    pub budget: usize,
    /// Go ahead with a run estimated at more than an hour (STEMS_LONG_RUN_SECONDS).
    #[arg(long)]
    pub yes: bool,
    /// Seed of the random generator. Same seed, same result, on any --jobs.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0,
        value_name = "S"
    )]
    pub seed: u64,
    /// Survivors per generation, and children bred from them.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 32,
        value_name = "N"
    )]
    pub population: usize,
    /// What one gene assigns to a core: a layer or a block.
    #[arg(long, allow_hyphen_values = true, default_value = "layer", value_parser = parse_unit)]
    pub unit: Unit,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: EvictionArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
    /// Write allocations.csv (every allocation costed), convergence.svg and
    /// summary.json here.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    match s.parse()? {
        o @ (Objective::Latency | Objective::Energy | Objective::Edp) => Ok(o),
        _ => Err(format!("'{s}' is not latency, energy or edp")),
    }
}

fn parse_unit(s: &str) -> Result<Unit, String> {
    s.parse()
}

/// Budgets above this are refused.
const MAX_BUDGET: usize = 1_000_000;

#[derive(serde::Serialize)]
struct Summary<'a> {
    workload: &'a str,
    hardware: String,
    schedule: Vec<String>,
    unit: Unit,
    objective: Objective,
    budget: usize,
    seed: u64,
    population: usize,
    /// How many allocations the space holds (saturating, as text: it can exceed u64).
    allocations: String,
    evaluations: usize,
    infeasible: usize,
    seconds: f64,
    evaluations_per_second: f64,
    /// The best allocation, as `--allocate` takes it.
    best_allocation: Option<&'a str>,
    best: Option<&'a AllocationEvaluated>,
    /// Every layer on the first core (the warm start).
    single_core: Option<&'a AllocationEvaluated>,
}

pub fn run(args: AllocateArgs) -> Result<()> {
    use stems::model::limits::MAX_JOBS;
    if args.budget == 0 || args.budget > MAX_BUDGET {
        bail!(UsageError(format!("--budget must be 1..={MAX_BUDGET}")));
    }
    if !(2..=4096).contains(&args.population) {
        bail!(UsageError("--population must be 2..=4096".into()));
    }
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let (workload, accelerator) = args.models.load()?;
    let spec = ScheduleSpec::parse(&args.schedule, workload.num_blocks, workload.timesteps)
        .context("--schedule")?;
    let space = AllocationSpace::new(&workload, &accelerator, args.unit)
        .map_err(|e| UsageError(format!("--hardware: {e}")))?;
    let scheduler = SchedulerOptions {
        prefetch: !args.no_prefetch,
        eviction: args.eviction.eviction,
        objective: MapObjective::Energy,
    };
    let options = AllocateOptions {
        budget: args.budget,
        seed: args.seed,
        population: args.population,
        objective: args.objective,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let threads = pool.current_num_threads().max(1);
    let per_evaluation = stems::explore::allocate::seconds_per_evaluation(
        &workload,
        &accelerator,
        &spec,
        &space,
        scheduler,
    );
    let estimate = per_evaluation * args.budget as f64 / threads as f64;
    eprintln!("{} allocations to cost; about {estimate:.0} s", args.budget);
    super::progress::confirm_long_search(estimate, args.yes)?;
    let progress = super::progress::Progress::new(args.budget as u64, "allocations");
    let started = std::time::Instant::now();
    let all = pool.install(|| {
        allocate(
            &workload,
            &accelerator,
            &spec,
            &space,
            options,
            scheduler,
            |e| {
                if let Some(r) = &e.report {
                    let v = args.objective.value(r);
                    progress.offer(v, || args.objective.show(v));
                }
                progress.inc();
            },
        )
    });
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let best_index = best(&all, args.objective);
    let summary = Summary {
        workload: &workload.name,
        hardware: accelerator.label(),
        schedule: spec.entries(),
        unit: args.unit,
        objective: args.objective,
        budget: args.budget,
        seed: args.seed,
        population: args.population,
        allocations: stems::explore::ga::Genome::size(&space).to_string(),
        evaluations: all.len(),
        infeasible: all.iter().filter(|e| e.report.is_none()).count(),
        seconds,
        evaluations_per_second: all.len() as f64 / seconds.max(1e-9),
        best_allocation: best_index.map(|i| all[i].allocation.as_str()),
        best: best_index.map(|i| &all[i]),
        single_core: all.first(),
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_outputs(dir, &summary, &all)?;
        eprintln!(
            "wrote allocations.csv, convergence.svg, summary.json to {}",
            dir.display()
        );
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&summary)?),
        Format::Table => print_table(&summary, &accelerator)?,
    }
    Ok(())
}

fn write_outputs(dir: &Path, summary: &Summary, all: &[AllocationEvaluated]) -> Result<()> {
    let mut file = stems::output::AtomicFile::create(&dir.join("allocations.csv"))?;
    {
        let mut w = csv::Writer::from_writer(&mut file);
        w.write_record([
            "evaluation",
            "generation",
            "allocation",
            "energy_pj",
            "latency_cycles",
            "edp_pj_cycles",
            "noc_bits",
            "dram_bits",
            "error",
        ])?;
        for e in all {
            let r = e.report.as_ref();
            let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
            let int = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
            w.write_record([
                e.index.to_string(),
                e.generation.to_string(),
                e.allocation.clone(),
                num(r.map(|r| r.energy_pj.total)),
                int(r.map(|r| r.latency_cycles)),
                num(r.map(|r| r.energy_pj.total * r.latency_cycles as f64)),
                int(r.map(|r| r.noc_bits)),
                int(r.map(|r| r.dram_bits.total)),
                e.error.clone().unwrap_or_default(),
            ])?;
        }
        w.flush()?;
    }
    file.commit()?;
    // Convergence: every evaluation's value (grey) and the best so far (line).
    let objective = summary.objective;
    let scale = |v: f64| match objective {
        Objective::Latency => v / 1e6,
        Objective::Edp => v / 1e12,
        _ => v / 1e6,
    };
    let points: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|e| {
            e.report
                .as_ref()
                .map(|r| (e.index as f64, scale(objective.value(r))))
        })
        .collect();
    let best: Vec<(f64, f64)> = best_so_far(all, objective)
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, scale(v))))
        .collect();
    let unit = match objective {
        Objective::Latency => "latency (Mcycles)",
        Objective::Edp => "EDP (µJ·Mcycles)",
        _ => "energy (µJ)",
    };
    stems::report::plot::convergence(
        &dir.join("convergence.svg"),
        &format!(
            "{} on {}, {}: allocation search",
            summary.workload,
            summary.hardware,
            stems::schedule::spec::compact(&summary.schedule.join(","))
        ),
        unit,
        &points,
        &best,
    )?;
    let json = serde_json::to_string_pretty(summary)?;
    stems::output::write(&dir.join("summary.json"), json.as_bytes())?;
    Ok(())
}

fn print_table(summary: &Summary, acc: &stems::model::Accelerator) -> Result<()> {
    outln!(
        "{} of {} allocations ({} per gene over {} cores) of {} on {}, {}, in {:.2} s ({:.0} evaluations/s), seed {}, objective {}{}",
        thousands(summary.evaluations as u64),
        stems::model::units::group_digits(&summary.allocations),
        summary.unit,
        acc.cores.len(),
        summary.workload,
        summary.hardware,
        stems::schedule::spec::compact(&summary.schedule.join(",")),
        summary.seconds,
        summary.evaluations_per_second,
        summary.seed,
        summary.objective,
        if summary.infeasible > 0 {
            format!(", {} refused by the scheduler", summary.infeasible)
        } else {
            String::new()
        }
    );
    let mut t = Table::new([
        "allocation",
        "latency (cycles)",
        "energy",
        "NoC bits",
        "DRAM bits",
        "latency ×",
    ]);
    let base = summary
        .single_core
        .and_then(|e| e.report.as_ref())
        .map(|r| r.latency_cycles);
    let mut row = |name: &str, r: &Report| {
        t.row([
            name.to_string(),
            thousands(r.latency_cycles),
            stems::model::units::human_energy_pj(r.energy_pj.total),
            thousands(r.noc_bits),
            thousands(r.dram_bits.total),
            base.map_or(String::new(), |b| {
                format!("{:.2}", b as f64 / r.latency_cycles.max(1) as f64)
            }),
        ]);
    };
    if let Some(r) = summary.single_core.and_then(|e| e.report.as_ref()) {
        row("single core (first able core)", r);
    }
    if let Some(r) = summary.best.and_then(|e| e.report.as_ref()) {
        row("best found", r);
    }
    out!("{}", t.render());
    if let Some(a) = summary.best_allocation {
        outln!("\nbest allocation (for --allocate):\n{a}");
    }
    Ok(())
}
