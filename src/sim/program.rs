//! Lowering one tile's loop nest into compute passes.
//!
//! A pass is one iteration of the loops above the reduction: one output tile of the PE
//! array (K × OY unrolled, one OX column, one timestep) through its whole reduction.
//! Walking the passes in nest order, the program works out — from the actual index
//! ranges, clipped at the tile's edges — which buffer contents change and must be
//! refilled, when a neuron's state is loaded and stored, what the pass writes and how
//! many operations it performs. Nothing here reads the analytic cost: the counts come
//! from iterating the nest.
//!
//! Buffer semantics (the same hardware the analytic model describes): a level holds one
//! tile, the data of the loops below its boundary. The tile is replaced when any loop
//! above the boundary advances, except loops in the run of loops directly above the
//! boundary that the operand does not depend on.

use crate::mapping::nest::relevant;
use crate::mapping::{Boundary, Dim, Loop};
use crate::model::{Core, OpKind, Operand};
use crate::schedule::ScheduledTile;
use crate::tiling::CtShape;

/// Where a fill goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillTarget {
    /// A local buffer (index into the core's memories), filled from the global SRAM.
    Buffer(usize),
    /// The global SRAM's streaming area, filled from DRAM (an operand that does not fit).
    StreamArea,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub operand: Operand,
    pub target: FillTarget,
    pub bits: u64,
    /// The largest piece the target holds at once: a level smaller than a pass's
    /// reduction is refilled piece by piece within the pass.
    pub chunk_bits: u64,
}

/// What one pass needs and does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassWork {
    pub fills: Vec<Fill>,
    pub v_load_bits: u64,
    pub v_store_bits: u64,
    pub o_bits: u64,
    pub cycles: u64,
    /// Operand bits the array reads from each local buffer: (memory index, operand, bits).
    pub buffer_reads: Vec<(usize, Operand, u64)>,
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
    pub last: bool,
}

/// One refilled level of one operand.
#[derive(Debug, Clone)]
struct FillLevel {
    operand: Operand,
    target: FillTarget,
    boundary: usize,
    /// Refill when a loop at a nest position below this index (outer loops) advances.
    cut: usize,
}

/// A tile's passes, generated one at a time.
pub struct TileProgram {
    shape: CtShape,
    loops: Vec<Loop>,
    reduction: usize,
    outer: usize,
    unroll: [u64; 7],
    /// OX is the flattened pixel index (raster order over OY × OX; OY is 1).
    flat: bool,
    /// Radix of each outer position within its dimension.
    radix: Vec<u64>,
    fills: Vec<FillLevel>,
    v_cut: Option<usize>,
    /// The weight registers keep their weights across passes while only loops that
    /// weights do not depend on advance.
    w_register_cut: usize,
    buffer_of: [Option<usize>; 2],
    idx: Vec<u64>,
    started: bool,
    done: bool,
    first_t: u32,
    timesteps: u32,
}

fn run_cut(op: OpKind, operand: Operand, loops: &[Loop], boundary: usize) -> usize {
    // Positions [0, cut) of the nest are the loops whose advance replaces the tile.
    let mut cut = loops.len() - boundary;
    while cut > 0 && !relevant(op, operand, loops[cut - 1].dim) {
        cut -= 1;
    }
    cut
}

/// What a tile's passes are lowered from: its loop nest and memory boundaries, the
/// operands it streams and the first timestep it computes.
#[derive(Debug, Clone, Copy)]
pub struct Nest<'a> {
    /// Temporal loops, outermost first; the innermost `reduction_loops` are C, FY, FX.
    pub loops: &'a [Loop],
    pub reduction_loops: usize,
    pub boundaries: &'a [Boundary],
    pub streamed: &'a [Operand],
    pub first_timestep: u32,
    /// The array's spatial unrolling for this nest.
    pub unroll: crate::model::Unroll,
}

impl<'a> Nest<'a> {
    pub fn of(tile: &'a ScheduledTile, core: &Core) -> Self {
        Self {
            unroll: tile.unroll.unwrap_or_else(|| core.pe_array.unroll()),
            loops: &tile.loop_nest,
            reduction_loops: tile.reduction_loops,
            boundaries: &tile.boundaries,
            streamed: &tile.streamed,
            first_timestep: tile.tile.region.t.start,
        }
    }
}

