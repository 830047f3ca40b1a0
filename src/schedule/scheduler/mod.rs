//! The inter-layer scheduler: walks the tile graph in order, keeps each core's global
//! SRAM as a scratchpad (memory manager), serialises DRAM transfers on the single DRAM
//! port and inter-core moves on the mesh (communication manager), maps every tile, and
//! records all of it as a [`Schedule`].
//!
//! Memory manager. Before a tile runs, its weights, input feature chunks (with halo)
//! and state chunk (unless it starts at timestep 0) must be resident in its core's
//! global SRAM, and room is reserved for its output chunk and the state chunk it leaves
//! for the next timestep group. Weights and the network input start in DRAM; network
//! outputs end there. When space runs out, resident data the tile does not need is
//! evicted: clean data (weights, data with a valid DRAM copy) is dropped, live data
//! is spilled to DRAM and reloaded when needed. Which goes first depends on the
//! [`Eviction`] policy: the paper's rule (fewest future uses, then the one needed
//! latest, then the largest) or the cost rule (DRAM energy per bit freed, discounted
//! by how far away the next use is, then Belady). A tile whose data cannot fit even
//! alone streams from DRAM: the paper packs its operands into the SRAM smallest
//! first; the cost rule tries every split and keeps the cheapest, counting the
//! traffic the split causes outside the tile. The report lists streaming tiles.
//!
//! Timing. A tile starts when its core is free, its dependencies have finished and its
//! transfers are done. DRAM transfers take the port one at a time (bits / bandwidth,
//! plus the read/write turnaround) and complete after the access latency, which
//! overlaps the next transfer; a streaming tile takes its share of the bus throughout
//! its run, and slows where the bus has less room (`streams.rs`). With prefetch on, a
//! tile's transfers may start when the previous tile on its core starts, using only
//! space that tile does not hold (double buffering); when that space is not there, the
//! transfers wait for it to finish.

mod bounds;
mod lookahead;
mod ports;
mod prefix;
mod residency;
mod resident;
mod streams;
mod tile_costs;
mod vacancy;
mod walk;

use super::memory::{Extent, Scratchpad};
use super::spec::{ScheduleSpec, SpecError};
use super::{
    Action, Location, Reason, SCHEMA_VERSION, Schedule, ScheduledTile, TilePrediction, Transfer,
};
use crate::cost::{
    Component, CostSoFar, Incidents, Ledger, Report, ReportHeader, ReportTiming, Spend, StallCause,
    TileSpend,
};
use crate::mapping::{MapKey, Mapper, Mapping, NoMapping, Objective, Residency};
use crate::model::limits::MAX_TILES;
use crate::model::{Accelerator, Noc, Operand, Workload};
use crate::tiling::CtShape;
use crate::tiling::graph::{BuildRecord, DataClass, ObjectId, TileGraph, TileId};
use ports::{Flow, Ports};
use residency::fused_stacks;
use resident::ResidentSet;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use vacancy::Vacancies;

/// A tile's handful of objects, kept off the heap (the scheduler builds several such
/// lists per tile).
type Objects = SmallVec<[ObjectId; 8]>;
pub use prefix::PrefixCache;
use std::sync::Arc;
use walk::Walk;

/// Layer → core assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub core_of_layer: Vec<usize>,
}

impl Allocation {
    pub fn single_core(workload: &Workload) -> Self {
        Self {
            core_of_layer: vec![0; workload.layers.len()],
        }
    }

    /// Every layer on the first core that runs its operator (the first core, when it
    /// runs them all); a layer no core runs stays on core 0, for `check` to refuse.
    pub fn first_able(workload: &Workload, acc: &Accelerator) -> Self {
        Self {
            core_of_layer: workload
                .layers
                .iter()
                .map(|l| acc.cores.iter().position(|c| c.runs(l.op)).unwrap_or(0))
                .collect(),
        }
    }

