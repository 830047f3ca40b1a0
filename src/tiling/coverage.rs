//! Coverage: the tiles of a layer must compute its whole output space — timesteps × K ×
//! OY × OX — exactly once. Checked when a schedule is loaded and, by the simulator's
//! verifier, again over the tiles that actually ran.
//!
//! The check cuts the layer's output space into the grid that every tile boundary
//! induces and counts, per cell, the tiles that cover it: a cell counted twice is
//! recomputed, a cell counted zero times is never computed. A pathological cut whose
//! grid would be huge falls back to comparing tile volumes pairwise.

use super::TileRegion;
use crate::model::{Problem, Workload};
use std::ops::Range;

/// Grids larger than this many cells are checked pairwise instead.
const MAX_GRID_CELLS: u64 = 1 << 22;

/// A region as four half-open ranges: t, k, oy, ox.
type Boxed = [Range<u64>; 4];

fn boxed(r: &TileRegion) -> Boxed {
    [
        r.t.start as u64..r.t.end as u64,
        r.k.clone(),
        r.oy.clone(),
        r.ox.clone(),
    ]
}

fn volume(b: &Boxed) -> u64 {
    b.iter()
        .map(|r| r.end.saturating_sub(r.start))
        .fold(1u64, |a, x| a.saturating_mul(x))
}

fn intersect(a: &Boxed, b: &Boxed) -> Option<Boxed> {
    let mut out: Boxed = Default::default();
    for i in 0..4 {
        let lo = a[i].start.max(b[i].start);
        let hi = a[i].end.min(b[i].end);
        if lo >= hi {
            return None;
        }
        out[i] = lo..hi;
    }
    Some(out)
}

fn describe(b: &Boxed) -> String {
    format!(
        "t{}..{} k{}..{} oy{}..{} ox{}..{}",
        b[0].start, b[0].end, b[1].start, b[1].end, b[2].start, b[2].end, b[3].start, b[3].end
    )
}

/// Coverage problems of the tiles `(layer, region)`, one per layer at most (the first
/// cell found recomputed or missing). Regions must lie inside their layers (the
/// schedule's own check ensures it).
pub fn problems<'a>(
    workload: &Workload,
    tiles: impl IntoIterator<Item = (usize, &'a TileRegion)>,
) -> Vec<Problem> {
    let mut by_layer: Vec<Vec<(usize, Boxed)>> = vec![Vec::new(); workload.layers.len()];
    for (i, (layer, region)) in tiles.into_iter().enumerate() {
        if let Some(v) = by_layer.get_mut(layer) {
            v.push((i, boxed(region)));
        }
    }
    let mut out = Vec::new();
    for (layer, boxes) in workload.layers.iter().zip(&by_layer) {
        let whole: Boxed = [
            0..workload.timesteps as u64,
            0..layer.dims.k,
            0..layer.dims.oy,
            0..layer.dims.ox,
        ];
        if let Some(message) = layer_problem(&whole, boxes) {
            out.push(Problem::new(format!("layer '{}'", layer.name), message).field("tiles"));
        }
    }
    out
}

/// What is wrong with `boxes` as an exact cover of `whole`, if anything.
fn layer_problem(whole: &Boxed, boxes: &[(usize, Boxed)]) -> Option<String> {
    if boxes.is_empty() {
        return Some(format!("no tile computes it ({})", describe(whole)));
    }
    let cuts: Vec<Vec<u64>> = (0..4)
        .map(|axis| {
            let mut c: Vec<u64> = boxes
                .iter()
                .flat_map(|(_, b)| [b[axis].start, b[axis].end])
                .chain([whole[axis].start, whole[axis].end])
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        })
        .collect();
    let cells = cuts
        .iter()
        .map(|c| (c.len() as u64).saturating_sub(1))
        .fold(1u64, |a, x| a.saturating_mul(x));
    if cells <= MAX_GRID_CELLS {
        grid_problem(&cuts, boxes)
    } else {
        pairwise_problem(whole, boxes)
    }
}

