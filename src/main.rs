//! The `stems` command line: parses arguments, calls the library, maps errors to exit
//! codes (2 for bad input, 1 for anything else).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stems::mapping::{MapKey, Mapper, NoMapping, Objective, Residency};
use stems::model::units::thousands;
use stems::model::{Accelerator, HardwareOverrides, ModelError, Size, SourceText, Workload};
use stems::report::Table;
use stems::report::inspect::{AcceleratorInspection, WorkloadInspection};
use stems::schedule::{
    Allocation, Schedule, ScheduleError, ScheduleSpec, SchedulerOptions, SpecError,
};
use stems::sim::SimOptions;
use stems::tiling::{CtShape, TileRegion};

#[derive(Parser)]
#[command(
    name = "stems",
    version,
    about = "Spatial-temporal mapping of spiking neural networks onto neuromorphic accelerators",
    long_about = "stems maps spiking neural networks onto neuromorphic accelerators: an analytic \
front-end (loop-nest mapping, layer fusion, time batching) and a cycle-level simulator that \
checks it.",
    after_help = "Examples:\n  stems inspect models/workloads/sew_resnet18_cifar10dvs.toml\n  \
stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1 --format json\n  \
stems inspect models/hardware/meta_proto.toml --gb 512KiB"
)]
struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (logs go to stderr).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: each experiment's schedules against its baseline, analytically and
    /// on the simulator, next to the paper's figures.
    ///
    /// Example: stems run scenarios/paper_best_schedules.toml
    #[command(
        after_help = "Examples:\n  stems run scenarios/paper_best_schedules.toml\n  \
stems run scenarios/time_batching_sew18_1mib.toml --format json"
    )]
    Run(RunArgs),
    /// Show what a workload or accelerator file holds, per layer and per block.
    ///
    /// Example: stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1
    #[command(
        after_help = "Examples:\n  stems inspect models/workloads/red_lif_gen4.toml\n  \
stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1 --format json\n  \
stems inspect models/hardware/meta_proto.toml --gb 512KiB --format json"
    )]
    Inspect(InspectArgs),
    /// Find the best loop nest for one layer's computation tile and show its cost.
    ///
    /// Example: stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --layer conv1 --timesteps 16
    #[command(
        after_help = "Examples:\n  stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --layer conv1\n  \
stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --layer conv1 --timesteps 16 --format json\n  \
stems map --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --layer conv1 --lines 1 --objective latency"
    )]
    Map(MapArgs),
    /// Schedule a network with the given cuts and report its analytic cost.
    ///
    /// Example: stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --gb 1MiB --schedule TB-LBL
    #[command(
        after_help = "Examples:\n  stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 1MiB --schedule ST-LBL\n  \
stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --stateless-blocks 0,1 \\\n    --schedule ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL --format json\n  \
stems evaluate --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --time-batched 00011111 --fused 11100000 --save-schedule red.schedule.json"
    )]
    Evaluate(EvaluateArgs),
    /// Run a schedule on the cycle-level simulator and compare with the prediction.
    ///
    /// Example: stems simulate --replay traces/sew18_st_lbl_128k.schedule.json --trace run.trace.json
    #[command(
        after_help = "Examples:\n  stems simulate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --schedule ST-LBL\n  \
stems simulate --replay traces/tiny_lif_2t_lf.schedule.json --format json\n  \
stems simulate --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --schedule ST-LF --trace red.trace.json --trace-layers conv0,conv1 --trace-window 0..2000000"
    )]
    Simulate(SimulateArgs),
    /// Explore a space of schedules in parallel: the paper's hybrid (N+1)² grid or all
    /// 4^N block cuts, with a CSV row per schedule and SVG heatmaps.
    ///
    /// Example: stems explore --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml --gb 512KiB --batch-from output --out red_512k
    #[command(
        after_help = "Examples:\n  stems explore --workload models/workloads/red_lif_gen4.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 512KiB --batch-from output --out red_512k\n  \
stems explore --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --rank-by dram_energy --out sew7_128k\n  \
stems explore --workload models/workloads/tiny_fused.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 4KiB --space exhaustive --format json"
    )]
    Explore(ExploreArgs),
}

#[derive(Clone, Copy, ValueEnum, Default)]
enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document for programs.
    Json,
}

