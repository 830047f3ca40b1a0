//! Brute-force oracles for the geometry both halves share. `Layer::input_range` feeds the
//! tile graph and the simulator's spike addressing, `CtShape` feeds the mapper and the
//! simulator's lowering, `raster_box` the cost model and the lowering: a mistake in one
//! of them moves both halves together, so agreement cannot catch it. Here each is
//! checked against a reference that enumerates every output element and the input
//! positions its window touches, over random kernels, strides, paddings, input sizes,
//! regions and raster chunks.

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::ops::Range;
use stems::mapping::cost::raster_box;
use stems::model::{SourceText, Workload};
use stems::tiling::{CtShape, TileRegion};

/// One convolution or pooling window along both axes, with the input it slides over.
#[derive(Debug, Clone)]
struct Geometry {
    op: &'static str,
    input: [u64; 2],
    kernel: [u64; 2],
    stride: [u64; 2],
    padding: [u64; 2],
    /// The tile's output rows and columns, as fractions of the output turned into
    /// ranges once the output size is known.
    region: [(u64, u64); 2],
}

impl Geometry {
    fn output(&self, axis: usize) -> u64 {
        (self.input[axis] + 2 * self.padding[axis] - self.kernel[axis]) / self.stride[axis] + 1
    }

    fn range(&self, axis: usize) -> Range<u64> {
        let n = self.output(axis);
        let (a, b) = self.region[axis];
        let (lo, hi) = (a % n, b % n);
        lo.min(hi)..lo.max(hi) + 1
    }

    fn workload(&self) -> Workload {
        let [oy, ox] = [self.output(0), self.output(1)];
        let c = if self.op == "conv" { "c = 2\n" } else { "" };
        let text = format!(
            r#"name = "oracle"
timesteps = 2
[input]
channels = 2
height = {h}
width = {w}
bits = 1
[[layer]]
name = "l"
op = "{op}"
block = 0
sources = ["input"]
k = 2
{c}oy = {oy}
ox = {ox}
fy = {fy}
fx = {fx}
stride = [{sy}, {sx}]
padding = [{py}, {px}]
precision = {{ w = 4, o = 1, v = 12, acc = 16 }}
"#,
            h = self.input[0],
            w = self.input[1],
            op = self.op,
            fy = self.kernel[0],
            fx = self.kernel[1],
            sy = self.stride[0],
            sx = self.stride[1],
            py = self.padding[0],
            px = self.padding[1],
        );
        Workload::parse(&SourceText::new("oracle.toml", text)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every input position (real or padding, as a signed index) the windows of the
    /// outputs in `outputs` touch along `axis`.
    fn touched(&self, axis: usize, outputs: Range<u64>) -> BTreeSet<i64> {
        let (s, p, f) = (
            self.stride[axis] as i64,
            self.padding[axis] as i64,
            self.kernel[axis] as i64,
        );
        outputs
            .flat_map(|o| (0..f).map(move |tap| o as i64 * s + tap - p))
            .collect()
    }
}

fn geometry() -> impl Strategy<Value = Geometry> {
    let axis = (1u64..=20, 1u64..=5, 1u64..=4).prop_flat_map(|(input, kernel, stride)| {
        // Padding below the kernel, and enough input (with padding) for one window.
        let min_pad = kernel.saturating_sub(input).div_ceil(2);
        let max_pad = (kernel - 1).max(min_pad);
        (
            Just(input),
            Just(kernel),
            Just(stride),
            min_pad..=max_pad,
            any::<(u64, u64)>(),
        )
    });
    (
        axis.clone(),
        axis,
        prop_oneof![Just("conv"), Just("max_pool")],
    )
        .prop_map(|(y, x, op)| Geometry {
            op,
            input: [y.0, x.0],
            kernel: [y.1, x.1],
            stride: [y.2, x.2],
            padding: [y.3, x.3],
            region: [y.4, x.4],
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn input_range_is_the_real_inputs_the_windows_touch(g in geometry()) {
        let w = g.workload();
        let layer = &w.layers[0];
        for axis in 0..2 {
            let outputs = g.range(axis);
            let real: Vec<i64> = g
                .touched(axis, outputs.clone())
                .into_iter()
                .filter(|&i| i >= 0 && (i as u64) < g.input[axis])
                .collect();
            let r = layer.input_range(axis, outputs.start, outputs.end, g.input[axis]);
            match (real.first(), real.last()) {
                (Some(&lo), Some(&hi)) => {
                    prop_assert_eq!(r, lo as u64..hi as u64 + 1, "axis {} outputs {:?}", axis, outputs);
                }
                _ => prop_assert!(r.is_empty(), "axis {axis}: windows touch only padding, got {r:?}"),
            }
        }
    }

    #[test]
    fn a_tiles_shape_counts_the_inputs_its_windows_touch(g in geometry()) {
        let w = g.workload();
        let layer = &w.layers[0];
        let region = TileRegion { t: 0..2, k: 0..2, oy: g.range(0), ox: g.range(1) };
        let shape = CtShape::new(&w, layer, &region);
        for axis in 0..2 {
            let touched = g.touched(axis, g.range(axis));
            let real: Vec<i64> = touched
                .iter()
                .copied()
                .filter(|&i| i >= 0 && (i as u64) < g.input[axis])
                .collect();
            let span = match (real.first(), real.last()) {
                (Some(lo), Some(hi)) => (hi - lo + 1) as u64,
                _ => 0,
            };
            prop_assert_eq!(shape.in_span[axis], span, "span, axis {}", axis);
            prop_assert_eq!(shape.in_extent[axis], real.len() as u64, "distinct, axis {}", axis);
            let padding_before = touched.iter().filter(|&&i| i < 0).count() as u64;
            prop_assert_eq!(shape.pad_lo[axis], padding_before, "padding, axis {}", axis);
        }
        // The input the tile reads: both channels, every touched real position, both
        // timesteps, one bit each.
        let distinct = |axis: usize| {
            g.touched(axis, g.range(axis))
                .into_iter()
                .filter(|&i| i >= 0 && (i as u64) < g.input[axis])
                .count() as u64
        };
        prop_assert_eq!(shape.input_bits(), 2 * distinct(0) * distinct(1) * 2);
        let outputs = (region.oy.end - region.oy.start) * (region.ox.end - region.ox.start);
        prop_assert_eq!(shape.output_bits(), 2 * outputs * 2);
    }

    #[test]
    fn a_raster_chunks_box_bounds_exactly_its_pixels(ox in 1u64..=40, a in 0u64..2000, len in 1u64..300) {
        let (p0, p1) = (a, a + len);
        let rows: Vec<u64> = (p0..p1).map(|p| p / ox).collect();
        let cols: Vec<u64> = (p0..p1).map(|p| p % ox).collect();
        let ((y0, y1), (x0, x1)) = raster_box(p0, p1, ox);
        prop_assert_eq!((y0, y1), (rows[0], rows[rows.len() - 1] + 1));
        prop_assert_eq!(
            (x0, x1),
            (*cols.iter().min().unwrap(), cols.iter().max().unwrap() + 1)
        );
    }
}