impl TileProgram {
    /// The passes of a scheduled tile (its loop nest, memory boundaries and streamed
    /// operands come from the Schedule; `timesteps` is the inference's T).
    pub fn new(shape: CtShape, core: &Core, tile: &ScheduledTile, timesteps: u32) -> Self {
        Self::lower(shape, core, Nest::of(tile, core), timesteps)
    }

    /// The passes of any legal nest on `core`.
    pub fn lower(shape: CtShape, core: &Core, nest: Nest, timesteps: u32) -> Self {
        let loops = nest.loops;
        let reduction_loops = nest.reduction_loops;
        let boundaries = nest.boundaries;
        let streamed = nest.streamed;
        let first_t = nest.first_timestep;
        let u = nest.unroll;
        let unroll = [u.k, u.c, u.oy, u.ox, 1, 1, 1];
        let n = loops.len();
        let outer = n - reduction_loops;
        let mut radix = vec![1u64; outer];
        for j in 0..outer {
            radix[j] = loops[j + 1..outer]
                .iter()
                .filter(|l| l.dim == loops[j].dim)
                .map(|l| l.size)
                .product();
        }
        let global = &core.global_sram().name;
        let mut fills = Vec::new();
        // The array reads an operand from its local buffer, or from the global SRAM
        // when no local buffer holds it.
        let mut buffer_of = [Some(core.global_index()), Some(core.global_index())];
        for op in [Operand::W, Operand::I] {
            for b in boundaries.iter().filter(|b| b.operand == op) {
                let target = if &b.level == global {
                    if !streamed.contains(&op) {
                        continue;
                    }
                    FillTarget::StreamArea
                } else if let Some(m) = core.memories.iter().position(|m| m.name == b.level) {
                    buffer_of[op.index()] = Some(m);
                    FillTarget::Buffer(m)
                } else {
                    continue; // "pe" registers and "dram" are not filled
                };
                // A level that holds less than a pass's reduction cycles through its
                // sub-tiles within every pass, so it is refilled on every pass.
                let cut = if b.loops_below < reduction_loops {
                    outer
                } else {
                    run_cut(shape.op, op, loops, b.loops_below)
                };
                fills.push(FillLevel {
                    operand: op,
                    target,
                    boundary: b.loops_below,
                    cut,
                });
            }
        }
        // Outer levels first, so that a stream-area fill precedes the buffer fill it feeds.
        fills.sort_by_key(|f| match f.target {
            FillTarget::StreamArea => 0,
            FillTarget::Buffer(_) => 1,
        });
        let v_cut = shape
            .stateful
            .then(|| run_cut(shape.op, Operand::V, loops, reduction_loops));
        let w_register_cut = run_cut(shape.op, Operand::W, loops, 0).min(outer);
        Self {
            shape,
            loops: loops.to_vec(),
            reduction: reduction_loops,
            outer,
            unroll,
            flat: u.flat,
            radix,
            fills,
            v_cut,
            w_register_cut,
            buffer_of,
            idx: vec![0; outer],
            started: false,
            done: false,
            first_t,
            timesteps,
        }
    }

    fn total(&self, d: Dim) -> u64 {
        let s = &self.shape;
        match d {
            Dim::K => s.k,
            Dim::C => s.c,
            Dim::OY if self.flat => 1,
            Dim::OX if self.flat => s.oy * s.ox,
            Dim::OY => s.oy,
            Dim::OX => s.ox,
            Dim::FY => s.fy,
            Dim::FX => s.fx,
            Dim::T => s.t,
        }
    }

    /// The element range of an outer dimension covered by the loops below `boundary`
    /// (at least the pass's own unrolled tile).
    fn range(&self, d: Dim, boundary: usize) -> (u64, u64) {
        let n = self.loops.len();
        let below_from = (n - boundary.max(self.reduction)).min(self.outer);
        let mut value = 0u64;
        let mut count = 1u64;
        for j in 0..self.outer {
            if self.loops[j].dim != d {
                continue;
            }
            value += self.idx[j] * self.radix[j];
            if j >= below_from {
                count *= self.loops[j].size;
            }
        }
        let start = value - value % count;
        let u = self.unroll[d.index()];
        let total = self.total(d);
        ((start * u).min(total), ((start + count) * u).min(total))
    }

