//! `stems sweep`: the cross product of hardware axes and schedules, each point
//! scheduled, simulated and verified; a CSV row per point, plots against each axis,
//! and where each schedule stops being DRAM-bound.

use super::progress::Progress;
use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::model::limits::MAX_JOBS;
use stems::sweep::{Axis, SweepError, SweepSpec};

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
        axes: args.axes.clone(),
        schedules: args.schedules.clone(),
        prefetch: !args.no_prefetch,
        dram_bound_share: args.dram_bound_share,
    };
    let total = stems::sweep::points(&spec.axes).len() * spec.schedules.len();
    let progress = Progress::new(total as u64, "points");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let result = pool
        .install(|| stems::sweep::run(spec, || progress.inc()))
        .map_err(bad_input)?;
    progress.finish();
    if let Some(dir) = &args.out {
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
