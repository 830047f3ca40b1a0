//! A seeded search of a space too large to enumerate: per block, time ST, `n`T for
//! every `n` dividing T, or TB; space LBL, LF or LF<n> for a few line counts. For
//! SEW-ResNet-18 (7 blocks, T = 16, lines 1, 2, 4, 8) that is 25^7 ≈ 6·10^9 schedules.
//!
//! The search is the genetic algorithm of `ga` over one gene per block. Why a GA
//! rather than annealing or beam search:
//! - a schedule is a string of per-block genes whose interactions are mostly between
//!   neighbours (a fused stack spans adjacent blocks), which two-point crossover keeps
//!   together while recombining good prefixes and suffixes;
//! - a generation is a batch of independent evaluations, which uses every core, where
//!   annealing is one long chain;
//! - beam search needs a cost that decomposes by block, and the memory manager's
//!   traffic does not;
//! - it yields a population, hence a Pareto front, in one run.
//!
//! Generation 0 holds the warm start (by default the paper's hybrid grid, so the search
//! never does worse than the paper's method) and random schedules up to the population
//! size. Results do not depend on the thread count (see `ga`).

use super::ga::{Costed, GaOptions, Genome, evolve};
use super::workers::{Sharing, WorkerPool, search_prefix_cache_bytes};
use crate::cost::Report;
use crate::model::{Accelerator, Workload};
use crate::schedule::space::Skipped;
use crate::schedule::{
    Allocation, BlockCut, ScheduleSpec, SchedulerOptions, SpaceCut, TimeCut, predict_sharing,
};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use super::ga::Objective;

/// The per-block choices: every combination of a time cut and a space cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchSpace {
    pub blocks: usize,
    /// One gene's alleles.
    pub cuts: Vec<BlockCut>,
}

impl SearchSpace {
    /// Time ST, `n`T for each divisor 1 < n < T, and TB; space LBL and LF<n> for each
    /// of `lines` (LF1 is written LF).
    pub fn new(blocks: usize, timesteps: u32, lines: &[u64]) -> Self {
        let mut times = vec![TimeCut::Single];
        times.extend(
            (2..timesteps)
                .filter(|n| timesteps.is_multiple_of(*n))
                .map(TimeCut::Batch),
        );
        if timesteps > 1 {
            times.push(TimeCut::Full);
        }
        let mut spaces = vec![SpaceCut::LayerByLayer];
        spaces.extend(lines.iter().map(|&l| SpaceCut::Fused { lines: l }));
        let cuts = times
            .iter()
            .flat_map(|&time| spaces.iter().map(move |&space| BlockCut { time, space }))
            .collect();
        Self { blocks, cuts }
    }

    /// How many schedules the space holds (saturating).
    pub fn size(&self) -> u128 {
        (0..self.blocks).fold(1u128, |n, _| n.saturating_mul(self.cuts.len() as u128))
    }

    fn spec(&self, genome: &[u16]) -> ScheduleSpec {
        ScheduleSpec {
            blocks: genome.iter().map(|&g| self.cuts[g as usize]).collect(),
        }
    }

    /// The genome of `spec`, if every block's cut is in the space.
    fn genome(&self, spec: &ScheduleSpec) -> Option<Vec<u16>> {
        spec.blocks
            .iter()
            .map(|c| self.cuts.iter().position(|x| x == c).map(|i| i as u16))
            .collect()
    }
}

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Distinct schedules to cost, warm start included.
    pub budget: usize,
    pub seed: u64,
    /// μ = λ: survivors per generation and children bred from them.
    pub population: usize,
    pub objective: Objective,
    /// Schedules costed first (those outside the space are ignored).
    pub warm_start: Vec<ScheduleSpec>,
    /// Bytes of checkpoints each worker keeps of blocks that schedules share (`None`:
    /// [`super::workers::SEARCH_PREFIX_CACHE_BYTES`] shared by the workers of the
    /// pool the search runs in).
    pub prefix_cache_bytes: Option<usize>,
}

/// One costed schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluated {
    /// Order of evaluation.
    pub index: usize,
    pub generation: usize,
    #[serde(serialize_with = "entries")]
    pub spec: ScheduleSpec,
    /// `None` when the scheduler refused it (`error` says why).
    pub report: Option<Report>,
    pub error: Option<String>,
}

fn entries<S: serde::Serializer>(spec: &ScheduleSpec, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(spec.entries())
}

