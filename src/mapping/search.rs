//! Temporal-mapping search: which order of the non-reduction loops (and which split of
//! each into factors) gives the best cost for a tile on a core.
//!
//! The space (ZigZag's loop-order enumeration with greedy memory allocation): the
//! reduction loops C, FY, FX sit innermost in that order (output stationarity); above
//! them, every distinct ordering of the prime factors of K, OY, OX and T. When there
//! are too many orderings, the smallest factors of the most-split dimension are merged
//! until at most `max_orderings` remain. For each ordering, every level holds the
//! largest tile that fits (highest boundary): moving a boundary up never increases the
//! traffic into that level, so this is optimal for a given order. Ties between equal
//! costs are broken by the secondary metric, then by the loop order itself, so results
//! do not depend on enumeration or thread order.

use super::cost::{CostModel, Evaluation};
use super::nest::{Dim, Loop, distinct_permutations, next_permutation, prime_factors};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// What the mapper minimises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    #[default]
    Energy,
    Latency,
    Edp,
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "energy" => Ok(Objective::Energy),
            "latency" => Ok(Objective::Latency),
            "edp" => Ok(Objective::Edp),
            other => Err(format!(
                "unknown objective '{other}' (energy, latency or edp)"
            )),
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Objective::Energy => "energy",
            Objective::Latency => "latency",
            Objective::Edp => "edp",
        })
    }
}

/// Search limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchConfig {
    /// At most this many loop orderings are evaluated per tile.
    pub max_orderings: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { max_orderings: 720 }
    }
}

/// The best nest found and how many candidates were looked at.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub loops: Vec<Loop>,
    pub reduction_loops: usize,
    pub evaluation: Evaluation,
    pub candidates: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("no valid mapping: {0}")]
pub struct NoMapping(pub String);

fn score(e: &Evaluation, objective: Objective) -> (f64, f64) {
    let energy = e.energy_fj();
    let cycles = e.total_cycles() as f64;
    match objective {
        Objective::Energy => (energy, cycles),
        Objective::Latency => (cycles, energy),
        Objective::Edp => (energy * cycles, energy),
    }
}

fn better(a: &(f64, f64), a_loops: &[Loop], b: &(f64, f64), b_loops: &[Loop]) -> bool {
    match a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => a_loops < b_loops,
    }
}

/// The prime factors of the non-reduction loops, merged until their orderings fit
/// the budget.
pub fn outer_factors(temporal: &[u64; 7], max_orderings: u64) -> Vec<Loop> {
    let mut per_dim: Vec<(Dim, Vec<u64>)> = [Dim::K, Dim::OY, Dim::OX, Dim::T]
        .into_iter()
        .map(|d| (d, prime_factors(temporal[d.index()])))
        .filter(|(_, f)| !f.is_empty())
        .collect();
    let flatten = |per_dim: &[(Dim, Vec<u64>)]| -> Vec<Loop> {
        let mut v: Vec<Loop> = per_dim
            .iter()
            .flat_map(|(d, fs)| fs.iter().map(move |&size| Loop { dim: *d, size }))
            .collect();
        v.sort();
        v
    };
    loop {
        let items = flatten(&per_dim);
        if distinct_permutations(&items) <= max_orderings.max(1) {
            return items;
        }
        // Merge the two smallest factors of the dimension with the most factors.
        let Some((_, fs)) = per_dim
            .iter_mut()
            .filter(|(_, f)| f.len() >= 2)
            .max_by(|(da, a), (db, b)| a.len().cmp(&b.len()).then(db.cmp(da)))
        else {
            return items;
        };
        fs.sort_unstable();
        let merged = fs[0] * fs[1];
        fs.drain(0..2);
        fs.push(merged);
        fs.sort_unstable();
    }
}

/// Finds the best mapping of a tile over several spatial unrollings (one model each):
/// the index of the winning model and its mapping. Ties go to the earlier unrolling.
pub fn search_unrollings(
    models: &[CostModel],
    objective: Objective,
    config: SearchConfig,
) -> Result<(usize, SearchResult), NoMapping> {
    let mut best: Option<((f64, f64), usize, SearchResult)> = None;
    let mut candidates = 0;
    let mut last_error = NoMapping("the array allows no unrolling".into());
    for (i, model) in models.iter().enumerate() {
        match search(model, objective, config) {
            Ok(r) => {
                candidates += r.candidates;
                let s = score(&r.evaluation, objective);
                if best
                    .as_ref()
                    .is_none_or(|(b, ..)| s.0.total_cmp(&b.0).then(s.1.total_cmp(&b.1)).is_lt())
                {
                    best = Some((s, i, r));
                }
            }
            Err(e) => last_error = e,
        }
    }
    let (_, i, mut r) = best.ok_or(last_error)?;
    r.candidates = candidates;
    Ok((i, r))
}

/// Finds the best mapping of a tile under `objective`.
pub fn search(
    model: &CostModel,
    objective: Objective,
    config: SearchConfig,
) -> Result<SearchResult, NoMapping> {
    let temporal = model.temporal_sizes();
    let reduction: Vec<Loop> = [Dim::C, Dim::FY, Dim::FX]
        .into_iter()
        .map(|dim| Loop {
            dim,
            size: temporal[dim.index()],
        })
        .filter(|l| l.size > 1)
        .collect();
    let mut outer = outer_factors(&temporal, config.max_orderings);
    let mut nest: Vec<Loop> = Vec::with_capacity(outer.len() + reduction.len());
    let mut best: Option<((f64, f64), Vec<Loop>, Evaluation)> = None;
    let mut candidates = 0u64;
    loop {
        nest.clear();
        nest.extend_from_slice(&outer);
        nest.extend_from_slice(&reduction);
        candidates += 1;
        if let Some(eval) = model.evaluate(&nest, reduction.len()) {
            let s = score(&eval, objective);
            let replace = match &best {
                None => true,
                Some((bs, bl, _)) => better(&s, &nest, bs, bl),
            };
            if replace {
                best = Some((s, nest.clone(), eval));
            }
        }
        if !next_permutation(&mut outer) {
            break;
        }
    }
    match best {
        Some((_, loops, evaluation)) => Ok(SearchResult {
            loops,
            reduction_loops: reduction.len(),
            evaluation,
            candidates,
        }),
        None => Err(NoMapping(
            "even the smallest tile (one array pass) does not fit a local buffer or the global SRAM space left for streaming".into(),
        )),
    }
}
