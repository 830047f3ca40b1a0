//! Cross-validation: the simulator's measured report against the analytic prediction,
//! metric by metric (`compare`), and over many runs at once (`runs`, behind
//! `stems validate`).

pub mod agreement;
pub mod journal;
pub mod plan;
pub mod rank;
pub mod row;
pub mod runs;

use crate::cost::{Report, StallCause};
use crate::schedule::Schedule;
use crate::sim::{MeasuredReport, SimError, SimOptions};
use serde::Serialize;

/// One schedule simulated and held against its prediction: what the simulator
/// measured, the comparison metric by metric, and the verdict (totals and tiles).
pub struct CrossValidated {
    pub predicted: Report,
    pub measured: MeasuredReport,
    pub comparison: Vec<Comparison>,
    pub agreement: agreement::Agreement,
}

/// Simulates `schedule` (verifying it unless `options` say not to) and compares the
/// measurement with the prediction the schedule carries, under `rules`.
pub fn cross_validate(
    schedule: Schedule,
    options: &SimOptions,
    rules: agreement::Rules,
) -> Result<CrossValidated, SimError> {
    let predicted = schedule.predicted.clone();
    let predicted_tiles = schedule.predicted_tiles();
    let measured = crate::sim::simulate(schedule, options)?;
    let comparison = compare(&predicted, &measured.report);
    let agreement = agreement::agreement(
        &predicted,
        &measured.report,
        Some(&measured.verification),
        rules,
    )
    .with_tiles(&predicted_tiles, &measured.tiles());
    Ok(CrossValidated {
        predicted,
        measured,
        comparison,
        agreement,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub metric: &'static str,
    pub predicted: f64,
    pub measured: f64,
    /// (measured − predicted) / predicted, in percent (0 when both are 0).
    pub delta_percent: f64,
}

fn row(metric: &'static str, predicted: f64, measured: f64) -> Comparison {
    let delta_percent = if predicted == 0.0 {
        if measured == 0.0 { 0.0 } else { 100.0 }
    } else {
        100.0 * (measured - predicted) / predicted
    };
    Comparison {
        metric,
        predicted,
        measured,
        delta_percent,
    }
}

/// Every figure both reports have, predicted next to measured.
pub fn compare(p: &Report, m: &Report) -> Vec<Comparison> {
    let (pd, md) = (&p.dram_bits, &m.dram_bits);
    let (pe, me) = (&p.energy_pj, &m.energy_pj);
    let mut rows = vec![
        row("dram_bits.total", pd.total as f64, md.total as f64),
        row("dram_bits.read", pd.read as f64, md.read as f64),
        row("dram_bits.write", pd.write as f64, md.write as f64),
        row(
            "dram_bits.by_operand.W",
            pd.by_operand.W as f64,
            md.by_operand.W as f64,
        ),
        row(
            "dram_bits.by_operand.F",
            pd.by_operand.F as f64,
            md.by_operand.F as f64,
        ),
        row(
            "dram_bits.by_operand.V",
            pd.by_operand.V as f64,
            md.by_operand.V as f64,
        ),
        row("noc_bits", p.noc_bits as f64, m.noc_bits as f64),
        row(
            "noc_busy_cycles",
            p.noc_busy_cycles as f64,
            m.noc_busy_cycles as f64,
        ),
        row("energy_pj.total", pe.total, me.total),
        row("energy_pj.dram", pe.dram, me.dram),
        row("energy_pj.global_sram", pe.global_sram, me.global_sram),
        row(
            "energy_pj.local_buffers",
            pe.local_buffers,
            me.local_buffers,
        ),
        row("energy_pj.pe", pe.pe, me.pe),
        row("energy_pj.noc", pe.noc, me.noc),
        row("ops.macs", p.ops.macs as f64, m.ops.macs as f64),
        row("ops.sops", p.ops.sops as f64, m.ops.sops as f64),
        row("ops.other", p.ops.other as f64, m.ops.other as f64),
        row(
            "latency_cycles",
            p.latency_cycles as f64,
            m.latency_cycles as f64,
        ),
        row("busy_cycles", p.busy_cycles as f64, m.busy_cycles as f64),
        row(
            "peak_global_sram_bits",
            p.peak_global_sram_bits as f64,
            m.peak_global_sram_bits as f64,
        ),
    ];
    if pe.dram_activate > 0.0 || me.dram_activate > 0.0 {
        rows.push(row(
            "energy_pj.dram_activate",
            pe.dram_activate,
            me.dram_activate,
        ));
    }
    if pe.static_pj > 0.0 || me.static_pj > 0.0 {
        rows.push(row("energy_pj.static", pe.static_pj, me.static_pj));
        rows.push(row(
            "average_power_mw",
            p.average_power_mw,
            m.average_power_mw,
        ));
    }
    let cycles = |r: &Report, c: StallCause| {
        r.stall_cycles_by_cause.get(c.name()).copied().unwrap_or(0) as f64
    };
    rows.extend(
        StallCause::ALL
            .iter()
            .map(|&c| row(c.metric(), cycles(p, c), cycles(m, c))),
    );
    rows
}

/// The traffic figure (DRAM or NoC) on which measurement and prediction differ most,
/// if any differs at all.
pub fn largest_traffic_delta(rows: &[Comparison]) -> Option<&Comparison> {
    rows.iter()
        .filter(|c| {
            (c.metric.starts_with("dram_bits") || c.metric == "noc_bits")
                && c.measured != c.predicted
        })
        .max_by(|a, b| a.delta_percent.abs().total_cmp(&b.delta_percent.abs()))
}