#[derive(Args)]
struct ModelOverrides {
    /// Global SRAM size of every core, e.g. 128KiB or 1MiB (banks and bandwidth follow).
    #[arg(long, value_name = "SIZE")]
    gb: Option<Size>,
    /// Blocks whose neuron state is removed (the paper's SEW-X ablation), e.g. 0,1.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    stateless_blocks: Vec<usize>,
}

impl ModelOverrides {
    fn hardware(&self) -> HardwareOverrides {
        HardwareOverrides {
            global_sram: self.gb,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// A scenario TOML file (see scenarios/).
    scenario: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args)]
struct InspectArgs {
    /// A workload (has [[layer]] tables) or accelerator (has [[core]] tables) TOML file.
    file: PathBuf,
    #[command(flatten)]
    overrides: ModelOverrides,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args)]
struct ModelFiles {
    /// Workload TOML file.
    #[arg(long, value_name = "FILE")]
    workload: PathBuf,
    /// Accelerator TOML file.
    #[arg(long, value_name = "FILE")]
    hardware: PathBuf,
    #[command(flatten)]
    overrides: ModelOverrides,
}

impl ModelFiles {
    fn load(&self) -> Result<(Workload, Accelerator)> {
        Ok(stems::model::load(
            &self.workload,
            &self.hardware,
            &stems::model::Overrides {
                global_sram: self.overrides.gb,
                stateless_blocks: self.overrides.stateless_blocks.clone(),
            },
        )?)
    }

    /// Schedules the models with the cuts, allocation and options of `args`.
    fn plan(&self, args: &ScheduleArgs) -> Result<Schedule> {
        let (workload, accelerator) = self.load()?;
        let spec = args.spec(&workload)?;
        let allocation = args.allocation(&workload, &accelerator)?;
        let mut mapper = Mapper::new(&accelerator);
        let started = std::time::Instant::now();
        let schedule = stems::schedule::schedule(
            &workload,
            &accelerator,
            &spec,
            &allocation,
            args.options(),
            &mut mapper,
        )?;
        tracing::info!(
            tiles = schedule.tiles.len(),
            unique_mappings = mapper.cached(),
            seconds = started.elapsed().as_secs_f64(),
            "scheduled"
        );
        Ok(schedule)
    }
}

#[derive(Args)]
struct MapArgs {
    #[command(flatten)]
    models: ModelFiles,
    /// The layer to map.
    #[arg(long, value_name = "NAME")]
    layer: String,
    /// Timesteps in the tile (1 = single timestep, T = the whole inference).
    #[arg(long, value_name = "N", default_value_t = 1)]
    timesteps: u32,
    /// The tile's first timestep (0 = the inference starts: no state to load).
    #[arg(long, value_name = "T", default_value_t = 0)]
    first_timestep: u32,
    /// Output lines in the tile (cut along OX as a layer-fused tile); default: all.
    #[arg(long, value_name = "N")]
    lines: Option<u64>,
    /// What to minimise.
    #[arg(long, default_value = "energy", value_parser = parse_objective)]
    objective: Objective,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Args)]
struct ScheduleArgs {
    /// Cuts: one `<time>-<space>` entry for every block (ST-LBL) or one per block
    /// (TB-LF,TB-LF,TB-LBL,...). Time: ST, <n>T, TB; space: LBL, LF, LF<n>.
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["time_batched", "fused"])]
    schedule: Option<String>,
    /// The authors' notation: one digit per block, 1 = time-batched (TB), 0 = ST.
    #[arg(long, value_name = "DIGITS", requires = "fused")]
    time_batched: Option<String>,
    /// The authors' notation: one digit per block, 1 = layer-fused (LF), 0 = LBL.
    #[arg(long, value_name = "DIGITS", requires = "time_batched")]
    fused: Option<String>,
    /// Layer-to-core allocation: LAYER=CORE or block:N=CORE, comma-separated
    /// (default: every layer on the first core).
    #[arg(long, value_name = "LIST")]
    allocate: Option<String>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    no_prefetch: bool,
    /// What the intra-layer mapper minimises.
    #[arg(long, default_value = "energy", value_parser = parse_objective)]
    objective: Objective,
}

