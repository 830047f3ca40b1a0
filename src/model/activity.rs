//! Spike activity: how dense each feature tensor is, how a PE array exploits zeros, and
//! how a memory level stores features. Each rule is written here once; the analytic
//! half applies it to expected values, the simulator to the spikes themselves.
//!
//! - A tensor's *density* is the fraction of its elements that are non-zero (spikes, or
//!   non-zero activations for multi-bit features), per timestep.
//! - [`Sparsity`]: `none` performs every operation; `gate` performs only those whose
//!   input is non-zero (the array's cycles stay); `skip` also skips them in time, so a
//!   fold lasts as long as its busiest lane ([`Sparsity::fold_cycles`]).
//! - [`FeatureFormat`]: the bits a feature tensor takes at a level
//!   ([`FeatureFormat::bits`]); never more than dense (a level stores a chunk dense
//!   when compressing it would not pay), so capacity reserved dense is always safe.

use super::source::Source;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How a PE array exploits zero inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sparsity {
    /// Every operation is performed (the paper's dense cost).
    #[default]
    None,
    /// An operation whose input is zero costs no energy and no local-buffer read of the
    /// input; cycles are unchanged.
    Gate,
    /// As `gate`, and zero inputs take no time: each lane (the PEs sharing one input
    /// stream: one output pixel) takes its non-zero inputs `inputs_per_pe` per cycle.
    Skip,
}