fn grid_problem(cuts: &[Vec<u64>], boxes: &[(usize, Boxed)]) -> Option<String> {
    let dims: Vec<usize> = cuts.iter().map(|c| c.len() - 1).collect();
    let mut owner: Vec<Option<usize>> = vec![None; dims.iter().product()];
    let index_range = |axis: usize, r: &Range<u64>| {
        let lo = cuts[axis].partition_point(|&c| c < r.start);
        let hi = cuts[axis].partition_point(|&c| c < r.end);
        lo..hi
    };
    for (tile, b) in boxes {
        let ranges: Vec<Range<usize>> = (0..4).map(|a| index_range(a, &b[a])).collect();
        for i0 in ranges[0].clone() {
            for i1 in ranges[1].clone() {
                for i2 in ranges[2].clone() {
                    for i3 in ranges[3].clone() {
                        let cell = ((i0 * dims[1] + i1) * dims[2] + i2) * dims[3] + i3;
                        if let Some(first) = owner[cell] {
                            let at = [i0, i1, i2, i3];
                            return Some(format!(
                                "{} is computed twice (tiles {first} and {tile})",
                                describe(&cell_box(cuts, at))
                            ));
                        }
                        owner[cell] = Some(*tile);
                    }
                }
            }
        }
    }
    let missing = owner.iter().position(Option::is_none)?;
    let mut rest = missing;
    let mut at = [0usize; 4];
    for axis in (0..4).rev() {
        at[axis] = rest % dims[axis];
        rest /= dims[axis];
    }
    Some(format!(
        "{} is never computed",
        describe(&cell_box(cuts, at))
    ))
}

fn cell_box(cuts: &[Vec<u64>], at: [usize; 4]) -> Boxed {
    [0, 1, 2, 3].map(|a| cuts[a][at[a]]..cuts[a][at[a] + 1])
}

fn pairwise_problem(whole: &Boxed, boxes: &[(usize, Boxed)]) -> Option<String> {
    let mut sorted: Vec<&(usize, Boxed)> = boxes.iter().collect();
    sorted.sort_by_key(|(_, b)| b[0].start);
    for (i, (ta, a)) in sorted.iter().enumerate() {
        for (tb, b) in &sorted[i + 1..] {
            if b[0].start >= a[0].end {
                break;
            }
            if let Some(both) = intersect(a, b) {
                return Some(format!(
                    "{} is computed twice (tiles {ta} and {tb})",
                    describe(&both)
                ));
            }
        }
    }
    let covered: u64 = boxes.iter().map(|(_, b)| volume(b)).sum();
    (covered != volume(whole)).then(|| {
        format!(
            "its tiles compute {covered} of its {} outputs",
            volume(whole)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(t: Range<u64>, ox: Range<u64>) -> Boxed {
        [t, 0..4, 0..2, ox]
    }

    #[test]
    fn an_exact_cover_passes_and_a_gap_or_overlap_is_named() {
        let whole = b(0..2, 0..4);
        let tiles = vec![(0, b(0..2, 0..2)), (1, b(0..2, 2..4))];
        assert_eq!(layer_problem(&whole, &tiles), None);
        // Tile 1 recomputes tile 0's columns; 2..4 is never computed.
        let twice = vec![(0, b(0..2, 0..2)), (1, b(0..2, 0..2))];
        let msg = layer_problem(&whole, &twice).expect("a problem");
        assert!(
            msg.contains("ox0..2 is computed twice (tiles 0 and 1)"),
            "{msg}"
        );
        let gap = vec![(0, b(0..2, 0..2)), (1, b(0..1, 2..4))];
        let msg = layer_problem(&whole, &gap).expect("a problem");
        assert!(
            msg.contains("t1..2 k0..4 oy0..2 ox2..4 is never computed"),
            "{msg}"
        );
    }

    #[test]
    fn the_pairwise_fallback_agrees_with_the_grid() {
        let whole = b(0..2, 0..4);
        let twice = vec![(0, b(0..2, 0..3)), (1, b(0..2, 2..4))];
        assert!(pairwise_problem(&whole, &twice).is_some_and(|m| m.contains("twice")));
        let gap = vec![(0, b(0..2, 0..2))];
        assert!(pairwise_problem(&whole, &gap).is_some_and(|m| m.contains("compute 32 of its 64")));
        let exact = vec![(0, b(0..1, 0..4)), (1, b(1..2, 0..4))];
        assert_eq!(pairwise_problem(&whole, &exact), None);
    }
}