impl ScheduleArgs {
    fn spec(&self, workload: &Workload) -> Result<ScheduleSpec> {
        Ok(match (&self.schedule, &self.time_batched, &self.fused) {
            (Some(s), _, _) => ScheduleSpec::parse(s, workload.num_blocks, workload.timesteps)?,
            (None, Some(t), Some(f)) => ScheduleSpec::from_digits(t, f, workload.num_blocks)?,
            _ => bail!(UsageError(
                "give --schedule SPEC, or --time-batched DIGITS with --fused DIGITS".into()
            )),
        })
    }

    fn allocation(&self, workload: &Workload, acc: &Accelerator) -> Result<Allocation> {
        Ok(match &self.allocate {
            Some(a) => Allocation::parse(a, workload, acc)?,
            None => Allocation::single_core(workload),
        })
    }

    fn options(&self) -> SchedulerOptions {
        SchedulerOptions {
            prefetch: !self.no_prefetch,
            objective: self.objective,
        }
    }
}

#[derive(Args)]
struct EvaluateArgs {
    #[command(flatten)]
    models: ModelFiles,
    #[command(flatten)]
    schedule: ScheduleArgs,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Write the Schedule (JSON) for `stems simulate --replay`.
    #[arg(long, value_name = "FILE")]
    save_schedule: Option<PathBuf>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Replay a saved Schedule (from `stems evaluate --save-schedule`) instead of
    /// scheduling from models.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["workload", "hardware", "schedule", "time_batched", "fused"])]
    replay: Option<PathBuf>,
    /// Workload TOML file.
    #[arg(long, value_name = "FILE", required_unless_present = "replay")]
    workload: Option<PathBuf>,
    /// Accelerator TOML file.
    #[arg(long, value_name = "FILE", required_unless_present = "replay")]
    hardware: Option<PathBuf>,
    #[command(flatten)]
    overrides: ModelOverrides,
    #[command(flatten)]
    schedule: ScheduleArgs,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Write a Chrome trace-event JSON file (open it in ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Only trace tiles of these layers (comma-separated names).
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "trace")]
    trace_layers: Option<Vec<String>>,
    /// Only trace spans overlapping these cycles, e.g. 0..100000.
    #[arg(long, value_name = "START..END", value_parser = parse_window, requires = "trace")]
    trace_window: Option<std::ops::Range<u64>>,
    /// Write SVG pictures into this directory: SRAM occupancy and DRAM bandwidth over
    /// time, and the DRAM queue-delay histogram.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    models: ModelFiles,
    /// hybrid: the paper's (N+1)² grid; exhaustive: all 4^N block cuts.
    #[arg(long, default_value = "hybrid", value_parser = ["hybrid", "exhaustive"])]
    space: String,
    /// Apply time batching to blocks counted from this end (hybrid space).
    #[arg(long, default_value = "input", value_parser = parse_side)]
    batch_from: stems::explore::Side,
    /// Apply layer fusion to blocks counted from this end (hybrid space).
    #[arg(long, default_value = "input", value_parser = parse_side)]
    fuse_from: stems::explore::Side,
    /// What "best" means.
    #[arg(long, default_value = "energy", value_parser = parse_rank)]
    rank_by: stems::explore::Rank,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    no_prefetch: bool,
    /// How many of the best schedules to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write explore.csv, summary.json and SVG pictures into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn parse_side(s: &str) -> Result<stems::explore::Side, String> {
    s.parse()
}

fn parse_rank(s: &str) -> Result<stems::explore::Rank, String> {
    s.parse()
}

fn parse_window(s: &str) -> Result<std::ops::Range<u64>, String> {
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

fn parse_objective(s: &str) -> Result<Objective, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // clap's usage errors exit 2; --help and --version are successes.
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEMS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_timer(SimulatedCycle)
        .try_init();
}

/// Log lines are stamped with the simulated cycle of the event being handled (0
/// outside a simulation).
struct SimulatedCycle;

impl tracing_subscriber::fmt::time::FormatTime for SimulatedCycle {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let cycle = stems::sim::kernel::CURRENT_CYCLE.load(std::sync::atomic::Ordering::Relaxed);
        write!(w, "cycle {cycle:>12}")
    }
}