    /// `LAYER=CORE` or `block:N=CORE` entries, comma-separated; unlisted layers stay on
    /// the first core that runs them. A layer's own entry wins over its block's, in any
    /// order; one layer or block given two cores is refused, naming both entries.
    pub fn parse(
        spec: &str,
        workload: &Workload,
        acc: &Accelerator,
    ) -> Result<Self, ScheduleError> {
        let mut a = Self::first_able(workload, acc);
        let entries: Vec<(&str, Vec<usize>, usize)> = spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| Self::entry(e, workload, acc).map(|(layers, core)| (e, layers, core)))
            .collect::<Result<_, _>>()?;
        // Blocks first, then layers, so that a layer's entry overrides its block's.
        let by_block = |e: &&(&str, Vec<usize>, usize)| e.0.trim_start().starts_with("block:");
        let ordered = entries
            .iter()
            .filter(by_block)
            .chain(entries.iter().filter(|e| !by_block(e)));
        let mut set_by: Vec<Option<(&str, bool)>> = vec![None; workload.layers.len()];
        for e in ordered {
            let (entry, layers, core) = (e.0, &e.1, e.2);
            for &l in layers {
                if let Some((earlier, was_block)) = set_by[l]
                    && was_block == by_block(&e)
                    && a.core_of_layer[l] != core
                {
                    return Err(ScheduleError::Allocation(format!(
                        "entries '{earlier}' and '{entry}' put {} on two cores",
                        workload.layers[l].name
                    )));
                }
                a.core_of_layer[l] = core;
                set_by[l] = Some((entry, by_block(&e)));
            }
        }
        a.check(workload, acc)?;
        Ok(a)
    }

    /// One `LAYER=CORE` or `block:N=CORE` entry: the layers it places and the core.
    fn entry(
        entry: &str,
        workload: &Workload,
        acc: &Accelerator,
    ) -> Result<(Vec<usize>, usize), ScheduleError> {
        let bad = |m: String| ScheduleError::Allocation(format!("entry '{entry}': {m}"));
        let (what, core_name) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected LAYER=CORE or block:N=CORE".into()))?;
        let core = acc
            .core_by_name(core_name.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = acc.cores.iter().map(|c| c.name.as_str()).collect();
                bad(format!(
                    "no core '{}' (cores: {})",
                    core_name.trim(),
                    names.join(", ")
                ))
            })?
            .id;
        let layers = if let Some(block) = what.trim().strip_prefix("block:") {
            let b: usize = block
                .parse()
                .map_err(|_| bad(format!("'{block}' is not a block number")))?;
            if b >= workload.num_blocks {
                return Err(bad(format!(
                    "block {b} does not exist (0..{})",
                    workload.num_blocks
                )));
            }
            workload.block_layers(b).map(|l| l.id).collect()
        } else {
            let l = workload
                .layer_by_name(what.trim())
                .ok_or_else(|| bad(format!("no layer '{}'", what.trim())))?;
            vec![l.id]
        };
        Ok((layers, core))
    }

    /// Every layer on a core that exists and runs its operator.
    pub fn check(&self, workload: &Workload, acc: &Accelerator) -> Result<(), ScheduleError> {
        if self.core_of_layer.len() != workload.layers.len() {
            return Err(ScheduleError::Allocation(format!(
                "names {} layers; the workload has {}",
                self.core_of_layer.len(),
                workload.layers.len()
            )));
        }
        for (layer, &c) in workload.layers.iter().zip(&self.core_of_layer) {
            let core = acc.cores.get(c).ok_or_else(|| {
                ScheduleError::Allocation(format!(
                    "puts {} on core #{c}, which does not exist",
                    layer.name
                ))
            })?;
            if !core.runs(layer.op) {
                let ops: Vec<&str> = core.operators.iter().map(|o| o.name()).collect();
                return Err(ScheduleError::Allocation(format!(
                    "puts {} ({}) on {}, which runs only {}",
                    layer.name,
                    layer.op.name(),
                    core.name,
                    ops.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// As `--allocate` takes it: `block:N=CORE` for a block on one core, `LAYER=CORE`
    /// for the layers of a block split over cores.
    pub fn describe(&self, workload: &Workload, acc: &Accelerator) -> String {
        let mut entries = Vec::new();
        for b in 0..workload.num_blocks {
            let layers: Vec<usize> = workload.block_layers(b).map(|l| l.id).collect();
            let first = layers.first().map(|&l| self.core_of_layer[l]);
            match first {
                Some(c) if layers.iter().all(|&l| self.core_of_layer[l] == c) => {
                    entries.push(format!("block:{b}={}", acc.cores[c].name));
                }
                _ => entries.extend(layers.iter().map(|&l| {
                    format!(
                        "{}={}",
                        workload.layers[l].name, acc.cores[self.core_of_layer[l]].name
                    )
                })),
            }
        }
        entries.join(",")
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("layer-to-core allocation {0}")]
    Allocation(String),
    #[error("tile {tile} of layer '{layer}' cannot be mapped: {reason}")]
    Unmappable {
        tile: TileId,
        layer: String,
        reason: NoMapping,
    },
    #[error(
        "schedule '{spec}' cuts the network into {tiles} tiles (limit {limit}); batch more timesteps per tile or fuse more lines per tile"
    )]
    TooManyTiles {
        spec: String,
        tiles: u64,
        limit: u64,
    },
    #[error("schedule '{spec}' cannot run: {reason}")]
    IllegalCut { spec: String, reason: String },
    #[error("{0}")]
    DramTooSmall(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerOptions {
    /// Start a tile's transfers while the previous tile on its core computes.
    pub prefetch: bool,
    pub objective: Objective,
    pub eviction: Eviction,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            prefetch: true,
            objective: Objective::Energy,
            eviction: Eviction::default(),
        }
    }
}

/// Which resident object the memory manager evicts when a tile needs room.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Eviction {
    /// Price each candidate by the DRAM traffic its eviction causes per bit freed:
    /// nothing if never read again, a reload if DRAM (or another core) holds a valid
    /// copy, a write-back and a reload if it is the only copy. The price is divided by
    /// the number of tiles until the next use, so that a clean object needed by the
    /// next tile is not dropped to keep dirty state needed a timestep later; among
    /// equal prices, the one used farthest in the future (Belady). Tiles that cannot
    /// fit choose what to stream by cost (see the module documentation).
    #[default]
    Cost,
    /// The paper's rule: fewest future uses, then latest next use, then largest.
    Paper,
}

impl std::str::FromStr for Eviction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cost" => Ok(Eviction::Cost),
            "paper" => Ok(Eviction::Paper),
            other => Err(format!(
                "'{other}' is not an eviction policy (cost or paper)"
            )),
        }
    }
}

impl std::fmt::Display for Eviction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Eviction::Cost => "cost",
            Eviction::Paper => "paper",
        })
    }
}

/// What the memory manager knows about one data object.
#[derive(Debug, Default)]
struct ObjState {
    /// SRAM copies: (core, extents).
    copies: SmallVec<[(usize, Vec<Extent>); 1]>,
    /// DRAM holds a valid copy.
    in_dram: bool,
    /// Ever been in the SRAM (a second fetch from DRAM is a reload).
    fetched: bool,
    /// Written to DRAM by a spill (its next fetch is a reload).
    spilled: bool,
    /// Reads still to come.
    remaining: usize,
    /// The tile that reads it next (`TileId::MAX` when none will): kept with
    /// `remaining` ([`ObjState::read`]), as making room asks it of every resident.
    next_use: TileId,
    /// When the latest copy is ready.
    ready_at: u64,
    /// The copy transfers read out of (core) and when the last of them has landed: the
    /// copy is freed no sooner (the hardware keeps it for reads scheduled before).
    read_out: (usize, u64),
    /// Under the cost rule, a fetched feature or state chunk stays until this tile, its
    /// last reader in the fetching tile's fused stack, is done (`None`: no such hold).
    held_until: Option<TileId>,
}

impl ObjState {
    /// An object read by `readers`, in schedule order.
    fn new(readers: &[TileId], in_dram: bool) -> Self {
        Self {
            in_dram,
            remaining: readers.len(),
            next_use: readers.first().copied().unwrap_or(TileId::MAX),
            ..Self::default()
        }
    }

    /// One read done (readers are consumed in schedule order).
    fn read(&mut self, readers: &[TileId]) {
        self.remaining = self.remaining.saturating_sub(1);
        self.next_use = match self.remaining {
            0 => TileId::MAX,
            left => readers[readers.len() - left],
        };
    }
}

/// By hand: checkpoints copy the state of every object of a prefix, most of them with
/// no copy left in the SRAM, and cloning an empty list of copies went through the
/// general path.
impl Clone for ObjState {
    fn clone(&self) -> Self {
        Self {
            copies: if self.copies.is_empty() {
                SmallVec::new()
            } else {
                self.copies.clone()
            },
            ..*self
        }
    }
}

/// The lane a free runs in, which says when its space is free in time.
#[derive(Debug, Clone, Copy)]
enum FreeIn {
    /// The lane being built: it waits at the free until the copy has been read out.
    Lane,
    /// The after lane of a tile that ended at this cycle: the space is free once the
    /// copy has been read out too (`vacancies`).
    AfterTile(u64),
    /// The head of the core's next tile's lane (`remote_frees`), which waits likewise.
    NextLane,
}

