//! The fine-grained tile graph: every layer cut into computation tiles by its block's
//! cut, the data each tile reads and writes, and the order tiles run in.
//!
//! Data is tracked as *objects* the memory manager moves as units: a layer's weights,
//! a feature chunk (one producer tile's output, or a slice of the network input), and a
//! state chunk (the neuron state of one column range of a stateful layer, carried
//! between consecutive timestep groups).
//!
//! Edges: a tile depends on the producer tiles whose outputs overlap the timesteps it
//! computes and the input columns it reads (halo and stride included), and on the tile
//! of the same neurons in the previous timestep group (state edge).
//!
//! Order (the priority rule of the authors' tool): among ready tiles, the lowest first
//! timestep, then the lowest first output column, then the deepest layer. With
//! layer-by-layer blocks (one tile per layer and timestep group) this runs a timestep
//! group layer after layer; with fused blocks it goes depth-first along the lines, and
//! it never runs a neuron's timestep before its previous one.

use super::{CtShape, Cut, TileRegion, layer_regions};
use crate::model::activity;
use crate::model::{FeatureFormat, OpKind, Operand, Source, Workload};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

mod splice;

pub type TileId = usize;
pub type ObjectId = usize;

/// A tile's dependencies or an object's readers: most hold a handful, kept inline
/// (explorations build a graph per schedule, and a heap list per tile and per object
/// was a large part of it). Serialised as a list, like a `Vec`.
pub type TileIds = SmallVec<[TileId; 4]>;
/// A tile's input chunks.
pub type ObjectIds = SmallVec<[ObjectId; 4]>;

/// The operand class of a data object, as the reports split energy and traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DataClass {
    /// Weights.
    W,
    /// Features: spikes or activations between layers, network input and output.
    F,
    /// Neuron state.
    V,
}

