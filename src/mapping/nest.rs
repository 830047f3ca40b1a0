//! Loop nests: temporal loops over a computation tile, outermost first, and which
//! operand each loop dimension is relevant to.

use crate::model::{OpKind, Operand};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A loop dimension of a computation tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dim {
    K,
    C,
    OY,
    OX,
    FY,
    FX,
    T,
}

impl Dim {
    pub const ALL: [Dim; 7] = [Dim::K, Dim::C, Dim::OY, Dim::OX, Dim::FY, Dim::FX, Dim::T];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Reduction dimensions: they must complete below the accumulator (output
    /// stationarity).
    pub fn is_reduction(self) -> bool {
        matches!(self, Dim::C | Dim::FY | Dim::FX)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dim::K => "K",
            Dim::C => "C",
            Dim::OY => "OY",
            Dim::OX => "OX",
            Dim::FY => "FY",
            Dim::FX => "FX",
            Dim::T => "T",
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether iterating `dim` changes which data of `operand` is used.
///
/// Conv/fc inputs depend on C and the output position; element-wise inputs on the
/// channel (K) and the source index (C); pooling is depthwise (K). Neuron state V
/// persists across T, which is what lets time batching keep it in the accumulator.
/// A matmul's W operand is another layer's output: it changes every timestep (T), so
/// time batching reuses nothing of it. (A nest is one head's: see `CtShape::heads`.)
pub fn relevant(op: OpKind, operand: Operand, dim: Dim) -> bool {
    use Dim::*;
    match operand {
        Operand::W => match op {
            OpKind::Matmul => matches!(dim, K | C | T),
            _ => op.has_weights() && matches!(dim, K | C | FY | FX),
        },
        Operand::I => match op {
            OpKind::Conv | OpKind::Fc | OpKind::Matmul => matches!(dim, C | OY | OX | FY | FX | T),
            OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron => matches!(dim, K | C | OY | OX | T),
            OpKind::MaxPool | OpKind::AvgPool => matches!(dim, K | OY | OX | FY | FX | T),
        },
        Operand::O => matches!(dim, K | OY | OX | T),
        Operand::V => matches!(dim, K | OY | OX),
    }
}

/// Why a nest (outermost loop first) cannot run a recurrent layer's tile, if it
/// cannot: its neurons at timestep t read all their neighbours' spikes of t−1, so every
/// neuron of a timestep must be computed before the next one starts: no T loop inside
/// a K, OY or OX loop.
pub fn recurrence_order_problem(loops: &[Loop]) -> Option<String> {
    let first_neuron_loop = loops
        .iter()
        .position(|l| l.size > 1 && matches!(l.dim, Dim::K | Dim::OY | Dim::OX))?;
    loops[first_neuron_loop..]
        .iter()
        .find(|l| l.dim == Dim::T && l.size > 1)
        .map(|t| {
            format!(
                "a recurrent layer's timesteps must be the outermost loops (T{} inside {}{})",
                t.size, loops[first_neuron_loop].dim, loops[first_neuron_loop].size
            )
        })
}

/// One temporal loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Loop {
    pub dim: Dim,
    pub size: u64,
}

/// Per dimension, the product of loop sizes in a slice of a nest.
pub fn dim_products(loops: &[Loop]) -> [u64; 7] {
    let mut p = [1u64; 7];
    for l in loops {
        p[l.dim.index()] *= l.size;
    }
    p
}

/// Prime factors of `n`, ascending.
pub fn prime_factors(mut n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut p = 2;
    while p * p <= n {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

/// Rearranges `items` into the next lexicographic permutation; false after the last.
pub fn next_permutation<T: Ord>(items: &mut [T]) -> bool {
    if items.len() < 2 {
        return false;
    }
    let mut i = items.len() - 1;
    while i > 0 && items[i - 1] >= items[i] {
        i -= 1;
    }
    if i == 0 {
        return false;
    }
    let mut j = items.len() - 1;
    while items[j] <= items[i - 1] {
        j -= 1;
    }
    items.swap(i - 1, j);
    items[i..].reverse();
    true
}

/// Number of distinct orderings of a multiset, saturating.
pub fn distinct_permutations<T: Ord + Clone>(items: &[T]) -> u64 {
    let mut sorted = items.to_vec();
    sorted.sort();
    let mut count: u128 = 1;
    let mut run = 0u128;
    for i in 0..sorted.len() {
        count = count.saturating_mul(i as u128 + 1);
        run = if i > 0 && sorted[i] == sorted[i - 1] {
            run + 1
        } else {
            1
        };
        count /= run;
    }
    count.min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_and_permutations() {
        assert_eq!(prime_factors(360), vec![2, 2, 2, 3, 3, 5]);
        assert_eq!(prime_factors(1), Vec::<u64>::new());
        assert_eq!(distinct_permutations(&[1, 1, 2]), 3);
        assert_eq!(distinct_permutations(&[1, 2, 3, 4]), 24);
        let mut v = vec![1, 1, 2];
        let mut n = 1;
        while next_permutation(&mut v) {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn state_is_irrelevant_to_time_and_weights_to_space() {
        assert!(!relevant(OpKind::Conv, Operand::V, Dim::T));
        assert!(relevant(OpKind::Conv, Operand::O, Dim::T));
        assert!(!relevant(OpKind::Conv, Operand::W, Dim::OX));
        assert!(!relevant(OpKind::Conv, Operand::I, Dim::K));
        assert!(relevant(OpKind::MaxPool, Operand::I, Dim::K));
    }
}
