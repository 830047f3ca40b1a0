//! The analytic cost of one loop nest on one core: bits moved per operand per memory
//! level, operations, cycles, energy.
//!
//! Data-movement model (ZigZag-style): a memory level holds, for each operand it
//! serves, the operand's footprint over the loops below its *boundary*. It is refilled
//! from the level above once per iteration of the loops above the boundary, except
//! for the run of loops directly above the boundary that the operand does not depend
//! on (the data stays: temporal reuse). Input footprints include the convolution halo
//! and honour strides; padding is never stored.
//!
//! Outputs and neuron state live in the PE accumulators during a reduction (output
//! stationarity: the reduction loops C, FY, FX are always innermost). A neuron's state
//! is loaded when a *visit* of the neuron starts and stored when it ends, where a visit
//! is the run of timesteps directly above the reduction; the load is skipped at the
//! inference's first timestep (reset) and the store at its last (discarded).
//!
//! The array itself: weights sit in a per-PE register that keeps them across loops they
//! do not depend on; input features have no register and are read again every
//! iteration.
//!
//! Timing: one temporal iteration per cycle; a level whose ports cannot carry its
//! traffic in that time stalls the array (the excess over the compute cycles), and the
//! first pass waits for its buffer tiles to arrive (the prologue). A *fold* is one
//! iteration of the loops above the reduction: the array's output tile through its
//! whole reduction (T′ cycles). Its results must then leave the accumulators (the drain,
//! `Core::drain_cycles`). With one accumulator set a fold costs T′ plus the systolic
//! fill/drain skew, or plus the drain when that is longer; with two, draining overlaps
//! the next fold, which then costs max(T′, drain), and the skew is paid once per tile.

use super::nest::{Dim, Loop, dim_products, relevant};
use crate::model::{Core, Dram, OpKind, Operand};
use crate::tiling::CtShape;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};

/// Where each operand of a tile lives at the top of its hierarchy: resident in the
/// core's global SRAM (placed there by the scheduler) or streamed from DRAM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Residency {
    /// Indexed by `Operand::index()`: true when the operand streams from/to DRAM.
    pub streamed: [bool; 4],
}

impl Residency {
    pub const ON_CHIP: Residency = Residency {
        streamed: [false; 4],
    };

    pub fn is_streamed(&self, op: Operand) -> bool {
        self.streamed[op.index()]
    }

    pub fn any_streamed(&self) -> bool {
        self.streamed.iter().any(|s| *s)
    }

    /// The reference tool's rule: pack the tile's operands into `capacity_bits` of
    /// global SRAM smallest first; those that do not fit stream from DRAM. Returns the
    /// residency and the space left for streamed operands' tiles.
    pub fn pack(shape: &CtShape, capacity_bits: u64) -> (Residency, u64) {
        let mut sizes: Vec<(u64, Operand)> = Operand::ALL
            .iter()
            .map(|&op| (operand_bits(shape, op), op))
            .collect();
        sizes.sort();
        let mut used = 0u64;
        let mut residency = Residency::ON_CHIP;
        for (bits, op) in sizes {
            if used + bits <= capacity_bits {
                used += bits;
            } else {
                residency.streamed[op.index()] = true;
            }
        }
        (residency, capacity_bits - used)
    }
}

/// Bits of an operand a whole tile needs resident in the global SRAM. V needs a home
/// only when it crosses the tile's edges (loaded from an earlier timestep group or
/// kept for a later one); a tile spanning the whole inference keeps it in the
/// accumulators (see [`CostModel::evaluate`]).
pub fn operand_bits(shape: &CtShape, op: Operand) -> u64 {
    match op {
        Operand::W => shape.weight_bits(),
        Operand::I => shape.input_bits(),
        Operand::O => shape.output_bits(),
        Operand::V if shape.keeps_state_in_accumulators() => 0,
        Operand::V => shape.state_bits(),
    }
}

/// A memory level in a mapping: the PE registers/accumulators, a memory of the core
/// (index into `Core::memories`), or DRAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Pe,
    Memory(usize),
    Dram,
}

/// Bits read from and written to one level for one operand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadWrite {
    pub read_bits: u64,
    pub write_bits: u64,
}

/// Everything a nest costs. Levels are indexed 0 = PE, 1..=M = the core's memories,
/// M+1 = DRAM.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `accesses[operand][level]`.
    pub accesses: [Vec<ReadWrite>; 4],
    /// Per operand, the boundary (number of innermost loops below) at each level that
    /// holds it, innermost first.
    pub boundaries: [Vec<(Level, usize)>; 4],
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
    pub compute_cycles: u64,
    /// Of the compute cycles, those folds last beyond their average lane (`skip`).
    pub lane_imbalance_cycles: u64,
    pub fill_drain_cycles: u64,
    /// Cycles folds wait, beyond their compute and the fill/drain, for results to drain.
    pub drain_bound_cycles: u64,
    /// Folds (iterations of the loops above the reduction).
    pub folds: u64,
    /// Cycles each level's ports need for its traffic (same indexing as accesses).
    pub level_cycles: Vec<u64>,
    pub stall_cycles: u64,
    /// Of the stall cycles, the prologue's when its fills queue for one bank's port
    /// (a one-bank SRAM serves them in turn).
    pub prologue_bank_wait_cycles: u64,
    pub energy_fj_by_level: Vec<f64>,
    pub energy_fj_by_operand: [f64; 4],
    pub compute_energy_fj: f64,
}

impl Evaluation {
    pub fn total_cycles(&self) -> u64 {
        self.array_cycles() + self.stall_cycles
    }

    /// Cycles the array is occupied: computing, filling and draining.
    pub fn array_cycles(&self) -> u64 {
        self.compute_cycles + self.fill_drain_cycles + self.drain_bound_cycles
    }

    pub fn energy_fj(&self) -> f64 {
        self.energy_fj_by_level.iter().sum::<f64>() + self.compute_energy_fj
    }
}

