//! The first blocks' tiles, and their data, taken from the graph built before
//! ([`TileGraph::build_after`]).
//!
//! Two schedules that cut blocks 0..=k alike cut those blocks' layers into the same
//! tiles, with the same dependencies and the same chunks (earlier layers come first in
//! both the tiles and the objects). When, in both, every tile of those blocks runs
//! before any tile of a later block, the priority rule runs them in the same order (it
//! sees nothing else until they are done), and it orders the later tiles as if they
//! had all run. The new graph then takes them from the old one with the objects they
//! make, their weights, the network-input slices and their state chunks: only the ids
//! of the slices and state chunks move (they come after every feature chunk), and the
//! readers of the old graph's later tiles are dropped.

use super::*;

/// The tiles a graph being built shares with the one before, taken from it.
pub(super) struct Shared {
    /// The graph before and its record.
    graph: TileGraph,
    record: BuildRecord,
    /// How many tiles are shared: the first in schedule order, and in layer order.
    pub tiles: usize,
    /// Per shared position, the tile's index in layer order.
    raw_of: Vec<usize>,
}

impl Shared {
    /// The most tiles the graph before may share with the one being built for `cuts`
    /// on `core_of_layer` (`grids`), if it may share any: the tiles of the blocks both
    /// cut alike, up to the deepest block whose tiles all run first in the graph
    /// before. Whether they run first in the new graph too is [`Shared::runs_first`].
    pub(super) fn find(
        workload: &Workload,
        cuts: &[Cut],
        core_of_layer: &[usize],
        (graph, record): (TileGraph, BuildRecord),
        grids: &[Grid],
    ) -> Option<Self> {
        if record.cuts.len() != cuts.len()
            || record.core_of_layer != core_of_layer
            || input_lines(workload, &record.cuts) != input_lines(workload, cuts)
        {
            return None;
        }
        let alike = cuts
            .iter()
            .zip(&record.cuts)
            .take_while(|(a, b)| a == b)
            .count();
        let tiles = first_in_graph(workload, grids, alike, &record.position)?;
        let mut raw_of = vec![0; tiles];
        for (raw, &p) in record.position[..tiles].iter().enumerate() {
            raw_of[p] = raw;
        }
        Some(Self {
            graph,
            record,
            tiles,
            raw_of,
        })
    }

    /// Shares the tiles of fewer blocks: those of the deepest block before the ones
    /// shared now whose tiles all run first in the graph before, if there is one
    /// (`position` holds the shared tiles' positions). Returns whether there is.
    pub(super) fn shrink(
        &mut self,
        workload: &Workload,
        grids: &[Grid],
        position: &[usize],
    ) -> bool {
        let shared_blocks = (workload.layers.iter())
            .find(|l| grids[l.id].first >= self.tiles)
            .map_or(workload.num_blocks, |l| l.block);
        let position = &position[..self.tiles];
        match first_in_graph(workload, grids, shared_blocks.saturating_sub(1), position) {
            Some(tiles) if tiles < self.tiles => {
                // The first `tiles` positions hold the first `tiles` tiles in layer order.
                self.raw_of.truncate(tiles);
                self.tiles = tiles;
                true
            }
            _ => false,
        }
    }

    /// The shared tiles in layer order (the graph before's, which are the same).
    pub(super) fn take_raw(&mut self) -> Vec<(usize, TileRegion)> {
        let mut raw = std::mem::take(&mut self.record.raw);
        raw.truncate(self.tiles);
        raw
    }

    /// Positions by index in layer order, for a graph of `total` tiles: the shared
    /// tiles' filled in.
    pub(super) fn take_positions(&mut self, total: usize) -> Vec<usize> {
        let mut position = std::mem::take(&mut self.record.position);
        position.truncate(self.tiles);
        position.resize(total, 0);
        position
    }

    /// Whether no tile after the shared ones would run among them in the new graph:
    /// none that the shared tiles alone make ready (`deps`: the dependencies of the
    /// tiles after them, in layer order) comes first by the priority rule at any step
    /// from when it is ready until they are done. `position` holds the shared tiles'
    /// positions.
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

