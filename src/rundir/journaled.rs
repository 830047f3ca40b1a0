//! A run over the points of a space that survives interruptions: the points its
//! directory already holds are read back, a short timed sample of the rest forecasts
//! the time left (which the caller may refuse), then the rest runs, each point appended
//! to the directory as it finishes. Exploration, validation grids and hardware sweeps
//! all run this way; what differs is their [`Ledger`], the file a finished point goes
//! to.

use super::StoreError;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Finished points with their indices.
pub type Indexed<T> = Vec<(usize, T)>;

/// Where a run keeps what it finished, so that an interruption loses nothing.
pub trait Ledger: Sized + Send {
    /// What the run is; a directory is resumed only by the run it was started for.
    type Header;
    /// One finished point.
    type Item: Send;
    /// Starts a run in `dir`, which must not hold one already.
    fn create(dir: &Path, header: &Self::Header) -> Result<Self, StoreError>;
    /// Reopens an interrupted run, with the points it holds by index.
    fn resume(dir: &Path, header: &Self::Header)
    -> Result<(Self, Indexed<Self::Item>), StoreError>;
    fn append(&mut self, index: usize, item: &Self::Item) -> Result<(), StoreError>;
    /// Flushes what was appended to the disk.
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// The run directory: none, a new one (`--out`) or an interrupted run (`--resume`).
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    Nowhere,
    New(&'a Path),
    Resume(&'a Path),
}

impl<'a> Place<'a> {
    pub fn new(resume: Option<&'a Path>, out: Option<&'a Path>) -> Self {
        match (resume, out) {
            (Some(dir), _) => Place::Resume(dir),
            (None, Some(dir)) => Place::New(dir),
            (None, None) => Place::Nowhere,
        }
    }
}

/// What the timed sample forecasts for the rest of a run.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Points of this run (its shard) left to do, the sample included.
    pub todo: usize,
    /// Seconds the points after the sample should take.
    pub seconds: f64,
}

/// What a journaled run reports as it goes. Every method may be called from any
/// thread.
pub trait Watch<T>: Sync {
    /// The points an interrupted run in `dir` already holds.
    fn resumed(&self, _dir: &Path, _items: &[(usize, T)]) {}
    /// How many points this run does (those resumed not counted), before the first.
    fn starting(&self, _todo: usize) {}
    /// One more point done in this run.
    fn finished(&self, _item: &T) {}
    /// One more point done in this run that leaves no item (an exploration that ranks
    /// only its best drops the rest).
    fn dropped(&self) {}
}

/// A finished run.
pub struct Done<T> {
    /// Every point of the run (its shard) with its index, in index order.
    pub items: Vec<(usize, T)>,
    /// How many of them the directory already held.
    pub resumed: usize,
}

/// A run whose progress nobody watches.
impl<T> Watch<T> for () {}

/// Runs the points of `indices` that `place` does not hold yet through `cost` (which
/// hands each finished point to the callback, from any thread), appending each to the
/// ledger: `sample_at_least` points (or a percent of the run, if more) first, then,
/// if `approve` accepts the estimate, the rest.
pub fn run<L: Ledger, E: From<StoreError>>(
    place: Place<'_>,
    header: &L::Header,
    indices: &[usize],
    sample_at_least: usize,
    watch: &dyn Watch<L::Item>,
    cost: impl Fn(&[usize], &(dyn Fn(usize, L::Item) + Sync)) -> Result<(), E>,
    approve: impl FnOnce(&Estimate) -> Result<(), E>,
) -> Result<Done<L::Item>, E> {
    let (ledger, mut items) = open::<L>(place, header)?;
    if let Place::Resume(dir) = place {
        watch.resumed(dir, &items);
    }
    let done: std::collections::BTreeSet<usize> = items.iter().map(|(i, _)| *i).collect();
    let todo: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|i| !done.contains(i))
        .collect();
    watch.starting(todo.len());
    let ledger = Mutex::new(ledger);
    let fresh = Mutex::new(Vec::new());
    let failed = Mutex::new(None);
    let keep = |index: usize, item: L::Item| {
        watch.finished(&item);
        if let Ok(mut l) = ledger.lock()
            && let Some(l) = l.as_mut()
            && let Err(e) = l.append(index, &item)
            && let Ok(mut slot) = failed.lock()
        {
            slot.get_or_insert(e);
        }
        if let Ok(mut v) = fresh.lock() {
            v.push((index, item));
        }
    };
    let started = Instant::now();
    let sample = todo.len().min(sample_at_least.max(todo.len() / 100));
    cost(&todo[..sample], &keep)?;
    let per_point = started.elapsed().as_secs_f64() / sample.max(1) as f64;
    approve(&Estimate {
        todo: todo.len(),
        seconds: per_point * (todo.len() - sample) as f64,
    })?;
    cost(&todo[sample..], &keep)?;
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e.into());
    }
    if let Some(l) = ledger
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        l.sync()?;
    }
    let fresh = fresh.into_inner().unwrap_or_else(|e| e.into_inner());
    // A space's items are most of a run's memory: not copied when nothing was resumed.
    if items.is_empty() {
        items = fresh;
    } else {
        items.extend(fresh);
    }
    items.sort_by_key(|(i, _)| *i);
    Ok(Done {
        items,
        resumed: done.len(),
    })
}

fn open<L: Ledger>(
    place: Place<'_>,
    header: &L::Header,
) -> Result<(Option<L>, Indexed<L::Item>), StoreError> {
    Ok(match place {
        Place::Resume(dir) => {
            let (ledger, items) = L::resume(dir, header)?;
            (Some(ledger), items)
        }
        Place::New(dir) => {
            std::fs::create_dir_all(dir).map_err(super::io(dir))?;
            (Some(L::create(dir, header)?), Vec::new())
        }
        Place::Nowhere => (None, Vec::new()),
    })
}
