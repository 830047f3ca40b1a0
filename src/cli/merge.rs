//! `stems merge`: the shards of one exploration (`stems explore --shard K/N --out DIR`)
//! combined into what one unsharded run writes.

use super::UsageError;
use super::explore::store_error;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' run directories (every shard of the split, once).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where to write the combined explore.csv, summary.json and pictures.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<()> {
    use stems::explore::store::{merge, write_header, write_results};
    if args.dirs.contains(&args.out) {
        bail!(UsageError(format!(
            "--out {} is one of the shards; merge into another directory",
            args.out.display()
        )));
    }
    let (header, outcomes) = merge(&args.dirs).map_err(store_error)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_header(&args.out, &header).map_err(store_error)?;
    let written = write_results(&args.out, &header, &outcomes, true).map_err(store_error)?;
    eprintln!(
        "merged {} shards ({} schedules): wrote {} to {}",
        args.dirs.len(),
        outcomes.len(),
        written.join(", "),
        args.out.display()
    );
    Ok(())
}
