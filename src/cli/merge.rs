//! `stems merge`: the shards of one run (`stems explore|validate|sweep --shard K/N
//! --out DIR`) combined into what one unsharded run writes.

use super::UsageError;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::validate::journal;

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' run directories (every shard of the split, once).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where to write the combined run: its CSV (explore.csv, validation.csv or
    /// sweep.csv), summary.json and pictures.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<()> {
    use stems::explore::store::{merge, write_header};
    use stems::report::explore::write_results;
    // Compared as the directories they name (`./s0`, an absolute path, a link).
    let same = |a: &std::path::Path, b: &std::path::Path| match (
        std::fs::canonicalize(a),
        std::fs::canonicalize(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(shard) = args.dirs.iter().find(|d| same(d, &args.out)) {
        bail!(UsageError(format!(
            "--out {} is the shard {}; merge into another directory",
            args.out.display(),
            shard.display()
        )));
    }
    if args.out.join("run.json").exists() {
        bail!(UsageError(format!(
            "--out {} already holds a run; merge into another directory",
            args.out.display()
        )));
    }
    if args.dirs.iter().any(|d| journal::is_journal(d)) {
        return merge_journals(&args);
    }
    let (header, outcomes, skipped) = merge(&args.dirs)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_header(&args.out, &header)?;
    let written = write_results(&args.out, &header, &outcomes, true, None, &skipped)?;
    eprintln!(
        "merged {} shards ({} schedules): wrote {} to {}",
        args.dirs.len(),
        outcomes.len(),
        written.join(", "),
        args.out.display()
    );
    Ok(())
}

/// Validate and sweep shards: their rows, journaled again whole, and the outputs of
/// an unsharded run.
fn merge_journals(args: &MergeArgs) -> Result<()> {
    let (header, rows) = journal::merge_into(&args.dirs, &args.out)?;
    let layout = |e: serde_json::Error| {
        UsageError(format!(
            "{}: run.json: its layout does not fit a {} run: {e}",
            args.dirs[0].display(),
            header.kind
        ))
    };
    let written = match header.kind.as_str() {
        "validate" => {
            let l =
                serde_json::from_value::<ValidateLayout>(header.layout.clone()).map_err(layout)?;
            let summary = stems::validate::runs::Summary::new(&rows, l.worst, l.latency_band)
                .with_skipped(l.skipped);
            stems::report::validation::write_outputs(&args.out, &rows, &summary)?;
            vec![stems::report::validation::FILES.to_string()]
        }
        "sweep" => {
            let shape: stems::hardware_sweep::SweepShape =
                serde_json::from_value(header.layout.clone()).map_err(layout)?;
            if rows.len() != shape.len() {
                bail!(UsageError(format!(
                    "{}: run.json: the grid has {} points but its header says {}",
                    args.dirs[0].display(),
                    shape.len(),
                    rows.len()
                )));
            }
            stems::hardware_sweep::SweepResult::new(shape, rows.clone(), 0.0).write(&args.out)?
        }
        other => bail!(UsageError(format!(
            "{}: run.json: unknown run kind '{other}'",
            args.dirs[0].display()
        ))),
    };
    eprintln!(
        "merged {} shards ({} {} rows): wrote {} to {}",
        args.dirs.len(),
        rows.len(),
        header.kind,
        written.join(", "),
        args.out.display()
    );
    Ok(())
}

#[derive(serde::Deserialize)]
struct ValidateLayout {
    worst: usize,
    #[serde(default = "default_band")]
    latency_band: (f64, f64),
    #[serde(default)]
    skipped: stems::schedule::space::Skipped,
}

fn default_band() -> (f64, f64) {
    stems::validate::agreement::Rules::default().latency_band_percent
}