/// A tile's cost, summarised once per unique mapping.
#[derive(Debug, Clone)]
struct TileCost {
    mapping: Arc<Mapping>,
    energy_fj: [[f64; 4]; 5],
    dram_read: [u64; 3],
    dram_write: [u64; 3],
    /// The streamed DRAM traffic (read + written) by operand (W, I, O, V).
    dram_by_operand: [u64; 4],
    /// Link traffic of the streamed DRAM traffic (bits × hops).
    noc_bits: u64,
    /// Cycles inside the tile the array does not compute, by cause.
    stalls: [u64; StallCause::COUNT],
    /// How its passes (folds) fill local buffers from the global SRAM, W and I.
    fills: [lookahead::Fills; 2],
    /// Cycles its accesses to the global SRAM keep bank ports busy.
    sram_bank_cycles: u64,
}

impl TileCost {
    fn new(
        mapping: Arc<Mapping>,
        kind: crate::model::OpKind,
        acc: &Accelerator,
        core: usize,
    ) -> Self {
        let c = &acc.cores[core];
        let global = c.global_sram();
        let mut energy_fj = [[0f64; 4]; 5];
        let mut dram_read = [0u64; 3];
        let mut dram_write = [0u64; 3];
        let mut dram_by_operand = [0u64; 4];
        let mut sram_bank_cycles = 0;
        for op in Operand::ALL {
            let Some(levels) = mapping.accesses.get(op.name()) else {
                continue;
            };
            let class = DataClass::of(kind, op);
            for (level, rw) in levels {
                if level == &global.name {
                    sram_bank_cycles += global.port_cycles(rw.read_bits, false)
                        + global.port_cycles(rw.write_bits, true);
                }
                let (component, re, we) = if level == "pe" {
                    let e = c.pe_array.register_energy_fj_per_bit;
                    (Component::Pe, e, e)
                } else if level == "dram" {
                    dram_read[class.index()] += rw.read_bits;
                    dram_write[class.index()] += rw.write_bits;
                    dram_by_operand[op.index()] += rw.read_bits + rw.write_bits;
                    (
                        Component::Dram,
                        acc.dram.energy_fj_per_bit(false),
                        acc.dram.energy_fj_per_bit(true),
                    )
                } else {
                    let m = c.memories.iter().find(|m| &m.name == level);
                    let component = if level == &global.name {
                        Component::GlobalSram
                    } else {
                        Component::LocalBuffers
                    };
                    (
                        component,
                        m.map_or(0.0, |m| m.read_energy_fj_per_bit),
                        m.map_or(0.0, |m| m.write_energy_fj_per_bit),
                    )
                };
                energy_fj[component as usize][class.index()] +=
                    rw.read_bits as f64 * re + rw.write_bits as f64 * we;
            }
        }
        energy_fj[Component::Pe as usize][3] += mapping.energy_pj.compute * 1000.0;
        // Streamed DRAM traffic crosses the mesh between the DRAM's node and the core's.
        let hops = Noc::hops(acc.dram.position, c.position);
        let mut noc_bits = 0;
        for class in 0..3 {
            let bits = (dram_read[class] + dram_write[class]) * hops;
            energy_fj[Component::Noc as usize][class] +=
                bits as f64 * acc.noc.energy_fj_per_bit_per_hop;
            noc_bits += bits;
        }
        let fills = [Operand::W, Operand::I].map(|op| buffer_fills(&mapping, c, op));
        Self {
            noc_bits,
            stalls: in_tile_stalls(&mapping, &global.name),
            fills,
            sram_bank_cycles,
            mapping,
            energy_fj,
            dram_read,
            dram_write,
            dram_by_operand,
        }
    }
}

/// How a mapping's passes fill `op`'s local buffer from the global SRAM: its buffer
/// tile every so many passes, or, when a pass reads more than the buffer holds, what a
/// pass reads on every pass (the buffer refilled piece by piece within it).
fn buffer_fills(m: &Mapping, core: &crate::model::Core, op: Operand) -> lookahead::Fills {
    let Some((_, buffer)) = core.local_buffer(op) else {
        return lookahead::Fills::default();
    };
    let read = m
        .accesses
        .get(op.name())
        .and_then(|levels| levels.get(&core.global_sram().name))
        .map_or(0, |rw| rw.read_bits);
    let folds = m.cycles.folds.max(1);
    let tile = m
        .boundaries
        .iter()
        .find(|b| b.operand == op && b.level == buffer.name)
        .map_or(0, |b| b.tile_bits);
    let per_pass = read / folds;
    if tile == 0 || per_pass >= tile {
        return lookahead::Fills {
            bits: per_pass,
            every: 1,
        };
    }
    lookahead::Fills {
        bits: tile,
        every: (folds / (read / tile).max(1)).max(1),
    }
}

/// The mapping's stall cycles by cause: the slowest level's excess over the cycles
/// the array is occupied (DRAM: the port; the global SRAM: its bank ports; a local buffer: its
/// bandwidth), the prologue before the first pass (from DRAM when an input streams,
/// otherwise the buffers' fill, and the bank port its fills queue for), and
/// fill/drain.
fn in_tile_stalls(m: &Mapping, global: &str) -> [u64; StallCause::COUNT] {
    let mut stalls = [0u64; StallCause::COUNT];
    let c = &m.cycles;
    stalls[StallCause::FillDrain.index()] = c.fill_drain + c.drain_bound;
    stalls[StallCause::LaneImbalance.index()] = c.lane_imbalance;
    let slowest = c.levels.iter().max_by_key(|l| l.cycles);
    let array = c.compute + c.fill_drain + c.drain_bound;
    let steady = slowest.map_or(0, |l| l.cycles.saturating_sub(array));
    if let Some(l) = slowest.filter(|_| steady > 0) {
        let cause = if l.level == "dram" {
            StallCause::DramPort
        } else if l.level == global {
            StallCause::BankConflict
        } else {
            StallCause::LocalBufferBandwidth
        };
        stalls[cause.index()] += steady;
    }
    // The first fills waiting for one bank port, as the simulator names it.
    stalls[StallCause::BankConflict.index()] += c.prologue_bank_wait;
    let prologue = c.stall.saturating_sub(steady + c.prologue_bank_wait);
    let from_dram = m
        .streamed
        .iter()
        .any(|op| matches!(op, Operand::W | Operand::I | Operand::V));
    let cause = if from_dram {
        StallCause::DramPort
    } else {
        StallCause::LocalBufferBandwidth
    };
    stalls[cause.index()] += prologue;
    stalls
}

