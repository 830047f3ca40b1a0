//! An allocation search as a user runs it: the time it should take (which the caller
//! may refuse), the genetic search of [`super::allocate`] on worker threads, and the
//! result `summary.json` serialises.

use super::allocate::{
    AllocateOptions, AllocationEvaluated, AllocationSpace, Unit, allocate, best,
    seconds_per_evaluation,
};
use super::ga::Genome;
use super::search::Objective;
use crate::model::{Accelerator, Workload};
use crate::schedule::{ScheduleSpec, SchedulerOptions};
use serde::Serialize;
use std::time::Instant;

/// What to search.
pub struct AllocationRun<'a> {
    pub workload: &'a Workload,
    pub accelerator: &'a Accelerator,
    pub spec: &'a ScheduleSpec,
    pub space: &'a AllocationSpace,
    pub unit: Unit,
    pub options: AllocateOptions,
    pub scheduler: SchedulerOptions,
    /// Worker threads (`None`: all cores). Figures do not depend on it.
    pub jobs: Option<usize>,
}

/// A finished allocation search.
pub struct Allocated {
    pub workload: String,
    pub hardware: String,
    pub schedule: Vec<String>,
    pub unit: Unit,
    pub options: AllocateOptions,
    /// How many allocations the space holds (saturating, as text: it can exceed u64).
    pub allocations: String,
    /// Every evaluation in order; the first is the warm start (every layer on the
    /// first core able to run it).
    pub all: Vec<AllocationEvaluated>,
    /// Index into `all` of the best by the objective.
    pub best: Option<usize>,
    pub seconds: f64,
}

/// `summary.json`.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub workload: &'a str,
    pub hardware: &'a str,
    pub schedule: &'a [String],
    pub unit: Unit,
    pub objective: Objective,
    pub budget: usize,
    pub seed: u64,
    pub population: usize,
    pub allocations: &'a str,
    pub evaluations: usize,
    pub infeasible: usize,
    pub seconds: f64,
    pub evaluations_per_second: f64,
    /// The best allocation, as `--allocate` takes it.
    pub best_allocation: Option<&'a str>,
    pub best: Option<&'a AllocationEvaluated>,
    /// Every layer on the first core (the warm start).
    pub single_core: Option<&'a AllocationEvaluated>,
}

impl Allocated {
    pub fn summary(&self) -> Summary<'_> {
        let best = self.best.map(|i| &self.all[i]);
        Summary {
            workload: &self.workload,
            hardware: &self.hardware,
            schedule: &self.schedule,
            unit: self.unit,
            objective: self.options.objective,
            budget: self.options.budget,
            seed: self.options.seed,
            population: self.options.population,
            allocations: &self.allocations,
            evaluations: self.all.len(),
            infeasible: self.all.iter().filter(|e| e.report.is_none()).count(),
            seconds: self.seconds,
            evaluations_per_second: self.all.len() as f64 / self.seconds.max(1e-9),
            best_allocation: best.map(|e| e.allocation.as_str()),
            best,
            single_core: self.all.first(),
        }
    }
}

/// Times one evaluation, hands `approve` the seconds the budget should take (it may
/// stop the run there), then searches; `each` sees every evaluation as its
/// generation completes.
pub fn run_allocation<E: From<rayon::ThreadPoolBuildError>>(
    run: &AllocationRun,
    approve: impl FnOnce(f64) -> Result<(), E>,
    each: impl FnMut(&AllocationEvaluated) + Send,
) -> Result<Allocated, E> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(run.jobs.unwrap_or(0))
        .build()?;
    let threads = pool.current_num_threads().max(1);
    let per_evaluation = seconds_per_evaluation(
        run.workload,
        run.accelerator,
        run.spec,
        run.space,
        run.scheduler,
    );
    approve(per_evaluation * run.options.budget as f64 / threads as f64)?;
    let started = Instant::now();
    let all = pool.install(|| {
        allocate(
            run.workload,
            run.accelerator,
            run.spec,
            run.space,
            run.options,
            run.scheduler,
            each,
        )
    });
    Ok(Allocated {
        workload: run.workload.name.clone(),
        hardware: run.accelerator.label(),
        schedule: run.spec.entries(),
        unit: run.unit,
        options: run.options,
        allocations: run.space.size().to_string(),
        best: best(&all, run.options.objective),
        all,
        seconds: started.elapsed().as_secs_f64(),
    })
}