/// The bounding box ((rows), (columns)) of raster pixels `p0..p1` of an output `ox`
/// pixels wide: one partial row, or whole rows when the chunk wraps.
pub fn raster_box(p0: u64, p1: u64, ox: u64) -> ((u64, u64), (u64, u64)) {
    let (y0, y1) = (p0 / ox, (p1 - 1) / ox + 1);
    if y1 - y0 == 1 {
        ((y0, y1), (p0 % ox, (p1 - 1) % ox + 1))
    } else {
        ((y0, y1), (0, ox))
    }
}

/// Over the raster chunks of a flattened tile: the sum of their input footprints and
/// the largest one.
type RasterFootprints = (u64, u64);

/// A tile to cost on a core.
pub struct CostModel<'a> {
    pub shape: &'a CtShape,
    pub core: &'a Core,
    pub dram: &'a Dram,
    pub residency: Residency,
    /// Global SRAM space for the tiles of streamed operands.
    pub stream_budget_bits: u64,
    unroll: [u64; 7],
    total: [u64; 7],
    /// The OX dimension is the flattened pixel index (OY·OX pixels in raster order).
    flat: bool,
    /// Fx, not SipHash: looked up for every candidate mapping, hashing was a tenth of
    /// the cost model's time.
    axis_cache: RefCell<FxHashMap<(usize, u64, u64), u64>>,
    /// Raster chunks' input footprints by (pixels, FY taps, FX taps).
    raster_cache: RefCell<FxHashMap<(u64, u64, u64), RasterFootprints>>,
    /// The expected fold cycles under `skip`, and how many of them the busiest lane
    /// adds over the average one (they depend on the shape and unrolling).
    skip_fold_cycles: Cell<Option<(f64, f64)>>,
}

impl<'a> CostModel<'a> {
    pub fn new(
        shape: &'a CtShape,
        core: &'a Core,
        dram: &'a Dram,
        residency: Residency,
        stream_budget_bits: u64,
    ) -> Self {
        let model = Self {
            shape,
            core,
            dram,
            residency,
            stream_budget_bits,
            unroll: [1; 7],
            total: [1; 7],
            flat: false,
            axis_cache: RefCell::new(FxHashMap::default()),
            raster_cache: RefCell::new(FxHashMap::default()),
            skip_fold_cycles: Cell::new(None),
        };
        model.with_unroll(core.pe_array.unroll())
    }

    /// The same tile under another spatial unrolling of the array. A flattened
    /// unrolling iterates the output pixels as one raster index (OY is 1, OX counts
    /// pixels).
    pub fn with_unroll(mut self, u: crate::model::Unroll) -> Self {
        let s = self.shape;
        self.unroll = [u.k, u.c, u.oy, u.ox, 1, 1, 1];
        self.flat = u.flat;
        self.skip_fold_cycles.set(None);
        let (oy, ox) = if u.flat {
            (1, s.oy * s.ox)
        } else {
            (s.oy, s.ox)
        };
        self.total = [s.k, s.c, oy, ox, s.fy, s.fx, s.t];
        self
    }

    /// Whether the OX dimension is the flattened pixel index.
    pub fn flat(&self) -> bool {
        self.flat
    }

    /// Iterations of each dimension left to temporal loops once the array unrolls it.
    pub fn temporal_sizes(&self) -> [u64; 7] {
        std::array::from_fn(|d| self.total[d].div_ceil(self.unroll[d]))
    }

    pub fn unroll(&self) -> [u64; 7] {
        self.unroll
    }

    fn ext(&self, inner: &[u64; 7], d: Dim) -> u64 {
        let i = d.index();
        (inner[i] * self.unroll[i]).min(self.total[i])
    }

    /// Distinct input positions along one axis for `outputs` consecutive outputs and
    /// `taps` consecutive kernel taps.
    fn distinct_inputs(&self, axis: usize, outputs: u64, taps: u64) -> u64 {
        let s = self.shape.stride[axis];
        let span = if s >= taps {
            outputs * taps
        } else {
            (outputs - 1) * s + taps
        };
        span.min(self.shape.in_extent[axis])
    }

    /// Input extent along one axis read by outputs `o0..o1` with the kernel taken
    /// `f_in` taps at a time (each group's span, halo included, padding clipped).
    fn axis_extent(&self, axis: usize, o0: u64, o1: u64, f_in: u64) -> u64 {
        let f = if axis == 0 {
            self.shape.fy
        } else {
            self.shape.fx
        };
        let s = self.shape.stride[axis] as i64;
        let pad = self.shape.pad_lo[axis] as i64;
        let extent = self.shape.in_span[axis] as i64;
        let clip = |lo: i64, hi: i64| -> u64 { (hi.min(extent) - lo.max(0)).max(0) as u64 };
        let mut sum = 0u64;
        let mut r0 = 0;
        while r0 < f {
            let taps = f_in.min(f - r0) as i64;
            if s >= taps {
                for o in o0..o1 {
                    let lo = o as i64 * s + r0 as i64 - pad;
                    sum += clip(lo, lo + taps);
                }
            } else {
                let lo = o0 as i64 * s + r0 as i64 - pad;
                let hi = (o1 as i64 - 1) * s + r0 as i64 + taps - pad;
                sum += clip(lo, hi);
            }
            r0 += f_in;
        }
        sum
    }

    /// Sum over all tile positions of the input extent along one axis, for tiles of
    /// `e_out` outputs and `f_in` kernel taps (halo included, padding clipped).
    fn axis_sum(&self, axis: usize, e_out: u64, f_in: u64) -> u64 {
        if let Some(&v) = self.axis_cache.borrow().get(&(axis, e_out, f_in)) {
            return v;
        }
        let out = if axis == 0 {
            self.shape.oy
        } else {
            self.shape.ox
        };
        let mut sum = 0u64;
        let mut o0 = 0;
        while o0 < out {
            let o1 = (o0 + e_out).min(out);
            sum += self.axis_extent(axis, o0, o1, f_in);
            o0 = o1;
        }
        self.axis_cache
            .borrow_mut()
            .insert((axis, e_out, f_in), sum);
        sum
    }

