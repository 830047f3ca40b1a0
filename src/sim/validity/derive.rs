//! What each tile must read and write, derived from its layer and region and the
//! objects' descriptions of the data they hold — never from the tile's own lists of
//! inputs and outputs in the Schedule.

use super::violation::{Violation, ViolationKind, describe_object, describe_tile, range_text};
use crate::model::{OpKind, Operand, Source, Workload};
use crate::schedule::Schedule;
use crate::tiling::graph::{ObjectId, ObjectKind, TileId};
use std::ops::Range;

/// One operand read a tile must make, derived from its layer and region.
#[derive(Debug, Clone)]
pub(super) struct Read {
    pub object: ObjectId,
    pub operand: Operand,
    pub version: u32,
}

/// What a tile writes: its output chunk, and the state chunks it leaves (with the
/// version they will hold).
#[derive(Debug, Clone, Default)]
pub(super) struct Writes {
    pub output: Option<ObjectId>,
    pub state: Vec<ObjectId>,
    pub state_version: u32,
}

/// Every tile's reads and writes, in tile order.
pub(super) struct Derived {
    pub reads: Vec<Vec<Read>>,
    pub writes: Vec<Writes>,
}

/// Derives every tile's reads and writes, after checking that every layer is covered
/// exactly once and that the objects describe the data consistently.
pub(super) fn derive(s: &Schedule) -> Result<Derived, Box<Violation>> {
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
    let index = index(s).map_err(|(o, expected, found)| {
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
        reads.push(derive_reads(s, id, &index).map_err(|(e, f)| fail(e, f))?);
        writes.push(derive_writes(s, id, &index).map_err(|(e, f)| fail(e, f))?);
    }
    check_order(s, &reads, &writes)?;
    Ok(Derived { reads, writes })
}

/// The order of the tiles respects the data: a tile comes after the tiles that write
/// what it reads (derived, not taken from the declared dependencies, so that a
/// reordered file is named as such rather than left to deadlock).
fn check_order(s: &Schedule, reads: &[Vec<Read>], writes: &[Writes]) -> Result<(), Box<Violation>> {
    let mut writer = vec![None; s.objects.len()];
    for (t, w) in writes.iter().enumerate() {
        if let Some(o) = w.output {
            writer[o] = Some(t);
        }
    }
    for (t, rs) in reads.iter().enumerate() {
        for r in rs {
            if let Some(w) = writer[r.object].filter(|&w| w > t) {
                return Err(Box::new(Violation {
                    kind: ViolationKind::OrderContradictsData,
                    cycle: None,
                    tile: Some(describe_tile(s, t)),
                    object: Some(describe_object(s, r.object)),
                    expected: format!("{} (which writes it) listed before it", describe_tile(s, w)),
                    found: "it is listed after".into(),
                }));
            }
        }
    }
    Ok(())
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

fn derive_reads(s: &Schedule, tile: TileId, ix: &Indexes) -> Result<Vec<Read>, (String, String)> {
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
    // A matmul's right source is its W operand, every column of it (`model::attention`).
    let right = layer.weight_source();
    for &src in &layer.sources {
        let width = w.source_shape(src).width;
        let (operand, whole) = if Some(src) == right {
            (Operand::W, true)
        } else {
            (Operand::I, layer.op == OpKind::Fc)
        };
        let cols = if whole {
            0..width
        } else {
            touched_columns(layer, &r.ox, width)
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
                    operand,
                    version: 1,
                });
            }
        }
    }
    reads.extend(recurrent_reads(layer, r, ix)?);
    Ok(reads)
}

/// A recurrent layer's own spikes of the timestep before its first, around its
/// columns (see `crate::model::recurrence`).
fn recurrent_reads(
    layer: &crate::model::Layer,
    r: &crate::tiling::TileRegion,
    ix: &Indexes,
) -> Result<Vec<Read>, (String, String)> {
    let Some((t, cols)) = layer.recurrent_read(&r.t, &r.ox) else {
        return Ok(Vec::new());
    };
    let (found, covered) = ix.features[layer.id + 1].overlapping(&t, &cols);
    if !covered {
        return Err((
            format!(
                "objects holding {}'s own spikes t{} columns {} (it is recurrent)",
                layer.name,
                range_text(&t),
                range_text(&cols)
            ),
            format!("only objects {found:?}"),
        ));
    }
    Ok(found
        .into_iter()
        .map(|o| Read {
            object: o,
            operand: Operand::I,
            version: 1,
        })
        .collect())
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

/// The input columns the windows of output columns `ox` read, from the windows
/// themselves: the verifier's own derivation, independent of `Layer::input_range`
/// (which the tile graph and the cost model share), so that a wrong halo there is
/// caught here rather than agreed with.
fn touched_columns(
    layer: &crate::model::Layer,
    ox: &std::ops::Range<u64>,
    width: u64,
) -> std::ops::Range<u64> {
    window_span(
        layer.dims.fx,
        layer.stride[1],
        layer.padding[1],
        ox.clone(),
        width,
    )
}

/// The real columns windows `f` wide, sliding by `s` over `width` columns padded by
/// `p`, read for outputs `ox`. Walks in from each end to the first output whose window
/// touches a real column (outputs over padding alone touch none).
fn window_span(
    f: u64,
    s: u64,
    p: u64,
    ox: std::ops::Range<u64>,
    width: u64,
) -> std::ops::Range<u64> {
    let (f, s, p) = (f as i64, s as i64, p as i64);
    let window = |o: u64| {
        let lo = (o as i64 * s - p).max(0);
        let hi = (o as i64 * s - p + f).min(width as i64);
        (lo < hi).then_some((lo as u64, hi as u64))
    };
    let first = ox.clone().find_map(window);
    let last = ox.rev().find_map(window);
    match (first, last) {
        (Some((lo, _)), Some((_, hi))) => lo..hi,
        _ => 0..0,
    }
}

#[cfg(test)]
mod tests {
    use super::window_span;

    #[test]
    fn window_spans_are_the_columns_the_windows_touch() {
        // Against every tap of every window, over small kernels, strides, paddings,
        // widths and output ranges.
        for (f, s, p, width) in (1..=4u64).flat_map(|f| {
            (1..=3u64)
                .flat_map(move |s| (0..f).flat_map(move |p| (1..=9u64).map(move |w| (f, s, p, w))))
        }) {
            let Some(outputs) = (width + 2 * p).checked_sub(f).map(|x| x / s + 1) else {
                continue;
            };
            for lo in 0..outputs {
                for hi in lo + 1..=outputs {
                    let taps: Vec<i64> = (lo..hi)
                        .flat_map(|o| (0..f).map(move |t| (o * s + t) as i64 - p as i64))
                        .filter(|&i| i >= 0 && (i as u64) < width)
                        .collect();
                    let want = match (taps.iter().min(), taps.iter().max()) {
                        (Some(&a), Some(&b)) => a as u64..b as u64 + 1,
                        _ => 0..0,
                    };
                    assert_eq!(
                        window_span(f, s, p, lo..hi, width),
                        want,
                        "f{f} s{s} p{p} w{width} {lo}..{hi}"
                    );
                }
            }
        }
    }
}