impl DataClass {
    pub const ALL: [DataClass; 3] = [DataClass::W, DataClass::F, DataClass::V];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            DataClass::W => "W",
            DataClass::F => "F",
            DataClass::V => "V",
        }
    }

    /// The class an operand of an `kind` layer's data belongs to: inputs and outputs
    /// are features, and so is a matmul's W operand (another layer's output).
    pub fn of(kind: OpKind, op: Operand) -> Self {
        match op {
            Operand::W if kind == OpKind::Matmul => DataClass::F,
            Operand::W => DataClass::W,
            Operand::I | Operand::O => DataClass::F,
            Operand::V => DataClass::V,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectKind {
    Weights {
        layer: usize,
    },
    Features {
        /// `None` for the network input.
        layer: Option<usize>,
        t: Range<u32>,
        ox: Range<u64>,
    },
    State {
        layer: usize,
        ox: Range<u64>,
    },
}

/// The tensor an object is a chunk of, which is what a person names it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tensor {
    Weights(usize),
    /// `None` for the network input.
    Features(Option<usize>),
    State(usize),
}

impl Tensor {
    /// `conv1 weights`, `conv1 output`, `network input`, `lif2 state`.
    pub fn describe(self, workload: &Workload) -> String {
        let name = |l: usize| workload.layers[l].name.as_str();
        match self {
            Tensor::Weights(layer) => format!("{} weights", name(layer)),
            Tensor::Features(Some(l)) => format!("{} output", name(l)),
            Tensor::Features(None) => "network input".into(),
            Tensor::State(layer) => format!("{} state", name(layer)),
        }
    }
}

impl ObjectKind {
    pub fn tensor(&self) -> Tensor {
        match *self {
            ObjectKind::Weights { layer } => Tensor::Weights(layer),
            ObjectKind::Features { layer, .. } => Tensor::Features(layer),
            ObjectKind::State { layer, .. } => Tensor::State(layer),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataObject {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub class: DataClass,
    pub bits: u64,
    /// Tiles that read the object, in schedule order.
    pub readers: TileIds,
    /// The tile that produces it (`None` for weights and the network input, which start
    /// in DRAM).
    pub producer: Option<TileId>,
    /// Network outputs end in DRAM.
    pub network_output: bool,
}

impl DataObject {
    /// What a person calls it: `conv1 weights`, `conv1 output`, `network input`.
    pub fn describe(&self, workload: &Workload) -> String {
        self.kind.tensor().describe(workload)
    }

    /// The feature tensor this object is a chunk of, and its timesteps (none for
    /// weights and state).
    pub fn feature_tensor(&self) -> Option<(Source, Range<u32>)> {
        match &self.kind {
            ObjectKind::Features { layer, t, .. } => {
                Some((layer.map_or(Source::NetworkInput, Source::Layer), t.clone()))
            }
            _ => None,
        }
    }

    pub fn starts_in_dram(&self) -> bool {
        matches!(self.kind, ObjectKind::Weights { .. })
            || matches!(self.kind, ObjectKind::Features { layer: None, .. })
    }
}

/// The bits an object takes in a level storing features in `format`, in expectation at
/// its tensor's stated density (the analytic half; the simulator counts the spikes).
/// Weights and state are stored as they are.
pub fn expected_stored_bits(
    workload: &Workload,
    object: &DataObject,
    format: FeatureFormat,
) -> u64 {
    let Some((source, t)) = object.feature_tensor() else {
        return object.bits;
    };
    let shape = workload.source_shape(source);
    let density = workload.densities.of(source, t);
    let address = activity::address_bits(shape.channels * shape.height * shape.width);
    let ratio = format.expected_ratio(density, shape.bits, address);
    (object.bits as f64 * ratio).round() as u64
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tile {
    pub id: TileId,
    pub layer: usize,
    pub block: usize,
    pub region: TileRegion,
    pub core: usize,
    /// Tiles that must finish first.
    pub deps: TileIds,
    /// Its W operand: the layer's weights, or a matmul's right-source chunks at its
    /// timesteps (every column); empty when it has none. Written as `null`, one id or
    /// a list, so that schedules saved when a tile had at most one read as they were.
    #[serde(with = "one_or_many")]
    pub weights: ObjectIds,
    /// Feature chunks read (all sources).
    pub inputs: ObjectIds,
    /// The feature chunk it produces.
    pub output: ObjectId,
    /// The state chunk it reads (not at the inference's first timestep) and/or leaves
    /// for the next timestep group (not at the last).
    pub state: Option<ObjectId>,
    pub reads_state: bool,
    pub writes_state: bool,
}

/// A list of object ids as `null` (none), one id, or a list (several).
mod one_or_many {
    use super::ObjectIds;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Written {
        One(usize),
        Many(Vec<usize>),
    }

    pub fn serialize<S: Serializer>(ids: &ObjectIds, s: S) -> Result<S::Ok, S::Error> {
        match ids.as_slice() {
            [] => s.serialize_none(),
            [one] => s.serialize_some(one),
            many => s.serialize_some(many),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectIds, D::Error> {
        Ok(match Option::<Written>::deserialize(d)? {
            None => ObjectIds::new(),
            Some(Written::One(id)) => ObjectIds::from_slice(&[id]),
            Some(Written::Many(ids)) => ObjectIds::from_vec(ids),
        })
    }
}

/// How a layer's (or the network input's) tiles are laid out: timestep groups × column
/// chunks.
#[derive(Debug, Clone, Copy)]
struct Grid {
    first: usize,
    time_batch: u32,
    lines: u64,
    groups: usize,
    columns: usize,
}

impl Grid {
    fn new(first: usize, time_batch: u32, lines: u64, timesteps: u32, width: u64) -> Self {
        Self {
            first,
            time_batch,
            lines,
            groups: timesteps.div_ceil(time_batch) as usize,
            columns: width.div_ceil(lines) as usize,
        }
    }

    /// Entries overlapping timesteps `t` and columns `x`, and how many there are (a
    /// list they go into is grown once, not entry by entry).
    fn overlapping(
        &self,
        t: &Range<u32>,
        x: &Range<u64>,
    ) -> (usize, impl Iterator<Item = usize> + '_) {
        let g0 = (t.start / self.time_batch) as usize;
        let g1 = (t.end.div_ceil(self.time_batch) as usize).min(self.groups);
        let c0 = (x.start / self.lines) as usize;
        let c1 = (x.end.div_ceil(self.lines) as usize).min(self.columns);
        let count = g1.saturating_sub(g0) * c1.saturating_sub(c0);
        let entries =
            (g0..g1).flat_map(move |g| (c0..c1).map(move |c| self.first + g * self.columns + c));
        (count, entries)
    }
}

/// What a build cuts and names before it orders the tiles: the tiles in layer order
/// (`raw`) with each layer's grid, the input slices' grid, and where each tile's output
/// and state chunk are among the objects.
#[derive(Clone, Copy)]
struct Made<'a> {
    raw: &'a [(usize, TileRegion)],
    grids: &'a [Grid],
    input_grid: &'a Grid,
    /// Where the feature chunks start (after the weights): one per tile, in layer order.
    outputs_at: usize,
    /// Per layer, its first state chunk (one per column, for a stateful layer cut into
    /// several timestep groups).
    first_state: &'a [Option<ObjectId>],
}

impl Made<'_> {
    /// The feature chunk tile `ti` (in layer order) produces.
    fn output(&self, ti: usize) -> ObjectId {
        self.outputs_at + ti
    }

    /// The state chunk tile `ti` (in layer order) reads and/or leaves, if any.
    fn state_of(&self, ti: usize) -> Option<ObjectId> {
        let lid = self.raw[ti].0;
        let g = self.grids[lid];
        self.first_state[lid].map(|first| first + (ti - g.first) % g.columns)
    }
}

/// Where a graph's tiles and objects go: each layer's grid (tiles in layer order), how
/// many tiles, weights objects and objects in all, the network-input slices' grid and
/// each layer's first state chunk. Objects are the weights, one feature chunk per
/// tile, the input slices and the state chunks.
struct Plan {
    grids: Vec<Grid>,
    total: usize,
    weights: usize,
    input_grid: Grid,
    first_state: Vec<Option<ObjectId>>,
    objects_total: usize,
}

impl Plan {
    fn of(workload: &Workload, cuts: &[Cut]) -> Self {
        let grids = layer_grids(workload, cuts);
        let total = grids.last().map_or(0, |g| g.first + g.groups * g.columns);
        let weights = workload
            .layers
            .iter()
            .filter(|l| l.op.has_weights())
            .count();
        let input_grid = input_grid(workload, cuts, weights + total);
        let states_at = input_grid.first + input_grid.groups * input_grid.columns;
        let (first_state, objects_total) = state_layout(workload, &grids, states_at);
        Self {
            grids,
            total,
            weights,
            input_grid,
            first_state,
            objects_total,
        }
    }
}

/// What a build worked out besides the graph, for the next build to take the tiles
/// they share from ([`TileGraph::build_after`]): the cuts and cores it was built for,
/// its tiles in layer order, and each one's position in schedule order.
#[derive(Debug, Clone)]
pub struct BuildRecord {
    cuts: Vec<Cut>,
    core_of_layer: Vec<usize>,
    raw: Vec<(usize, TileRegion)>,
    position: Vec<usize>,
    /// Where each layer's tiles start in layer order (`raw`), and the end.
    layer_first: Vec<usize>,
}

impl BuildRecord {
    /// The record of a graph of `total` tiles, `grids`, built for `cuts` on
    /// `core_of_layer`, with its tiles in layer order (`raw`) and their positions.
    fn of(
        (cuts, core_of_layer): (&[Cut], &[usize]),
        (raw, position): (Vec<(usize, TileRegion)>, Vec<usize>),
        (grids, total): (&[Grid], usize),
    ) -> Self {
        Self {
            cuts: cuts.to_vec(),
            core_of_layer: core_of_layer.to_vec(),
            raw,
            position,
            layer_first: (grids.iter().map(|g| g.first))
                .chain(std::iter::once(total))
                .collect(),
        }
    }

    /// How many tiles the graph holds.
    pub fn tiles(&self) -> usize {
        self.position.len()
    }

    /// The cut of each block.
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// Each layer's tiles, in layer order: (layer, their positions in schedule order).
    /// A layer cut alike in two schedules has the same tiles in the same layer order.
    pub fn positions_by_layer(&self) -> impl Iterator<Item = (usize, &[usize])> {
        (self.layer_first.windows(2).enumerate())
            .map(|(layer, run)| (layer, &self.position[run[0]..run[1]]))
    }

    /// The first and the last position of each block's tiles in schedule order.
    pub fn block_spans(&self, workload: &Workload) -> Vec<(usize, usize)> {
        let mut spans = vec![(usize::MAX, 0); workload.num_blocks];
        for (layer, positions) in self.positions_by_layer() {
            let (first, last) = &mut spans[workload.layers[layer].block];
            for &p in positions {
                *first = (*first).min(p);
                *last = (*last).max(p);
            }
        }
        spans
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TileGraph {
    /// In schedule order: `tiles[i].id == i`.
    pub tiles: Vec<Tile>,
    pub objects: Vec<DataObject>,
}

impl TileGraph {
    /// Cuts every layer by its block's cut; `core_of_layer` gives each layer's core.
    pub fn build(workload: &Workload, cuts: &[Cut], core_of_layer: &[usize]) -> Self {
        Self::build_after(workload, cuts, core_of_layer, None).0
    }

    /// [`TileGraph::build`], taking the tiles of the first blocks, and their data, from
    /// `before` (another schedule's graph and its record, used up) when both graphs run
    /// those blocks alike before any later one (see [`splice`]). The graph is the one
    /// `build` makes; an exploration builds one per schedule, and most share their
    /// first blocks with the schedule before. Returns it, its record and how many tiles
    /// it took.
    pub fn build_after(
        workload: &Workload,
        cuts: &[Cut],
        core_of_layer: &[usize],
        before: Option<(TileGraph, BuildRecord)>,
    ) -> (Self, BuildRecord, usize) {
        let plan = Plan::of(workload, cuts);
        let (grids, total) = (&plan.grids, plan.total);
        let mut shared = before.and_then(|(graph, record)| {
            splice::Shared::find(workload, cuts, core_of_layer, (graph, record), grids)
        });
        let from = shared.as_ref().map_or(0, |s| s.tiles);
        let mut raw = match &mut shared {
            Some(s) => s.take_raw(),
            None => Vec::with_capacity(total),
        };
        // Every layer has a tile: those not taken start at `from` or later.
        let first_new_layer = (workload.layers.iter())
            .position(|l| grids[l.id].first >= from)
            .unwrap_or(workload.layers.len());
        push_regions(workload, cuts, first_new_layer, &mut raw);
        let made = Made {
            raw: &raw,
            grids,
            input_grid: &plan.input_grid,
            outputs_at: plan.weights,
            first_state: &plan.first_state,
        };
        let (mut deps, mut inputs, mut weight_chunks) =
            dependencies(workload, &made, from..raw.len());
        let mut position = match &mut shared {
            Some(s) => s.take_positions(total),
            None => vec![0usize; total],
        };
        while let Some(s) = &mut shared
            && !s.runs_first(workload, &made, &deps, &position)
        {
            // A later block's tile would run among the shared ones: fewer blocks are
            // taken, or none.
            let before = s.tiles;
            if !s.shrink(workload, grids, &position) {
                shared = None;
            }
            let from = shared.as_ref().map_or(0, |s| s.tiles);
            let (d, i, w) = dependencies(workload, &made, from..before);
            deps.splice(0..0, d);
            inputs.splice(0..0, i);
            weight_chunks.splice(0..0, w);
        }
        let from = shared.as_ref().map_or(0, |s| s.tiles);
        // In the order of the priority rule, after the shared tiles.
        let order = priority_order(&raw, from, &deps, workload);
        for (pos, &ti) in order.iter().enumerate() {
            position[ti] = from + pos;
        }
        let (mut objects, mut tiles) = match shared {
            Some(s) => s.into_parts(workload, &made, (total, &position)),
            None => {
                let mut objects = Vec::with_capacity(plan.objects_total);
                weight_objects(workload, &mut objects);
                splice::Start::fresh(objects, total)
            }
        }
        .assemble(workload, &made);
        tiles.extend(new_tiles(
            workload,
            &made,
            (&order, from, &position),
            TileChunks {
                deps: &mut deps,
                inputs: &mut inputs,
                weight_chunks: &mut weight_chunks,
                weights: &weight_ids(workload),
            },
            core_of_layer,
        ));
        link_readers(workload, &tiles[from..], &mut objects);
        let record = BuildRecord::of((cuts, core_of_layer), (raw, position), (grids, total));
        (Self { tiles, objects }, record, from)
    }

    pub fn shape(&self, workload: &Workload, tile: TileId) -> CtShape {
        let t = &self.tiles[tile];
        CtShape::new(workload, &workload.layers[t.layer], &t.region)
    }
}

/// What the tiles after the shared ones read and depend on, in layer order from the
/// first of them (taken as each tile is made), and each layer's weights.
struct TileChunks<'a> {
    deps: &'a mut [TileIds],
    inputs: &'a mut [ObjectIds],
    weight_chunks: &'a mut [ObjectIds],
    weights: &'a [Option<ObjectId>],
}

/// The tiles `order` (in layer order, from tile `from` on), at positions `from..`;
/// `position` gives every tile's position.
fn new_tiles<'a>(
    workload: &'a Workload,
    made: &'a Made,
    (order, from, position): (&'a [usize], usize, &'a [usize]),
    chunks: TileChunks<'a>,
    core_of_layer: &'a [usize],
) -> impl Iterator<Item = Tile> + 'a {
    let t_total = workload.timesteps;
    let TileChunks {
        deps,
        inputs,
        weight_chunks,
        weights,
    } = chunks;
    order.iter().enumerate().map(move |(pos, &ti)| {
        let (lid, region) = &made.raw[ti];
        let layer = &workload.layers[*lid];
        // Renumbered in place: one buffer per tile, not two.
        let mut d = std::mem::take(&mut deps[ti - from]);
        for x in &mut d {
            *x = position[*x];
        }
        d.sort_unstable();
        let state = made.state_of(ti);
        Tile {
            id: from + pos,
            layer: *lid,
            block: layer.block,
            region: region.clone(),
            core: core_of_layer[*lid],
            deps: d,
            weights: match weights[*lid] {
                Some(w) => ObjectIds::from_slice(&[w]),
                None => std::mem::take(&mut weight_chunks[ti - from]),
            },
            inputs: std::mem::take(&mut inputs[ti - from]),
            output: made.output(ti),
            state,
            reads_state: state.is_some() && region.t.start > 0,
            writes_state: state.is_some() && region.t.end < t_total,
        }
    })
}

/// Every layer's grid under `cuts`, its tiles numbered in layer order.
fn layer_grids(workload: &Workload, cuts: &[Cut]) -> Vec<Grid> {
    let t_total = workload.timesteps;
    let mut first = 0;
    workload
        .layers
        .iter()
        .map(|layer| {
            let cut = cuts[layer.block];
            let lines = cut.lines.unwrap_or(layer.dims.ox).max(1);
            let tb = cut.time_batch.clamp(1, t_total);
            let grid = Grid::new(first, tb, lines, t_total, layer.dims.ox);
            first += super::tile_count(layer, cut, t_total) as usize;
            grid
        })
        .collect()
}

/// Appends the tiles of layers `from_layer..`, each cut by its block's cut, in layer
/// order.
fn push_regions(
    workload: &Workload,
    cuts: &[Cut],
    from_layer: usize,
    raw: &mut Vec<(usize, TileRegion)>,
) {
    for layer in &workload.layers[from_layer..] {
        let regions = layer_regions(layer, cuts[layer.block], workload.timesteps);
        raw.extend(regions.into_iter().map(|r| (layer.id, r)));
    }
}

/// Every layer cut by its block's cut, tiles in layer order, with each layer's grid.
#[cfg(test)]
fn cut_layers(workload: &Workload, cuts: &[Cut]) -> (Vec<(usize, TileRegion)>, Vec<Grid>) {
    let mut raw = Vec::new();
    push_regions(workload, cuts, 0, &mut raw);
    (raw, layer_grids(workload, cuts))
}

/// How many objects [`TileGraph::build`] makes: weights, one feature chunk per tile,
/// the input slices ([`input_objects`]) and the state chunks ([`state_objects`]).
#[cfg(test)]
fn object_count(workload: &Workload, cuts: &[Cut], tiles: usize, grids: &[Grid]) -> usize {
    let weights = workload
        .layers
        .iter()
        .filter(|l| l.op.has_weights())
        .count();
    let input = &workload.input;
    let slices = workload.timesteps as usize
        * input.width.div_ceil(input_lines(workload, cuts).max(1)) as usize;
    let states: usize = workload
        .layers
        .iter()
        .filter(|l| l.stateful && grids[l.id].groups >= 2)
        .map(|l| grids[l.id].columns)
        .sum();
    weights + tiles + slices + states
}

/// Per layer, its first state chunk when state chunks start at `states_at`: one per
/// column of a stateful layer cut into several timestep groups, in layer order. Also
/// where they end (the number of objects).
fn state_layout(
    workload: &Workload,
    grids: &[Grid],
    states_at: usize,
) -> (Vec<Option<ObjectId>>, usize) {
    let mut next = states_at;
    let first = (workload.layers.iter())
        .map(|l| {
            let g = grids[l.id];
            (l.stateful && g.groups >= 2).then(|| {
                next += g.columns;
                next - g.columns
            })
        })
        .collect();
    (first, next)
}

/// The columns of one network-input slice: one when a fused block reads the input,
/// else all.
fn input_lines(workload: &Workload, cuts: &[Cut]) -> u64 {
    let fused_reader = workload
        .layers
        .iter()
        .any(|l| l.sources.contains(&Source::NetworkInput) && cuts[l.block].lines.is_some());
    if fused_reader {
        1
    } else {
        workload.input.width
    }
}

fn push_object(
    objects: &mut Vec<DataObject>,
    kind: ObjectKind,
    class: DataClass,
    bits: u64,
) -> ObjectId {
    let id = objects.len();
    objects.push(DataObject {
        id,
        kind,
        class,
        bits,
        readers: TileIds::new(),
        producer: None,
        network_output: false,
    });
    id
}

/// One weights object per layer that has weights.
fn weight_objects(workload: &Workload, objects: &mut Vec<DataObject>) {
    for l in workload.layers.iter().filter(|l| l.op.has_weights()) {
        push_object(
            objects,
            ObjectKind::Weights { layer: l.id },
            DataClass::W,
            l.weight_bits(),
        );
    }
}

/// Each layer's weights object ([`weight_objects`]), if it has weights.
fn weight_ids(workload: &Workload) -> Vec<Option<ObjectId>> {
    let mut next = 0;
    (workload.layers.iter())
        .map(|l| {
            l.op.has_weights().then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// One feature chunk per tile of `raw[from..]`: what it produces.
fn output_objects(
    workload: &Workload,
    raw: &[(usize, TileRegion)],
    from: usize,
    objects: &mut Vec<DataObject>,
) {
    for (lid, r) in &raw[from..] {
        let l = &workload.layers[*lid];
        let bits =
            l.dims.k * l.dims.oy * (r.ox.end - r.ox.start) * r.timesteps() * l.precision.o as u64;
        push_object(
            objects,
            ObjectKind::Features {
                layer: Some(*lid),
                t: r.t.clone(),
                ox: r.ox.clone(),
            },
            DataClass::F,
            bits,
        );
    }
}

/// The grid of the network-input slices, which start among the objects at `first`.
fn input_grid(workload: &Workload, cuts: &[Cut], first: usize) -> Grid {
    let input = &workload.input;
    let lines = input_lines(workload, cuts);
    Grid::new(first, 1, lines, workload.timesteps, input.width)
}

/// The network input in DRAM, sliced per timestep, and per column when a fused block
/// reads it (`grid`).
fn input_objects(workload: &Workload, grid: &Grid, objects: &mut Vec<DataObject>) {
    debug_assert_eq!(objects.len(), grid.first);
    let input = &workload.input;
    for t in 0..workload.timesteps {
        let mut x = 0;
        while x < input.width {
            let x1 = (x + grid.lines).min(input.width);
            let bits = input.channels * input.height * (x1 - x) * input.bits as u64;
            push_object(
                objects,
                ObjectKind::Features {
                    layer: None,
                    t: t..t + 1,
                    ox: x..x1,
                },
                DataClass::F,
                bits,
            );
            x = x1;
        }
    }
}

/// The state chunks ([`state_layout`]) of the layers whose chunks `objects` does not
/// hold yet (the first of them starts where `objects` ends).
fn state_objects(workload: &Workload, made: &Made, objects: &mut Vec<DataObject>) {
    for layer in &workload.layers {
        let Some(first) = made.first_state[layer.id] else {
            continue;
        };
        if first < objects.len() {
            continue;
        }
        debug_assert_eq!(first, objects.len());
        let g = made.grids[layer.id];
        for c in 0..g.columns {
            let (_, r) = &made.raw[g.first + c];
            let bits =
                layer.dims.k * layer.dims.oy * (r.ox.end - r.ox.start) * layer.precision.v as u64;
            push_object(
                objects,
                ObjectKind::State {
                    layer: layer.id,
                    ox: r.ox.clone(),
                },
                DataClass::V,
                bits,
            );
        }
    }
}

/// Each tile's dependencies (producers of the columns it reads, halo and stride
/// included, and its own neurons' previous timestep group), the feature chunks it
/// reads as its input, and those it reads as its W operand (a matmul's right source:
/// every column), all sorted: those of the tiles `tiles` of `made.raw`, in order.
fn dependencies(
    workload: &Workload,
    made: &Made,
    tiles: Range<usize>,
) -> (Vec<TileIds>, Vec<ObjectIds>, Vec<ObjectIds>) {
    let Made {
        raw,
        grids,
        input_grid,
        ..
    } = *made;
    // Made empty, not cloned from an empty list (a clone copies element by element).
    let empty = || {
        std::iter::repeat_with(TileIds::new)
            .take(tiles.len())
            .collect::<Vec<_>>()
    };
    let (mut deps, mut inputs, mut weights) = (empty(), empty(), empty());
    for ti in tiles.clone() {
        let (lid, r) = &raw[ti];
        let at = ti - tiles.start;
        let layer = &workload.layers[*lid];
        let right = layer.weight_source();
        for &src in &layer.sources {
            let shape = workload.source_shape(src);
            let whole = layer.op == OpKind::Fc || Some(src) == right;
            let cols = if whole {
                0..shape.width
            } else {
                layer.input_range(1, r.ox.start, r.ox.end, shape.width)
            };
            let chunks = if Some(src) == right {
                &mut weights[at]
            } else {
                &mut inputs[at]
            };
            match src {
                Source::NetworkInput => {
                    let (count, slices) = input_grid.overlapping(&r.t, &cols);
                    chunks.reserve(count);
                    chunks.extend(slices);
                }
                Source::Layer(p) => {
                    let (count, producers) = grids[p].overlapping(&r.t, &cols);
                    chunks.reserve(count);
                    deps[at].reserve(count);
                    for pt in producers {
                        deps[at].push(pt);
                        chunks.push(made.output(pt));
                    }
                }
            }
        }
        // Recurrence: its own spikes of the timestep before, around its columns.
        if let Some((t, cols)) = layer.recurrent_read(&r.t, &r.ox) {
            let (count, producers) = grids[*lid].overlapping(&t, &cols);
            deps[at].reserve(count);
            inputs[at].reserve(count);
            for pt in producers {
                deps[at].push(pt);
                inputs[at].push(made.output(pt));
            }
        }
        // State edge: the same neurons' previous timestep group.
        let g = grids[*lid];
        let own = ti - g.first;
        if made.first_state[*lid].is_some() && own >= g.columns {
            deps[at].push(ti - g.columns);
        }
        deps[at].sort_unstable();
        deps[at].dedup();
        inputs[at].sort_unstable();
        inputs[at].dedup();
        weights[at].sort_unstable();
    }
    (deps, inputs, weights)
}

/// Readers and producers of every object `tiles` read and write, appended in schedule
/// order (the tiles before them are linked already).
fn link_readers(workload: &Workload, tiles: &[Tile], objects: &mut [DataObject]) {
    for tile in tiles {
        objects[tile.output].producer = Some(tile.id);
        objects[tile.output].network_output = workload.is_network_output(tile.layer);
    }
    let mut reads = vec![0usize; objects.len()];
    for tile in tiles {
        for o in tile.weights.iter().chain(&tile.inputs) {
            reads[*o] += 1;
        }
        if let (Some(s), true) = (tile.state, tile.reads_state) {
            reads[s] += 1;
        }
    }
    for (o, &n) in reads.iter().enumerate().filter(|&(_, &n)| n > 0) {
        objects[o].readers.reserve_exact(n);
    }
    for tile in tiles {
        for &w in &tile.weights {
            objects[w].readers.push(tile.id);
        }
        for &i in &tile.inputs {
            objects[i].readers.push(tile.id);
        }
        if let (Some(s), true) = (tile.state, tile.reads_state) {
            objects[s].readers.push(tile.id);
        }
    }
}

/// The tiles `from..` of `raw` in the order of the priority rule, the tiles before
/// `from` having run (`deps` holds the dependencies of tiles `from..`).
fn priority_order(
    raw: &[(usize, TileRegion)],
    from: usize,
    deps: &[TileIds],
    workload: &Workload,
) -> Vec<usize> {
    let n = raw.len() - from;
    // Counted and listed relative to `from`; dependencies before it are met.
    let later = |ds: &TileIds| ds.iter().filter(|&&d| d >= from).count();
    let mut missing: Vec<usize> = deps.iter().map(later).collect();
    // Dependents as one flat list (compressed rows): tile d's are
    // `dependents[first[d]..first[d + 1]]`.
    let mut first = vec![0usize; n + 1];
    for ds in deps {
        for &d in ds.iter().filter(|&&d| d >= from) {
            first[d - from + 1] += 1;
        }
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut dependents = vec![0usize; first[n]];
    let mut fill = first.clone();
    for (ti, ds) in deps.iter().enumerate() {
        for &d in ds.iter().filter(|&&d| d >= from) {
            dependents[fill[d - from]] = from + ti;
            fill[d - from] += 1;
        }
    }
    let key = |ti: usize| Reverse(priority(raw, workload, ti));
    let mut ready: BinaryHeap<_> = (0..n)
        .filter(|&t| missing[t] == 0)
        .map(|t| key(from + t))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(packed)) = ready.pop() {
        let ti = (packed & ((1 << TILE_BITS) - 1)) as usize;
        order.push(ti);
        for &d in &dependents[first[ti - from]..first[ti - from + 1]] {
            missing[d - from] -= 1;
            if missing[d - from] == 0 {
                ready.push(key(d));
            }
        }
    }
    order
}

const TILE_BITS: u32 = 32;

/// Tile `ti`'s place in the priority rule, lowest first: lowest timestep, lowest
/// column, deepest layer; the tile index settles ties. Packed in one integer (the
/// model's limits keep each field in its bits): the heap is the graph's hottest loop.
fn priority(raw: &[(usize, TileRegion)], workload: &Workload, ti: usize) -> u128 {
    const LAYER_BITS: u32 = 24;
    const COLUMN_BITS: u32 = 40;
    use crate::model::limits::{MAX_DIM, MAX_LAYERS, MAX_TILES, MAX_TIMESTEPS};
    const _: () = assert!(
        MAX_TILES < 1 << TILE_BITS
            && (MAX_LAYERS as u64) < 1 << LAYER_BITS
            && MAX_DIM < 1 << COLUMN_BITS
            && MAX_TIMESTEPS < 1 << 32
    );
    let (lid, r) = &raw[ti];
    let deeper_first = (1u128 << LAYER_BITS) - 1 - workload.layers[*lid].id as u128;
    (u128::from(r.t.start) << (COLUMN_BITS + LAYER_BITS + TILE_BITS))
        | (u128::from(r.ox.start) << (LAYER_BITS + TILE_BITS))
        | (deeper_first << TILE_BITS)
        | ti as u128
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `object_count` sizes the object list once: it must count exactly what `build`
    /// makes, weights, chunks, input slices and state, under every kind of cut.
    #[test]
    fn object_count_counts_what_build_makes() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/workloads");
        for name in [
            "tiny_fused",
            "sew_resnet18_cifar10dvs",
            "red_lif_gen4",
            "shd_rsnn",
        ] {
            let w = Workload::load(&models.join(format!("{name}.toml"))).expect("bundled model");
            let (one, all) = (1, w.timesteps);
            let mut checked = 0;
            for (time_batch, lines) in [(one, None), (all, None), (one, Some(1)), (all, Some(2))] {
                let cuts = vec![Cut { time_batch, lines }; w.num_blocks];
                if crate::tiling::cut_problem(&w, &cuts).is_some() {
                    continue;
                }
                let (raw, grids) = cut_layers(&w, &cuts);
                let graph = TileGraph::build(&w, &cuts, &vec![0; w.layers.len()]);
                assert_eq!(
                    object_count(&w, &cuts, raw.len(), &grids),
                    graph.objects.len(),
                    "{name}, every block cut {time_batch} timesteps, lines {lines:?}"
                );
                checked += 1;
            }
            assert!(checked >= 2, "{name}: at least the layer-by-layer cuts run");
        }
    }
}
