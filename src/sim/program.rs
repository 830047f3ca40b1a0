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
use crate::model::{Core, OpKind, Operand, Source, Sparsity, Workload};
use crate::schedule::ScheduledTile;
use crate::spikes::Spikes;
use crate::tiling::{CtShape, TileRegion};

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
    /// Dense bits (the space the fill takes; what moves unless a level compresses).
    pub bits: u64,
    /// The largest piece the target holds at once: a level smaller than a pass's
    /// reduction is refilled piece by piece within the pass.
    pub chunk_bits: u64,
    /// The features it carries, counted from the spikes (input fills, when spikes run).
    pub payload: Option<Payload>,
    /// A stream-area fill the staging area holds (false: it passes straight through into
    /// a buffer, when no streamed tile fits the staging area).
    pub staged: bool,
}

/// Feature data counted from the spikes: what a level's format needs to size it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub elements: u64,
    pub nonzeros: u64,
    pub value_bits: u32,
    pub address_bits: u32,
}

impl Payload {
    /// Its bits in `format`.
    pub fn bits(&self, format: crate::model::FeatureFormat) -> u64 {
        format.bits(
            self.elements,
            self.nonzeros,
            self.value_bits,
            self.address_bits,
        )
    }
}

/// The spikes a tile reads and writes, with where its region sits in its tensors.
#[derive(Debug, Clone)]
pub struct TileSpikes {
    pub spikes: std::sync::Arc<Spikes>,
    /// Tensor indices of the layer's sources, and of its output.
    pub inputs: Vec<usize>,
    pub output: usize,
    /// A recurrent layer also reads its output, one timestep late.
    pub recurrent: bool,
    /// The tile's first output channel, row and column in the layer's output.
    pub out_origin: [u64; 3],
    /// The first row and column of the tile's input window in its input tensors.
    pub in_origin: [u64; 2],
}

impl TileSpikes {
    /// The spikes of `layer`'s tile over `region`.
    pub fn of(
        spikes: &std::sync::Arc<Spikes>,
        workload: &Workload,
        layer: usize,
        region: &TileRegion,
    ) -> Self {
        let l = &workload.layers[layer];
        let src = workload.source_shape(l.sources[0]);
        let in_origin = if l.op == OpKind::Fc {
            [0, 0]
        } else {
            [
                l.input_range(0, region.oy.start, region.oy.end, src.height)
                    .start,
                l.input_range(1, region.ox.start, region.ox.end, src.width)
                    .start,
            ]
        };
        Self {
            spikes: std::sync::Arc::clone(spikes),
            inputs: l.input_sources().iter().map(|s| s.tensor_index()).collect(),
            output: Source::Layer(layer).tensor_index(),
            recurrent: l.recurrent,
            out_origin: [region.k.start, region.oy.start, region.ox.start],
            in_origin,
        }
    }

    /// The tensors a reduction reads, with how many timesteps late: the sources on
    /// time, a recurrent layer's own spikes one timestep late (same rows and columns:
    /// a recurrent conv keeps its input's size).
    fn reads(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.inputs
            .iter()
            .map(|&i| (i, 0))
            .chain(self.recurrent.then_some((self.output, 1)))
    }
}

/// What one pass needs and does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassWork {
    pub fills: Vec<Fill>,
    pub v_load_bits: u64,
    pub v_store_bits: u64,
    pub o_bits: u64,
    /// The results it writes, counted from the spikes (when spikes run).
    pub o_payload: Option<Payload>,
    /// Of its cycles, those its busiest lane adds over an average lane (`skip`).
    pub lane_imbalance: u64,
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
    /// For a stream-area level: whether it holds its tile (not merely passes it on).
    staged: bool,
}

