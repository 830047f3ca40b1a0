//! Data handed between cores through SRAM copies and DRAM: when a core may free its
//! copy of an object other cores read, and when a core may read data that a transfer
//! of another core puts in place.
//!
//! A core's controller issues the transfers of its own tiles, some of which read
//! another core's SRAM (a move to this core, or a write-back of a copy another core
//! holds) or DRAM. On one core the lanes order every write before the reads the
//! schedule puts after it; across cores nothing else does, so:
//! - a free of this core's copy waits for the transfers out of it that other cores
//!   issue for tiles scheduled before the free (they report back with `CopyRead`), and
//!   for this core's own readers; not for other cores' readers, which read their own
//!   copy — waiting for them would tie the producer to the consumer's compute and undo
//!   layer pipelining;
//! - a transfer that reads DRAM, or another core's SRAM, waits for the transfers that
//!   put the object there in tiles scheduled earlier, on any core (they are announced
//!   with `Landed`), and for the tiles that stream it into DRAM as they compute
//!   (their `TileDone`): a prefetch must not read a DRAM copy still being written;
//! - so does a tile that streams an operand out of DRAM as it computes: its compute
//!   starts when the stores of that data, from any core, have landed.

use crate::model::Operand;
use crate::schedule::{Action, Location, Schedule, Transfer};
use crate::tiling::graph::{ObjectId, TileId};
use std::collections::{HashMap, HashSet};

/// One core's view of the hand-offs its transfers take part in.
#[derive(Debug, Default)]
pub struct Handoffs {
    /// Object → tiles of other cores whose transfers read this core's copy.
    reads_of_copy: HashMap<ObjectId, Vec<TileId>>,
    /// (tile, object) reads of this core's copy that have landed.
    read: HashSet<(TileId, ObjectId)>,
    /// (object, place) read from DRAM or across cores → the tiles (any core) whose
    /// transfers put the object there.
    arrivals: HashMap<(ObjectId, Location), Vec<TileId>>,
    /// (tile, object, place) arrivals that have landed.
    landed: HashSet<(TileId, ObjectId, Location)>,
    /// Object → tiles that write it straight to DRAM (a streamed output or state).
    streamed_to_dram: HashMap<ObjectId, Vec<TileId>>,
}

/// Whether a transfer of a tile on `issuer` reads data another core's lanes put in
/// place: from DRAM, or from another core's SRAM.
fn reads_handed_over(t: &Transfer, issuer: usize) -> bool {
    match t.from {
        Location::Dram => true,
        Location::Sram { core } => core != issuer,
    }
}

impl Handoffs {
    pub fn new(schedule: &Schedule, core: usize) -> Self {
        let transfers = || {
            schedule.tiles.iter().flat_map(|st| {
                st.before
                    .iter()
                    .chain(&st.after)
                    .filter_map(move |a| match a {
                        Action::Transfer(t) => Some((st.tile.id, st.tile.core, t)),
                        _ => None,
                    })
            })
        };
        let mut h = Self::default();
        for (tile, issuer, t) in transfers() {
            if t.from == (Location::Sram { core }) && issuer != core {
                h.reads_of_copy.entry(t.object).or_default().push(tile);
            }
            if issuer == core && reads_handed_over(t, issuer) {
                h.arrivals.entry((t.object, t.from)).or_default();
            }
        }
        for st in schedule.tiles.iter().filter(|st| st.tile.core == core) {
            for o in streamed_reads(schedule, st.tile.id) {
                h.arrivals.entry((o, Location::Dram)).or_default();
            }
        }
        for (tile, _, t) in transfers() {
            if let Some(tiles) = h.arrivals.get_mut(&(t.object, t.to)) {
                tiles.push(tile);
            }
        }
        for st in &schedule.tiles {
            let streams = |op: Operand| st.streamed.contains(&op);
            let state = st.tile.state.filter(|_| st.tile.writes_state);
            let written = [
                Some(st.tile.output).filter(|_| streams(Operand::O)),
                state.filter(|_| streams(Operand::V)),
            ];
            for o in written.into_iter().flatten() {
                if h.arrivals.contains_key(&(o, Location::Dram)) {
                    h.streamed_to_dram.entry(o).or_default().push(st.tile.id);
                }
            }
        }
        h
    }

    /// A transfer of `tile` read `object` out of this core's copy, and has landed.
    pub fn copy_read(&mut self, tile: TileId, object: ObjectId) {
        self.read.insert((tile, object));
    }

    /// A transfer of `tile` put `object` at `to`.
    pub fn landed(&mut self, tile: TileId, object: ObjectId, to: Location) {
        if self.arrivals.contains_key(&(object, to)) {
            self.landed.insert((tile, object, to));
        }
    }

    /// Whether this core's copy of `object` must stay for a read scheduled before
    /// `limit`: a reader on this core not done yet, or another core's transfer out of
    /// it not landed yet.
    pub fn copy_pending(
        &self,
        schedule: &Schedule,
        core: usize,
        object: ObjectId,
        limit: TileId,
        done: &[bool],
    ) -> bool {
        let local_reader = schedule.objects[object]
            .readers
            .iter()
            .any(|&r| r < limit && !done[r] && schedule.tiles[r].tile.core == core);
        let read_out = self.reads_of_copy.get(&object).is_some_and(|tiles| {
            tiles
                .iter()
                .any(|&m| m < limit && !self.read.contains(&(m, object)))
        });
        local_reader || read_out
    }

    /// Whether `t`, a transfer of `tile` on this core, may read its source: every
    /// transfer that puts the object there in an earlier tile has landed (only for
    /// sources other lanes fill: DRAM and other cores' SRAM).
    pub fn source_ready(&self, t: &Transfer, tile: TileId, done: &[bool]) -> bool {
        self.in_place(t.object, t.from, tile, done)
    }

    /// Whether `tile` may start computing as far as the operands it streams out of DRAM
    /// go: the data has been put there by every earlier tile, on any core.
    pub fn streams_ready(&self, schedule: &Schedule, tile: TileId, done: &[bool]) -> bool {
        streamed_reads(schedule, tile).all(|o| self.in_place(o, Location::Dram, tile, done))
    }

    /// Whether `object` is in place at `place` for `tile`: every transfer of an earlier
    /// tile that puts it there has landed, and (in DRAM) every earlier tile that streams
    /// it there is done.
    fn in_place(&self, object: ObjectId, place: Location, tile: TileId, done: &[bool]) -> bool {
        let transfers_landed = self.arrivals.get(&(object, place)).is_none_or(|tiles| {
            tiles
                .iter()
                .all(|&w| w >= tile || self.landed.contains(&(w, object, place)))
        });
        let streams_done = place != Location::Dram
            || self
                .streamed_to_dram
                .get(&object)
                .is_none_or(|tiles| tiles.iter().all(|&w| w >= tile || done[w]));
        transfers_landed && streams_done
    }
}

/// The objects `tile` reads straight out of DRAM as it computes (its streamed inputs,
/// weights and state).
fn streamed_reads(schedule: &Schedule, tile: TileId) -> impl Iterator<Item = ObjectId> + '_ {
    let st = &schedule.tiles[tile];
    st.streamed.iter().flat_map(move |op| match op {
        Operand::I => st.tile.inputs.clone(),
        Operand::W => st.tile.weights.clone(),
        Operand::V => st.tile.state.into_iter().collect(),
        Operand::O => Default::default(),
    })
}
