//! Prefix sharing: schedules that cut their first blocks alike run those blocks alike,
//! so an exploration schedules them once and continues from the scheduler's state.
//!
//! A *boundary* after block k is a point in the tile order where every tile of blocks
//! 0..=k has run and none of a later block has (it exists when time batching or a
//! layer-by-layer cut separates the blocks; blocks that interleave timestep by timestep
//! or line by line have none). What the scheduler decides up to a boundary depends on
//! the tiles before it and on what it can see of the future: when the data the prefix
//! leaves behind is read next (its readers' positions) and what the tiles up to the
//! last such reader need (the survival check). The [`Checkpoint`] key holds exactly
//! that, so a checkpoint is continued only by a schedule that would have made every
//! decision of the prefix the same way: the rows are the same as without sharing.

use super::walk::{CoreClock, Walk};
use super::*;

/// The scheduler's state after a prefix of blocks, for schedules that share it.
pub(super) struct Checkpoint {
    /// Tiles run.
    tiles: usize,
    /// Where the network input and the state objects start among the objects.
    layout: Layout,
    /// The prefix's objects, in id order: id, state, spill counts.
    objs: Vec<(ObjectId, ObjState, [u64; 4])>,
    resident: Vec<Vec<ObjectId>>,
    pads: Vec<Scratchpad>,
    ledger: Ledger,
    incidents: Incidents,
    ports: Ports,
    remote_free_at: Vec<u64>,
    vacancies: Vec<super::Vacancies>,
    cores: Vec<CoreClock>,
    tile_end: Vec<u64>,
    busy: u64,
    stalls: [u64; StallCause::COUNT],
}

/// Object ids are laid out as weights, feature chunks of every tile, network-input
/// slices, state chunks. The prefix's weights and feature chunks keep their ids from
/// one schedule to another (earlier layers come first); the input slices and state
/// chunks move by the number of feature chunks of the later layers.
#[derive(Debug, Clone, Copy)]
struct Layout {
    inputs_at: usize,
    states_at: usize,
}

impl Layout {
    fn of(graph: &TileGraph) -> Self {
        let rank = |o: &tiling_graph::DataObject| match o.kind {
            ObjectKind::Weights { .. } => 0,
            ObjectKind::Features { layer: Some(_), .. } => 1,
            ObjectKind::Features { layer: None, .. } => 2,
            ObjectKind::State { .. } => 3,
        };
        Self {
            inputs_at: graph.objects.partition_point(|o| rank(o) < 2),
            states_at: graph.objects.partition_point(|o| rank(o) < 3),
        }
    }

    /// The id in a graph laid out as `to` of object `o` of a graph laid out as `self`.
    fn translate(&self, o: ObjectId, to: &Layout) -> ObjectId {
        if o < self.inputs_at {
            o
        } else if o < self.states_at {
            o - self.inputs_at + to.inputs_at
        } else {
            o - self.states_at + to.states_at
        }
    }
}

use crate::tiling::graph as tiling_graph;
use crate::tiling::graph::{BuildRecord, ObjectKind};

/// A boundary of one schedule: the tiles before it and the key of what they decide.
pub(super) struct Boundary {
    pub tiles: usize,
    /// The last block before it.
    pub block: usize,
    /// Empty when `reach` is the last block (no other schedule shares the state).
    pub key: Vec<u64>,
    /// The last block its key depends on: schedules that cut blocks 0..=`reach` alike
    /// may share it (none can when it is the last block).
    pub reach: usize,
    /// The tiles its key describes end here (after the last reader of what the tiles
    /// before it leave); `usize::MAX` when it has no key.
    horizon: usize,
}

impl Boundary {
    /// Whether another schedule may share the state here (its key depends on no cut of
    /// the last block).
    pub fn shareable(&self) -> bool {
        !self.key.is_empty()
    }
}

/// The graph built before the one whose boundaries are sought, as far as the new one
/// took it: its first `taken` tiles (and what they make), and its boundaries.
#[derive(Default)]
pub(super) struct Before {
    pub taken: usize,
    pub boundaries: Vec<Boundary>,
}