    /// Over the raster chunks of `pixels` consecutive output pixels: the sum of their
    /// input footprints read `fy_in` × `fx_in` kernel taps at a time (halo included,
    /// padding clipped), and the largest one a level holds (one tap group of the
    /// chunk's bounding box: rows × columns).
    fn raster_footprints(&self, pixels: u64, fy_in: u64, fx_in: u64) -> RasterFootprints {
        let key = (pixels, fy_in, fx_in);
        if let Some(&v) = self.raster_cache.borrow().get(&key) {
            return v;
        }
        let (oy, ox) = (self.shape.oy, self.shape.ox);
        let (mut sum, mut largest) = (0u64, 0u64);
        let mut p0 = 0;
        while p0 < oy * ox {
            let p1 = (p0 + pixels).min(oy * ox);
            let ((y0, y1), (x0, x1)) = raster_box(p0, p1, ox);
            sum += self.axis_extent(0, y0, y1, fy_in) * self.axis_extent(1, x0, x1, fx_in);
            largest = largest.max(
                self.distinct_inputs(0, y1 - y0, fy_in) * self.distinct_inputs(1, x1 - x0, fx_in),
            );
            p0 = p1;
        }
        self.raster_cache.borrow_mut().insert(key, (sum, largest));
        (sum, largest)
    }

    /// Bits of `op` held by a level whose boundary leaves `inner` below it.
    pub fn tile_bits(&self, op: Operand, inner: &[u64; 7]) -> u64 {
        let s = self.shape;
        let p = &s.precision;
        let e = |d| self.ext(inner, d);
        match op {
            Operand::W => {
                // A matmul's W operand is new at every timestep (`nest::relevant`).
                let t = if s.op == OpKind::Matmul { e(Dim::T) } else { 1 };
                if s.op.is_reduction() {
                    e(Dim::K) * e(Dim::C) * e(Dim::FY) * e(Dim::FX) * t * p.w as u64
                } else {
                    0
                }
            }
            Operand::I => {
                let ch = self.input_channels(e(Dim::K), e(Dim::C));
                let positions = if self.flat {
                    self.raster_footprints(e(Dim::OX), e(Dim::FY), e(Dim::FX)).1
                } else {
                    self.distinct_inputs(0, e(Dim::OY), e(Dim::FY))
                        * self.distinct_inputs(1, e(Dim::OX), e(Dim::FX))
                };
                ch * positions * e(Dim::T) * p.i as u64
            }
            Operand::O => e(Dim::K) * e(Dim::OY) * e(Dim::OX) * e(Dim::T) * p.o as u64,
            Operand::V => {
                if s.stateful {
                    e(Dim::K) * e(Dim::OY) * e(Dim::OX) * p.v as u64
                } else {
                    0
                }
            }
        }
    }

    fn input_channels(&self, k: u64, c: u64) -> u64 {
        self.shape.op.input_channels(k, c)
    }

    /// Product of the loops above `boundary` that re-fetch `op`: every loop above the
    /// boundary except the run of irrelevant loops directly above it.
    fn refetch_multiplier(&self, op: Operand, loops: &[Loop], boundary: usize) -> u64 {
        self.refetch_multiplier_from(op, loops, boundary, true)
    }

    /// With `reuse` false, the level keeps nothing across loops (no register): every
    /// irrelevant loop above re-fetches.
    fn refetch_multiplier_from(
        &self,
        op: Operand,
        loops: &[Loop],
        boundary: usize,
        reuse: bool,
    ) -> u64 {
        let above = &loops[..loops.len() - boundary];
        let mut mult = 1u64;
        let mut in_run = reuse;
        for l in above.iter().rev() {
            if relevant(self.shape.op, op, l.dim) {
                in_run = false;
            } else if !in_run {
                mult *= l.size;
            }
        }
        mult
    }

    /// Bits of `op` moved into a level with the given boundary over the whole tile.
    pub fn traffic_bits(&self, op: Operand, loops: &[Loop], boundary: usize) -> u64 {
        self.traffic_bits_with(
            op,
            loops,
            boundary,
            self.refetch_multiplier(op, loops, boundary),
        )
    }

    /// Bits the PE array reads of an input operand. Weights sit in a per-PE register,
    /// which keeps them across loops they do not depend on; input features stream into
    /// the array with no register, so every iteration reads them again.
    pub fn array_feed_bits(&self, op: Operand, loops: &[Loop]) -> u64 {
        let reuse = op == Operand::W;
        self.traffic_bits_with(
            op,
            loops,
            0,
            self.refetch_multiplier_from(op, loops, 0, reuse),
        )
    }

    fn traffic_bits_with(&self, op: Operand, loops: &[Loop], boundary: usize, mult: u64) -> u64 {
        let s = self.shape;
        match op {
            Operand::W => s.weight_bits() * mult,
            Operand::I => {
                let inner = dim_products(&loops[loops.len() - boundary..]);
                let e = |d| self.ext(&inner, d);
                let positions = if self.flat {
                    self.raster_footprints(e(Dim::OX), e(Dim::FY), e(Dim::FX)).0
                } else {
                    self.axis_sum(0, e(Dim::OY), e(Dim::FY))
                        * self.axis_sum(1, e(Dim::OX), e(Dim::FX))
                };
                let ch = self.input_channels(s.k, s.c);
                ch * positions * s.t * s.precision.i as u64 * mult
            }
            Operand::O => s.output_bits() * mult,
            Operand::V => 0, // see state_visits
        }
    }

    /// Visits per neuron: timesteps are batched in the accumulator only across the run
    /// of T loops directly above the reduction.
    pub fn state_visits(&self, loops: &[Loop], reduction_loops: usize) -> u64 {
        let above = &loops[..loops.len() - reduction_loops];
        let mut batched = 1u64;
        for l in above.iter().rev() {
            if l.dim == Dim::T {
                batched *= l.size;
            } else {
                break;
            }
        }
        self.shape.t / batched
    }