/// Bad input (a model, a schedule, an override) exits 2; anything else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| {
        e.is::<ModelError>()
            || e.is::<UsageError>()
            || e.is::<NoMapping>()
            || e.is::<ScheduleError>()
            || e.is::<SpecError>()
    }) {
        2
    } else {
        1
    }
}

/// A command-line combination that makes no sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run_scenario(args),
        Command::Inspect(args) => inspect(args),
        Command::Map(args) => map(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Simulate(args) => simulate(args),
        Command::Explore(args) => explore(args),
    }
}

fn explore(args: ExploreArgs) -> Result<()> {
    use stems::explore::{Space, best, explore as run_space, write_csv};
    let (workload, accelerator) = args.models.load()?;
    let n = workload.num_blocks;
    let space = if args.space == "exhaustive" {
        Space::Exhaustive
    } else {
        Space::Hybrid {
            batch_from: args.batch_from,
            fuse_from: args.fuse_from,
        }
    };
    const LIMIT: u128 = 70_000;
    if space.size(n) > LIMIT {
        bail!(UsageError(format!(
            "the exhaustive space of {n} blocks has {} schedules (limit {LIMIT}); use the hybrid space",
            space.size(n)
        )));
    }
    let points = space.points(n);
    let options = SchedulerOptions {
        prefetch: !args.no_prefetch,
        objective: Objective::Energy,
    };
    let bar = indicatif::ProgressBar::new(points.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} schedules  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let outcomes =
        pool.install(|| run_space(&workload, &accelerator, &points, options, || bar.inc(1)))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let best_index = best(&outcomes, args.rank_by);
    let baseline = outcomes
        .iter()
        .position(|o| o.point.batched == 0 && o.point.fused == 0);
    let mut ranked: Vec<usize> = (0..outcomes.len()).collect();
    ranked.sort_by(|&a, &b| {
        args.rank_by
            .value(&outcomes[a].report)
            .total_cmp(&args.rank_by.value(&outcomes[b].report))
            .then(a.cmp(&b))
    });

    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let csv_path = dir.join("explore.csv");
        let file = std::fs::File::create(&csv_path)
            .with_context(|| format!("writing {}", csv_path.display()))?;
        write_csv(file, &outcomes).with_context(|| format!("writing {}", csv_path.display()))?;
        let gb = stems::model::units::human_bits(accelerator.cores[0].global_sram().size_bits);
        if let Space::Hybrid {
            batch_from,
            fuse_from,
        } = space
        {
            let best_dram = best(&outcomes, stems::explore::Rank::DramEnergy);
            for (file, what, value, pick) in [
                ("dram_energy.svg", "DRAM energy (µJ)", 0, best_dram),
                (
                    "energy.svg",
                    "energy (µJ)",
                    1,
                    best(&outcomes, stems::explore::Rank::Energy),
                ),
            ] {
                let cells: Vec<stems::report::plot::Cell> = outcomes
                    .iter()
                    .map(|o| {
                        let v = if value == 0 {
                            o.report.energy_pj.dram
                        } else {
                            o.report.energy_pj.total
                        };
                        stems::report::plot::Cell {
                            x: o.point.batched,
                            y: o.point.fused,
                            value: v,
                            label: format!("{:.1}", v / 1e6),
                        }
                    })
                    .collect();
                stems::report::plot::heatmap(
                    &dir.join(file),
                    &format!("{} on {gb}: {what} per inference", workload.name),
                    &format!("blocks time-batched (from the {batch_from})"),
                    &format!("blocks layer-fused (from the {fuse_from})"),
                    n,
                    &cells,
                    pick.map(|i| (outcomes[i].point.batched, outcomes[i].point.fused)),
                )?;
            }
        }
        let mut bars: Vec<(String, &stems::report::cost::Report)> = Vec::new();
        if let Some(b) = baseline {
            bars.push(("ST-LBL".into(), &outcomes[b].report));
        }
        if let Some(b) = best_index
            && Some(b) != baseline
        {
            bars.push(("best".into(), &outcomes[b].report));
        }
        stems::report::plot::breakdown(
            &dir.join("breakdown.svg"),
            &format!("{} on {gb}: energy per inference", workload.name),
            &bars,
        )?;
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            workload: &'a str,
            global_sram_bits: u64,
            space: Space,
            rank_by: stems::explore::Rank,
            schedules: usize,
            seconds: f64,
            best: Option<&'a stems::explore::Outcome>,
            baseline: Option<&'a stems::explore::Outcome>,
        }
        let summary = Summary {
            workload: &workload.name,
            global_sram_bits: accelerator.cores[0].global_sram().size_bits,
            space,
            rank_by: args.rank_by,
            schedules: outcomes.len(),
            seconds,
            best: best_index.map(|i| &outcomes[i]),
            baseline: baseline.map(|i| &outcomes[i]),
        };
        std::fs::write(
            dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?,
        )
        .with_context(|| format!("writing {}", dir.join("summary.json").display()))?;
        eprintln!(
            "wrote explore.csv, summary.json, breakdown.svg{} to {}",
            if matches!(space, Space::Hybrid { .. }) {
                ", dram_energy.svg, energy.svg"
            } else {
                ""
            },
            dir.display()
        );
    }

    match args.format {
        Format::Table => {
            println!(
                "{} schedules of {} on {} global SRAM in {:.2} s ({:.0} schedules/s), ranked by {:?}",
                outcomes.len(),
                workload.name,
                stems::model::units::human_bits(accelerator.cores[0].global_sram().size_bits),
                seconds,
                outcomes.len() as f64 / seconds.max(1e-9),
                args.rank_by
            );
            let base = baseline.map(|b| &outcomes[b].report);
            let mut t = Table::new([
                "rank",
                "schedule",
                "energy",
                "DRAM energy",
                "DRAM traffic",
                "latency",
                "DRAM ×",
                "energy ×",
            ]);
            for (k, &i) in ranked.iter().take(args.top).enumerate() {
                let r = &outcomes[i].report;
                t.row([
                    (k + 1).to_string(),
                    outcomes[i].point.spec.to_string(),
                    stems::model::units::human_energy_pj(r.energy_pj.total),
                    stems::model::units::human_energy_pj(r.energy_pj.dram),
                    stems::model::units::human_bits(r.dram_bits.total),
                    thousands(r.latency_cycles),
                    base.map_or("-".into(), |b| {
                        format!(
                            "{:.2}",
                            b.dram_bits.total as f64 / r.dram_bits.total.max(1) as f64
                        )
                    }),
                    base.map_or("-".into(), |b| {
                        format!("{:.2}", b.energy_pj.total / r.energy_pj.total)
                    }),
                ]);
            }
            print!("{}", t.render());
            if let Space::Hybrid {
                batch_from,
                fuse_from,
            } = space
            {
                println!(
                    "\nDRAM energy per inference (µJ); columns: blocks time-batched from the {batch_from}, rows: blocks fused from the {fuse_from}"
                );
                let mut header = vec!["fused \\ batched".to_string()];
                header.extend((0..=n).map(|b| b.to_string()));
                let mut t = Table::new(header);
                for fused in 0..=n {
                    let mut row = vec![fused.to_string()];
                    for batched in 0..=n {
                        let v = outcomes
                            .iter()
                            .find(|o| o.point.batched == batched && o.point.fused == fused)
                            .map_or(f64::NAN, |o| o.report.energy_pj.dram / 1e6);
                        row.push(format!("{v:.1}"));
                    }
                    t.row(row);
                }
                print!("{}", t.render());
            }
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                space: Space,
                rank_by: stems::explore::Rank,
                seconds: f64,
                best: Option<usize>,
                outcomes: &'a [stems::explore::Outcome],
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    space,
                    rank_by: args.rank_by,
                    seconds,
                    best: best_index,
                    outcomes: &outcomes,
                })?
            );
        }
    }
    Ok(())
}

