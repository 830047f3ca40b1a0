//! A core controller: issues the lowered commands of its core in order.
//!
//! Contract. For each of its tiles, in schedule order, the controller runs three
//! stages: the *before* actions (allocations, evictions, loads, in order; transfers are
//! issued back to back and queue on the ports, and the stage ends when they have all
//! landed), the *compute* (the tile's passes on the PE array, with up to
//! `LOOKAHEAD_PASSES` passes of look-ahead so that buffer fills overlap computing), and
//! the *after* actions (output write-backs, frees). A tile's before actions start when
//! the previous tile's after actions are done, or — when the schedule prefetches that
//! tile — as soon as the previous tile starts computing (double buffering). A tile
//! computes once its before actions are done, the previous tile has computed, and every
//! tile it depends on has finished (tiles of other cores announce themselves with
//! `TileDone`). A transfer out of the SRAM waits for the tiles that write its data; a
//! free waits for the object's transfers in flight and for its readers scheduled
//! before it (all of them, in the after actions of the core's last tile, which stand
//! for the end of the schedule); an allocation or a staging area waits until its
//! address range is free. Every action and tile start is reported to the run's
//! [`Validity`](super::validity::Validity) record, which refuses what cannot run. It checks on every run that
//! occupancy never exceeds the SRAM, that every route it issues completes exactly once,
//! and that everything allocated is freed.

use super::SimError;
use super::copies::Handoffs;
use super::kernel::{Component, Outbox};
use super::message::{ComponentId, Cycle, Hop, HopKind, Message, Pass, Route, StallCause};
use super::program::{FillTarget, PassWork, TileProgram};
use super::sram_map::{MapError, Occupant, SramMap, address_in};
use super::stats::{ComponentStats, histogram};
use crate::model::Operand;
use crate::report::cost::Incidents;
use crate::schedule::{Action, Extent, Location, Reason, Schedule, Transfer};
use crate::tiling::CtShape;
use crate::tiling::graph::{DataClass, ObjectId, TileId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// How long things take, in cycles.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// A tile's compute, first pass to last.
    pub tile: hdrhistogram::Histogram<u64>,
    /// A scheduled transfer, issue to completion.
    pub transfer: hdrhistogram::Histogram<u64>,
    /// A buffer fill or state load for a pass, issue to completion.
    pub fill: hdrhistogram::Histogram<u64>,
    /// An output or state write after a pass, issue to completion.
    pub write: hdrhistogram::Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            tile: histogram(),
            transfer: histogram(),
            fill: histogram(),
            write: histogram(),
        }
    }
}

/// Component ids of the whole machine.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub dram: ComponentId,
    pub noc: ComponentId,
    pub sram: Vec<ComponentId>,
    pub pe: Vec<ComponentId>,
    /// Per core: memory index → local-buffer component.
    pub buffers: Vec<HashMap<usize, ComponentId>>,
    pub controllers: Vec<ComponentId>,
}

/// What one core did over time, for pictures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoreTimeline {
    /// PE stall slices: (from, to, cause).
    pub stalls: Vec<(Cycle, Cycle, StallCause)>,
    /// Computed tiles: (start, end, layer id).
    pub tiles: Vec<(Cycle, Cycle, usize)>,
}

/// Which tiles' spans go into the trace.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    pub layers: Option<BTreeSet<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneKind {
    Before,
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    No,
    /// A free waits for the transfers of its object still in flight.
    ObjectBusy,
    Writers,
    Overlap,
}

#[derive(Debug, Clone)]
struct Lane {
    kind: LaneKind,
    /// Local index of the tile whose actions run.
    tile: Option<usize>,
    action: usize,
    waiting: Waiting,
    /// Transfers issued and not yet completed (they pipeline on the DRAM port).
    in_flight: usize,
    /// Whether the transfer that landed last was a move over the NoC.
    last_over_noc: bool,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    /// A transfer of a lane.
    Lane(LaneTransfer),
    /// A fill for the prepared pass with this sequence number.
    Fill(u64),
    Write,
}

/// A lane's transfer, as its completion needs it.
#[derive(Debug, Clone, Copy)]
struct LaneTransfer {
    kind: LaneKind,
    tile: TileId,
    object: ObjectId,
    /// The core whose SRAM it reads, when that is another core's.
    remote_source: Option<usize>,
    /// Between two cores' SRAMs (a move over the NoC).
    move_between_cores: bool,
    to: Location,
}

/// Passes whose fills may be in flight ahead of the array (a DMA queue's depth).
const LOOKAHEAD_PASSES: usize = 8;

struct Prepared {
    seq: u64,
    work: PassWork,
    waiting: usize,
    cause: StallCause,
}

struct Computing {
    local: usize,
    tile: TileId,
    program: TileProgram,
    prepared: std::collections::VecDeque<Prepared>,
    next_seq: u64,
    /// The pass on the PE array, if any, and when it started.
    running: Option<PassWork>,
    pass_started: Cycle,
    writes: usize,
    start: Cycle,
    /// Where each operand's next access falls inside its data (bits).
    cursor: [u64; 4],
    streamed: [bool; 4],
    /// The staging area streamed operands pass through (empty: straight through).
    staging: Vec<Extent>,
    /// Cycles one pass's results take to drain from the accumulators.
    drain: Cycle,
}

impl Computing {
    /// The staging-area address of the next access of operand `oi`.
    fn staging_address(&self, oi: usize) -> u64 {
        address_in(&self.staging, self.cursor[oi])
    }
}

