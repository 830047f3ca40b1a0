//! The model stage: workloads and accelerators read from TOML, validated, resolved.
//!
//! Everything downstream consumes the resolved types here and never reads TOML itself.

pub mod accelerator;
pub mod activity;
pub mod attention;
pub mod diag;
pub mod dram_timing;
pub mod limits;
pub mod overrides;
pub mod recurrence;
pub mod source;
pub mod units;
pub mod workload;

pub use accelerator::{
    Accelerator, AxisUnroll, BankLayout, Core, Dram, HardwareOverrides, LoopDim, Memory, Noc,
    PeArray, Unroll,
};
pub use activity::{Densities, FeatureFormat, Sparsity};
pub use diag::{ModelError, Problem, SourceText};
pub use units::Size;
/// Overrides applied to a workload and an accelerator file pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// New size of every core's global SRAM.
    pub global_sram: Option<Size>,
    /// Blocks whose neuron state is removed (SEW-X).
    pub stateless_blocks: Vec<usize>,
    /// Accelerator fields set by path (`dram.bw_bits=32`).
    pub hardware: Vec<overrides::FieldSet>,
    /// Every feature tensor's density scaled by this factor (capped at 1): on a dense
    /// workload, the density itself.
    pub activity: Option<f64>,
    /// Layers whose input density is set (`layer.NAME.activity` sweep axes), applied
    /// after `activity`.
    pub layer_activity: Vec<(String, f64)>,
}

/// Why an `--activity` factor is refused.
fn check_activity_scale(f: f64) -> Result<(), ModelError> {
    if f.is_finite() && f >= 0.0 {
        return Ok(());
    }
    Err(ModelError::single(
        "--activity",
        Problem::new(
            "activity override",
            format!("scales densities: a finite factor ≥ 0, got {f}"),
        )
        .field("activity"),
    ))
}

/// Loads a workload and an accelerator with their overrides.
pub fn load(
    workload: &std::path::Path,
    hardware: &std::path::Path,
    overrides: &Overrides,
) -> Result<(Workload, Accelerator), ModelError> {
    let mut w = Workload::load(workload)?;
    w.make_blocks_stateless(&overrides.stateless_blocks)?;
    if let Some(f) = overrides.activity {
        check_activity_scale(f)?;
        w.densities = w.densities.scaled(f, w.layers.len() + 1);
    }
    for (layer, a) in &overrides.layer_activity {
        w.set_layer_activity(layer, *a)?;
    }
    let acc = Accelerator::load_with(
        hardware,
        &overrides.hardware,
        HardwareOverrides {
            global_sram: overrides.global_sram,
        },
    )?;
    Ok((w, acc))
}

pub use workload::{
    Dims, FeatureShape, Layer, NetworkInput, OpKind, Operand, Precision, Source, Workload,
};