    /// The output pixels the loops below `boundary` cover: their bounding box as
    /// (rows, columns), and how many there are (a raster chunk under a flattened
    /// unrolling, a rectangle otherwise).
    fn pixels(&self, boundary: usize) -> ((u64, u64), (u64, u64), u64) {
        if self.flat {
            let (p0, p1) = self.range(Dim::OX, boundary);
            let (rows, cols) = crate::mapping::cost::raster_box(p0, p1, self.shape.ox);
            return (rows, cols, p1 - p0);
        }
        let (oy0, oy1) = self.range(Dim::OY, boundary);
        let (ox0, ox1) = self.range(Dim::OX, boundary);
        ((oy0, oy1), (ox0, ox1), (oy1 - oy0) * (ox1 - ox0))
    }

    /// Distinct input positions along one axis for outputs [o0, o1) and kernel taps
    /// [f0, f1), clipped to the tile's input (padding is not stored).
    fn axis_inputs(&self, axis: usize, o0: u64, o1: u64, f0: u64, f1: u64) -> u64 {
        if o1 <= o0 || f1 <= f0 {
            return 0;
        }
        let s = self.shape.stride[axis] as i64;
        let pad = self.shape.pad_lo[axis] as i64;
        let span = self.shape.in_span[axis] as i64;
        let taps = (f1 - f0) as i64;
        let clip = |lo: i64, hi: i64| (hi.min(span) - lo.max(0)).max(0) as u64;
        if s >= taps {
            (o0..o1)
                .map(|o| {
                    let lo = o as i64 * s + f0 as i64 - pad;
                    clip(lo, lo + taps)
                })
                .sum()
        } else {
            clip(
                o0 as i64 * s + f0 as i64 - pad,
                (o1 as i64 - 1) * s + f1 as i64 - pad,
            )
        }
    }

    /// Sum over sub-tiles of `sub` kernel taps of the distinct inputs for outputs [o0, o1).
    fn axis_inputs_by_taps(&self, axis: usize, o0: u64, o1: u64, sub: u64) -> u64 {
        let f = if axis == 0 {
            self.shape.fy
        } else {
            self.shape.fx
        };
        let mut sum = 0;
        let mut f0 = 0;
        while f0 < f {
            let f1 = (f0 + sub).min(f);
            sum += self.axis_inputs(axis, o0, o1, f0, f1);
            f0 = f1;
        }
        sum
    }

    /// Per reduction dimension, how much of it lies below `boundary` (as a sub-tile size
    /// in elements; the whole dimension when the boundary is above the reduction).
    fn reduction_sub(&self, boundary: usize) -> [u64; 3] {
        let n = self.loops.len();
        let mut sub = [self.shape.c.min(self.unroll[Dim::C.index()]), 1, 1];
        if boundary >= self.reduction {
            return [self.shape.c, self.shape.fy, self.shape.fx];
        }
        for l in &self.loops[n - boundary..] {
            match l.dim {
                Dim::C => sub[0] = (sub[0] * l.size).min(self.shape.c),
                Dim::FY => sub[1] *= l.size,
                Dim::FX => sub[2] *= l.size,
                _ => {}
            }
        }
        sub
    }

    fn input_channels(&self, k: u64, c: u64) -> u64 {
        match self.shape.op {
            OpKind::Conv | OpKind::Fc => c,
            OpKind::SewAdd | OpKind::SewOr => k * c,
            OpKind::MaxPool | OpKind::AvgPool => k,
        }
    }

    /// Bits of `op` the level with this boundary receives for the current pass position.
    /// Bits of the first piece a level holds when its boundary lies inside the
    /// reduction (the whole fill otherwise).
    fn chunk_bits(&self, op: Operand, boundary: usize) -> u64 {
        if boundary >= self.reduction {
            return self.fill_bits(op, boundary);
        }
        let s = &self.shape;
        let (k0, k1) = self.range(Dim::K, boundary);
        let ((oy0, oy1), (ox0, ox1), _) = self.pixels(boundary);
        let [c, fy, fx] = self.reduction_sub(boundary);
        match op {
            Operand::W => (k1 - k0) * c * fy * fx * s.precision.w as u64,
            Operand::I => {
                let ch = self.input_channels(k1 - k0, c);
                let rows = self.axis_inputs(0, oy0, oy1, 0, fy);
                let cols = self.axis_inputs(1, ox0, ox1, 0, fx);
                ch * rows * cols * s.precision.i as u64
            }
            Operand::O | Operand::V => 0,
        }
    }

