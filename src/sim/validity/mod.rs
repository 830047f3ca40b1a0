//! Data validity: the simulator's proof that a schedule can be executed and is
//! sufficient.
//!
//! The scheduler decides what moves; this module checks, as the simulation runs, that
//! what moved is enough. It tracks for every data object where a valid copy exists —
//! DRAM, each core's global SRAM — and which *version* each copy holds: weights and the
//! network input exist from the start, a feature chunk exists once its producer tile has
//! written it, and a neuron-state chunk's version is the number of timesteps it has
//! absorbed (0 = reset). A copy is valid when it holds the newest version; an SRAM copy
//! is dirty when DRAM does not hold that version too.
//!
//! What a tile must read is derived here from its layer and region — the input columns
//! its windows cover (halo, stride), its layer's weights, the state its neurons left
//! after the previous timestep unless it starts the inference — never from the tile's
//! own list of inputs in the Schedule. It shares no code with the scheduler's memory
//! manager, so that agreement between the two is evidence.
//!
//! Checks, each a [`Violation`] of its own kind:
//! - a tile starts only when every operand it reads is valid where it reads it (its
//!   core's SRAM, or DRAM for a streamed operand), and state holds the right timestep;
//!   its output (and the state it leaves) has room, and a streaming tile has its
//!   staging area;
//! - a transfer reads a valid copy and writes into an allocated copy, and no two
//!   transfers write the same copy at once;
//! - an allocation holds the whole object, and an object is allocated once per core;
//! - freeing the only valid copy of data that is still to be read is data lost, and
//!   freeing a copy a computing tile reads or writes is an error too;
//! - every layer's output is computed exactly once (before and after the run), and every
//!   network output ends in DRAM.
//!
//! It also measures waste: loads of data already valid where they land
//! (`redundant_load_bits`) and DRAM writes whose data is never read back
//! (`dead_write_bits`).

mod derive;
mod violation;

pub use violation::{Violation, ViolationKind, describe_object, describe_tile};

use super::message::Cycle;
use crate::model::{Operand, Source, Workload};
use crate::schedule::{Location, Schedule, Transfer};
use crate::tiling::graph::{DataClass, ObjectId, ObjectKind, TileId};
use derive::{Read, Writes};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use violation::{reason_text, version_text};

/// Where a copy lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    Dram,
    Sram(usize),
}

impl Place {
    fn of(l: Location) -> Self {
        match l {
            Location::Dram => Place::Dram,
            Location::Sram { core } => Place::Sram(core),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Dram => write!(f, "DRAM"),
            Place::Sram(c) => write!(f, "core{c} SRAM"),
        }
    }
}

/// The copies of one object.
#[derive(Debug, Clone, Default)]
struct Copies {
    /// The newest version that exists anywhere (0: nothing yet, or reset state).
    latest: u32,
    dram: Option<u32>,
    /// (core, version held; `None` = allocated, nothing written yet).
    sram: Vec<(usize, Option<u32>)>,
    /// Bits written to DRAM and not read back since.
    unread_dram_bits: u64,
}

impl Copies {
    fn at(&self, place: Place) -> Option<Option<u32>> {
        match place {
            Place::Dram => self.dram.map(Some),
            Place::Sram(core) => self.sram.iter().find(|(c, _)| *c == core).map(|c| c.1),
        }
    }

    fn set(&mut self, place: Place, version: u32) {
        match place {
            Place::Dram => self.dram = Some(version),
            Place::Sram(core) => {
                if let Some(c) = self.sram.iter_mut().find(|(c, _)| *c == core) {
                    c.1 = Some(version);
                }
            }
        }
    }

    fn valid_at(&self, place: Place) -> bool {
        self.latest > 0 && self.at(place) == Some(Some(self.latest))
    }

