//! The first blocks' tiles taken from the graph built before
//! ([`TileGraph::build_after`]).
//!
//! Two schedules that cut blocks 0..=k alike cut those blocks' layers into the same
//! tiles, with the same dependencies and the same chunks (earlier layers come first in
//! both the tiles and the objects). When, in both, every tile of those blocks runs
//! before any tile of a later block, the priority rule runs them in the same order (it
//! sees nothing else until they are done), and it orders the later tiles as if they
//! had all run. The new graph then takes them from the old one: only the ids of the
//! network-input slices move (they come after every feature chunk), and the state
//! chunks are named afresh.

use super::*;

/// The tiles a graph being built shares with the one before, taken from it.
pub(super) struct Shared {
    /// The first tiles of both graphs in schedule order (and of the new one in layer
    /// order), as the graph before names their data.
    taken: Vec<Tile>,
    /// How many.
    pub tiles: usize,
    /// Where the network-input slices start among the objects: (before, now).
    inputs_at: (usize, usize),
    /// Per shared position, the tile's index in layer order (`Made::raw`).
    raw_of: Vec<usize>,
}

impl Shared {
    /// The most tiles `graph` (cut by `before_cuts`) may share with the graph `made`
    /// for `cuts`, if it may share any: the tiles of the blocks both cut alike, up to
    /// the deepest block whose tiles all run first in `graph`. Whether they run first
    /// in the new graph too is [`Shared::runs_first`].
    pub(super) fn find(
        workload: &Workload,
        cuts: &[Cut],
        (graph, before_cuts): (TileGraph, &[Cut]),
        made: &Made,
        weights: usize,
    ) -> Option<Self> {
        if before_cuts.len() != cuts.len() || !same_input_slices(&graph, made, weights) {
            return None;
        }
        let alike = cuts
            .iter()
            .zip(before_cuts)
            .take_while(|(a, b)| a == b)
            .count();
        let inputs_at = (weights + graph.tiles.len(), weights + made.raw.len());
        let (tiles, raw_of) = (0..alike).rev().find_map(|k| {
            // Layers of later blocks come after (blocks are contiguous in layer order).
            let tiles = workload
                .layers
                .iter()
                .find(|l| l.block > k)
                .map_or(made.raw.len(), |l| made.grids[l.id].first);
            let first_in_graph = tiles > 0
                && graph.tiles.len() >= tiles
                && graph.tiles[..tiles].iter().all(|t| t.block <= k);
            if !first_in_graph {
                return None;
            }
            let raw_of = graph.tiles[..tiles]
                .iter()
                .map(|t| layer_order_index(made, t))
                .collect::<Option<Vec<_>>>()?;
            Some((tiles, raw_of))
        })?;
        let mut taken = graph.tiles;
        taken.truncate(tiles);
        Some(Self {
            taken,
            tiles,
            inputs_at,
            raw_of,
        })
    }

    /// Whether no tile after the shared ones would run among them in the new graph:
    /// none that the shared tiles alone make ready (`deps`: the dependencies of the
    /// tiles after them, in layer order) comes first by the priority rule at any step
    /// from when it is ready until they are done. `position` holds the shared tiles'
    /// positions ([`Shared::positions`]).
    pub(super) fn runs_first(
        &self,
        workload: &Workload,
        made: &Made,
        deps: &[TileIds],
        position: &[usize],
    ) -> bool {
        let n = self.tiles;
        // latest[j]: the last in priority of the shared tiles at positions j.. (the
        // one a ready tile must come after).
        let mut latest = vec![0u128; n + 1];
        for j in (0..n).rev() {
            latest[j] = latest[j + 1].max(priority(made.raw, workload, self.raw_of[j]));
        }
        deps.iter().enumerate().all(|(at, ds)| {
            if ds.iter().any(|&d| d >= n) {
                return true;
            }
            let ready = ds.iter().map(|&d| position[d] + 1).max().unwrap_or(0);
            priority(made.raw, workload, n + at) > latest[ready]
        })
    }

    /// The shared tiles' positions, by index in layer order.
    pub(super) fn positions(&self, position: &mut [usize]) {
        for (p, &raw) in self.raw_of.iter().enumerate() {
            position[raw] = p;
        }
    }

    /// The shared tiles, as the new graph names their data (renamed in place: the
    /// graph before is not used again).
    pub(super) fn into_tiles(self, made: &Made, core_of_layer: &[usize]) -> Vec<Tile> {
        let (before, now) = self.inputs_at;
        let rename = |o: &mut ObjectId| {
            if *o >= before {
                *o = *o - before + now;
            }
        };
        let mut tiles = self.taken;
        for (t, &raw) in tiles.iter_mut().zip(&self.raw_of) {
            t.inputs.iter_mut().for_each(rename);
            t.weights.iter_mut().for_each(rename);
            t.state = made.state_of_tile[raw];
            t.core = core_of_layer[t.layer];
        }
        tiles
    }
}

/// Whether `graph` slices the network input as `made` does (the slices follow the
/// weights and the feature chunks in both).
fn same_input_slices(graph: &TileGraph, made: &Made, weights: usize) -> bool {
    let slices = made.input_grid.groups * made.input_grid.columns;
    let at = weights + graph.tiles.len();
    let is_slice = |o: &DataObject| matches!(o.kind, ObjectKind::Features { layer: None, .. });
    graph
        .objects
        .get(at..at + slices)
        .is_some_and(|s| s.iter().all(is_slice))
        && !graph.objects.get(at + slices).is_some_and(is_slice)
}

/// Tile `t`'s index in layer order in `made` (`None` if it is not a tile there).
fn layer_order_index(made: &Made, t: &Tile) -> Option<usize> {
    let g = made.grids.get(t.layer)?;
    let group = (t.region.t.start / g.time_batch) as usize;
    let column = (t.region.ox.start / g.lines) as usize;
    let raw = g.first + group * g.columns + column;
    made.raw
        .get(raw)
        .filter(|(layer, region)| *layer == t.layer && *region == t.region)
        .map(|_| raw)
}