impl Sparsity {
    pub const NAMES: [(&'static str, Sparsity); 3] = [
        ("none", Sparsity::None),
        ("gate", Sparsity::Gate),
        ("skip", Sparsity::Skip),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn is_none(&self) -> bool {
        *self == Sparsity::None
    }

    /// Whether a zero input's operation (and its read into the array) is left out.
    pub fn gates(self) -> bool {
        self != Sparsity::None
    }

    /// The reduction cycles of one fold: dense, or under `skip` the busiest lane's
    /// non-zero inputs taken `inputs_per_cycle` at a time (at least one cycle: the fold
    /// still passes through the array).
    pub fn fold_cycles(self, dense_cycles: u64, busiest_lane_nonzeros: u64, per_cycle: u64) -> u64 {
        match self {
            Sparsity::Skip => busiest_lane_nonzeros.div_ceil(per_cycle.max(1)).max(1),
            Sparsity::None | Sparsity::Gate => dense_cycles,
        }
    }
}

/// The expected reduction cycles of a fold under `skip` when each of `lanes` lanes
/// reduces `inputs` values, each non-zero with probability `density` independently
/// (the analytic half's assumption): E[max(1, ⌈max over lanes of Binomial(inputs,
/// density) / per_cycle⌉)], exact under that assumption.
pub fn expected_skip_fold_cycles(lanes: u64, inputs: u64, density: f64, per_cycle: u64) -> f64 {
    let per_cycle = per_cycle.max(1);
    if lanes == 0 || inputs == 0 || density <= 0.0 {
        return 1.0;
    }
    if density >= 1.0 {
        return inputs.div_ceil(per_cycle).max(1) as f64;
    }
    if inputs > EXACT_LANE_INPUTS {
        // The binomial is normal here; the expected maximum of `lanes` normals by
        // Blom's approximation of their largest order statistic.
        let mean = inputs as f64 * density;
        let sd = (mean * (1.0 - density)).sqrt();
        let l = lanes as f64;
        let z = standard_normal_quantile((l - 0.375) / (l + 0.25));
        return ((mean + sd * z) / per_cycle as f64).ceil().max(1.0);
    }
    // P(X ≤ k) for X ~ Binomial(inputs, density), the pmf built in log space so that
    // large reductions do not underflow it.
    let (ln_p, ln_q) = (density.ln(), (1.0 - density).ln());
    let mut ln_pmf = inputs as f64 * ln_q;
    let mut cdf = Vec::with_capacity(inputs as usize + 1);
    let mut acc = 0.0f64;
    for k in 0..=inputs {
        if k > 0 {
            ln_pmf += ((inputs - k + 1) as f64 / k as f64).ln() + ln_p - ln_q;
        }
        acc += ln_pmf.exp();
        cdf.push(acc.min(1.0));
    }
    // E[max(1, M)] = 1 + Σ_{m ≥ 1} P(M > m), with M ≤ m ⇔ every lane's X ≤ m·per_cycle.
    let cycles_max = inputs.div_ceil(per_cycle);
    let mut expected = 1.0;
    for m in 1..cycles_max {
        let within = cdf[((m * per_cycle) as usize).min(inputs as usize)];
        expected += 1.0 - within.powf(lanes as f64);
    }
    expected
}

/// Reductions up to this many inputs per lane are costed exactly; longer ones by a
/// normal approximation (bounded time and memory for any shape).
const EXACT_LANE_INPUTS: u64 = 1 << 16;

/// Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, relative error < 1.2e-9).
fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// How a memory level stores (and moves) feature tensors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureFormat {
    /// Every element at its precision.
    #[default]
    Dense,
    /// A presence bit per element plus the non-zero values (for 1-bit spikes the mask
    /// is the data: dense).
    Bitmap,
    /// Each non-zero as its address within one timestep of the tensor (AER-style,
    /// `ceil(log2(C·H·W))` bits) plus its value (none for 1-bit spikes: a non-zero
    /// spike is 1).
    Coordinate,
}

impl FeatureFormat {
    pub const NAMES: [(&'static str, FeatureFormat); 3] = [
        ("dense", FeatureFormat::Dense),
        ("bitmap", FeatureFormat::Bitmap),
        ("coordinate", FeatureFormat::Coordinate),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn is_dense(&self) -> bool {
        *self == FeatureFormat::Dense
    }

    /// Bits per element and bits per non-zero of a tensor of `value_bits` precision
    /// whose addresses take `address_bits`: the format's cost is
    /// `per_element · elements + per_nonzero · nonzeros`, capped at dense.
    fn linear_cost(self, value_bits: u32, address_bits: u32) -> (u64, u64) {
        let v = value_bits as u64;
        // A non-zero 1-bit spike carries no value beyond its presence.
        let payload = if v == 1 { 0 } else { v };
        match self {
            FeatureFormat::Dense => (v, 0),
            FeatureFormat::Bitmap => (1, payload),
            FeatureFormat::Coordinate => (0, address_bits as u64 + payload),
        }
    }

    /// Bits `elements` values with `nonzeros` non-zeros take in this format (never
    /// more than dense).
    pub fn bits(self, elements: u64, nonzeros: u64, value_bits: u32, address_bits: u32) -> u64 {
        let (per_element, per_nonzero) = self.linear_cost(value_bits, address_bits);
        let dense = elements * value_bits as u64;
        (per_element * elements + per_nonzero * nonzeros).min(dense)
    }

    /// The share of the dense bits a tensor of `density` takes in this format, in
    /// expectation (the cap applied to the expected size).
    pub fn expected_ratio(self, density: f64, value_bits: u32, address_bits: u32) -> f64 {
        if value_bits == 0 {
            return 1.0;
        }
        let (per_element, per_nonzero) = self.linear_cost(value_bits, address_bits);
        let bits = per_element as f64 + per_nonzero as f64 * density;
        (bits / value_bits as f64).min(1.0)
    }
}

/// Address bits of one element within one timestep of a tensor of `elements` values.
pub fn address_bits(elements: u64) -> u32 {
    elements.max(2).next_power_of_two().trailing_zeros()
}

/// Densities of the feature tensors (the network input and every layer's output), per
/// timestep. A tensor's density is its readers' `activity`; a recording replaces them
/// by the measured ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Densities {
    /// Index 0: the network input; 1 + p: layer p's output. Each holds one value (every
    /// timestep) or one per timestep. Empty: every tensor dense.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<Vec<f64>>,
}

impl Densities {
    pub fn is_dense(&self) -> bool {
        self.tensors.iter().flatten().all(|&d| d == 1.0)
    }

    /// The mean density of a tensor over timesteps `t`.
    pub fn of(&self, source: Source, t: Range<u32>) -> f64 {
        let Some(per_t) = self.tensors.get(source.tensor_index()) else {
            return 1.0;
        };
        match per_t.len() {
            0 => 1.0,
            1 => per_t[0],
            n => {
                let (a, b) = (t.start as usize, (t.end as usize).min(n));
                if b <= a {
                    return per_t.first().copied().unwrap_or(1.0);
                }
                per_t[a..b].iter().sum::<f64>() / (b - a) as f64
            }
        }
    }