    fn valid_places(&self) -> Vec<Place> {
        let mut v: Vec<Place> = self
            .sram
            .iter()
            .map(|(c, _)| Place::Sram(*c))
            .filter(|p| self.valid_at(*p))
            .collect();
        if self.valid_at(Place::Dram) {
            v.insert(0, Place::Dram);
        }
        v
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    object: ObjectId,
    to: Place,
    version: u32,
    bits: u64,
    /// The destination already held this version when the transfer was issued.
    redundant: bool,
}

/// Waste a verified run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Waste {
    pub checks: u64,
    pub redundant_load_bits: u64,
    pub dead_write_bits: u64,
}

/// The verifier's record of one run.
pub struct Validity {
    schedule: Arc<Schedule>,
    reads: Vec<Vec<Read>>,
    writes: Vec<Writes>,
    readers_left: Vec<u32>,
    copies: Vec<Copies>,
    in_flight: HashMap<u64, InFlight>,
    incoming: HashMap<(ObjectId, Place), u32>,
    staged: HashMap<TileId, u64>,
    /// Per (tile, operand): the streamed tile the staging area holds now, in bits.
    streaming: HashMap<(TileId, Operand), u64>,
    /// (object, core) → the computing tile that reads or writes it in that SRAM.
    in_use: HashMap<(ObjectId, usize), TileId>,
    computed: Vec<bool>,
    waste: Waste,
    /// The spikes the run executes: what compressed transfers must carry.
    spikes: Option<Arc<crate::spikes::Spikes>>,
}

impl Validity {
    /// Derives every tile's reads and writes from its layer and region, and checks
    /// before the run that the objects describe the data consistently and that every
    /// layer's output is covered exactly once.
    pub fn new(schedule: Arc<Schedule>) -> Result<Self, Box<Violation>> {
        let s = &*schedule;
        let derive::Derived { reads, writes } = derive::derive(s)?;
        let mut readers_left = vec![0u32; s.objects.len()];
        for r in reads.iter().flatten() {
            readers_left[r.object] += 1;
        }
        let copies = s
            .objects
            .iter()
            .map(|o| {
                if o.starts_in_dram() {
                    Copies {
                        latest: 1,
                        dram: Some(1),
                        ..Copies::default()
                    }
                } else {
                    Copies::default()
                }
            })
            .collect();
        Ok(Self {
            computed: vec![false; s.tiles.len()],
            schedule,
            reads,
            writes,
            readers_left,
            copies,
            in_flight: HashMap::new(),
            incoming: HashMap::new(),
            staged: HashMap::new(),
            streaming: HashMap::new(),
            in_use: HashMap::new(),
            waste: Waste::default(),
            spikes: None,
        })
    }

    // ------------------------------------------------------------ dynamic checks

    fn violation(
        &self,
        kind: ViolationKind,
        now: Cycle,
        tile: TileId,
        object: Option<ObjectId>,
        expected: String,
        found: String,
    ) -> Box<Violation> {
        Box::new(Violation {
            kind,
            cycle: Some(now),
            tile: Some(describe_tile(&self.schedule, tile)),
            object: object.map(|o| describe_object(&self.schedule, o)),
            expected,
            found,
        })
    }

    fn class(&self, o: ObjectId) -> DataClass {
        self.schedule.objects[o].class
    }

    /// What `place` holds of `o`, for a message.
    fn found_at(&self, o: ObjectId, place: Place) -> String {
        let c = &self.copies[o];
        let held = match c.at(place) {
            None => format!("no copy in {place}"),
            Some(None) => format!("{place} allocated but never filled"),
            Some(Some(v)) if v == c.latest => {
                format!("{} in {place}", version_text(self.class(o), v))
            }
            Some(Some(v)) => format!(
                "a stale copy in {place} ({}; newest: {})",
                version_text(self.class(o), v),
                version_text(self.class(o), c.latest)
            ),
        };
        let pending = self.incoming.get(&(o, place)).copied().unwrap_or(0);
        let valid = c.valid_places();
        let mut text = held;
        if pending > 0 {
            text.push_str(", a transfer into it still in flight");
        }
        if valid.is_empty() {
            text.push_str(&format!(
                "; no valid copy anywhere ({})",
                version_text(self.class(o), c.latest)
            ));
        } else {
            let names: Vec<String> = valid.iter().map(Place::to_string).collect();
            text.push_str(&format!("; valid copies: {}", names.join(", ")));
        }
        text
    }

