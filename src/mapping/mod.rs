//! The intra-layer mapping stage: for a computation tile on a core, the loop nest that
//! minimises energy (or latency, or EDP), and what it costs.
//!
//! `cost` prices one nest, `search` enumerates nests, and [`Mapper`] memoises results
//! by (tile shape, core, residency, objective) so that the scheduler maps each unique
//! tile once.

pub mod alone;
pub mod cost;
pub mod nest;
pub mod search;

pub use cost::{CostModel, Evaluation, Level, ReadWrite, Residency};
pub use nest::{Dim, Loop};
pub use search::{NoMapping, Objective, SearchConfig};

use crate::model::{Accelerator, Core, Operand};
use crate::tiling::CtShape;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a mapping request depends on; equal keys give equal mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapKey {
    pub shape: CtShape,
    pub core: usize,
    pub residency: Residency,
    pub stream_budget_bits: u64,
    pub objective: Objective,
}

/// A level's share of the traffic and whether it limits the array.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelCycles {
    pub level: String,
    pub cycles: u64,
    /// "memory" when the level needs more cycles than the array computes.
    pub bound: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cycles {
    pub compute: u64,
    /// Of the compute cycles, those folds last beyond their average lane (`skip`).
    #[serde(skip_serializing_if = "is_zero")]
    pub lane_imbalance: u64,
    /// The systolic skew: per fold with one accumulator set, per tile with two.
    pub fill_drain: u64,
    /// Cycles folds wait for their results to drain, beyond compute and fill/drain.
    pub drain_bound: u64,
    pub stall: u64,
    /// Of the stall, the first fills waiting for a bank port another fill holds.
    #[serde(skip_serializing_if = "is_zero")]
    pub prologue_bank_wait: u64,
    pub total: u64,
    /// Iterations of the loops above the reduction (one output tile of the array each).
    pub folds: u64,
    /// Useful operations over what the array could do in the compute cycles: the share
    /// of PEs (and their input lanes) the unrolling maps.
    pub spatial_utilization: f64,
    /// Compute cycles over total cycles.
    pub temporal_utilization: f64,
    pub levels: Vec<LevelCycles>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnergyPj {
    pub total: f64,
    pub compute: f64,
    /// Memory levels by name ("pe" = registers and accumulators, "dram").
    pub by_level: BTreeMap<String, f64>,
    /// Data movement by operand (W, I, O, V); compute is separate.
    pub by_operand: BTreeMap<&'static str, f64>,
}

/// Where a memory level's boundary sits for an operand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Boundary {
    pub operand: Operand,
    pub level: String,
    /// Number of innermost temporal loops below the level.
    pub loops_below: usize,
    pub tile_bits: u64,
}

/// The spatial unrolling the mapper chose: iterations of each dimension the array runs
/// in parallel.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spatial {
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    /// `ox` counts flattened output pixels in raster order.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flat: bool,
}

impl Spatial {
    pub fn unroll(&self) -> crate::model::Unroll {
        crate::model::Unroll {
            k: self.k,
            c: self.c,
            oy: self.oy,
            ox: self.ox,
            flat: self.flat,
        }
    }
}

/// The best mapping of a tile: the loop nest and its full cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mapping {
    pub objective: Objective,
    /// Temporal loops, outermost first; the reduction loops are the innermost ones.
    pub loop_nest: Vec<Loop>,
    pub reduction_loops: usize,
    pub spatial: Spatial,
    pub boundaries: Vec<Boundary>,
    /// Operands streamed from DRAM because the scheduler could not keep them resident.
    pub streamed: Vec<Operand>,
    /// operand → level → bits read and written.
    pub accesses: BTreeMap<&'static str, BTreeMap<String, ReadWrite>>,
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
    pub cycles: Cycles,
    pub energy_pj: EnergyPj,
    pub candidates_evaluated: u64,
    /// How many times the tile runs the nest (a matmul's heads, each over its own
    /// channel slices); every count and cost above is already the total.
    #[serde(skip_serializing_if = "is_one")]
    pub heads: u64,
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

fn level_name(core: &Core, level: Level) -> String {
    match level {
        Level::Pe => "pe".into(),
        Level::Memory(m) => core.memories[m].name.clone(),
        Level::Dram => "dram".into(),
    }
}

/// A nest's cycles: compute, its losses, the total and each level's share.
/// `names` are the levels' names, PE first.
fn cycles(model: &CostModel, e: &Evaluation, names: &[String]) -> Cycles {
    let pe = &model.core.pe_array;
    let capacity = e.compute_cycles * pe.pes() * pe.inputs_per_pe;
    let useful = e.macs + e.sops + e.other_ops;
    let levels = e
        .level_cycles
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, c)| **c > 0)
        .map(|(i, &c)| LevelCycles {
            level: names[i].clone(),
            cycles: c,
            bound: if c > e.array_cycles() {
                "memory"
            } else {
                "compute"
            },
        })
        .collect();
    Cycles {
        compute: e.compute_cycles,
        lane_imbalance: e.lane_imbalance_cycles,
        fill_drain: e.fill_drain_cycles,
        drain_bound: e.drain_bound_cycles,
        stall: e.stall_cycles,
        prologue_bank_wait: e.prologue_bank_wait_cycles,
        total: e.total_cycles(),
        folds: e.folds,
        spatial_utilization: ratio(useful, capacity),
        temporal_utilization: ratio(e.compute_cycles, e.total_cycles()),
        levels,
    }
}

