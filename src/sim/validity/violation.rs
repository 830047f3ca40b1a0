//! What the verifier reports: a violation's kind, and how tiles, objects and versions
//! read to a person.

use crate::schedule::{Reason, Schedule};
use crate::sim::message::Cycle;
use crate::tiling::graph::{DataClass, ObjectId, ObjectKind, TileId};
use serde::Serialize;
use std::fmt;
use std::ops::Range;

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
    /// A copy is freed while a computing tile reads or writes it.
    FreedInUse,
    /// A network output never reaches DRAM.
    OutputNotInDram,
    /// A layer's output is not computed exactly once.
    Coverage,
    /// The schedule's objects do not describe the data its tiles read and write.
    MalformedObjects,
    /// A compressed transfer does not carry exactly the non-zeros of its data.
    CompressedPayload,
    /// A tile is listed before a tile that writes what it reads.
    OrderContradictsData,
    /// A streamed chunk does not fit the staging area reserved for it.
    StagingTooSmall,
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
            Self::FreedInUse => "freed in use",
            Self::OutputNotInDram => "output not in DRAM",
            Self::Coverage => "coverage",
            Self::MalformedObjects => "malformed objects",
            Self::CompressedPayload => "compressed payload",
            Self::OrderContradictsData => "order contradicts data",
            Self::StagingTooSmall => "staging area too small",
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

pub(super) fn range_text<T: fmt::Display>(r: &Range<T>) -> String {
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
pub(super) fn version_text(class: DataClass, v: u32) -> String {
    match class {
        DataClass::V if v == 0 => "reset state".into(),
        DataClass::V => format!("state after timestep {}", v - 1),
        _ if v == 0 => "nothing written".into(),
        _ => "the data".into(),
    }
}

pub(super) fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Load => "load",
        Reason::Spill => "spill",
        Reason::Reload => "reload",
        Reason::WriteBack => "write-back",
        Reason::Output => "output write",
        Reason::Move => "move",
    }
}
