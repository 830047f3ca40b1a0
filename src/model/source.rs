//! Where a layer reads its input from: a name both the workload and its densities use,
//! kept apart so that neither module imports the other for it.

use serde::{Deserialize, Serialize};

/// Where a layer reads its input from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    NetworkInput,
    Layer(usize),
}

impl Source {
    /// Its place among a workload's feature tensors: 0 the network input, 1 + l
    /// layer l's output (the order densities, spikes and attention flags are kept in).
    pub fn tensor_index(self) -> usize {
        match self {
            Source::NetworkInput => 0,
            Source::Layer(p) => 1 + p,
        }
    }
}
