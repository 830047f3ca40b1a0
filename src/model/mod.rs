//! The model stage: workloads and accelerators read from TOML, validated, resolved.
//!
//! Everything downstream consumes the resolved types here and never reads TOML itself.

pub mod accelerator;
pub mod diag;
pub mod units;
pub mod workload;

pub use accelerator::{
    Accelerator, Core, Dram, HardwareOverrides, LoopDim, Memory, Noc, PeArray, Unroll,
};
pub use diag::{ModelError, Problem, SourceText};
pub use units::Size;
pub use workload::{
    Dims, FeatureShape, Layer, NetworkInput, OpKind, Operand, Precision, Source, Workload,
};
