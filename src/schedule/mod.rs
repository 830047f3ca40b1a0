//! The inter-layer scheduling stage and its product, the [`Schedule`]: the contract
//! between the analytic front-end and the simulator.
//!
//! A schedule holds everything a simulator needs to replay it — the resolved models,
//! every tile with its loop nest and memory boundaries, every transfer (which data,
//! from where to where, how many bits, why) and every allocation and free in each
//! core's global SRAM, in order — and the analytic prediction, which a simulator must
//! not read: it recomputes traffic by walking the tiles itself.

pub mod memory;
pub mod scheduler;
pub mod spec;

pub use memory::{Extent, Scratchpad};
pub use scheduler::{Allocation, Eviction, ScheduleError, SchedulerOptions, predict, schedule};
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
    pub tiles: Vec<ScheduledTile>,
    /// The analytic prediction; a simulator must not read it.
    pub predicted: Report,
}

fn paper_eviction() -> Eviction {
    Eviction::Paper
}

impl Schedule {
    pub fn save(&self, path: &Path) -> Result<(), crate::report::output::OutputError> {
        let mut file = crate::report::output::AtomicFile::create(path)?;
        serde_json::to_writer(&mut file, self).map_err(|e| crate::report::output::OutputError {
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
        let problems = schedule.check();
        if problems.is_empty() {
            Ok(schedule)
        } else {
            Err(ModelError { origin, problems })
        }
    }

    /// Every reference the schedule makes, checked.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = self.workload.check();
        problems.extend(self.accelerator.check());
        if !problems.is_empty() {
            return problems;
        }
        let nl = self.workload.layers.len();
        let nc = self.accelerator.cores.len();
        let no = self.objects.len();
        let nt = self.tiles.len();
        if self.cuts.len() != self.workload.num_blocks {
            problems.push(
                Problem::new(
                    "schedule",
                    format!(
                        "{} cuts for {} blocks",
                        self.cuts.len(),
                        self.workload.num_blocks
                    ),
                )
                .field("cuts"),
            );
        }
        // Per core: (start, len, occupant); `None` is a staging area.
        problems.extend(self.check_objects());
        if let Some(b) = self
            .stateless_blocks
            .iter()
            .find(|&&b| b >= self.workload.num_blocks)
        {
            problems.push(
                Problem::new("schedule", format!("stateless block {b} does not exist"))
                    .field("stateless_blocks"),
            );
        }
        for (b, cut) in self.cuts.iter().enumerate() {
            let tb = cut.time_batch(self.workload.timesteps);
            let lines_ok = match cut.space {
                SpaceCut::LayerByLayer => true,
                SpaceCut::Fused { lines } => lines >= 1,
            };
            if tb == 0 || tb > self.workload.timesteps || !lines_ok {
                problems.push(
                    Problem::new(
                        format!("cut of block {b}"),
                        format!("'{cut}' is not a valid cut"),
                    )
                    .field("cuts"),
                );
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        let mut live: Vec<Vec<(u64, u64, Option<ObjectId>)>> = vec![Vec::new(); nc];
        for (i, st) in self.tiles.iter().enumerate() {
            let el = format!("tile {i}");
            let t = &st.tile;
            if t.id != i {
                problems.push(Problem::new(&el, format!("has id {}", t.id)).field("id"));
            }
            if t.layer >= nl {
                problems.push(
                    Problem::new(&el, format!("references layer {} of {nl}", t.layer))
                        .field("layer"),
                );
                continue;
            }
            if t.core >= nc {
                problems.push(
                    Problem::new(&el, format!("references core {} of {nc}", t.core)).field("core"),
                );
                continue;
            }
            let layer = &self.workload.layers[t.layer];
            let core = &self.accelerator.cores[t.core];
            if !core.runs(layer.op) {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "runs {} ({}) on {}, which does not run {}",
                            layer.name,
                            layer.op.name(),
                            core.name,
                            layer.op.name()
                        ),
                    )
                    .field("core"),
                );
            }
            if t.block != layer.block {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "is in block {}, but layer '{}' is in block {}",
                            t.block, layer.name, layer.block
                        ),
                    )
                    .field("block"),
                );
            }
            let capacity = self.accelerator.cores[t.core].global_sram().size_bits;
            if st.stream_budget_bits > capacity {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "streams through {} bits of a {capacity}-bit SRAM",
                            st.stream_budget_bits
                        ),
                    )
                    .field("stream_budget_bits"),
                );
            }
            if let Some(b) = st
                .boundaries
                .iter()
                .find(|b| b.loops_below > st.loop_nest.len())
            {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "a boundary lies below {} loops of a {}-loop nest",
                            b.loops_below,
                            st.loop_nest.len()
                        ),
                    )
                    .field("boundaries"),
                );
            }
            let r = &t.region;
            let in_range = r.t.start < r.t.end
                && r.t.end <= self.workload.timesteps
                && r.k.start < r.k.end
                && r.k.end <= layer.dims.k
                && r.oy.start < r.oy.end
                && r.oy.end <= layer.dims.oy
                && r.ox.start < r.ox.end
                && r.ox.end <= layer.dims.ox;
            if !in_range {
                problems.push(
                    Problem::new(
                        &el,
                        format!("region {r:?} is empty or outside layer '{}'", layer.name),
                    )
                    .field("region"),
                );
                continue;
            }
            let n = st.loop_nest.len();
            let misplaced = st.reduction_loops > n
                || st.loop_nest.iter().enumerate().any(|(i, l)| {
                    l.size == 0 || (i >= n - st.reduction_loops) != l.dim.is_reduction()
                });
            if misplaced {
                problems.push(
                    Problem::new(&el, "malformed loop nest: the reduction loops (C, FY, FX) must be exactly the innermost `reduction_loops`, sizes positive")
                        .field("loop_nest"),
                );
                continue;
            }
            let core = &self.accelerator.cores[t.core];
            let shape = crate::tiling::CtShape::new(&self.workload, layer, r);
            let u = st.unroll.unwrap_or_else(|| core.pe_array.unroll());
            if !core.pe_array.unrollings().contains(&u) {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "unrolls K {} × C {} × OY {} × OX {}, which core {}'s array does not allow",
                            u.k, u.c, u.oy, u.ox, core.name
                        ),
                    )
                    .field("unroll"),
                );
                continue;
            }
            let expected = [
                (crate::mapping::Dim::K, shape.k.div_ceil(u.k)),
                (crate::mapping::Dim::C, shape.c.div_ceil(u.c)),
                (crate::mapping::Dim::OY, shape.oy.div_ceil(u.oy)),
                (crate::mapping::Dim::OX, shape.ox.div_ceil(u.ox)),
                (crate::mapping::Dim::FY, shape.fy),
                (crate::mapping::Dim::FX, shape.fx),
                (crate::mapping::Dim::T, shape.t),
            ];
            let sizes = crate::mapping::nest::dim_products(&st.loop_nest);
            if let Some((d, n)) = expected.iter().find(|(d, n)| sizes[d.index()] != *n) {
                problems.push(
                    Problem::new(
                        &el,
                        format!(
                            "loop nest iterates {d} {} times, the tile needs {n}",
                            sizes[d.index()]
                        ),
                    )
                    .field("loop_nest"),
                );
            }
            let mems: Vec<&str> = self.accelerator.cores[t.core]
                .memories
                .iter()
                .map(|m| m.name.as_str())
                .chain(["pe", "dram"])
                .collect();
            for b in &st.boundaries {
                if !mems.contains(&b.level.as_str()) {
                    problems.push(
                        Problem::new(
                            &el,
                            format!(
                                "boundary names memory '{}', which core {} does not have",
                                b.level, t.core
                            ),
                        )
                        .field("boundaries"),
                    );
                }
            }
            for d in &t.deps {
                if *d >= i {
                    problems.push(
                        Problem::new(
                            &el,
                            format!("depends on tile {d}, which does not run before it"),
                        )
                        .field("deps"),
                    );
                }
            }
            let objs = t
                .inputs
                .iter()
                .chain(t.weights.iter())
                .chain(std::iter::once(&t.output))
                .chain(t.state.iter());
            for o in objs {
                if *o >= no {
                    problems.push(
                        Problem::new(&el, format!("references object {o} of {no}"))
                            .field("objects"),
                    );
                }
            }
            for a in st.before.iter().chain(st.after.iter()) {
                match a {
                    Action::Alloc {
                        core,
                        object,
                        extents,
                    } => {
                        if *object >= no {
                            problems.push(
                                Problem::new(&el, format!("allocates object {object} of {no}"))
                                    .field("object"),
                            );
                            continue;
                        }
                        if self.check_extents(*core, extents, &el, &mut problems) {
                            occupy(
                                &mut live[*core],
                                *core,
                                extents,
                                Some(*object),
                                &el,
                                &mut problems,
                            );
                        }
                    }
                    Action::Stage { core, extents } => {
                        if self.check_extents(*core, extents, &el, &mut problems) {
                            occupy(&mut live[*core], *core, extents, None, &el, &mut problems);
                        }
                    }
                    Action::Free {
                        core,
                        object,
                        extents,
                    } => {
                        if self.check_extents(*core, extents, &el, &mut problems) {
                            vacate(
                                &mut live[*core],
                                *core,
                                extents,
                                Some(*object),
                                &el,
                                &mut problems,
                            );
                        }
                    }
                    Action::Unstage { core, extents } => {
                        if self.check_extents(*core, extents, &el, &mut problems) {
                            vacate(&mut live[*core], *core, extents, None, &el, &mut problems);
                        }
                    }
                    Action::Transfer(tr) => {
                        if tr.object >= no {
                            problems.push(
                                Problem::new(
                                    &el,
                                    format!("transfer of object {} of {no}", tr.object),
                                )
                                .field("object"),
                            );
                        }
                        for loc in [tr.from, tr.to] {
                            if let Location::Sram { core } = loc
                                && core >= nc
                            {
                                problems.push(
                                    Problem::new(
                                        &el,
                                        format!("transfer names core {core} of {nc}"),
                                    )
                                    .field("to"),
                                );
                            }
                        }
                    }
                }
            }
        }
        if nt == 0 {
            problems.push(Problem::new("schedule", "has no tiles").field("tiles"));
        }
        if problems.is_empty() {
            problems.extend(crate::tiling::coverage::problems(
                &self.workload,
                self.tiles.iter().map(|t| (t.tile.layer, &t.tile.region)),
            ));
        }
        problems
    }

    /// Every object describes data of the workload and names tiles that exist.
    fn check_objects(&self) -> Vec<Problem> {
        let nl = self.workload.layers.len();
        let nt = self.tiles.len();
        let mut problems = Vec::new();
        for (i, o) in self.objects.iter().enumerate() {
            let el = format!("object {i}");
            let layer = match &o.kind {
                crate::tiling::graph::ObjectKind::Weights { layer }
                | crate::tiling::graph::ObjectKind::State { layer, .. } => Some(*layer),
                crate::tiling::graph::ObjectKind::Features { layer, .. } => *layer,
            };
            if o.id != i {
                problems.push(Problem::new(&el, format!("has id {}", o.id)).field("id"));
            }
            if layer.is_some_and(|l| l >= nl) {
                problems.push(
                    Problem::new(
                        &el,
                        format!("describes layer {} of {nl}", layer.unwrap_or(0)),
                    )
                    .field("kind"),
                );
            }
            if let Some(r) = o
                .readers
                .iter()
                .chain(o.producer.iter())
                .find(|&&r| r >= nt)
            {
                problems
                    .push(Problem::new(&el, format!("names tile {r} of {nt}")).field("readers"));
            }
            if o.bits == 0
                || o.bits
                    > crate::model::limits::MAX_LAYER_BITS * crate::model::limits::MAX_TIMESTEPS
            {
                problems.push(Problem::new(&el, format!("holds {} bits", o.bits)).field("bits"));
            }
        }
        problems
    }

    fn check_extents(
        &self,
        core: usize,
        extents: &[Extent],
        el: &str,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let Some(c) = self.accelerator.cores.get(core) else {
            problems.push(
                Problem::new(el, format!("names core {core}, which does not exist")).field("core"),
            );
            return false;
        };
        let cap = c.global_sram().size_bits;
        let mut ok = true;
        for e in extents {
            if e.end() > cap {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "extent {}..{} lies outside core {core}'s {cap}-bit global SRAM",
                            e.start,
                            e.start as u128 + e.len as u128
                        ),
                    )
                    .field("extents"),
                );
                ok = false;
            }
        }
        ok
    }
}

