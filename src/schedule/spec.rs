//! Schedule notation: one `<time>-<space>` entry per block.
//!
//! Time: `ST` (one timestep per tile), `<n>T` (n timesteps, n divides T) or `TB` (all
//! T). Space: `LBL` (a tile is the whole layer) or `LF` / `LF<n>` (tiles of n output
//! lines, default 1, scheduled depth-first through consecutive fused blocks). One entry
//! applies to every block; a comma-separated list gives one per block. The authors'
//! tool writes the same as two digit strings (`--time-batched 1111111 --fused
//! 1111000`), one digit per block.

use crate::tiling::Cut;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeCut {
    /// One timestep per tile (ST).
    Single,
    /// `n` timesteps per tile (`nT`).
    Batch(u32),
    /// All timesteps in one tile (TB).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpaceCut {
    LayerByLayer,
    Fused { lines: u64 },
}

/// The cut of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockCut {
    pub time: TimeCut,
    pub space: SpaceCut,
}

impl BlockCut {
    pub fn time_batch(&self, timesteps: u32) -> u32 {
        match self.time {
            TimeCut::Single => 1,
            TimeCut::Batch(n) => n,
            TimeCut::Full => timesteps,
        }
    }

    pub fn cut(&self, timesteps: u32) -> Cut {
        Cut {
            time_batch: self.time_batch(timesteps),
            lines: match self.space {
                SpaceCut::LayerByLayer => None,
                SpaceCut::Fused { lines } => Some(lines),
            },
        }
    }

    pub fn is_fused(&self) -> bool {
        matches!(self.space, SpaceCut::Fused { .. })
    }
}

impl fmt::Display for BlockCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.time {
            TimeCut::Single => write!(f, "ST")?,
            TimeCut::Batch(n) => write!(f, "{n}T")?,
            TimeCut::Full => write!(f, "TB")?,
        }
        match self.space {
            SpaceCut::LayerByLayer => write!(f, "-LBL"),
            SpaceCut::Fused { lines: 1 } => write!(f, "-LF"),
            SpaceCut::Fused { lines } => write!(f, "-LF{lines}"),
        }
    }
}

/// A schedule's cuts, one per block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub blocks: Vec<BlockCut>,
}

/// A schedule that cannot be applied to the workload; names the bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {spec:?}: {message}")]
pub struct SpecError {
    pub spec: String,
    pub message: String,
}

impl fmt::Display for ScheduleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.blocks.iter().map(|b| b.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_entry(entry: &str, timesteps: u32) -> Result<BlockCut, String> {
    let trimmed = entry.trim();
    let (time, space) = trimmed
        .split_once('-')
        .ok_or_else(|| format!("'{trimmed}' is not <time>-<space> (e.g. ST-LBL, 4T-LF, TB-LF2)"))?;
    let time = match time.to_ascii_uppercase().as_str() {
        "ST" => TimeCut::Single,
        "TB" => TimeCut::Full,
        t => {
            let n: u32 = t
                .strip_suffix('T')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("'{time}' in '{trimmed}' is not ST, TB or <n>T"))?;
            if n == 0 || !timesteps.is_multiple_of(n) {
                return Err(format!(
                    "'{trimmed}': a batch of {n} timesteps does not divide T = {timesteps}"
                ));
            }
            if n == 1 {
                TimeCut::Single
            } else if n == timesteps {
                TimeCut::Full
            } else {
                TimeCut::Batch(n)
            }
        }
    };
    let space_upper = space.to_ascii_uppercase();
    let space = match space_upper.as_str() {
        "LBL" => SpaceCut::LayerByLayer,
        "LF" => SpaceCut::Fused { lines: 1 },
        s => {
            let lines: u64 = s
                .strip_prefix("LF")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("'{space}' in '{trimmed}' is not LBL, LF or LF<n>"))?;
            if lines == 0 {
                return Err(format!(
                    "'{trimmed}': LF0 has no lines; use LF<n> with n ≥ 1"
                ));
            }
            SpaceCut::Fused { lines }
        }
    };
    Ok(BlockCut { time, space })
}

impl ScheduleSpec {
    /// Parses `ST-LBL` (every block) or `TB-LF,TB-LF,TB-LBL,...` (one per block).
    pub fn parse(spec: &str, num_blocks: usize, timesteps: u32) -> Result<Self, SpecError> {
        let err = |message: String| SpecError {
            spec: spec.to_string(),
            message,
        };
        let entries: Vec<&str> = spec.split(',').collect();
        let mut blocks = Vec::with_capacity(num_blocks);
        for (i, e) in entries.iter().enumerate() {
            let cut = parse_entry(e, timesteps).map_err(|m| {
                err(if entries.len() > 1 {
                    format!("entry {} (block {i}): {m}", i + 1)
                } else {
                    m
                })
            })?;
            blocks.push(cut);
        }
        match blocks.len() {
            1 => blocks = vec![blocks[0]; num_blocks],
            n if n == num_blocks => {}
            n => {
                return Err(err(format!(
                    "{n} entries for a workload of {num_blocks} blocks (give one entry for all blocks, or one per block)"
                )));
            }
        }
        Ok(Self { blocks })
    }

