//! The spikes the simulator executes: for every feature tensor (the network input and
//! each layer's output), which elements are non-zero at each timestep — drawn from a
//! seeded generator at the stated densities (`generate`), or read from a recording of
//! real inferences (`record`).
//!
//! A tensor is kept as bit rows (`[t][c][y]`, one bit per `x`) for counts over channel
//! slices, and as a per-timestep prefix sum of the channel counts over `(y, x)`, so that
//! the count of any box over all channels — a convolution window, a buffer fill — is
//! four lookups. A tensor with every element set (or none) is kept as that fact.

pub mod generate;

pub use generate::{Pattern, SpikeOptions, generate};

use crate::model::{Source, Workload};
use std::ops::Range;

/// Most spike bits stems holds at once (every tensor over every timestep): 2^35 bits,
/// 4 GiB. A network larger than this is simulated with densities only on a dense
/// core, or its recording refused.
pub const MAX_SPIKE_BITS: u64 = 1 << 35;

/// Why spikes could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum SpikeError {
    #[error("{file}: {message}")]
    Recording { file: String, message: String },
    #[error(
        "the spikes of '{workload}' would take {bits} bits, more than stems holds ({limit}); simulate fewer timesteps or a smaller network"
    )]
    TooLarge {
        workload: String,
        bits: u64,
        limit: u64,
    },
}

/// One tensor's shape per timestep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorShape {
    pub timesteps: u32,
    pub channels: u64,
    pub height: u64,
    pub width: u64,
}

impl TensorShape {
    pub fn elements_per_timestep(&self) -> u64 {
        self.channels * self.height * self.width
    }

    fn words_per_row(&self) -> usize {
        self.width.div_ceil(64) as usize
    }
}

/// Which elements of one tensor are non-zero.
#[derive(Debug, Clone)]
pub struct TensorSpikes {
    pub shape: TensorShape,
    data: Data,
}

#[derive(Debug, Clone)]
enum Data {
    /// Every element set (`true`) or none.
    Constant(bool),
    Bits {
        /// `[t][c][y][word]`.
        rows: Vec<u64>,
        /// `[t][y + 1][x + 1]`: channel counts summed over `[0, y) × [0, x)`.
        prefix: Vec<u64>,
    },
}

impl TensorSpikes {
    pub fn constant(shape: TensorShape, set: bool) -> Self {
        Self {
            shape,
            data: Data::Constant(set),
        }
    }

    /// A tensor from its bit rows (`[t][c][y][word]`, bits beyond the width clear).
    pub fn from_rows(shape: TensorShape, rows: Vec<u64>) -> Self {
        let (h, w, wpr) = (
            shape.height as usize,
            shape.width as usize,
            shape.words_per_row(),
        );
        let plane = (h + 1) * (w + 1);
        let mut prefix = vec![0u64; shape.timesteps as usize * plane];
        let mut counts = vec![0u64; h * w];
        for t in 0..shape.timesteps as usize {
            counts.iter_mut().for_each(|c| *c = 0);
            for c in 0..shape.channels as usize {
                for y in 0..h {
                    let row = &rows[((t * shape.channels as usize + c) * h + y) * wpr..][..wpr];
                    for (wi, &word) in row.iter().enumerate() {
                        let mut bits = word;
                        while bits != 0 {
                            let x = wi * 64 + bits.trailing_zeros() as usize;
                            counts[y * w + x] += 1;
                            bits &= bits - 1;
                        }
                    }
                }
            }
            let p = &mut prefix[t * plane..][..plane];
            for y in 0..h {
                let mut run = 0;
                for x in 0..w {
                    run += counts[y * w + x];
                    p[(y + 1) * (w + 1) + x + 1] = p[y * (w + 1) + x + 1] + run;
                }
            }
        }
        Self {
            shape,
            data: Data::Bits { rows, prefix },
        }
    }

    /// Non-zeros at timestep `t` over all channels of rows `y` × columns `x` (clipped
    /// to the tensor).
    pub fn count_box(&self, t: u32, y: Range<u64>, x: Range<u64>) -> u64 {
        let s = &self.shape;
        let (y0, y1) = (y.start.min(s.height), y.end.min(s.height));
        let (x0, x1) = (x.start.min(s.width), x.end.min(s.width));
        if y1 <= y0 || x1 <= x0 || t >= s.timesteps {
            return 0;
        }
        match &self.data {
            Data::Constant(false) => 0,
            Data::Constant(true) => s.channels * (y1 - y0) * (x1 - x0),
            Data::Bits { prefix, .. } => {
                let w1 = s.width as usize + 1;
                let p = &prefix[t as usize * (s.height as usize + 1) * w1..];
                let at = |y: u64, x: u64| p[y as usize * w1 + x as usize];
                at(y1, x1) + at(y0, x0) - at(y0, x1) - at(y1, x0)
            }
        }
    }

    /// Non-zeros over timesteps `t`, channels `c`, rows `y` and columns `x`.
    pub fn count(&self, t: Range<u32>, c: Range<u64>, y: Range<u64>, x: Range<u64>) -> u64 {
        let s = &self.shape;
        let (c0, c1) = (c.start.min(s.channels), c.end.min(s.channels));
        if c1 <= c0 {
            return 0;
        }
        if c0 == 0 && c1 == s.channels || !matches!(self.data, Data::Bits { .. }) {
            let per_channel = |n: u64| n * (c1 - c0) / s.channels.max(1);
            return t
                .map(|t| {
                    let n = self.count_box(t, y.clone(), x.clone());
                    if c0 == 0 && c1 == s.channels {
                        n
                    } else {
                        per_channel(n)
                    }
                })
                .sum();
        }
        let Data::Bits { rows, .. } = &self.data else {
            return 0;
        };
        let (y0, y1) = (y.start.min(s.height), y.end.min(s.height));
        let (x0, x1) = (x.start.min(s.width), x.end.min(s.width));
        if y1 <= y0 || x1 <= x0 {
            return 0;
        }
        let wpr = s.words_per_row();
        let mut n = 0u64;
        for t in t.start..t.end.min(s.timesteps) {
            for c in c0..c1 {
                for yy in y0..y1 {
                    let base = ((t as usize * s.channels as usize + c as usize)
                        * s.height as usize
                        + yy as usize)
                        * wpr;
                    n += count_row(&rows[base..base + wpr], x0, x1);
                }
            }
        }
        n
    }