    /// Costs a nest whose innermost `reduction_loops` loops are the reduction.
    /// Returns `None` when a tile does not fit a level, or when a whole-inference tile
    /// would need to park neuron state between timesteps.
    pub fn evaluate(&self, loops: &[Loop], reduction_loops: usize) -> Option<Evaluation> {
        if self.shape.recurrent && super::nest::recurrence_order_problem(loops).is_some() {
            return None;
        }
        let boundaries = self.boundaries(loops, reduction_loops)?;
        let (accesses, performed) = self.accesses(loops, reduction_loops, &boundaries)?;
        let s = self.shape;
        // Operations.
        let (macs, sops) = if s.precision.i == 1 {
            (0, performed)
        } else {
            (performed, 0)
        };
        let other_ops = s.other_ops();
        let pe = &self.core.pe_array;
        let compute_energy_fj = macs as f64 * pe.mac_energy_fj
            + sops as f64 * pe.sop_energy_fj
            + other_ops as f64 * pe.other_op_energy_fj;

        let (mut level_cycles, energy_fj_by_level, energy_fj_by_operand) =
            self.level_costs(&accesses);
        let (folds, fold_cycles, compute_cycles, lane_imbalance_cycles) =
            self.array_cycles(loops, reduction_loops);
        let (fill_drain_cycles, drain_bound_cycles) = self.fold_overheads(folds, fold_cycles);
        let busy = compute_cycles + fill_drain_cycles + drain_bound_cycles;
        self.add_feed_stalls(&mut level_cycles, &accesses, folds, fold_cycles, busy);
        // Transfers proceed while the array fills and drains as well as computes; while
        // it waits for a streamed piece, its buffers wait too.
        let (on_chip, dram) = level_cycles.split_at(level_cycles.len() - 1);
        let fed = on_chip.iter().copied().max().unwrap_or(0).max(busy);
        let refill = self.stream_refill_cycles(loops, &boundaries, &accesses, busy, folds);
        let slowest = dram.iter().copied().max().unwrap_or(0).max(fed + refill);
        let (prologue, prologue_bank_wait_cycles) =
            self.prologue_cycles(loops, reduction_loops, &boundaries, &accesses);
        Some(Evaluation {
            accesses,
            boundaries,
            macs,
            sops,
            other_ops,
            compute_cycles,
            lane_imbalance_cycles,
            fill_drain_cycles,
            drain_bound_cycles,
            folds,
            stall_cycles: slowest.saturating_sub(busy) + prologue,
            prologue_bank_wait_cycles,
            level_cycles,
            energy_fj_by_level,
            energy_fj_by_operand,
            compute_energy_fj,
        })
    }

    /// Where each operand's tiles sit, innermost first: local memories greedily hold as
    /// much as fits; the global SRAM holds resident operands whole and streamed ones in
    /// the staging area; streamed operands end in DRAM.
    fn boundaries(
        &self,
        loops: &[Loop],
        reduction_loops: usize,
    ) -> Option<[Vec<(Level, usize)>; 4]> {
        let core = self.core;
        let global = core.global_index();
        let n = loops.len();
        let s = self.shape;
        let mut boundaries: [Vec<(Level, usize)>; 4] = Default::default();
        let mut current = [0usize; 4];
        current[Operand::O.index()] = reduction_loops;
        current[Operand::V.index()] = reduction_loops;
        for b in boundaries.iter_mut() {
            b.push((Level::Pe, 0));
        }
        boundaries[Operand::O.index()][0].1 = reduction_loops;
        boundaries[Operand::V.index()][0].1 = reduction_loops;
        for (mi, mem) in core.memories.iter().enumerate() {
            if mi == global {
                continue;
            }
            let ops: Vec<Operand> = [Operand::W, Operand::I]
                .into_iter()
                .filter(|&op| mem.holds(op) && self.has_operand(op))
                .collect();
            if ops.is_empty() {
                continue;
            }
            let placed = self.allocate(&ops, &current, loops, mem.size_bits)?;
            for (op, b) in ops.iter().zip(placed) {
                current[op.index()] = b;
                boundaries[op.index()].push((Level::Memory(mi), b));
            }
        }
        // Global SRAM: resident operands hold the whole tile; streamed ones share the
        // space the scheduler left.
        let streamed_inputs: Vec<Operand> = [Operand::W, Operand::I]
            .into_iter()
            .filter(|&op| self.residency.is_streamed(op) && self.has_operand(op))
            .collect();
        // With no room even for the smallest tiles, streamed data passes straight
        // through the global SRAM into the local buffers.
        let streamed_at = self
            .allocate_streamed(&streamed_inputs, &current, loops, self.stream_budget_bits)
            .unwrap_or_else(|| {
                streamed_inputs
                    .iter()
                    .map(|op| current[op.index()])
                    .collect()
            });
        for op in Operand::ALL {
            let accumulator_only = op == Operand::V && s.keeps_state_in_accumulators();
            if !self.has_operand(op) || accumulator_only {
                continue;
            }
            let b = if let Some(pos) = streamed_inputs.iter().position(|&x| x == op) {
                streamed_at[pos]
            } else if self.residency.is_streamed(op) {
                current[op.index()] // O and V pass through to DRAM
            } else {
                n
            };
            boundaries[op.index()].push((Level::Memory(global), b));
            if self.residency.is_streamed(op) {
                boundaries[op.index()].push((Level::Dram, n));
            }
        }

        Some(boundaries)
    }