    fn needed(&self, o: ObjectId) -> bool {
        let c = &self.copies[o];
        self.readers_left[o] > 0
            || (self.schedule.objects[o].network_output && !c.valid_at(Place::Dram))
    }

    pub fn alloc(
        &mut self,
        now: Cycle,
        tile: TileId,
        core: usize,
        o: ObjectId,
        bits: u64,
    ) -> Result<(), Box<Violation>> {
        self.waste.checks += 2;
        if self.copies[o].at(Place::Sram(core)).is_some() {
            return Err(self.violation(
                ViolationKind::DoubleAllocation,
                now,
                tile,
                Some(o),
                format!("one allocation on core{core}"),
                "it is already allocated there".into(),
            ));
        }
        let need = self.schedule.objects[o].bits;
        if bits < need {
            return Err(self.violation(
                ViolationKind::AllocationTooSmall,
                now,
                tile,
                Some(o),
                format!("{need} bits"),
                format!("{bits} bits allocated on core{core}"),
            ));
        }
        self.copies[o].sram.push((core, None));
        Ok(())
    }

    pub fn free(
        &mut self,
        now: Cycle,
        tile: TileId,
        core: usize,
        o: ObjectId,
    ) -> Result<(), Box<Violation>> {
        self.waste.checks += 2;
        let here = Place::Sram(core);
        if self.copies[o].at(here).is_none() {
            return Err(self.violation(
                ViolationKind::NotAllocated,
                now,
                tile,
                Some(o),
                format!("a copy on core{core} to free"),
                self.found_at(o, here),
            ));
        }
        if let Some(&user) = self.in_use.get(&(o, core)) {
            return Err(self.violation(
                ViolationKind::FreedInUse,
                now,
                tile,
                Some(o),
                format!(
                    "its copy in {here} kept until {} has computed",
                    describe_tile(&self.schedule, user)
                ),
                "a free while that tile computes with it".into(),
            ));
        }
        let c = &self.copies[o];
        if c.valid_places() == [here] && self.needed(o) {
            let readers = self.readers_left[o];
            return Err(self.violation(
                ViolationKind::DataLost,
                now,
                tile,
                Some(o),
                format!(
                    "another valid copy before the only one in {here} is freed ({readers} {} still to come{})",
                    if readers == 1 { "read" } else { "reads" },
                    if self.schedule.objects[o].network_output {
                        ", and it is a network output"
                    } else {
                        ""
                    }
                ),
                "none".into(),
            ));
        }
        self.copies[o].sram.retain(|(c, _)| *c != core);
        Ok(())
    }

    pub fn stage(&mut self, tile: TileId, bits: u64) {
        *self.staged.entry(tile).or_default() += bits;
    }

    pub fn unstage(&mut self, tile: TileId) {
        self.staged.remove(&tile);
        self.streaming.retain(|(t, _), _| *t != tile);
    }

    /// A streamed operand's next tile (`bits`) lands in `tile`'s staging area: together
    /// with the other streamed operands' current tiles it must fit what was staged.
    pub fn stream_fill(
        &mut self,
        now: Cycle,
        tile: TileId,
        operand: Operand,
        bits: u64,
    ) -> Result<(), Box<Violation>> {
        self.waste.checks += 1;
        self.streaming.insert((tile, operand), bits);
        let held: u64 = self
            .streaming
            .iter()
            .filter(|((t, _), _)| *t == tile)
            .map(|(_, b)| b)
            .sum();
        let staged = self.staged.get(&tile).copied().unwrap_or(0);
        if held > staged {
            return Err(self.violation(
                ViolationKind::StagingTooSmall,
                now,
                tile,
                None,
                format!(
                    "the streamed {} chunk of {bits} bits (with the other streamed operands' {} bits) to fit the staging area",
                    operand.name(),
                    held - bits
                ),
                format!("{staged} bits staged"),
            ));
        }
        Ok(())
    }

