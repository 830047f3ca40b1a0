//! Spikes drawn from a seeded generator at the workload's densities.
//!
//! - `uniform`: every element non-zero independently with its tensor's density at that
//!   timestep — the analytic half's own assumption, so the halves should agree.
//! - `clustered`: activity comes in spatial patches of `PATCH`×`PATCH` pixels (all
//!   channels): a patch is active with probability `min(1, 4·d)`, and inside an active
//!   patch each element is non-zero with `d / that`, so the density is the same but
//!   some lanes of a fold see far more spikes than others.
//!
//! Each (tensor, timestep) draws from its own ChaCha8 stream of the seed, so the
//! spikes do not depend on the order or the threads they are drawn on.

use super::{
    MAX_SPIKE_BITS, SpikeError, Spikes, TensorBuilder, TensorShape, TensorSpikes, tensor_shapes,
};
use crate::model::{Source, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// How generated spikes are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    #[default]
    Uniform,
    Clustered,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Uniform => "uniform",
            Pattern::Clustered => "clustered",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpikeOptions {
    pub pattern: Pattern,
    pub seed: u64,
}

/// Side of a clustered pattern's patches, in pixels.
pub const PATCH: u64 = 4;

/// Draws every tensor's spikes at the workload's densities.
pub fn generate(workload: &Workload, options: SpikeOptions) -> Result<Spikes, SpikeError> {
    let shapes = tensor_shapes(workload);
    let bits: u64 = shapes
        .iter()
        .map(|s| s.elements_per_timestep() * s.timesteps as u64)
        .sum();
    if bits > MAX_SPIKE_BITS {
        return Err(SpikeError::TooLarge {
            workload: workload.name.clone(),
            bits,
            limit: MAX_SPIKE_BITS,
        });
    }
    let tensors = shapes
        .par_iter()
        .enumerate()
        .map(|(i, &shape)| {
            let source = if i == 0 {
                Source::NetworkInput
            } else {
                Source::Layer(i - 1)
            };
            let densities: Vec<f64> = (0..shape.timesteps)
                .map(|t| workload.densities.at(source, t))
                .collect();
            tensor(shape, &densities, i as u64, options)
        })
        .collect();
    Ok(Spikes {
        tensors,
        origin: format!("{}, seed {}", options.pattern.name(), options.seed),
    })
}

fn tensor(
    shape: TensorShape,
    densities: &[f64],
    index: u64,
    options: SpikeOptions,
) -> TensorSpikes {
    if densities.iter().all(|&d| d >= 1.0) {
        return TensorSpikes::constant(shape, true);
    }
    if densities.iter().all(|&d| d <= 0.0) {
        return TensorSpikes::constant(shape, false);
    }
    let mut b = TensorBuilder::new(shape);
    let plane = shape.height * shape.width;
    for (t, &d) in densities.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        rng.set_stream(index * shape.timesteps as u64 + t as u64);
        let d = d.clamp(0.0, 1.0);
        let mut set = |e: u64| {
            let (c, rest) = (e / plane, e % plane);
            b.set(t as u32, c, rest / shape.width, rest % shape.width);
        };
        match options.pattern {
            Pattern::Uniform => fill_uniform(shape, d, &mut rng, &mut set),
            Pattern::Clustered => fill_clustered(shape, d, &mut rng, &mut set),
        }
    }
    b.finish()
}

/// A uniform draw in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Every element (C-major index) set independently with probability `d`: sparse
/// tensors by geometric gaps between spikes (one draw per spike), dense ones element
/// by element.
fn fill_uniform(shape: TensorShape, d: f64, rng: &mut ChaCha8Rng, set: &mut impl FnMut(u64)) {
    let n = shape.elements_per_timestep();
    if d <= 0.0 {
        return;
    }
    if d < 0.25 {
        let ln_q = (1.0 - d).ln();
        let mut e = 0u64;
        loop {
            let gap = ((1.0 - unit(rng)).ln() / ln_q).floor();
            if !gap.is_finite() || gap >= (n - e) as f64 {
                return;
            }
            e += gap as u64;
            set(e);
            e += 1;
            if e >= n {
                return;
            }
        }
    }
    let threshold = (d * (1u64 << 32) as f64) as u64;
    for e in 0..n {
        if (rng.next_u32() as u64) < threshold || d >= 1.0 {
            set(e);
        }
    }
}

/// Active patches of `PATCH`×`PATCH` pixels (all channels) carry all the spikes.
fn fill_clustered(shape: TensorShape, d: f64, rng: &mut ChaCha8Rng, set: &mut impl FnMut(u64)) {
    let hot = (4.0 * d).min(1.0);
    let inside = if hot > 0.0 { (d / hot).min(1.0) } else { 0.0 };
    let (py, px) = (shape.height.div_ceil(PATCH), shape.width.div_ceil(PATCH));
    let active: Vec<bool> = (0..py * px).map(|_| unit(rng) < hot).collect();
    let threshold = (inside * (1u64 << 32) as f64) as u64;
    for c in 0..shape.channels {
        for y in 0..shape.height {
            for x in 0..shape.width {
                if active[((y / PATCH) * px + x / PATCH) as usize]
                    && ((rng.next_u32() as u64) < threshold || inside >= 1.0)
                {
                    set((c * shape.height + y) * shape.width + x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TensorShape {
        TensorShape {
            timesteps: 3,
            channels: 16,
            height: 32,
            width: 40,
        }
    }

    #[test]
    fn draws_are_reproducible_and_near_their_density() {
        for pattern in [Pattern::Uniform, Pattern::Clustered] {
            for d in [0.05, 0.5] {
                let o = SpikeOptions { pattern, seed: 3 };
                let a = tensor(shape(), &[d; 3], 1, o);
                let b = tensor(shape(), &[d; 3], 1, o);
                let n = a.count_all(0..3);
                assert_eq!(n, b.count_all(0..3), "{pattern:?} {d}");
                let all = shape().elements_per_timestep() * 3;
                let measured = n as f64 / all as f64;
                assert!(
                    (measured - d).abs() < 0.1 * d + 0.01,
                    "{pattern:?} {d}: {measured}"
                );
                let other = tensor(shape(), &[d; 3], 2, o);
                assert_ne!(n, other.count_all(0..3), "streams differ per tensor");
            }
        }
    }
}