/// Runs the search; `done` sees every evaluation as its generation completes, in order.
pub fn search(
    workload: &Workload,
    accelerator: &Accelerator,
    space: &SearchSpace,
    options: &SearchOptions,
    scheduler: SchedulerOptions,
    mut done: impl FnMut(&Evaluated),
) -> (Vec<Evaluated>, Sharing, Skipped) {
    let cache_bytes = options
        .prefix_cache_bytes
        .unwrap_or_else(|| search_prefix_cache_bytes(rayon::current_num_threads()));
    let mappers = WorkerPool::with_cache_bytes(accelerator, cache_bytes);
    let allocation = Allocation::first_able(workload, accelerator);
    let warm = options
        .warm_start
        .iter()
        .filter_map(|spec| space.genome(spec))
        .collect();
    let ga = GaOptions {
        budget: options.budget,
        seed: options.seed,
        population: options.population,
        objective: options.objective,
    };
    let cost = |g: &[u16]| {
        mappers.with(|w| {
            predict_sharing(
                workload,
                accelerator,
                &space.spec(g),
                &allocation,
                scheduler,
                &mut w.mapper,
                &mut w.cache,
                None,
            )
            .map_err(|e| e.to_string())
        })
    };
    let evaluated = |c: &Costed| Evaluated {
        index: c.index,
        generation: c.generation,
        spec: space.spec(&c.genome),
        report: c.cost.as_ref().ok().cloned(),
        error: c.cost.as_ref().err().cloned(),
    };
    // Cuts that cannot run (`tiling::cut_problem`) are skipped before any costing.
    let skipped = std::cell::RefCell::new(Skipped::default());
    let admissible = |g: &[u16]| skipped.borrow_mut().keeps(workload, &space.spec(g));
    let all = evolve(space, ga, warm, (admissible, cost), |c| done(&evaluated(c)))
        .iter()
        .map(evaluated)
        .collect();
    (all, mappers.sharing(), skipped.into_inner())
}

impl Genome for SearchSpace {
    fn genes(&self) -> usize {
        self.blocks
    }

    fn size(&self) -> u128 {
        SearchSpace::size(self)
    }

    fn random_gene(&self, _: usize, rng: &mut ChaCha8Rng) -> u16 {
        rng.random_range(0..self.cuts.len()) as u16
    }

    /// To any cut, or one with the same time (or the same space) and the other part
    /// redrawn.
    fn mutate_gene(&self, _: usize, current: u16, rng: &mut ChaCha8Rng) -> u16 {
        let current = self.cuts[current as usize];
        let pick = match rng.random_range(0..3) {
            0 => rng.random_range(0..self.cuts.len()),
            keep => {
                let same: Vec<usize> = (0..self.cuts.len())
                    .filter(|&k| {
                        let c = self.cuts[k];
                        if keep == 1 {
                            c.time == current.time
                        } else {
                            c.space == current.space
                        }
                    })
                    .collect();
                same[rng.random_range(0..same.len())]
            }
        };
        pick as u16
    }
}

/// The schedulable evaluations with their reports.
fn feasible(all: &[Evaluated]) -> impl Iterator<Item = (usize, &Report)> {
    all.iter()
        .enumerate()
        .filter_map(|(i, e)| e.report.as_ref().map(|r| (i, r)))
}

/// The schedulable evaluations best first by `objective` (ties: the earlier).
pub fn ranked(all: &[Evaluated], objective: Objective) -> Vec<(usize, &Report)> {
    let mut v: Vec<(usize, &Report)> = feasible(all).collect();
    v.sort_by(|(a, ra), (b, rb)| {
        objective
            .value(ra)
            .total_cmp(&objective.value(rb))
            .then(a.cmp(b))
    });
    v
}

/// The non-dominated schedules among `all` (energy against latency), by energy.
pub fn pareto_front(all: &[Evaluated]) -> Vec<usize> {
    let mut by_energy: Vec<(usize, f64, u64)> = feasible(all)
        .map(|(i, r)| (i, r.energy_pj.total, r.latency_cycles))
        .collect();
    by_energy.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
    let mut front = Vec::new();
    let mut best_latency = u64::MAX;
    for (i, _, latency) in by_energy {
        if latency < best_latency {
            best_latency = latency;
            front.push(i);
        }
    }
    front
}

/// The best evaluation by `objective` (ties: the earlier).
pub fn best(all: &[Evaluated], objective: Objective) -> Option<usize> {
    feasible(all)
        .min_by(|(a, ra), (b, rb)| {
            objective
                .value(ra)
                .total_cmp(&objective.value(rb))
                .then(a.cmp(b))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_holds_every_time_and_space_cut() {
        let s = SearchSpace::new(7, 16, &[1, 2, 4, 8]);
        // ST, 2T, 4T, 8T, TB × LBL, LF, LF2, LF4, LF8.
        assert_eq!(s.cuts.len(), 25);
        assert!(s.size() > 1_000_000_000);
        let spec = ScheduleSpec::parse("TB-LF2,4T-LBL,ST-LF8,8T-LF,TB-LBL,TB-LBL,2T-LF4", 7, 16)
            .expect("spec");
        let g = s.genome(&spec).expect("in the space");
        assert_eq!(s.spec(&g), spec);
    }

    #[test]
    fn a_mutated_gene_stays_a_cut_of_the_space() {
        use rand::SeedableRng;
        let s = SearchSpace::new(7, 16, &[1, 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let g = s.random_gene(0, &mut rng);
            assert!((s.mutate_gene(0, g, &mut rng) as usize) < s.cuts.len());
        }
    }
}