    /// Non-zeros of the whole tensor over timesteps `t`.
    pub fn count_all(&self, t: Range<u32>) -> u64 {
        t.map(|t| self.count_box(t, 0..self.shape.height, 0..self.shape.width))
            .sum()
    }

    /// Whether element `(t, c, y, x)` is non-zero.
    pub fn get(&self, t: u32, c: u64, y: u64, x: u64) -> bool {
        match &self.data {
            Data::Constant(v) => *v,
            Data::Bits { rows, .. } => {
                let s = &self.shape;
                let base = ((t as usize * s.channels as usize + c as usize) * s.height as usize
                    + y as usize)
                    * s.words_per_row();
                rows[base + x as usize / 64] >> (x % 64) & 1 == 1
            }
        }
    }
}

/// Set bits of a row in columns `[x0, x1)`.
fn count_row(row: &[u64], x0: u64, x1: u64) -> u64 {
    let (w0, w1) = ((x0 / 64) as usize, ((x1 - 1) / 64) as usize);
    let lo_mask = !0u64 << (x0 % 64);
    let hi_mask = !0u64 >> (63 - (x1 - 1) % 64);
    if w0 == w1 {
        return (row[w0] & lo_mask & hi_mask).count_ones() as u64;
    }
    let mut n = (row[w0] & lo_mask).count_ones() as u64 + (row[w1] & hi_mask).count_ones() as u64;
    for w in &row[w0 + 1..w1] {
        n += w.count_ones() as u64;
    }
    n
}

/// The spikes of every feature tensor of a workload.
#[derive(Debug, Clone)]
pub struct Spikes {
    /// Index 0: the network input; 1 + p: layer p's output.
    pub tensors: Vec<TensorSpikes>,
    /// Where they came from, for reports ("uniform, seed 7", a file name).
    pub origin: String,
}

impl Spikes {
    pub fn tensor(&self, source: Source) -> &TensorSpikes {
        &self.tensors[tensor_index(source)]
    }

    /// Each layer's input density over the whole inference, as these spikes have it
    /// (over its sources, weighted by their sizes).
    pub fn layer_input_densities(&self, workload: &Workload) -> Vec<f64> {
        workload
            .layers
            .iter()
            .map(|l| {
                let (mut nz, mut all) = (0u64, 0u64);
                for &s in &l.sources {
                    let t = self.tensor(s);
                    nz += t.count_all(0..t.shape.timesteps);
                    all += t.shape.elements_per_timestep() * t.shape.timesteps as u64;
                }
                if all == 0 {
                    1.0
                } else {
                    nz as f64 / all as f64
                }
            })
            .collect()
    }
}

pub fn tensor_index(source: Source) -> usize {
    match source {
        Source::NetworkInput => 0,
        Source::Layer(p) => 1 + p,
    }
}

/// The shape of every feature tensor of a workload, in tensor order.
pub fn tensor_shapes(workload: &Workload) -> Vec<TensorShape> {
    std::iter::once(Source::NetworkInput)
        .chain((0..workload.layers.len()).map(Source::Layer))
        .map(|s| {
            let f = workload.source_shape(s);
            TensorShape {
                timesteps: workload.timesteps,
                channels: f.channels,
                height: f.height,
                width: f.width,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TensorShape {
        TensorShape {
            timesteps: 2,
            channels: 3,
            height: 4,
            width: 70,
        }
    }

    #[test]
    fn box_counts_agree_with_the_bits() {
        let s = shape();
        let wpr = s.words_per_row();
        let mut rows = vec![0u64; 2 * 3 * 4 * wpr];
        let mut set = |t: usize, c: usize, y: usize, x: usize| {
            rows[((t * 3 + c) * 4 + y) * wpr + x / 64] |= 1 << (x % 64);
        };
        for (t, c, y, x) in [
            (0, 0, 0, 0),
            (0, 1, 0, 0),
            (0, 2, 3, 69),
            (1, 0, 2, 65),
            (0, 1, 1, 63),
        ] {
            set(t, c, y, x);
        }
        let spikes = TensorSpikes::from_rows(s, rows);
        assert_eq!(spikes.count_box(0, 0..4, 0..70), 4);
        assert_eq!(spikes.count_box(0, 0..1, 0..1), 2);
        assert_eq!(spikes.count_box(0, 1..4, 60..70), 2);
        assert_eq!(spikes.count_box(1, 0..4, 0..70), 1);
        assert_eq!(spikes.count(0..2, 0..1, 0..4, 0..70), 2);
        assert_eq!(spikes.count(0..1, 1..2, 0..2, 63..64), 1);
        assert_eq!(spikes.count(0..2, 0..3, 0..4, 64..70), 2);
        assert!(spikes.get(1, 0, 2, 65) && !spikes.get(1, 0, 2, 64));
        let full = TensorSpikes::constant(s, true);
        assert_eq!(full.count(0..2, 0..3, 0..4, 0..70), 2 * 3 * 4 * 70);
    }
}