    /// The bits each operand reads and writes at each level (PE, memories, DRAM), and
    /// the reduction operations performed. `None` for a whole-inference tile that
    /// would park state between timesteps.
    fn accesses(
        &self,
        loops: &[Loop],
        reduction_loops: usize,
        boundaries: &[Vec<(Level, usize)>; 4],
    ) -> Option<([Vec<ReadWrite>; 4], u64)> {
        let core = self.core;
        let nlev = core.memories.len() + 2;
        let s = self.shape;
        let level_index = |l: Level| self.level_index(l);
        let mut accesses: [Vec<ReadWrite>; 4] = Default::default();
        for a in accesses.iter_mut() {
            *a = vec![ReadWrite::default(); nlev];
        }

        // Inputs flow down.
        for op in [Operand::W, Operand::I] {
            if !self.has_operand(op) {
                continue;
            }
            let chain = &boundaries[op.index()];
            for pair in chain.windows(2) {
                let (child, child_b) = pair[0];
                let (parent, _) = pair[1];
                let moved = if child == Level::Pe {
                    self.array_feed_bits(op, loops)
                } else {
                    self.traffic_bits(op, loops, child_b)
                };
                accesses[op.index()][level_index(parent)].read_bits += moved;
                accesses[op.index()][level_index(child)].write_bits += moved;
            }
        }
        let performed = self.performed_reduction_ops();
        let ops_total = performed + s.other_ops();
        if s.op.is_reduction() {
            // Each operation reads its weight from the PE register.
            accesses[Operand::W.index()][0].read_bits += performed * s.precision.w as u64;
        }
        // Outputs: accumulate in the PE, then flow up once complete.
        let acc_bits = core.pe_array.accumulator_bits as u64;
        accesses[Operand::O.index()][0].read_bits += ops_total * acc_bits;
        accesses[Operand::O.index()][0].write_bits += ops_total * acc_bits;
        let out_bits = self.traffic_bits(Operand::O, loops, reduction_loops);
        for pair in boundaries[Operand::O.index()].windows(2) {
            accesses[Operand::O.index()][level_index(pair[0].0)].read_bits += out_bits;
            accesses[Operand::O.index()][level_index(pair[1].0)].write_bits += out_bits;
        }
        // State: loaded at the start and stored at the end of each visit.
        if s.stateful {
            let visits = self.state_visits(loops, reduction_loops);
            if s.keeps_state_in_accumulators() && visits > 1 {
                // A whole-inference tile has no global-SRAM space for V between
                // timesteps: its timesteps must stay in the accumulators.
                return None;
            }
            let neurons = s.neurons();
            let v = s.precision.v as u64;
            let loads = visits - u64::from(s.first_timestep);
            let stores = visits - u64::from(s.last_timestep);
            for pair in boundaries[Operand::V.index()].windows(2) {
                let (child, parent) = (level_index(pair[0].0), level_index(pair[1].0));
                let acc = &mut accesses[Operand::V.index()];
                acc[parent].read_bits += loads * neurons * v;
                acc[child].write_bits += loads * neurons * v;
                acc[child].read_bits += stores * neurons * v;
                acc[parent].write_bits += stores * neurons * v;
            }
        }

        self.apply_feature_formats(&mut accesses, boundaries);

        Some((accesses, performed))
    }

    /// A level's index in `accesses`: the PE registers, each memory, the DRAM.
    fn level_index(&self, l: Level) -> usize {
        match l {
            Level::Pe => 0,
            Level::Memory(m) => m + 1,
            Level::Dram => self.core.memories.len() + 1,
        }
    }

    /// Per level, the cycles its ports need for its traffic and the energy it spends;
    /// and the energy per operand.
    fn level_costs(&self, accesses: &[Vec<ReadWrite>; 4]) -> (Vec<u64>, Vec<f64>, [f64; 4]) {
        let core = self.core;
        let pe = &core.pe_array;
        let nlev = core.memories.len() + 2;
        let dram_idx = nlev - 1;
        let mut level_cycles = vec![0u64; nlev];
        let mut energy_fj_by_level = vec![0f64; nlev];
        let mut energy_fj_by_operand = [0f64; 4];
        for li in 0..nlev {
            let reads: u64 = accesses.iter().map(|a| a[li].read_bits).sum();
            let writes: u64 = accesses.iter().map(|a| a[li].write_bits).sum();
            let (re, we) = if li == 0 {
                (pe.register_energy_fj_per_bit, pe.register_energy_fj_per_bit)
            } else if li == dram_idx {
                (
                    self.dram.energy_fj_per_bit(false),
                    self.dram.energy_fj_per_bit(true),
                )
            } else {
                let m = &core.memories[li - 1];
                (m.read_energy_fj_per_bit, m.write_energy_fj_per_bit)
            };
            for (oi, a) in accesses.iter().enumerate() {
                let e = a[li].read_bits as f64 * re + a[li].write_bits as f64 * we;
                energy_fj_by_level[li] += e;
                energy_fj_by_operand[oi] += e;
            }
            level_cycles[li] = if li == 0 {
                0
            } else if li == dram_idx {
                self.dram.occupancy_rw_cycles(reads, writes)
            } else {
                let m = &core.memories[li - 1];
                let r = reads.div_ceil(m.read_bw_bits());
                let w = writes.div_ceil(m.write_bw_bits());
                r.max(w).max(self.busiest_bank_cycles(li - 1, accesses))
            };
        }
        (level_cycles, energy_fj_by_level, energy_fj_by_operand)
    }

    /// An operand's traffic at a banked memory goes through the banks its data spans
    /// only (a tile's weights in one bank are served by one bank port, however many
    /// banks the memory has): the cycles of the operand that needs the most.
    fn busiest_bank_cycles(&self, memory: usize, accesses: &[Vec<ReadWrite>; 4]) -> u64 {
        let m = &self.core.memories[memory];
        if m.banks_spanned(1).is_none() {
            return 0;
        }
        Operand::ALL
            .iter()
            .map(|&op| {
                let a = accesses[op.index()][memory + 1];
                let span = m.banks_spanned(operand_bits(self.shape, op)).unwrap_or(1);
                let r = a.read_bits.div_ceil(m.read_bw_bits_per_bank * span);
                let w = a.write_bits.div_ceil(m.write_bw_bits_per_bank * span);
                r.max(w)
            })
            .max()
            .unwrap_or(0)
    }

    /// The array's folds and cycles: (folds, one fold's cycles, compute cycles, cycles
    /// lost to lane imbalance). The array computes one temporal iteration per cycle;
    /// under `skip`, a fold lasts as long as its busiest lane.
    fn array_cycles(&self, loops: &[Loop], reduction_loops: usize) -> (u64, u64, u64, u64) {
        let n = loops.len();
        let dense_compute_cycles: u64 = loops.iter().map(|l| l.size).product();
        let dense_fold_cycles: u64 = loops[n - reduction_loops..]
            .iter()
            .map(|l| l.size)
            .product();
        let folds = dense_compute_cycles / dense_fold_cycles.max(1);
        let (fold_cycles, compute_cycles, lane_imbalance_cycles) =
            if self.core.pe_array.sparsity == crate::model::Sparsity::Skip {
                let (fold, imbalance) = self.fold_cycles(dense_fold_cycles);
                let total = |x: f64| (folds as f64 * x).round() as u64;
                (fold.round() as u64, total(fold), total(imbalance))
            } else {
                (dense_fold_cycles, dense_compute_cycles, 0)
            };
        (folds, fold_cycles, compute_cycles, lane_imbalance_cycles)
    }