pub struct Controller {
    name: String,
    core: usize,
    me: ComponentId,
    ids: Arc<Ids>,
    schedule: Arc<Schedule>,
    writers: Arc<Vec<Vec<TileId>>>,
    tiles: Vec<TileId>,
    done: Vec<bool>,
    before_done: Vec<bool>,
    compute_started: Vec<bool>,
    compute_done: Vec<bool>,
    after_done: Vec<bool>,
    next_before: usize,
    next_compute: usize,
    next_after: usize,
    before: Lane,
    after: Lane,
    computing: Option<Computing>,
    /// The global SRAM's address map.
    pub mem: SramMap,
    /// Transfers of each object in flight (a free waits for them).
    object_in_flight: HashMap<ObjectId, usize>,
    /// Reads of this core's copies by other cores, and writes to DRAM by any core, and
    /// which have landed (frees and DRAM reads wait for them).
    handoffs: Handoffs,
    /// Traced transfers in flight: route tag → (label, bits); drawn when they land.
    trace_labels: HashMap<u64, (String, u64)>,
    /// When each transfer track of the trace is next free (transfers overlap, so
    /// they spread over as many tracks as needed).
    transfer_tracks: Vec<Cycle>,
    /// Stall slices and computed tiles, kept for pictures when asked.
    pub timeline: Option<CoreTimeline>,
    // Routes.
    next_tag: u64,
    /// Routes in flight: who waits for them and when they were issued.
    outstanding: HashMap<u64, (Owner, Cycle)>,
    issued_bits: u64,
    completed_bits: u64,
    // Timing and stalls.
    /// When the array finished its last pass.
    pub pe_free_at: Cycle,
    before_done_at: Vec<Cycle>,
    /// Per local tile: whether its before actions ended with a NoC move.
    before_over_noc: Vec<bool>,
    /// When each tile of the schedule finished (as far as this core knows).
    done_at: Vec<Cycle>,
    busy: Cycle,
    stalls: [Cycle; StallCause::COUNT],
    pub finish: Cycle,
    pub incidents: Incidents,
    /// Objects spilled so far: their later fetches are the spills' reloads.
    spilled: std::collections::BTreeSet<ObjectId>,
    pub latency: Latencies,
    filter: TraceFilter,
}

impl Controller {
    pub fn new(
        core: usize,
        me: ComponentId,
        ids: Arc<Ids>,
        schedule: Arc<Schedule>,
        writers: Arc<Vec<Vec<TileId>>>,
        filter: TraceFilter,
    ) -> Self {
        let tiles: Vec<TileId> = schedule
            .tiles
            .iter()
            .filter(|t| t.tile.core == core)
            .map(|t| t.tile.id)
            .collect();
        let n = tiles.len();
        let capacity = schedule.accelerator.cores[core].global_sram().size_bits;
        let handoffs = Handoffs::new(&schedule, core);
        Self {
            name: format!("{}.controller", schedule.accelerator.cores[core].name),
            core,
            me,
            ids,
            writers,
            done: vec![false; schedule.tiles.len()],
            done_at: vec![0; schedule.tiles.len()],
            schedule,
            tiles,
            before_done: vec![false; n],
            compute_started: vec![false; n],
            compute_done: vec![false; n],
            after_done: vec![false; n],
            next_before: 0,
            next_compute: 0,
            next_after: 0,
            before: Lane {
                kind: LaneKind::Before,
                tile: None,
                action: 0,
                waiting: Waiting::No,
                in_flight: 0,
                last_over_noc: false,
            },
            after: Lane {
                kind: LaneKind::After,
                tile: None,
                action: 0,
                waiting: Waiting::No,
                in_flight: 0,
                last_over_noc: false,
            },
            computing: None,
            object_in_flight: HashMap::new(),
            handoffs,
            trace_labels: HashMap::new(),
            transfer_tracks: Vec::new(),
            timeline: None,
            mem: SramMap::new(capacity),
            next_tag: ((core as u64) << 48) + 1,
            outstanding: HashMap::new(),
            issued_bits: 0,
            completed_bits: 0,
            pe_free_at: 0,
            before_done_at: vec![0; n],
            before_over_noc: vec![false; n],
            busy: 0,
            stalls: [0; StallCause::COUNT],
            finish: 0,
            incidents: Incidents::default(),
            spilled: std::collections::BTreeSet::new(),
            latency: Latencies::default(),
            filter,
        }
    }

    /// Keeps stall slices and tile spans for pictures.
    pub fn recording(mut self, on: bool) -> Self {
        self.timeline = on.then(CoreTimeline::default);
        self
    }

    fn traced(&self, tile: TileId) -> bool {
        match &self.filter.layers {
            None => true,
            Some(layers) => layers.contains(&self.schedule.tiles[tile].tile.layer),
        }
    }