    /// The authors' notation: one digit per block; time `1` = time-batched (TB), `0` =
    /// single timestep; fused `1` = layer-fused line by line, `0` = layer-by-layer.
    pub fn from_digits(
        time_batched: &str,
        fused: &str,
        num_blocks: usize,
    ) -> Result<Self, SpecError> {
        let spec = format!("--time-batched {time_batched} --fused {fused}");
        let err = |message: String| SpecError {
            spec: spec.clone(),
            message,
        };
        for (name, digits) in [("--time-batched", time_batched), ("--fused", fused)] {
            if digits.len() != num_blocks {
                return Err(err(format!(
                    "{name} has {} digits for a workload of {num_blocks} blocks",
                    digits.len()
                )));
            }
            if let Some((i, c)) = digits
                .chars()
                .enumerate()
                .find(|(_, c)| *c != '0' && *c != '1')
            {
                return Err(err(format!("{name} digit {} is '{c}', not 0 or 1", i + 1)));
            }
        }
        let blocks = time_batched
            .chars()
            .zip(fused.chars())
            .map(|(t, f)| BlockCut {
                time: if t == '1' {
                    TimeCut::Full
                } else {
                    TimeCut::Single
                },
                space: if f == '1' {
                    SpaceCut::Fused { lines: 1 }
                } else {
                    SpaceCut::LayerByLayer
                },
            })
            .collect();
        Ok(Self { blocks })
    }

    /// Every block's cut for an inference of `timesteps`.
    pub fn cuts(&self, timesteps: u32) -> Vec<crate::tiling::Cut> {
        self.blocks.iter().map(|b| b.cut(timesteps)).collect()
    }

    /// Sorts schedules by their cuts, first block first (timesteps per tile, then
    /// lines per tile, layer-by-layer first): schedules that share first blocks end up
    /// next to each other, as prefix sharing wants them.
    pub fn prefix_order_key(&self, timesteps: u32) -> Vec<(u32, u64)> {
        self.cuts(timesteps)
            .iter()
            .map(|c| (c.time_batch, c.lines.map_or(0, |l| l + 1)))
            .collect()
    }

    pub fn entries(&self) -> Vec<String> {
        self.blocks.iter().map(|b| b.to_string()).collect()
    }
}

/// A schedule as a bar label: runs of equal entries collapsed (`TB-LF×2,TB-LBL×5`).
pub fn compact(schedule: &str) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for entry in schedule.split(',') {
        match parts.last_mut() {
            Some((e, n)) if e == entry => *n += 1,
            _ => parts.push((entry.to_string(), 1)),
        }
    }
    parts
        .iter()
        .map(|(e, n)| {
            if *n == 1 {
                e.clone()
            } else {
                format!("{e}×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let s = ScheduleSpec::parse("ST-LBL", 3, 16).expect("valid");
        assert_eq!(s.to_string(), "ST-LBL,ST-LBL,ST-LBL");
        let s = ScheduleSpec::parse("TB-LF,4T-LF2,16T-LBL", 3, 16).expect("valid");
        assert_eq!(s.to_string(), "TB-LF,4T-LF2,TB-LBL");
        let s = ScheduleSpec::from_digits("110", "100", 3).expect("valid");
        assert_eq!(s.to_string(), "TB-LF,TB-LBL,ST-LBL");
    }

    #[test]
    fn names_the_bad_entry() {
        let e = ScheduleSpec::parse("ST-LBL,3T-LBL", 2, 16).expect_err("3 does not divide 16");
        assert!(e.message.contains("entry 2 (block 1)"), "{e}");
        let e = ScheduleSpec::parse("ST-LF0", 2, 16).expect_err("LF0");
        assert!(e.message.contains("LF0"), "{e}");
        let e = ScheduleSpec::parse("ST-LBL,ST-LBL", 3, 16).expect_err("length");
        assert!(e.message.contains("2 entries"), "{e}");
        let e = ScheduleSpec::parse("XX-LBL", 3, 16).expect_err("time");
        assert!(e.message.contains("XX"), "{e}");
        assert!(ScheduleSpec::from_digits("112", "000", 3).is_err());
        assert!(ScheduleSpec::from_digits("11", "000", 3).is_err());
    }
}
