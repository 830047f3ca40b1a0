//! `stems simulate`: a schedule on the cycle-level simulator, next to its prediction.

use super::{Format, ModelFiles, ModelOverrides, ScheduleArgs, UsageError};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use stems::model::units::{human_bits, thousands};
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
    /// Write every DRAM request (one 64-byte line each) as `0xADDRESS READ|WRITE CYCLE`,
    /// in time order: the trace DRAMsim3 replays (see README, "DRAM request traces").
    #[arg(long, allow_hyphen_values = true, value_name = "FILE")]
    pub dram_trace: Option<PathBuf>,
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
    let layer_blocks: Vec<usize> = schedule.workload.layers.iter().map(|l| l.block).collect();
    let request_bytes = schedule.accelerator.dram.trace_request_bytes();
    let options = SimOptions {
        trace: args.trace.clone(),
        trace_window: args.trace_window.clone(),
        trace_layers: args.trace_layers.clone(),
        record_timelines: args.plots.is_some(),
        dram_trace: args.dram_trace.clone(),
        verify: !args.no_verify,
        spikes: args.spikes.source(recorded),
    };
    let rules = stems::validate::agreement::Rules {
        latency_band_percent: args.latency_band,
        ..Default::default()
    };
    let checked = stems::validate::cross_validate(schedule, &options, rules)
        .map_err(|e| rejected(&args, e))?;
    if let Some(dir) = &args.plots {
        let written = stems::report::simulation::write_plots(dir, &checked, &layer_blocks)?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    if let Some(path) = &args.trace {
        announce_trace(path, checked.measured.trace_events, &args);
    }
    if let (Some(path), Some(n)) = (&args.dram_trace, checked.measured.dram_trace_requests) {
        eprintln!(
            "DRAM trace written to {} ({} requests of {request_bytes} B)",
            path.display(),
            thousands(n)
        );
    }
    match args.format {
        Format::Table => out!("{}", stems::report::simulation::render(&checked)),
        Format::Json => outln!("{}", stems::report::simulation::json(&checked)?),
    }
    let agreement = &checked.agreement;
    if args.strict && !agreement.strict() {
        bail!(
            "--strict: the halves disagree ({})",
            agreement.problems().join("; ")
        );
    }
    Ok(())
}

/// Where the trace went and how to open it; how to narrow one too large for a viewer.
fn announce_trace(path: &std::path::Path, events: Option<u64>, args: &SimulateArgs) {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    eprintln!(
        "trace written to {} ({} events, {}); open it in ui.perfetto.dev",
        path.display(),
        thousands(events.unwrap_or(0)),
        human_bits(bytes * 8)
    );
    // Viewers slow down past a few tens of MB: say how to narrow it.
    if bytes > 32 << 20 && args.trace_layers.is_none() && args.trace_window.is_none() {
        eprintln!(
            "the trace is large: --trace-layers LIST or --trace-window START..END keep only part of the run"
        );
    }
}
