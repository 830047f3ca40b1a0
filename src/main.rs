//! The `stems` command line: parses arguments, calls the library, maps errors to exit
//! codes (2 for bad input, 1 for anything else).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stems::model::{Accelerator, HardwareOverrides, ModelError, Size, SourceText, Workload};
use stems::report::inspect::{AcceleratorInspection, WorkloadInspection};

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
    /// Show what a workload or accelerator file holds, per layer and per block.
    ///
    /// Example: stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1
    #[command(
        after_help = "Examples:\n  stems inspect models/workloads/red_lif_gen4.toml\n  \
stems inspect models/workloads/sew_resnet18_cifar10dvs.toml --stateless-blocks 0,1 --format json\n  \
stems inspect models/hardware/meta_proto.toml --gb 512KiB --format json"
    )]
    Inspect(InspectArgs),
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
struct InspectArgs {
    /// A workload (has [[layer]] tables) or accelerator (has [[core]] tables) TOML file.
    file: PathBuf,
    #[command(flatten)]
    overrides: ModelOverrides,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
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
        .try_init();
}

/// Bad input (a model, a schedule, an override) exits 2; anything else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|e| e.is::<ModelError>() || e.is::<UsageError>())
    {
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
        Command::Inspect(args) => inspect(args),
    }
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
