//! Design-space exploration: many schedules of one network on one chip, costed in
//! parallel.
//!
//! The spaces are those of `schedule::space` (the paper's hybrid grid, all 4^N block
//! cuts); `search` searches the larger space of per-block cuts with a genetic
//! algorithm, `allocate` the layer-to-core allocations of one schedule.
//!
//! `store` keeps a run in a directory that survives interruptions (`--resume`) and
//! splits across machines (`--shard K/N`, `stems merge`).
//!
//! Results do not depend on the thread count: every schedule is costed independently
//! (mapping results do not depend on what a thread's mapper cache holds) and results
//! are collected in the order of the space.

pub mod allocate;
pub mod allocate_run;
pub mod ga;
pub mod prune;
pub mod search;
pub mod search_run;
pub mod space_run;
pub mod store;
pub mod workers;

pub use crate::schedule::space::{Point, Side, Space};
pub use workers::{Sharing, WorkerPool};

use crate::cost::Report;
use crate::model::{Accelerator, Workload};
use crate::schedule::{Allocation, ScheduleError, SchedulerOptions, predict_bounded};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A costed point.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Position of the point in its space.
    pub index: usize,
    #[serde(flatten)]
    pub point: Point,
    pub report: Report,
}

/// What to rank schedules by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rank {
    #[default]
    Energy,
    DramEnergy,
    DramBits,
    Latency,
}

impl FromStr for Rank {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "energy" => Ok(Rank::Energy),
            "dram_energy" => Ok(Rank::DramEnergy),
            "dram_bits" => Ok(Rank::DramBits),
            "latency" => Ok(Rank::Latency),
            other => Err(format!(
                "'{other}' is not energy, dram_energy, dram_bits or latency"
            )),
        }
    }
}

impl std::fmt::Display for Rank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rank::Energy => "energy",
            Rank::DramEnergy => "dram_energy",
            Rank::DramBits => "dram_bits",
            Rank::Latency => "latency",
        })
    }
}

impl Rank {
    /// `value` in its unit, for people.
    pub fn show(self, value: f64) -> String {
        match self {
            Rank::Energy | Rank::DramEnergy => crate::model::units::human_energy_pj(value),
            Rank::DramBits => format!("{} DRAM", crate::model::units::human_bits(value as u64)),
            Rank::Latency => format!("{} cycles", crate::model::units::thousands(value as u64)),
        }
    }

    pub fn value(self, r: &Report) -> f64 {
        match self {
            Rank::Energy => r.energy_pj.total,
            Rank::DramEnergy => r.energy_pj.dram,
            Rank::DramBits => r.dram_bits.total as f64,
            Rank::Latency => r.latency_cycles as f64,
        }
    }
}

pub use crate::schedule::space::Skipped;

/// The `indices` of points that can run, and what was skipped.
pub fn runnable(workload: &Workload, points: &[Point], indices: &[usize]) -> (Vec<usize>, Skipped) {
    let mut skipped = Skipped::default();
    if !crate::tiling::cuts_constrained(workload) {
        return (indices.to_vec(), skipped);
    }
    let keep = indices
        .iter()
        .copied()
        .filter(|&i| skipped.keeps(workload, &points[i].spec))
        .collect();
    (keep, skipped)
}

/// Costs every point that can run (see [`runnable`]), in the order of the space;
/// `progress` is called once per finished schedule (from any thread).
pub fn explore(
    workload: &Workload,
    accelerator: &Accelerator,
    points: &[Point],
    options: SchedulerOptions,
    progress: impl Fn() + Sync,
) -> Result<Vec<Outcome>, ScheduleError> {
    let (all, _) = runnable(workload, points, &(0..points.len()).collect::<Vec<_>>());
    let mut out = std::sync::Mutex::new(Vec::with_capacity(points.len()));
    let workers = WorkerPool::new(accelerator);
    explore_each(
        workload,
        accelerator,
        points,
        &all,
        options,
        &workers,
        None,
        |o| {
            progress();
            if let Ok(mut v) = out.lock() {
                v.push(o);
            }
        },
    )?;
    let mut v = std::mem::take(out.get_mut().unwrap_or_else(|e| e.into_inner()));
    v.sort_by_key(|o| o.index);
    Ok(v)
}

