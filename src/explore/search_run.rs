//! A search as a user runs it: the genetic search of [`super::search`] on worker
//! threads, the Pareto front of what it costed, the best of the paper's hybrid grid
//! next to it and any schedules the user marked, in one result that `summary.json`
//! serialises.

use super::search::{Evaluated, Objective, SearchOptions, SearchSpace, best, pareto_front, search};
use super::workers::Sharing;
use crate::cost::Report;
use crate::mapping::Mapper;
use crate::model::{Accelerator, Workload};
use crate::schedule::{Allocation, ScheduleError, ScheduleSpec, SchedulerOptions, predict};
use serde::Serialize;
use std::time::Instant;

/// What to search, and what to show beside the result.
pub struct SearchRun<'a> {
    pub workload: &'a Workload,
    pub accelerator: &'a Accelerator,
    /// Line counts of the fused cuts LF<n>.
    pub lines: Vec<u64>,
    /// Seeded from the paper's hybrid grid or from random schedules only.
    pub warm_start: bool,
    /// How to search (its `warm_start` is set from the hybrid grid).
    pub options: SearchOptions,
    pub scheduler: SchedulerOptions,
    /// Schedules to cost and show on the Pareto picture, by name.
    pub marks: Vec<(String, ScheduleSpec)>,
    /// Worker threads (`None`: all cores). Figures do not depend on it.
    pub jobs: Option<usize>,
}

impl SearchRun<'_> {
    /// The space of per-block cuts searched.
    pub fn space(&self) -> SearchSpace {
        SearchSpace::new(
            self.workload.num_blocks,
            self.workload.timesteps,
            &self.lines,
        )
    }
}

/// The space a search ran on, as `summary.json` states it.
#[derive(Debug, Serialize)]
pub struct SearchedSpace {
    pub kind: &'static str,
    pub blocks: usize,
    pub cuts_per_block: usize,
    /// As a string: it may exceed what JSON numbers hold exactly.
    pub schedules: String,
    pub lines: Vec<u64>,
    pub budget: usize,
    pub seed: u64,
    pub population: usize,
    pub objective: Objective,
    pub warm_start: &'static str,
    pub eviction: crate::schedule::Eviction,
}

/// A schedule and its cost.
#[derive(Debug, Serialize)]
pub struct Named<'a> {
    pub schedule: Vec<String>,
    pub report: &'a Report,
}

fn no_skipped(s: &&super::Skipped) -> bool {
    s.count == 0
}

/// A finished search.
#[derive(Debug)]
pub struct Searched {
    pub workload: String,
    pub global_sram_bits: u64,
    pub space: SearchedSpace,
    /// Every evaluation, in order.
    pub all: Vec<Evaluated>,
    /// Index into `all` of the best by the objective.
    pub best: Option<usize>,
    /// Indices into `all` of the Pareto front, energy against latency.
    pub front: Vec<usize>,
    /// The best of the hybrid grid, costed here when the warm start did not.
    pub best_hybrid: Option<(ScheduleSpec, Report)>,
    /// The marked schedules, costed.
    pub marked: Vec<(String, Report)>,
    /// Schedules bred that cannot run, never costed.
    pub skipped: super::Skipped,
    pub seconds: f64,
    /// How many evaluations continued from a checkpoint of blocks an earlier one
    /// shared (depends on `--jobs`, like `seconds`; the figures do not).
    pub sharing: Sharing,
}

/// `summary.json`: `best.report.energy_pj.total` as in the enumerated spaces.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub workload: &'a str,
    pub global_sram_bits: u64,
    pub space: &'a SearchedSpace,
    pub evaluations: usize,
    pub infeasible: usize,
    /// Schedules bred that cannot run, skipped without costing (not in `evaluations`).
    #[serde(skip_serializing_if = "no_skipped")]
    pub skipped: &'a super::Skipped,
    pub seconds: f64,
    pub evaluations_per_second: f64,
    pub prefix_sharing: Sharing,
    pub best: Option<&'a Evaluated>,
    pub best_hybrid: Option<Named<'a>>,
    pub pareto: Vec<&'a Evaluated>,
}