/// The boundaries of `graph`, built as `record` tells, in order. A boundary of the
/// graph `before` whose key describes only tiles the new graph took from it is the
/// same boundary: it is taken, not worked out again (its key runs to thousands of
/// words).
pub(super) fn boundaries(
    workload: &Workload,
    graph: &TileGraph,
    record: &BuildRecord,
    before: Before,
) -> Vec<Boundary> {
    let blocks = workload.num_blocks;
    if blocks < 2 {
        return Vec::new();
    }
    let cuts = record.cuts();
    // From the record's positions, not the tiles: a tile fills several cache lines.
    let spans = record.block_spans(workload);
    // (block before, tiles before) of each boundary, in order.
    let mut at = Vec::new();
    let mut prefix_last = 0usize;
    for k in 0..blocks - 1 {
        prefix_last = prefix_last.max(spans[k].1);
        let suffix_first = (spans[k + 1..].iter())
            .map(|s| s.0)
            .min()
            .unwrap_or(usize::MAX);
        if prefix_last + 1 == suffix_first {
            at.push((k, suffix_first));
        }
    }
    let Before {
        taken,
        boundaries: mut old,
    } = before;
    // A taken boundary's crossing data gains no reader among the new tiles: the layers
    // that read it in the new graph read it in the graph before too (every cut of a
    // layer reads the same chunks), after its taken tiles, so past its horizon.
    let found: Vec<Option<Boundary>> = (at.iter())
        .map(|&(k, tiles)| {
            let same = |b: &Boundary| b.block == k && b.tiles == tiles && b.horizon <= taken;
            let i = old.iter().position(same)?;
            Some(old.swap_remove(i))
        })
        .collect();
    let todo: Vec<(usize, usize)> = (at.iter().zip(&found))
        .filter(|(_, f)| f.is_none())
        .map(|(&a, _)| a)
        .collect();
    let crossing = crossing_objects(graph, &todo);
    let layout = Layout::of(graph);
    let stacks = residency::fused_stacks(cuts);
    let mut worked_out = (todo.iter().zip(&crossing)).map(|(&(k, tiles), left)| {
        let scope = Scope {
            graph,
            cuts,
            stacks: &stacks,
            layout,
            last_block: blocks - 1,
        };
        boundary(scope, (k, tiles), left)
    });
    // One worked out for every boundary not found.
    (found.into_iter())
        .filter_map(|f| f.or_else(|| worked_out.next()))
        .collect()
}

/// What a boundary's key is worked out from besides its place.
#[derive(Clone, Copy)]
struct Scope<'a> {
    graph: &'a TileGraph,
    cuts: &'a [crate::tiling::Cut],
    /// The fused stack of each block.
    stacks: &'a [Option<usize>],
    layout: Layout,
    last_block: usize,
}

/// Per boundary, what the tiles before it leave that tiles after it read (their
/// feature chunks, and the network input), in id order. One pass over the objects for
/// every boundary: the graph holds thousands of objects and only these matter.
fn crossing_objects(graph: &TileGraph, at: &[(usize, usize)]) -> Vec<Vec<ObjectId>> {
    let mut out = vec![Vec::new(); at.len()];
    if at.is_empty() {
        return out;
    }
    for (o, object) in graph.objects.iter().enumerate() {
        // The tiles that must have run for it to exist.
        let made_after = match object.kind {
            ObjectKind::Features { layer: Some(_), .. } => match object.producer {
                Some(p) => p + 1,
                None => continue,
            },
            ObjectKind::Features { layer: None, .. } => 0,
            _ => continue,
        };
        let Some(&last_reader) = object.readers.last() else {
            continue;
        };
        for (left, &(_, tiles)) in out.iter_mut().zip(at) {
            if made_after <= tiles && tiles <= last_reader {
                left.push(o);
            }
        }
    }
    out
}

/// Words of a boundary's key per tile up to its horizon.
const TILE_WORDS: usize = 12;

