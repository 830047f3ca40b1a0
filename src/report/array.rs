//! The PE array's time per layer of a schedule: folds, the unrollings chosen, compute
//! against fill/drain, drain-bound and other cycles, and spatial and temporal
//! utilisation (the per-layer table of `stems evaluate`).

use super::Table;
use crate::model::units::thousands;
use crate::schedule::Schedule;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerArray {
    pub layer: String,
    pub tiles: u64,
    /// The spatial unrollings its tiles run under (`K32·C2·OY16·OX1`).
    pub unrollings: Vec<String>,
    pub folds: u64,
    pub compute_cycles: u64,
    pub fill_drain_cycles: u64,
    pub drain_bound_cycles: u64,
    /// The rest of the tiles' cycles: waiting for memory or the tile's first data.
    pub other_cycles: u64,
    /// Useful operations over what the mapped array could do in the compute cycles.
    pub spatial_utilization: f64,
    /// Compute cycles over the tiles' cycles.
    pub temporal_utilization: f64,
}

/// One row per layer, in layer order.
pub fn by_layer(s: &Schedule) -> Vec<LayerArray> {
    let mut rows: Vec<(LayerArray, f64)> = Vec::new();
    for layer in &s.workload.layers {
        let mut row = LayerArray {
            layer: layer.name.clone(),
            tiles: 0,
            unrollings: Vec::new(),
            folds: 0,
            compute_cycles: 0,
            fill_drain_cycles: 0,
            drain_bound_cycles: 0,
            other_cycles: 0,
            spatial_utilization: 0.0,
            temporal_utilization: 0.0,
        };
        let mut useful = 0.0;
        let mut cycles = 0;
        for t in s.tiles.iter().filter(|t| t.layer_name == layer.name) {
            let a = &t.predicted.array;
            let u = t
                .unroll
                .unwrap_or_else(|| s.accelerator.cores[t.tile.core].pe_array.unroll());
            let name = format!("K{}·C{}·{}", u.k, u.c, u.pixels_label());
            if !row.unrollings.contains(&name) {
                row.unrollings.push(name);
            }
            row.tiles += 1;
            row.folds += a.folds;
            row.compute_cycles += a.compute;
            row.fill_drain_cycles += a.fill_drain;
            row.drain_bound_cycles += a.drain_bound;
            cycles += t.predicted.cycles;
            useful += a.spatial_utilization * a.compute as f64;
        }
        if row.tiles == 0 {
            continue;
        }
        row.other_cycles = cycles
            .saturating_sub(row.compute_cycles + row.fill_drain_cycles + row.drain_bound_cycles);
        row.spatial_utilization = ratio(useful, row.compute_cycles as f64);
        row.temporal_utilization = ratio(row.compute_cycles as f64, cycles as f64);
        rows.push((row, useful));
    }
    rows.into_iter().map(|(r, _)| r).collect()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

pub fn render(rows: &[LayerArray]) -> String {
    let mut t = Table::new([
        "layer",
        "tiles",
        "unrolling",
        "folds",
        "compute",
        "fill/drain",
        "drain-bound",
        "other",
        "spatial %",
        "temporal %",
    ]);
    for r in rows {
        t.row([
            r.layer.clone(),
            thousands(r.tiles),
            r.unrollings.join(" "),
            thousands(r.folds),
            thousands(r.compute_cycles),
            thousands(r.fill_drain_cycles),
            thousands(r.drain_bound_cycles),
            thousands(r.other_cycles),
            format!("{:.1}", 100.0 * r.spatial_utilization),
            format!("{:.1}", 100.0 * r.temporal_utilization),
        ]);
    }
    t.render()
}
