//! `stems simulate`: a schedule on the cycle-level simulator, next to its prediction.

use super::{Format, ModelFiles, ModelOverrides, ScheduleArgs, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use stems::model::units::{human_bits, thousands};
use stems::report::Table;
use stems::schedule::Schedule;
use stems::sim::{SimError, SimOptions};

#[derive(Args)]
pub struct SimulateArgs {
    /// Replay a saved Schedule (from `stems evaluate --save-schedule`) instead of
    /// scheduling from models.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE", conflicts_with_all = ["workload", "hardware", "schedule", "time_batched", "fused", "gb", "stateless_blocks", "set", "activity"])]
    pub replay: Option<PathBuf>,
    /// Workload TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "replay"
    )]
    pub workload: Option<PathBuf>,
    /// Accelerator TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "replay"
    )]
    pub hardware: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: ModelOverrides,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
    /// Write a Chrome trace-event JSON file (open it in ui.perfetto.dev or chrome://tracing).
    #[arg(long, allow_hyphen_values = true, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Only trace tiles of these layers (comma-separated names).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ',',
        requires = "trace"
    )]
    pub trace_layers: Option<Vec<String>>,
    /// Only trace spans overlapping these cycles, e.g. 0..100000.
    #[arg(long, allow_hyphen_values = true, value_name = "START..END", value_parser = parse_window, requires = "trace")]
    pub trace_window: Option<std::ops::Range<u64>>,
    /// Do not track data validity (to measure what verification costs; the report then
    /// says `verified: false` and nothing is checked).
    #[arg(long)]
    pub no_verify: bool,
    /// Write SVG pictures into this directory: SRAM occupancy over time with the
    /// layers computing, DRAM saturation over time (bus busy and PE waiting, per bin),
    /// and the DRAM queue-delay histogram.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    #[command(flatten)]
    pub spikes: super::SpikeArgs,
    /// Exit 1 unless the halves agree: every quantity they compute alike equal (within
    /// the spike tolerance when spikes ran), latency within the band, and no waste.
    #[arg(long)]
    pub strict: bool,
    /// The band measured latency must fall in, in percent of the prediction.
    #[arg(long, allow_hyphen_values = true, value_name = "LO..HI", default_value = "-5..15", value_parser = parse_band)]
    pub latency_band: (f64, f64),
}

/// `LO..HI` percent, e.g. `-5..15`.
pub fn parse_band(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not LO..HI (percent, e.g. -5..15)"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("'{x}' is not a number of percent"))
    };
    let (lo, hi) = (num(a)?, num(b)?);
    if lo > hi {
        return Err(format!("{lo} is above {hi}"));
    }
    Ok((lo, hi))
}

pub fn parse_window(s: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not START..END"))?;
    let start: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("'{a}' is not a cycle"))?;
    let end: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("'{b}' is not a cycle"))?;
    if end <= start {
        return Err(format!("window {start}..{end} is empty"));
    }
    Ok(start..end)
}

