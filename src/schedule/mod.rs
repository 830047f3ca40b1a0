//! The inter-layer scheduling stage and its product, the [`Schedule`]: the contract
//! between the analytic front-end and the simulator.
//!
//! A schedule holds everything a simulator needs to replay it — the resolved models,
//! every tile with its loop nest and memory boundaries, every transfer (which data,
//! from where to where, how many bits, why) and every allocation and free in each
//! core's global SRAM, in order — and the analytic prediction, which a simulator must
//! not read: it recomputes traffic by walking the tiles itself.

mod check;
pub mod dram_placement;
pub mod memory;
pub mod scheduler;
pub mod space;
pub mod spec;

pub use memory::{Extent, Scratchpad};
pub use scheduler::{
    Allocation, Eviction, PrefixCache, ScheduleError, SchedulerOptions, Sharing, predict,
    predict_bounded, predict_sharing, schedule,
};
pub use spec::{BlockCut, ScheduleSpec, SpaceCut, SpecError, TimeCut};

use crate::cost::Report;
use crate::mapping::{Boundary, Loop, Objective};
use crate::model::{Accelerator, ModelError, Operand, Problem, Workload};
use crate::tiling::graph::{DataObject, ObjectId, Tile};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Why a network could not be planned from files.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Loads the models, applies the overrides and schedules every layer on the first core
/// that runs it, with the cuts of `spec` — the common path of scenarios, tests and
/// benches.
pub fn plan(
    workload: &Path,
    hardware: &Path,
    overrides: &crate::model::Overrides,
    spec: &str,
    options: SchedulerOptions,
) -> Result<Schedule, PlanError> {
    let (w, acc) = crate::model::load(workload, hardware, overrides)?;
    let spec = ScheduleSpec::parse(spec, w.num_blocks, w.timesteps)?;
    let mut mapper = crate::mapping::Mapper::new(&acc);
    Ok(schedule(
        &w,
        &acc,
        &spec,
        &Allocation::first_able(&w, &acc),
        options,
        &mut mapper,
    )?)
}

/// Bumped whenever the file format changes incompatibly.
/// Version 2 added the streaming staging area (`stage` / `unstage` actions).
pub const SCHEMA_VERSION: u32 = 2;

/// Where data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Dram,
    Sram { core: usize },
}

/// Why data moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// First fetch of data that starts in DRAM (weights, the network input).
    Load,
    /// Live data evicted from the global SRAM to make room.
    Spill,
    /// Spilled data fetched back.
    Reload,
    /// A dirty copy written to DRAM so that a tile can stream it from there.
    WriteBack,
    /// A network output leaving for DRAM.
    Output,
    /// Data moved between cores over the NoC.
    Move,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub object: ObjectId,
    pub from: Location,
    pub to: Location,
    pub bits: u64,
    pub reason: Reason,
    pub predicted_start: u64,
    pub predicted_end: u64,
}

/// What happens around a tile, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Alloc {
        core: usize,
        object: ObjectId,
        extents: Vec<Extent>,
    },
    Free {
        core: usize,
        object: ObjectId,
        extents: Vec<Extent>,
    },
    /// Reserves the staging area a streaming tile moves its streamed operands through
    /// (`stream_budget_bits` of the global SRAM); it counts towards occupancy.
    Stage {
        core: usize,
        extents: Vec<Extent>,
    },
    /// Releases the tile's staging area.
    Unstage {
        core: usize,
        extents: Vec<Extent>,
    },
    Transfer(Transfer),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TilePrediction {
    pub start_cycle: u64,
    pub end_cycle: u64,
    pub cycles: u64,
    pub energy_pj: f64,
    /// How the tile's cycles split on the PE array (absent in older files).
    #[serde(default)]
    pub array: ArrayCycles,
    /// What the tile spends (absent in older files: no per-tile comparison).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<crate::cost::TileSpend>,
}

/// A tile's PE-array time by activity, and how much of the array it maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrayCycles {
    pub folds: u64,
    pub compute: u64,
    pub fill_drain: u64,
    pub drain_bound: u64,
    /// Share of the PEs (and their input lanes) doing useful work while computing.
    pub spatial_utilization: f64,
}

impl ArrayCycles {
    /// Cycles the array is occupied: computing, filling and draining.
    pub fn busy(&self) -> u64 {
        self.compute + self.fill_drain + self.drain_bound
    }
}