fn boundary(scope: Scope, (k, tiles): (usize, usize), left: &[ObjectId]) -> Boundary {
    let Scope {
        graph,
        cuts,
        stacks,
        layout,
        last_block,
    } = scope;
    // A state that depends on the last block's cut is no other schedule's: it gets no
    // key (none is ever kept), and the rest of the scan is skipped.
    let shareless = Boundary {
        tiles,
        block: k,
        key: Vec::new(),
        reach: last_block,
        horizon: usize::MAX,
    };
    let mut key: Vec<u64> = vec![k as u64, tiles as u64];
    for cut in &cuts[..=k] {
        key.extend([cut.time_batch as u64, cut.lines.map_or(0, |l| l + 1)]);
    }
    // Sized at once: these keys run to thousands of words, grown push by push they
    // were copied over and over. Per object: tag, name, readers; per tile: 12 words.
    let objects_words: usize = left
        .iter()
        .map(|&o| 3 + graph.objects[o].readers.len())
        .sum();
    let horizon = (left.iter())
        .filter_map(|&o| graph.objects[o].readers.last())
        .fold(tiles, |h, &r| h.max(r + 1));
    key.reserve_exact(objects_words + (horizon - tiles) * TILE_WORDS);
    // What the prefix leaves that later tiles read: its feature chunks and the input.
    for &o in left {
        let object = &graph.objects[o];
        let last_reader = object.readers[object.readers.len() - 1];
        if graph.tiles[last_reader].block == last_block {
            return shareless;
        }
        // A stable name: feature chunks keep their ids, input slices count from 0.
        let (tag, stable) = if o < layout.inputs_at {
            (0, o)
        } else {
            (1, o - layout.inputs_at)
        };
        key.extend([tag, stable as u64]);
        key.push(object.readers.len() as u64);
        key.extend(object.readers.iter().map(|&r| r as u64));
    }
    // The tiles up to the last such reader, as the survival check and the stack hold
    // see them.
    let mut reach = k;
    for t in &graph.tiles[tiles..horizon] {
        if t.block == last_block {
            return shareless;
        }
        let n = Needs::of(graph, t.id);
        let stack = stacks[t.block].map_or(0, |s| s as u64 + 1);
        key.extend([
            t.layer as u64,
            t.core as u64,
            u64::from(t.region.t.start),
            u64::from(t.region.t.end),
            t.region.ox.start,
            t.region.ox.end,
            u64::from(t.reads_state) | u64::from(t.writes_state) << 1,
            stack,
        ]);
        key.extend(n.sizes);
        reach = reach.max(t.block);
    }
    Boundary {
        tiles,
        block: k,
        key,
        reach,
        horizon,
    }
}

impl Checkpoint {
    /// The state of `e` and `w` after the first `tiles` tiles (blocks 0..=`block`).
    pub(super) fn take(e: &Engine, w: &Walk, tiles: usize, block: usize) -> Self {
        let graph = e.graph;
        let in_prefix = |o: &tiling_graph::DataObject| match o.kind {
            ObjectKind::Weights { layer } | ObjectKind::State { layer, .. } => {
                e.workload.layers[layer].block <= block
            }
            ObjectKind::Features { layer: Some(_), .. } => o.producer.is_some_and(|p| p < tiles),
            ObjectKind::Features { layer: None, .. } => true,
        };
        // Counted first: the copy is made once, at its final size.
        let mut objs = Vec::with_capacity(graph.objects.iter().filter(|o| in_prefix(o)).count());
        objs.extend(
            graph
                .objects
                .iter()
                .filter(|o| in_prefix(o))
                .map(|o| (o.id, e.objs[o.id].clone(), e.spills[o.id])),
        );
        Self {
            tiles,
            layout: Layout::of(graph),
            objs,
            resident: e
                .resident
                .iter()
                .map(|r| r.iter().copied().collect())
                .collect(),
            pads: e.pads.clone(),
            ledger: e.ledger.clone(),
            incidents: e.incidents.clone(),
            ports: e.ports.clone(),
            remote_free_at: e.remote_free_at.clone(),
            vacancies: e.vacancies.clone(),
            cores: w.cores.clone(),
            tile_end: w.tile_end[..tiles].to_vec(),
            busy: w.busy,
            stalls: w.stalls,
        }
    }