    fn fill_bits(&self, op: Operand, boundary: usize) -> u64 {
        let s = &self.shape;
        let (k0, k1) = self.range(Dim::K, boundary);
        let ((oy0, oy1), (ox0, ox1), _) = self.pixels(boundary);
        let (t0, t1) = self.range(Dim::T, boundary);
        let sub = self.reduction_sub(boundary);
        match op {
            Operand::W => (k1 - k0) * s.c * s.fy * s.fx * s.precision.w as u64,
            Operand::I => {
                let ch = self.input_channels(k1 - k0, s.c);
                let rows = self.axis_inputs_by_taps(0, oy0, oy1, sub[1]);
                let cols = self.axis_inputs_by_taps(1, ox0, ox1, sub[2]);
                ch * rows * cols * (t1 - t0) * s.precision.i as u64
            }
            Operand::O | Operand::V => 0,
        }
    }

    /// The next pass, or `None` after the last.
    pub fn next_pass(&mut self) -> Option<PassWork> {
        if self.done {
            return None;
        }
        // Advance the odometer; `changed` is the outermost position that moved.
        let changed = if !self.started {
            self.started = true;
            0
        } else {
            let mut j = self.outer;
            loop {
                if j == 0 {
                    self.done = true;
                    return None;
                }
                j -= 1;
                self.idx[j] += 1;
                if self.idx[j] < self.loops[j].size {
                    break;
                }
                self.idx[j] = 0;
            }
            j
        };
        let first = changed == 0 && self.idx.iter().all(|&i| i == 0);
        // The outermost position that will move next (none on the last pass).
        let next_change = (0..self.outer)
            .rev()
            .find(|&j| self.idx[j] + 1 < self.loops[j].size);
        let last = next_change.is_none();

        let mut work = PassWork {
            last,
            ..PassWork::default()
        };
        for f in &self.fills {
            if first || changed < f.cut {
                let bits = self.fill_bits(f.operand, f.boundary);
                if bits > 0 {
                    work.fills.push(Fill {
                        operand: f.operand,
                        target: f.target,
                        bits,
                        chunk_bits: self.chunk_bits(f.operand, f.boundary).min(bits),
                    });
                }
            }
        }
        let s = &self.shape;
        let (k0, k1) = self.range(Dim::K, 0);
        let ((oy0, oy1), (ox0, ox1), pixels) = self.pixels(0);
        let (t0, _) = self.range(Dim::T, 0);
        let neurons = (k1 - k0) * pixels;
        if let Some(cut) = self.v_cut {
            let t = self.first_t as u64 + t0;
            let visit_start = first || changed < cut;
            let visit_end = last || next_change.is_some_and(|j| j < cut);
            if visit_start && t > 0 {
                work.v_load_bits = neurons * s.precision.v as u64;
            }
            if visit_end && t + 1 < self.timesteps as u64 {
                work.v_store_bits = neurons * s.precision.v as u64;
            }
        }
        work.o_bits = neurons * s.precision.o as u64;
        work.cycles = self.loops[self.outer..].iter().map(|l| l.size).product();
        let taps = s.fy * s.fx;
        let (reduction_ops, other) = match s.op {
            OpKind::Conv | OpKind::Fc => (neurons * s.c * taps, 0),
            OpKind::SewAdd | OpKind::SewOr => (0, neurons * (s.c - 1)),
            OpKind::MaxPool | OpKind::AvgPool => (0, neurons * taps),
        };
        if s.precision.i == 1 {
            work.sops = reduction_ops;
        } else {
            work.macs = reduction_ops;
        }
        work.other_ops = other;
        // What the array reads from the local buffers: each weight of the pass's K
        // slice once, and the inputs of every (channel pair, tap) step.
        if let Some(m) = self.buffer_of[Operand::W.index()]
            && s.op.has_weights()
            && (first || changed < self.w_register_cut)
        {
            work.buffer_reads
                .push((m, Operand::W, (k1 - k0) * s.c * taps * s.precision.w as u64));
        }
        if let Some(m) = self.buffer_of[Operand::I.index()] {
            let ch = self.input_channels(k1 - k0, s.c);
            let rows = self.axis_inputs_by_taps(0, oy0, oy1, 1);
            let cols = self.axis_inputs_by_taps(1, ox0, ox1, 1);
            work.buffer_reads
                .push((m, Operand::I, ch * rows * cols * s.precision.i as u64));
        }
        Some(work)
    }
}
