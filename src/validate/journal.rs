//! A run directory for simulated runs (`stems validate`, `stems sweep`): `run.json`
//! says what the run is; `rows.jsonl` grows by one finished row per line, synced every
//! few rows. Like exploration runs (`explore::store`), an interrupted run resumes from
//! it and the shards of one grid merge.

use super::row::Row;
use crate::rundir::{Shard, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "run.json";
const ROWS: &str = "rows.jsonl";
const SYNC_EVERY: usize = 16;

/// What a journal is for; equal for every shard of one grid but `shard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// `validate` or `sweep`.
    pub kind: String,
    /// Points of the whole grid.
    pub points: usize,
    pub shard: Option<Shard>,
    pub fingerprint: std::collections::BTreeMap<String, String>,
    /// What the kind needs to lay its outputs out (a sweep's axes, validate's `worst`).
    pub layout: serde_json::Value,
}

impl JournalHeader {
    /// What every line of the run carries: the same for every shard of one grid, so a
    /// line copied from another run is told apart from this run's.
    pub fn run_id(&self) -> String {
        let fingerprint = serde_json::to_vec(&self.fingerprint).unwrap_or_default();
        crate::rundir::hash(&[
            self.kind.as_bytes(),
            self.points.to_string().as_bytes(),
            &fingerprint,
        ])
    }

    pub fn indices(&self) -> Vec<usize> {
        (0..self.points)
            .filter(|&i| self.shard.is_none_or(|s| s.takes(i)))
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    index: usize,
    /// The run the line belongs to (`JournalHeader::run_id`); absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    row: Row,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn mismatch(path: &Path, message: String) -> StoreError {
    StoreError::Mismatch {
        path: path.to_path_buf(),
        message,
    }
}

pub struct Journal {
    path: PathBuf,
    file: File,
    unsynced: usize,
    run: String,
    /// Held while the run is open: one writer per directory.
    _lock: File,
}

impl Journal {
    /// Starts a journal in `dir`, which must not hold a run already.
    pub fn create(dir: &Path, header: &JournalHeader) -> Result<Self, StoreError> {
        let lock = crate::rundir::lock_run(dir)?;
        if dir.join(HEADER).exists() {
            return Err(mismatch(
                dir,
                "already holds a run; resume it with --resume, or choose another --out".into(),
            ));
        }
        write_header(dir, header)?;
        std::fs::write(dir.join(ROWS), b"").map_err(io(&dir.join(ROWS)))?;
        Self::open(dir, header, lock)
    }

    /// Reopens an interrupted run started with `header`; returns the rows it holds.
    pub fn resume(
        dir: &Path,
        header: &JournalHeader,
    ) -> Result<(Self, BTreeMap<usize, Row>), StoreError> {
        let lock = crate::rundir::lock_run(dir)?;
        let found = read_header(dir)?;
        if &found != header {
            return Err(mismatch(
                dir,
                format!(
                    "was started for another run: {} differ(s) from this one",
                    crate::rundir::what_differs(&found, header)
                ),
            ));
        }
        let rows = read_rows(dir, header)?;
        // Rewritten from the complete lines, so a line cut short disappears.
        let mut text = Vec::new();
        let run = header.run_id();
        for (&index, row) in &rows {
            text.extend(line(index, &run, row));
        }
        std::fs::write(dir.join(ROWS), text).map_err(io(&dir.join(ROWS)))?;
        Ok((Self::open(dir, header, lock)?, rows))
    }

    fn open(dir: &Path, header: &JournalHeader, lock: File) -> Result<Self, StoreError> {
        let path = dir.join(ROWS);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(Self {
            path,
            file,
            unsynced: 0,
            run: header.run_id(),
            _lock: lock,
        })
    }