/// Costs the points at `indices` in parallel, handing each outcome to `done` as it is
/// ready (from any thread, in no particular order). Costs do not depend on the order
/// or the thread count. Points run in the order of their cuts, first block first, so
/// that each worker meets schedules sharing their first blocks one after another and
/// schedules those blocks once. `workers` (made in the pool that runs this) keep their
/// mappers and checkpoints from one call to the next. With `pruner`, a schedule that
/// cannot be among its best is dropped (no outcome). Returns what the sharing saved,
/// over all calls so far.
#[allow(clippy::too_many_arguments)]
pub fn explore_each(
    workload: &Workload,
    accelerator: &Accelerator,
    points: &[Point],
    indices: &[usize],
    options: SchedulerOptions,
    workers: &WorkerPool,
    pruner: Option<&prune::Pruner<'_>>,
    done: impl Fn(Outcome) + Sync,
) -> Result<Sharing, ScheduleError> {
    let allocation = Allocation::first_able(workload, accelerator);
    let mut order = indices.to_vec();
    order.sort_by_cached_key(|&i| points[i].spec.prefix_order_key(workload.timesteps));
    let chunk = order
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 16)
        .max(1);
    // One chunk per job: costs differ by orders of magnitude between chunks (the
    // first blocks' cuts set the tile count), and a job of several would leave the
    // other workers idle behind it at the end.
    order
        .par_chunks(chunk)
        .with_max_len(1)
        .try_for_each(|chunk| {
            workers.with(|worker| {
                for (at, &index) in chunk.iter().enumerate() {
                    let point = &points[index];
                    // The baseline is costed whole: the gains are stated against it.
                    let pruner = pruner.filter(|_| !point.is_baseline());
                    if let Some(p) = pruner
                        && p.known_hopeless(&point.spec)
                    {
                        p.dropped();
                        continue;
                    }
                    let next = chunk.get(at + 1).map(|&n| &points[n].spec);
                    // Stopped: hopeless, with the last block the state there depends on.
                    let stop = |so_far: &crate::cost::CostSoFar, reach: usize| {
                        pruner.filter(|p| p.hopeless(so_far)).map(|_| reach)
                    };
                    let sharing = crate::schedule::Sharing {
                        cache: &mut worker.cache,
                        next,
                        stop: &stop,
                    };
                    let costed = predict_bounded(
                        workload,
                        accelerator,
                        &point.spec,
                        &allocation,
                        options,
                        &mut worker.mapper,
                        sharing,
                    )?;
                    let report = match costed {
                        Ok(report) => report,
                        Err(reach) => {
                            if let Some(p) = pruner {
                                p.hopeless_prefix(&point.spec, reach);
                                p.dropped();
                            }
                            continue;
                        }
                    };
                    if let Some(p) = pruner {
                        p.found(&report);
                    }
                    done(Outcome {
                        index,
                        point: point.clone(),
                        report,
                    });
                }
                Ok::<(), ScheduleError>(())
            })
        })?;
    Ok(workers.sharing())
}

/// The outcome of the paper's baseline (ST-LBL for every block), if costed.
pub fn baseline(outcomes: &[Outcome]) -> Option<&Outcome> {
    outcomes.iter().find(|o| o.point.is_baseline())
}

/// Index (into `outcomes`) of the best outcome by `rank` (ties: the earlier point).
pub fn best(outcomes: &[Outcome], rank: Rank) -> Option<usize> {
    (0..outcomes.len()).min_by(|&a, &b| rank_order(outcomes, rank, a, b))
}

/// Indices into `outcomes` (in index order), best first by `rank` (ties: the earlier
/// point).
pub fn ranked(outcomes: &[Outcome], rank: Rank) -> Vec<usize> {
    let mut order: Vec<usize> = (0..outcomes.len()).collect();
    order.sort_by(|&a, &b| rank_order(outcomes, rank, a, b));
    order
}