/// A tile's passes, generated one at a time.
pub struct TileProgram {
    /// One head's shape (the tile's, for every operator but a matmul).
    shape: CtShape,
    /// A matmul runs its nest once per head, over the head's channel slices.
    heads: u64,
    head: u64,
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
    spikes: Option<TileSpikes>,
    sparsity: Sparsity,
    /// Format of the level the array reads its inputs from.
    feed_format: crate::model::FeatureFormat,
    /// Some level stores features compressed: fills and writes count their non-zeros.
    compressed: bool,
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
    pub fn new(
        shape: CtShape,
        core: &Core,
        tile: &ScheduledTile,
        timesteps: u32,
        spikes: Option<TileSpikes>,
    ) -> Self {
        Self::lower(shape, core, Nest::of(tile, core), timesteps).with_spikes(spikes)
    }

    /// Executes the given spikes: operations, skipped cycles and compressed bits follow
    /// them instead of the dense counts.
    pub fn with_spikes(mut self, spikes: Option<TileSpikes>) -> Self {
        self.spikes = spikes;
        self
    }

    /// Whether the DRAM stores features compressed (streamed fills and outputs then
    /// count their non-zeros too).
    pub fn dram_compressed(mut self, compressed: bool) -> Self {
        self.compressed |= compressed;
        self
    }

