//! A validation's results: `validation.csv`, `summary.json`,
//! `predicted_vs_measured.svg`, and the table of agreement, rank agreement and the
//! worst-predicted runs by stall cause.

use super::{Table, WriteError, plot};
use crate::cost::StallCause;
use crate::model::units::thousands;
use crate::output::{AtomicFile, OutputError};
use crate::validate::rank::RankSummary;
use crate::validate::runs::{self, Row, Summary, Worst};
use std::fmt::Write as _;
use std::path::Path;

/// The files [`write_outputs`] writes.
pub const FILES: &str = "validation.csv, summary.json, predicted_vs_measured.svg";

/// Writes [`FILES`] into `dir` (created if needed), each atomically.
pub fn write_outputs(dir: &Path, rows: &[Row], summary: &Summary) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|error| OutputError {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut file = AtomicFile::create(&dir.join("validation.csv"))?;
    runs::write_csv(&mut file, rows)?;
    file.commit()?;
    crate::output::write(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )?;
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let Some(m) = &r.measured else { continue };
        let point = (r.predicted.latency_cycles as f64, m.latency_cycles as f64);
        match groups.iter_mut().find(|(label, _)| *label == r.config) {
            Some((_, points)) => points.push(point),
            None => groups.push((r.config.clone(), vec![point])),
        }
    }
    // Each workload once, in the order the runs first name it.
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let tau = summary
        .rank_agreement
        .overall
        .and_then(|a| a.latency.kendall_tau);
    plot::scatter(
        &dir.join("predicted_vs_measured.svg"),
        &format!(
            "{}: predicted vs simulated latency{}",
            workloads.join(", "),
            tau.map_or(String::new(), |t| format!(" (Kendall τ {t:.2})"))
        ),
        "predicted latency (cycles)",
        "measured latency (cycles)",
        &groups,
    )?;
    Ok(())
}

/// The validation in a table: what ran, the agreement, the spread of the latency
/// misses, the rank agreement, the worst-predicted runs and the refused ones.
/// `labels` are the configurations in order, `workloads` their networks.
pub fn render_table(labels: &[&str], workloads: &[&str], s: &Summary, seconds: f64) -> String {
    let mut out = String::new();
    // Many configurations are named one per line below (rank agreement), not here.
    let configs = match labels.len() {
        0..=4 => labels.join(", "),
        n => format!("{n} configurations"),
    };
    let _ = writeln!(
        out,
        "validated {} runs of {} ({configs}) in {seconds:.1} s: {} verified, {} failed",
        s.runs,
        workloads.join(", "),
        s.verified,
        s.failed
    );
    if let Some(why) = &s.skipped.example {
        let _ = writeln!(
            out,
            "{} schedules of the space skipped: they cannot run (first: {why})",
            s.skipped.count
        );
    }
    agreement(&mut out, s);
    rank_agreement(&mut out, &s.rank_agreement, labels);
    if !s.dominant_causes.is_empty() {
        let causes: Vec<String> = s
            .dominant_causes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "cause the prediction misses most, per run: {}",
            causes.join(", ")
        );
    }
    if !s.worst.is_empty() {
        out.push_str("\nworst-predicted runs (stall cycles: measured − predicted)\n");
        out.push_str(&worst_table(&s.worst));
    }
    if !s.failures.is_empty() {
        out.push_str("\nruns the simulator refused\n");
        for f in &s.failures {
            let _ = writeln!(out, "  {} {}: {}", f.config, f.schedule, f.failure);
        }
    }
    out
}

/// The runs that break a rule, and the spread of the misses.
fn agreement(out: &mut String, s: &Summary) {
    let (lo, hi) = s.latency_band_percent;
    let _ = writeln!(
        out,
        "agreement: {} runs disagree on an exact quantity, {} fall outside the latency band {lo:+.0} … {hi:+.0} %, {} show waste",
        s.disagreements.len(),
        s.outside_latency_band.len(),
        s.wasteful.len()
    );
    let listed = s.disagreements.iter().chain(&s.outside_latency_band);
    for f in listed.chain(&s.wasteful) {
        let _ = writeln!(out, "  {} {}: {}", f.config, f.schedule, f.failure);
    }
    if let Some(d) = s.latency_delta_percent {
        let _ = writeln!(
            out,
            "latency Δ % (measured vs predicted): min {:+.2}  median {:+.2}  p90 {:+.2}  max {:+.2}",
            d.min, d.median, d.p90, d.max
        );
    }
    if let Some(d) = s.abs_latency_delta_percent {
        let _ = writeln!(
            out,
            "|latency Δ| %: median {:.2}  p90 {:.2}  max {:.2}",
            d.median, d.p90, d.max
        );
    }
    let _ = writeln!(
        out,
        "energy and DRAM traffic: largest |Δ| {:.4} % and {:.4} %",
        s.max_abs_energy_delta_percent, s.max_abs_dram_delta_percent
    );
    bounds(out, s);
}

/// Whether the measured latencies lie inside the predictions' bounds, and how wide
/// those are.
fn bounds(out: &mut String, s: &Summary) {
    let Some(b) = &s.latency_bounds else {
        return;
    };
    let spread = |d: Option<runs::Spread>| {
        d.map_or("-".to_string(), |d| {
            format!(
                "median {:+.1} %, from {:+.1} to {:+.1} %",
                d.median, d.min, d.max
            )
        })
    };
    let _ = writeln!(
        out,
        "latency bounds: measured inside on {} of {} runs; floor {}; ceiling {}",
        b.inside,
        b.runs,
        spread(b.floor_percent),
        spread(b.ceiling_percent)
    );
    for f in &s.outside_latency_bounds {
        let _ = writeln!(out, "  {} {}: {}", f.config, f.schedule, f.failure);
    }
}

/// The rank agreement overall and, with several configurations, per configuration.
fn rank_agreement(out: &mut String, r: &RankSummary, labels: &[&str]) {
    let Some(overall) = &r.overall else {
        return;
    };
    let _ = writeln!(
        out,
        "rank agreement (analytic vs simulated order): {overall}"
    );
    if r.by_config.len() > 1 {
        for label in labels {
            if let Some(a) = r.by_config.get(*label) {
                let _ = writeln!(out, "  {label}: {a}");
            }
        }
    }
}

/// The worst-predicted runs with the stall cycles each cause missed.
fn worst_table(worst: &[Worst]) -> String {
    let mut header = vec![
        "config".to_string(),
        "schedule".into(),
        "predicted".into(),
        "measured".into(),
        "Δ %".into(),
        "dominant cause".into(),
    ];
    let causes: Vec<StallCause> = StallCause::ALL
        .into_iter()
        .filter(|c| {
            !c.is_dram_timing()
                || worst
                    .iter()
                    .any(|w| w.stall_delta_cycles.get(c.name()).is_some_and(|d| *d != 0))
        })
        .collect();
    header.extend(causes.iter().map(|c| c.name().to_string()));
    let mut t = Table::new(header);
    for w in worst {
        let mut row = vec![
            w.config.clone(),
            w.schedule.clone(),
            thousands(w.predicted_latency_cycles),
            thousands(w.measured_latency_cycles),
            format!("{:+.2}", w.latency_delta_percent),
            w.dominant_cause.clone().unwrap_or_else(|| "-".into()),
        ];
        row.extend(causes.iter().map(|c| {
            let d = w.stall_delta_cycles.get(c.name()).copied().unwrap_or(0);
            format!(
                "{}{}",
                if d < 0 { "-" } else { "+" },
                thousands(d.unsigned_abs())
            )
        }));
        t.row(row);
    }
    t.render()
}
