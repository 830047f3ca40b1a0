//! The enumerated spaces of schedules (section 4.3 of the paper): with N blocks, the
//! hybrid grid applies time batching to the first i blocks counted from one side and
//! layer fusion to the first j counted from one side, for every i, j in 0..=N —
//! (N+1)² schedules, block cuts TB or ST, LF or LBL; the exhaustive space tries all
//! 4^N combinations. Exploration costs them, validation simulates them.

use super::{BlockCut, ScheduleSpec, SpaceCut, TimeCut};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which end of the network a technique is applied from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Input,
    Output,
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "input" => Ok(Side::Input),
            "output" => Ok(Side::Output),
            other => Err(format!("'{other}' is not input or output")),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Input => "input",
            Side::Output => "output",
        })
    }
}

/// The space to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Space {
    Hybrid { batch_from: Side, fuse_from: Side },
    Exhaustive,
}

/// One schedule of the space, with its position in the hybrid grid (if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Blocks time-batched and layer-fused.
    pub batched: usize,
    pub fused: usize,
    /// Serialized as its per-block entries (`["TB-LF", "TB-LBL", ...]`).
    #[serde(rename = "schedule", serialize_with = "entries")]
    pub spec: ScheduleSpec,
}

fn entries<S: serde::Serializer>(spec: &ScheduleSpec, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(spec.entries())
}

fn applies(block: usize, count: usize, blocks: usize, side: Side) -> bool {
    match side {
        Side::Input => block < count,
        Side::Output => block >= blocks - count,
    }
}

impl Point {
    /// The paper's baseline: no block time-batched or fused (ST-LBL throughout).
    pub fn is_baseline(&self) -> bool {
        self.batched == 0 && self.fused == 0
    }
}

impl Space {
    /// Every schedule of the space, in a fixed order.
    pub fn points(&self, blocks: usize) -> Vec<Point> {
        let cut = |tb: bool, lf: bool| BlockCut {
            time: if tb { TimeCut::Full } else { TimeCut::Single },
            space: if lf {
                SpaceCut::Fused { lines: 1 }
            } else {
                SpaceCut::LayerByLayer
            },
        };
        match *self {
            Space::Hybrid {
                batch_from,
                fuse_from,
            } => {
                let mut v = Vec::with_capacity((blocks + 1) * (blocks + 1));
                for fused in 0..=blocks {
                    for batched in 0..=blocks {
                        let spec = ScheduleSpec {
                            blocks: (0..blocks)
                                .map(|b| {
                                    cut(
                                        applies(b, batched, blocks, batch_from),
                                        applies(b, fused, blocks, fuse_from),
                                    )
                                })
                                .collect(),
                        };
                        v.push(Point {
                            batched,
                            fused,
                            spec,
                        });
                    }
                }
                v
            }
            Space::Exhaustive => (0..1usize << (2 * blocks))
                .map(|code| {
                    let blocks_cut: Vec<BlockCut> = (0..blocks)
                        .map(|b| cut(code >> (2 * b) & 1 == 1, code >> (2 * b + 1) & 1 == 1))
                        .collect();
                    Point {
                        batched: blocks_cut
                            .iter()
                            .filter(|c| c.time == TimeCut::Full)
                            .count(),
                        fused: blocks_cut.iter().filter(|c| c.is_fused()).count(),
                        spec: ScheduleSpec { blocks: blocks_cut },
                    }
                })
                .collect(),
        }
    }

    pub fn size(&self, blocks: usize) -> u128 {
        match self {
            Space::Hybrid { .. } => ((blocks + 1) * (blocks + 1)) as u128,
            Space::Exhaustive => 1u128 << (2 * blocks.min(63)),
        }
    }
}

/// Schedules a space holds that cannot run: they cut a recurrent layer into tiles
/// that need each other's spikes (see [`crate::model::recurrence`]), or fuse a matmul
/// with the layers that compute its right source (see [`crate::model::attention`]).
/// Explorations, searches and validations skip them and say how many.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub count: usize,
    /// Why the first of them cannot run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

impl Skipped {
    /// Whether `spec` can run `workload`; counts it when it cannot.
    pub fn keeps(&mut self, workload: &crate::model::Workload, spec: &ScheduleSpec) -> bool {
        let cuts = spec.cuts(workload.timesteps);
        match crate::tiling::cut_problem(workload, &cuts) {
            None => true,
            Some(why) => {
                self.count += 1;
                self.example.get_or_insert(format!("{spec}: {why}"));
                false
            }
        }
    }

    /// Adds another run's skipped schedules.
    pub fn absorb(&mut self, other: &Skipped) {
        self.count += other.count;
        if self.example.is_none() {
            self.example.clone_from(&other.example);
        }
    }
}
