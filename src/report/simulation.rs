//! A simulated run for people and programs: the measured report, verification and
//! compulsory/excess traffic, stalls, components, latency distributions, the
//! comparison with the prediction and the verdict — and the plots of its timelines.

use super::{Table, WriteError, plot};
use crate::cost::StallCause;
use crate::model::units::{human_bits, thousands};
use crate::validate::CrossValidated;
use std::fmt::Write as _;
use std::path::Path;

/// Everything `stems simulate` prints as text.
pub fn render(x: &CrossValidated) -> String {
    let measured = &x.measured;
    let mut out = String::new();
    let _ = writeln!(out, "{}", measured.report.render_table().trim_end());
    let _ = writeln!(
        out,
        "\nsimulation: {} events in {:.2} s ({:.2} M events/s)",
        thousands(measured.events),
        measured.wall_seconds,
        measured.events_per_second / 1e6
    );
    out.push_str(&render_verification(x));
    let _ = writeln!(out, "\nPE-array stalls by cause (cycles)");
    let mut t = Table::new(["cause", "cycles"]);
    for (cause, cycles) in measured.report.stall_cycles_by_cause.iter() {
        t.row([cause.to_string(), thousands(*cycles)]);
    }
    out.push_str(&t.render());
    out.push_str(&render_dram_device(x));
    out.push_str(&render_components(x));
    let _ = writeln!(out, "\nanalytic prediction vs simulation");
    out.push_str(&super::comparison::render(&x.comparison));
    out.push_str(&render_agreement(x));
    out
}

/// The timing model's device: row buffer, refresh and bus figures.
fn render_dram_device(x: &CrossValidated) -> String {
    let Some(d) = &x.measured.dram_device else {
        return String::new();
    };
    let c = &d.counts;
    let mut t = Table::new(["DRAM device", "value"]);
    for (what, v) in [
        ("bursts", thousands(c.bursts)),
        ("row hits", thousands(c.row_hits)),
        ("row misses (bank idle)", thousands(c.row_misses)),
        ("row conflicts (other row open)", thousands(c.row_conflicts)),
        ("row-hit rate", format!("{:.2} %", 100.0 * d.row_hit_rate)),
        ("refreshes", thousands(c.refreshes)),
        ("read/write turnarounds", thousands(c.turnarounds)),
        (
            "bus utilisation",
            format!("{:.2} %", 100.0 * d.bus_utilisation),
        ),
    ] {
        t.row([what.to_string(), v]);
    }
    format!("\nDRAM timing model ({})\n{}", d.standard, t.render())
}

fn signed_bits(bits: i64) -> String {
    let sign = if bits < 0 { "-" } else { "" };
    format!("{sign}{}", human_bits(bits.unsigned_abs()))
}

/// The verifier's verdict and the DRAM traffic it found compulsory and in excess.
fn render_verification(x: &CrossValidated) -> String {
    let v = &x.measured.verification;
    let mut out = format!(
        "\nverification: {} ({} checks); redundant loads {}, dead writes {}\n",
        if v.verified { "passed" } else { "off" },
        thousands(v.checks),
        human_bits(v.redundant_load_bits),
        human_bits(v.dead_write_bits)
    );
    let mut t = Table::new(["DRAM traffic", "W", "F", "V", "total"]);
    let (c, e) = (
        &v.compulsory_dram_bits_by_operand,
        &v.excess_dram_bits_by_operand,
    );
    t.row([
        "compulsory".to_string(),
        human_bits(c.W),
        human_bits(c.F),
        human_bits(c.V),
        human_bits(v.compulsory_dram_bits),
    ]);
    t.row([
        "excess".to_string(),
        signed_bits(e.W),
        signed_bits(e.F),
        signed_bits(e.V),
        signed_bits(v.excess_dram_bits),
    ]);
    out.push_str(&t.render());
    out
}

