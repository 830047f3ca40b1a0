//! What each worker thread keeps between the schedules it costs: its mapper (mapping
//! results do not depend on what a mapper's cache holds) and its prefix cache
//! (checkpoints of shared first blocks; a continued schedule predicts exactly what it
//! predicts from the start). Neither changes a figure; both save time.

use crate::mapping::Mapper;
use crate::model::Accelerator;
use crate::schedule::PrefixCache;
use serde::Serialize;
use std::sync::Mutex;

/// Checkpoints each worker keeps (see [`crate::schedule::predict_sharing`]). Explorations
/// run in prefix order need only the few along the current path; the search's children
/// share prefixes with parents anywhere in the population, so the cache is bounded by
/// bytes, least recently used out first.
pub const PREFIX_CACHE_BYTES_PER_WORKER: usize = 16 << 20;

/// Checkpoints the genetic search keeps in all by default, shared evenly by its
/// workers: its children share first blocks with parents anywhere in the population,
/// so it finds more to continue from the more it keeps (on 2 cores, 128 MiB each
/// continue 69 % of SEW-ResNet-18's evaluations against 45 % with 16 MiB).
pub const SEARCH_PREFIX_CACHE_BYTES: usize = 256 << 20;

/// Each of `workers` workers' share of [`SEARCH_PREFIX_CACHE_BYTES`].
pub fn search_prefix_cache_bytes(workers: usize) -> usize {
    SEARCH_PREFIX_CACHE_BYTES / workers.max(1)
}

/// The most `--prefix-cache` may give each worker.
pub const MAX_PREFIX_CACHE_BYTES: u64 = 16 << 30;

pub struct Worker<'a> {
    pub mapper: Mapper<'a>,
    pub cache: PrefixCache,
}

/// One worker per thread of the current rayon pool.
pub struct WorkerPool<'a>(Vec<Mutex<Worker<'a>>>);

/// How much prefix sharing saved: schedules costed, how many continued from a
/// checkpoint, the tiles they did not schedule again, the tiles walked and those
/// walked by schedules that continued from none (their first blocks interleave, or
/// no schedule before shared them). It depends on how schedules fall to workers, so
/// on `--jobs`; the figures of the schedules do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sharing {
    pub schedules: u64,
    pub continued: u64,
    pub tiles_skipped: u64,
    pub tiles_walked: u64,
    pub tiles_walked_from_start: u64,
}

impl Sharing {
    /// Continued schedules, in % of all.
    pub fn hit_percent(&self) -> f64 {
        if self.schedules == 0 {
            0.0
        } else {
            100.0 * self.continued as f64 / self.schedules as f64
        }
    }
}

impl<'a> WorkerPool<'a> {
    pub fn new(accelerator: &'a Accelerator) -> Self {
        Self::with_cache_bytes(accelerator, PREFIX_CACHE_BYTES_PER_WORKER)
    }

    pub fn with_cache_bytes(accelerator: &'a Accelerator, bytes: usize) -> Self {
        Self(
            (0..rayon::current_num_threads().max(1))
                .map(|_| {
                    Mutex::new(Worker {
                        mapper: Mapper::new(accelerator),
                        cache: PrefixCache::new(bytes),
                    })
                })
                .collect(),
        )
    }

    /// Runs `f` with this thread's worker.
    pub fn with<R>(&self, f: impl FnOnce(&mut Worker<'a>) -> R) -> R {
        let slot = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        let mut guard = self.0[slot].lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// What sharing saved, over all workers.
    pub fn sharing(&self) -> Sharing {
        let mut s = Sharing::default();
        for w in &self.0 {
            let w = w.lock().unwrap_or_else(|e| e.into_inner());
            s.schedules += w.cache.schedules;
            s.continued += w.cache.hits;
            s.tiles_skipped += w.cache.tiles_skipped;
            s.tiles_walked += w.cache.tiles_walked;
            s.tiles_walked_from_start += w.cache.tiles_walked_from_start;
        }
        s
    }
}
