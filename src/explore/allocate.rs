//! Allocation search: which core runs each layer (or each block), by the genetic
//! algorithm of `ga`, the paper's stage 4 ("layer-to-core allocations … with a genetic
//! algorithm that optimises latency and energy").
//!
//! A genome has one gene per layer (or per block); a gene's alleles are the cores that
//! can run every operator of its layers (`Core::runs`), so an allocation that puts an
//! operator on a core without the unit for it is never bred. Neighbouring layers tend
//! to share a core or hand over to a neighbouring one, which two-point crossover keeps
//! together. Generation 0 holds the warm start: every layer on the first core that can
//! run it (what `--allocate` defaults to), so the search never does worse than one core.

use super::ga::{Costed, GaOptions, Genome, evolve};
use super::search::Objective;
use super::workers::WorkerPool;
use crate::cost::Report;
use crate::model::{Accelerator, Workload};
use crate::schedule::{Allocation, ScheduleSpec, SchedulerOptions, predict};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What one gene assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Layer,
    Block,
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "layer" => Ok(Self::Layer),
            "block" => Ok(Self::Block),
            other => Err(format!("'{other}' is not layer or block")),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Layer => "layer",
            Self::Block => "block",
        })
    }
}

/// The allocations of one workload on one accelerator.
#[derive(Debug, Clone)]
pub struct AllocationSpace {
    pub unit: Unit,
    /// Per gene: its layers.
    pub layers: Vec<Vec<usize>>,
    /// Per gene: the cores that can run all its layers, in core order.
    pub cores: Vec<Vec<usize>>,
}

/// Why no allocation exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no core can run {what}")]
pub struct NoCore {
    pub what: String,
}

impl AllocationSpace {
    pub fn new(workload: &Workload, acc: &Accelerator, unit: Unit) -> Result<Self, NoCore> {
        let layers: Vec<Vec<usize>> = match unit {
            Unit::Layer => (0..workload.layers.len()).map(|l| vec![l]).collect(),
            Unit::Block => (0..workload.num_blocks)
                .map(|b| {
                    (0..workload.layers.len())
                        .filter(|&l| workload.layers[l].block == b)
                        .collect()
                })
                .collect(),
        };
        let cores = layers
            .iter()
            .enumerate()
            .map(|(gene, ls)| {
                let able: Vec<usize> = (0..acc.cores.len())
                    .filter(|&c| ls.iter().all(|&l| acc.cores[c].runs(workload.layers[l].op)))
                    .collect();
                if able.is_empty() {
                    let what = match unit {
                        Unit::Layer => format!("layer {}", workload.layers[ls[0]].name),
                        Unit::Block => format!("every layer of block {gene}"),
                    };
                    return Err(NoCore { what });
                }
                Ok(able)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            unit,
            layers,
            cores,
        })
    }

    /// The allocation a genome stands for.
    pub fn allocation(&self, genome: &[u16], layers: usize) -> Allocation {
        let mut core_of_layer = vec![0; layers];
        for (gene, &allele) in genome.iter().enumerate() {
            for &l in &self.layers[gene] {
                core_of_layer[l] = self.cores[gene][allele as usize];
            }
        }
        Allocation { core_of_layer }
    }

    /// Every gene on its first able core.
    fn first_cores(&self) -> Vec<u16> {
        vec![0; self.layers.len()]
    }
}

impl Genome for AllocationSpace {
    fn genes(&self) -> usize {
        self.layers.len()
    }

    fn size(&self) -> u128 {
        self.cores
            .iter()
            .fold(1u128, |n, c| n.saturating_mul(c.len() as u128))
    }

    fn random_gene(&self, gene: usize, rng: &mut ChaCha8Rng) -> u16 {
        rng.random_range(0..self.cores[gene].len()) as u16
    }

    /// Another able core when there is one.
    fn mutate_gene(&self, gene: usize, current: u16, rng: &mut ChaCha8Rng) -> u16 {
        let n = self.cores[gene].len();
        if n < 2 {
            return current;
        }
        let other = rng.random_range(0..n - 1) as u16;
        if other >= current { other + 1 } else { other }
    }
}

/// One costed allocation.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationEvaluated {
    pub index: usize,
    pub generation: usize,
    /// As `--allocate` takes it.
    pub allocation: String,
    #[serde(skip)]
    pub core_of_layer: Vec<usize>,
    pub report: Option<Report>,
    pub error: Option<String>,
}

/// How to search.
#[derive(Debug, Clone, Copy)]
pub struct AllocateOptions {
    pub budget: usize,
    pub seed: u64,
    pub population: usize,
    pub objective: Objective,
}

/// Runs the search for `spec` on `accelerator`; `done` sees every evaluation as its
/// generation completes, in order. The first evaluation is the warm start.
pub fn allocate(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    space: &AllocationSpace,
    options: AllocateOptions,
    scheduler: SchedulerOptions,
    mut done: impl FnMut(&AllocationEvaluated),
) -> Vec<AllocationEvaluated> {
    let mappers = WorkerPool::new(accelerator);
    let layers = workload.layers.len();
    let ga = GaOptions {
        budget: options.budget,
        seed: options.seed,
        population: options.population,
        objective: options.objective,
    };
    let cost = |g: &[u16]| {
        let allocation = space.allocation(g, layers);
        mappers.with(|w| {
            predict(
                workload,
                accelerator,
                spec,
                &allocation,
                scheduler,
                &mut w.mapper,
            )
            .map_err(|e| e.to_string())
        })
    };
    let evaluated = |c: &Costed| {
        let a = space.allocation(&c.genome, layers);
        AllocationEvaluated {
            index: c.index,
            generation: c.generation,
            allocation: a.describe(workload, accelerator),
            core_of_layer: a.core_of_layer,
            report: c.cost.as_ref().ok().cloned(),
            error: c.cost.as_ref().err().cloned(),
        }
    };
    let warm = vec![space.first_cores()];
    evolve(space, ga, warm, (|_: &[u16]| true, cost), |c| {
        done(&evaluated(c))
    })
    .iter()
    .map(evaluated)
    .collect()
}

/// Seconds one evaluation takes, timed on the warm start (once with fresh mappings,
/// once with them cached, averaged): to say how long a budget will take before
/// spending it.
pub fn seconds_per_evaluation(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    space: &AllocationSpace,
    scheduler: SchedulerOptions,
) -> f64 {
    let allocation = space.allocation(&space.first_cores(), workload.layers.len());
    let mut mapper = crate::mapping::Mapper::new(accelerator);
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let _ = predict(
            workload,
            accelerator,
            spec,
            &allocation,
            scheduler,
            &mut mapper,
        );
    }
    started.elapsed().as_secs_f64() / 2.0
}

/// The best evaluation by `objective` (ties: the earlier).
pub fn best(all: &[AllocationEvaluated], objective: Objective) -> Option<usize> {
    all.iter()
        .enumerate()
        .filter_map(|(i, e)| e.report.as_ref().map(|r| (i, objective.value(r))))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i)
}

/// The best objective value found by each evaluation (a convergence curve).
pub fn best_so_far(all: &[AllocationEvaluated], objective: Objective) -> Vec<Option<f64>> {
    let mut best: Option<f64> = None;
    all.iter()
        .map(|e| {
            if let Some(v) = e.report.as_ref().map(|r| objective.value(r)) {
                best = Some(best.map_or(v, |b| b.min(v)));
            }
            best
        })
        .collect()
}