    /// Sends `bits` along `hops`, at most `chunk_bits` held by a buffer at once.
    fn issue(
        &mut self,
        out: &mut Outbox,
        owner: Owner,
        (bits, chunk_bits): (u64, u64),
        class: DataClass,
        hops: Vec<Hop>,
    ) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.outstanding.insert(tag, (owner, out.now()));
        self.issued_bits += bits;
        let mut route = Route::new(tag, self.me, bits, class, hops);
        route.chunk_bits = chunk_bits;
        let first = route.hops[0].component;
        out.send(out.now(), first, Message::Route(Box::new(route)));
        tag
    }

    fn address(&self, objects: &[ObjectId], offset: u64) -> u64 {
        self.mem.address(objects, offset)
    }

    fn sram(&self, core: usize, kind: HopKind) -> Hop {
        Hop {
            component: self.ids.sram[core],
            kind,
        }
    }

    /// The hops between `core`'s SRAM and the DRAM: the DRAM port, and the mesh between
    /// the DRAM's node and the core's when they differ.
    fn dram(&self, core: usize, write: bool) -> Vec<Hop> {
        let acc = &self.schedule.accelerator;
        let (dram_at, core_at) = (acc.dram.position, acc.cores[core].position);
        let port = Hop {
            component: self.ids.dram,
            kind: if write {
                HopKind::DramWrite
            } else {
                HopKind::DramRead
            },
        };
        let noc = |from, to| Hop {
            component: self.ids.noc,
            kind: HopKind::Noc { from, to },
        };
        match (dram_at == core_at, write) {
            (true, _) => vec![port],
            (false, false) => vec![port, noc(dram_at, core_at)],
            (false, true) => vec![noc(core_at, dram_at), port],
        }
    }

    // ---------------------------------------------------------------- actions

    /// Runs a lane's actions until one has to wait. Transfers are issued without
    /// waiting (they queue on the ports in order); the lane is done when its last
    /// action has run and its transfers have landed. Returns true if anything moved.
    fn run_lane(&mut self, kind: LaneKind, now: Cycle, out: &mut Outbox) -> Result<bool, SimError> {
        let mut progressed = false;
        loop {
            let lane = match kind {
                LaneKind::Before => &self.before,
                LaneKind::After => &self.after,
            };
            let Some(local) = lane.tile else {
                return Ok(progressed);
            };
            let tile_id = self.tiles[local];
            let st = &self.schedule.tiles[tile_id];
            let actions = match kind {
                LaneKind::Before => &st.before,
                LaneKind::After => &st.after,
            };
            let index = lane.action;
            if index >= actions.len() {
                if lane.in_flight == 0 {
                    self.finish_lane(kind, local, now);
                    return Ok(true);
                }
                return Ok(progressed);
            }
            let action = actions[index].clone();
            let outcome = self.execute(kind, tile_id, &action, now, out)?;
            let lane = match kind {
                LaneKind::Before => &mut self.before,
                LaneKind::After => &mut self.after,
            };
            lane.waiting = outcome;
            if outcome != Waiting::No {
                return Ok(progressed);
            }
            lane.action += 1;
            progressed = true;
        }
    }

    fn finish_lane(&mut self, kind: LaneKind, local: usize, now: Cycle) {
        match kind {
            LaneKind::Before => {
                self.before_done[local] = true;
                self.before_done_at[local] = now;
                self.before_over_noc[local] = self.before.last_over_noc;
                self.before.tile = None;
                self.next_before += 1;
            }
            LaneKind::After => {
                self.after_done[local] = true;
                self.after.tile = None;
                self.next_after += 1;
                self.finish = self.finish.max(now);
            }
        }
    }

    fn execute(
        &mut self,
        kind: LaneKind,
        tile_id: TileId,
        action: &Action,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        match action {
            Action::Alloc {
                core,
                object,
                extents,
            } => {
                self.check_core(*core, tile_id, "allocates")?;
                let waiting = self.occupy(Occupant::Object(*object), extents, tile_id, now, out)?;
                if waiting == Waiting::No
                    && let Some(v) = out.validity.as_deref_mut()
                {
                    let bits = extents.iter().map(|e| e.len).sum();
                    v.alloc(now, tile_id, *core, *object, bits)?;
                }
                Ok(waiting)
            }
            Action::Stage { core, extents } => {
                self.check_core(*core, tile_id, "stages")?;
                let waiting =
                    self.occupy(Occupant::Staging(tile_id), extents, tile_id, now, out)?;
                if waiting == Waiting::No
                    && let Some(v) = out.validity.as_deref_mut()
                {
                    v.stage(tile_id, extents.iter().map(|e| e.len).sum());
                }
                Ok(waiting)
            }
            Action::Free {
                core,
                object,
                extents,
            } => {
                if self.object_in_flight.get(object).copied().unwrap_or(0) > 0 {
                    return Ok(Waiting::ObjectBusy);
                }
                // A copy stays for its reads scheduled before the free: readers on
                // this core, and other cores' transfers out of it (`Handoffs`). The after actions
                // of a core's last tile stand for the end of the schedule: their frees
                // wait for every read.
                let limit = match kind {
                    LaneKind::Before => tile_id,
                    LaneKind::After if self.tiles.last() == Some(&tile_id) => TileId::MAX,
                    LaneKind::After => tile_id + 1,
                };
                if self
                    .handoffs
                    .copy_pending(&self.schedule, self.core, *object, limit, &self.done)
                {
                    return Ok(Waiting::Writers);
                }
                self.check_core(*core, tile_id, "frees")?;
                if let Some(v) = out.validity.as_deref_mut() {
                    v.free(now, tile_id, *core, *object)?;
                }
                self.vacate(Occupant::Object(*object), extents, tile_id, now, out)?;
                Ok(Waiting::No)
            }
            Action::Unstage { core, extents } => {
                self.check_core(*core, tile_id, "unstages")?;
                let owner = self.mem.staging_owner(extents).unwrap_or(tile_id);
                self.vacate(Occupant::Staging(owner), extents, tile_id, now, out)?;
                if let Some(v) = out.validity.as_deref_mut() {
                    v.unstage(owner);
                }
                Ok(Waiting::No)
            }
            Action::Transfer(t) => self.start_transfer(kind, tile_id, t, now, out),
        }
    }

    /// Tells the cores that may wait on a landed transfer: the core whose copy it read,
    /// and every core (this one included) that the data's arrival concerns.
    fn hand_off(&mut self, lt: LaneTransfer, now: Cycle, out: &mut Outbox) {
        let (tile, object, to) = (lt.tile, lt.object, lt.to);
        if let Some(from) = lt.remote_source {
            let ctl = self.ids.controllers[from];
            out.send(now, ctl, Message::CopyRead { tile, object });
        }
        self.handoffs.landed(tile, object, to);
        for (core, &ctl) in self.ids.controllers.iter().enumerate() {
            if core != self.core {
                out.send(now, ctl, Message::Landed { tile, object, to });
            }
        }
    }

    fn check_core(&self, core: usize, tile_id: TileId, what: &str) -> Result<(), SimError> {
        if core == self.core {
            Ok(())
        } else {
            Err(SimError::Invariant(format!(
                "{}: tile {tile_id} {what} on core {core}",
                self.name
            )))
        }
    }

    /// Takes `extents` for `who`, or waits while another lane has yet to free them.
    fn occupy(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        tile_id: TileId,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        match self.mem.occupy(who, extents, now) {
            Ok(()) => {
                self.occupancy_counter(now, out);
                Ok(Waiting::No)
            }
            Err(MapError::Overlap) => Ok(Waiting::Overlap),
            Err(e) => Err(self.map_error(e, who, tile_id)),
        }
    }

    /// Releases `extents`, which `who` must hold.
    fn vacate(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        tile_id: TileId,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<(), SimError> {
        self.mem
            .vacate(who, extents, now)
            .map_err(|e| self.map_error(e, who, tile_id))?;
        self.occupancy_counter(now, out);
        Ok(())
    }

    fn map_error(&self, e: MapError, who: Occupant, tile_id: TileId) -> SimError {
        let what = self.occupant_name(who);
        SimError::Invariant(match e {
            MapError::Overflow { would_hold } => format!(
                "{}: allocating {what} before tile {tile_id} would put {would_hold} bits in a {}-bit SRAM",
                self.name, self.mem.capacity
            ),
            MapError::NotHeld(x) => format!(
                "{}: tile {tile_id} frees {}..{} of {what}, which is not allocated there",
                self.name,
                x.start,
                x.end()
            ),
            MapError::Overlap => format!("{}: {what} overlaps live data", self.name),
        })
    }

    fn occupant_name(&self, who: Occupant) -> String {
        match who {
            Occupant::Object(o) => format!("object {o} ({})", object_name(&self.schedule, o)),
            Occupant::Staging(t) => format!("the staging area of tile {t}"),
        }
    }

    fn occupancy_counter(&self, now: Cycle, out: &mut Outbox) {
        if let Some(t) = out.trace.as_deref_mut() {
            let name = format!("core{}", self.core);
            t.counter(&name, "global_sram_bits", now, self.mem.used() as f64);
        }
    }

    fn start_transfer(
        &mut self,
        kind: LaneKind,
        tile_id: TileId,
        t: &Transfer,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        // Data leaving an SRAM must have been written first.
        if let Location::Sram { .. } = t.from {
            let limit = match kind {
                LaneKind::Before => tile_id,
                LaneKind::After => tile_id + 1,
            };
            let writers = &self.writers[t.object];
            if writers.iter().any(|&w| w < limit && !self.done[w]) {
                return Ok(Waiting::Writers);
            }
        }
        // Data read from DRAM or another core's SRAM must have been put there first
        // (by any core).
        if !self.handoffs.source_ready(t, tile_id) {
            return Ok(Waiting::Writers);
        }
        let class = self.schedule.objects[t.object].class;
        let at = |c: &Self, core: usize, write: bool| {
            let addr = c.mem.start_of(t.object);
            c.sram(
                core,
                if write {
                    HopKind::SramWrite { addr }
                } else {
                    HopKind::SramRead { addr }
                },
            )
        };
        let hops = match (t.from, t.to) {
            (Location::Dram, Location::Sram { core }) => {
                [self.dram(core, false), vec![at(self, core, true)]].concat()
            }
            (Location::Sram { core }, Location::Dram) => {
                [vec![at(self, core, false)], self.dram(core, true)].concat()
            }
            (Location::Sram { core: a }, Location::Sram { core: b }) => {
                let pa = self.schedule.accelerator.cores[a].position;
                let pb = self.schedule.accelerator.cores[b].position;
                vec![
                    at(self, a, false),
                    Hop {
                        component: self.ids.noc,
                        kind: HopKind::Noc { from: pa, to: pb },
                    },
                    at(self, b, true),
                ]
            }
            (Location::Dram, Location::Dram) => return Ok(Waiting::No),
        };
        if t.reason == Reason::Spill {
            self.incidents
                .spill(object_name(&self.schedule, t.object), class, t.bits);
            self.spilled.insert(t.object);
        }
        if t.reason == Reason::Reload && self.spilled.contains(&t.object) {
            self.incidents
                .reload(object_name(&self.schedule, t.object), class, t.bits);
        }
        let bits = self.schedule.objects[t.object].bits;
        let label = (out.trace.is_some() && self.traced(tile_id))
            .then(|| format!("{:?} {}", t.reason, object_name(&self.schedule, t.object)));
        tracing::debug!(
            core = self.core,
            tile = tile_id,
            reason = ?t.reason,
            object = %object_name(&self.schedule, t.object),
            bits,
            "transfer issued"
        );
        let owner = Owner::Lane(LaneTransfer {
            kind,
            tile: tile_id,
            object: t.object,
            remote_source: match t.from {
                Location::Sram { core } if core != self.core => Some(core),
                _ => None,
            },
            move_between_cores: matches!(
                (t.from, t.to),
                (Location::Sram { core: a }, Location::Sram { core: b }) if a != b
            ),
            to: t.to,
        });
        let tag = self.issue(out, owner, (bits, bits), class, hops);
        if let Some(label) = label {
            self.trace_labels.insert(tag, (label, bits));
        }
        if let Some(v) = out.validity.as_deref_mut() {
            v.transfer_issued(now, tile_id, tag, t, bits)?;
        }
        *self.object_in_flight.entry(t.object).or_default() += 1;
        match kind {
            LaneKind::Before => self.before.in_flight += 1,
            LaneKind::After => self.after.in_flight += 1,
        }
        Ok(Waiting::No)
    }

    // ---------------------------------------------------------------- compute

    /// Whether the schedule gives this core any tile.
    pub fn has_tiles(&self) -> bool {
        !self.tiles.is_empty()
    }

    fn try_start_compute(&mut self, now: Cycle, out: &mut Outbox) -> Result<bool, SimError> {
        if self.computing.is_some() || self.next_compute >= self.tiles.len() {
            return Ok(false);
        }
        let local = self.next_compute;
        if !self.before_done[local] || (local > 0 && !self.compute_done[local - 1]) {
            return Ok(false);
        }
        let tile_id = self.tiles[local];
        let schedule = Arc::clone(&self.schedule);
        let st = &schedule.tiles[tile_id];
        if st.tile.deps.iter().any(|&d| !self.done[d]) {
            return Ok(false);
        }
        // The array idled since the previous tile (or the start): first for the tiles
        // it depends on (other cores' producers), then for this tile's transfers when
        // they landed last (a NoC move or the DRAM), otherwise for other work.
        let idle = now.saturating_sub(self.pe_free_at);
        if idle > 0 {
            let deps_at = st.tile.deps.iter().map(|&d| self.done_at[d]).max();
            let waiting_deps = deps_at
                .unwrap_or(0)
                .saturating_sub(self.pe_free_at)
                .min(idle);
            let rest_cause = if self.before_done_at[local] >= now && !st.before.is_empty() {
                if self.before_over_noc[local] {
                    StallCause::NocLink
                } else {
                    StallCause::DramPort
                }
            } else {
                StallCause::Dependency
            };
            let split = self.pe_free_at + waiting_deps;
            for (cause, from, to) in [
                (StallCause::Dependency, self.pe_free_at, split),
                (rest_cause, split, now),
            ] {
                if to > from {
                    self.stalls[cause.index()] += to - from;
                    self.trace_stall(tile_id, cause, from, to, out);
                }
            }
        }
        if let Some(v) = out.validity.as_deref_mut() {
            v.tile_start(now, tile_id, self.core)?;
        }
        let w = &self.schedule.workload;
        let layer = &w.layers[st.tile.layer];
        let shape = CtShape::new(w, layer, &st.tile.region);
        let core = &self.schedule.accelerator.cores[self.core];
        let drain = core.drain_cycles(shape.precision.o as u64);
        let program = TileProgram::new(shape, core, st, w.timesteps);
        let mut streamed = [false; 4];
        for op in &st.streamed {
            streamed[op.index()] = true;
        }
        if !st.streamed.is_empty() {
            self.incidents
                .streamed(st.tile.layer, st.streamed.iter().copied());
        }
        tracing::debug!(core = self.core, tile = tile_id, layer = %st.layer_name, "tile starts");
        self.compute_started[local] = true;
        self.computing = Some(Computing {
            local,
            tile: tile_id,
            program,
            prepared: Default::default(),
            next_seq: 0,
            running: None,
            pass_started: now,
            writes: 0,
            start: now,
            cursor: [0; 4],
            streamed,
            staging: self.mem.staging(tile_id),
            drain,
        });
        self.prepare_next(out);
        Ok(true)
    }

    /// Takes passes from the program, up to the look-ahead depth, and issues their fills.
    fn prepare_next(&mut self, out: &mut Outbox) {
        let Some(mut c) = self.computing.take() else {
            return;
        };
        while c.prepared.len() < LOOKAHEAD_PASSES {
            let Some(work) = c.program.next_pass() else {
                break;
            };
            let seq = c.next_seq;
            c.next_seq += 1;
            let schedule = Arc::clone(&self.schedule);
            let st = &schedule.tiles[c.tile];
            let mut waiting = 0;
            for f in &work.fills {
                let class = DataClass::of(f.operand);
                let objects = operand_objects(&self.schedule, c.tile, f.operand);
                let oi = f.operand.index();
                let hops = match f.target {
                    FillTarget::StreamArea => {
                        let addr = c.staging_address(oi);
                        let mut hops = self.dram(self.core, false);
                        hops.push(self.sram(self.core, HopKind::SramWrite { addr }));
                        hops
                    }
                    FillTarget::Buffer(m) => {
                        let addr = if c.streamed[oi] {
                            c.staging_address(oi)
                        } else {
                            self.address(&objects, c.cursor[oi])
                        };
                        vec![
                            self.sram(self.core, HopKind::SramRead { addr }),
                            Hop {
                                component: self.ids.buffers[self.core][&m],
                                kind: HopKind::BufferWrite,
                            },
                        ]
                    }
                };
                c.cursor[oi] += f.bits;
                self.issue(out, Owner::Fill(seq), (f.bits, f.chunk_bits), class, hops);
                waiting += 1;
            }
            if work.v_load_bits > 0 {
                let hops = self.state_route(&c, st.tile.state, false);
                self.issue(
                    out,
                    Owner::Fill(seq),
                    (work.v_load_bits, work.v_load_bits),
                    DataClass::V,
                    hops,
                );
                waiting += 1;
            }
            c.prepared.push_back(Prepared {
                seq,
                work,
                waiting,
                cause: StallCause::Dependency,
            });
        }
        self.computing = Some(c);
    }

    /// Route of a state load (`store` = false) or store, resident or streamed.
    fn state_route(&self, c: &Computing, state: Option<ObjectId>, store: bool) -> Vec<Hop> {
        let vi = Operand::V.index();
        if c.streamed[vi] {
            let addr = c.staging_address(vi);
            if store {
                let mut hops = vec![
                    self.sram(self.core, HopKind::SramWrite { addr }),
                    self.sram(self.core, HopKind::SramRead { addr }),
                ];
                hops.extend(self.dram(self.core, true));
                hops
            } else {
                let mut hops = self.dram(self.core, false);
                hops.push(self.sram(self.core, HopKind::SramWrite { addr }));
                hops.push(self.sram(self.core, HopKind::SramRead { addr }));
                hops
            }
        } else {
            let addr = self.address(&state.into_iter().collect::<Vec<_>>(), c.cursor[vi]);
            vec![self.sram(
                self.core,
                if store {
                    HopKind::SramWrite { addr }
                } else {
                    HopKind::SramRead { addr }
                },
            )]
        }
    }

    /// Sends the prepared pass to the PE array when the array is free and its fills
    /// have landed.
    fn try_run_pass(&mut self, now: Cycle, out: &mut Outbox) -> bool {
        let Some(c) = self.computing.as_mut() else {
            return false;
        };
        if c.running.is_some() {
            return false;
        }
        let ready = c.prepared.front().is_some_and(|p| p.waiting == 0);
        if !ready {
            return false;
        }
        let Some(p) = c.prepared.pop_front() else {
            return false;
        };
        // Time the array waited for this pass's data.
        let idle = now.saturating_sub(self.pe_free_at.max(c.start));
        let tile = c.tile;
        let drain = c.drain;
        if idle > 0 {
            self.stalls[p.cause.index()] += idle;
            self.trace_stall(tile, p.cause, now - idle, now, out);
        }
        let buffer_reads = p
            .work
            .buffer_reads
            .iter()
            .map(|&(m, op, bits)| (self.ids.buffers[self.core][&m], bits, DataClass::of(op)))
            .collect();
        let pass = Pass {
            tag: 0,
            reply_to: self.me,
            cycles: p.work.cycles,
            drain,
            last: p.work.last,
            buffer_reads,
            macs: p.work.macs,
            sops: p.work.sops,
            other_ops: p.work.other_ops,
            tile,
            traced: self.traced(tile),
        };
        out.send(now, self.ids.pe[self.core], Message::Pass(Box::new(pass)));
        if let Some(c) = self.computing.as_mut() {
            c.running = Some(p.work);
            c.pass_started = now;
        }
        self.prepare_next(out);
        true
    }

    fn pass_done(
        &mut self,
        now: Cycle,
        buffer_stall: Cycle,
        out: &mut Outbox,
    ) -> Result<(), SimError> {
        let Some(mut c) = self.computing.take() else {
            return Err(SimError::Internal(format!(
                "{}: pass done with no tile",
                self.name
            )));
        };
        let Some(work) = c.running.take() else {
            return Err(SimError::Internal(format!(
                "{}: unexpected pass done",
                self.name
            )));
        };
        // The array computed for the pass minus the cycles it starved for operands.
        self.busy += (now - c.pass_started).saturating_sub(buffer_stall);
        self.stalls[StallCause::LocalBufferBandwidth.index()] += buffer_stall;
        if buffer_stall > 0 {
            // The starved cycles stretch the pass; drawn at its end.
            self.trace_stall(
                c.tile,
                StallCause::LocalBufferBandwidth,
                now - buffer_stall.min(now - c.pass_started),
                now,
                out,
            );
        }
        self.pe_free_at = now;
        let schedule = Arc::clone(&self.schedule);
        let st = &schedule.tiles[c.tile];
        let oi = Operand::O.index();
        if work.o_bits > 0 {
            let hops = if c.streamed[oi] {
                let addr = c.staging_address(oi);
                let mut hops = vec![
                    self.sram(self.core, HopKind::SramWrite { addr }),
                    self.sram(self.core, HopKind::SramRead { addr }),
                ];
                hops.extend(self.dram(self.core, true));
                hops
            } else {
                let addr = self.address(&[st.tile.output], c.cursor[oi]);
                vec![self.sram(self.core, HopKind::SramWrite { addr })]
            };
            c.cursor[oi] += work.o_bits;
            self.issue(
                out,
                Owner::Write,
                (work.o_bits, work.o_bits),
                DataClass::F,
                hops,
            );
            c.writes += 1;
        }
        if work.v_store_bits > 0 {
            let hops = self.state_route(&c, st.tile.state, true);
            c.cursor[Operand::V.index()] += work.v_store_bits;
            self.issue(
                out,
                Owner::Write,
                (work.v_store_bits, work.v_store_bits),
                DataClass::V,
                hops,
            );
            c.writes += 1;
        }
        self.computing = Some(c);
        Ok(())
    }

    fn try_finish_compute(&mut self, now: Cycle, out: &mut Outbox) -> bool {
        let finished = self
            .computing
            .as_ref()
            .is_some_and(|c| c.running.is_none() && c.prepared.is_empty() && c.writes == 0);
        if !finished {
            return false;
        }
        let Some(c) = self.computing.take() else {
            return false;
        };
        // Auto-resizing histograms only fail on values beyond u64 range.
        let _ = self.latency.tile.record(now - c.start);
        self.compute_done[c.local] = true;
        self.done[c.tile] = true;
        self.done_at[c.tile] = now;
        if let Some(t) = self.timeline.as_mut() {
            t.tiles
                .push((c.start, now, self.schedule.tiles[c.tile].tile.layer));
        }
        if let Some(v) = out.validity.as_deref_mut() {
            v.tile_done(c.tile, self.core);
        }
        self.next_compute += 1;
        if out.trace.is_some() && self.traced(c.tile) {
            let st = &self.schedule.tiles[c.tile];
            let label = format!(
                "{} t{}..{} ox{}..{}",
                st.layer_name,
                st.tile.region.t.start,
                st.tile.region.t.end,
                st.tile.region.ox.start,
                st.tile.region.ox.end
            );
            let group = format!("core{}", self.core);
            if let Some(t) = out.trace.as_deref_mut() {
                t.span(&group, "tiles", &label, c.start, now, 0);
            }
        }
        tracing::debug!(
            core = self.core,
            tile = c.tile,
            layer = %self.schedule.tiles[c.tile].layer_name,
            started = c.start,
            "tile computed"
        );
        for (core, &ctl) in self.ids.controllers.iter().enumerate() {
            if core != self.core {
                out.send(now, ctl, Message::TileDone { tile: c.tile });
            }
        }
        true
    }

    // ---------------------------------------------------------------- driver

    fn pump(&mut self, now: Cycle, out: &mut Outbox) -> Result<(), SimError> {
        loop {
            let mut progressed = false;
            // Start the next before-lane.
            if self.before.tile.is_none() && self.next_before < self.tiles.len() {
                let i = self.next_before;
                let prefetched = self.schedule.tiles[self.tiles[i]].prefetched;
                let may =
                    i == 0 || (prefetched && self.compute_started[i - 1]) || self.after_done[i - 1];
                if may {
                    self.before.tile = Some(i);
                    self.before.action = 0;
                    self.before.waiting = Waiting::No;
                    self.before.in_flight = 0;
                    progressed = true;
                }
            }
            // Start the next after-lane.
            if self.after.tile.is_none()
                && self.next_after < self.tiles.len()
                && self.compute_done[self.next_after]
            {
                self.after.tile = Some(self.next_after);
                self.after.action = 0;
                self.after.waiting = Waiting::No;
                self.after.in_flight = 0;
                progressed = true;
            }
            progressed |= self.run_lane(LaneKind::After, now, out)?;
            progressed |= self.run_lane(LaneKind::Before, now, out)?;
            progressed |= self.try_start_compute(now, out)?;
            progressed |= self.try_run_pass(now, out);
            progressed |= self.try_finish_compute(now, out);
            if !progressed {
                return Ok(());
            }
        }
    }

    /// A labelled stall slice on the core's "stalls" track (and in the timeline).
    fn trace_stall(
        &mut self,
        tile: TileId,
        cause: StallCause,
        from: Cycle,
        to: Cycle,
        out: &mut Outbox,
    ) {
        if let Some(t) = self.timeline.as_mut()
            && to > from
        {
            t.stalls.push((from, to, cause));
        }
        if out.trace.is_some() && self.traced(tile) && to > from {
            let group = format!("core{}", self.core);
            if let Some(t) = out.trace.as_deref_mut() {
                t.span(&group, "PE stalls", cause.name(), from, to, 0);
            }
        }
    }

    /// A landed transfer, on the first transfer track free since it was issued.
    fn trace_transfer(&mut self, label: &str, from: Cycle, to: Cycle, bits: u64, out: &mut Outbox) {
        let track = match self.transfer_tracks.iter().position(|&free| free <= from) {
            Some(i) => i,
            None => {
                self.transfer_tracks.push(0);
                self.transfer_tracks.len() - 1
            }
        };
        self.transfer_tracks[track] = to;
        let group = format!("core{}", self.core);
        if let Some(t) = out.trace.as_deref_mut() {
            t.span(
                &group,
                &format!("transfers {}", track + 1),
                label,
                from,
                to,
                bits,
            );
        }
    }

    /// The array's stall cycles by cause so far (before the tail after its last pass).
    pub fn stalls(&self) -> [Cycle; StallCause::COUNT] {
        self.stalls
    }

    /// Checks run at the end: nothing in flight, everything freed, bits conserved.
    pub fn check_end(&self) -> Result<(), SimError> {
        if !self.outstanding.is_empty() {
            return Err(SimError::Invariant(format!(
                "{}: {} transfers never completed",
                self.name,
                self.outstanding.len()
            )));
        }
        if self.issued_bits != self.completed_bits {
            return Err(SimError::Invariant(format!(
                "{}: {} bits issued, {} delivered",
                self.name, self.issued_bits, self.completed_bits
            )));
        }
        if let Some((start, len, o)) = self.mem.first_live() {
            return Err(SimError::Invariant(format!(
                "{}: {} is still allocated at {start}..{} after the last tile",
                self.name,
                self.occupant_name(o),
                start + len
            )));
        }
        Ok(())
    }
}

