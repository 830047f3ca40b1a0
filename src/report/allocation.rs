//! An allocation search's results: `allocations.csv` (every allocation costed),
//! `convergence.svg`, `summary.json`, and the table of the single-core start against
//! the best found.

use super::{Table, WriteError, plot, write_csv_file};
use crate::cost::Report;
use crate::explore::allocate::{AllocationEvaluated, best_so_far};
use crate::explore::allocate_run::Allocated;
use crate::explore::search::Objective;
use crate::model::units::{group_digits, human_energy_pj, thousands};
use crate::schedule::spec::compact;
use std::fmt::Write as _;
use std::path::Path;

/// The files [`write_outputs`] writes.
pub const FILES: &str = "allocations.csv, convergence.svg, summary.json";

/// Writes [`FILES`] into `dir` (which exists), each atomically.
pub fn write_outputs(dir: &Path, allocated: &Allocated) -> Result<(), WriteError> {
    write_csv(&dir.join("allocations.csv"), &allocated.all)?;
    convergence(&dir.join("convergence.svg"), allocated)?;
    let json = serde_json::to_string_pretty(&allocated.summary())?;
    crate::output::write(&dir.join("summary.json"), json.as_bytes())?;
    Ok(())
}

fn write_csv(path: &Path, all: &[AllocationEvaluated]) -> Result<(), WriteError> {
    let header = [
        "evaluation",
        "generation",
        "allocation",
        "energy_pj",
        "latency_cycles",
        "edp_pj_cycles",
        "noc_bits",
        "dram_bits",
        "error",
    ];
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let int = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let records = all.iter().map(|e| {
        let r = e.report.as_ref();
        [
            e.index.to_string(),
            e.generation.to_string(),
            e.allocation.clone(),
            num(r.map(|r| r.energy_pj.total)),
            int(r.map(|r| r.latency_cycles)),
            num(r.map(|r| r.energy_pj.total * r.latency_cycles as f64)),
            int(r.map(|r| r.noc_bits)),
            int(r.map(|r| r.dram_bits.total)),
            e.error.clone().unwrap_or_default(),
        ]
    });
    write_csv_file(path, &header, records)
}

/// Every evaluation's value (grey) and the best so far (line).
fn convergence(path: &Path, allocated: &Allocated) -> Result<(), WriteError> {
    let objective = allocated.options.objective;
    let scale = |v: f64| match objective {
        Objective::Latency => v / 1e6,
        Objective::Edp => v / 1e12,
        _ => v / 1e6,
    };
    let all = &allocated.all;
    let points: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|e| {
            e.report
                .as_ref()
                .map(|r| (e.index as f64, scale(objective.value(r))))
        })
        .collect();
    let best: Vec<(f64, f64)> = best_so_far(all, objective)
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, scale(v))))
        .collect();
    let unit = match objective {
        Objective::Latency => "latency (Mcycles)",
        Objective::Edp => "EDP (µJ·Mcycles)",
        _ => "energy (µJ)",
    };
    plot::convergence(
        path,
        &format!(
            "{} on {}, {}: allocation search",
            allocated.workload,
            allocated.hardware,
            compact(&allocated.schedule.join(","))
        ),
        unit,
        &points,
        &best,
    )?;
    Ok(())
}

/// The run in a line, the single-core start against the best found, and the best
/// allocation as `--allocate` takes it. `cores` is the accelerator's core count.
pub fn render_table(allocated: &Allocated, cores: usize) -> String {
    let summary = allocated.summary();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} of {} allocations ({} per gene over {cores} cores) of {} on {}, {}, in {:.2} s ({:.0} evaluations/s), seed {}, objective {}{}",
        thousands(summary.evaluations as u64),
        group_digits(summary.allocations),
        summary.unit,
        summary.workload,
        summary.hardware,
        compact(&summary.schedule.join(",")),
        summary.seconds,
        summary.evaluations_per_second,
        summary.seed,
        summary.objective,
        if summary.infeasible > 0 {
            format!(", {} refused by the scheduler", summary.infeasible)
        } else {
            String::new()
        }
    );
    let mut t = Table::new([
        "allocation",
        "latency (cycles)",
        "energy",
        "NoC bits",
        "DRAM bits",
        "latency ×",
    ]);
    let base = summary
        .single_core
        .and_then(|e| e.report.as_ref())
        .map(|r| r.latency_cycles);
    let mut row = |name: &str, r: &Report| {
        t.row([
            name.to_string(),
            thousands(r.latency_cycles),
            human_energy_pj(r.energy_pj.total),
            thousands(r.noc_bits),
            thousands(r.dram_bits.total),
            base.map_or(String::new(), |b| {
                format!("{:.2}", b as f64 / r.latency_cycles.max(1) as f64)
            }),
        ]);
    };
    if let Some(r) = summary.single_core.and_then(|e| e.report.as_ref()) {
        row("single core (first able core)", r);
    }
    if let Some(r) = summary.best.and_then(|e| e.report.as_ref()) {
        row("best found", r);
    }
    out.push_str(&t.render());
    if let Some(a) = summary.best_allocation {
        let _ = write!(out, "\nbest allocation (for --allocate):\n{a}\n");
    }
    out
}