impl Searched {
    pub fn best_evaluation(&self) -> Option<&Evaluated> {
        self.best.map(|i| &self.all[i])
    }

    pub fn summary(&self) -> Summary<'_> {
        Summary {
            workload: &self.workload,
            global_sram_bits: self.global_sram_bits,
            space: &self.space,
            evaluations: self.all.len(),
            infeasible: self.all.iter().filter(|e| e.report.is_none()).count(),
            skipped: &self.skipped,
            seconds: self.seconds,
            evaluations_per_second: self.all.len() as f64 / self.seconds.max(1e-9),
            prefix_sharing: self.sharing,
            best: self.best_evaluation(),
            best_hybrid: self.best_hybrid.as_ref().map(|(spec, r)| Named {
                schedule: spec.entries(),
                report: r,
            }),
            pareto: self.front.iter().map(|&i| &self.all[i]).collect(),
        }
    }
}

/// Runs the search; `each` sees every evaluation as its generation completes.
/// `hybrid` is the paper's grid the result is compared with (and, with a warm
/// start, seeded from).
pub fn run_search<E>(
    run: &SearchRun,
    hybrid: &[ScheduleSpec],
    each: impl Fn(&Evaluated) + Sync + Send,
) -> Result<Searched, E>
where
    E: From<ScheduleError> + From<rayon::ThreadPoolBuildError>,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(run.jobs.unwrap_or(0))
        .build()?;
    let space = run.space();
    let mut options = run.options.clone();
    options.warm_start = if run.warm_start {
        hybrid.to_vec()
    } else {
        Vec::new()
    };
    let started = Instant::now();
    let (all, sharing, skipped) = pool.install(|| {
        search(
            run.workload,
            run.accelerator,
            &space,
            &options,
            run.scheduler,
            each,
        )
    });
    let seconds = started.elapsed().as_secs_f64();
    let objective = options.objective;
    let best_hybrid = best_of(run, hybrid, objective, &all);
    let marked = run
        .marks
        .iter()
        .map(|(name, spec)| Ok((name.clone(), cost(run, spec)?)))
        .collect::<Result<_, ScheduleError>>()?;
    Ok(Searched {
        workload: run.workload.name.clone(),
        global_sram_bits: run.accelerator.cores[0].global_sram().size_bits,
        space: SearchedSpace {
            kind: "search",
            blocks: space.blocks,
            cuts_per_block: space.cuts.len(),
            schedules: space.size().to_string(),
            lines: run.lines.clone(),
            budget: options.budget,
            seed: options.seed,
            population: options.population,
            objective,
            warm_start: if run.warm_start { "hybrid" } else { "none" },
            eviction: run.scheduler.eviction,
        },
        best: best(&all, objective),
        front: pareto_front(&all),
        all,
        best_hybrid,
        marked,
        skipped,
        seconds,
        sharing,
    })
}

fn cost(run: &SearchRun, spec: &ScheduleSpec) -> Result<Report, ScheduleError> {
    let mut mapper = Mapper::new(run.accelerator);
    predict(
        run.workload,
        run.accelerator,
        spec,
        &Allocation::first_able(run.workload, run.accelerator),
        run.scheduler,
        &mut mapper,
    )
}

/// The best of `specs` by `objective`, reusing what the search costed.
fn best_of(
    run: &SearchRun,
    specs: &[ScheduleSpec],
    objective: Objective,
    costed: &[Evaluated],
) -> Option<(ScheduleSpec, Report)> {
    let mut found: Option<(ScheduleSpec, Report)> = None;
    for spec in specs {
        let report = match costed.iter().find(|e| &e.spec == spec) {
            Some(e) => e.report.clone(),
            None => cost(run, spec).ok(),
        };
        if let Some(r) = report
            && found
                .as_ref()
                .is_none_or(|(_, b)| objective.value(&r) < objective.value(b))
        {
            found = Some((spec.clone(), r));
        }
    }
    found
}
