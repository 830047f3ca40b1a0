//! Grids of simulated runs (`stems validate`, `stems sweep`) run against a journal:
//! with `--out` every finished row is appended to `DIR/rows.jsonl`, `--resume DIR`
//! finishes an interrupted run, and `--shard K/N` takes one slice of the grid.

use super::UsageError;
use super::progress::Progress;
use anyhow::{Result, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use stems::rundir::Shard;
use stems::rundir::journaled::{self, Place, Watch};
use stems::validate::journal::{Journal, JournalHeader};
use stems::validate::runs::Row;

#[derive(Args, Clone, Default)]
pub struct JournalArgs {
    /// Finish the interrupted run in DIR (started with --out DIR and the same
    /// arguments): the rows it holds are kept, the rest are run.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DIR",
        conflicts_with = "out"
    )]
    pub resume: Option<PathBuf>,
    /// Run only the K-th of N disjoint slices of the grid (K counts from 0); combine the
    /// shards' directories with `stems merge`.
    #[arg(long, allow_hyphen_values = true, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Go ahead with a run estimated at more than an hour (STEMS_LONG_RUN_SECONDS).
    #[arg(long)]
    pub yes: bool,
}

impl JournalArgs {
    /// The run directory: `--resume DIR`, else `--out DIR`.
    pub fn dir<'a>(&'a self, out: &'a Option<PathBuf>) -> Option<&'a Path> {
        self.resume.as_deref().or(out.as_deref())
    }
}

/// Points timed before the rest, for the estimate (or a percent of the run, if more).
const SAMPLE: usize = 4;

/// Runs the grid points of `header` that `dir`'s journal does not hold yet through
/// `run_points` (which hands each finished row to the callback), journaling each as it
/// finishes (see [`stems::rundir::journaled`]). Returns every row of this shard, in
/// grid order.
pub fn run_grid(
    journal: &JournalArgs,
    out: &Option<PathBuf>,
    header: &JournalHeader,
    what: &'static str,
    run_points: impl Fn(&[usize], &(dyn Fn(usize, Row) + Sync)) -> Result<()>,
) -> Result<BTreeMap<usize, Row>> {
    if journal.shard.is_some() && journal.dir(out).is_none() {
        bail!(UsageError(
            "--shard needs --out DIR: the shard's rows are merged from there".into()
        ));
    }
    let watch = Counting {
        progress: Progress::new(0, what),
        what,
    };
    let done = journaled::run::<Journal, anyhow::Error>(
        Place::new(journal.resume.as_deref(), out.as_deref()),
        header,
        &header.indices(),
        SAMPLE,
        &watch,
        run_points,
        |estimate| {
            eprintln!(
                "{} {what} to do{}; about {:.0} s",
                estimate.todo,
                header.shard.map_or(String::new(), |s| format!(
                    " (shard {s} of a {}-point grid)",
                    header.points
                )),
                estimate.seconds
            );
            super::progress::confirm_long_run(estimate.seconds, journal.yes)
        },
    )?;
    watch.progress.finish();
    Ok(done.items.into_iter().collect())
}

/// Progress of a grid: a bar or log lines.
struct Counting {
    progress: Progress,
    what: &'static str,
}

impl Watch<Row> for Counting {
    fn resumed(&self, dir: &Path, items: &[(usize, Row)]) {
        eprintln!(
            "resuming {}: {} {} already done",
            dir.display(),
            items.len(),
            self.what
        );
    }
    fn starting(&self, todo: usize) {
        self.progress.set_total(todo as u64);
    }
    fn finished(&self, _row: &Row) {
        self.progress.inc();
    }
}