/// How many outcomes the latency bounds alone rule out against the fastest predicted
/// (the first of the fastest in `order`): their floor lies above its ceiling. `None`
/// when that prediction states no bounds.
pub fn certainly_slower(outcomes: &[Outcome], order: &[usize]) -> Option<usize> {
    let fastest = order
        .iter()
        .map(|&i| &outcomes[i].report)
        .min_by_key(|r| r.latency_cycles)?;
    let ceiling = fastest.latency_bounds?.ceiling_cycles;
    Some(
        outcomes
            .iter()
            .filter_map(|o| o.report.latency_bounds)
            .filter(|b| b.floor_cycles > ceiling)
            .count(),
    )
}

fn rank_order(outcomes: &[Outcome], rank: Rank, a: usize, b: usize) -> std::cmp::Ordering {
    rank.value(&outcomes[a].report)
        .total_cmp(&rank.value(&outcomes[b].report))
        .then(a.cmp(&b))
}

/// The CSV header and one row per outcome.
pub fn write_csv<W: std::io::Write>(out: W, outcomes: &[Outcome]) -> Result<(), csv::Error> {
    write_csv_rows(out, outcomes, true)
}

/// One CSV row per outcome, after the header when `header`.
pub fn write_csv_rows<W: std::io::Write>(
    out: W,
    outcomes: &[Outcome],
    header: bool,
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    if header {
        write_csv_header(&mut w)?;
    }
    for o in outcomes {
        write_csv_row(&mut w, o)?;
    }
    w.flush()?;
    Ok(())
}

fn write_csv_header<W: std::io::Write>(w: &mut csv::Writer<W>) -> Result<(), csv::Error> {
    w.write_record([
        "point",
        "batched",
        "fused",
        "schedule",
        "energy_pj",
        "energy_dram_pj",
        "energy_global_sram_pj",
        "energy_local_buffers_pj",
        "energy_pe_pj",
        "energy_noc_pj",
        "energy_W_pj",
        "energy_F_pj",
        "energy_V_pj",
        "energy_compute_pj",
        "dram_bits",
        "dram_read_bits",
        "dram_write_bits",
        "dram_W_bits",
        "dram_F_bits",
        "dram_V_bits",
        "latency_cycles",
        "latency_floor_cycles",
        "latency_ceiling_cycles",
        "peak_global_sram_bits",
        "spilled_bits",
        "streamed_tiles",
    ])
}

fn write_csv_row<W: std::io::Write>(w: &mut csv::Writer<W>, o: &Outcome) -> Result<(), csv::Error> {
    let r = &o.report;
    let e = &r.energy_pj;
    let b = &r.energy_by_operand_pj;
    let d = &r.dram_bits;
    let bound = |f: fn(&crate::cost::LatencyBounds) -> u64| {
        r.latency_bounds
            .as_ref()
            .map_or(String::new(), |b| f(b).to_string())
    };
    w.write_record([
        o.index.to_string(),
        o.point.batched.to_string(),
        o.point.fused.to_string(),
        o.point.spec.to_string(),
        format!("{:.3}", e.total),
        format!("{:.3}", e.dram),
        format!("{:.3}", e.global_sram),
        format!("{:.3}", e.local_buffers),
        format!("{:.3}", e.pe),
        format!("{:.3}", e.noc),
        format!("{:.3}", b.W),
        format!("{:.3}", b.F),
        format!("{:.3}", b.V),
        format!("{:.3}", b.compute),
        d.total.to_string(),
        d.read.to_string(),
        d.write.to_string(),
        d.by_operand.W.to_string(),
        d.by_operand.F.to_string(),
        d.by_operand.V.to_string(),
        r.latency_cycles.to_string(),
        bound(|b| b.floor_cycles),
        bound(|b| b.ceiling_cycles),
        r.peak_global_sram_bits.to_string(),
        r.spills.iter().map(|s| s.bits).sum::<u64>().to_string(),
        r.streamed.iter().map(|s| s.tiles).sum::<u64>().to_string(),
    ])
}