fn occupant_name(o: Option<ObjectId>) -> String {
    match o {
        Some(o) => format!("object {o}"),
        None => "a staging area".to_string(),
    }
}

/// Records `extents` as held by `occupant`, reporting overlaps with live data.
fn occupy(
    live: &mut Vec<(u64, u64, Option<ObjectId>)>,
    core: usize,
    extents: &[Extent],
    occupant: Option<ObjectId>,
    el: &str,
    problems: &mut Vec<Problem>,
) {
    for e in extents {
        if let Some(&(_, _, other)) = live
            .iter()
            .find(|(s, l, _)| e.start < s + l && *s < e.end())
        {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "allocation of {} at {}..{} on core {core} overlaps {}",
                        occupant_name(occupant),
                        e.start,
                        e.end(),
                        occupant_name(other)
                    ),
                )
                .field("extents"),
            );
        }
        live.push((e.start, e.len, occupant));
    }
}

/// Releases `extents` held by `occupant`, reporting ranges it does not hold.
fn vacate(
    live: &mut Vec<(u64, u64, Option<ObjectId>)>,
    core: usize,
    extents: &[Extent],
    occupant: Option<ObjectId>,
    el: &str,
    problems: &mut Vec<Problem>,
) {
    for e in extents {
        match live
            .iter()
            .position(|&(s, l, o)| s == e.start && l == e.len && o == occupant)
        {
            Some(p) => {
                live.swap_remove(p);
            }
            None => problems.push(
                Problem::new(
                    el,
                    format!(
                        "frees {}..{} of {} on core {core}, which is not allocated there",
                        e.start,
                        e.end(),
                        occupant_name(occupant)
                    ),
                )
                .field("extents"),
            ),
        }
    }
}
