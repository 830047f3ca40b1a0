//! The tile costs a worker has worked out, kept between the schedules it runs: by
//! mapping key, and by tile. Schedules of one space cut the same layers into the same
//! tiles again and again; a tile's key is a few words, where its mapping key holds the
//! whole shape (built, hashed and compared for every tile walked).

use crate::mapping::{MapKey, Objective, Residency};
use crate::tiling::TileRegion;
use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::TileCost;

/// What a tile's mapping key is made of, given the workload: its layer and region (its
/// shape), its core, what it streams and the room it streams through, and the
/// objective.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TileKey {
    pub layer: usize,
    pub region: TileRegion,
    pub core: usize,
    pub residency: Residency,
    pub stream_budget_bits: u64,
    pub objective: Objective,
}

/// Costs by mapping key and by tile. Those by tile hold for one workload only (the
/// key leaves the shape out): one cache per workload and accelerator.
#[derive(Default)]
pub(super) struct TileCosts {
    by_key: FxHashMap<MapKey, Arc<TileCost>>,
    by_tile: FxHashMap<TileKey, Arc<TileCost>>,
    /// The last tile costed at each position of the schedule order, with its key. The
    /// schedules of a space run one after another, and the next one mostly walks the
    /// same tiles at the same positions: read in order, this list stays in the cache,
    /// where a lookup in `by_tile` missed it for nearly every tile walked.
    by_position: Vec<Option<(TileKey, Arc<TileCost>)>>,
    /// The costs of the splits last tried at each position, for the two rooms last
    /// tried there (a tile may be tried beside what is held, then in the whole room),
    /// the latest first. Trying every split looked each one up by tile, a cache miss
    /// apiece.
    splits_by_position: Vec<[Option<Box<SplitCosts>>; 2]>,
}

/// A tile whose operands are split between resident and streamed, as
/// [`Engine::cheapest_split`](super::Engine) tries it: what its splits' tile keys are
/// made of (the operands' sizes and the room set each split's streaming budget).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SplitKey {
    pub layer: usize,
    pub region: TileRegion,
    pub core: usize,
    pub sizes: [u64; 4],
    pub capacity: u64,
    pub objective: Objective,
}

/// The cost of each split of one tile tried for one room, by split (bit i: operand i
/// streamed): `None` until tried, then the cost or `None` if it maps to none.
pub(super) struct SplitCosts {
    pub key: SplitKey,
    pub costs: [Option<Option<Arc<TileCost>>>; 16],
}

impl TileCosts {
    pub fn get(&self, key: &MapKey) -> Option<&Arc<TileCost>> {
        self.by_key.get(key)
    }

    pub fn insert(&mut self, key: MapKey, cost: Arc<TileCost>) {
        self.by_key.insert(key, cost);
    }

    pub fn of_tile(&self, tile: &TileKey) -> Option<&Arc<TileCost>> {
        self.by_tile.get(tile)
    }

    pub fn insert_tile(&mut self, tile: TileKey, cost: Arc<TileCost>) {
        self.by_tile.insert(tile, cost);
    }

    /// The cost last kept at `position` ([`TileCosts::keep_at`]), if it is `tile`'s.
    pub fn at_position(&self, position: usize, tile: &TileKey) -> Option<&Arc<TileCost>> {
        match self.by_position.get(position) {
            Some(Some((key, cost))) if key == tile => Some(cost),
            _ => None,
        }
    }

    /// Keeps `tile`'s cost as the one last costed at `position`.
    pub fn keep_at(&mut self, position: usize, tile: TileKey, cost: Arc<TileCost>) {
        if self.by_position.len() <= position {
            self.by_position.resize(position + 1, None);
        }
        self.by_position[position] = Some((tile, cost));
    }

    /// The split costs kept at `position` for `key` (taken out), or none tried yet.
    pub fn splits_at(&mut self, position: usize, key: SplitKey) -> Box<SplitCosts> {
        (self.splits_by_position.get_mut(position))
            .and_then(|slots| slots.iter_mut().find_map(|c| c.take_if(|c| c.key == key)))
            .unwrap_or_else(|| SplitCosts::none(key))
    }

    /// Keeps `costs` as the latest tried at `position`.
    pub fn keep_splits_at(&mut self, position: usize, costs: Box<SplitCosts>) {
        if self.splits_by_position.len() <= position {
            self.splits_by_position
                .resize_with(position + 1, Default::default);
        }
        let slots = &mut self.splits_by_position[position];
        if slots[0].is_some() {
            slots.swap(0, 1);
        }
        slots[0] = Some(costs);
    }
}

impl SplitCosts {
    fn none(key: SplitKey) -> Box<Self> {
        Box::new(Self {
            key,
            costs: Default::default(),
        })
    }
}