/// Each component's busy and stall cycles with its busiest port's queue delays, and
/// the latency distributions of tiles, transfers, fills and writes.
fn render_components(x: &CrossValidated) -> String {
    let mut out = String::from("\ncomponents\n");
    let mut t = Table::new([
        "component",
        "busy cycles",
        "stall cycles",
        "queue delay",
        "port",
        "requests",
        "queue p50",
        "p99",
        "max",
    ]);
    for c in &x.measured.components {
        let busiest = c.ports.iter().max_by_key(|p| p.requests);
        t.row([
            c.name.clone(),
            thousands(c.busy_cycles),
            thousands(c.stall_cycles),
            thousands(c.queue_delay_cycles),
            busiest.map_or("-".into(), |p| p.port.clone()),
            busiest.map_or("-".into(), |p| thousands(p.requests)),
            busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.p50)),
            busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.p99)),
            busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.max)),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nlatency distributions (cycles)\n");
    let l = &x.measured.latency_cycles_distribution;
    let mut t = Table::new(["what", "count", "mean", "p50", "p99", "max"]);
    for (what, d) in [
        ("tile compute", l.tile),
        ("scheduled transfer", l.transfer),
        ("pass fill", l.fill),
        ("pass write", l.write),
    ] {
        t.row([
            what.to_string(),
            thousands(d.count),
            format!("{:.1}", d.mean),
            thousands(d.p50),
            thousands(d.p99),
            thousands(d.max),
        ]);
    }
    out.push_str(&t.render());
    out
}

/// The verdict: every quantity agrees, or one line per problem.
fn render_agreement(x: &CrossValidated) -> String {
    let a = &x.agreement;
    let problems = a.problems();
    if problems.is_empty() {
        format!(
            "\nagreement: all {} quantities agree; latency {:+.1} % (band {:+.0} … {:+.0} %); no waste\n",
            a.checks.len(),
            a.latency_delta_percent,
            a.latency_band_percent.0,
            a.latency_band_percent.1
        )
    } else {
        let mut out = format!("\nagreement: {} problem(s)\n", problems.len());
        for p in &problems {
            let _ = writeln!(out, "  {p}");
        }
        out
    }
}

/// What `stems simulate --format json` prints: the measured report with the
/// comparison and the verdict.
pub fn json(x: &CrossValidated) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        measured: &'a crate::sim::MeasuredReport,
        validation: &'a [crate::validate::Comparison],
        agreement: &'a crate::validate::agreement::Agreement,
    }
    serde_json::to_string_pretty(&Out {
        measured: &x.measured,
        validation: &x.comparison,
        agreement: &x.agreement,
    })
}

/// Writes the run's timelines as plots into `dir` (global SRAM occupancy with block
/// bands, DRAM saturation, DRAM queue delays); `layer_blocks` gives each layer's block.
/// Returns the file names; nothing when the run kept no timelines.
pub fn write_plots(
    dir: &Path,
    x: &CrossValidated,
    layer_blocks: &[usize],
) -> Result<Vec<&'static str>, WriteError> {
    let (measured, Some(t)) = (&x.measured, &x.measured.timelines) else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).map_err(|error| crate::output::OutputError {
        path: dir.to_path_buf(),
        error,
    })?;
    let end = measured.report.latency_cycles;
    let what = format!(
        "{} on {}",
        measured.report.workload,
        crate::schedule::spec::compact(&measured.report.schedule.join(","))
    );
    // Block bands: consecutive tiles of one block (first core) merged.
    let mut bands: Vec<(u64, u64, usize)> = Vec::new();
    for &(from, to, layer) in t.cores.first().map_or(&[][..], |c| &c.tiles[..]) {
        let block = layer_blocks[layer];
        match bands.last_mut() {
            Some(last) if last.2 == block => last.1 = to,
            _ => bands.push((from, to, block)),
        }
    }
    let block_names: Vec<String> = (0..=layer_blocks.iter().copied().max().unwrap_or(0))
        .map(|b| format!("block {b}"))
        .collect();
    let dram_stalls: Vec<(u64, u64)> = t
        .cores
        .iter()
        .flat_map(|c| &c.stalls)
        .filter(|s| s.2 == StallCause::DramPort)
        .map(|s| (s.0, s.1))
        .collect();
    let series: Vec<(String, &[(u64, u64)])> = t
        .sram_bits
        .iter()
        .enumerate()
        .map(|(c, s)| (format!("core{c}"), s.as_slice()))
        .collect();
    plot::occupancy(
        &dir.join("sram_occupancy.svg"),
        &format!("global SRAM occupancy: {what}"),
        &series,
        measured.report.global_sram_bits,
        end,
        (&bands, &block_names),
    )?;
    plot::dram_utilisation(
        &dir.join("dram_utilisation.svg"),
        &format!("DRAM saturation: {what}"),
        &t.dram_bursts,
        &dram_stalls,
        t.cores.len(),
        end,
        200,
    )?;
    plot::histogram(
        &dir.join("dram_queue_delay.svg"),
        &format!("DRAM port queue delay: {what}"),
        "cycles waited for the port (each bucket up to twice its label)",
        &t.dram_queue_delays,
    )?;
    Ok(vec![
        "sram_occupancy.svg",
        "dram_utilisation.svg",
        "dram_queue_delay.svg",
    ])
}
