//! A run directory that survives interruptions and splits across machines.
//!
//! `run.json` says what the run is (the space, the models' fingerprint, the options,
//! the shard); `outcomes.jsonl` and `explore.csv` grow by one line per costed point as
//! it completes, flushed at once and synced to disk every `SYNC_EVERY` points. A run
//! resumed from its directory skips the points already there; shards of one space
//! (`--shard K/N`: the points whose index is K modulo N) merge into what one unsharded
//! run writes. The summary is written only at the end, atomically.

use super::{Outcome, Point, Rank, Space, write_csv_rows};
use crate::cost::Report;
use crate::rundir::{
    Shard, ShardedRun, StoreError, check_index, check_points, hash, io, journal_lines, lock_run,
    merge_shards, what_differs,
};
use crate::schedule::ScheduleSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Points between syncs of the growing files to disk.
const SYNC_EVERY: usize = 64;

/// What a run directory holds; identical for every shard of one space but `shard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub workload: String,
    pub blocks: usize,
    pub timesteps: u32,
    pub global_sram_bits: u64,
    pub space: Space,
    pub rank_by: Rank,
    /// Points in the whole space.
    pub points: usize,
    pub shard: Option<Shard>,
    /// What the run depends on, part by part (model files, overrides, options, space).
    pub fingerprint: std::collections::BTreeMap<String, String>,
}

impl RunHeader {
    /// What every line of the run carries: the same for every shard of one space, so a
    /// line copied from another run is told apart from this run's.
    pub fn run_id(&self) -> String {
        let unsharded = RunHeader {
            shard: None,
            ..self.clone()
        };
        hash(&[&serde_json::to_vec(&unsharded).unwrap_or_default()])
    }

    /// The points of the space this run costs.
    pub fn indices(&self) -> Vec<usize> {
        (0..self.points)
            .filter(|&i| self.shard.is_none_or(|s| s.takes(i)))
            .collect()
    }
}

/// One line of `outcomes.jsonl`.
#[derive(Serialize, Deserialize)]
struct Record {
    index: usize,
    /// The run the line belongs to (`RunHeader::run_id`); absent in older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    batched: usize,
    fused: usize,
    schedule: Vec<String>,
    report: Report,
}

/// An open run directory, growing by one line per costed point.
pub struct RunDir {
    dir: PathBuf,
    jsonl: File,
    csv: File,
    unsynced: usize,
    run: String,
    /// Held while the run is open: one writer per directory.
    _lock: File,
}

const HEADER: &str = "run.json";
const OUTCOMES: &str = "outcomes.jsonl";
/// The CSV an exploration run writes (one row per costed point).
pub const CSV: &str = "explore.csv";
/// The schedules of a run that cannot run (see [`super::Skipped`]), so that merging
/// its shards knows they are complete: none when absent.
pub const SKIPPED: &str = "skipped.json";

fn read_skipped(dir: &Path) -> Result<super::Skipped, StoreError> {
    let path = dir.join(SKIPPED);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| StoreError::Mismatch {
            path,
            message: format!("is not a list of skipped schedules: {e}"),
        }),
        Err(_) => Ok(super::Skipped::default()),
    }
}

impl RunDir {
    /// Starts a run in `dir`, which must not hold one already.
    pub fn create(dir: &Path, header: &RunHeader) -> Result<Self, StoreError> {
        let lock = lock_run(dir)?;
        if dir.join(HEADER).exists() {
            return Err(StoreError::Mismatch {
                path: dir.to_path_buf(),
                message: "already holds a run; resume it with --resume, or choose another --out"
                    .into(),
            });
        }
        write_header(dir, header)?;
        let mut csv_header = Vec::new();
        write_csv_rows(&mut csv_header, &[], true)?;
        std::fs::write(dir.join(CSV), csv_header).map_err(io(&dir.join(CSV)))?;
        std::fs::write(dir.join(OUTCOMES), b"").map_err(io(&dir.join(OUTCOMES)))?;
        Self::open(dir, header, lock)
    }

    /// Reopens an interrupted run: `header` must be the one the run started with. Returns
    /// the outcomes already costed; a line cut short by the interruption is dropped.
    pub fn resume(dir: &Path, header: &RunHeader) -> Result<(Self, Vec<Outcome>), StoreError> {
        let lock = lock_run(dir)?;
        let found = read_header(dir)?;
        if &found != header {
            return Err(StoreError::Mismatch {
                path: dir.to_path_buf(),
                message: format!(
                    "was started for another run: {} differ(s) from this one",
                    what_differs(&found, header)
                ),
            });
        }
        let outcomes = read_outcomes(dir, header)?;
        // Rewrite both growing files from what was read whole, so that a half-written
        // line of either disappears.
        let mut csv = Vec::new();
        write_csv_rows(&mut csv, &outcomes, true)?;
        std::fs::write(dir.join(CSV), csv).map_err(io(&dir.join(CSV)))?;
        let run = header.run_id();
        let mut jsonl = Vec::new();
        for o in &outcomes {
            jsonl.extend(record_line(o, &run));
        }
        std::fs::write(dir.join(OUTCOMES), jsonl).map_err(io(&dir.join(OUTCOMES)))?;
        Ok((Self::open(dir, header, lock)?, outcomes))
    }