    /// A fold lasts as long as each local buffer needs to deliver what it reads (the
    /// simulator stretches each pass so; the fill/drain skew does not hide reads): a
    /// fold that reloads the weight registers reads a whole K slice of weights, every
    /// fold its inputs (under `skip`, folds are short, so reloads stretch them most).
    /// A memory feeding the array is then busy for the folds plus those stretches,
    /// whatever its total traffic allows.
    fn add_feed_stalls(
        &self,
        level_cycles: &mut [u64],
        accesses: &[Vec<ReadWrite>; 4],
        folds: u64,
        fold_cycles: u64,
        busy: u64,
    ) {
        let s = self.shape;
        if folds == 0 {
            return;
        }
        let feeds = |op: Operand| -> Option<usize> {
            self.core
                .memories
                .iter()
                .position(|m| m.holds(op))
                .filter(|_| self.has_operand(op))
        };
        let (w_at, i_at) = (feeds(Operand::W), feeds(Operand::I));
        // Bits one weight reload brings into the registers: the fold's K slice through
        // the whole reduction; how many folds reload.
        let k_slice = self.unroll[Dim::K.index()].min(s.k);
        let reload = k_slice * s.c * s.fy * s.fx * s.precision.w as u64;
        let feed = |op: Operand, at: Option<usize>| {
            at.map_or(0, |m| accesses[op.index()][m + 1].read_bits)
        };
        let reloads = feed(Operand::W, w_at)
            .checked_div(reload)
            .unwrap_or(0)
            .min(folds);
        let input_per_fold = feed(Operand::I, i_at).div_ceil(folds);
        for (m, memory) in self.core.memories.iter().enumerate() {
            let bw = memory.read_bw_bits().max(1);
            let (w, i) = (w_at == Some(m), i_at == Some(m));
            if !(w || i) {
                continue;
            }
            let input = if i { input_per_fold } else { 0 };
            let stretch = |bits: u64| bits.div_ceil(bw).saturating_sub(fold_cycles);
            let with_reload = if w {
                reloads * stretch(reload + input)
            } else {
                0
            };
            let without = (folds - if w { reloads } else { 0 }) * stretch(input);
            let needed = busy + with_reload + without;
            level_cycles[m + 1] = level_cycles[m + 1].max(needed);
        }
    }

    /// Reduction operations the array performs: all of them, or under `gate`/`skip` the
    /// expected number whose input is non-zero — the operations landing on real inputs
    /// (padding is zero) times the input's density.
    pub fn performed_reduction_ops(&self) -> u64 {
        let s = self.shape;
        let dense = s.reduction_ops();
        if dense == 0 || !self.core.pe_array.sparsity.gates() {
            return dense;
        }
        // (output, tap) pairs that land on a real input, per axis (padding excluded).
        let real_pairs = self.axis_sum(0, 1, 1) * self.axis_sum(1, 1, 1);
        let on_real_inputs = s.k * s.c * real_pairs * s.t;
        (on_real_inputs as f64 * s.activity.input_density()).round() as u64
    }

    /// Expected reduction cycles of one fold (dense, or under `skip` the busiest lane's,
    /// averaged over the fold's pixel chunks: edge chunks have fewer lanes), and how
    /// many of them the busiest lane adds over an average lane (`lane_imbalance`).
    fn fold_cycles(&self, dense_fold_cycles: u64) -> (f64, f64) {
        let pe = &self.core.pe_array;
        let s = self.shape;
        if pe.sparsity != crate::model::Sparsity::Skip || !s.op.is_reduction() {
            return (dense_fold_cycles as f64, 0.0);
        }
        if let Some(v) = self.skip_fold_cycles.get() {
            return v;
        }
        let inputs = s.c * s.fy * s.fx;
        let per_cycle = self.unroll[Dim::C.index()];
        let density = s.activity.input_density();
        let (mut sum, mut count) = (0.0, 0u64);
        for (lanes, chunks) in self.lane_chunks() {
            let e = crate::model::activity::expected_skip_fold_cycles(
                lanes, inputs, density, per_cycle,
            );
            sum += e * chunks as f64;
            count += chunks;
        }
        let mean = if count == 0 { 1.0 } else { sum / count as f64 };
        let average_lane = (inputs as f64 * density / per_cycle as f64).max(1.0);
        let v = (mean, (mean - average_lane).max(0.0));
        self.skip_fold_cycles.set(Some(v));
        v
    }

