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

mod compute;
mod lanes;

use super::SimError;
use super::copies::Handoffs;
use super::kernel::{Component, Outbox};
use super::message::{ComponentId, Cycle, Hop, HopKind, Message, Pass, Route, StallCause};
use super::program::Payload;
use super::program::{FillTarget, PassWork, TileProgram, TileSpikes};
use super::sram_map::{MapError, Occupant, SramMap};
use super::stats::{ComponentStats, histogram};
use crate::cost::Incidents;
use crate::model::activity::address_bits;
use crate::model::{FeatureFormat, Operand, Source};
use crate::schedule::memory::address_in;
use crate::schedule::{Action, Extent, Location, Reason, Schedule, Transfer};
use crate::spikes::Spikes;
use crate::tiling::CtShape;
use crate::tiling::graph::{DataClass, ObjectId, ObjectKind, TileId};
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
    /// How each memory component (DRAM, global SRAMs, local buffers) stores features.
    pub formats: HashMap<ComponentId, FeatureFormat>,
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

/// Passes whose fills may be in flight ahead of the array (the analytic half's too).
const LOOKAHEAD_PASSES: usize = crate::model::accelerator::LOOKAHEAD_PASSES as usize;

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
    /// The spikes the run executes (none: dense).
    spikes: Option<Arc<Spikes>>,
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
    /// Per local tile: the cycles the array was busy with it (`busy`, split by tile).
    tile_busy: Vec<Cycle>,
    stalls: [Cycle; StallCause::COUNT],
    pub finish: Cycle,
    pub incidents: Incidents,
    /// Objects spilled so far: their later fetches are the spills' reloads.
    spilled: std::collections::BTreeSet<ObjectId>,
    pub latency: Latencies,
    filter: TraceFilter,
    /// Per tensor, whether a matmul reads it (`Workload::attention_tensors`).
    attention_tensors: Vec<bool>,
    /// Where objects lie in DRAM, when the run writes a DRAM request trace.
    /// Routes to and from DRAM carry their addresses (the schedule's placement).
    dram_addresses: bool,
}

impl Controller {
    /// The cycles the PE array was busy with each of this core's tiles.
    pub fn busy_by_tile(&self) -> impl Iterator<Item = (TileId, Cycle)> + '_ {
        self.tiles
            .iter()
            .copied()
            .zip(self.tile_busy.iter().copied())
    }

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
        let attention_tensors = schedule.workload.attention_tensors();
        Self {
            attention_tensors,
            dram_addresses: false,
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
            spikes: None,
            completed_bits: 0,
            pe_free_at: 0,
            before_done_at: vec![0; n],
            before_over_noc: vec![false; n],
            busy: 0,
            tile_busy: vec![0; n],
            stalls: [0; StallCause::COUNT],
            finish: 0,
            incidents: Incidents::default(),
            spilled: std::collections::BTreeSet::new(),
            latency: Latencies::default(),
            filter,
        }
    }

    /// Executes these spikes (compressed transfers, gated and skipped work).
    pub fn with_spikes(mut self, spikes: Option<Arc<Spikes>>) -> Self {
        self.spikes = spikes;
        self
    }

    /// Bits at each hop of a route carrying `payload`: each memory in its own format,
    /// a NoC hop what the hop before it read (empty: dense everywhere).
    fn hop_bits(&self, hops: &[Hop], payload: Option<Payload>) -> Vec<u64> {
        let Some(p) = payload else {
            return Vec::new();
        };
        let mut out: Vec<u64> = Vec::with_capacity(hops.len());
        for h in hops {
            let bits = match self.ids.formats.get(&h.component) {
                Some(&f) => p.bits(f),
                None => out
                    .last()
                    .copied()
                    .unwrap_or_else(|| p.bits(FeatureFormat::Dense)),
            };
            out.push(bits);
        }
        out
    }

    /// Keeps stall slices and tile spans for pictures.
    /// Names the DRAM addresses of its routes (for a DRAM request trace).
    pub fn with_dram_addresses(mut self, on: bool) -> Self {
        self.dram_addresses = on;
        self
    }

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
        owner: (Owner, TileId),
        (bits, chunk_bits): (u64, u64),
        class: (DataClass, bool),
        hops: Vec<Hop>,
        dram: Option<(&[ObjectId], u64)>,
    ) -> u64 {
        self.issue_features(out, owner, (bits, chunk_bits), class, (hops, dram), None)
    }

    /// What `tile`'s `operand` carries: its class, and whether it is attention operands.
    fn carries(&self, tile: TileId, operand: Operand) -> (DataClass, bool) {
        let w = &self.schedule.workload;
        let layer = self.schedule.tiles[tile].tile.layer;
        (
            DataClass::of(w.layers[layer].op, operand),
            w.is_attention_operand(&self.attention_tensors, layer, operand),
        )
    }

    /// What a transfer of object `o` carries.
    fn object_carries(&self, o: ObjectId) -> (DataClass, bool) {
        let obj = &self.schedule.objects[o];
        let attention = obj.feature_tensor().is_some_and(|(s, _)| {
            crate::model::attention::is_attention_tensor(&self.attention_tensors, s)
        });
        (obj.class, attention)
    }

    /// Like `issue`, for features whose `payload` each level sizes in its format.
    fn issue_features(
        &mut self,
        out: &mut Outbox,
        (owner, tile): (Owner, TileId),
        (bits, chunk_bits): (u64, u64),
        class: (DataClass, bool),
        (hops, dram): (Vec<Hop>, Option<(&[ObjectId], u64)>),
        payload: Option<Payload>,
    ) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.outstanding.insert(tag, (owner, out.now()));
        self.issued_bits += bits;
        let hop_bits = self.hop_bits(&hops, payload);
        let mut route = Route::new((tag, tile), self.me, bits, class, hops);
        // `dram`: the objects the route reads or writes and the bit it starts at.
        if let (true, Some((objects, offset))) = (self.dram_addresses, dram) {
            let s = &self.schedule;
            route.dram_pieces = s.dram_placement.pieces(&s.objects, objects, offset, bits);
        }
        route.hop_bits = hop_bits;
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
            progressed |= self.try_run_pass(now, out)?;
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
        Operand::W => t.weights.to_vec(),
        Operand::I => t.inputs.to_vec(),
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
