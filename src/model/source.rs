//! Where a layer reads its input from: a name both the workload and its densities use,
//! kept apart so that neither module imports the other for it.

use serde::{Deserialize, Serialize};

/// Where a layer reads its input from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    NetworkInput,
    Layer(usize),
}