struct Engine<'a> {
    workload: &'a Workload,
    acc: &'a Accelerator,
    graph: &'a TileGraph,
    pads: Vec<Scratchpad>,
    resident: Vec<ResidentSet>,
    objs: Vec<ObjState>,
    ledger: Ledger,
    /// What the tile being placed spends so far: the per-tile side of `ledger`.
    spend: TileSpend,
    /// The DRAM port and NoC links, booked by transfers.
    ports: Ports,
    incidents: Incidents,
    /// Per object: [spills, bits spilled, reloads after a spill, their bits]; named in
    /// `incidents` at the end, so that the hot loop does not build names.
    spills: Vec<[u64; 4]>,
    /// Scratch for `make_room`: each candidate victim with its eviction key.
    eviction_order: Vec<(u64, ObjectId)>,
    /// Scratch for `make_room`: per object, whether the tile pins it (all false
    /// between calls).
    pinned_mark: Vec<bool>,
    /// Emptied extent lists for reuse: without recording, a freed copy's list would
    /// go back to the allocator only for the next allocation to ask for another.
    spare_extents: Vec<Vec<Extent>>,
    /// Shared, not copied, by the tiles that map alike: a cost is a few hundred bytes.
    costs: tile_costs::TileCosts,
    /// Per core: frees of copies whose last reader ran on another core.
    remote_frees: Vec<Vec<Action>>,
    /// Per core: when the copies of `remote_frees` have been read out, so that its next
    /// tile's lane, which frees them first, may go on.
    remote_free_at: Vec<u64>,
    /// Per core: space its lanes free later than the scratchpad does.
    vacancies: Vec<Vacancies>,
    eviction: Eviction,
    /// The tile being placed.
    now: TileId,
    /// When the lane of actions being built may start its next transfer: a lane runs
    /// its actions in order and frees a spilled copy only once the spill is written.
    lane_free: u64,
    /// Keep allocations, frees and staging as actions (a recorded Schedule needs them;
    /// a prediction needs only the transfers, for timing).
    record_actions: bool,
    /// Per block: the first block of the run of layer-fused blocks it belongs to
    /// (its fused stack), `None` for a layer-by-layer block.
    stack_of_block: Vec<Option<usize>>,
    /// Some place (the DRAM, a core's global SRAM) stores features compressed.
    compressed: bool,
    /// Per tensor, whether a matmul reads it (`Workload::attention_tensors`).
    attention_tensors: Vec<bool>,
}

/// What one tile needs, by operand.
struct Needs<'g> {
    weights: &'g [ObjectId],
    inputs: &'g [ObjectId],
    state: Option<ObjectId>,
    output: ObjectId,
    sizes: [u64; 4],
}

impl<'g> Needs<'g> {
    /// What tile `tile` of `graph` needs.
    fn of(graph: &'g TileGraph, tile: TileId) -> Self {
        let t = &graph.tiles[tile];
        let bits = |o: ObjectId| graph.objects[o].bits;
        let state = t.state.filter(|_| t.reads_state || t.writes_state);
        Needs {
            weights: &t.weights,
            inputs: &t.inputs,
            state,
            output: t.output,
            sizes: [
                t.weights.iter().map(|&o| bits(o)).sum(),
                t.inputs.iter().map(|&o| bits(o)).sum(),
                bits(t.output),
                state.map_or(0, bits),
            ],
        }
    }

    /// Whether `o` is one of the tile's operands.
    fn holds(&self, o: ObjectId) -> bool {
        self.weights.contains(&o)
            || self.state == Some(o)
            || self.output == o
            || self.inputs.contains(&o)
    }
}

