//! `stems validate`: schedules, simulates and verifies many runs, and shows where the
//! analytic prediction misses the measurement, by cause.

use super::explore::parse_side;
use super::journaled::{JournalArgs, run_grid};
use super::{Format, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;
use stems::explore::Space;
use stems::mapping::Objective;
use stems::model::limits::MAX_JOBS;
use stems::model::{Overrides, Size};
use stems::report::validation::{FILES, render_table, write_outputs};
use stems::schedule::SchedulerOptions;
use stems::validate::plan::{Grid, Plan, plan_grid};
use stems::validate::runs::{self, Row, Run, Summary};

#[derive(Args)]
pub struct ValidateArgs {
    /// Workload TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "scenario"
    )]
    pub workload: Option<PathBuf>,
    /// Accelerator TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "scenario"
    )]
    pub hardware: Option<PathBuf>,
    /// Global SRAM sizes to validate at, comma-separated (default: the hardware file's).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub gb: Vec<Size>,
    /// Blocks whose neuron state is removed (the paper's SEW-X ablation), e.g. 0,1.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub stateless_blocks: Vec<usize>,
    /// Set an accelerator field by path, repeatable (see `stems simulate --help`).
    #[arg(long = "set", allow_hyphen_values = true, value_name = "PATH=VALUE")]
    pub set: Vec<stems::model::overrides::FieldSet>,
    /// Scale every feature tensor's density by FACTOR (on a dense workload, the
    /// density), as on `evaluate`.
    #[arg(long, allow_hyphen_values = true, value_name = "FACTOR")]
    pub activity: Option<f64>,
    /// A recording of real inferences (.npz): the analytic half takes its densities,
    /// the simulator its spikes.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE.npz")]
    pub spikes: Option<PathBuf>,
    /// A schedule to validate (repeatable): one `<time>-<space>` entry for every block
    /// or one per block, e.g. --schedule ST-LBL --schedule TB-LF,TB-LBL.
    #[arg(long = "schedule", value_name = "SPEC", allow_hyphen_values = true)]
    pub schedules: Vec<String>,
    /// Validate every schedule of a space: the paper's hybrid (N+1)² grid, or all 4^N
    /// block cuts.
    #[arg(long, allow_hyphen_values = true, value_parser = ["hybrid", "exhaustive"])]
    pub space: Option<String>,
    /// Hybrid space: apply time batching to blocks counted from this end.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub batch_from: stems::explore::Side,
    /// Hybrid space: apply layer fusion to blocks counted from this end.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub fuse_from: stems::explore::Side,
    /// Layer-to-core allocation: LAYER=CORE or block:N=CORE, comma-separated.
    #[arg(long, allow_hyphen_values = true, value_name = "LIST")]
    pub allocate: Option<String>,
    /// A scenario file: every experiment's baseline and schedules, on its models.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE", conflicts_with_all = ["workload", "hardware", "gb", "stateless_blocks", "set", "activity", "spikes", "schedules", "space", "allocate", "eviction"])]
    pub scenario: Option<PathBuf>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: super::EvictionArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// How many of the worst-predicted runs to list.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 3,
        value_name = "N"
    )]
    pub worst: usize,
    /// Also exit 1 when a run's latency falls outside the agreement band (−5 … +15 % of
    /// the prediction) or shows waste; a disagreement on an exact quantity always does.
    #[arg(long)]
    pub strict: bool,
    /// The band measured latency must fall in, in percent of the prediction.
    #[arg(long, allow_hyphen_values = true, value_name = "LO..HI", default_value = "-5..15", value_parser = super::simulate::parse_band)]
    pub latency_band: (f64, f64),
    /// Write validation.csv, summary.json and predicted_vs_measured.svg here, and each
    /// run's row as it finishes (rows.jsonl, for --resume and `stems merge`).
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

/// The configurations and runs the arguments ask for.
fn plan(args: &ValidateArgs) -> Result<Plan> {
    if let Some(path) = &args.scenario {
        let scenario = stems::scenario::Scenario::load(path)?;
        if scenario.experiments.is_empty() {
            bail!(UsageError(format!(
                "{}: no [[experiment]] to validate (its [[sweep]]s are validated point by \
                 point by `stems run {}`)",
                path.display(),
                path.display()
            )));
        }
        let searches = scenario
            .experiments
            .iter()
            .filter(|x| x.allocation_search.is_some())
            .count();
        if searches > 0 {
            eprintln!(
                "searching allocations for {searches} experiment(s) first, as `stems run` does"
            );
        }
        return Ok(scenario.validation_plan()?);
    }
    let (Some(workload), Some(hardware)) = (&args.workload, &args.hardware) else {
        bail!(UsageError(
            "give --workload and --hardware, or --scenario".into()
        ));
    };
    if args.schedules.is_empty() && args.space.is_none() {
        bail!(UsageError(
            "give the schedules to validate: --schedule SPEC (repeatable) or --space hybrid".into()
        ));
    }
    let space = args.space.as_deref().map(|space| match space {
        "exhaustive" => Space::Exhaustive,
        _ => Space::Hybrid {
            batch_from: args.batch_from,
            fuse_from: args.fuse_from,
        },
    });
    Ok(plan_grid(&Grid {
        workload,
        hardware,
        sizes: if args.gb.is_empty() {
            vec![None]
        } else {
            args.gb.iter().copied().map(Some).collect()
        },
        overrides: Overrides {
            global_sram: None,
            stateless_blocks: args.stateless_blocks.clone(),
            hardware: args.set.clone(),
            activity: args.activity,
            layer_activity: Vec::new(),
        },
        spikes: args.spikes.as_deref(),
        schedules: &args.schedules,
        space,
        allocation: args.allocate.as_deref(),
        options: SchedulerOptions {
            prefetch: !args.no_prefetch,
            objective: Objective::Energy,
            eviction: args.eviction.eviction,
        },
    })?)
}

pub fn run(args: ValidateArgs) -> Result<()> {
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let plan = plan(&args)?;
    let layout = serde_json::json!({
        "worst": args.worst,
        "latency_band": args.latency_band,
        "skipped": plan.skipped,
    });
    let header = plan.journal_header(args.journal.shard, layout);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let rows = run_grid(&args.journal, &args.out, &header, "runs", |todo, done| {
        let picked: Vec<Run> = todo.iter().map(|&i| plan.runs[i].clone()).collect();
        pool.install(|| runs::run_each(&plan.configs, &picked, |k, row| done(todo[k], row)))?;
        Ok(())
    })?;
    let rows: Vec<Row> = rows.into_values().collect();
    let seconds = started.elapsed().as_secs_f64();
    let summary =
        Summary::new(&rows, args.worst, args.latency_band).with_skipped(plan.skipped.clone());
    if let Some(dir) = args.journal.dir(&args.out) {
        write_outputs(dir, &rows, &summary)?;
        eprintln!("wrote {FILES} to {}", dir.display());
    }
    match args.format {
        Format::Table => {
            let labels: Vec<&str> = plan.configs.iter().map(|c| c.label.as_str()).collect();
            let workloads: BTreeSet<&str> = plan
                .configs
                .iter()
                .map(|c| c.workload.name.as_str())
                .collect();
            let workloads: Vec<&str> = workloads.into_iter().collect();
            out!("{}", render_table(&labels, &workloads, &summary, seconds));
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                summary: &'a Summary,
                seconds: f64,
                runs: &'a [Row],
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    summary: &summary,
                    seconds,
                    runs: &rows,
                })?
            );
        }
    }
    match summary.failure(args.strict) {
        Some(why) => bail!(why),
        None => Ok(()),
    }
}