    /// The passes of any legal nest on `core` (a matmul's nest is one head's: the
    /// passes run it once per head).
    pub fn lower(tile_shape: CtShape, core: &Core, nest: Nest, timesteps: u32) -> Self {
        let shape = tile_shape.one_head();
        let loops = nest.loops;
        let reduction_loops = nest.reduction_loops;
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
        let (fills, buffer_of) = fill_levels(&shape, core, &nest);
        let v_cut = shape
            .stateful
            .then(|| run_cut(shape.op, Operand::V, loops, reduction_loops));
        let w_register_cut = run_cut(shape.op, Operand::W, loops, 0).min(outer);
        Self {
            shape,
            heads: tile_shape.heads.max(1),
            head: 0,
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
            spikes: None,
            sparsity: core.pe_array.sparsity,
            feed_format: buffer_of[Operand::I.index()]
                .map_or_else(Default::default, |m| core.memories[m].feature_format),
            compressed: core.memories.iter().any(|m| !m.feature_format.is_dense()),
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
        self.shape.op.input_channels(k, c)
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

    /// Non-zeros of an input fill at `boundary` (the region `fill_bits` sizes).
    fn fill_nonzeros(&self, sp: &TileSpikes, boundary: usize) -> u64 {
        let k = self.range(Dim::K, boundary);
        let (rows, cols, _) = self.pixels(boundary);
        let t = self.range(Dim::T, boundary);
        let sub = self.reduction_sub(boundary);
        self.input_nonzeros(sp, k, (rows, cols), t, [sub[1], sub[2]])
    }

    fn fill_bits(&self, op: Operand, boundary: usize) -> u64 {
        let s = &self.shape;
        let (k0, k1) = self.range(Dim::K, boundary);
        let ((oy0, oy1), (ox0, ox1), _) = self.pixels(boundary);
        let (t0, t1) = self.range(Dim::T, boundary);
        let sub = self.reduction_sub(boundary);
        match op {
            Operand::W => {
                // A matmul's W operand is new at every timestep (`nest::relevant`).
                let t = if s.op == OpKind::Matmul { t1 - t0 } else { 1 };
                (k1 - k0) * s.c * s.fy * s.fx * t * s.precision.w as u64
            }
            Operand::I => {
                let ch = self.input_channels(k1 - k0, s.c);
                let rows = self.axis_inputs_by_taps(0, oy0, oy1, sub[1]);
                let cols = self.axis_inputs_by_taps(1, ox0, ox1, sub[2]);
                ch * rows * cols * (t1 - t0) * s.precision.i as u64
            }
            Operand::O | Operand::V => 0,
        }
    }

    /// Input positions along one axis read by outputs `[o0, o1)` through taps
    /// `[f0, f1)`, as merged tile-relative intervals clipped to the tile's input.
    fn axis_intervals(&self, axis: usize, o0: u64, o1: u64, f0: u64, f1: u64) -> Vec<(u64, u64)> {
        if o1 <= o0 || f1 <= f0 {
            return Vec::new();
        }
        let s = self.shape.stride[axis] as i64;
        let pad = self.shape.pad_lo[axis] as i64;
        let span = self.shape.in_span[axis] as i64;
        let taps = (f1 - f0) as i64;
        let clip = |lo: i64, hi: i64| (lo.max(0) as u64, hi.min(span).max(0) as u64);
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut push = |(lo, hi): (u64, u64)| {
            if hi <= lo {
                return;
            }
            match out.last_mut() {
                Some(last) if last.1 >= lo => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        };
        if s >= taps {
            for o in o0..o1 {
                let lo = o as i64 * s + f0 as i64 - pad;
                push(clip(lo, lo + taps));
            }
        } else {
            push(clip(
                o0 as i64 * s + f0 as i64 - pad,
                (o1 as i64 - 1) * s + f1 as i64 - pad,
            ));
        }
        out
    }

    /// Non-zero inputs behind outputs `rows` × `cols` of channels `k` over tile
    /// timesteps `t`, the kernel taken `sub` taps at a time per axis (each group's inputs
    /// counted once per group) — what a fill or a read of that region carries.
    fn input_nonzeros(
        &self,
        sp: &TileSpikes,
        k: (u64, u64),
        (rows, cols): ((u64, u64), (u64, u64)),
        t: (u64, u64),
        sub: [u64; 2],
    ) -> u64 {
        let s = &self.shape;
        let t_abs = |t: u64| self.first_t + t as u32;
        let t_range = t_abs(t.0)..t_abs(t.1);
        if s.op == OpKind::Fc {
            let x = sp.spikes.tensors[sp.inputs[0]].count_all(t_range);
            return x * s.fy.div_ceil(sub[0]) * s.fx.div_ceil(sub[1]);
        }
        let groups = |f: u64, sub: u64| -> Vec<(u64, u64)> {
            (0..f.div_ceil(sub.max(1)))
                .map(|g| (g * sub, ((g + 1) * sub).min(f)))
                .collect()
        };
        let [y0, x0] = sp.in_origin;
        let mut n = 0;
        for (fy0, fy1) in groups(s.fy, sub[0]) {
            let ys = self.axis_intervals(0, rows.0, rows.1, fy0, fy1);
            for (fx0, fx1) in groups(s.fx, sub[1]) {
                let xs = self.axis_intervals(1, cols.0, cols.1, fx0, fx1);
                for &(ya, yb) in &ys {
                    for &(xa, xb) in &xs {
                        let (y, x) = (y0 + ya..y0 + yb, x0 + xa..x0 + xb);
                        for (i, late) in sp.reads() {
                            let tensor = &sp.spikes.tensors[i];
                            n += match s.op {
                                OpKind::Conv | OpKind::Fc => t_range
                                    .clone()
                                    .filter(|&t| t >= late)
                                    .map(|t| tensor.count_box(t - late, y.clone(), x.clone()))
                                    .sum(),
                                OpKind::Matmul => tensor.count(
                                    t_range.clone(),
                                    self.head_input_channels(),
                                    y.clone(),
                                    x.clone(),
                                ),
                                _ => {
                                    let c = sp.out_origin[0] + k.0..sp.out_origin[0] + k.1;
                                    tensor.count(t_range.clone(), c, y.clone(), x.clone())
                                }
                            };
                        }
                    }
                }
            }
        }
        n
    }

    /// Calls `f` with each of the pass's output pixels (tile-relative row, column), in
    /// order.
    fn for_pass_pixels(&self, mut f: impl FnMut(u64, u64)) {
        if self.flat {
            let (p0, p1) = self.range(Dim::OX, 0);
            for p in p0..p1 {
                f(p / self.shape.ox, p % self.shape.ox);
            }
            return;
        }
        let (oy0, oy1) = self.range(Dim::OY, 0);
        let (ox0, ox1) = self.range(Dim::OX, 0);
        for y in oy0..oy1 {
            for x in ox0..ox1 {
                f(y, x);
            }
        }
    }

    /// The input rows (axis 0) or columns one output's whole window reads, clipped to
    /// the tile's input (a window's taps are contiguous).
    fn window(&self, axis: usize, o: u64) -> (u64, u64) {
        let s = &self.shape;
        let f = if axis == 0 { s.fy } else { s.fx };
        let lo = (o * s.stride[axis]) as i64 - s.pad_lo[axis] as i64;
        let span = s.in_span[axis] as i64;
        (lo.max(0) as u64, (lo + f as i64).clamp(0, span) as u64)
    }

    /// Per pixel of the pass (a lane of the array), the non-zero inputs of its window
    /// over all channels at tile timestep `t`: their sum, the largest, and the lanes.
    fn lane_nonzeros(&self, sp: &TileSpikes, t: u64) -> (u64, u64, u64) {
        let s = &self.shape;
        let at = self.first_t + t as u32;
        // What each read tensor holds at this timestep (a late one: at the one before).
        let reads: Vec<(&crate::spikes::TensorSpikes, u32)> = sp
            .reads()
            .filter(|&(_, late)| at >= late)
            .map(|(i, late)| (&sp.spikes.tensors[i], at - late))
            .collect();
        if s.op == OpKind::Fc {
            let n = reads
                .iter()
                .map(|(tensor, t)| tensor.count_all(*t..*t + 1))
                .sum();
            return (n, n, 1);
        }
        let [y0, x0] = sp.in_origin;
        let (mut sum, mut busiest, mut lanes) = (0, 0, 0);
        self.for_pass_pixels(|y, x| {
            let (ya, yb) = self.window(0, y);
            let (xa, xb) = self.window(1, x);
            let n = if ya < yb && xa < xb {
                let (y, x) = (y0 + ya..y0 + yb, x0 + xa..x0 + xb);
                reads
                    .iter()
                    .map(|(tensor, t)| match s.op {
                        OpKind::Matmul => tensor.count(
                            *t..*t + 1,
                            self.head_input_channels(),
                            y.clone(),
                            x.clone(),
                        ),
                        _ => tensor.count_box(*t, y.clone(), x.clone()),
                    })
                    .sum()
            } else {
                0
            };
            sum += n;
            busiest = busiest.max(n);
            lanes += 1;
        });
        (sum, busiest, lanes)
    }

    /// Non-zero outputs the pass writes (channels `k`, its pixels, tile timestep `t`).
    fn output_nonzeros(&self, sp: &TileSpikes, k: (u64, u64), t: u64) -> u64 {
        let tensor = &sp.spikes.tensors[sp.output];
        let [k0, y0, x0] = sp.out_origin;
        let k0 = k0 + self.head * self.shape.k;
        let at = self.first_t + t as u32;
        let channels = k0 + k.0..k0 + k.1;
        // Row segments of the pass's pixels, each counted at once.
        let mut n = 0;
        let mut segment: Option<(u64, u64, u64)> = None;
        let mut flush = |seg: Option<(u64, u64, u64)>| {
            if let Some((y, xa, xb)) = seg {
                n += tensor.count(
                    at..at + 1,
                    channels.clone(),
                    y0 + y..y0 + y + 1,
                    x0 + xa..x0 + xb,
                );
            }
        };
        self.for_pass_pixels(|y, x| match segment {
            Some((sy, xa, xb)) if sy == y && xb == x => segment = Some((sy, xa, xb + 1)),
            _ => {
                flush(segment);
                segment = Some((y, x, x + 1));
            }
        });
        flush(segment);
        n
    }

    /// The left-source channels the current head of a matmul reduces over.
    fn head_input_channels(&self) -> std::ops::Range<u64> {
        self.head * self.shape.c..(self.head + 1) * self.shape.c
    }

    fn input_payload(&self, bits: u64, nonzeros: u64) -> Payload {
        let s = &self.shape;
        Payload {
            elements: bits / s.precision.i.max(1) as u64,
            nonzeros,
            value_bits: s.precision.i,
            address_bits: s.activity.input_address_bits,
        }
    }

    /// Advances the odometer over the outer loops: the outermost position that moved
    /// (0 on the first pass), or `None` after the last pass.
    fn advance(&mut self) -> Option<usize> {
        if !self.started {
            self.started = true;
            return Some(0);
        }
        let mut j = self.outer;
        loop {
            if j == 0 && self.head + 1 < self.heads {
                // The next head starts over (every position is back at 0).
                self.head += 1;
                return Some(0);
            }
            if j == 0 {
                self.done = true;
                return None;
            }
            j -= 1;
            self.idx[j] += 1;
            if self.idx[j] < self.loops[j].size {
                return Some(j);
            }
            self.idx[j] = 0;
        }
    }

    /// The fills a pass needs: those of every boundary inside the loops that moved.
    fn fills_of_pass(&self, first: bool, changed: usize) -> Vec<Fill> {
        let mut fills = Vec::new();
        for f in &self.fills {
            if first || changed < f.cut {
                let bits = self.fill_bits(f.operand, f.boundary);
                if bits > 0 {
                    let payload = match &self.spikes {
                        Some(sp) if f.operand == Operand::I && self.compressed => {
                            let nz = self.fill_nonzeros(sp, f.boundary);
                            Some(self.input_payload(bits, nz))
                        }
                        _ => None,
                    };
                    fills.push(Fill {
                        operand: f.operand,
                        target: f.target,
                        bits,
                        chunk_bits: self.chunk_bits(f.operand, f.boundary).min(bits),
                        payload,
                        staged: f.staged,
                    });
                }
            }
        }
        fills
    }

    /// What the array reads from the local buffers: each weight of the pass's K slice
    /// once (when the weights in the registers change), and the inputs of every
    /// (channel pair, tap) step.
    fn buffer_reads(
        &self,
        first: bool,
        changed: usize,
        (k0, k1): (u64, u64),
        ((oy0, oy1), (ox0, ox1)): ((u64, u64), (u64, u64)),
    ) -> Vec<(usize, Operand, u64)> {
        let s = &self.shape;
        let taps = s.fy * s.fx;
        let mut reads = Vec::new();
        if let Some(m) = self.buffer_of[Operand::W.index()]
            && s.op.is_reduction()
            && (first || changed < self.w_register_cut)
        {
            reads.push((m, Operand::W, (k1 - k0) * s.c * taps * s.precision.w as u64));
        }
        if let Some(m) = self.buffer_of[Operand::I.index()] {
            let ch = self.input_channels(k1 - k0, s.c);
            let rows = self.axis_inputs_by_taps(0, oy0, oy1, 1);
            let cols = self.axis_inputs_by_taps(1, ox0, ox1, 1);
            reads.push((m, Operand::I, ch * rows * cols * s.precision.i as u64));
        }
        reads
    }

    /// The next pass, or `None` after the last.
    pub fn next_pass(&mut self) -> Option<PassWork> {
        if self.done {
            return None;
        }
        let changed = self.advance()?;
        let first = changed == 0 && self.idx.iter().all(|&i| i == 0);
        // The outermost position that will move next (none on the last pass).
        let next_change = (0..self.outer)
            .rev()
            .find(|&j| self.idx[j] + 1 < self.loops[j].size);
        let head_ends = next_change.is_none();
        let last = head_ends && self.head + 1 == self.heads;

        let mut work = PassWork {
            last,
            ..PassWork::default()
        };
        work.fills = self.fills_of_pass(first, changed);
        let s = &self.shape;
        let (k0, k1) = self.range(Dim::K, 0);
        let ((oy0, oy1), (ox0, ox1), pixels) = self.pixels(0);
        let (t0, _) = self.range(Dim::T, 0);
        let neurons = (k1 - k0) * pixels;
        if let Some(cut) = self.v_cut {
            let t = self.first_t as u64 + t0;
            let visit_start = first || changed < cut;
            let visit_end = head_ends || next_change.is_some_and(|j| j < cut);
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
        let reduction_ops = if s.op.is_reduction() {
            neurons * s.c * taps
        } else {
            0
        };
        let other = neurons * s.op.other_ops_per_output(s.c, taps);
        if s.precision.i == 1 {
            work.sops = reduction_ops;
        } else {
            work.macs = reduction_ops;
        }
        work.other_ops = other;
        work.buffer_reads = self.buffer_reads(first, changed, (k0, k1), ((oy0, oy1), (ox0, ox1)));
        if let Some(sp) = &self.spikes {
            self.execute_spikes(sp, &mut work, (k0, k1), t0);
        }
        Some(work)
    }

    /// What the pass really does with the spikes: the operations whose input is
    /// non-zero (when the array gates), the busiest lane's cycles (when it skips), the
    /// inputs it reads and the results it writes in their formats.
    fn execute_spikes(&self, sp: &TileSpikes, work: &mut PassWork, k: (u64, u64), t: u64) {
        let s = &self.shape;
        let gated = s.op.is_reduction() && self.sparsity.gates();
        let (nonzero_inputs, busiest, lanes) = if gated {
            self.lane_nonzeros(sp, t)
        } else {
            (0, 0, 0)
        };
        if gated {
            let performed = (k.1 - k.0) * nonzero_inputs;
            if s.precision.i == 1 {
                work.sops = performed;
            } else {
                work.macs = performed;
            }
            let per_cycle = self.unroll[Dim::C.index()];
            work.cycles = self.sparsity.fold_cycles(work.cycles, busiest, per_cycle);
            if self.sparsity == Sparsity::Skip {
                let average = nonzero_inputs.div_ceil(lanes.max(1));
                let even = self.sparsity.fold_cycles(work.cycles, average, per_cycle);
                work.lane_imbalance = work.cycles - even;
            }
        }
        if let Some(read) = work.buffer_reads.iter_mut().find(|r| r.1 == Operand::I) {
            read.2 = if gated {
                // Only the non-zeros are read (each once per tap it meets).
                nonzero_inputs * s.precision.i as u64
            } else if self.feed_format.is_dense() {
                read.2
            } else {
                let (rows, cols, _) = self.pixels(0);
                let nz = self.input_nonzeros(sp, k, (rows, cols), (t, t + 1), [1, 1]);
                self.input_payload(read.2, nz).bits(self.feed_format)
            };
        }
        if !self.compressed {
            return;
        }
        work.o_payload = Some(Payload {
            elements: work.o_bits / s.precision.o.max(1) as u64,
            nonzeros: self.output_nonzeros(sp, k, t),
            value_bits: s.precision.o,
            address_bits: s.activity.output_address_bits,
        });
    }
}

/// The levels a nest fills with W and I (stream-area levels first, so that one
/// precedes the buffer fill it feeds), and the memory the array reads each of W and I
/// from: its local buffer, or the global SRAM when no local buffer holds it.
fn fill_levels(shape: &CtShape, core: &Core, nest: &Nest) -> (Vec<FillLevel>, [Option<usize>; 2]) {
    let (loops, reduction_loops) = (nest.loops, nest.reduction_loops);
    let (boundaries, streamed) = (nest.boundaries, nest.streamed);
    let outer = loops.len() - reduction_loops;
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
                staged: target == FillTarget::StreamArea,
            });
        }
    }
    // A stream-area level at the same boundary as its operand's buffer holds nothing
    // of its own: the data passes through it.
    let buffered: Vec<(Operand, usize)> = fills
        .iter()
        .filter(|f| matches!(f.target, FillTarget::Buffer(_)))
        .map(|f| (f.operand, f.boundary))
        .collect();
    for f in fills
        .iter_mut()
        .filter(|f| f.target == FillTarget::StreamArea)
    {
        f.staged = !buffered.contains(&(f.operand, f.boundary));
    }
    // Outer levels first, so that a stream-area fill precedes the buffer fill it feeds.
    fills.sort_by_key(|f| match f.target {
        FillTarget::StreamArea => 0,
        FillTarget::Buffer(_) => 1,
    });
    (fills, buffer_of)
}