impl<'a> Engine<'a> {
    fn needs(&self, tile: TileId) -> Needs<'a> {
        Needs::of(self.graph, tile)
    }

    fn required(n: &Needs) -> Objects {
        let mut v: Objects = n
            .weights
            .iter()
            .chain(n.state.iter())
            .chain(n.inputs.iter())
            .chain(std::iter::once(&n.output))
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The next tile that reads `o`.
    fn next_use(&self, o: ObjectId) -> TileId {
        self.objs[o].next_use
    }

    fn is_resident(&self, o: ObjectId, core: usize) -> bool {
        self.objs[o].copies.iter().any(|(c, _)| *c == core)
    }

    /// `bits` of `class` over the mesh between two nodes (nothing when they are the
    /// same): link time, and energy and traffic per hop.
    fn over_noc(
        &mut self,
        class: DataClass,
        (from, to): ([u32; 2], [u32; 2]),
        bits: u64,
        upstream: Flow,
    ) -> Flow {
        let hops = Noc::hops(from, to);
        if hops == 0 {
            return upstream;
        }
        let noc = &self.acc.noc;
        self.ledger.energy(
            Component::Noc,
            Spend::Data(class),
            (bits * hops) as f64 * noc.energy_fj_per_bit_per_hop,
        );
        self.ledger.noc_bits += bits * hops;
        self.spend.energy(
            Component::Noc,
            (bits * hops) as f64 * noc.energy_fj_per_bit_per_hop,
        );
        self.spend.noc_bits += bits * hops;
        self.ports.noc(noc, (from, to), bits, upstream)
    }

    /// Whether object `o` holds attention operands (a chunk of a tensor a matmul reads).
    fn attention_object(&self, o: ObjectId) -> bool {
        self.graph.objects[o]
            .feature_tensor()
            .is_some_and(|(s, _)| {
                crate::model::attention::is_attention_tensor(&self.attention_tensors, s)
            })
    }

    /// Books `bits` moved in (`write`) or out of `core`'s global SRAM on its bank
    /// ports' occupancy.
    fn occupy_sram(&mut self, core: usize, bits: u64, write: bool) {
        self.ports.occupancy.sram_transfer_cycles +=
            self.acc.cores[core].global_sram().port_cycles(bits, write);
    }

    /// Energy of `bits` read from (or written to) `core`'s global SRAM.
    fn sram_energy_fj(&self, core: usize, bits: u64, write: bool) -> f64 {
        let g = self.acc.cores[core].global_sram();
        bits as f64
            * if write {
                g.write_energy_fj_per_bit
            } else {
                g.read_energy_fj_per_bit
            }
    }

    /// Energy and traffic of an object between DRAM and `core`'s global SRAM: a DRAM
    /// read written into the SRAM, or (`to_dram`) an SRAM read written to DRAM. Each
    /// side moves the bits its own format takes (`dram_bits`, `sram_bits`).
    fn charge_dram(
        &mut self,
        (class, attention): (DataClass, bool),
        core: usize,
        (dram_bits, sram_bits): (u64, u64),
        to_dram: bool,
    ) {
        let d = &self.acc.dram;
        let (read, write) = if to_dram {
            (0, dram_bits)
        } else {
            (dram_bits, 0)
        };
        let dram_fj = d.energy_fj_per_bit(to_dram);
        self.ledger.dram_activates += d.activates_estimate(dram_bits);
        let sram = self.sram_energy_fj(core, sram_bits, !to_dram);
        self.occupy_sram(core, sram_bits, !to_dram);
        self.ledger
            .energy(Component::GlobalSram, Spend::Data(class), sram);
        self.ledger.energy(
            Component::Dram,
            Spend::Data(class),
            dram_bits as f64 * dram_fj,
        );
        self.ledger.dram(class, read, write);
        if attention {
            self.ledger.dram_attention_bits += read + write;
        }
        self.spend.energy(Component::GlobalSram, sram);
        self.spend
            .energy(Component::Dram, dram_bits as f64 * dram_fj);
        self.spend.dram(read, write);
    }

    /// The bits object `o` takes at `place`: its size, or for features the expected
    /// size in the place's format at the tensor's density.
    fn stored_bits(&self, o: ObjectId, place: Location) -> u64 {
        if !self.compressed {
            return self.graph.objects[o].bits;
        }
        let format = match place {
            Location::Dram => self.acc.dram.feature_format,
            Location::Sram { core } => self.acc.cores[core].global_sram().feature_format,
        };
        let obj = &self.graph.objects[o];
        if format.is_dense() {
            return obj.bits;
        }
        crate::tiling::graph::expected_stored_bits(self.workload, obj, format)
    }

    fn transfer(
        &mut self,
        o: ObjectId,
        from: Location,
        to: Location,
        reason: Reason,
        earliest: u64,
    ) -> Transfer {
        let obj = &self.graph.objects[o];
        let bits = obj.bits;
        let class = obj.class;
        let attention = self.attention_object(o);
        let (read_bits, write_bits) = (self.stored_bits(o, from), self.stored_bits(o, to));
        let earliest = earliest.max(self.objs[o].ready_at).max(self.lane_free);
        let dram_at = self.acc.dram.position;
        let at = |core: usize| self.acc.cores[core].position;
        let now = Flow {
            start: earliest,
            end: earliest,
        };
        let read_out = |e: &Self, core: usize| e.read_out(o, core, read_bits, earliest);
        let flow = match (from, to) {
            (Location::Dram, Location::Sram { core }) => {
                self.charge_dram((class, attention), core, (read_bits, write_bits), false);
                let read = self.ports.dram(self.acc, read_bits, false, earliest);
                self.over_noc(class, (dram_at, at(core)), read_bits, read)
            }
            (Location::Sram { core }, Location::Dram) => {
                self.charge_dram((class, attention), core, (write_bits, read_bits), true);
                let read = read_out(self, core);
                let sent = self.over_noc(class, (at(core), dram_at), read_bits, read);
                let written = self.ports.dram(self.acc, write_bits, true, sent.start);
                Flow {
                    start: sent.start,
                    end: written.end.max(sent.end),
                }
            }
            (Location::Sram { core: a }, Location::Sram { core: b }) => {
                let e = self.sram_energy_fj(a, read_bits, false)
                    + self.sram_energy_fj(b, write_bits, true);
                self.occupy_sram(a, read_bits, false);
                self.occupy_sram(b, write_bits, true);
                self.ledger
                    .energy(Component::GlobalSram, Spend::Data(class), e);
                self.spend.energy(Component::GlobalSram, e);
                let read = read_out(self, a);
                self.over_noc(class, (at(a), at(b)), read_bits, read)
            }
            (Location::Dram, Location::Dram) => now,
        };
        let (start, mut end) = (flow.start, flow.end);
        if let Location::Sram { core } = to {
            // Landing data holds its banks' write ports as long as it flows in (a read
            // out of an SRAM holds a port only while the port moves it), and is in no
            // sooner than the ports of the banks it spans take it.
            let sram = self.acc.cores[core].global_sram();
            let bank = sram.write_bw_bits_per_bank;
            let held = end.max(start + write_bits.div_ceil(bank.max(1)));
            end = end.max(start + sram.landing_cycles(write_bits));
            self.ports.hold_sram(ports::SramHold {
                core,
                start,
                end: held,
                addr: self.start_of(o, core),
                bits: write_bits,
            });
        }
        self.objs[o].ready_at = self.objs[o].ready_at.max(end);
        if let Location::Sram { core } = from {
            let (c, until) = &mut self.objs[o].read_out;
            *until = if *c == core { (*until).max(end) } else { end };
            *c = core;
        }
        Transfer {
            object: o,
            from,
            to,
            bits,
            reason,
            predicted_start: start,
            predicted_end: end,
        }
    }

    /// Data read out of a core's SRAM flows at one bank port's rate (cut-through into
    /// the link, which it holds as long), once the running tile's first fills have
    /// left its banks.
    fn read_out(&self, o: ObjectId, core: usize, bits: u64, earliest: u64) -> Flow {
        let sram = self.acc.cores[core].global_sram();
        let at = (self.start_of(o, core), bits);
        let start = self
            .ports
            .bank_read_start(core, sram.bank_layout(), at, earliest);
        Flow {
            start,
            end: start + bits.div_ceil(sram.read_bw_bits_per_bank),
        }
    }

    /// Where `o`'s copy in `core`'s SRAM starts (0 when it has none): a transfer
    /// moves it from there on.
    fn start_of(&self, o: ObjectId, core: usize) -> u64 {
        self.extents_of(o, core).first().map_or(0, |e| e.start)
    }

    fn extents_of(&self, o: ObjectId, core: usize) -> &[Extent] {
        self.objs[o]
            .copies
            .iter()
            .find(|(c, _)| *c == core)
            .map_or(&[], |(_, extents)| extents.as_slice())
    }

    /// Frees `o`'s copy on `core` in `lane`. The lane frees it once the transfers out
    /// of it have landed (the hardware keeps a copy for the reads scheduled before its
    /// free), which other cores may issue late.
    fn free_copy(&mut self, o: ObjectId, core: usize, lane: FreeIn, actions: &mut Vec<Action>) {
        let Some(pos) = self.objs[o].copies.iter().position(|(c, _)| *c == core) else {
            return;
        };
        let (_, extents) = self.objs[o].copies.remove(pos);
        self.pads[core].free(self.graph.objects[o].bits, &extents);
        self.resident[core].remove(o);
        let read_out = match self.objs[o].read_out {
            (c, until) if c == core => until,
            _ => 0,
        };
        match lane {
            FreeIn::Lane => self.lane_free = self.lane_free.max(read_out),
            FreeIn::AfterTile(ended) if read_out > ended => {
                self.vacancies[core].free_at(&extents, read_out);
            }
            FreeIn::AfterTile(_) => {}
            FreeIn::NextLane => self.remote_free_at[core] = self.remote_free_at[core].max(read_out),
        }
        if self.record_actions {
            actions.push(Action::Free {
                core,
                object: o,
                extents,
            });
        } else {
            self.spare_extents.push(extents);
        }
    }

    /// Frees every copy: the one on `here` in `lane`. A copy on another core is freed
    /// by that core's own command stream, before its next tile (`remote_frees`).
    fn free_everywhere(
        &mut self,
        o: ObjectId,
        (here, lane): (usize, FreeIn),
        actions: &mut Vec<Action>,
    ) {
        let cores: SmallVec<[usize; 4]> = self.objs[o].copies.iter().map(|(c, _)| *c).collect();
        for c in cores {
            if c == here {
                self.free_copy(o, c, lane, actions);
            } else {
                let mut remote = Vec::new();
                self.free_copy(o, c, FreeIn::NextLane, &mut remote);
                self.remote_frees[c].extend(remote);
            }
        }
    }

    /// Evicts unpinned data from `core` until `bits` fit.
    fn make_room(
        &mut self,
        core: usize,
        bits: u64,
        pinned: &[ObjectId],
        earliest: u64,
        actions: &mut Vec<Action>,
    ) -> bool {
        if self.pads[core].free_bits() >= bits {
            return true;
        }
        // Ranks do not change while evicting: rank once, evict in order. Data held for
        // its fused stack goes only when nothing else can.
        let mut order = std::mem::take(&mut self.eviction_order);
        order.clear();
        // Marked, not searched for: every resident is checked.
        let mut pinned_mark = std::mem::take(&mut self.pinned_mark);
        for &o in pinned {
            pinned_mark[o] = true;
        }
        order.extend(
            self.resident[core]
                .iter()
                .filter(|&&o| !pinned_mark[o])
                .map(|&o| (self.eviction_key(o), o)),
        );
        for &o in pinned {
            pinned_mark[o] = false;
        }
        self.pinned_mark = pinned_mark;
        // Usually one or two victims suffice: take the least each time.
        while self.pads[core].free_bits() < bits {
            let Some(least) = self.least_evictable(&order) else {
                break;
            };
            let v = order.swap_remove(least).1;
            let st = &self.objs[v];
            let live = st.remaining > 0;
            let only_copy = !st.in_dram && st.copies.len() == 1;
            if live && only_copy {
                let t = self.transfer(
                    v,
                    Location::Sram { core },
                    Location::Dram,
                    Reason::Spill,
                    earliest,
                );
                self.spills[v][0] += 1;
                self.spills[v][1] += t.bits;
                actions.push(Action::Transfer(t));
                self.objs[v].in_dram = true;
                self.objs[v].spilled = true;
            }
            self.free_copy(v, core, FreeIn::Lane, actions);
        }
        self.eviction_order = order;
        self.pads[core].free_bits() >= bits
    }

    fn allocate(
        &mut self,
        o: ObjectId,
        core: usize,
        pinned: &[ObjectId],
        earliest: u64,
        actions: &mut Vec<Action>,
    ) {
        let bits = self.graph.objects[o].bits;
        let roomy = self.make_room(core, bits, pinned, earliest, actions);
        debug_assert!(roomy, "the resident set was checked to fit");
        if let Some(extents) = self.alloc_extents(core, bits) {
            if self.record_actions {
                actions.push(Action::Alloc {
                    core,
                    object: o,
                    extents: extents.clone(),
                });
            }
            self.objs[o].copies.push((core, extents));
            self.resident[core].insert(o);
        }
    }

    /// `bits` of `core`'s SRAM, in an extent list reused from a freed copy when there
    /// is one; `None` when they do not fit. The lane waits until the space is free in
    /// time too (`vacancies`).
    fn alloc_extents(&mut self, core: usize, bits: u64) -> Option<Vec<Extent>> {
        let mut extents = self.spare_extents.pop().unwrap_or_default();
        if self.pads[core].alloc_into(bits, &mut extents) {
            if !self.vacancies[core].is_empty() {
                let free = self.vacancies[core].free_from(&extents);
                self.lane_free = self.lane_free.max(free);
            }
            Some(extents)
        } else {
            self.spare_extents.push(extents);
            None
        }
    }

    /// Brings an object with data into `core`'s SRAM.
    fn fetch(
        &mut self,
        o: ObjectId,
        core: usize,
        pinned: &[ObjectId],
        earliest: u64,
        actions: &mut Vec<Action>,
    ) {
        let other = self.objs[o].copies.first().map(|(c, _)| *c);
        self.allocate(o, core, pinned, earliest, actions);
        let to = Location::Sram { core };
        let t = match other {
            Some(src) => self.transfer(o, Location::Sram { core: src }, to, Reason::Move, earliest),
            None => {
                let reason = if self.objs[o].fetched || self.objs[o].spilled {
                    Reason::Reload
                } else {
                    Reason::Load
                };
                self.transfer(o, Location::Dram, to, reason, earliest)
            }
        };
        if t.reason == Reason::Reload && self.objs[o].spilled {
            self.spills[o][2] += 1;
            self.spills[o][3] += t.bits;
        }
        // What came back once stays for the rest of its fused stack.
        self.objs[o].held_until = if t.reason == Reason::Reload {
            self.stack_hold(o)
        } else {
            None
        };
        self.objs[o].fetched = true;
        actions.push(Action::Transfer(t));
    }

    /// Makes sure DRAM holds a valid copy (for a tile that streams the object).
    fn write_back(&mut self, o: ObjectId, earliest: u64, actions: &mut Vec<Action>) {
        if self.objs[o].in_dram {
            return;
        }
        if let Some(&(core, _)) = self.objs[o].copies.first() {
            let t = self.transfer(
                o,
                Location::Sram { core },
                Location::Dram,
                Reason::WriteBack,
                earliest,
            );
            actions.push(Action::Transfer(t));
            self.objs[o].in_dram = true;
        }
    }

    /// Frees the previous tile's finished data and releases its staging area, after
    /// that tile, on `core`, ended at `ended`.
    fn release(
        &mut self,
        (core, ended): (usize, u64),
        deferred: &mut Vec<ObjectId>,
        staging: &mut Option<(u64, Vec<Extent>)>,
        actions: &mut Vec<Action>,
    ) {
        for o in deferred.drain(..) {
            self.free_everywhere(o, (core, FreeIn::AfterTile(ended)), actions);
        }
        if let Some((bits, extents)) = staging.take() {
            self.pads[core].free(bits, &extents);
            if self.record_actions {
                actions.push(Action::Unstage { core, extents });
            } else {
                self.spare_extents.push(extents);
            }
        }
    }

    fn cost(
        &mut self,
        key: MapKey,
        core: usize,
        mapper: &mut Mapper,
    ) -> Result<Arc<TileCost>, NoMapping> {
        if let Some(c) = self.costs.get(&key) {
            return Ok(c.clone());
        }
        let mapping = mapper.map(key)?;
        let c = Arc::new(TileCost::new(mapping, key.shape.op, self.acc, core));
        self.costs.insert(key, c.clone());
        Ok(c)
    }
}