    /// Checks compressed transfers against these spikes.
    pub fn with_spikes(mut self, spikes: Option<Arc<crate::spikes::Spikes>>) -> Self {
        self.spikes = spikes;
        self
    }

    /// A compressed transfer of a feature object carries `nonzeros` non-zeros: exactly
    /// those of the data, derived from the tile that produced it (its layer's output
    /// over the tile's region) or, for the network input, from the slice itself.
    pub fn payload_carried(
        &mut self,
        now: Cycle,
        tile: TileId,
        t: &Transfer,
        nonzeros: u64,
    ) -> Result<(), Box<Violation>> {
        let Some(spikes) = self.spikes.as_ref() else {
            return Ok(());
        };
        let s = &*self.schedule;
        let ObjectKind::Features { layer, t: ts, ox } = &s.objects[t.object].kind else {
            return Ok(());
        };
        self.waste.checks += 1;
        let expected = match (layer, s.objects[t.object].producer) {
            (Some(l), Some(p)) => {
                let r = &s.tiles[p].tile.region;
                spikes.tensor(Source::Layer(*l)).count(
                    r.t.clone(),
                    r.k.clone(),
                    r.oy.clone(),
                    r.ox.clone(),
                )
            }
            _ => {
                let tensor = spikes.tensor(Source::NetworkInput);
                ts.clone()
                    .map(|t| tensor.count_box(t, 0..tensor.shape.height, ox.clone()))
                    .sum()
            }
        };
        if nonzeros != expected {
            return Err(self.violation(
                ViolationKind::CompressedPayload,
                now,
                tile,
                Some(t.object),
                format!("the {expected} non-zeros of its data"),
                format!("{nonzeros} non-zeros carried"),
            ));
        }
        Ok(())
    }

    /// A scheduled transfer is issued (route `tag`).
    pub fn transfer_issued(
        &mut self,
        now: Cycle,
        tile: TileId,
        tag: u64,
        t: &Transfer,
        bits: u64,
    ) -> Result<(), Box<Violation>> {
        self.waste.checks += 3;
        let o = t.object;
        let (from, to) = (Place::of(t.from), Place::of(t.to));
        if from == to {
            return Ok(());
        }
        if !self.copies[o].valid_at(from) {
            return Err(self.violation(
                ViolationKind::SourceNotValid,
                now,
                tile,
                Some(o),
                format!(
                    "a valid copy in {from} for the {} to read",
                    reason_text(t.reason)
                ),
                self.found_at(o, from),
            ));
        }
        if self.copies[o].at(to).is_none() && to != Place::Dram {
            return Err(self.violation(
                ViolationKind::NotAllocated,
                now,
                tile,
                Some(o),
                format!(
                    "an allocation in {to} for the {} to land in",
                    reason_text(t.reason)
                ),
                format!("no copy in {to}"),
            ));
        }
        if self.incoming.get(&(o, to)).copied().unwrap_or(0) > 0 {
            return Err(self.violation(
                ViolationKind::ConcurrentTransfers,
                now,
                tile,
                Some(o),
                format!("one transfer at a time into {to}"),
                "another transfer into it still in flight".into(),
            ));
        }
        let redundant = self.copies[o].valid_at(to);
        if redundant {
            match to {
                Place::Dram => self.waste.dead_write_bits += bits,
                Place::Sram(_) => self.waste.redundant_load_bits += bits,
            }
        }
        if from == Place::Dram {
            self.copies[o].unread_dram_bits = 0;
        }
        *self.incoming.entry((o, to)).or_default() += 1;
        self.in_flight.insert(
            tag,
            InFlight {
                object: o,
                to,
                version: self.copies[o].latest,
                bits,
                redundant,
            },
        );
        Ok(())
    }

    /// A scheduled transfer (route `tag`) has landed.
    pub fn transfer_done(&mut self, tag: u64) {
        let Some(f) = self.in_flight.remove(&tag) else {
            return;
        };
        if let Some(n) = self.incoming.get_mut(&(f.object, f.to)) {
            *n = n.saturating_sub(1);
        }
        let network_output = self.schedule.objects[f.object].network_output;
        let c = &mut self.copies[f.object];
        c.set(f.to, f.version);
        // A network output's write is the result itself, not a write to be read back.
        if f.to == Place::Dram && !f.redundant && !network_output {
            c.unread_dram_bits += f.bits;
        }
    }

