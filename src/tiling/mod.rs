//! The tiling stage: computation tiles (CTs) — a layer restricted to a range of
//! timesteps, output channels and output rows/columns — and the shape the mapper keys on.
//!
//! The reduction dimensions (C, FY, FX) are never cut: a CT always completes its
//! neurons' reductions, which output stationarity needs.

pub mod coverage;
pub mod graph;

use crate::model::activity;
use crate::model::{Layer, OpKind, Precision, Source, Workload};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The part of a layer's output space a tile computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TileRegion {
    pub t: Range<u32>,
    pub k: Range<u64>,
    pub oy: Range<u64>,
    pub ox: Range<u64>,
}

impl TileRegion {
    /// The whole layer over timesteps `t`.
    pub fn whole_layer(layer: &Layer, t: Range<u32>) -> Self {
        Self {
            t,
            k: 0..layer.dims.k,
            oy: 0..layer.dims.oy,
            ox: 0..layer.dims.ox,
        }
    }

    pub fn timesteps(&self) -> u64 {
        (self.t.end - self.t.start) as u64
    }
}

/// Everything about a computation tile that its best mapping and cost depend on:
/// tiles with equal shapes share one mapper run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CtShape {
    pub op: OpKind,
    /// Output channels, reduction channels (conv/fc: input channels; element-wise: the
    /// number of sources; pooling: 1, the window is FY×FX), output rows and columns,
    /// kernel, timesteps.
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    pub fy: u64,
    pub fx: u64,
    pub t: u64,
    pub stride: [u64; 2],
    /// Extent of the input rows/columns the tile's windows cover, per timestep and
    /// channel (halo included, padding excluded).
    pub in_span: [u64; 2],
    /// Distinct input rows/columns the tile actually reads (fewer than `in_span` when
    /// the stride skips inputs).
    pub in_extent: [u64; 2],
    /// Padding rows/columns before the tile's first real input row/column.
    pub pad_lo: [u64; 2],
    /// Input channels per timestep (conv: C; element-wise: K per source; pooling: K;
    /// matmul: all heads' C).
    pub in_channels: u64,
    /// A matmul's heads: the tile runs one head's nest (`one_head`) once per head,
    /// each over its own slices of channels. 1 for every other operator.
    pub heads: u64,
    pub precision: Precision,
    pub stateful: bool,
    /// Reads its own previous timestep's spikes (`Layer::recurrent`).
    pub recurrent: bool,
    /// The tile starts at the inference's first timestep: its V starts at reset and is
    /// not read.
    pub first_timestep: bool,
    /// The tile ends at the inference's last timestep: its V is discarded, not written.
    pub last_timestep: bool,
    /// How dense its input and output features are over its timesteps.
    pub activity: TileActivity,
}

/// The feature densities a tile's cost depends on (quantised, so shapes stay hashable),
/// and the address widths of its feature tensors in a coordinate format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TileActivity {
    /// Millionths of the input elements that are non-zero.
    pub input_ppm: u32,
    /// Millionths of the output elements that are non-zero.
    pub output_ppm: u32,
    /// Address bits of an element within one timestep of the input tensor.
    pub input_address_bits: u32,
    /// Likewise for the output tensor.
    pub output_address_bits: u32,
}

impl TileActivity {
    pub const DENSE: TileActivity = TileActivity {
        input_ppm: 1_000_000,
        output_ppm: 1_000_000,
        input_address_bits: 0,
        output_address_bits: 0,
    };

    pub fn input_density(&self) -> f64 {
        activity::from_ppm(self.input_ppm)
    }

    pub fn output_density(&self) -> f64 {
        activity::from_ppm(self.output_ppm)
    }

    /// A tile of `layer` over timesteps `t`, whose input tensor holds `input_elements`
    /// per timestep.
    fn of(workload: &Workload, layer: &Layer, input_elements: u64, t: &Range<u32>) -> Self {
        let d = &workload.densities;
        let (input_ppm, output_ppm) = if d.tensors.is_empty() {
            (1_000_000, 1_000_000)
        } else {
            (
                activity::ppm(workload.input_density(layer.id, t.clone())),
                activity::ppm(d.of(Source::Layer(layer.id), t.clone())),
            )
        };
        TileActivity {
            input_ppm,
            output_ppm,
            input_address_bits: activity::address_bits(input_elements),
            output_address_bits: activity::address_bits(layer.output_neurons()),
        }
    }
}