/// The data objects an operand of a tile reads from.
fn operand_objects(s: &Schedule, tile: TileId, op: Operand) -> Vec<ObjectId> {
    let t = &s.tiles[tile].tile;
    match op {
        Operand::W => t.weights.into_iter().collect(),
        Operand::I => t.inputs.clone(),
        Operand::O => vec![t.output],
        Operand::V => t.state.into_iter().collect(),
    }
}

fn object_name(s: &Schedule, o: ObjectId) -> String {
    s.objects[o].describe(&s.workload)
}

impl Component for Controller {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        match msg {
            Message::Start => {}
            Message::RouteDone {
                tag, bits, cause, ..
            } => {
                let (owner, issued) = self.outstanding.remove(&tag).ok_or_else(|| {
                    SimError::Invariant(format!(
                        "{}: route {tag} completed twice or was never issued",
                        self.name
                    ))
                })?;
                self.completed_bits += bits;
                let took = now - issued;
                let record = match owner {
                    Owner::Lane(..) => self.latency.transfer.record(took),
                    Owner::Fill(_) => self.latency.fill.record(took),
                    Owner::Write => self.latency.write.record(took),
                };
                record.map_err(|e| SimError::Internal(format!("{}: {e}", self.name)))?;
                match owner {
                    Owner::Lane(lt) => {
                        let (kind, object) = (lt.kind, lt.object);
                        self.hand_off(lt, now, out);
                        if let Some((label, bits)) = self.trace_labels.remove(&tag) {
                            self.trace_transfer(&label, issued, now, bits, out);
                        }
                        let lane = match kind {
                            LaneKind::Before => &mut self.before,
                            LaneKind::After => &mut self.after,
                        };
                        lane.in_flight -= 1;
                        lane.last_over_noc = lt.move_between_cores;
                        if let Some(n) = self.object_in_flight.get_mut(&object) {
                            *n -= 1;
                        }
                        if let Some(v) = out.validity.as_deref_mut() {
                            v.transfer_done(tag);
                        }
                    }
                    Owner::Fill(seq) => {
                        if let Some(p) = self
                            .computing
                            .as_mut()
                            .and_then(|c| c.prepared.iter_mut().find(|p| p.seq == seq))
                        {
                            p.waiting = p.waiting.saturating_sub(1);
                            p.cause = cause;
                        }
                    }
                    Owner::Write => {
                        if let Some(c) = self.computing.as_mut() {
                            c.writes -= 1;
                        }
                    }
                }
            }
            Message::PassDone {
                buffer_stall,
                fill_drain,
                ..
            } => {
                self.stalls[StallCause::FillDrain.index()] += fill_drain;
                self.pass_done(now, buffer_stall, out)?
            }
            Message::TileDone { tile } => {
                if let Some(d) = self.done.get_mut(tile) {
                    *d = true;
                    self.done_at[tile] = now;
                }
            }
            Message::CopyRead { tile, object } => self.handoffs.copy_read(tile, object),
            Message::Landed { tile, object, to } => self.handoffs.landed(tile, object, to),
            other => {
                return Err(SimError::Internal(format!("{} got {other:?}", self.name)));
            }
        }
        self.pump(now, out)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        ComponentStats {
            name: self.name.clone(),
            busy_cycles: self.busy,
            stall_cycles: self.stalls,
            peak_bits: Some(self.mem.peak),
            ..ComponentStats::default()
        }
    }

    fn end(&mut self, now: Cycle, out: &mut Outbox) {
        // The tail after the last pass, as the report counts it.
        if let Some(&last) = self.tiles.last() {
            let cause = if self.finish >= now {
                StallCause::DramPort
            } else {
                StallCause::Dependency
            };
            self.trace_stall(last, cause, self.pe_free_at, now, out);
        }
    }

    fn pending(&self) -> Option<String> {
        if self.next_after >= self.tiles.len() {
            return None;
        }
        let describe = |lane: &Lane| {
            lane.tile.map(|i| {
                let id = self.tiles[i];
                let st = &self.schedule.tiles[id];
                let actions = match lane.kind {
                    LaneKind::Before => &st.before,
                    LaneKind::After => &st.after,
                };
                format!(
                    "{:?} actions of tile {id} ({}) stuck at action {} of {} ({:?}, waiting: {:?})",
                    lane.kind,
                    st.layer_name,
                    lane.action,
                    actions.len(),
                    actions.get(lane.action),
                    lane.waiting
                )
            })
        };
        let mut parts: Vec<String> = [describe(&self.before), describe(&self.after)]
            .into_iter()
            .flatten()
            .collect();
        if let Some(i) = self.tiles.get(self.next_compute) {
            let st = &self.schedule.tiles[*i];
            let missing: Vec<TileId> = st
                .tile
                .deps
                .iter()
                .copied()
                .filter(|&d| !self.done[d])
                .collect();
            parts.push(format!(
                "tile {i} ({}) not computed (before actions done: {}, unfinished dependencies: {missing:?})",
                st.layer_name, self.before_done[self.next_compute]
            ));
        }
        Some(parts.join("; "))
    }
}
