//! The genetic algorithm both searches share: the schedule search (`search`, per-block
//! cuts) and the allocation search (`allocate`, per-layer or per-block cores).
//!
//! A candidate is a genome: one small integer per gene, each gene with its own alleles
//! (a `Genome` space says which). Selection is (μ + λ) elitist, best first by the
//! objective, or for `Objective::Pareto` NSGA-II style (non-dominated fronts, then
//! crowding distance). Parents are picked by binary tournament; children by two-point
//! crossover (a run of neighbouring genes from the second parent) and a mutation that
//! redraws one gene, plus each other gene with probability 1/N.
//!
//! Determinism: the random generator (ChaCha8, from the seed) is used only while a
//! generation is bred, on one thread; the generation is then costed in parallel and
//! its results kept in the order bred. Costs do not depend on the thread count, so the
//! same seed gives the same run on any number of threads. Every genome is costed once:
//! the budget counts distinct evaluations, and genomes the cost refuses count as
//! evaluated and never survive. Genomes `admissible` rejects (a cheap check of what
//! cannot run, before any costing) are never costed and do not count.

use crate::cost::Report;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

/// A space of genomes. Contract: `random_gene` and `mutate_gene` only return alleles
/// of that gene, so every genome bred is in the space.
pub trait Genome: Sync {
    /// Genes per genome.
    fn genes(&self) -> usize;
    /// How many genomes the space holds (saturating).
    fn size(&self) -> u128;
    /// A random allele of `gene`.
    fn random_gene(&self, gene: usize, rng: &mut ChaCha8Rng) -> u16;
    /// Another draw for `gene`, which holds `current`.
    fn mutate_gene(&self, gene: usize, current: u16, rng: &mut ChaCha8Rng) -> u16;
}

/// How to evolve.
#[derive(Debug, Clone, Copy)]
pub struct GaOptions {
    /// Distinct genomes to cost, warm start included.
    pub budget: usize,
    pub seed: u64,
    /// μ = λ: survivors per generation and children bred from them.
    pub population: usize,
    pub objective: Objective,
}

/// One costed genome.
#[derive(Debug, Clone)]
pub struct Costed {
    /// Order of evaluation.
    pub index: usize,
    pub generation: usize,
    pub genome: Vec<u16>,
    /// `Err` when the cost refused it (the reason).
    pub cost: Result<Report, String>,
}