impl CtShape {
    pub fn new(workload: &Workload, layer: &Layer, region: &TileRegion) -> Self {
        let d = &layer.dims;
        let k = region.k.end - region.k.start;
        let oy = region.oy.end - region.oy.start;
        let ox = region.ox.end - region.ox.start;
        let (c, fy, fx) = match layer.op {
            OpKind::Conv | OpKind::Fc | OpKind::Matmul => (layer.reduction_channels(), d.fy, d.fx),
            OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron => (layer.sources.len() as u64, 1, 1),
            OpKind::MaxPool | OpKind::AvgPool => (1, d.fy, d.fx),
        };
        let src = workload.source_shape(layer.sources[0]);
        let (in_span, in_extent, pad_lo) = if layer.op == OpKind::Fc {
            // A flattened input: every output reads all C values.
            ([1, 1], [1, 1], [0, 0])
        } else {
            let mut span = [0; 2];
            let mut ext = [0; 2];
            let mut pad = [0; 2];
            for (axis, (range, full)) in [(&region.oy, src.height), (&region.ox, src.width)]
                .into_iter()
                .enumerate()
            {
                let r = layer.input_range(axis, range.start, range.end, full);
                span[axis] = r.end - r.start;
                ext[axis] = distinct_inputs(layer, axis, range, full);
                pad[axis] = layer.padding[axis].saturating_sub(range.start * layer.stride[axis]);
            }
            (span, ext, pad)
        };
        // Per source: an element-wise layer's sources each give k channels.
        let in_channels = match layer.op {
            OpKind::Matmul => d.c,
            op if op.has_weights() => layer.reduction_channels(),
            _ => k,
        };
        Self {
            op: layer.op,
            k,
            c,
            oy,
            ox,
            fy,
            fx,
            t: region.timesteps(),
            stride: if layer.op.is_elementwise() {
                [1, 1]
            } else {
                layer.stride
            },
            in_span,
            in_extent,
            pad_lo,
            in_channels,
            heads: layer.heads,
            precision: layer.precision,
            stateful: layer.stateful,
            recurrent: layer.recurrent,
            first_timestep: region.t.start == 0,
            last_timestep: region.t.end == workload.timesteps,
            activity: TileActivity::of(
                workload,
                layer,
                src.channels * src.height * src.width,
                &region.t,
            ),
        }
    }

    pub fn neurons(&self) -> u64 {
        self.k * self.oy * self.ox
    }

    /// Whether the tile's neuron state never leaves the accumulators: it spans the
    /// whole inference, so no state comes in or goes out. Not for a recurrent layer,
    /// whose tile runs every neuron of a timestep before the next (see
    /// `mapping::nest::recurrence_order_problem`), so parks state between timesteps.
    pub fn keeps_state_in_accumulators(&self) -> bool {
        self.first_timestep && self.last_timestep && !self.recurrent
    }

    /// One head of a matmul tile (the tile itself for every other operator): what a
    /// loop nest maps; the tile runs it `heads` times.
    pub fn one_head(&self) -> Self {
        let h = self.heads.max(1);
        Self {
            k: self.k / h,
            in_channels: self.in_channels / h,
            heads: 1,
            ..*self
        }
    }

    /// W operand bits: a weighted layer's weights, or a matmul's right matrix at each
    /// of its timesteps.
    pub fn weight_bits(&self) -> u64 {
        if !self.op.is_reduction() {
            return 0;
        }
        let per_timestep = self.k * self.c * self.fy * self.fx * self.precision.w as u64;
        if self.op == OpKind::Matmul {
            per_timestep * self.t
        } else {
            per_timestep
        }
    }

    /// Input feature bits the tile reads, over all its timesteps (every source).
    pub fn input_bits(&self) -> u64 {
        let sources = if self.op.is_elementwise() { self.c } else { 1 };
        sources
            * self.in_channels
            * self.in_extent[0]
            * self.in_extent[1]
            * self.t
            * self.precision.i as u64
    }

    pub fn output_bits(&self) -> u64 {
        self.neurons() * self.t * self.precision.o as u64
    }

    /// Bits of neuron state the tile keeps (0 for a stateless layer).
    pub fn state_bits(&self) -> u64 {
        if self.stateful {
            self.neurons() * self.precision.v as u64
        } else {
            0
        }
    }

    /// Reduction operations (MACs or SOPs) over all timesteps.
    pub fn reduction_ops(&self) -> u64 {
        if self.op.is_reduction() {
            self.k * self.c * self.oy * self.ox * self.fy * self.fx * self.t
        } else {
            0
        }
    }

    /// Element-wise and pooling operations over all timesteps.
    pub fn other_ops(&self) -> u64 {
        self.neurons() * self.op.other_ops_per_output(self.c, self.fy * self.fx) * self.t
    }
}

/// Input positions along one axis that outputs `range` read (a stride larger than the
/// kernel skips some).
fn distinct_inputs(layer: &Layer, axis: usize, range: &Range<u64>, full: u64) -> u64 {
    let f = if axis == 0 {
        layer.dims.fy
    } else {
        layer.dims.fx
    };
    let s = layer.stride[axis];
    if s < f {
        let r = layer.input_range(axis, range.start, range.end, full);
        return r.end - r.start;
    }
    disjoint_windows(range, s, f, layer.padding[axis], full)
}