/// A replayed file that cannot run as written (it deadlocks, breaks an invariant or
/// fails verification) is bad input; for a schedule stems made itself it is a bug.
fn rejected(args: &SimulateArgs, e: SimError) -> anyhow::Error {
    match (&args.replay, &e) {
        (
            Some(path),
            SimError::Verification(_) | SimError::Deadlock { .. } | SimError::Invariant(_),
        ) => UsageError(format!("{}: {e}", path.display())).into(),
        _ => e.into(),
    }
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let (schedule, recorded) = match &args.replay {
        Some(path) => {
            let mut s = Schedule::load(path)?;
            let spikes = match &args.overrides.spikes {
                Some(p) => Some(Arc::new(stems::spikes::record::attach(&mut s.workload, p)?)),
                None => None,
            };
            (s, spikes)
        }
        None => ModelFiles {
            workload: args.workload.clone().unwrap_or_default(),
            hardware: args.hardware.clone().unwrap_or_default(),
            overrides: ModelOverrides {
                gb: args.overrides.gb,
                stateless_blocks: args.overrides.stateless_blocks.clone(),
                set: args.overrides.set.clone(),
                activity: args.overrides.activity,
                spikes: args.overrides.spikes.clone(),
            },
        }
        .plan_with_spikes(&args.schedule)?,
    };
    if let Some(names) = &args.trace_layers {
        for n in names {
            if schedule.workload.layer_by_name(n).is_none() {
                bail!(UsageError(format!(
                    "--trace-layers: no layer '{n}' in {}",
                    schedule.workload.name
                )));
            }
        }
    }
    let predicted = schedule.predicted.clone();
    let predicted_tiles = schedule.predicted_tiles();
    let layer_blocks: Vec<usize> = schedule.workload.layers.iter().map(|l| l.block).collect();
    let options = SimOptions {
        trace: args.trace.clone(),
        trace_window: args.trace_window.clone(),
        trace_layers: args.trace_layers.clone(),
        record_timelines: args.plots.is_some(),
        verify: !args.no_verify,
        spikes: args.spikes.source(recorded),
    };
    let measured = stems::sim::simulate(schedule, &options).map_err(|e| rejected(&args, e))?;
    let comparison = stems::validate::compare(&predicted, &measured.report);
    let agreement = stems::validate::agreement::agreement(
        &predicted,
        &measured.report,
        Some(&measured.verification),
        stems::validate::agreement::Rules {
            latency_band_percent: args.latency_band,
            ..Default::default()
        },
    )
    .with_tiles(&predicted_tiles, &measured.tiles());
    if let (Some(dir), Some(t)) = (&args.plots, &measured.timelines) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let end = measured.report.latency_cycles;
        let what = format!(
            "{} on {}",
            measured.report.workload,
            stems::schedule::spec::compact(&measured.report.schedule.join(","))
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
            .filter(|s| s.2 == stems::cost::StallCause::DramPort)
            .map(|s| (s.0, s.1))
            .collect();
        let series: Vec<(String, &[(u64, u64)])> = t
            .sram_bits
            .iter()
            .enumerate()
            .map(|(c, s)| (format!("core{c}"), s.as_slice()))
            .collect();
        stems::report::plot::occupancy(
            &dir.join("sram_occupancy.svg"),
            &format!("global SRAM occupancy: {what}"),
            &series,
            measured.report.global_sram_bits,
            end,
            (&bands, &block_names),
        )?;
        stems::report::plot::dram_utilisation(
            &dir.join("dram_utilisation.svg"),
            &format!("DRAM saturation: {what}"),
            &t.dram_bursts,
            &dram_stalls,
            t.cores.len(),
            end,
            200,
        )?;
        stems::report::plot::histogram(
            &dir.join("dram_queue_delay.svg"),
            &format!("DRAM port queue delay: {what}"),
            "cycles waited for the port (each bucket up to twice its label)",
            &t.dram_queue_delays,
        )?;
        eprintln!(
            "wrote sram_occupancy.svg, dram_utilisation.svg, dram_queue_delay.svg to {}",
            dir.display()
        );
    }
    if let Some(path) = &args.trace {
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        eprintln!(
            "trace written to {} ({} events, {}); open it in ui.perfetto.dev",
            path.display(),
            thousands(measured.trace_events.unwrap_or(0)),
            human_bits(bytes * 8)
        );
        // Viewers slow down past a few tens of MB: say how to narrow it.
        if bytes > 32 << 20 && args.trace_layers.is_none() && args.trace_window.is_none() {
            eprintln!(
                "the trace is large: --trace-layers LIST or --trace-window START..END keep only part of the run"
            );
        }
    }
    match args.format {
        Format::Table => {
            outln!("{}", measured.report.render_table().trim_end());
            outln!(
                "\nsimulation: {} events in {:.2} s ({:.2} M events/s)",
                thousands(measured.events),
                measured.wall_seconds,
                measured.events_per_second / 1e6
            );
            let v = &measured.verification;
            outln!(
                "\nverification: {} ({} checks); redundant loads {}, dead writes {}",
                if v.verified { "passed" } else { "off" },
                thousands(v.checks),
                human_bits(v.redundant_load_bits),
                human_bits(v.dead_write_bits)
            );
            let mut t = Table::new(["DRAM traffic", "W", "F", "V", "total"]);
            let (c, x) = (
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
                signed_bits(x.W),
                signed_bits(x.F),
                signed_bits(x.V),
                signed_bits(v.excess_dram_bits),
            ]);
            out!("{}", t.render());
            outln!("\nPE-array stalls by cause (cycles)");
            let mut t = Table::new(["cause", "cycles"]);
            for (cause, cycles) in &measured.report.stall_cycles_by_cause {
                t.row([cause.to_string(), thousands(*cycles)]);
            }
            out!("{}", t.render());
            outln!("\ncomponents");
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
            for c in &measured.components {
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
            out!("{}", t.render());
            outln!("\nlatency distributions (cycles)");
            let l = &measured.latency_cycles_distribution;
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
            out!("{}", t.render());
            outln!("\nanalytic prediction vs simulation");
            out!("{}", stems::report::comparison::render(&comparison));
            let problems = agreement.problems();
            if problems.is_empty() {
                outln!(
                    "\nagreement: all {} quantities agree; latency {:+.1} % (band {:+.0} … {:+.0} %); no waste",
                    agreement.checks.len(),
                    agreement.latency_delta_percent,
                    agreement.latency_band_percent.0,
                    agreement.latency_band_percent.1
                );
            } else {
                outln!("\nagreement: {} problem(s)", problems.len());
                for p in &problems {
                    outln!("  {p}");
                }
            }
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                measured: &'a stems::sim::MeasuredReport,
                validation: &'a [stems::validate::Comparison],
                agreement: &'a stems::validate::agreement::Agreement,
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    measured: &measured,
                    validation: &comparison,
                    agreement: &agreement,
                })?
            );
        }
    }
    if args.strict && !agreement.strict() {
        bail!(
            "--strict: the halves disagree ({})",
            agreement.problems().join("; ")
        );
    }
    Ok(())
}

fn signed_bits(bits: i64) -> String {
    let sign = if bits < 0 { "-" } else { "" };
    format!("{sign}{}", human_bits(bits.unsigned_abs()))
}
