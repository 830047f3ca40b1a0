//! When a core may free its copy of an object that other cores read.
//!
//! A tile on another core never reads this core's SRAM directly: the scheduler moves
//! the data over the NoC first (a `Move` in the reader's before actions, issued by the
//! reader's controller). So a free here must wait for the moves out of this copy that
//! the schedule puts before it, and for the readers on this core, but not for readers
//! on other cores, which read their own copy. Waiting for those too would tie the
//! producer core to the consumer's compute and undo layer pipelining.

use crate::schedule::{Action, Location, Schedule};
use crate::tiling::graph::{ObjectId, TileId};
use std::collections::{HashMap, HashSet};

/// One core's view of the moves that read its copies.
#[derive(Debug, Default)]
pub struct CopyReads {
    /// Object → the tiles (in schedule order) whose actions move it out of this core.
    moves_out: HashMap<ObjectId, Vec<TileId>>,
    /// (tile, object) moves out of this core that have landed at their destination.
    landed: HashSet<(TileId, ObjectId)>,
}

impl CopyReads {
    pub fn new(schedule: &Schedule, core: usize) -> Self {
        let mut moves_out: HashMap<ObjectId, Vec<TileId>> = HashMap::new();
        for st in &schedule.tiles {
            for action in st.before.iter().chain(&st.after) {
                if let Action::Transfer(t) = action
                    && let (Location::Sram { core: from }, Location::Sram { core: to }) =
                        (t.from, t.to)
                    && from == core
                    && to != core
                {
                    moves_out.entry(t.object).or_default().push(st.tile.id);
                }
            }
        }
        Self {
            moves_out,
            landed: HashSet::new(),
        }
    }

    /// A move of `object` out of this core, in `tile`'s actions, has landed.
    pub fn landed(&mut self, tile: TileId, object: ObjectId) {
        self.landed.insert((tile, object));
    }

    /// Whether this core's copy of `object` must stay for a read scheduled before
    /// `limit`: a reader on this core not done yet, or a move out not landed yet.
    pub fn pending(
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
        let move_out = self.moves_out.get(&object).is_some_and(|tiles| {
            tiles
                .iter()
                .any(|&m| m < limit && !done[m] && !self.landed.contains(&(m, object)))
        });
        local_reader || move_out
    }
}
