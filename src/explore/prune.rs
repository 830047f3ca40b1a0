//! Ranking only the best K of a space (`stems explore --best K`): a schedule is dropped
//! at the first boundary of its blocks where what it has cost so far (a lower bound on
//! its whole cost, which only grows) already exceeds the K-th best cost found. A
//! dropped schedule is strictly worse than K others, so the K best are exactly those
//! of the full ranking, whatever order the workers finish in; only how many are
//! dropped depends on it.

use super::Rank;
use crate::cost::CostSoFar;
use crate::model::{Accelerator, Workload};
use crate::schedule::{BlockCut, ScheduleSpec};
use std::collections::{BinaryHeap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Relative margin on the bound: the bound sums the same figures as the final report,
/// but a sum in another order may differ in its last bits.
const ROUNDING: f64 = 1e-9;

/// The K best costs found so far, shared by the workers.
pub struct Pruner<'a> {
    rank: Rank,
    k: usize,
    /// The K smallest costs found (their bits: costs are finite and not negative, so
    /// their bit patterns order as they do).
    best: Mutex<BinaryHeap<u64>>,
    /// The K-th smallest (bits), infinite until K are found.
    threshold: AtomicU64,
    pruned: AtomicU64,
    /// Cuts of first blocks found hopeless: every schedule that starts with them is.
    hopeless_prefixes: std::sync::RwLock<HashSet<Vec<BlockCut>>>,
    /// What the blocks from `b` on must still cost at least, by `b`: their weights are
    /// read from DRAM at least once (they start there).
    floor: Vec<CostSoFar>,
    /// Told of every schedule dropped (progress).
    on_drop: &'a (dyn Fn() + Sync),
}

impl<'a> Pruner<'a> {
    pub fn new(
        (workload, accelerator): (&Workload, &Accelerator),
        rank: Rank,
        k: usize,
        on_drop: &'a (dyn Fn() + Sync),
    ) -> Self {
        Self {
            on_drop,
            floor: floor(workload, accelerator),
            hopeless_prefixes: Default::default(),
            rank,
            k: k.max(1),
            best: Mutex::new(BinaryHeap::new()),
            threshold: AtomicU64::new(f64::INFINITY.to_bits()),
            pruned: AtomicU64::new(0),
        }
    }

    /// The bound `so_far`, and the floor of the blocks still to run, put on the ranked
    /// figure.
    fn bound(&self, so_far: &CostSoFar) -> f64 {
        let rest = self
            .floor
            .get(so_far.blocks_done)
            .copied()
            .unwrap_or_default();
        match self.rank {
            Rank::Energy => so_far.energy_pj + rest.energy_pj,
            Rank::DramEnergy => so_far.dram_energy_pj + rest.dram_energy_pj,
            Rank::DramBits => (so_far.dram_bits + rest.dram_bits) as f64,
            Rank::Latency => so_far.latency_cycles as f64,
        }
    }

    /// Whether a schedule that has cost `so_far` cannot be among the K best.
    pub fn hopeless(&self, so_far: &CostSoFar) -> bool {
        let threshold = f64::from_bits(self.threshold.load(Ordering::Relaxed));
        self.bound(so_far) * (1.0 - ROUNDING) > threshold
    }

    /// A schedule costed to its end.
    pub fn found(&self, report: &crate::cost::Report) {
        let value = self.rank.value(report).max(0.0);
        let Ok(mut best) = self.best.lock() else {
            return;
        };
        if best.len() < self.k {
            best.push(value.to_bits());
        } else if best.peek().is_some_and(|&top| value.to_bits() < top) {
            best.pop();
            best.push(value.to_bits());
        }
        if best.len() == self.k
            && let Some(&top) = best.peek()
        {
            self.threshold.store(top, Ordering::Relaxed);
        }
    }

    /// Whether `spec` starts with cuts already found hopeless (the threshold only
    /// falls, so they stay so): dropped before anything of it is scheduled.
    pub fn known_hopeless(&self, spec: &ScheduleSpec) -> bool {
        let Ok(known) = self.hopeless_prefixes.read() else {
            return false;
        };
        !known.is_empty() && (1..=spec.blocks.len()).any(|n| known.contains(&spec.blocks[..n]))
    }

    /// Every schedule that cuts blocks `0..=reach` as `spec` does is hopeless.
    pub fn hopeless_prefix(&self, spec: &ScheduleSpec, reach: usize) {
        if let Ok(mut known) = self.hopeless_prefixes.write() {
            known.insert(spec.blocks[..=reach].to_vec());
        }
    }

    /// One schedule dropped.
    pub fn dropped(&self) {
        self.pruned.fetch_add(1, Ordering::Relaxed);
        (self.on_drop)();
    }

    /// How many schedules were dropped.
    pub fn pruned(&self) -> u64 {
        self.pruned.load(Ordering::Relaxed)
    }

    pub fn k(&self) -> usize {
        self.k
    }
}

/// By first block `b` (0..=blocks), what blocks `b..` cost at least in any schedule:
/// each weight read from DRAM once.
fn floor(workload: &Workload, accelerator: &Accelerator) -> Vec<CostSoFar> {
    let fj_per_bit = accelerator.dram.read_energy_fj_per_bit;
    (0..=workload.num_blocks)
        .map(|b| {
            let bits: u64 = workload
                .layers
                .iter()
                .filter(|l| l.block >= b)
                .map(|l| l.weight_bits())
                .sum();
            let pj = bits as f64 * fj_per_bit / 1000.0;
            CostSoFar {
                energy_pj: pj,
                dram_energy_pj: pj,
                dram_bits: bits,
                latency_cycles: 0,
                blocks_done: b,
            }
        })
        .collect()
}