    /// The array's pixel chunks by lane count (output pixels per fold): `(lanes, how
    /// many chunks)`, full chunks and the edges.
    fn lane_chunks(&self) -> Vec<(u64, u64)> {
        let split = |total: u64, per: u64| -> Vec<(u64, u64)> {
            let per = per.max(1);
            if total <= per {
                return vec![(total, 1)];
            }
            let mut v = vec![(per, total / per)];
            if !total.is_multiple_of(per) {
                v.push((total % per, 1));
            }
            v
        };
        let s = self.shape;
        if self.flat {
            return split(s.oy * s.ox, self.unroll[Dim::OX.index()]);
        }
        let rows = split(s.oy, self.unroll[Dim::OY.index()]);
        let cols = split(s.ox, self.unroll[Dim::OX.index()]);
        rows.iter()
            .flat_map(|&(ly, ny)| cols.iter().map(move |&(lx, nx)| (ly * lx, ny * nx)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Feature bits at each level follow the level's format at the tensor's density;
    /// the array's reads of its inputs skip the zeros when it gates them. Capacity is
    /// not touched: levels are sized for the dense worst case.
    fn apply_feature_formats(
        &self,
        accesses: &mut [Vec<ReadWrite>; 4],
        boundaries: &[Vec<(Level, usize)>; 4],
    ) {
        if !self.core.sees_activity(self.dram) {
            return; // dense everywhere: every ratio is 1
        }
        let s = self.shape;
        let a = &s.activity;
        let nmem = self.core.memories.len();
        let format = |li: usize| {
            if li == nmem + 1 {
                self.dram.feature_format
            } else {
                self.core.memories[li - 1].feature_format
            }
        };
        let scale = |rw: &mut ReadWrite, read: f64, write: f64| {
            rw.read_bits = (rw.read_bits as f64 * read).round() as u64;
            rw.write_bits = (rw.write_bits as f64 * write).round() as u64;
        };
        let feed_parent = boundaries[Operand::I.index()]
            .get(1)
            .map(|&(l, _)| match l {
                Level::Pe => 0,
                Level::Memory(m) => m + 1,
                Level::Dram => nmem + 1,
            });
        let gates = self.core.pe_array.sparsity.gates();
        let input = |li: usize| {
            format(li).expected_ratio(a.input_density(), s.precision.i, a.input_address_bits)
        };
        // The array's own input reads: only the non-zeros when it gates, else as stored.
        let feed = match feed_parent {
            _ if gates => a.input_density(),
            Some(li) if li > 0 => input(li),
            _ => 1.0,
        };
        let i = &mut accesses[Operand::I.index()];
        scale(&mut i[0], 1.0, feed);
        for (li, rw) in i.iter_mut().enumerate().skip(1) {
            let stored = input(li);
            let read = if Some(li) == feed_parent {
                feed
            } else {
                stored
            };
            scale(rw, read, stored);
        }
        let o = &mut accesses[Operand::O.index()];
        for (li, rw) in o.iter_mut().enumerate().skip(1) {
            let r =
                format(li).expected_ratio(a.output_density(), s.precision.o, a.output_address_bits);
            scale(rw, r, r);
        }
    }

    /// Fill/drain cycles and drain-bound cycles of `folds` folds of `fold_cycles` each.
    fn fold_overheads(&self, folds: u64, fold_cycles: u64) -> (u64, u64) {
        let pe = &self.core.pe_array;
        let skew = pe.fill_drain_cycles();
        let drain = self.core.drain_cycles(self.shape.precision.o as u64);
        if pe.accumulator_buffers >= 2 {
            (skew, folds * drain.saturating_sub(fold_cycles))
        } else {
            (folds * skew, folds * drain.saturating_sub(skew))
        }
    }

    /// Cycles the array waits for a streamed input's later pieces: the controller
    /// requests each piece from DRAM only `LOOKAHEAD_PASSES` passes before the array
    /// needs it, so what its access latency and transfer take beyond those passes'
    /// compute is exposed, once per piece after the first (which is in the prologue).
    /// A piece lands no faster than its banks' write ports take it (`landing_cycles`), and
    /// a buffer that holds a whole piece refills with it, through a bank's read port as
    /// the piece lands: the piece is ready when both are done.
    fn stream_refill_cycles(
        &self,
        loops: &[Loop],
        boundaries: &[Vec<(Level, usize)>; 4],
        accesses: &[Vec<ReadWrite>; 4],
        busy: u64,
        folds: u64,
    ) -> u64 {
        let ahead = crate::model::accelerator::LOOKAHEAD_PASSES * busy / folds.max(1);
        let mut exposed = 0;
        for op in [Operand::W, Operand::I] {
            if !self.residency.is_streamed(op) {
                continue;
            }
            let Some((pieces, piece)) = self.staged_pieces(op, loops, boundaries, accesses) else {
                continue;
            };
            let landing = self.landing_cycles(piece);
            let transfer = match self.staged_buffer_fill(op, loops, boundaries) {
                Some((bits, fill)) if piece <= bits => landing.max(fill),
                _ => landing,
            };
            let load = self.dram.access_latency(false) + transfer;
            exposed += pieces.saturating_sub(1) * load.saturating_sub(ahead);
        }
        exposed
    }

    /// Cycles `bits` streamed from DRAM take to land in the global SRAM: the DRAM's
    /// transfer, or the write ports of the banks they span when those are slower.
    fn landing_cycles(&self, bits: u64) -> u64 {
        let ports = self.core.global_sram().landing_cycles(bits);
        self.dram.occupancy_cycles(bits, false).max(ports)
    }

    /// The local buffer a streamed operand's staging area fills (the outermost below the
    /// global SRAM): its tile's bits and the cycles a fill of it takes through a bank
    /// read port and the buffer's write port.
    fn staged_buffer_fill(
        &self,
        op: Operand,
        loops: &[Loop],
        boundaries: &[Vec<(Level, usize)>; 4],
    ) -> Option<(u64, u64)> {
        let global = self.core.global_index();
        let (m, b) = boundaries[op.index()]
            .iter()
            .rev()
            .find_map(|&(level, b)| match level {
                Level::Memory(m) if m != global => Some((m, b)),
                _ => None,
            })?;
        let bits = self.tile_bits(op, &dim_products(&loops[loops.len() - b..]));
        let port = self.core.global_sram().read_bw_bits_per_bank;
        let bw = port.min(self.core.memories[m].write_bw_bits()).max(1);
        Some((bits, bits.div_ceil(bw)))
    }

    /// How many pieces of a streamed operand the staging area takes in over the tile
    /// (one each time a loop above its boundary moves, but for the run of loops directly
    /// above that the operand does not depend on), and their average bits: what comes
    /// from DRAM over that many. A piece at an edge of the tile is clipped, so the full
    /// tile's bits would overstate them and undercount the pieces. `None` if not staged.
    fn staged_pieces(
        &self,
        op: Operand,
        loops: &[Loop],
        boundaries: &[Vec<(Level, usize)>; 4],
        accesses: &[Vec<ReadWrite>; 4],
    ) -> Option<(u64, u64)> {
        let global = Level::Memory(self.core.global_index());
        let &(_, b) = boundaries[op.index()].iter().find(|(l, _)| *l == global)?;
        let mut pieces = 1u64;
        let mut in_run = true;
        for l in loops[..loops.len() - b].iter().rev() {
            in_run &= !relevant(self.shape.op, op, l.dim);
            if !in_run {
                pieces *= l.size;
            }
        }
        let from_dram = accesses[op.index()].last().map_or(0, |a| a.read_bits);
        Some((pieces, from_dram / pieces.max(1)))
    }

    /// Cycles before the first pass can start: its local-buffer tiles (and the first
    /// state load) must arrive first, and nothing overlaps them. Each arrives through
    /// one global-SRAM bank port and the buffer's write port (from DRAM for a streamed
    /// operand, after the access latency); they arrive in parallel, except through a
    /// one-bank SRAM, whose port serves the resident ones in turn. Returns the cycles
    /// and, of them, those spent queueing for that port (all of them when the fills
    /// queue: the first pass waits for the last fill, which waited for the port).
    fn prologue_cycles(
        &self,
        loops: &[Loop],
        reduction_loops: usize,
        boundaries: &[Vec<(Level, usize)>; 4],
        accesses: &[Vec<ReadWrite>; 4],
    ) -> (u64, u64) {
        let core = self.core;
        let global = core.global_sram();
        let n = loops.len();
        let mut longest = 0u64;
        // Through one bank port, the fills of resident data arrive in turn.
        let mut one_port = 0u64;
        for op in [Operand::W, Operand::I] {
            for &(level, b) in &boundaries[op.index()] {
                let Level::Memory(m) = level else { continue };
                if m == core.global_index() {
                    continue;
                }
                let bits = self.tile_bits(op, &dim_products(&loops[n - b..]));
                let lb = &core.memories[m];
                let bw = global.read_bw_bits_per_bank.min(lb.write_bw_bits()).max(1);
                let mut cycles = bits.div_ceil(bw);
                if self.residency.is_streamed(op) {
                    let latency = self.dram.access_latency(false);
                    cycles = match self.staged_pieces(op, loops, boundaries, accesses) {
                        // The buffer fills from the staging area once the piece is in.
                        Some((_, piece)) if piece > bits => {
                            self.landing_cycles(piece) + latency + cycles
                        }
                        _ => cycles.max(self.landing_cycles(bits)) + latency,
                    };
                } else {
                    one_port += cycles;
                }
                longest = longest.max(cycles);
            }
        }
        let s = self.shape;
        if s.stateful && !s.first_timestep {
            let inner = dim_products(&loops[n - reduction_loops..]);
            let bits = self.tile_bits(Operand::V, &inner);
            let mut cycles = bits.div_ceil(global.read_bw_bits_per_bank.max(1));
            if self.residency.is_streamed(Operand::V) {
                cycles = cycles.max(self.dram.occupancy_cycles(bits, false))
                    + self.dram.access_latency(false);
            }
            longest = longest.max(cycles);
        }
        if global.banks <= 1 && one_port > longest {
            // The last fill waited for the port: the simulator names the wait so.
            return (one_port, one_port);
        }
        (longest, 0)
    }

    pub fn has_operand(&self, op: Operand) -> bool {
        match op {
            Operand::W => self.shape.op.is_reduction(),
            Operand::V => self.shape.stateful,
            Operand::I | Operand::O => true,
        }
    }

    /// Boundaries of the streamed inputs in the staging area that move the fewest bits
    /// from DRAM. Every split of `capacity_bits` between the (at most two) operands is
    /// tried, so a larger staging area never moves more: raising boundaries in turn
    /// would let the first operand grab room the second needed more. `None` if even
    /// the starting tiles do not fit.
    fn allocate_streamed(
        &self,
        ops: &[Operand],
        start: &[usize; 4],
        loops: &[Loop],
        capacity_bits: u64,
    ) -> Option<Vec<usize>> {
        let n = loops.len();
        let tile = |op: Operand, b: usize| self.tile_bits(op, &dim_products(&loops[n - b..]));
        // The highest boundary of `op` from `from` whose tile fits `room`.
        let highest = |op: Operand, from: usize, room: u64| -> Option<usize> {
            (from..=n).take_while(|&b| tile(op, b) <= room).last()
        };
        match ops {
            [] => Some(Vec::new()),
            [op] => highest(*op, start[op.index()], capacity_bits).map(|b| vec![b]),
            [first, second] => {
                let mut best: Option<(u64, Vec<usize>)> = None;
                for b0 in start[first.index()]..=n {
                    let used = tile(*first, b0);
                    if used > capacity_bits {
                        break;
                    }
                    let Some(b1) = highest(*second, start[second.index()], capacity_bits - used)
                    else {
                        continue;
                    };
                    let moved = self.traffic_bits(*first, loops, b0)
                        + self.traffic_bits(*second, loops, b1);
                    if best.as_ref().is_none_or(|(m, _)| moved < *m) {
                        best = Some((moved, vec![b0, b1]));
                    }
                }
                best.map(|(_, at)| at)
            }
            _ => self.allocate(ops, start, loops, capacity_bits),
        }
    }

    /// Raises the boundaries of `ops` (starting from `start`) one loop at a time, in
    /// turn, while their tiles together fit `capacity_bits`. `None` if even the
    /// starting tiles do not fit.
    fn allocate(
        &self,
        ops: &[Operand],
        start: &[usize; 4],
        loops: &[Loop],
        capacity_bits: u64,
    ) -> Option<Vec<usize>> {
        let n = loops.len();
        let tile = |op: Operand, b: usize| self.tile_bits(op, &dim_products(&loops[n - b..]));
        let mut at: Vec<usize> = ops.iter().map(|op| start[op.index()]).collect();
        let mut sizes: Vec<u64> = ops.iter().zip(&at).map(|(&op, &b)| tile(op, b)).collect();
        if sizes.iter().sum::<u64>() > capacity_bits {
            return None;
        }
        loop {
            let mut raised = false;
            for i in 0..ops.len() {
                if at[i] >= n {
                    continue;
                }
                let grown = tile(ops[i], at[i] + 1);
                let total: u64 = sizes.iter().sum::<u64>() - sizes[i] + grown;
                if total <= capacity_bits {
                    at[i] += 1;
                    sizes[i] = grown;
                    raised = true;
                }
            }
            if !raised {
                return Some(at);
            }
        }
    }
}