/// Runs the algorithm: generation 0 holds `warm_start` (genomes outside the space must
/// not be given) and random genomes up to the population; `cost` prices a genome (in
/// parallel); `done` sees every evaluation as its generation completes, in order.
/// `admissible` is asked once per distinct genome bred, on the breeding thread.
pub fn evolve(
    space: &impl Genome,
    options: GaOptions,
    warm_start: Vec<Vec<u16>>,
    (admissible, cost): (
        impl Fn(&[u16]) -> bool,
        impl Fn(&[u16]) -> Result<Report, String> + Sync,
    ),
    mut done: impl FnMut(&Costed),
) -> Vec<Costed> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut seen: FxHashSet<Vec<u16>> = FxHashSet::default();
    let mut all: Vec<Costed> = Vec::new();
    let population = options.population.max(2);
    let random = |rng: &mut ChaCha8Rng| -> Vec<u16> {
        (0..space.genes())
            .map(|g| space.random_gene(g, rng))
            .collect()
    };

    // A genome not seen before, and admissible, joins the batch.
    let fresh =
        |g: &Vec<u16>, seen: &mut FxHashSet<Vec<u16>>| seen.insert(g.clone()) && admissible(g);
    let mut batch: Vec<Vec<u16>> = Vec::new();
    for g in warm_start {
        if batch.len() < options.budget && fresh(&g, &mut seen) {
            batch.push(g);
        }
    }
    while batch.len() < population.min(options.budget) && (seen.len() as u128) < space.size() {
        let g = random(&mut rng);
        if fresh(&g, &mut seen) {
            batch.push(g);
        }
    }
    let mut survivors: Vec<usize> = Vec::new();
    let mut generation = 0;
    while !batch.is_empty() {
        let first = all.len();
        let costs = cost_in_gene_order(&batch, &cost);
        for (genome, cost) in batch.drain(..).zip(costs) {
            let c = Costed {
                index: all.len(),
                generation,
                genome,
                cost,
            };
            done(&c);
            all.push(c);
        }
        // (μ + λ): the best of the survivors and the new generation live on.
        let mut pool: Vec<usize> = survivors.clone();
        pool.extend((first..all.len()).filter(|&i| all[i].cost.is_ok()));
        survivors = select(&all, &pool, population, options.objective);
        generation += 1;
        let room = options.budget.saturating_sub(all.len()).min(population);
        if survivors.is_empty() {
            // Nothing feasible yet: keep sampling.
            while batch.len() < room && (seen.len() as u128) < space.size() {
                let g = random(&mut rng);
                if fresh(&g, &mut seen) {
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
            let mut child = crossover(&all[a].genome, &all[b].genome, &mut rng);
            mutate(&mut child, space, &mut rng);
            if fresh(&child, &mut seen) {
                batch.push(child);
            }
        }
    }
    all
}

/// `pool` indices ordered best first (survivors are `pool`'s first `keep`): by the
/// objective's value, or for `Pareto` by front, then crowding distance (widest
/// first); ties by evaluation order.
fn select(all: &[Costed], pool: &[usize], keep: usize, objective: Objective) -> Vec<usize> {
    let mut indices = pool.to_vec();
    indices.sort_unstable();
    indices.dedup();
    let candidates: Vec<(usize, &Report)> = indices
        .into_iter()
        .filter_map(|i| all[i].cost.as_ref().ok().map(|r| (i, r)))
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

/// Two-point crossover: a run of adjacent genes from `b`, the rest from `a`.
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

/// Each gene is redrawn with probability 1/N, and one always is.
fn mutate(genome: &mut [u16], space: &impl Genome, rng: &mut ChaCha8Rng) {
    let n = genome.len();
    let forced = rng.random_range(0..n.max(1));
    for (i, gene) in genome.iter_mut().enumerate() {
        if i != forced && !rng.random_bool(1.0 / n.max(1) as f64) {
            continue;
        }
        *gene = space.mutate_gene(i, *gene, rng);
    }
}

/// What the search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

impl std::str::FromStr for Objective {
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

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Energy => "energy",
            Self::Latency => "latency",
            Self::Edp => "edp",
            Self::DramBits => "dram_bits",
            Self::Pareto => "pareto",
        })
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

/// Costs a batch in parallel, in the order of the genes (first gene first), so that a
/// worker meets genomes sharing their first genes one after another (prefix sharing
/// continues them); the costs come back in the batch's order.
fn cost_in_gene_order(
    batch: &[Vec<u16>],
    cost: &(impl Fn(&[u16]) -> Result<Report, String> + Sync),
) -> Vec<Result<Report, String>> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| batch[a].cmp(&batch[b]));
    // One genome per job, so that no worker idles behind a long run of dear ones.
    let sorted: Vec<Result<Report, String>> = order
        .par_iter()
        .with_max_len(1)
        .map(|&i| cost(&batch[i]))
        .collect();
    let mut costs: Vec<Option<Result<Report, String>>> = vec![None; batch.len()];
    for (&i, c) in order.iter().zip(sorted) {
        costs[i] = Some(c);
    }
    costs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Genes with different allele counts.
    struct Uneven(Vec<u16>);

    impl Genome for Uneven {
        fn genes(&self) -> usize {
            self.0.len()
        }
        fn size(&self) -> u128 {
            self.0.iter().map(|&n| n as u128).product()
        }
        fn random_gene(&self, gene: usize, rng: &mut ChaCha8Rng) -> u16 {
            rng.random_range(0..self.0[gene])
        }
        fn mutate_gene(&self, gene: usize, _: u16, rng: &mut ChaCha8Rng) -> u16 {
            self.random_gene(gene, rng)
        }
    }

    #[test]
    fn bred_genomes_stay_in_the_space_and_crossover_keeps_a_run() {
        let s = Uneven(vec![1, 2, 3, 5, 8, 2, 4]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let a: Vec<u16> = (0..7).map(|g| s.random_gene(g, &mut rng)).collect();
            let mut m = a.clone();
            mutate(&mut m, &s, &mut rng);
            assert!(m.iter().zip(&s.0).all(|(&g, &n)| g < n), "{m:?}");
            let b: Vec<u16> = vec![u16::MAX; 7];
            let c = crossover(&a, &b, &mut rng);
            let from_b: Vec<usize> = (0..7).filter(|&i| c[i] == u16::MAX).collect();
            assert!(from_b.windows(2).all(|w| w[1] == w[0] + 1), "{from_b:?}");
        }
    }
}
