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
//! - freeing the only valid copy of data that is still to be read is data lost;
//! - every layer's output is computed exactly once (before and after the run), and every
//!   network output ends in DRAM.
//!
//! It also measures waste: loads of data already valid where they land
//! (`redundant_load_bits`) and DRAM writes whose data is never read back
//! (`dead_write_bits`).

use super::message::Cycle;
use crate::model::{OpKind, Operand, Source, Workload};
use crate::schedule::{Location, Reason, Schedule, Transfer};
use crate::tiling::graph::{DataClass, ObjectId, ObjectKind, TileId};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// What went wrong, one kind per way a schedule can be insufficient or unexecutable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// A tile reads data that is not valid where it reads it.
    OperandNotValid,
    /// A tile reads neuron state that holds another timestep.
    StaleState,
    /// A tile writes its output or state where nothing is allocated for it.
    UnallocatedOutput,
    /// A streaming tile has no (or too small a) staging area.
    MissingStaging,
    /// A transfer reads a copy that is not valid.
    SourceNotValid,
    /// A transfer writes into an SRAM where its object is not allocated.
    NotAllocated,
    /// Two transfers write the same copy at once.
    ConcurrentTransfers,
    /// An allocation is smaller than its object.
    AllocationTooSmall,
    /// An object is allocated twice on one core.
    DoubleAllocation,
    /// The only valid copy of data still to be read is freed.
    DataLost,
    /// A network output never reaches DRAM.
    OutputNotInDram,
    /// A layer's output is not computed exactly once.
    Coverage,
    /// The schedule's objects do not describe the data its tiles read and write.
    MalformedObjects,
}

impl ViolationKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::OperandNotValid => "operand not valid",
            Self::StaleState => "stale state",
            Self::UnallocatedOutput => "unallocated output",
            Self::MissingStaging => "missing staging area",
            Self::SourceNotValid => "transfer source not valid",
            Self::NotAllocated => "not allocated",
            Self::ConcurrentTransfers => "concurrent transfers",
            Self::AllocationTooSmall => "allocation too small",
            Self::DoubleAllocation => "double allocation",
            Self::DataLost => "data lost",
            Self::OutputNotInDram => "output not in DRAM",
            Self::Coverage => "coverage",
            Self::MalformedObjects => "malformed objects",
        }
    }
}

/// A schedule the verifier refused: what, where, when, expected and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The simulated cycle (none for checks before the run).
    pub cycle: Option<Cycle>,
    /// The tile whose action or compute failed: id, layer and region.
    pub tile: Option<String>,
    pub object: Option<String>,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.name())?;
        if let Some(c) = self.cycle {
            write!(f, " at cycle {c}")?;
        }
        if let Some(t) = &self.tile {
            write!(f, " — {t}")?;
        }
        if let Some(o) = &self.object {
            write!(f, " — {o}")?;
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
}

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

/// One operand read a tile must make, derived from its layer and region.
#[derive(Debug, Clone)]
struct Read {
    object: ObjectId,
    operand: Operand,
    version: u32,
}

/// What a tile writes: its output chunk, and the state chunks it leaves (with the
/// version they will hold).
#[derive(Debug, Clone, Default)]
struct Writes {
    output: Option<ObjectId>,
    state: Vec<ObjectId>,
    state_version: u32,
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

/// Feature chunks of one producer (a layer, or the network input), grouped by their
/// timestep range, each group's chunks sorted by column.
#[derive(Debug, Clone, Default)]
struct ChunkIndex {
    groups: Vec<(Range<u32>, Vec<Chunk>)>,
}

/// An object holding a column range.
type Chunk = (Range<u64>, ObjectId);

impl ChunkIndex {
    /// The chunks overlapping timesteps `t` × columns `x`, and whether they cover it.
    fn overlapping(&self, t: &Range<u32>, x: &Range<u64>) -> (Vec<ObjectId>, bool) {
        let mut found = Vec::new();
        let mut t_next = t.start;
        let mut covered = true;
        for (gt, chunks) in &self.groups {
            if gt.end <= t.start || gt.start >= t.end {
                continue;
            }
            covered &= gt.start <= t_next;
            t_next = t_next.max(gt.end);
            let first = chunks.partition_point(|(ox, _)| ox.end <= x.start);
            let mut x_next = x.start;
            for (ox, o) in chunks[first..]
                .iter()
                .take_while(|(ox, _)| ox.start < x.end)
            {
                covered &= ox.start <= x_next;
                x_next = x_next.max(ox.end);
                found.push(*o);
            }
            covered &= x_next >= x.end;
        }
        (found, covered && t_next >= t.end)
    }

