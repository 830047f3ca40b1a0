//! A search's results: `search.csv` and `pareto.csv` (one row per evaluation),
//! `pareto.svg`, `summary.json`, and the ranked table with the Pareto front.

use super::{Table, WriteError, plot, write_csv_file};
use crate::cost::Report;
use crate::explore::search::{Evaluated, ranked};
use crate::explore::search_run::Searched;
use crate::model::units::{group_digits, human_bits, human_energy_pj, thousands};
use crate::schedule::spec::compact;
use std::fmt::Write as _;
use std::path::Path;

/// The files [`write_outputs`] writes.
pub const FILES: &str = "search.csv, pareto.csv, pareto.svg, summary.json";

/// Writes [`FILES`] into `dir` (which exists), each atomically.
pub fn write_outputs(dir: &Path, searched: &Searched) -> Result<(), WriteError> {
    let all = &searched.all;
    csv_rows(&dir.join("search.csv"), all.iter())?;
    csv_rows(
        &dir.join("pareto.csv"),
        searched.front.iter().map(|&i| &all[i]),
    )?;
    pareto_picture(&dir.join("pareto.svg"), searched)?;
    let json = serde_json::to_string_pretty(&searched.summary())?;
    crate::output::write(&dir.join("summary.json"), json.as_bytes())?;
    Ok(())
}

fn csv_rows<'a>(path: &Path, rows: impl Iterator<Item = &'a Evaluated>) -> Result<(), WriteError> {
    let header = [
        "evaluation",
        "generation",
        "schedule",
        "energy_pj",
        "latency_cycles",
        "edp_pj_cycles",
        "dram_bits",
        "error",
    ];
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let records = rows.map(|e| {
        let r = e.report.as_ref();
        [
            e.index.to_string(),
            e.generation.to_string(),
            e.spec.to_string(),
            num(r.map(|r| r.energy_pj.total)),
            r.map_or(String::new(), |r| r.latency_cycles.to_string()),
            num(r.map(|r| r.energy_pj.total * r.latency_cycles as f64)),
            r.map_or(String::new(), |r| r.dram_bits.total.to_string()),
            e.error.clone().unwrap_or_default(),
        ]
    });
    write_csv_file(path, &header, records)
}

/// Energy against latency: every costed schedule, the front, the marked schedules and
/// the best of the hybrid grid.
fn pareto_picture(path: &Path, searched: &Searched) -> Result<(), WriteError> {
    let all = &searched.all;
    let top = all
        .iter()
        .filter_map(|e| e.report.as_ref().map(|r| r.energy_pj.total))
        .fold(0.0, f64::max);
    let (per, unit) = plot::energy_unit(top);
    let point = |r: &Report| (r.energy_pj.total / per, r.latency_cycles as f64 / 1e6);
    let points: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|e| e.report.as_ref().map(point))
        .collect();
    let front_points: Vec<(f64, f64)> = searched
        .front
        .iter()
        .filter_map(|&i| all[i].report.as_ref().map(point))
        .collect();
    let mut marks: Vec<(String, (f64, f64))> = searched
        .marked
        .iter()
        .map(|(name, r)| (name.clone(), point(r)))
        .collect();
    if let Some((spec, r)) = &searched.best_hybrid {
        marks.push((
            format!("best hybrid {}", compact(&spec.to_string())),
            point(r),
        ));
    }
    plot::pareto(
        path,
        &format!(
            "{} on {}: {} schedules searched",
            searched.workload,
            human_bits(searched.global_sram_bits),
            all.len()
        ),
        (
            &format!("energy per inference ({unit})"),
            "latency (M cycles)",
        ),
        &points,
        &front_points,
        &marks,
    )?;
    Ok(())
}

/// The run in a line, the sharing, the `top` best by the objective, the best of the
/// hybrid grid against the search's, and the Pareto front.
pub fn render_table(searched: &Searched, top: usize) -> String {
    let summary = searched.summary();
    let s = &searched.space;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} of {} schedules ({} cuts per block, {} blocks) of {} on {} in {:.2} s ({:.0} evaluations/s), seed {}, objective {}{}",
        thousands(summary.evaluations as u64),
        group_digits(&s.schedules),
        s.cuts_per_block,
        s.blocks,
        summary.workload,
        human_bits(summary.global_sram_bits),
        summary.seconds,
        summary.evaluations_per_second,
        s.seed,
        s.objective,
        if summary.infeasible > 0 {
            format!(", {} refused by the scheduler", summary.infeasible)
        } else {
            String::new()
        }
    );
    if let Some(why) = &summary.skipped.example {
        let _ = writeln!(
            out,
            "{} schedules bred were skipped uncosted: they cannot run (first: {why})",
            summary.skipped.count
        );
    }
    let _ = writeln!(
        out,
        "{}",
        super::explore::sharing_line(&searched.sharing, "evaluations")
    );
    let all = &searched.all;
    let best = ranked(all, s.objective).into_iter().take(top);
    out.push_str(&ranking(best.map(|(i, r)| (&all[i], r))));
    if let Some((spec, h)) = &searched.best_hybrid
        && let Some(b) = searched.best_evaluation().and_then(|b| b.report.as_ref())
    {
        let (hv, bv) = (s.objective.value(h), s.objective.value(b));
        let ratio = hv / bv.max(f64::MIN_POSITIVE);
        // A budget smaller than the grid (or no warm start) may not reach its best.
        let verdict = if ratio >= 1.0 {
            format!("the search's best is {ratio:.2}× lower")
        } else {
            format!(
                "the search's best is {:.2}× higher: it has not reached the grid's (raise --budget)",
                1.0 / ratio
            )
        };
        let _ = writeln!(
            out,
            "best of the hybrid grid: {} — {verdict}",
            compact(&spec.entries().join(","))
        );
    }
    let front = &searched.front;
    let _ = writeln!(
        out,
        "\nPareto front, energy against latency ({} schedules)",
        front.len()
    );
    let on_front = front
        .iter()
        .filter_map(|&i| all[i].report.as_ref().map(|r| (&all[i], r)));
    out.push_str(&ranking(on_front.take(top.max(1) * 2)));
    out
}

/// Evaluations as rows of a ranked table.
fn ranking<'a>(rows: impl Iterator<Item = (&'a Evaluated, &'a Report)>) -> String {
    let mut t = Table::new([
        "rank",
        "schedule",
        "energy",
        "DRAM traffic",
        "latency",
        "generation",
    ]);
    for (k, (e, r)) in rows.enumerate() {
        t.row([
            (k + 1).to_string(),
            e.spec.to_string(),
            human_energy_pj(r.energy_pj.total),
            human_bits(r.dram_bits.total),
            thousands(r.latency_cycles),
            e.generation.to_string(),
        ]);
    }
    t.render()
}