    /// The density every reader of `source` sees at timestep `t`.
    pub fn at(&self, source: Source, t: u32) -> f64 {
        self.of(source, t..t + 1)
    }

    /// Sets a tensor's densities (one value, or one per timestep).
    pub fn set(&mut self, source: Source, per_t: Vec<f64>, tensors: usize) {
        if self.tensors.len() < tensors {
            self.tensors.resize(tensors, vec![1.0]);
        }
        self.tensors[source.tensor_index()] = per_t;
    }

    /// Every density scaled by `factor` (capped at 1): the `activity` sweep axis.
    pub fn scaled(&self, factor: f64, tensors: usize) -> Self {
        let mut out = self.clone();
        if out.tensors.len() < tensors {
            out.tensors.resize(tensors, vec![1.0]);
        }
        for d in out.tensors.iter_mut().flatten() {
            *d = (*d * factor).clamp(0.0, 1.0);
        }
        out
    }
}

/// A density quantised to millionths, so that tile shapes holding it stay hashable.
pub fn ppm(density: f64) -> u32 {
    (density.clamp(0.0, 1.0) * 1e6).round() as u32
}

/// The density a quantised value stands for.
pub fn from_ppm(ppm: u32) -> f64 {
    ppm as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_cost_what_their_definition_says() {
        // 100 four-bit values, 10 non-zero, 12-bit addresses.
        assert_eq!(FeatureFormat::Dense.bits(100, 10, 4, 12), 400);
        assert_eq!(FeatureFormat::Bitmap.bits(100, 10, 4, 12), 100 + 40);
        assert_eq!(FeatureFormat::Coordinate.bits(100, 10, 4, 12), 10 * 16);
        // Spikes: the bitmap is the data; coordinates carry no value.
        assert_eq!(FeatureFormat::Bitmap.bits(100, 10, 1, 12), 100);
        assert_eq!(FeatureFormat::Coordinate.bits(100, 5, 1, 12), 60);
        // Never more than dense.
        assert_eq!(FeatureFormat::Coordinate.bits(100, 50, 1, 12), 100);
        let r = FeatureFormat::Coordinate.expected_ratio(0.05, 1, 12);
        assert!((r - 0.6).abs() < 1e-12);
        assert_eq!(FeatureFormat::Coordinate.expected_ratio(1.0, 1, 12), 1.0);
    }

    #[test]
    fn skip_takes_the_busiest_lane_and_at_least_a_cycle() {
        assert_eq!(Sparsity::Skip.fold_cycles(288, 7, 2), 4);
        assert_eq!(Sparsity::Skip.fold_cycles(288, 0, 2), 1);
        assert_eq!(Sparsity::Gate.fold_cycles(288, 7, 2), 288);
        assert_eq!(address_bits(64 * 128 * 128), 20);
        assert_eq!(address_bits(1), 1);
        assert_eq!(address_bits(3), 2);
    }

    #[test]
    fn the_expected_busiest_lane_matches_enumeration() {
        // Two lanes of 2 inputs, density 1/2, one input per cycle: each lane's count is
        // 0, 1, 2 with probability 1/4, 1/2, 1/4; the max is 0 w.p. 1/16, 2 w.p. 7/16,
        // else 1 — and a fold takes at least a cycle: E = 1·(1/16 + 8/16) + 2·7/16.
        let e = expected_skip_fold_cycles(2, 2, 0.5, 1);
        assert!((e - (9.0 / 16.0 + 14.0 / 16.0)).abs() < 1e-12, "{e}");
        // Dense and empty ends.
        assert_eq!(expected_skip_fold_cycles(16, 576, 1.0, 2), 288.0);
        assert_eq!(expected_skip_fold_cycles(16, 576, 0.0, 2), 1.0);
        // More lanes wait for a busier one.
        let one = expected_skip_fold_cycles(1, 576, 0.07, 2);
        let many = expected_skip_fold_cycles(16, 576, 0.07, 2);
        assert!(
            one < many && (one - 576.0 * 0.07 / 2.0).abs() < 1.0,
            "{one} {many}"
        );
        // Large reductions stay finite.
        assert!(expected_skip_fold_cycles(16, 1 << 20, 0.5, 2).is_finite());
    }
}