    /// Puts the state into a fresh engine and walk of another schedule with the same
    /// key; returns the tiles to continue from, or `None` (nothing changed) if an
    /// object falls outside its graph (never expected: the key holds the cuts of the
    /// blocks the objects belong to, which lay them out).
    pub(super) fn restore(&self, e: &mut Engine, w: &mut Walk) -> Option<usize> {
        let to = Layout::of(e.graph);
        let objects = &e.graph.objects;
        // Ids translate in order: the last is the largest.
        let lines_up = self
            .objs
            .last()
            .is_none_or(|(o, _, _)| self.layout.translate(*o, &to) < objects.len())
            && self
                .resident
                .iter()
                .flatten()
                .chain(
                    self.cores
                        .iter()
                        .flat_map(|c| c.deferred.iter().chain(&c.prev_required)),
                )
                .all(|&o| self.layout.translate(o, &to) < objects.len())
            && w.tile_end.len() >= self.tiles
            && e.resident.len() == self.resident.len()
            && w.cores.len() == self.cores.len();
        if !lines_up {
            return None;
        }
        for (o, state, spills) in &self.objs {
            let o = self.layout.translate(*o, &to);
            e.objs[o] = state.clone();
            e.spills[o] = *spills;
        }
        for (core, members) in self.resident.iter().enumerate() {
            for &o in members {
                e.resident[core].insert(self.layout.translate(o, &to));
            }
        }
        e.pads = self.pads.clone();
        e.ledger = self.ledger.clone();
        e.incidents = self.incidents.clone();
        e.ports = self.ports.clone_to_grow();
        e.remote_free_at.clone_from(&self.remote_free_at);
        e.vacancies.clone_from(&self.vacancies);
        w.cores = self.cores.clone();
        for c in &mut w.cores {
            for o in c.deferred.iter_mut().chain(c.prev_required.iter_mut()) {
                *o = self.layout.translate(*o, &to);
            }
        }
        w.tile_end[..self.tiles].copy_from_slice(&self.tile_end);
        w.busy = self.busy;
        w.stalls = self.stalls;
        Some(self.tiles)
    }

    /// About how many bytes it holds.
    pub(super) fn bytes(&self) -> usize {
        self.objs.len() * std::mem::size_of::<(ObjectId, ObjState, [u64; 4])>()
            + self.tile_end.len() * 8
            + self.resident.iter().map(|r| r.len() * 8).sum::<usize>()
            + self.ports.bytes()
            + 4096
    }
}

/// The last schedule's tile graph, its record and its boundaries.
pub(super) struct LastGraph {
    pub graph: TileGraph,
    pub record: crate::tiling::graph::BuildRecord,
    pub boundaries: Vec<Boundary>,
}

/// Key hashes a cache remembers (8 MiB of them) before it forgets them all.
const MAX_SEEN_KEYS: usize = 1 << 20;

/// Checkpoints by key, bounded in bytes (the least recently used goes first), and the
/// tile costs already worked out, for the schedules one worker runs.
pub struct PrefixCache {
    checkpoints: FxHashMap<Vec<u64>, (Arc<Checkpoint>, u64)>,
    bytes: usize,
    budget_bytes: usize,
    clock: u64,
    /// Hashes of the keys met (see [`PrefixCache::seen_before`]).
    seen: rustc_hash::FxHashSet<u64>,
    pub(super) costs: super::tile_costs::TileCosts,
    /// The last schedule's tile graph and its record: the next one takes the tiles of
    /// the first blocks it shares from it ([`TileGraph::build_after`]).
    pub(super) graph: Option<LastGraph>,
    /// Schedules continued from a checkpoint, and tiles they did not run again.
    pub hits: u64,
    pub tiles_skipped: u64,
    pub schedules: u64,
    /// Tiles walked, and those walked by schedules that continued from no checkpoint.
    pub tiles_walked: u64,
    pub tiles_walked_from_start: u64,
}

impl PrefixCache {
    /// Counts the `tiles` a schedule walked, `from_start` if it continued from no
    /// checkpoint.
    pub(super) fn count_walked(&mut self, tiles: usize, from_start: bool) {
        self.tiles_walked += tiles as u64;
        if from_start {
            self.tiles_walked_from_start += tiles as u64;
        }
    }