/// Schedules `workload` on `accelerator` with the cuts of `spec`.
pub fn schedule(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    options: SchedulerOptions,
    mapper: &mut Mapper,
) -> Result<Schedule, ScheduleError> {
    let (predicted, graph, tiles) = run(
        workload,
        accelerator,
        spec,
        allocation,
        options,
        mapper,
        true,
    )?;
    let schedule = Schedule {
        schema_version: SCHEMA_VERSION,
        workload: workload.clone(),
        accelerator: accelerator.clone(),
        stateless_blocks: workload.stateless_blocks.clone(),
        cuts: spec.blocks.clone(),
        schedule: spec.entries(),
        prefetch: options.prefetch,
        objective: options.objective,
        eviction: options.eviction,
        dram_placement: super::dram_placement::DramPlacement::of(
            &graph.objects,
            !accelerator.dram.feature_format.is_dense(),
        ),
        objects: graph.objects,
        tiles,
        predicted,
    };
    match schedule.dram_capacity_problem() {
        Some(why) => Err(ScheduleError::DramTooSmall(why)),
        None => Ok(schedule),
    }
}

/// What [`schedule`] predicts, without recording the tiles and their actions: the
/// same figures, for explorations that keep only the report.
pub fn predict(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    options: SchedulerOptions,
    mapper: &mut Mapper,
) -> Result<Report, ScheduleError> {
    run(
        workload,
        accelerator,
        spec,
        allocation,
        options,
        mapper,
        false,
    )
    .map(|(r, _, _)| r)
}

