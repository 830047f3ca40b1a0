//! Grids of simulated runs (`stems validate`, `stems sweep`) run against a journal:
//! with `--out` every finished row is appended to `DIR/rows.jsonl`, `--resume DIR`
//! finishes an interrupted run, and `--shard K/N` takes one slice of the grid.

use super::UsageError;
use super::explore::store_error;
use super::progress::Progress;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use stems::rundir::Shard;
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
/// finishes: a short timed sample first, then, unless the estimate asks for `--yes`,
/// the rest. Returns every row of this shard, in grid order.
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
    let (open, mut rows) = match (&journal.resume, out) {
        (Some(dir), _) => {
            let (j, done) = Journal::resume(dir, header).map_err(store_error)?;
            eprintln!(
                "resuming {}: {} {what} already done",
                dir.display(),
                done.len()
            );
            (Some(j), done)
        }
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (
                Some(Journal::create(dir, header).map_err(store_error)?),
                BTreeMap::new(),
            )
        }
        (None, None) => (None, BTreeMap::new()),
    };
    let todo: Vec<usize> = header
        .indices()
        .into_iter()
        .filter(|i| !rows.contains_key(i))
        .collect();
    let progress = Progress::new(todo.len() as u64, what);
    let open = Mutex::new(open);
    let fresh = Mutex::new(Vec::new());
    let journal_error = Mutex::new(None);
    let keep = |index, row: Row| {
        progress.inc();
        if let Ok(mut j) = open.lock()
            && let Some(j) = j.as_mut()
            && let Err(e) = j.append(index, &row)
            && let Ok(mut slot) = journal_error.lock()
        {
            slot.get_or_insert(e);
        }
        if let Ok(mut v) = fresh.lock() {
            v.push((index, row));
        }
    };
    let started = std::time::Instant::now();
    let sample = todo.len().min(SAMPLE.max(todo.len() / 100));
    run_points(&todo[..sample], &keep)?;
    let estimate =
        started.elapsed().as_secs_f64() / sample.max(1) as f64 * (todo.len() - sample) as f64;
    eprintln!(
        "{} {what} to do{}; about {estimate:.0} s",
        todo.len(),
        header.shard.map_or(String::new(), |s| format!(
            " (shard {s} of a {}-point grid)",
            header.points
        )),
    );
    super::progress::confirm_long_run(estimate, journal.yes)?;
    run_points(&todo[sample..], &keep)?;
    progress.finish();
    if let Some(e) = journal_error
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
    {
        return Err(store_error(e));
    }
    if let Some(j) = open
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        j.sync().map_err(store_error)?;
    }
    rows.extend(fresh.into_inner().unwrap_or_else(|e| e.into_inner()));
    Ok(rows)
}
