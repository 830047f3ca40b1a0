//! `stems inspect`: what a workload or accelerator file holds.

use super::{Format, ModelOverrides, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use stems::model::{Accelerator, SourceText, Workload};
use stems::report::inspect::{AcceleratorInspection, WorkloadInspection};

#[derive(Args)]
pub struct InspectArgs {
    /// A workload (has [[layer]] tables) or accelerator (has [[core]] tables) TOML file.
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: ModelOverrides,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

pub enum FileKind {
    Workload,
    Accelerator,
}

pub fn file_kind(path: &Path) -> Result<FileKind> {
    let source = SourceText::read(path)?;
    // A file with a syntax error is told by its table headers; the real parser then
    // reports the error with its line.
    let (layer, core) = match toml::from_str::<toml::Table>(&source.text) {
        Ok(t) => (t.contains_key("layer"), t.contains_key("core")),
        Err(_) => {
            let header = |h: &str| source.text.lines().any(|l| l.trim_start().starts_with(h));
            (header("[[layer]]"), header("[[core]]"))
        }
    };
    match (layer, core) {
        (true, false) => Ok(FileKind::Workload),
        (false, true) => Ok(FileKind::Accelerator),
        _ => Err(UsageError(format!(
            "{}: cannot tell whether this is a workload (has [[layer]] tables) or an accelerator (has [[core]] tables)",
            path.display()
        ))
        .into()),
    }
}

pub fn run(args: InspectArgs) -> Result<()> {
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
            let acc =
                Accelerator::load_with(&args.file, &args.overrides.set, args.overrides.hardware())?;
            let report = AcceleratorInspection::new(&acc);
            match args.format {
                Format::Table => report.render_table(),
                Format::Json => {
                    serde_json::to_string_pretty(&report).context("serialising the report")?
                }
            }
        }
    };
    outln!("{}", out.trim_end());
    Ok(())
}
