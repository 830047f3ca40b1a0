//! A run directory that survives interruptions and splits across machines.
//!
//! `run.json` says what the run is (the space, the models' fingerprint, the options,
//! the shard); `outcomes.jsonl` and `explore.csv` grow by one line per costed point as
//! it completes, flushed at once and synced to disk every `SYNC_EVERY` points. A run
//! resumed from its directory skips the points already there; shards of one space
//! (`--shard K/N`: the points whose index is K modulo N) merge into what one unsharded
//! run writes. The summary is written only at the end, atomically.

use super::{Outcome, Point, Rank, Space, best, write_csv_rows};
use crate::cost::Report;
use crate::schedule::ScheduleSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Points between syncs of the growing files to disk.
const SYNC_EVERY: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] crate::report::output::OutputError),
    #[error(transparent)]
    Plot(#[from] crate::report::plot::PlotError),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
}

impl StoreError {
    /// A directory that does not belong to this run, or shards that do not fit
    /// together: bad input.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Mismatch { .. })
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// `K/N`: the K-th of N disjoint slices of a space. Read from a run header by the same
/// rules as from `--shard` (a header is input like any other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not K/N with 0 ≤ K < N ≤ 100000 (e.g. 0/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count || count > 100_000 {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[derive(Deserialize)]
struct ShardFields {
    index: usize,
    count: usize,
}

impl TryFrom<ShardFields> for Shard {
    type Error = String;
    fn try_from(f: ShardFields) -> Result<Self, String> {
        format!("{}/{}", f.index, f.count).parse()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this shard costs point `index` (round-robin, so every shard gets a
    /// similar mix of cheap and costly points).
    pub fn takes(&self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// How many of `points` points this shard takes (counted, not listed).
    pub fn share(&self, points: usize) -> usize {
        points / self.count + usize::from(points % self.count > self.index)
    }
}

/// Points a header may claim: more than any space stems enumerates, few enough that a
/// corrupt count cannot exhaust memory.
pub const MAX_RUN_POINTS: usize = 1 << 24;

/// Longest line of a run's journal: rows are a few KiB; a file without newlines (a
/// link to /dev/zero) ends here instead of filling memory.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// The lines of a journal, each at most [`MAX_LINE_BYTES`]; a line that is longer is an
/// error naming the file.
pub fn journal_lines(path: &Path) -> Result<Vec<String>, StoreError> {
    use std::io::Read;
    let file = File::open(path).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io(path))?;
        if n == 0 {
            return Ok(lines);
        }
        if buf.len() as u64 > MAX_LINE_BYTES {
            return Err(StoreError::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "line {} is longer than {} MiB: not a stems journal",
                    lines.len() + 1,
                    MAX_LINE_BYTES >> 20
                ),
            });
        }
        // Not UTF-8 (or cut short): skipped like any line that does not parse.
        lines.push(String::from_utf8(buf).unwrap_or_default());
    }
}

/// A journal line at `index` that this run may hold: inside the space and in its shard.
pub fn check_index(
    path: &Path,
    index: usize,
    points: usize,
    shard: Option<Shard>,
) -> Result<(), StoreError> {
    let message = if index >= points {
        format!("point {index} lies outside the {points}-point space")
    } else if let Some(s) = shard.filter(|s| !s.takes(index)) {
        format!(
            "point {index} belongs to shard {}/{}, not to this shard {s}",
            index % s.count,
            s.count
        )
    } else {
        return Ok(());
    };
    Err(StoreError::Mismatch {
        path: path.to_path_buf(),
        message,
    })
}

/// A header's point count and shard, checked before anything is sized by them.
pub fn check_points(path: &Path, points: usize) -> Result<(), StoreError> {
    if points > MAX_RUN_POINTS {
        return Err(StoreError::Mismatch {
            path: path.to_path_buf(),
            message: format!("claims {points} points, more than any run ({MAX_RUN_POINTS})"),
        });
    }
    Ok(())
}

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