/// What [`predict`] predicts, continuing from the deepest checkpoint `cache` holds for
/// a prefix of blocks this schedule shares, and leaving checkpoints at its own
/// boundaries for the schedules that follow (see the `prefix` module): the same
/// figures, for explorations that run many schedules with common first blocks. One
/// cache serves one workload, accelerator, allocation and options. With `next`, the
/// schedule that will follow, a checkpoint is kept only where `next` cuts the blocks
/// it depends on alike (keeping one costs a copy of the prefix's state).
#[allow(clippy::too_many_arguments)]
pub fn predict_sharing(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    options: SchedulerOptions,
    mapper: &mut Mapper,
    cache: &mut PrefixCache,
    next: Option<&ScheduleSpec>,
) -> Result<Report, ScheduleError> {
    let never = |_: &CostSoFar, _: usize| None::<std::convert::Infallible>;
    let sharing = Sharing {
        cache,
        next,
        stop: &never,
    };
    match predict_bounded(
        workload,
        accelerator,
        spec,
        allocation,
        options,
        mapper,
        sharing,
    )? {
        Ok(report) => Ok(report),
        Err(never) => match never {},
    }
}

/// How [`predict_bounded`] shares work with the schedules around it.
pub struct Sharing<'c, S> {
    /// Checkpoints of the first blocks of earlier schedules.
    pub cache: &'c mut PrefixCache,
    /// The schedule that will follow, if known.
    pub next: Option<&'c ScheduleSpec>,
    /// Asked at every boundary (and on resuming from a checkpoint) with what the
    /// schedule has cost so far and `reach`, the last block that state depends on
    /// (every schedule that cuts blocks `0..=reach` alike has cost as much there);
    /// `Some` stops the schedule there.
    pub stop: &'c (dyn Fn(&CostSoFar, usize) -> Option<S> + Sync),
}

/// [`predict_sharing`], stopping the schedule (`Err` with what `stop` said) at the
/// first boundary where `stop` finds what it has cost so far enough to drop it.
pub fn predict_bounded<S>(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    options: SchedulerOptions,
    mapper: &mut Mapper,
    sharing: Sharing<S>,
) -> Result<Result<Report, S>, ScheduleError> {
    let Sharing { cache, next, stop } = sharing;
    let (before, boundaries) = match cache.graph.take() {
        Some(last) => (Some((last.graph, last.record)), last.boundaries),
        None => (None, Vec::new()),
    };
    let (graph, record, taken) = build_graph(workload, accelerator, spec, allocation, before)?;
    let before = prefix::Before { taken, boundaries };
    let boundaries = prefix::boundaries(workload, &graph, &record, before);
    cache.costs.identify(workload, &record);
    let costed = predict_on(
        (workload, accelerator),
        (spec, &graph, &boundaries),
        options,
        mapper,
        Sharing { cache, next, stop },
    );
    // Kept for the next schedule, which most likely shares its first blocks.
    cache.graph = Some(prefix::LastGraph {
        graph,
        record,
        boundaries,
    });
    costed
}