    fn open(dir: &Path, header: &RunHeader, lock: File) -> Result<Self, StoreError> {
        let append = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io(&path))
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            jsonl: append(OUTCOMES)?,
            csv: append(CSV)?,
            unsynced: 0,
            run: header.run_id(),
            _lock: lock,
        })
    }

    /// Appends one costed point to both files.
    pub fn append(&mut self, o: &Outcome) -> Result<(), StoreError> {
        let mut row = Vec::new();
        write_csv_rows(&mut row, std::slice::from_ref(o), false)?;
        self.csv.write_all(&row).map_err(io(&self.dir.join(CSV)))?;
        self.jsonl
            .write_all(&record_line(o, &self.run))
            .map_err(io(&self.dir.join(OUTCOMES)))?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.unsynced = 0;
        self.csv.sync_data().map_err(io(&self.dir.join(CSV)))?;
        self.jsonl.sync_data().map_err(io(&self.dir.join(OUTCOMES)))
    }
}

impl crate::rundir::journaled::Ledger for RunDir {
    type Header = RunHeader;
    type Item = Outcome;
    fn create(dir: &Path, header: &RunHeader) -> Result<Self, StoreError> {
        RunDir::create(dir, header)
    }
    fn resume(dir: &Path, header: &RunHeader) -> Result<(Self, Vec<(usize, Outcome)>), StoreError> {
        let (run, outcomes) = RunDir::resume(dir, header)?;
        Ok((run, outcomes.into_iter().map(|o| (o.index, o)).collect()))
    }
    fn append(&mut self, _index: usize, o: &Outcome) -> Result<(), StoreError> {
        RunDir::append(self, o)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        RunDir::sync(self)
    }
}

fn record_line(o: &Outcome, run: &str) -> Vec<u8> {
    let r = Record {
        index: o.index,
        run: Some(run.to_string()),
        batched: o.point.batched,
        fused: o.point.fused,
        schedule: o.point.spec.entries(),
        report: o.report.clone(),
    };
    let mut line = serde_json::to_vec(&r).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Writes `run.json` (for a merged run, which is then like an unsharded one).
pub fn write_header(dir: &Path, header: &RunHeader) -> Result<(), StoreError> {
    let json = serde_json::to_string_pretty(header).map_err(|e| io(dir)(e.into()))?;
    crate::output::write(&dir.join(HEADER), json.as_bytes())?;
    Ok(())
}

pub fn read_header(dir: &Path) -> Result<RunHeader, StoreError> {
    let path = dir.join(HEADER);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let header: RunHeader = serde_json::from_str(&text).map_err(|e| StoreError::Mismatch {
        path: path.clone(),
        message: format!("is not a stems run header: {e}"),
    })?;
    check_points(&path, header.points)?;
    Ok(header)
}

/// The outcomes a run directory holds, by index (complete lines only).
fn read_outcomes(dir: &Path, header: &RunHeader) -> Result<Vec<Outcome>, StoreError> {
    let path = dir.join(OUTCOMES);
    let mut by_index = BTreeMap::new();
    let run_id = header.run_id();
    for line in journal_lines(&path)? {
        // A line cut short by an interruption does not parse: it is costed again.
        let Ok(r) = serde_json::from_str::<Record>(&line) else {
            continue;
        };
        check_index(&path, r.index, header.points, header.shard)?;
        if let Some(run) = r.run.filter(|r| *r != run_id) {
            return Err(StoreError::Mismatch {
                path: path.clone(),
                message: format!("point {} was written by another run ({run})", r.index),
            });
        }
        let spec = ScheduleSpec::parse(&r.schedule.join(","), header.blocks, header.timesteps)
            .map_err(|e| StoreError::Mismatch {
                path: path.clone(),
                message: format!("point {}: {e}", r.index),
            })?;
        by_index.insert(
            r.index,
            Outcome {
                index: r.index,
                point: Point {
                    batched: r.batched,
                    fused: r.fused,
                    spec,
                },
                report: r.report,
            },
        );
    }
    Ok(by_index.into_values().collect())
}

/// The shards of one space, combined: every shard present once, all from the same
/// space, models and options. Returns the unsharded header and every outcome.
pub fn merge(dirs: &[PathBuf]) -> Result<(RunHeader, Vec<Outcome>, super::Skipped), StoreError> {
    // What the shards skipped, summed as each shard is read.
    let skipped = std::cell::RefCell::new(super::Skipped::default());
    let (base, mut outcomes) = merge_shards(
        dirs,
        ShardedRun {
            what: "points",
            another: "space, models or options",
        },
        read_header,
        |h: &RunHeader| {
            (
                RunHeader {
                    shard: None,
                    ..h.clone()
                },
                h.shard,
            )
        },
        |dir, h| {
            // Schedules that cannot run were never costed.
            let shard_skipped = read_skipped(dir)?;
            let wanted = h.shard.map_or(h.points, |s| s.share(h.points));
            let wanted = wanted.saturating_sub(shard_skipped.count);
            skipped.borrow_mut().absorb(&shard_skipped);
            Ok((read_outcomes(dir, h)?, wanted))
        },
    )?;
    outcomes.sort_by_key(|o| o.index);
    Ok((base, outcomes, skipped.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_space_into_disjoint_round_robin_slices() {
        let shards: Vec<Shard> = (0..3)
            .map(|k| format!("{k}/3").parse().expect("shard"))
            .collect();
        for i in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.takes(i)).count(), 1);
        }
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_ne!(hash(&[b"a", b"bc"]), hash(&[b"ab", b"c"]));
    }
}