    /// The objects a tile reads or writes in `core`'s SRAM (not streamed).
    fn sram_uses(&self, tile: TileId, core: usize) -> Vec<ObjectId> {
        let st = &self.schedule.tiles[tile];
        let on_chip = |op: &Operand| !st.streamed.contains(op);
        let w = &self.writes[tile];
        self.reads[tile]
            .iter()
            .filter(|r| on_chip(&r.operand))
            .map(|r| r.object)
            .chain(w.output.filter(|_| on_chip(&Operand::O)))
            .chain(w.state.iter().copied().filter(|_| on_chip(&Operand::V)))
            .filter(|&o| self.copies[o].at(Place::Sram(core)).is_some())
            .collect()
    }

    /// A tile is about to compute on `core`: everything it reads must be valid where it
    /// reads it, and what it writes must have room.
    pub fn tile_start(
        &mut self,
        now: Cycle,
        tile: TileId,
        core: usize,
    ) -> Result<(), Box<Violation>> {
        self.check_reads(now, tile, core)?;
        self.check_write_room(now, tile, core)?;
        self.check_staging(now, tile)?;
        for o in self.sram_uses(tile, core) {
            self.in_use.insert((o, core), tile);
        }
        Ok(())
    }

    /// Where a tile on `core` finds an operand: the DRAM when it streams it.
    fn place_of(&self, tile: TileId, core: usize, op: Operand) -> Place {
        if self.schedule.tiles[tile].streamed.contains(&op) {
            Place::Dram
        } else {
            Place::Sram(core)
        }
    }

    /// Everything the tile reads is valid, in its latest version, where it reads it.
    fn check_reads(&mut self, now: Cycle, tile: TileId, core: usize) -> Result<(), Box<Violation>> {
        for i in 0..self.reads[tile].len() {
            self.waste.checks += 1;
            let r = self.reads[tile][i].clone();
            let place = self.place_of(tile, core, r.operand);
            let c = &self.copies[r.object];
            if c.at(place) == Some(Some(r.version)) && c.latest == r.version {
                if place == Place::Dram {
                    self.copies[r.object].unread_dram_bits = 0;
                }
                continue;
            }
            let class = self.class(r.object);
            let stale = class == DataClass::V && c.latest != r.version;
            return Err(self.violation(
                if stale {
                    ViolationKind::StaleState
                } else {
                    ViolationKind::OperandNotValid
                },
                now,
                tile,
                Some(r.object),
                match class {
                    DataClass::V => format!("{} valid in {place}", version_text(class, r.version)),
                    _ => format!("its {} valid in {place}", r.operand.name()),
                },
                self.found_at(r.object, place),
            ));
        }
        Ok(())
    }

    /// What the tile writes has room where it lands.
    fn check_write_room(
        &mut self,
        now: Cycle,
        tile: TileId,
        core: usize,
    ) -> Result<(), Box<Violation>> {
        let w = self.writes[tile].clone();
        let outs = w
            .output
            .map(|o| (o, Operand::O))
            .into_iter()
            .chain(w.state.iter().map(|&o| (o, Operand::V)));
        for (o, op) in outs {
            self.waste.checks += 1;
            let place = self.place_of(tile, core, op);
            if place != Place::Dram && self.copies[o].at(place).is_none() {
                return Err(self.violation(
                    ViolationKind::UnallocatedOutput,
                    now,
                    tile,
                    Some(o),
                    format!("room for it ({}) in {place}", op.name()),
                    format!("no allocation in {place}"),
                ));
            }
        }
        Ok(())
    }