/// The inputs read by outputs `range` whose windows of `f` at stride `s >= f` do not
/// overlap, padding `p` before an input of `full`: `f` each for the windows inside the
/// input, counted one by one only for those the edges clip (every tile's shape needs
/// it, and a whole layer's row is hundreds of outputs).
fn disjoint_windows(range: &Range<u64>, s: u64, f: u64, p: u64, full: u64) -> u64 {
    let window = |o: u64| {
        let lo = (o * s).saturating_sub(p);
        let hi = (o * s + f).saturating_sub(p).min(full);
        hi.saturating_sub(lo)
    };
    if s == 0 {
        return range.clone().map(window).sum();
    }
    // Whole windows: o·s >= p and o·s + f - p <= full.
    let first_whole = p.div_ceil(s).max(range.start).min(range.end);
    let past_whole = if full + p >= f {
        ((full + p - f) / s + 1).max(first_whole).min(range.end)
    } else {
        first_whole
    };
    (range.start..first_whole).map(window).sum::<u64>()
        + (past_whole - first_whole) * f
        + (past_whole..range.end).map(window).sum::<u64>()
}

/// How one block is cut into tiles: timesteps per tile, and output lines per tile
/// (`None` = layer-by-layer, the whole output plane in one tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cut {
    pub time_batch: u32,
    pub lines: Option<u64>,
}

/// How many regions `layer_regions` cuts a layer into, without making them.
pub fn tile_count(layer: &Layer, cut: Cut, timesteps: u32) -> u64 {
    let tb = cut.time_batch.clamp(1, timesteps.max(1));
    let groups = timesteps.div_ceil(tb) as u64;
    let columns = cut
        .lines
        .map_or(1, |lines| layer.dims.ox.div_ceil(lines.max(1)));
    groups * columns
}

/// Why `cuts` cannot run `workload`, if they cannot: a recurrent layer cut into tiles
/// that need each other's spikes (`Layer::recurrence_breaks`), or a matmul whose right
/// source the same layer-fused stack computes line by line (`Layer::fusion_breaks`).
pub fn cut_problem(workload: &Workload, cuts: &[Cut]) -> Option<String> {
    let lines_of_block = |b: usize| cuts[b].lines;
    workload.layers.iter().find_map(|l| {
        if l.recurrent {
            let broken = layer_regions(l, cuts[l.block], workload.timesteps)
                .iter()
                .find_map(|r| l.recurrence_breaks(&r.t, &r.ox));
            if broken.is_some() {
                return broken;
            }
        }
        l.fusion_breaks(workload, &lines_of_block)
    })
}

/// Whether some cut of `workload` may be refused by `cut_problem`.
pub fn cuts_constrained(workload: &Workload) -> bool {
    workload
        .layers
        .iter()
        .any(|l| l.recurrent || l.weight_source().is_some())
}

/// The regions a layer is cut into, in time-major order (every line of a timestep
/// group before the next group).
pub fn layer_regions(layer: &Layer, cut: Cut, timesteps: u32) -> Vec<TileRegion> {
    let tb = cut.time_batch.clamp(1, timesteps.max(1));
    let mut out = Vec::with_capacity(tile_count(layer, cut, timesteps) as usize);
    let mut t0 = 0;
    while t0 < timesteps {
        let t1 = (t0 + tb).min(timesteps);
        match cut.lines {
            None => out.push(TileRegion::whole_layer(layer, t0..t1)),
            Some(lines) => {
                let lines = lines.max(1);
                let mut x0 = 0;
                while x0 < layer.dims.ox {
                    let x1 = (x0 + lines).min(layer.dims.ox);
                    out.push(TileRegion {
                        ox: x0..x1,
                        ..TileRegion::whole_layer(layer, t0..t1)
                    });
                    x0 = x1;
                }
            }
        }
        t0 = t1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Counting the whole windows at once gives what summing every window gives.
        #[test]
        fn disjoint_windows_count_what_each_window_reads(
            start in 0u64..40,
            len in 0u64..40,
            f in 1u64..5,
            extra in 0u64..4,
            p in 0u64..8,
            full in 0u64..120,
        ) {
            let s = f + extra;
            let range = start..start + len;
            let one_by_one: u64 = range
                .clone()
                .map(|o| (o * s + f).saturating_sub(p).min(full).saturating_sub((o * s).saturating_sub(p)))
                .sum();
            proptest::prop_assert_eq!(disjoint_windows(&range, s, f, p, full), one_by_one);
        }
    }
}