impl Schedule {
    /// Each tile's layer and predicted figures, in schedule order (what the per-tile
    /// agreement compares with the simulator's).
    pub fn predicted_tiles(&self) -> Vec<(String, crate::cost::TileFigures)> {
        self.tiles
            .iter()
            .map(|t| {
                let figures = crate::cost::TileFigures {
                    busy_cycles: t.predicted.array.busy(),
                    spend: t.predicted.spend,
                };
                (t.layer_name.clone(), figures)
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledTile {
    #[serde(flatten)]
    pub tile: Tile,
    pub layer_name: String,
    /// Operands too large for the global SRAM, streamed from DRAM inside the tile.
    pub streamed: Vec<Operand>,
    pub stream_budget_bits: u64,
    /// Temporal loops, outermost first; the innermost `reduction_loops` are C, FY, FX.
    pub loop_nest: Vec<Loop>,
    pub reduction_loops: usize,
    /// The spatial unrolling the nest runs under (absent in older files: the core's
    /// first unrolling).
    #[serde(default)]
    pub unroll: Option<crate::model::Unroll>,
    pub boundaries: Vec<Boundary>,
    /// The `before` actions overlap the previous tile on the core (double buffering).
    pub prefetched: bool,
    pub before: Vec<Action>,
    pub after: Vec<Action>,
    pub predicted: TilePrediction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub schema_version: u32,
    pub workload: Workload,
    pub accelerator: Accelerator,
    pub stateless_blocks: Vec<usize>,
    pub cuts: Vec<BlockCut>,
    pub schedule: Vec<String>,
    pub prefetch: bool,
    pub objective: Objective,
    /// The memory manager's eviction policy (absent in older files: the paper's, the
    /// only one they knew).
    #[serde(default = "paper_eviction")]
    pub eviction: Eviction,
    pub objects: Vec<DataObject>,
    /// Where every object lives in DRAM (absent in older files: placed on load).
    #[serde(default)]
    pub dram_placement: dram_placement::DramPlacement,
    pub tiles: Vec<ScheduledTile>,
    /// The analytic prediction; a simulator must not read it.
    pub predicted: Report,
}

fn paper_eviction() -> Eviction {
    Eviction::Paper
}

impl Schedule {
    /// Why the objects do not fit the timing model's device, if they do not.
    pub fn dram_capacity_problem(&self) -> Option<String> {
        let t = self.accelerator.dram.timed()?;
        let needs = self
            .dram_placement
            .end_bytes(&self.objects, self.dram_stores_compressed());
        (needs > t.capacity_bytes()).then(|| {
            format!(
                "the data objects need {} of DRAM, the {} device holds {}",
                crate::model::units::human_bits(needs.saturating_mul(8)),
                t.standard,
                crate::model::units::human_bits(t.capacity_bytes().saturating_mul(8))
            )
        })
    }

    /// The DRAM stores features compressed (their regions are twice their dense size).
    pub fn dram_stores_compressed(&self) -> bool {
        !self.accelerator.dram.feature_format.is_dense()
    }

    pub fn save(&self, path: &Path) -> Result<(), crate::output::OutputError> {
        let mut file = crate::output::AtomicFile::create(path)?;
        serde_json::to_writer(&mut file, self).map_err(|e| crate::output::OutputError {
            path: path.to_path_buf(),
            error: e.into(),
        })?;
        file.commit()
    }

    /// Loads a saved schedule and checks that it is self-consistent: its schema
    /// version, and that every tile, object, layer, core and extent it references
    /// exists and no two live allocations overlap.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ModelError::single(&origin, Problem::new("file", format!("cannot read: {e}")))
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            ModelError::single(
                &origin,
                Problem::new("schedule", format!("not JSON: {e}")).at_line(e.line()),
            )
        })?;
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version.is_none() {
            // Say what the file is instead, when it is something stems writes.
            let looks_like = if value.get("dram_bits").is_some() && value.get("energy_pj").is_some()
            {
                "figures (a report, or a saved trace's *.expected.json), not a saved schedule: replay the *.schedule.json beside it"
            } else if value.get("predicted").is_some() && value.get("tiles").is_none() {
                "a report, not a saved schedule"
            } else {
                "not a saved schedule (no schema_version): write one with `stems evaluate --save-schedule FILE`"
            };
            return Err(ModelError::single(
                &origin,
                Problem::new("schedule", format!("this file holds {looks_like}"))
                    .field("schema_version"),
            ));
        }
        if version != Some(SCHEMA_VERSION as u64) {
            return Err(ModelError::single(
                &origin,
                Problem::new(
                    "schedule",
                    format!(
                        "schema version {} is not supported (this stems reads version {SCHEMA_VERSION}); re-create the schedule with `stems evaluate --save-schedule`",
                        version.map_or("missing".to_string(), |v| v.to_string())
                    ),
                )
                .field("schema_version"),
            ));
        }
        // Deserialized again from the text, for the failing value's path and position.
        drop(value);
        let mut de = serde_json::Deserializer::from_str(&text);
        let schedule: Schedule = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ModelError::single(
                &origin,
                Problem::new("schedule", format!("malformed: {inner}"))
                    .field(path)
                    .at_line(inner.line()),
            )
        })?;
        let mut schedule = schedule;
        if schedule.dram_placement.base.is_empty() {
            schedule.dram_placement = dram_placement::DramPlacement::of(
                &schedule.objects,
                schedule.dram_stores_compressed(),
            );
        }
        let problems = schedule.check();
        if problems.is_empty() {
            Ok(schedule)
        } else {
            Err(ModelError { origin, problems })
        }
    }
}
