//! A seeded search of a space too large to enumerate: per block, time ST, `n`T for
//! every `n` dividing T, or TB; space LBL, LF or LF<n> for a few line counts. For
//! SEW-ResNet-18 (7 blocks, T = 16, lines 1, 2, 4, 8) that is 25^7 ≈ 6·10^9 schedules.
//!
//! The search is a genetic algorithm with (μ + λ) elitist selection, NSGA-II style
//! (non-dominated fronts, then crowding distance) when the objective is the Pareto
//! front of energy against latency. Why a GA rather than annealing or beam search:
//! - a schedule is a string of per-block genes whose interactions are mostly between
//!   neighbours (a fused stack spans adjacent blocks), which two-point crossover keeps
//!   together while recombining good prefixes and suffixes;
//! - a generation is a batch of independent evaluations, which uses every core, where
//!   annealing is one long chain;
//! - beam search needs a cost that decomposes by block, and the memory manager's
//!   traffic does not;
//! - it yields a population, hence a Pareto front, in one run.
//!
//! Determinism: the random generator (ChaCha8, from `--seed`) is used only while a
//! generation is bred, on one thread; the generation is then costed in parallel and its
//! results are kept in the order bred. Costs do not depend on the thread count, so the
//! same seed gives the same run on any `--jobs`.
//!
//! Generation 0 holds the warm start (by default the paper's hybrid grid, so the search
//! never does worse than the paper's method) and random schedules up to the population
//! size. Every schedule is costed once: the budget counts distinct evaluations, and
//! schedules the scheduler refuses (too many tiles, no mapping) count as evaluated and
//! never survive.

use crate::mapping::Mapper;
use crate::model::{Accelerator, Workload};
use crate::report::cost::Report;
use crate::schedule::{
    Allocation, BlockCut, ScheduleSpec, SchedulerOptions, SpaceCut, TimeCut, predict,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::str::FromStr;
use std::sync::Mutex;

/// What the search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    Energy,
    Latency,
    /// Energy × latency.
    Edp,
    DramBits,
    /// The non-dominated schedules of energy against latency.
    Pareto,
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "energy" => Ok(Self::Energy),
            "latency" => Ok(Self::Latency),
            "edp" => Ok(Self::Edp),
            "dram_bits" => Ok(Self::DramBits),
            "pareto" => Ok(Self::Pareto),
            other => Err(format!(
                "'{other}' is not energy, latency, edp, dram_bits or pareto"
            )),
        }
    }
}

impl Objective {
    /// `value` in its unit, for people.
    pub fn show(self, value: f64) -> String {
        use crate::model::units::{human_bits, human_energy_pj, thousands};
        match self {
            Self::Energy | Self::Pareto => human_energy_pj(value),
            Self::Latency => format!("{} cycles", thousands(value as u64)),
            Self::Edp => format!("{value:.3e} pJ·cycles"),
            Self::DramBits => format!("{} DRAM", human_bits(value as u64)),
        }
    }