fn simulate(args: SimulateArgs) -> Result<()> {
    let schedule = match &args.replay {
        Some(path) => Schedule::load(path)?,
        None => ModelFiles {
            workload: args.workload.clone().unwrap_or_default(),
            hardware: args.hardware.clone().unwrap_or_default(),
            overrides: ModelOverrides {
                gb: args.overrides.gb,
                stateless_blocks: args.overrides.stateless_blocks.clone(),
            },
        }
        .plan(&args.schedule)?,
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
    let schedule_dram_bw = schedule.accelerator.dram.bw_bits;
    let options = SimOptions {
        trace: args.trace.clone(),
        trace_window: args.trace_window.clone(),
        trace_layers: args.trace_layers.clone(),
        record_timelines: args.plots.is_some(),
    };
    let measured = stems::sim::simulate(schedule, &options)?;
    let comparison = stems::validate::compare(&predicted, &measured.report);
    if let (Some(dir), Some(t)) = (&args.plots, &measured.timelines) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let end = measured.report.latency_cycles;
        let what = format!(
            "{} on {}",
            measured.report.workload,
            measured.report.schedule.join(",")
        );
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
        )?;
        stems::report::plot::bandwidth(
            &dir.join("dram_bandwidth.svg"),
            &format!("DRAM bandwidth: {what}"),
            &t.dram_bursts,
            end,
            schedule_dram_bw,
            400,
        )?;
        stems::report::plot::histogram(
            &dir.join("dram_queue_delay.svg"),
            &format!("DRAM port queue delay: {what}"),
            "cycles waited for the port",
            &t.dram_queue_delays,
        )?;
        eprintln!(
            "wrote sram_occupancy.svg, dram_bandwidth.svg, dram_queue_delay.svg to {}",
            dir.display()
        );
    }
    if let Some(path) = &args.trace {
        eprintln!(
            "trace written to {} ({} events); open it in ui.perfetto.dev",
            path.display(),
            measured.trace_events.unwrap_or(0)
        );
    }
    match args.format {
        Format::Table => {
            println!("{}", measured.report.render_table().trim_end());
            println!(
                "\nsimulation: {} events in {:.2} s ({:.2} M events/s)",
                thousands(measured.events),
                measured.wall_seconds,
                measured.events_per_second / 1e6
            );
            println!("\nPE-array stalls by cause (cycles)");
            let mut t = Table::new(["cause", "cycles"]);
            for (cause, cycles) in &measured.stall_cycles_by_cause {
                t.row([cause.to_string(), thousands(*cycles)]);
            }
            print!("{}", t.render());
            println!("\ncomponents");
            let mut t = Table::new([
                "component",
                "busy cycles",
                "stall cycles",
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
                    busiest.map_or("-".into(), |p| p.port.clone()),
                    busiest.map_or("-".into(), |p| thousands(p.requests)),
                    busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.p50)),
                    busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.p99)),
                    busiest.map_or("-".into(), |p| thousands(p.queue_delay_cycles.max)),
                ]);
            }
            print!("{}", t.render());
            println!("\nanalytic prediction vs simulation");
            print!("{}", stems::validate::render(&comparison));
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                measured: &'a stems::sim::MeasuredReport,
                validation: &'a [stems::validate::Comparison],
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    measured: &measured,
                    validation: &comparison
                })?
            );
        }
    }
    Ok(())
}

