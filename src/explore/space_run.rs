//! An enumerated space (hybrid or exhaustive) costed as one run: the points of this
//! shard its directory does not hold yet, on worker threads that schedule the first
//! blocks schedules share once, each outcome journaled as it completes (see
//! [`crate::rundir::journaled`]).

use super::prune::Pruner;
use super::store::{RunDir, RunHeader};
use super::{Outcome, Point, Rank, Sharing, WorkerPool, explore_each};
use crate::model::{Accelerator, Workload};
use crate::rundir::StoreError;
use crate::rundir::journaled::{self, Estimate, Place, Watch};
use crate::schedule::{ScheduleError, SchedulerOptions};
use std::time::Instant;

/// Enumerated spaces above this many schedules are refused (shard them instead).
pub const MAX_ENUMERATED: u128 = 70_000;

/// What to cost, where, and with how many workers.
pub struct SpaceRun<'a> {
    pub workload: &'a Workload,
    pub accelerator: &'a Accelerator,
    /// What the run is: its space, shard and inputs (a resumed directory must match).
    pub header: &'a RunHeader,
    /// Every point of the space, in its order.
    pub points: &'a [Point],
    pub options: SchedulerOptions,
    /// Worker threads (`None`: all cores). Figures do not depend on it.
    pub jobs: Option<usize>,
    /// Checkpoints each worker keeps of the first blocks schedules share.
    pub prefix_cache_bytes: usize,
    /// Rank only the best K by this (see [`super::prune`]); `None`: every schedule.
    pub best: Option<(Rank, usize)>,
    pub place: Place<'a>,
}

/// A costed space.
pub struct CostedSpace {
    /// Every point of this shard, in the space's order.
    pub outcomes: Vec<Outcome>,
    /// How many of them this run costed (the rest a resumed directory held).
    pub costed: usize,
    pub seconds: f64,
    pub sharing: Sharing,
    /// With [`SpaceRun::best`]: how many schedules were dropped (depends on `--jobs`,
    /// like the sharing; the K best do not).
    pub pruned: Option<u64>,
    /// With [`SpaceRun::best`]: the baseline, costed whole whether among the best or
    /// not (the gains are stated against it).
    pub baseline: Option<Outcome>,
    /// Schedules of this shard that cannot run (a recurrence they cut), not costed.
    pub skipped: super::Skipped,
}

/// Costs `run` in parallel. A short timed sample goes first; `approve` sees what the
/// rest should take and may stop the run there.
pub fn cost_space<E>(
    run: &SpaceRun,
    watch: &dyn Watch<Outcome>,
    approve: impl FnOnce(&Estimate) -> Result<(), E>,
) -> Result<CostedSpace, E>
where
    E: From<StoreError> + From<ScheduleError> + From<rayon::ThreadPoolBuildError>,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(run.jobs.unwrap_or(0))
        .build()?;
    let threads = pool.current_num_threads().max(1);
    let workers =
        pool.install(|| WorkerPool::with_cache_bytes(run.accelerator, run.prefix_cache_bytes));
    let on_drop = || watch.dropped();
    let models = (run.workload, run.accelerator);
    let pruner = run
        .best
        .map(|(rank, k)| Pruner::new(models, rank, k, &on_drop));
    let started = Instant::now();
    let (runnable, skipped) = super::runnable(run.workload, run.points, &run.header.indices());
    let cost = |indices: &[usize], keep: &(dyn Fn(usize, Outcome) + Sync)| {
        pool.install(|| {
            explore_each(
                run.workload,
                run.accelerator,
                run.points,
                indices,
                run.options,
                &workers,
                pruner.as_ref(),
                |o| keep(o.index, o),
            )
        })?;
        Ok::<(), E>(())
    };
    // The sample is a percent of the run if more, so the layers' first mappings do not
    // dominate the rate.
    let done = journaled::run::<RunDir, E>(
        run.place,
        run.header,
        &runnable,
        2 * threads,
        watch,
        cost,
        approve,
    )?;
    let pruned = pruner.map(|p| p.pruned());
    // Every schedule of the run was costed, to its end or until it was dropped.
    let costed = done.items.len() - done.resumed + pruned.unwrap_or(0) as usize;
    let mut outcomes: Vec<Outcome> = done.items.into_iter().map(|(_, o)| o).collect();
    let mut baseline = None;
    if let Some((rank, k)) = run.best {
        baseline = super::baseline(&outcomes).cloned();
        keep_best(&mut outcomes, rank, k);
    }
    Ok(CostedSpace {
        costed,
        outcomes,
        seconds: started.elapsed().as_secs_f64(),
        sharing: workers.sharing(),
        pruned,
        baseline,
        skipped,
    })
}

/// Keeps the `k` best outcomes by `rank` (ties: the earlier point), in the space's
/// order.
fn keep_best(outcomes: &mut Vec<Outcome>, rank: Rank, k: usize) {
    let mut keep = vec![false; outcomes.len()];
    for i in super::ranked(outcomes, rank).into_iter().take(k) {
        keep[i] = true;
    }
    let mut at = 0;
    outcomes.retain(|_| {
        at += 1;
        keep[at - 1]
    });
}