    /// The shared tiles and their data, as the new graph (of `total` tiles, `made`)
    /// names them.
    /// `position` gives each shared tile's position by its index in layer order.
    pub(super) fn into_parts(
        self,
        workload: &Workload,
        made: &Made,
        (total, position): (usize, &[usize]),
    ) -> Start {
        let Self { graph, tiles, .. } = self;
        let TileGraph {
            tiles: mut taken,
            mut objects,
        } = graph;
        let kept = made.outputs_at + tiles;
        let inputs_before = made.outputs_at + taken.len();
        let slices = made.input_grid.groups * made.input_grid.columns;
        // Readers among the tiles not taken go: each such tile's reads are dropped
        // from the objects it read (readers are in schedule order).
        for t in &taken[tiles..] {
            let read = t.weights.iter().chain(&t.inputs);
            for &o in
                read.filter(|&&o| o < kept || (inputs_before..inputs_before + slices).contains(&o))
            {
                let readers = &mut objects[o].readers;
                let mine = readers.partition_point(|&r| r < tiles);
                readers.truncate(mine);
            }
        }
        taken.truncate(tiles);
        let states_before = inputs_before + slices;
        // The shared layers' state chunks come first (layers in order).
        let shared_states: usize = (workload.layers.iter())
            .filter(|l| made.grids[l.id].first < tiles && made.first_state[l.id].is_some())
            .map(|l| made.grids[l.id].columns)
            .sum();
        let states: Vec<DataObject> = objects
            .drain(states_before..states_before + shared_states)
            .collect();
        let input_slices: Vec<DataObject> = objects
            .drain(inputs_before..inputs_before + slices)
            .collect();
        objects.truncate(kept);
        objects.reserve(made.input_grid.first + slices + states.len() - kept + (total - tiles));
        // Slices and state chunks move by the change in the number of feature chunks.
        let now = made.input_grid.first;
        if now != inputs_before {
            let rename = |o: &mut ObjectId| {
                if *o >= inputs_before {
                    *o = *o - inputs_before + now;
                }
            };
            // Only the tiles of layers that read the network input or keep state chunks
            // name such objects: thousands of others are not visited.
            let renamed = (workload.layers.iter()).filter(|l| {
                made.grids[l.id].first < tiles
                    && (l.sources.contains(&Source::NetworkInput)
                        || made.first_state[l.id].is_some())
            });
            for l in renamed {
                let g = made.grids[l.id];
                for raw in g.first..(g.first + g.groups * g.columns).min(tiles) {
                    let t = &mut taken[position[raw]];
                    t.inputs.iter_mut().for_each(rename);
                    t.weights.iter_mut().for_each(rename);
                    if let Some(s) = &mut t.state {
                        rename(s);
                    }
                }
            }
        }
        Start {
            objects,
            input_slices: Some(input_slices),
            states,
            tiles: taken,
        }
    }
}

/// How many tiles of the blocks before `blocks` run first in a graph, given its tiles'
/// positions in layer order: those up to the deepest such block whose tiles all do
/// (none if none does).
fn first_in_graph(
    workload: &Workload,
    grids: &[Grid],
    blocks: usize,
    position: &[usize],
) -> Option<usize> {
    (0..blocks).rev().find_map(|k| {
        // Layers of later blocks come after (blocks are contiguous in layer order).
        let tiles = (workload.layers.iter())
            .find(|l| l.block > k)
            .map_or(position.len(), |l| grids[l.id].first);
        // The first `tiles` positions hold the first `tiles` tiles in layer order.
        let first =
            tiles > 0 && position.len() >= tiles && position[..tiles].iter().all(|&p| p < tiles);
        first.then_some(tiles)
    })
}

/// What a graph being built starts from: its first objects (the weights and, with tiles
/// taken from the graph before, their feature chunks), the network-input slices and
/// state chunks taken with them, and the tiles taken.
pub(super) struct Start {
    objects: Vec<DataObject>,
    input_slices: Option<Vec<DataObject>>,
    states: Vec<DataObject>,
    tiles: Vec<Tile>,
}

impl Start {
    /// Nothing taken: the weights only.
    pub(super) fn fresh(objects: Vec<DataObject>, tiles: usize) -> Self {
        Self {
            objects,
            input_slices: None,
            states: Vec::new(),
            tiles: Vec::with_capacity(tiles),
        }
    }

    /// Every object of the graph `made` describes, in order (the feature chunks of the
    /// tiles not taken, the slices and state chunks, taken or made), and the tiles taken.
    pub(super) fn assemble(self, workload: &Workload, made: &Made) -> (Vec<DataObject>, Vec<Tile>) {
        let Self {
            mut objects,
            input_slices,
            states,
            tiles,
        } = self;
        output_objects(
            workload,
            made.raw,
            objects.len() - made.outputs_at,
            &mut objects,
        );
        match input_slices {
            Some(slices) => objects.extend(slices),
            None => input_objects(workload, made.input_grid, &mut objects),
        }
        objects.extend(states);
        let at = made.input_grid.first;
        for (i, o) in objects[at..].iter_mut().enumerate() {
            o.id = at + i;
        }
        state_objects(workload, made, &mut objects);
        (objects, tiles)
    }
}