    fn exact(&self, t: &Range<u32>, x: &Range<u64>) -> Option<ObjectId> {
        let (_, chunks) = self.groups.iter().find(|(gt, _)| gt == t)?;
        chunks.iter().find(|(ox, _)| ox == x).map(|(_, o)| *o)
    }
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
    computed: Vec<bool>,
    waste: Waste,
}

fn range_text<T: fmt::Display>(r: &Range<T>) -> String {
    format!("{}..{}", r.start, r.end)
}

/// `tile 12 (conv_b t0..2 ox3..4 on core0)`.
pub fn describe_tile(s: &Schedule, tile: TileId) -> String {
    let Some(st) = s.tiles.get(tile) else {
        return format!("tile {tile}");
    };
    let r = &st.tile.region;
    format!(
        "tile {tile} ({} t{} k{} oy{} ox{} on core{})",
        st.layer_name,
        range_text(&r.t),
        range_text(&r.k),
        range_text(&r.oy),
        range_text(&r.ox),
        st.tile.core
    )
}

/// `conv_a output t0..2 ox3..5 (object 7)`.
pub fn describe_object(s: &Schedule, o: ObjectId) -> String {
    let Some(obj) = s.objects.get(o) else {
        return format!("object {o}");
    };
    let what = obj.describe(&s.workload);
    match &obj.kind {
        ObjectKind::Weights { .. } => format!("{what} (object {o})"),
        ObjectKind::Features { t, ox, .. } => {
            format!(
                "{what} t{} ox{} (object {o})",
                range_text(t),
                range_text(ox)
            )
        }
        ObjectKind::State { ox, .. } => format!("{what} ox{} (object {o})", range_text(ox)),
    }
}

/// What a version of an object means to a person.
fn version_text(class: DataClass, v: u32) -> String {
    match class {
        DataClass::V if v == 0 => "reset state".into(),
        DataClass::V => format!("state after timestep {}", v - 1),
        _ if v == 0 => "nothing written".into(),
        _ => "the data".into(),
    }
}

/// The bits an object must hold, from its kind and the workload alone.
fn content_bits(w: &Workload, kind: &ObjectKind) -> Option<u64> {
    let mul = |xs: &[u64]| xs.iter().try_fold(1u64, |a, &x| a.checked_mul(x));
    match kind {
        ObjectKind::Weights { layer } => w.layers.get(*layer).map(|l| l.weight_bits()),
        ObjectKind::Features { layer, t, ox } => {
            let shape = match layer {
                None => w.source_shape(Source::NetworkInput),
                Some(l) if *l < w.layers.len() => w.source_shape(Source::Layer(*l)),
                Some(_) => return None,
            };
            mul(&[
                shape.channels,
                shape.height,
                ox.end.checked_sub(ox.start)?,
                t.end.checked_sub(t.start)? as u64,
                shape.bits as u64,
            ])
        }
        ObjectKind::State { layer, ox } => {
            let l = w.layers.get(*layer)?;
            mul(&[
                l.dims.k,
                l.dims.oy,
                ox.end.checked_sub(ox.start)?,
                l.precision.v as u64,
            ])
        }
    }
}

struct Indexes {
    weights: Vec<Option<ObjectId>>,
    /// Index 0: the network input; 1 + l: layer l.
    features: Vec<ChunkIndex>,
    state: Vec<Vec<Chunk>>,
}

impl Validity {
    /// Derives every tile's reads and writes from its layer and region, and checks
    /// before the run that the objects describe the data consistently and that every
    /// layer's output is covered exactly once.
    pub fn new(schedule: Arc<Schedule>) -> Result<Self, Box<Violation>> {
        let s = &*schedule;
        let static_violation = |kind, object: Option<String>, expected: String, found: String| {
            Box::new(Violation {
                kind,
                cycle: None,
                tile: None,
                object,
                expected,
                found,
            })
        };
        if let Some(p) = crate::tiling::coverage::problems(
            &s.workload,
            s.tiles.iter().map(|t| (t.tile.layer, &t.tile.region)),
        )
        .into_iter()
        .next()
        {
            return Err(static_violation(
                ViolationKind::Coverage,
                None,
                format!("{} computed exactly once", p.element),
                p.message,
            ));
        }
        let index = Self::index(s).map_err(|(o, expected, found)| {
            static_violation(ViolationKind::MalformedObjects, o, expected, found)
        })?;
        let mut reads = Vec::with_capacity(s.tiles.len());
        let mut writes = Vec::with_capacity(s.tiles.len());
        for st in &s.tiles {
            let id = st.tile.id;
            let fail = |expected: String, found: String| {
                Box::new(Violation {
                    kind: ViolationKind::MalformedObjects,
                    cycle: None,
                    tile: Some(describe_tile(s, id)),
                    object: None,
                    expected,
                    found,
                })
            };
            reads.push(Self::derive_reads(s, id, &index).map_err(|(e, f)| fail(e, f))?);
            writes.push(Self::derive_writes(s, id, &index).map_err(|(e, f)| fail(e, f))?);
        }
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
            waste: Waste::default(),
        })
    }

    /// Indexes the objects by what they hold, checking each one's size and that no two
    /// hold the same data.
    fn index(s: &Schedule) -> Result<Indexes, (Option<String>, String, String)> {
        let w = &s.workload;
        let nl = w.layers.len();
        let mut ix = Indexes {
            weights: vec![None; nl],
            features: vec![ChunkIndex::default(); nl + 1],
            state: vec![Vec::new(); nl],
        };
        for (o, obj) in s.objects.iter().enumerate() {
            let name = || Some(describe_object(s, o));
            if obj.id != o {
                return Err((name(), format!("id {o}"), format!("id {}", obj.id)));
            }
            let Some(bits) = content_bits(w, &obj.kind) else {
                return Err((name(), "a layer of the workload".into(), "none".into()));
            };
            if obj.bits != bits {
                return Err((
                    name(),
                    format!("{bits} bits (from its shape)"),
                    format!("{} bits", obj.bits),
                ));
            }
            match &obj.kind {
                ObjectKind::Weights { layer } => {
                    if let Some(other) = ix.weights[*layer].replace(o) {
                        return Err((
                            name(),
                            "one object per layer's weights".into(),
                            format!("object {other} too"),
                        ));
                    }
                }
                ObjectKind::Features { layer, t, ox } => {
                    let chunks = &mut ix.features[layer.map_or(0, |l| l + 1)];
                    match chunks.groups.iter_mut().find(|(gt, _)| gt == t) {
                        Some((_, v)) => v.push((ox.clone(), o)),
                        None => chunks.groups.push((t.clone(), vec![(ox.clone(), o)])),
                    }
                }
                ObjectKind::State { layer, ox } => ix.state[*layer].push((ox.clone(), o)),
            }
        }
        let overlap = |a: &Range<u64>, b: &Range<u64>| a.start < b.end && b.start < a.end;
        let disjoint = |v: &mut Vec<Chunk>| {
            v.sort_by_key(|(r, o)| (r.start, *o));
            match v.windows(2).find(|p| overlap(&p[0].0, &p[1].0)) {
                Some(p) => Err((
                    Some(describe_object(s, p[1].1)),
                    "objects holding disjoint data".into(),
                    format!("it overlaps object {}", p[0].1),
                )),
                None => Ok(()),
            }
        };
        for chunks in &mut ix.features {
            chunks.groups.sort_by_key(|(t, _)| (t.start, t.end));
            if let Some(p) = chunks.groups.windows(2).find(|p| p[1].0.start < p[0].0.end) {
                let o = p[1].1.first().map(|c| c.1);
                return Err((
                    o.map(|o| describe_object(s, o)),
                    "timestep ranges that are equal or disjoint".into(),
                    format!("t{} and t{}", range_text(&p[0].0), range_text(&p[1].0)),
                ));
            }
            for (_, v) in &mut chunks.groups {
                disjoint(v)?;
            }
        }
        for v in &mut ix.state {
            disjoint(v)?;
        }
        Ok(ix)
    }

    fn derive_reads(
        s: &Schedule,
        tile: TileId,
        ix: &Indexes,
    ) -> Result<Vec<Read>, (String, String)> {
        let w = &s.workload;
        let t = &s.tiles[tile].tile;
        let layer = &w.layers[t.layer];
        let r = &t.region;
        // State first: a tile run out of timestep order is reported as such.
        let mut reads = Vec::new();
        if layer.stateful && r.t.start > 0 {
            let chunks = &ix.state[layer.id];
            let found = state_chunks(chunks, &r.ox).ok_or_else(|| {
                (
                    format!(
                        "objects holding {} state for columns {}",
                        layer.name,
                        range_text(&r.ox)
                    ),
                    "none covering them".to_string(),
                )
            })?;
            reads.extend(found.into_iter().map(|o| Read {
                object: o,
                operand: Operand::V,
                version: r.t.start,
            }));
        }
        if layer.op.has_weights() {
            let o = ix.weights[layer.id].ok_or_else(|| {
                (
                    format!("an object holding {} weights", layer.name),
                    "none".to_string(),
                )
            })?;
            reads.push(Read {
                object: o,
                operand: Operand::W,
                version: 1,
            });
        }
        for &src in &layer.sources {
            let width = w.source_shape(src).width;
            let cols = if layer.op == OpKind::Fc {
                0..width
            } else {
                layer.input_range(1, r.ox.start, r.ox.end, width)
            };
            let chunks = match src {
                Source::NetworkInput => &ix.features[0],
                Source::Layer(p) => &ix.features[p + 1],
            };
            let (found, covered) = chunks.overlapping(&r.t, &cols);
            if !covered {
                return Err((
                    format!(
                        "objects holding {} t{} columns {}",
                        w.source_name(src),
                        range_text(&r.t),
                        range_text(&cols)
                    ),
                    format!("only objects {found:?}"),
                ));
            }
            for o in found {
                if !reads.iter().any(|x: &Read| x.object == o) {
                    reads.push(Read {
                        object: o,
                        operand: Operand::I,
                        version: 1,
                    });
                }
            }
        }
        Ok(reads)
    }

    fn derive_writes(s: &Schedule, tile: TileId, ix: &Indexes) -> Result<Writes, (String, String)> {
        let w = &s.workload;
        let t = &s.tiles[tile].tile;
        let layer = &w.layers[t.layer];
        let r = &t.region;
        let whole_planes = r.k == (0..layer.dims.k) && r.oy == (0..layer.dims.oy);
        let output = ix.features[layer.id + 1].exact(&r.t, &r.ox);
        if !whole_planes || output.is_none() {
            return Err((
                format!(
                    "one object holding {} output t{} ox{} (all channels and rows)",
                    layer.name,
                    range_text(&r.t),
                    range_text(&r.ox)
                ),
                "none".into(),
            ));
        }
        let mut writes = Writes {
            output,
            ..Writes::default()
        };
        if layer.stateful && r.t.end < w.timesteps {
            let chunks = &ix.state[layer.id];
            writes.state = state_chunks(chunks, &r.ox).ok_or_else(|| {
                (
                    format!(
                        "objects carrying {} state for columns {} to timestep {}",
                        layer.name,
                        range_text(&r.ox),
                        r.t.end
                    ),
                    "none covering them".to_string(),
                )
            })?;
            writes.state_version = r.t.end;
        }
        Ok(writes)
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

    /// A tile is about to compute on `core`: everything it reads must be valid where it
    /// reads it, and what it writes must have room.
    pub fn tile_start(
        &mut self,
        now: Cycle,
        tile: TileId,
        core: usize,
    ) -> Result<(), Box<Violation>> {
        let st = &self.schedule.tiles[tile];
        let streamed = |op: Operand| st.streamed.contains(&op);
        let place_of = |op: Operand| {
            if streamed(op) {
                Place::Dram
            } else {
                Place::Sram(core)
            }
        };
        for i in 0..self.reads[tile].len() {
            self.waste.checks += 1;
            let r = self.reads[tile][i].clone();
            let place = place_of(r.operand);
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
        let w = self.writes[tile].clone();
        let outs = w
            .output
            .map(|o| (o, Operand::O))
            .into_iter()
            .chain(w.state.iter().map(|&o| (o, Operand::V)));
        for (o, op) in outs {
            self.waste.checks += 1;
            let place = place_of(op);
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

fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Load => "load",
        Reason::Spill => "spill",
        Reason::Reload => "reload",
        Reason::WriteBack => "write-back",
        Reason::Output => "output write",
        Reason::Move => "move",
    }
}

/// The state chunks covering columns `ox`, each lying inside it; `None` if they do not
/// cover it or one straddles its edge.
fn state_chunks(chunks: &[Chunk], ox: &Range<u64>) -> Option<Vec<ObjectId>> {
    let mut next = ox.start;
    let mut found = Vec::new();
    for (r, o) in chunks
        .iter()
        .filter(|(r, _)| r.start < ox.end && ox.start < r.end)
    {
        if r.start != next || r.end > ox.end {
            return None;
        }
        next = r.end;
        found.push(*o);
    }
    (next == ox.end && !found.is_empty()).then_some(found)
}