    /// A streaming tile has its staging area.
    fn check_staging(&mut self, now: Cycle, tile: TileId) -> Result<(), Box<Violation>> {
        let st = &self.schedule.tiles[tile];
        let budget = st.stream_budget_bits;
        if !st.streamed.is_empty() && budget > 0 {
            self.waste.checks += 1;
            let staged = self.staged.get(&tile).copied().unwrap_or(0);
            if staged < budget {
                return Err(self.violation(
                    ViolationKind::MissingStaging,
                    now,
                    tile,
                    None,
                    format!(
                        "a staging area of {budget} bits for its streamed operands ({})",
                        st.streamed
                            .iter()
                            .map(|o| o.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("{staged} bits staged"),
                ));
            }
        }
        Ok(())
    }

    /// A tile has computed and its writes have landed.
    pub fn tile_done(&mut self, tile: TileId, core: usize) {
        self.computed[tile] = true;
        for o in self.sram_uses(tile, core) {
            self.in_use.remove(&(o, core));
        }
        for r in &self.reads[tile] {
            self.readers_left[r.object] = self.readers_left[r.object].saturating_sub(1);
        }
        let st = &self.schedule.tiles[tile];
        let place_of = |op: Operand| {
            if st.streamed.contains(&op) {
                Place::Dram
            } else {
                Place::Sram(core)
            }
        };
        let w = &self.writes[tile];
        let written = w
            .output
            .map(|o| (o, Operand::O, 1))
            .into_iter()
            .chain(w.state.iter().map(|&o| (o, Operand::V, w.state_version)));
        for (o, op, version) in written {
            let place = place_of(op);
            let network_output = self.schedule.objects[o].network_output;
            let bits = self.schedule.objects[o].bits;
            let c = &mut self.copies[o];
            // The previous version's DRAM copy is superseded: if nobody read it back,
            // writing it was wasted.
            self.waste.dead_write_bits += std::mem::take(&mut c.unread_dram_bits);
            c.latest = version;
            match place {
                Place::Dram => {
                    c.dram = Some(version);
                    if !network_output {
                        c.unread_dram_bits = bits;
                    }
                }
                Place::Sram(_) => c.set(place, version),
            }
        }
    }

    /// End of the run: every tile computed and each layer covered exactly once, every
    /// network output in DRAM. Returns what the run wasted.
    pub fn finish(mut self, now: Cycle) -> Result<Waste, Box<Violation>> {
        let s = Arc::clone(&self.schedule);
        let ran = s
            .tiles
            .iter()
            .filter(|t| self.computed[t.tile.id])
            .map(|t| (t.tile.layer, &t.tile.region));
        if let Some(p) = crate::tiling::coverage::problems(&s.workload, ran)
            .into_iter()
            .next()
        {
            return Err(Box::new(Violation {
                kind: ViolationKind::Coverage,
                cycle: Some(now),
                tile: None,
                object: None,
                expected: format!("{} computed exactly once by the tiles that ran", p.element),
                found: p.message,
            }));
        }
        for (o, obj) in s.objects.iter().enumerate() {
            self.waste.checks += 1;
            if obj.network_output && !self.copies[o].valid_at(Place::Dram) {
                return Err(Box::new(Violation {
                    kind: ViolationKind::OutputNotInDram,
                    cycle: Some(now),
                    tile: None,
                    object: Some(describe_object(&s, o)),
                    expected: "the network output in DRAM at the end".into(),
                    found: self.found_at(o, Place::Dram),
                }));
            }
            self.waste.dead_write_bits += self.copies[o].unread_dram_bits;
        }
        Ok(self.waste)
    }
}

/// DRAM bits no schedule can avoid, by class (W, F, V): every layer's weights read
/// once, the network input read once and the network outputs written once.
pub fn compulsory_dram_bits(w: &Workload) -> [u64; 3] {
    let weights: u64 = w.layers.iter().map(|l| l.weight_bits()).sum();
    let t = w.timesteps as u64;
    let input = w.input.bits_per_timestep() * t;
    let outputs: u64 = w
        .layers
        .iter()
        .filter(|l| w.is_network_output(l.id))
        .map(|l| l.output_bits_per_timestep() * t)
        .sum();
    [weights, input + outputs, 0]
}