    /// A cache holding at most about `budget_bytes` of checkpoints. The checkpoints
    /// and tile costs it keeps are those of one workload on one accelerator: use one
    /// cache per workload and accelerator.
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            checkpoints: FxHashMap::default(),
            bytes: 0,
            budget_bytes,
            clock: 0,
            seen: rustc_hash::FxHashSet::default(),
            costs: super::tile_costs::TileCosts::default(),
            graph: None,
            hits: 0,
            tiles_skipped: 0,
            tiles_walked: 0,
            tiles_walked_from_start: 0,
            schedules: 0,
        }
    }

    pub(super) fn get(&mut self, key: &[u64]) -> Option<Arc<Checkpoint>> {
        self.clock += 1;
        let clock = self.clock;
        self.checkpoints.get_mut(key).map(|(c, used)| {
            *used = clock;
            c.clone()
        })
    }

    pub(super) fn contains(&self, key: &[u64]) -> bool {
        self.checkpoints.contains_key(key)
    }

    /// Whether a schedule met this key before (and remembers that it has now): without
    /// a hint of what comes next, a checkpoint is kept the second time its key comes
    /// up, so that keys no other schedule shares cost no copy.
    pub(super) fn seen_before(&mut self, key: &[u64]) -> bool {
        use std::hash::BuildHasher;
        let hash = rustc_hash::FxBuildHasher.hash_one(key);
        if self.seen.len() >= MAX_SEEN_KEYS {
            self.seen.clear();
        }
        !self.seen.insert(hash)
    }

    pub(super) fn insert(&mut self, key: Vec<u64>, checkpoint: Checkpoint) {
        let size = checkpoint.bytes() + key.len() * 8;
        if size > self.budget_bytes {
            return;
        }
        while self.bytes + size > self.budget_bytes {
            let Some(oldest) = self
                .checkpoints
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((c, _)) = self.checkpoints.remove(&oldest) {
                self.bytes -= c.bytes() + oldest.len() * 8;
            }
        }
        self.clock += 1;
        self.bytes += size;
        self.checkpoints
            .insert(key, (Arc::new(checkpoint), self.clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::space::Space;
    use crate::tiling::graph::BuildRecord;
    use std::path::Path;

    /// (tiles, block, key, reach, horizon) of each boundary.
    fn parts(bounds: &[Boundary]) -> Vec<(usize, usize, &[u64], usize, usize)> {
        (bounds.iter())
            .map(|b| (b.tiles, b.block, &b.key[..], b.reach, b.horizon))
            .collect()
    }

    /// Over stretches of two networks' exhaustive spaces in prefix order, every graph
    /// built on the one before: the boundaries taken from the graph before are those
    /// worked out afresh, and some are taken.
    #[test]
    fn boundaries_taken_from_the_graph_before_are_those_worked_out() {
        for (workload, stride) in [
            ("models/workloads/red_lif_gen4.toml", 4099),
            ("models/workloads/sew_resnet18_cifar10dvs.toml", 1031),
            ("models/workloads/spikformer_4_384_cifar10.toml", 97),
            ("models/workloads/shd_rsnn.toml", 1),
        ] {
            let w = Workload::load(Path::new(workload)).expect("model");
            let mut points = Space::Exhaustive.points(w.num_blocks);
            points.sort_by_cached_key(|p| p.spec.prefix_order_key(w.timesteps));
            let cores = vec![0; w.layers.len()];
            let mut before: Option<(TileGraph, BuildRecord, Vec<Boundary>)> = None;
            // Boundaries whose keys describe tiles taken from the graph before.
            let mut taken_any = 0;
            for start in (0..points.len()).step_by(stride) {
                for p in points.iter().skip(start).take(12) {
                    let cuts = p.spec.cuts(w.timesteps);
                    if crate::tiling::cut_problem(&w, &cuts).is_some() {
                        continue;
                    }
                    let (graph_before, old) = match before.take() {
                        Some((g, r, b)) => (Some((g, r)), b),
                        None => (None, Vec::new()),
                    };
                    let (graph, record, taken) =
                        TileGraph::build_after(&w, &cuts, &cores, graph_before);
                    let mut spans = vec![(usize::MAX, 0); w.num_blocks];
                    for t in &graph.tiles {
                        let (first, last) = &mut spans[t.block];
                        (*first, *last) = ((*first).min(t.id), (*last).max(t.id));
                    }
                    assert_eq!(record.block_spans(&w), spans, "{workload}: {}", p.spec);
                    let reused = boundaries(
                        &w,
                        &graph,
                        &record,
                        Before {
                            taken,
                            boundaries: old,
                        },
                    );
                    let fresh = boundaries(&w, &graph, &record, Before::default());
                    assert_eq!(parts(&reused), parts(&fresh), "{workload}: {}", p.spec);
                    taken_any += (reused.iter())
                        .filter(|b| b.shareable() && b.horizon <= taken)
                        .count();
                    before = Some((graph, record, reused));
                }
            }
            assert!(
                taken_any > 0,
                "{workload}: no boundary lies among taken tiles"
            );
        }
    }
}