    pub fn append(&mut self, index: usize, row: &Row) -> Result<(), StoreError> {
        self.file
            .write_all(&line(index, &self.run, row))
            .map_err(io(&self.path))?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.unsynced = 0;
        self.file.sync_data().map_err(io(&self.path))
    }
}

impl crate::rundir::journaled::Ledger for Journal {
    type Header = JournalHeader;
    type Item = Row;
    fn create(dir: &Path, header: &JournalHeader) -> Result<Self, StoreError> {
        Journal::create(dir, header)
    }
    fn resume(dir: &Path, header: &JournalHeader) -> Result<(Self, Vec<(usize, Row)>), StoreError> {
        let (journal, rows) = Journal::resume(dir, header)?;
        Ok((journal, rows.into_iter().collect()))
    }
    fn append(&mut self, index: usize, row: &Row) -> Result<(), StoreError> {
        Journal::append(self, index, row)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        Journal::sync(self)
    }
}

fn line(index: usize, run: &str, row: &Row) -> Vec<u8> {
    let mut l = serde_json::to_vec(&Line {
        index,
        run: Some(run.to_string()),
        row: row.clone(),
    })
    .unwrap_or_default();
    l.push(b'\n');
    l
}

pub fn write_header(dir: &Path, header: &JournalHeader) -> Result<(), StoreError> {
    let json = serde_json::to_string_pretty(header).map_err(|e| io(dir)(e.into()))?;
    crate::output::write(&dir.join(HEADER), json.as_bytes())?;
    Ok(())
}

/// The journal header in `dir`, if `dir` holds a validate or sweep run.
pub fn read_header(dir: &Path) -> Result<JournalHeader, StoreError> {
    let path = dir.join(HEADER);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let header: JournalHeader = serde_json::from_str(&text)
        .map_err(|e| mismatch(&path, format!("is not a stems run header: {e}")))?;
    crate::rundir::check_points(&path, header.points)?;
    Ok(header)
}

/// Whether `dir` holds a validate or sweep run (rather than an exploration).
pub fn is_journal(dir: &Path) -> bool {
    dir.join(ROWS).exists()
}

fn read_rows(dir: &Path, header: &JournalHeader) -> Result<BTreeMap<usize, Row>, StoreError> {
    let path = dir.join(ROWS);
    let mut rows = BTreeMap::new();
    let run_id = header.run_id();
    for text in crate::rundir::journal_lines(&path)? {
        let Ok(l) = serde_json::from_str::<Line>(&text) else {
            continue; // cut short by an interruption: run again
        };
        crate::rundir::check_index(&path, l.index, header.points, header.shard)?;
        if let Some(run) = l.run.filter(|r| *r != run_id) {
            return Err(mismatch(
                &path,
                format!("point {} was written by another run ({run})", l.index),
            ));
        }
        rows.insert(l.index, l.row);
    }
    Ok(rows)
}

/// Merges the shards in `dirs` (see [`merge`]) into a new journal in `out`, as one
/// unsharded run would have left it; returns its header and rows.
pub fn merge_into(dirs: &[PathBuf], out: &Path) -> Result<(JournalHeader, Vec<Row>), StoreError> {
    let (header, rows) = merge(dirs)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut whole = Journal::create(out, &header)?;
    for (index, row) in rows.iter().enumerate() {
        whole.append(index, row)?;
    }
    whole.sync()?;
    Ok((header, rows))
}

/// The shards of one grid combined, checked like exploration shards. Returns the
/// unsharded header and every row in order.
pub fn merge(dirs: &[PathBuf]) -> Result<(JournalHeader, Vec<Row>), StoreError> {
    let (base, mut rows) = crate::rundir::merge_shards(
        dirs,
        crate::rundir::ShardedRun {
            what: "rows",
            another: "grid, models or options",
        },
        read_header,
        |h: &JournalHeader| {
            (
                JournalHeader {
                    shard: None,
                    ..h.clone()
                },
                h.shard,
            )
        },
        |dir, h| {
            let rows: Vec<(usize, Row)> = read_rows(dir, h)?.into_iter().collect();
            Ok((rows, h.shard.map_or(h.points, |s| s.share(h.points))))
        },
    )?;
    rows.sort_by_key(|(index, _)| *index);
    Ok((base, rows.into_iter().map(|(_, row)| row).collect()))
}
