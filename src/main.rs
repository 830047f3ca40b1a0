//! The `stems` command line: parses arguments, calls the library, maps errors to exit
//! codes (2 for bad input, 1 for anything else).

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cli::UsageError;
use std::process::ExitCode;
use stems::mapping::NoMapping;
use stems::model::ModelError;
use stems::schedule::{ScheduleError, SpecError};

#[derive(Parser)]
#[command(
    name = "stems",
    version,
    about = "Spatial-temporal mapping of spiking neural networks onto neuromorphic accelerators",
    long_about = "stems maps spiking neural networks onto neuromorphic accelerators: an analytic \
front-end (loop-nest mapping, layer fusion, time batching) and a cycle-level simulator that \
checks it.",
    after_help = "Examples:\n  stems run scenarios/paper_best_schedules.toml\n  \
stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1\n  \
stems evaluate --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --schedule ST-LF,ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL\n  \
stems simulate --replay traces/sew18_4t_lbl_128kib.schedule.json --trace run.trace.json --trace-layers conv1,conv2\n  \
stems explore --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --out sew7_128k\n  \
stems validate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --space hybrid --gb 128KiB,1MiB --out sew18_validation"
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
    Run(cli::run::RunArgs),
    /// Show what a workload or accelerator file holds, per layer and per block.
    ///
    /// Example: stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1
    #[command(
        after_help = "Examples:\n  stems inspect models/workloads/red_lif_gen4.toml\n  \
stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1 --format json\n  \
stems inspect models/hardware/meta_proto.toml --gb 512KiB --format json"
    )]
    Inspect(cli::inspect::InspectArgs),
    /// Find the best loop nest for one layer's computation tile and show its cost.
    ///
    /// Example: stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --layer conv1 --timesteps 16
    #[command(
        after_help = "Examples:\n  stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --layer conv1\n  \
stems map --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --layer conv1 --timesteps 16 --format json\n  \
stems map --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --layer conv1 --lines 1 --objective latency"
    )]
    Map(cli::map::MapArgs),
    /// Schedule a network with the given cuts and report its analytic cost.
    ///
    /// Example: stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --gb 1MiB --schedule TB-LBL
    #[command(
        after_help = "Examples:\n  stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 1MiB --schedule ST-LBL\n  \
stems evaluate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --stateless-blocks 0,1 \\\n    --schedule ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL --format json\n  \
stems evaluate --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --time-batched 00011111 --fused 11100000 --save-schedule red.schedule.json"
    )]
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Run a schedule on the cycle-level simulator and compare with the prediction.
    ///
    /// Example: stems simulate --replay traces/sew18_4t_lbl_128kib.schedule.json --trace run.trace.json
    #[command(
        after_help = "Examples:\n  stems simulate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --schedule ST-LBL\n  \
stems simulate --replay traces/tiny_2t_lf_4kib.schedule.json --format json\n  \
stems simulate --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 512KiB --schedule ST-LF --trace red.trace.json --trace-layers conv0,conv1 --trace-window 0..2000000"
    )]
    Simulate(cli::simulate::SimulateArgs),
    /// Explore a space of schedules in parallel: the paper's hybrid (N+1)² grid or all
    /// 4^N block cuts, with a CSV row per schedule and SVG heatmaps.
    ///
    /// Example: stems explore --workload models/workloads/red_lif_gen4.toml --hardware models/hardware/meta_proto.toml --gb 512KiB --batch-from output --out red_512k
    #[command(
        after_help = "Examples:\n  stems explore --workload models/workloads/red_lif_gen4.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 512KiB --batch-from output --out red_512k\n  \
stems explore --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --rank-by dram_energy --out sew7_128k\n  \
stems explore --workload models/workloads/tiny_fused.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 4KiB --space exhaustive --format json"
    )]
    Explore(cli::explore::ExploreArgs),
    /// Schedule, simulate and verify many runs, and show where the analytic prediction
    /// misses the measurement, by stall cause.
    ///
    /// Example: stems validate --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --space hybrid --gb 128KiB,1MiB --out sew18_validation
    #[command(
        after_help = "Examples:\n  stems validate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --space hybrid --gb 128KiB,1MiB --out sew18_validation\n  \
stems validate --scenario scenarios/paper_best_schedules.toml\n  \
stems validate --workload models/workloads/tiny_fused.toml --hardware models/hardware/meta_proto.toml \\\n    --gb 2KiB,4KiB --schedule ST-LBL --schedule 2T-LF,ST-LBL --format json"
    )]
    Validate(cli::validate::ValidateArgs),
    /// Sweep hardware fields (and schedules): every point scheduled, simulated and
    /// verified, with latency, energy and stall cycles by cause against each axis.
    ///
    /// Example: stems sweep --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/meta_proto.toml --gb 128KiB --schedule ST-LBL --axis dram.bw_bits=16,32,64,128,256 --out bw
    #[command(
        after_help = "Examples:\n  stems sweep --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/meta_proto.toml --gb 128KiB --schedule ST-LBL --schedule TB-LBL \\\n    --axis dram.bw_bits=16..256*2 --out bw\n  \
stems sweep --workload models/workloads/tiny_fused.toml --hardware models/hardware/meta_proto.toml \\\n    --schedule 2T-LF,ST-LBL --axis gb=2KiB..16KiB*2 --axis dram.latency_cycles=100..400+100"
    )]
    Sweep(cli::sweep::SweepArgs),
    /// Combine the shards of one run (explore, validate or sweep with --shard K/N --out
    /// DIR) into what one unsharded run writes; checks that every shard is there once
    /// and that all come from the same space, models and options.
    ///
    /// Example: stems merge shard0 shard1 shard2 shard3 --out all
    #[command(
        after_help = "Examples:\n  for k in 0 1 2 3; do stems explore --workload W --hardware H --space exhaustive \\\n    --shard $k/4 --out shard$k & done; wait\n  stems merge shard0 shard1 shard2 shard3 --out all\n  stems validate --workload W --hardware H --space hybrid --shard 0/2 --out v0  (and 1/2 --out v1)\n  stems merge v0 v1 --out validation"
    )]
    Merge(cli::merge::MergeArgs),
    /// Import a spiking network from NIR (the graph format snnTorch, Norse, Sinabs,
    /// Rockpool and Lava export) as a workload TOML.
    ///
    /// Example: stems import net.nir --timesteps 16 --out models/workloads/net.toml
    #[command(
        after_help = "Examples:\n  stems import tests/fixtures/nir/conv_snn.nir --timesteps 8 --out conv_snn.toml\n  \
stems inspect conv_snn.toml\n  \
stems explore --workload conv_snn.toml --hardware models/hardware/meta_proto.toml --gb 16KiB"
    )]
    Import(cli::import::ImportArgs),
    /// Search layer-to-core (or block-to-core) allocations for a schedule with a seeded
    /// genetic algorithm, by latency, energy or EDP.
    ///
    /// Example: stems allocate --workload models/workloads/sew_resnet18_cifar10dvs.toml --hardware models/hardware/mesh_2x2.toml --schedule TB-LF --budget 500 --out alloc
    #[command(
        after_help = "Examples:\n  stems allocate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/mesh_2x2.toml --schedule TB-LF --budget 500 --out alloc\n  \
stems simulate --workload models/workloads/sew_resnet18_cifar10dvs.toml \\\n    --hardware models/hardware/mesh_2x2.toml --schedule TB-LF --allocate \"$(jq -r .best_allocation alloc/summary.json)\"\n  \
stems allocate --workload models/workloads/tiny_fused.toml --hardware models/hardware/mesh_2x2.toml \\\n    --gb 16KiB --schedule TB-LF --unit block --objective edp --seed 3 --format json"
    )]
    Allocate(cli::allocate::AllocateArgs),
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
        // The reader of stdout went away (`stems … | head`): nothing more to say.
        Err(err) if closed_stdout(&err) => ExitCode::SUCCESS,
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Map(args) => cli::map::run(args),
        Command::Evaluate(args) => cli::evaluate::run(args),
        Command::Allocate(args) => cli::allocate::run(args),
        Command::Simulate(args) => cli::simulate::run(args),
        // `--space search` is a search, not an enumeration: its own command module.
        Command::Explore(args) if args.space == "search" => cli::search::run(args),
        Command::Explore(args) => cli::explore::run(args),
        Command::Validate(args) => cli::validate::run(args),
        Command::Sweep(args) => cli::sweep::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Import(args) => cli::import::run(args),
    }
}

fn closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Bad input (a model, a schedule, an override, a scenario) exits 2; anything else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| {
        e.is::<ModelError>()
            || e.is::<UsageError>()
            || e.is::<NoMapping>()
            || e.is::<ScheduleError>()
            || e.is::<SpecError>()
            || e.is::<stems::spikes::SpikeError>()
            || e.is::<stems::validate::plan::PlanError>()
            || e.downcast_ref::<stems::rundir::StoreError>()
                .is_some_and(|s| s.is_bad_input())
            || matches!(
                e.downcast_ref::<stems::sim::SimError>(),
                Some(stems::sim::SimError::Spikes(_))
            )
            || matches!(
                e.downcast_ref::<stems::scenario::RunError>(),
                Some(stems::scenario::RunError::Schedule(_))
            )
    }) {
        2
    } else {
        1
    }
}