impl Mapping {
    fn build(model: &CostModel, key: &MapKey, result: search::SearchResult) -> Self {
        let core = model.core;
        let e = &result.evaluation;
        let names: Vec<String> = std::iter::once(Level::Pe)
            .chain((0..core.memories.len()).map(Level::Memory))
            .chain(std::iter::once(Level::Dram))
            .map(|l| level_name(core, l))
            .collect();
        let n = result.loops.len();
        let mut boundaries = Vec::new();
        let mut accesses = BTreeMap::new();
        let mut by_operand = BTreeMap::new();
        for op in Operand::ALL {
            if !model.has_operand(op) {
                continue;
            }
            for &(level, b) in &e.boundaries[op.index()] {
                let inner = nest::dim_products(&result.loops[n - b..]);
                boundaries.push(Boundary {
                    operand: op,
                    level: level_name(core, level),
                    loops_below: b,
                    tile_bits: model.tile_bits(op, &inner),
                });
            }
            let per_level: BTreeMap<String, ReadWrite> = e.accesses[op.index()]
                .iter()
                .enumerate()
                .filter(|(_, rw)| rw.read_bits > 0 || rw.write_bits > 0)
                .map(|(i, rw)| (names[i].clone(), *rw))
                .collect();
            accesses.insert(op.name(), per_level);
            by_operand.insert(op.name(), e.energy_fj_by_operand[op.index()] / 1000.0);
        }
        let by_level: BTreeMap<String, f64> = e
            .energy_fj_by_level
            .iter()
            .enumerate()
            .filter(|(i, fj)| **fj > 0.0 || *i == 0 || names[*i] == core.global_sram().name)
            .map(|(i, fj)| (names[i].clone(), fj / 1000.0))
            .collect();
        let [k, c, oy, ox, ..] = model.unroll();
        let flat = model.flat();
        Mapping {
            objective: key.objective,
            loop_nest: result.loops,
            reduction_loops: result.reduction_loops,
            spatial: Spatial { k, c, oy, ox, flat },
            boundaries,
            streamed: Operand::ALL
                .into_iter()
                .filter(|&op| model.has_operand(op) && key.residency.is_streamed(op))
                .collect(),
            accesses,
            macs: e.macs,
            sops: e.sops,
            other_ops: e.other_ops,
            cycles: cycles(model, e, &names),
            energy_pj: EnergyPj {
                total: e.energy_fj() / 1000.0,
                compute: e.compute_energy_fj / 1000.0,
                by_level,
                by_operand,
            },
            candidates_evaluated: result.candidates,
            heads: 1,
        }
    }
}

impl Mapping {
    /// The mapping of a tile that runs this one's nest `times` over, one after the
    /// other (a matmul's heads): every count and cost scales, the ratios stay.
    fn repeated(mut self, times: u64) -> Self {
        self.heads = times;
        if times == 1 {
            return self;
        }
        for levels in self.accesses.values_mut() {
            for rw in levels.values_mut() {
                rw.read_bits *= times;
                rw.write_bits *= times;
            }
        }
        self.macs *= times;
        self.sops *= times;
        self.other_ops *= times;
        let c = &mut self.cycles;
        for v in [
            &mut c.compute,
            &mut c.lane_imbalance,
            &mut c.fill_drain,
            &mut c.drain_bound,
            &mut c.stall,
            &mut c.total,
            &mut c.folds,
        ] {
            *v *= times;
        }
        for l in &mut c.levels {
            l.cycles *= times;
        }
        let e = &mut self.energy_pj;
        e.total *= times as f64;
        e.compute *= times as f64;
        for v in e.by_level.values_mut().chain(e.by_operand.values_mut()) {
            *v *= times as f64;
        }
        self
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Maps tiles, remembering every result by [`MapKey`].
pub struct Mapper<'a> {
    pub accelerator: &'a Accelerator,
    pub config: SearchConfig,
    cache: FxHashMap<MapKey, Arc<Mapping>>,
    pub candidates_evaluated: u64,
}

impl<'a> Mapper<'a> {
    pub fn new(accelerator: &'a Accelerator) -> Self {
        Self {
            accelerator,
            config: SearchConfig::default(),
            cache: FxHashMap::default(),
            candidates_evaluated: 0,
        }
    }

    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    pub fn map(&mut self, mut key: MapKey) -> Result<Arc<Mapping>, NoMapping> {
        // Densities change nothing on a core that neither exploits nor compresses
        // them: one mapping serves every activity.
        if let Some(core) = self.accelerator.cores.get(key.core)
            && !core.sees_activity(&self.accelerator.dram)
        {
            key.shape.activity = crate::tiling::TileActivity::DENSE;
        }
        if let Some(m) = self.cache.get(&key) {
            return Ok(Arc::clone(m));
        }
        let mapping = Arc::new(map_uncached(self.accelerator, &key, self.config)?);
        self.candidates_evaluated += mapping.candidates_evaluated;
        self.cache.insert(key, Arc::clone(&mapping));
        Ok(mapping)
    }
}

/// Maps one tile without memoisation.
pub fn map_uncached(
    accelerator: &Accelerator,
    key: &MapKey,
    config: SearchConfig,
) -> Result<Mapping, NoMapping> {
    let core = accelerator
        .cores
        .get(key.core)
        .ok_or_else(|| NoMapping(format!("core {} does not exist", key.core)))?;
    // A matmul's nest is one head's, run once per head.
    let head = key.shape.one_head();
    let models: Vec<CostModel> = core
        .pe_array
        .unrollings()
        .into_iter()
        .map(|u| {
            CostModel::new(
                &head,
                core,
                &accelerator.dram,
                key.residency,
                key.stream_budget_bits,
            )
            .with_unroll(u)
        })
        .collect();
    let (chosen, result) = search::search_unrollings(&models, key.objective, config)?;
    Ok(Mapping::build(&models[chosen], key, result).repeated(key.shape.heads))
}
