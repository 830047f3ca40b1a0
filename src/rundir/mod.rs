//! Run directories, whatever runs in them (an exploration, a validation grid, a
//! hardware sweep): shards of a space (`--shard K/N`), one writer at a time (a lock),
//! journals read line by line within bounds, every line's index and run identity
//! checked, and shards merged only when they are all of one run.

pub mod journaled;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

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
    Output(#[from] crate::output::OutputError),
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

pub fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
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