/// FNV-1a over the parts, as 16 hex digits: stable across runs and machines.
pub fn hash(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What a run depends on, part by part (the workload file, the options, …), each as a
/// hash: equal fingerprints, the same run; when they differ, the parts that do are
/// named.
pub fn fingerprint(parts: &[(&str, &[u8])]) -> std::collections::BTreeMap<String, String> {
    parts
        .iter()
        .map(|(name, bytes)| (name.to_string(), hash(&[bytes])))
        .collect()
}

/// What differs between a run directory's header and the one asked for, named by
/// field (`space`, `shard`, `fingerprint.workload file`), for a person to fix.
pub fn what_differs<T: Serialize>(found: &T, wanted: &T) -> String {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y))
                if at.matches('.').count() < 2 =>
            {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let (va, vb) = (
                        x.get(k).unwrap_or(&serde_json::Value::Null),
                        y.get(k).unwrap_or(&serde_json::Value::Null),
                    );
                    let here = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    walk(va, vb, &here, out);
                }
            }
            _ if a != b => out.push(at.to_string()),
            _ => {}
        }
    }
    let (a, b) = (
        serde_json::to_value(found).unwrap_or_default(),
        serde_json::to_value(wanted).unwrap_or_default(),
    );
    let mut out = Vec::new();
    walk(&a, &b, "", &mut out);
    if out.is_empty() {
        "nothing stems can name".into()
    } else {
        out.join(", ")
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

/// Locks `dir` for this process (released when the file closes, or the process ends):
/// two processes resuming one run would both compute the missing points and append
/// them.
pub fn lock_run(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Mismatch {
            path: dir.to_path_buf(),
            message: "another stems process is writing this run; wait for it to finish".into(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

const HEADER: &str = "run.json";
const OUTCOMES: &str = "outcomes.jsonl";
const CSV: &str = "explore.csv";

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
    crate::report::output::write(&dir.join(HEADER), json.as_bytes())?;
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
pub fn merge(dirs: &[PathBuf]) -> Result<(RunHeader, Vec<Outcome>), StoreError> {
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
            let wanted = h.shard.map_or(h.points, |s| s.share(h.points));
            Ok((read_outcomes(dir, h)?, wanted))
        },
    )?;
    outcomes.sort_by_key(|o| o.index);
    Ok((base, outcomes))
}

/// Words for a sharded run's merge errors.
pub struct ShardedRun {
    /// What a shard holds (`points`, `rows`).
    pub what: &'static str,
    /// What must agree between shards.
    pub another: &'static str,
}

/// Combines the shards in `dirs`: every shard of one split present once, all with the
/// same header but for the shard (`unsharded` splits it off), each complete (`items`
/// reads a shard's items and how many it should hold). Returns the unsharded header
/// and the items in the order of `dirs`.
pub fn merge_shards<H: PartialEq, T>(
    dirs: &[PathBuf],
    run: ShardedRun,
    header: impl Fn(&Path) -> Result<H, StoreError>,
    unsharded: impl Fn(&H) -> (H, Option<Shard>),
    items: impl Fn(&Path, &H) -> Result<(Vec<T>, usize), StoreError>,
) -> Result<(H, Vec<T>), StoreError> {
    let mismatch = |path: &Path, message: String| StoreError::Mismatch {
        path: path.to_path_buf(),
        message,
    };
    let Some(first) = dirs.first() else {
        return Err(mismatch(
            Path::new("."),
            "no run directories to merge".into(),
        ));
    };
    let (base, _) = unsharded(&header(first)?);
    let mut seen: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut count = None;
    let mut all = Vec::new();
    for dir in dirs {
        let h = header(dir)?;
        let (this, shard) = unsharded(&h);
        if this != base {
            return Err(mismatch(
                dir,
                format!(
                    "is a run of another {} than {}",
                    run.another,
                    first.display()
                ),
            ));
        }
        let shard = shard.unwrap_or(Shard { index: 0, count: 1 });
        if *count.get_or_insert(shard.count) != shard.count {
            return Err(mismatch(dir, format!("is shard {shard}, of another split")));
        }
        if let Some(other) = seen.insert(shard.index, dir.clone()) {
            return Err(mismatch(
                dir,
                format!("is shard {shard} again (also {})", other.display()),
            ));
        }
        let (got, wanted) = items(dir, &h)?;
        if got.len() != wanted {
            return Err(mismatch(
                dir,
                format!(
                    "holds {} of its {wanted} {}; finish it with --resume first",
                    got.len(),
                    run.what
                ),
            ));
        }
        all.extend(got);
    }
    let count = count.unwrap_or(1);
    if let Some(missing) = (0..count).find(|k| !seen.contains_key(k)) {
        return Err(mismatch(
            first,
            format!("shard {missing}/{count} is missing"),
        ));
    }
    Ok((base, all))
}

/// What `summary.json` holds: the same for a run, a resumed run and merged shards.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub workload: &'a str,
    pub global_sram_bits: u64,
    pub space: Space,
    pub rank_by: Rank,
    pub schedules: usize,
    pub best: Option<&'a Outcome>,
    pub baseline: Option<&'a Outcome>,
}

/// Writes `summary.json` (atomically), the heatmaps (hybrid spaces), the energy
/// breakdown of the baseline and the best, and — when `csv` — `explore.csv` sorted by
/// point. `outcomes` are in index order. Returns the file names.
pub fn write_results(
    dir: &Path,
    header: &RunHeader,
    outcomes: &[Outcome],
    csv: bool,
) -> Result<Vec<String>, StoreError> {
    let mut written = Vec::new();
    if csv {
        let mut file = crate::report::output::AtomicFile::create(&dir.join(CSV))?;
        write_csv_rows(&mut file, outcomes, true)?;
        file.commit()?;
    }
    written.push(CSV.to_string());
    let best_index = best(outcomes, header.rank_by);
    let baseline = outcomes
        .iter()
        .position(|o| o.point.batched == 0 && o.point.fused == 0);
    let gb = crate::model::units::human_bits(header.global_sram_bits);
    if let Space::Hybrid {
        batch_from,
        fuse_from,
    } = header.space
    {
        for (file, what, dram, pick) in [
            (
                "dram_energy.svg",
                "DRAM energy",
                true,
                best(outcomes, Rank::DramEnergy),
            ),
            ("energy.svg", "energy", false, best(outcomes, Rank::Energy)),
        ] {
            let pj = |o: &Outcome| {
                let e = &o.report.energy_pj;
                if dram { e.dram } else { e.total }
            };
            let (per, unit) =
                crate::report::plot::energy_unit(outcomes.iter().map(pj).fold(0.0, f64::max));
            let what = format!("{what} ({unit})");
            let cells: Vec<crate::report::plot::Cell> = outcomes
                .iter()
                .map(|o| {
                    let v = pj(o) / per;
                    crate::report::plot::Cell {
                        x: o.point.batched,
                        y: o.point.fused,
                        value: v,
                        label: format!("{v:.2}"),
                    }
                })
                .collect();
            let counts: Vec<String> = (0..=header.blocks).map(|b| b.to_string()).collect();
            crate::report::plot::heatmap(
                &dir.join(file),
                &format!("{} on {gb}: {what} per inference", header.workload),
                &format!("blocks time-batched (from the {batch_from})"),
                &format!("blocks layer-fused (from the {fuse_from})"),
                &counts,
                &counts,
                &cells,
                pick.map(|i| (outcomes[i].point.batched, outcomes[i].point.fused)),
            )?;
            written.push(file.to_string());
        }
    }
    let mut bars: Vec<(String, &Report)> = Vec::new();
    if let Some(b) = baseline {
        bars.push(("ST-LBL".into(), &outcomes[b].report));
    }
    if let Some(b) = best_index
        && Some(b) != baseline
    {
        let spec = outcomes[b].point.spec.to_string();
        bars.push((
            format!("best: {}", crate::schedule::spec::compact(&spec)),
            &outcomes[b].report,
        ));
    }
    crate::report::plot::breakdown(
        &dir.join("breakdown.svg"),
        &format!("{} on {gb}: energy per inference", header.workload),
        &bars,
    )?;
    written.push("breakdown.svg".into());
    let summary = Summary {
        workload: &header.workload,
        global_sram_bits: header.global_sram_bits,
        space: header.space,
        rank_by: header.rank_by,
        schedules: outcomes.len(),
        best: best_index.map(|i| &outcomes[i]),
        baseline: baseline.map(|i| &outcomes[i]),
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| io(dir)(e.into()))?;
    crate::report::output::write(&dir.join("summary.json"), json.as_bytes())?;
    written.push("summary.json".into());
    Ok(written)
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