    /// The scalar minimised (for `Pareto`, energy: the front's first point).
    pub fn value(self, r: &Report) -> f64 {
        match self {
            Self::Energy | Self::Pareto => r.energy_pj.total,
            Self::Latency => r.latency_cycles as f64,
            Self::Edp => r.energy_pj.total * r.latency_cycles as f64,
            Self::DramBits => r.dram_bits.total as f64,
        }
    }
}

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
) -> Vec<Evaluated> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut seen: FxHashSet<Vec<u16>> = FxHashSet::default();
    let mut all: Vec<Evaluated> = Vec::new();
    let mut genomes: Vec<Vec<u16>> = Vec::new();
    let population = options.population.max(2);
    let mappers: Vec<Mutex<Mapper>> = (0..rayon::current_num_threads().max(1))
        .map(|_| Mutex::new(Mapper::new(accelerator)))
        .collect();

    // Generation 0: the warm start, then random schedules.
    let mut batch: Vec<Vec<u16>> = Vec::new();
    for spec in &options.warm_start {
        if let Some(g) = space.genome(spec)
            && batch.len() < options.budget
            && seen.insert(g.clone())
        {
            batch.push(g);
        }
    }
    while batch.len() < population.min(options.budget) && (seen.len() as u128) < space.size() {
        let g = random_genome(space, &mut rng);
        if seen.insert(g.clone()) {
            batch.push(g);
        }
    }
    let mut survivors: Vec<usize> = Vec::new();
    let mut generation = 0;
    while !batch.is_empty() {
        let first = all.len();
        let costed = evaluate(workload, accelerator, space, &batch, scheduler, &mappers);
        for (g, (report, error)) in batch.drain(..).zip(costed) {
            let e = Evaluated {
                index: all.len(),
                generation,
                spec: space.spec(&g),
                report,
                error,
            };
            done(&e);
            all.push(e);
            genomes.push(g);
        }
        // (μ + λ): the best of the survivors and the new generation live on.
        let mut pool: Vec<usize> = survivors.clone();
        pool.extend((first..all.len()).filter(|&i| all[i].report.is_some()));
        survivors = select(&all, &pool, population, options.objective);
        generation += 1;
        let room = options.budget.saturating_sub(all.len()).min(population);
        if survivors.is_empty() {
            // Nothing schedulable yet: keep sampling.
            while batch.len() < room && (seen.len() as u128) < space.size() {
                let g = random_genome(space, &mut rng);
                if seen.insert(g.clone()) {
                    batch.push(g);
                }
            }
            continue;
        }
        let mut attempts = 0;
        while batch.len() < room && attempts < 100 * population {
            attempts += 1;
            let a = tournament(&survivors, &mut rng);
            let b = tournament(&survivors, &mut rng);
            let mut child = crossover(&genomes[a], &genomes[b], &mut rng);
            mutate(&mut child, space, &mut rng);
            if seen.insert(child.clone()) {
                batch.push(child);
            }
        }
    }
    all
}

fn random_genome(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Vec<u16> {
    (0..space.blocks)
        .map(|_| rng.random_range(0..space.cuts.len()) as u16)
        .collect()
}

/// Costs a generation in parallel; results in the order of `batch`.
fn evaluate(
    workload: &Workload,
    accelerator: &Accelerator,
    space: &SearchSpace,
    batch: &[Vec<u16>],
    scheduler: SchedulerOptions,
    mappers: &[Mutex<Mapper>],
) -> Vec<(Option<Report>, Option<String>)> {
    let allocation = Allocation::single_core(workload);
    batch
        .par_iter()
        .map(|g| {
            let slot = rayon::current_thread_index().unwrap_or(0) % mappers.len();
            let mut guard = mappers[slot].lock().unwrap_or_else(|e| e.into_inner());
            let spec = space.spec(g);
            match predict(
                workload,
                accelerator,
                &spec,
                &allocation,
                scheduler,
                &mut guard,
            ) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            }
        })
        .collect()
}

/// `pool` indices ordered best first (survivors are `pool`'s first `keep`): by the
/// objective's value, or for `Pareto` by front, then crowding distance (widest
/// first); ties by evaluation order.
fn select(all: &[Evaluated], pool: &[usize], keep: usize, objective: Objective) -> Vec<usize> {
    let mut indices = pool.to_vec();
    indices.sort_unstable();
    indices.dedup();
    let candidates: Vec<(usize, &Report)> = indices
        .into_iter()
        .filter_map(|i| all[i].report.as_ref().map(|r| (i, r)))
        .collect();
    if objective != Objective::Pareto {
        let mut order = candidates;
        order.sort_by(|(a, ra), (b, rb)| {
            objective
                .value(ra)
                .total_cmp(&objective.value(rb))
                .then(a.cmp(b))
        });
        return order.into_iter().take(keep).map(|(i, _)| i).collect();
    }
    let order: Vec<usize> = candidates.iter().map(|(i, _)| *i).collect();
    let points: Vec<(f64, f64)> = candidates
        .iter()
        .map(|(_, r)| (r.energy_pj.total, r.latency_cycles as f64))
        .collect();
    let fronts = non_dominated_fronts(&points);
    let mut chosen = Vec::new();
    for front in fronts {
        let crowding = crowding_distance(&points, &front);
        let mut ranked: Vec<(f64, usize)> = front
            .iter()
            .zip(&crowding)
            .map(|(&p, &d)| (d, order[p]))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        chosen.extend(ranked.into_iter().map(|(_, i)| i));
        if chosen.len() >= keep {
            break;
        }
    }
    chosen.truncate(keep);
    chosen
}