/// [`predict_bounded`] on the graph of `spec` and its boundaries.
fn predict_on<S>(
    (workload, accelerator): (&Workload, &Accelerator),
    (spec, graph, bounds): (&ScheduleSpec, &TileGraph, &[prefix::Boundary]),
    options: SchedulerOptions,
    mapper: &mut Mapper,
    sharing: Sharing<S>,
) -> Result<Result<Report, S>, ScheduleError> {
    let Sharing { cache, next, stop } = sharing;
    let mut e = Engine::new(workload, accelerator, graph, spec, options, false);
    let mut w = Walk::new(accelerator.cores.len(), graph.tiles.len(), false);
    cache.schedules += 1;
    let mut from = 0;
    for b in bounds.iter().rev().filter(|b| b.shareable()) {
        if let Some(checkpoint) = cache.get(&b.key)
            && let Some(tiles) = checkpoint.restore(&mut e, &mut w)
        {
            from = tiles;
            cache.hits += 1;
            cache.tiles_skipped += tiles as u64;
            if let Some(stopped) = stop(&e.so_far(&w, b.block + 1), b.reach) {
                return Ok(Err(stopped));
            }
            break;
        }
    }
    std::mem::swap(&mut e.costs, &mut cache.costs);
    let resumed_at = from;
    let mut walked = || -> Result<Option<S>, ScheduleError> {
        for b in bounds
            .iter()
            .filter(|b| b.tiles > resumed_at && b.shareable())
        {
            e.walk(&mut w, from..b.tiles, options, mapper)?;
            from = b.tiles;
            let wanted = match next {
                Some(n) => n.blocks[..=b.reach] == spec.blocks[..=b.reach],
                None => cache.seen_before(&b.key),
            };
            if wanted && !cache.contains(&b.key) {
                let checkpoint = prefix::Checkpoint::take(&e, &w, b.tiles, b.block);
                cache.insert(b.key.clone(), checkpoint);
            }
            if let Some(stopped) = stop(&e.so_far(&w, b.block + 1), b.reach) {
                return Ok(Some(stopped));
            }
        }
        e.walk(&mut w, from..graph.tiles.len(), options, mapper)?;
        from = graph.tiles.len();
        Ok(None)
    };
    let walked = walked();
    cache.count_walked(from - resumed_at, resumed_at == 0);
    std::mem::swap(&mut e.costs, &mut cache.costs);
    if let Some(stopped) = walked? {
        return Ok(Err(stopped));
    }
    Ok(Ok(e.finish(&mut w, spec, options)))
}

/// Walks the tile graph; with `record`, keeps every tile with its nest and actions.
fn run(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    options: SchedulerOptions,
    mapper: &mut Mapper,
    record: bool,
) -> Result<(Report, TileGraph, Vec<ScheduledTile>), ScheduleError> {
    let (graph, built, _) = build_graph(workload, accelerator, spec, allocation, None)?;
    let mut e = Engine::new(workload, accelerator, &graph, spec, options, record);
    e.costs.identify(workload, &built);
    let mut w = Walk::new(accelerator.cores.len(), graph.tiles.len(), record);
    e.walk(&mut w, 0..graph.tiles.len(), options, mapper)?;
    let report = e.finish(&mut w, spec, options);
    drop(e);
    let tiles_out = w.tiles;
    Ok((report, graph, tiles_out))
}

/// The tile graph of `spec`, refused when it would hold too many tiles or the
/// allocation does not fit the accelerator; built from the tiles it shares with
/// `before` (a graph and its record, used up), if given; with its record and how many
/// tiles it took from `before`.
fn build_graph(
    workload: &Workload,
    accelerator: &Accelerator,
    spec: &ScheduleSpec,
    allocation: &Allocation,
    before: Option<(TileGraph, BuildRecord)>,
) -> Result<(TileGraph, BuildRecord, usize), ScheduleError> {
    let cuts = spec.cuts(workload.timesteps);
    let tiles: u64 = workload
        .layers
        .iter()
        .map(|l| crate::tiling::tile_count(l, cuts[l.block], workload.timesteps))
        .sum();
    if tiles > MAX_TILES {
        return Err(ScheduleError::TooManyTiles {
            spec: spec.to_string(),
            tiles,
            limit: MAX_TILES,
        });
    }
    if let Some(reason) = crate::tiling::cut_problem(workload, &cuts) {
        return Err(ScheduleError::IllegalCut {
            spec: spec.to_string(),
            reason,
        });
    }
    allocation.check(workload, accelerator)?;
    Ok(TileGraph::build_after(
        workload,
        &cuts,
        &allocation.core_of_layer,
        before,
    ))
}

impl Engine<'_> {
    /// What the tiles walked so far, every tile of the first `blocks_done` blocks,
    /// have cost.
    fn so_far(&self, w: &Walk, blocks_done: usize) -> CostSoFar {
        let latency = w.tile_end.iter().copied().max().unwrap_or(0);
        self.ledger.so_far(latency, blocks_done)
    }
}

impl<'a> Engine<'a> {
    /// Nothing resident, nothing spent: the state before the first tile.
    fn new(
        workload: &'a Workload,
        accelerator: &'a Accelerator,
        graph: &'a TileGraph,
        spec: &ScheduleSpec,
        options: SchedulerOptions,
        record: bool,
    ) -> Self {
        let cuts = spec.cuts(workload.timesteps);
        let ncores = accelerator.cores.len();
        Engine {
            workload,
            acc: accelerator,
            graph,
            pads: accelerator
                .cores
                .iter()
                .map(|c| Scratchpad::new(c.global_sram().size_bits))
                .collect(),
            resident: vec![ResidentSet::new(graph.objects.len()); ncores],
            objs: graph
                .objects
                .iter()
                .map(|o| ObjState::new(&o.readers, o.starts_in_dram()))
                .collect(),
            ledger: Ledger::default(),
            spend: TileSpend::default(),
            ports: Ports::new(ncores),
            incidents: Incidents::default(),
            spills: vec![[0; 4]; graph.objects.len()],
            eviction_order: Vec::new(),
            pinned_mark: vec![false; graph.objects.len()],
            spare_extents: Vec::new(),
            costs: tile_costs::TileCosts::default(),
            remote_frees: vec![Vec::new(); ncores],
            remote_free_at: vec![0; ncores],
            vacancies: vec![Vacancies::default(); ncores],
            eviction: options.eviction,
            now: 0,
            lane_free: 0,
            record_actions: record,
            stack_of_block: fused_stacks(&cuts),
            attention_tensors: workload.attention_tensors(),
            compressed: !accelerator.dram.feature_format.is_dense()
                || accelerator
                    .cores
                    .iter()
                    .any(|c| !c.global_sram().feature_format.is_dense()),
        }
    }

    /// Places, maps, times and settles the tiles of `range`, in order.
    fn walk(
        &mut self,
        w: &mut Walk,
        range: std::ops::Range<TileId>,
        options: SchedulerOptions,
        mapper: &mut Mapper,
    ) -> Result<(), ScheduleError> {
        for tile_id in range {
            self.now = tile_id;
            let placed = self.place(w, tile_id, options, mapper);
            let cost = self.map_tile(tile_id, &placed, options.objective, mapper)?;
            let (start, end) = self.time(w, tile_id, &placed, &cost);
            let after = self.settle(w, tile_id, &placed, end);
            self.record(w, tile_id, placed, &cost, (start, end), after);
        }
        Ok(())
    }
}
