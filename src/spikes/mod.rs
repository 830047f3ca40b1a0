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
pub mod record;

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

    fn channel_words(&self) -> usize {
        self.channels.div_ceil(64) as usize
    }

    /// Index of pixel `(t, y, x)`.
    fn pixel(&self, t: u32, y: u64, x: u64) -> usize {
        ((t as usize * self.height as usize + y as usize) * self.width as usize) + x as usize
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
        /// `[t][y][x][channel word]`: a pixel's channels are adjacent, so a pass's
        /// channel slice at a pixel is a word or two.
        words: Vec<u64>,
        /// `[t][y + 1][x + 1]`: channel counts summed over `[0, y) × [0, x)`.
        prefix: Vec<u64>,
    },
}

/// Collects a tensor's set elements.
pub struct TensorBuilder {
    shape: TensorShape,
    words: Vec<u64>,
}

impl TensorBuilder {
    pub fn new(shape: TensorShape) -> Self {
        let n = shape.timesteps as usize
            * shape.height as usize
            * shape.width as usize
            * shape.channel_words();
        Self {
            shape,
            words: vec![0; n],
        }
    }

    /// Marks element `(t, c, y, x)` non-zero.
    pub fn set(&mut self, t: u32, c: u64, y: u64, x: u64) {
        let i = self.shape.pixel(t, y, x) * self.shape.channel_words() + (c / 64) as usize;
        self.words[i] |= 1 << (c % 64);
    }

    pub fn finish(self) -> TensorSpikes {
        let s = self.shape;
        let (h, w, cw) = (s.height as usize, s.width as usize, s.channel_words());
        let plane = (h + 1) * (w + 1);
        let mut prefix = vec![0u64; s.timesteps as usize * plane];
        for t in 0..s.timesteps as usize {
            let p = &mut prefix[t * plane..][..plane];
            for y in 0..h {
                let mut run = 0;
                for x in 0..w {
                    let at = ((t * h + y) * w + x) * cw;
                    run += self.words[at..at + cw]
                        .iter()
                        .map(|v| v.count_ones() as u64)
                        .sum::<u64>();
                    p[(y + 1) * (w + 1) + x + 1] = p[y * (w + 1) + x + 1] + run;
                }
            }
        }
        TensorSpikes {
            shape: s,
            data: Data::Bits {
                words: self.words,
                prefix,
            },
        }
    }
}

impl TensorSpikes {
    pub fn constant(shape: TensorShape, set: bool) -> Self {
        Self {
            shape,
            data: Data::Constant(set),
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
        let words = match &self.data {
            Data::Bits { words, .. } if c0 > 0 || c1 < s.channels => words,
            Data::Constant(true) => {
                let all: u64 = t.map(|t| self.count_box(t, y.clone(), x.clone())).sum();
                return all / s.channels.max(1) * (c1 - c0);
            }
            _ => return t.map(|t| self.count_box(t, y.clone(), x.clone())).sum(),
        };
        let (y0, y1) = (y.start.min(s.height), y.end.min(s.height));
        let (x0, x1) = (x.start.min(s.width), x.end.min(s.width));
        let cw = s.channel_words();
        let (w0, w1) = ((c0 / 64) as usize, ((c1 - 1) / 64) as usize);
        let lo = !0u64 << (c0 % 64);
        let hi = !0u64 >> (63 - (c1 - 1) % 64);
        let mut n = 0u64;
        for t in t.start..t.end.min(s.timesteps) {
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let p = &words[s.pixel(t, yy, xx) * cw..][..cw];
                    n += if w0 == w1 {
                        (p[w0] & lo & hi).count_ones() as u64
                    } else {
                        (p[w0] & lo).count_ones() as u64
                            + (p[w1] & hi).count_ones() as u64
                            + p[w0 + 1..w1]
                                .iter()
                                .map(|v| v.count_ones() as u64)
                                .sum::<u64>()
                    };
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
            Data::Bits { words, .. } => {
                let s = &self.shape;
                let i = s.pixel(t, y, x) * s.channel_words() + (c / 64) as usize;
                words[i] >> (c % 64) & 1 == 1
            }
        }
    }
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
        &self.tensors[source.tensor_index()]
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
        let mut b = TensorBuilder::new(s);
        for (t, c, y, x) in [
            (0, 0, 0, 0),
            (0, 1, 0, 0),
            (0, 2, 3, 69),
            (1, 0, 2, 65),
            (0, 1, 1, 63),
        ] {
            b.set(t, c, y, x);
        }
        let spikes = b.finish();
        assert_eq!(spikes.count_box(0, 0..4, 0..70), 4);
        assert_eq!(spikes.count_box(0, 0..1, 0..1), 2);
        assert_eq!(spikes.count_box(0, 1..4, 60..70), 2);
        assert_eq!(spikes.count_box(1, 0..4, 0..70), 1);
        assert_eq!(spikes.count(0..2, 0..1, 0..4, 0..70), 2);
        assert_eq!(spikes.count(0..1, 1..2, 0..2, 63..64), 1);
        assert_eq!(spikes.count(0..2, 0..3, 0..4, 64..70), 2);
        assert_eq!(spikes.count(0..2, 1..3, 0..4, 0..70), 3);
        assert!(spikes.get(1, 0, 2, 65) && !spikes.get(1, 0, 2, 64));
        let full = TensorSpikes::constant(s, true);
        assert_eq!(full.count(0..2, 0..3, 0..4, 0..70), 2 * 3 * 4 * 70);
        assert_eq!(full.count(0..2, 1..3, 0..4, 0..70), 2 * 2 * 4 * 70);
    }

    #[test]
    fn channel_slices_spanning_words_count_every_bit() {
        let s = TensorShape {
            timesteps: 1,
            channels: 200,
            height: 2,
            width: 2,
        };
        let mut b = TensorBuilder::new(s);
        for c in (0..200).step_by(3) {
            b.set(0, c, 1, 1);
        }
        let t = b.finish();
        let brute = |c0: u64, c1: u64| (c0..c1).filter(|c| c % 3 == 0).count() as u64;
        for (c0, c1) in [(0, 200), (5, 190), (63, 65), (64, 128), (1, 2)] {
            assert_eq!(
                t.count(0..1, c0..c1, 0..2, 0..2),
                brute(c0, c1),
                "{c0}..{c1}"
            );
        }
    }
}