/// Indices of `points` in successive non-dominated fronts (both coordinates minimised).
pub fn non_dominated_fronts(points: &[(f64, f64)]) -> Vec<Vec<usize>> {
    let dominates =
        |a: (f64, f64), b: (f64, f64)| a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1);
    let mut left: Vec<usize> = (0..points.len()).collect();
    let mut fronts = Vec::new();
    while !left.is_empty() {
        let front: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| !left.iter().any(|&j| dominates(points[j], points[i])))
            .collect();
        left.retain(|i| !front.contains(i));
        fronts.push(front);
    }
    fronts
}

/// NSGA-II crowding distance of each member of `front` (the extremes are infinite).
fn crowding_distance(points: &[(f64, f64)], front: &[usize]) -> Vec<f64> {
    let mut d = vec![0.0; front.len()];
    for axis in 0..2 {
        let get = |k: usize| {
            let p = points[front[k]];
            if axis == 0 { p.0 } else { p.1 }
        };
        let mut by: Vec<usize> = (0..front.len()).collect();
        by.sort_by(|&a, &b| get(a).total_cmp(&get(b)).then(a.cmp(&b)));
        let (lo, hi) = (get(by[0]), get(by[by.len() - 1]));
        d[by[0]] = f64::INFINITY;
        d[by[by.len() - 1]] = f64::INFINITY;
        if hi > lo {
            for w in 1..by.len().saturating_sub(1) {
                d[by[w]] += (get(by[w + 1]) - get(by[w - 1])) / (hi - lo);
            }
        }
    }
    d
}

/// Binary tournament: survivors are best first, so the lower position wins.
fn tournament(survivors: &[usize], rng: &mut ChaCha8Rng) -> usize {
    let a = rng.random_range(0..survivors.len());
    let b = rng.random_range(0..survivors.len());
    survivors[a.min(b)]
}

/// Two-point crossover: a run of adjacent blocks from `b`, the rest from `a`.
fn crossover(a: &[u16], b: &[u16], rng: &mut ChaCha8Rng) -> Vec<u16> {
    let n = a.len();
    let mut x = rng.random_range(0..=n);
    let mut y = rng.random_range(0..=n);
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    (0..n)
        .map(|i| if (x..y).contains(&i) { b[i] } else { a[i] })
        .collect()
}

/// Each block is redrawn with probability 1/N, and one always is: to any cut, or
/// only its time or only its space.
fn mutate(genome: &mut [u16], space: &SearchSpace, rng: &mut ChaCha8Rng) {
    let n = genome.len();
    let forced = rng.random_range(0..n.max(1));
    for (i, gene) in genome.iter_mut().enumerate() {
        if i != forced && !rng.random_bool(1.0 / n.max(1) as f64) {
            continue;
        }
        let current = space.cuts[*gene as usize];
        let pick = match rng.random_range(0..3) {
            0 => rng.random_range(0..space.cuts.len()),
            keep => {
                // Same time (1) or same space (2), the other part random.
                let same: Vec<usize> = (0..space.cuts.len())
                    .filter(|&k| {
                        let c = space.cuts[k];
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
        *gene = pick as u16;
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
    fn fronts_and_crowding_follow_their_definitions() {
        let p = [(1.0, 5.0), (2.0, 2.0), (5.0, 1.0), (3.0, 3.0), (6.0, 6.0)];
        let f = non_dominated_fronts(&p);
        assert_eq!(f, vec![vec![0, 1, 2], vec![3], vec![4]]);
        let d = crowding_distance(&p, &f[0]);
        assert!(d[0].is_infinite() && d[2].is_infinite());
        // Middle point: (5 - 1)/4 + (5 - 1)/4.
        assert!((d[1] - 2.0).abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn mutation_changes_a_genome_and_crossover_keeps_a_run() {
        let s = SearchSpace::new(7, 16, &[1, 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let a = random_genome(&s, &mut rng);
            let mut m = a.clone();
            mutate(&mut m, &s, &mut rng);
            assert!(m.iter().all(|&g| (g as usize) < s.cuts.len()));
            let b: Vec<u16> = vec![u16::MAX; 7];
            let c = crossover(&a, &b, &mut rng);
            let from_b: Vec<usize> = (0..7).filter(|&i| c[i] == u16::MAX).collect();
            assert!(from_b.windows(2).all(|w| w[1] == w[0] + 1), "{from_b:?}");
        }
    }
}
