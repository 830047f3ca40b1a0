//! The tile costs a worker has worked out, kept between the schedules it runs: by
//! mapping key, and by tile. Schedules of one space cut the same layers into the same
//! tiles again and again; a tile's key is a few words, where its mapping key holds the
//! whole shape (built, hashed and compared for every tile walked). The last costs of
//! each tile are also kept by its identity across schedules (its layer, its block's
//! cut and its index in the layer), read in the order the walk meets them.

use crate::mapping::{MapKey, Objective, Residency};
use crate::model::Workload;
use crate::tiling::graph::BuildRecord;
use crate::tiling::{Cut, TileRegion};
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
    /// Where each layer's tiles under each cut start among the identities.
    identity_base: FxHashMap<(usize, Cut), usize>,
    identities: usize,
    /// The identity of the tile at each position of the schedule being walked; empty
    /// when none were given ([`TileCosts::identify`]), and then nothing is kept by it.
    identity_at: Vec<u32>,
    /// The last cost worked out for each tile identity, with its key. The walk reads
    /// each layer's tiles in layer order, so this list stays in the cache, where a
    /// lookup in `by_tile` missed it for nearly every tile walked.
    by_identity: Vec<Option<(TileKey, Arc<TileCost>)>>,
    /// The costs of the splits last tried for each tile identity, for the two rooms
    /// last tried (a tile may be tried beside what is held, then in the whole room),
    /// the latest first. Trying every split looked each one up by tile, a cache miss
    /// apiece.
    splits_by_identity: Vec<[Option<Box<SplitCosts>>; 2]>,
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

    /// Names the tiles of the schedule about to be walked, by position, from the
    /// record of its graph. A layer cut alike is cut into the same tiles, in the same
    /// layer order, in every schedule: (layer, cut, index in the layer) is the identity.
    pub fn identify(&mut self, workload: &Workload, record: &BuildRecord) {
        let cuts = record.cuts();
        self.identity_at.clear();
        self.identity_at.resize(record.tiles(), 0);
        for (layer, positions) in record.positions_by_layer() {
            let cut = cuts[workload.layers[layer].block];
            let base = *(self.identity_base.entry((layer, cut))).or_insert_with(|| {
                self.identities += positions.len();
                self.identities - positions.len()
            });
            for (i, &p) in positions.iter().enumerate() {
                self.identity_at[p] = (base + i) as u32;
            }
        }
    }

    fn identity(&self, position: usize) -> Option<usize> {
        self.identity_at.get(position).map(|&i| i as usize)
    }

    /// The cost last kept for the tile at `position` ([`TileCosts::keep_at`]), if it
    /// is `tile`'s.
    pub fn at_position(&self, position: usize, tile: &TileKey) -> Option<&Arc<TileCost>> {
        match self.by_identity.get(self.identity(position)?) {
            Some(Some((key, cost))) if key == tile => Some(cost),
            _ => None,
        }
    }

    /// Keeps `tile`'s cost as the one last costed for the tile at `position`.
    pub fn keep_at(&mut self, position: usize, tile: TileKey, cost: Arc<TileCost>) {
        let Some(id) = self.identity(position) else {
            return;
        };
        if self.by_identity.len() <= id {
            self.by_identity.resize(self.identities.max(id + 1), None);
        }
        self.by_identity[id] = Some((tile, cost));
    }

    /// The split costs kept for the tile at `position` for `key` (taken out), or none
    /// tried yet.
    pub fn splits_at(&mut self, position: usize, key: SplitKey) -> Box<SplitCosts> {
        let slots = (self.identity(position)).and_then(|id| self.splits_by_identity.get_mut(id));
        slots
            .and_then(|slots| slots.iter_mut().find_map(|c| c.take_if(|c| c.key == key)))
            .unwrap_or_else(|| SplitCosts::none(key))
    }

    /// Keeps `costs` as the latest tried for the tile at `position`.
    pub fn keep_splits_at(&mut self, position: usize, costs: Box<SplitCosts>) {
        let Some(id) = self.identity(position) else {
            return;
        };
        if self.splits_by_identity.len() <= id {
            (self.splits_by_identity).resize_with(self.identities.max(id + 1), Default::default);
        }
        let slots = &mut self.splits_by_identity[id];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::space::Space;
    use crate::tiling::graph::TileGraph;
    use std::collections::HashMap;
    use std::path::Path;

    /// Over a stretch of SEW-ResNet-18's exhaustive space, a tile identity names one
    /// (layer, region) in every schedule, and two tiles of one schedule never share one.
    #[test]
    fn a_tile_identity_names_one_region_of_one_layer_in_every_schedule() {
        let path = Path::new("models/workloads/sew_resnet18_cifar10dvs.toml");
        let w = Workload::load(path).expect("model");
        let points = Space::Exhaustive.points(w.num_blocks);
        let cores = vec![0; w.layers.len()];
        let mut costs = TileCosts::default();
        let mut named: HashMap<u32, (usize, TileRegion)> = HashMap::new();
        for p in points.iter().step_by(331) {
            let cuts = p.spec.cuts(w.timesteps);
            let (graph, record, _) = TileGraph::build_after(&w, &cuts, &cores, None);
            costs.identify(&w, &record);
            assert_eq!(costs.identity_at.len(), graph.tiles.len());
            let mut ids = costs.identity_at.clone();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), graph.tiles.len(), "{}", p.spec);
            for (t, &id) in graph.tiles.iter().zip(&costs.identity_at) {
                let tile = (t.layer, t.region.clone());
                assert_eq!(named.entry(id).or_insert_with(|| tile.clone()), &tile);
            }
        }
        assert!(costs.identities > costs.identity_at.len());
    }
}
