//! One computation tile mapped on its own (`stems map`): the whole core's global SRAM
//! is the tile's, its operands packed into it smallest first and the rest streamed.

use super::{MapKey, Mapper, Mapping, NoMapping, Objective, Residency};
use crate::model::{Accelerator, Layer, Workload};
use crate::tiling::{CtShape, TileRegion};
use serde::Serialize;
use std::sync::Arc;

/// A tile of a layer and its best nest on the first core.
#[derive(Debug, Serialize)]
pub struct MappedTile {
    pub workload: String,
    pub layer: String,
    pub region: TileRegion,
    #[serde(flatten)]
    pub mapping: Mapping,
    /// The layer's operator and output lines, the core and its global SRAM, and the
    /// objective: what the table's heading says.
    #[serde(skip)]
    pub op: &'static str,
    #[serde(skip)]
    pub layer_lines: u64,
    #[serde(skip)]
    pub core: String,
    #[serde(skip)]
    pub global_sram_bits: u64,
    #[serde(skip)]
    pub objective: Objective,
}

/// Maps `region` of `layer` alone on the accelerator's first core.
pub fn map_alone(
    workload: &Workload,
    accelerator: &Accelerator,
    layer: &Layer,
    region: TileRegion,
    objective: Objective,
) -> Result<MappedTile, NoMapping> {
    let shape = CtShape::new(workload, layer, &region);
    let core = &accelerator.cores[0];
    let (residency, stream_budget_bits) = Residency::pack(&shape, core.global_sram().size_bits);
    let key = MapKey {
        shape,
        core: core.id,
        residency,
        stream_budget_bits: if residency.any_streamed() {
            stream_budget_bits
        } else {
            0
        },
        objective,
    };
    let started = std::time::Instant::now();
    let mapping = Mapper::new(accelerator).map(key)?;
    tracing::info!(
        candidates = mapping.candidates_evaluated,
        seconds = started.elapsed().as_secs_f64(),
        "mapped"
    );
    Ok(MappedTile {
        workload: workload.name.clone(),
        layer: layer.name.clone(),
        region,
        mapping: Arc::unwrap_or_clone(mapping),
        op: layer.op.name(),
        layer_lines: layer.dims.ox,
        core: core.name.clone(),
        global_sram_bits: core.global_sram().size_bits,
        objective,
    })
}