fn run_scenario(args: RunArgs) -> Result<()> {
    let scenario = stems::scenario::Scenario::load(&args.scenario)?;
    let total: usize = scenario
        .experiments
        .iter()
        .map(|x| 1 + x.schedules.len())
        .sum();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = stems::scenario::run(&scenario, |experiment, schedule| {
        bar.set_message(format!("{experiment}: {schedule}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    match args.format {
        Format::Table => println!("{}", result.render_table().trim_end()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
    }
    Ok(())
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    let schedule = args.models.plan(&args.schedule)?;
    if let Some(path) = &args.save_schedule {
        schedule
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("schedule written to {}", path.display());
    }
    match args.format {
        Format::Table => println!("{}", schedule.predicted.render_table().trim_end()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&schedule.predicted)?),
    }
    Ok(())
}

fn map(args: MapArgs) -> Result<()> {
    let (workload, accelerator) = args.models.load()?;
    let layer = workload.layer_by_name(&args.layer).ok_or_else(|| {
        let names: Vec<&str> = workload.layers.iter().map(|l| l.name.as_str()).collect();
        UsageError(format!(
            "--layer {}: no such layer in {} (layers: {})",
            args.layer,
            workload.name,
            names.join(", ")
        ))
    })?;
    let t_end = args.first_timestep.checked_add(args.timesteps);
    if args.timesteps == 0 || t_end.is_none_or(|e| e > workload.timesteps) {
        bail!(UsageError(format!(
            "--timesteps {} from --first-timestep {} does not fit the workload's {} timesteps",
            args.timesteps, args.first_timestep, workload.timesteps
        )));
    }
    let mut region = TileRegion::whole_layer(
        layer,
        args.first_timestep..args.first_timestep + args.timesteps,
    );
    if let Some(lines) = args.lines {
        if lines == 0 || lines > layer.dims.ox {
            bail!(UsageError(format!(
                "--lines {lines}: layer {} has {} output lines (OX)",
                layer.name, layer.dims.ox
            )));
        }
        region.ox = 0..lines;
    }
    let shape = CtShape::new(&workload, layer, &region);
    let core = &accelerator.cores[0];
    let (residency, stream_budget_bits) = Residency::pack(&shape, core.global_sram().size_bits);
    let key = MapKey {
        shape,
        core: core.id,
        residency,
        stream_budget_bits: if residency.any_streamed() {
            stream_budget_bits
        } else {
            0
        },
        objective: args.objective,
    };
    let mut mapper = Mapper::new(&accelerator);
    let started = std::time::Instant::now();
    let mapping = mapper.map(key)?;
    tracing::info!(
        candidates = mapping.candidates_evaluated,
        seconds = started.elapsed().as_secs_f64(),
        "mapped"
    );
    match args.format {
        Format::Table => {
            println!(
                "{} layer {} ({}), timesteps {}..{}, output lines {}..{} of {}, on {} with {} global SRAM, objective {}",
                workload.name,
                layer.name,
                layer.op.name(),
                region.t.start,
                region.t.end,
                region.ox.start,
                region.ox.end,
                layer.dims.ox,
                core.name,
                stems::model::units::human_bits(core.global_sram().size_bits),
                args.objective
            );
            println!("{}", mapping.render_table().trim_end());
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct MapOutput<'a> {
                workload: &'a str,
                layer: &'a str,
                region: &'a TileRegion,
                #[serde(flatten)]
                mapping: &'a stems::mapping::Mapping,
            }
            let out = MapOutput {
                workload: &workload.name,
                layer: &layer.name,
                region: &region,
                mapping: &mapping,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}

enum FileKind {
    Workload,
    Accelerator,
}

fn file_kind(path: &Path) -> Result<FileKind> {
    let source = SourceText::read(path)?;
    let table: toml::Table = match toml::from_str(&source.text) {
        Ok(t) => t,
        // Let the real parser report the syntax error with its line.
        Err(_) => return Ok(FileKind::Workload),
    };
    match (table.contains_key("layer"), table.contains_key("core")) {
        (true, false) => Ok(FileKind::Workload),
        (false, true) => Ok(FileKind::Accelerator),
        _ => Err(UsageError(format!(
            "{}: cannot tell whether this is a workload (has [[layer]] tables) or an accelerator (has [[core]] tables)",
            path.display()
        ))
        .into()),
    }
}

fn inspect(args: InspectArgs) -> Result<()> {
    let out = match file_kind(&args.file)? {
        FileKind::Workload => {
            if args.overrides.gb.is_some() {
                bail!(UsageError(
                    "--gb applies to accelerator files, not workloads".into()
                ));
            }
            let mut workload = Workload::load(&args.file)?;
            workload.make_blocks_stateless(&args.overrides.stateless_blocks)?;
            let report = WorkloadInspection::new(&workload, &args.overrides.stateless_blocks);
            match args.format {
                Format::Table => report.render_table(),
                Format::Json => {
                    serde_json::to_string_pretty(&report).context("serialising the report")?
                }
            }
        }
        FileKind::Accelerator => {
            if !args.overrides.stateless_blocks.is_empty() {
                bail!(UsageError(
                    "--stateless-blocks applies to workload files, not accelerators".into()
                ));
            }
            let acc = Accelerator::load(&args.file, args.overrides.hardware())?;
            let report = AcceleratorInspection::new(&acc);
            match args.format {
                Format::Table => report.render_table(),
                Format::Json => {
                    serde_json::to_string_pretty(&report).context("serialising the report")?
                }
            }
        }
    };
    println!("{}", out.trim_end());
    Ok(())
}
