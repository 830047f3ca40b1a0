//! `stems sweep`: the cross product of hardware axes and schedules, each point
//! scheduled, simulated and verified; a CSV row per point, plots against each axis,
//! and where each schedule stops being DRAM-bound.

use super::journaled::{JournalArgs, run_grid};
use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::hardware_sweep::{Axis, SweepError, SweepResult, SweepShape, SweepSpec};
use stems::model::limits::MAX_JOBS;
use stems::validate::runs::Row;

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// An axis, repeatable: an accelerator field path or `gb`, with values
    /// (dram.bw_bits=16,32,64) or a range (gb=64KiB..2MiB*2, dram.latency_cycles=100..400+100).
    #[arg(
        long = "axis",
        allow_hyphen_values = true,
        value_name = "PATH=VALUES",
        required = true
    )]
    pub axes: Vec<Axis>,
    /// A schedule, repeatable (the schedule axis): one `<time>-<space>` entry for every
    /// block or one per block.
    #[arg(
        long = "schedule",
        allow_hyphen_values = true,
        value_name = "SPEC",
        required = true
    )]
    pub schedules: Vec<String>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: super::EvictionArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// A schedule counts as DRAM-bound while the DRAM port stalls it this share of its
    /// latency or more.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0.05,
        value_name = "SHARE"
    )]
    pub dram_bound_share: f64,
    /// Write sweep.csv, summary.json and plots (latency and energy against each axis,
    /// a heatmap for two axes) here.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: SweepArgs) -> Result<()> {
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let spec = SweepSpec {
        workload: args.models.workload.clone(),
        hardware: args.models.hardware.clone(),
        overrides: args.models.overrides.model(),
        recording: args.models.overrides.spikes.clone(),
        prefetch: !args.no_prefetch,
        eviction: args.eviction.eviction,
        shape: SweepShape {
            axes: args.axes.clone(),
            schedules: args.schedules.clone(),
            dram_bound_share: args.dram_bound_share,
        },
    };
    stems::hardware_sweep::check(&spec.shape).map_err(bad_input)?;
    let header = spec.journal_header(args.journal.shard)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let rows = run_grid(&args.journal, &args.out, &header, "points", |todo, done| {
        pool.install(|| stems::hardware_sweep::run_points(&spec, todo, done))
            .map_err(bad_input)
    })?;
    let rows: Vec<Row> = rows.into_values().collect();
    if let Some(shard) = args.journal.shard {
        let failed = rows.iter().filter(|r| !r.verified).count();
        outln!(
            "shard {shard}: {} of the grid's {} points run, {failed} failed verification; combine the shards with `stems merge`",
            rows.len(),
            header.points
        );
        if failed > 0 {
            bail!("{failed} of {} points failed verification", rows.len());
        }
        return Ok(());
    }
    let result = SweepResult::new(spec.shape, rows, started.elapsed().as_secs_f64());
    if let Some(dir) = args.journal.dir(&args.out) {
        let written = result.write(dir)?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    match args.format {
        Format::Table => out!("{}", result.render_table()),
        Format::Json => outln!("{}", result.summary_json()?),
    }
    let failed = result.failed();
    if failed > 0 {
        bail!(
            "{failed} of {} points failed verification",
            result.rows.len()
        );
    }
    Ok(())
}

/// A sweep's bad input exits 2 like any other.
pub fn bad_input(e: SweepError) -> anyhow::Error {
    if e.is_bad_input() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}
