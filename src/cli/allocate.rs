//! `stems allocate`: a seeded genetic search over layer-to-core (or block-to-core)
//! allocations for one schedule (see `stems::explore::allocate`).

use super::{EvictionArg, Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::explore::allocate::{AllocateOptions, AllocationSpace, Unit};
use stems::explore::allocate_run::{AllocationRun, run_allocation};
use stems::explore::search::Objective;
use stems::mapping::Objective as MapObjective;
use stems::report::allocation::{FILES, render_table, write_outputs};
use stems::schedule::{ScheduleSpec, SchedulerOptions};

#[derive(Args)]
pub struct AllocateArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// Cuts: one `<time>-<space>` entry for every block (TB-LF) or one per block.
    #[arg(long, allow_hyphen_values = true, value_name = "SPEC")]
    pub schedule: String,
    /// What the search minimises: latency, energy or edp.
    #[arg(long, allow_hyphen_values = true, default_value = "latency", value_parser = parse_objective)]
    pub objective: Objective,
    /// Allocations to cost, the single-core warm start included.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 2000,
        value_name = "N"
    )]
    pub budget: usize,
    /// Go ahead with a run estimated at more than an hour (STEMS_LONG_RUN_SECONDS).
    #[arg(long)]
    pub yes: bool,
    /// Seed of the random generator. Same seed, same result, on any --jobs.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0,
        value_name = "S"
    )]
    pub seed: u64,
    /// Survivors per generation, and children bred from them.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 32,
        value_name = "N"
    )]
    pub population: usize,
    /// What one gene assigns to a core: a layer or a block.
    #[arg(long, allow_hyphen_values = true, default_value = "layer", value_parser = parse_unit)]
    pub unit: Unit,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: EvictionArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
    /// Write allocations.csv (every allocation costed), convergence.svg and
    /// summary.json here.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    match s.parse()? {
        o @ (Objective::Latency | Objective::Energy | Objective::Edp) => Ok(o),
        _ => Err(format!("'{s}' is not latency, energy or edp")),
    }
}

fn parse_unit(s: &str) -> Result<Unit, String> {
    s.parse()
}

/// Budgets above this are refused.
const MAX_BUDGET: usize = 1_000_000;

pub fn run(args: AllocateArgs) -> Result<()> {
    use stems::model::limits::MAX_JOBS;
    if args.budget == 0 || args.budget > MAX_BUDGET {
        bail!(UsageError(format!("--budget must be 1..={MAX_BUDGET}")));
    }
    if !(2..=4096).contains(&args.population) {
        bail!(UsageError("--population must be 2..=4096".into()));
    }
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let (workload, accelerator) = args.models.load()?;
    let spec = ScheduleSpec::parse(&args.schedule, workload.num_blocks, workload.timesteps)
        .context("--schedule")?;
    let space = AllocationSpace::new(&workload, &accelerator, args.unit)
        .map_err(|e| UsageError(format!("--hardware: {e}")))?;
    let run = AllocationRun {
        workload: &workload,
        accelerator: &accelerator,
        spec: &spec,
        space: &space,
        unit: args.unit,
        options: AllocateOptions {
            budget: args.budget,
            seed: args.seed,
            population: args.population,
            objective: args.objective,
        },
        scheduler: SchedulerOptions {
            prefetch: !args.no_prefetch,
            eviction: args.eviction.eviction,
            objective: MapObjective::Energy,
        },
        jobs: args.jobs,
    };
    let progress = super::progress::Progress::new(args.budget as u64, "allocations");
    let approve = |estimate: f64| {
        eprintln!("{} allocations to cost; about {estimate:.0} s", args.budget);
        super::progress::confirm_long_search(estimate, args.yes)
    };
    let allocated = run_allocation::<anyhow::Error>(&run, approve, |e| {
        if let Some(r) = &e.report {
            let v = args.objective.value(r);
            progress.offer(v, || args.objective.show(v));
        }
        progress.inc();
    })?;
    progress.finish();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_outputs(dir, &allocated)?;
        eprintln!("wrote {FILES} to {}", dir.display());
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&allocated.summary())?),
        Format::Table => out!("{}", render_table(&allocated, accelerator.cores.len())),
    }
    Ok(())
}
