//! Hardware sweeps: the cross product of axes — accelerator fields by path
//! (`dram.bw_bits=16,32,64`), the global SRAM size (`gb=64KiB..2MiB*2`) and schedules —
//! each point scheduled, simulated and verified (see `validate::runs`), one CSV row per
//! point, and where each schedule stops being DRAM-bound.

use crate::cost::StallCause;
use crate::mapping::Objective;
use crate::model::Overrides;
use crate::model::limits::MAX_SIZE_BITS;
use crate::model::overrides::FieldSet;
use crate::model::units::Size;
use crate::schedule::{Allocation, ScheduleSpec, SchedulerOptions};
use crate::validate::runs::{self as runs_of, Config, Row, Run};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Most values one axis may take.
pub const MAX_AXIS_VALUES: usize = 1000;

/// One axis: a path and its values, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// `gb` or an accelerator field path (`dram.bw_bits`).
    pub path: String,
    pub values: Vec<String>,
}

impl Axis {
    pub fn is_gb(&self) -> bool {
        self.path == "gb"
    }

    /// Its values are quantities (numbers or sizes), so "from which value" means
    /// something; names (a DRAM preset, a dimension) are not.
    pub fn is_ordered(&self) -> bool {
        self.values
            .iter()
            .all(|v| v.parse::<f64>().is_ok() || v.parse::<crate::model::units::Size>().is_ok())
    }

    /// `activity` (every density scaled) or `layer.NAME.activity` (one layer's input
    /// density set): a workload axis, not an accelerator field. Returns the layer.
    pub fn activity(&self) -> Option<Option<&str>> {
        if self.path == "activity" {
            return Some(None);
        }
        self.path
            .strip_prefix("layer.")
            .and_then(|rest| rest.strip_suffix(".activity"))
            .map(Some)
    }

    /// The numeric value of each entry (integers as written, sizes in bits), if every
    /// entry has one — for plotting against.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| number(v)).collect()
    }
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .or_else(|| v.parse::<Size>().ok().map(|s| s.bits() as f64))
}

/// `PATH=V1,V2,…`, `PATH=LO..HI*F` (geometric) or `PATH=LO..HI+S` (arithmetic); LO and
/// HI are integers or sizes.
impl std::str::FromStr for Axis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (path, spec) = s.split_once('=').ok_or_else(|| {
            format!(
                "axis '{s}' is not PATH=VALUES (e.g. dram.bw_bits=16,32,64 or gb=64KiB..2MiB*2)"
            )
        })?;
        let (path, spec) = (path.trim(), spec.trim());
        if path.is_empty() || spec.is_empty() {
            return Err(format!("axis '{s}' is not PATH=VALUES"));
        }
        let values = match spec.split_once("..") {
            Some((lo, rest)) => {
                range(lo.trim(), rest.trim()).map_err(|e| format!("axis '{s}': {e}"))?
            }
            None => spec.split(',').map(|v| v.trim().to_string()).collect(),
        };
        if values.iter().any(String::is_empty) {
            return Err(format!("axis '{s}' has an empty value"));
        }
        if values.len() > MAX_AXIS_VALUES {
            return Err(format!(
                "axis '{s}' has {} values (limit {MAX_AXIS_VALUES})",
                values.len()
            ));
        }
        let axis = Self {
            path: path.to_string(),
            values,
        };
        if axis.activity().is_some() {
            for v in &axis.values {
                match v.parse::<f64>() {
                    Ok(x)
                        if (0.0..=1.0).contains(&x)
                            || (axis.path == "activity" && x.is_finite() && x >= 0.0) => {}
                    _ => {
                        return Err(format!(
                            "axis '{s}': '{v}' is not an activity (a fraction within 0..=1)"
                        ));
                    }
                }
            }
        } else if path != "gb" {
            // The path is checked against the file when the point is loaded; here only
            // its shape.
            format!("{path}={}", axis.values[0]).parse::<FieldSet>()?;
        }
        Ok(axis)
    }
}

/// The values of `LO..HI*F` or `LO..HI+S` with fractions (`0.01..1*2`): the last
/// value is HI when the steps overshoot it.
fn fraction_range(lo: f64, hi: f64, op: &str, by: &str) -> Result<Vec<String>, String> {
    let by: f64 = by
        .trim()
        .parse()
        .ok()
        .filter(|b: &f64| b.is_finite())
        .ok_or_else(|| format!("'{by}' is not a number"))?;
    if !(lo.is_finite() && hi.is_finite())
        || lo > hi
        || (op == "*" && (by <= 1.0 || lo <= 0.0))
        || (op == "+" && by <= 0.0)
    {
        return Err(format!("{lo}..{hi}{op}{by} is not an increasing range"));
    }
    let mut values = Vec::new();
    let mut v = lo;
    while v < hi * (1.0 - 1e-9) && values.len() <= MAX_AXIS_VALUES {
        values.push(format!("{}", (v * 1e6).round() / 1e6));
        v = if op == "*" { v * by } else { v + by };
    }
    values.push(format!("{hi}"));
    Ok(values)
}

/// The values of `LO..HI*F` or `LO..HI+S`.
fn range(lo: &str, rest: &str) -> Result<Vec<String>, String> {
    let (hi, op, by) = match rest.rfind(['*', '+']) {
        Some(i) => (&rest[..i], &rest[i..i + 1], &rest[i + 1..]),
        None => return Err("a range is LO..HI*FACTOR or LO..HI+STEP".into()),
    };
    if lo.contains('.') || hi.contains('.') {
        let number = |x: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{x}' is not a number"))
        };
        return fraction_range(number(lo)?, number(hi)?, op, by);
    }
    let by: u64 = by
        .trim()
        .parse()
        .map_err(|_| format!("'{by}' is not a whole number"))?;
    if (op == "*" && by < 2) || (op == "+" && by < 1) {
        return Err(format!("{op}{by} would never reach the end of the range"));
    }
    // Integers stay integers; sizes step in bits and print as sizes.
    let (lo_n, hi_n, sized) = match (lo.parse::<u64>(), hi.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) => (a, b, false),
        _ => {
            let a: Size = lo.parse()?;
            let b: Size = hi.trim().parse()?;
            (a.bits(), b.bits(), true)
        }
    };
    if lo_n > hi_n {
        return Err(format!("{lo} is above {hi}"));
    }
    let mut values = Vec::new();
    let mut v = lo_n;
    while v <= hi_n && values.len() <= MAX_AXIS_VALUES {
        values.push(if sized {
            if v > MAX_SIZE_BITS {
                break;
            }
            Size::from_bits(v).to_string()
        } else {
            v.to_string()
        });
        let next = if op == "*" {
            v.checked_mul(by)
        } else {
            v.checked_add(by)
        };
        match next {
            Some(n) if n > v => v = n,
            _ => break,
        }
    }
    Ok(values)
}

/// Every combination of the axes' values, the first axis varying slowest.
pub fn points(axes: &[Axis]) -> Vec<Vec<String>> {
    axes.iter().fold(vec![Vec::new()], |acc, axis| {
        acc.iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(v.clone());
                    q
                })
            })
            .collect()
    })
}

/// Where a schedule stops being DRAM-bound along one axis (the others at their first
/// value): the first value whose measured DRAM-port stall is under `threshold` of the
/// latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Knee {
    pub schedule: String,
    /// The axis, and the values the other axes are held at (`gb (dram.bw_bits=16)`).
    pub axis: String,
    /// `None` when the schedule is DRAM-bound at every value.
    pub compute_bound_from: Option<String>,
    /// Measured dram_port stall share of the latency at each value.
    pub dram_port_share: Vec<f64>,
}

/// The share of measured latency lost to the DRAM port.
pub fn dram_port_share(row: &Row) -> Option<f64> {
    let m = row.measured.as_ref()?;
    Some(m.stall(StallCause::DramPort) as f64 / m.latency_cycles.max(1) as f64)
}

/// Most points one sweep may run (each is a whole simulation).
pub const MAX_POINTS: usize = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// An axis value or a count the sweep cannot take.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Spikes(#[from] crate::spikes::SpikeError),
    #[error(transparent)]
    Spec(#[from] crate::schedule::SpecError),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
}

impl SweepError {
    /// Bad input (exit 2), as opposed to a failure to write.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Usage(_) | Self::Model(_) | Self::Spec(_) | Self::Schedule(_) | Self::Spikes(_)
        )
    }
}

/// The grid of a sweep: what its rows, table and pictures are laid out by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepShape {
    pub axes: Vec<Axis>,
    pub schedules: Vec<String>,
    /// A schedule counts as DRAM-bound while the DRAM port stalls it this share of its
    /// latency or more.
    pub dram_bound_share: f64,
}

impl SweepShape {
    /// Points of the grid: hardware points × schedules, hardware-major. Counted, not
    /// built (a grid too large to run is refused before its points exist); saturates.
    pub fn len(&self) -> usize {
        self.axes
            .iter()
            .map(|a| a.values.len())
            .chain([self.schedules.len()])
            .fold(1usize, usize::saturating_mul)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What to sweep: models, overrides every point shares, and the grid.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub workload: PathBuf,
    pub hardware: PathBuf,
    pub overrides: Overrides,
    /// A recording whose densities the analytic half takes and whose spikes the
    /// simulator runs.
    pub recording: Option<PathBuf>,
    pub prefetch: bool,
    pub eviction: crate::schedule::Eviction,
    pub shape: SweepShape,
}

impl SweepSpec {
    /// What a sweep's run directory is for: the grid, and a hash of the models and
    /// options it is run on.
    pub fn journal_header(
        &self,
        shard: Option<crate::rundir::Shard>,
    ) -> Result<crate::validate::journal::JournalHeader, serde_json::Error> {
        let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
        Ok(crate::validate::journal::JournalHeader {
            kind: "sweep".into(),
            points: self.shape.len(),
            shard,
            fingerprint: crate::rundir::fingerprint(&[
                ("stems version", env!("CARGO_PKG_VERSION").as_bytes()),
                ("workload file", &read(&self.workload)),
                ("hardware file", &read(&self.hardware)),
                (
                    "model overrides",
                    format!("{:?}", self.overrides).as_bytes(),
                ),
                (
                    "scheduler options",
                    format!("{} {}", self.prefetch, self.eviction).as_bytes(),
                ),
            ]),
            layout: serde_json::to_value(&self.shape)?,
        })
    }
}

/// A finished sweep: one row per (hardware point, schedule), hardware-major.
pub struct SweepResult {
    pub shape: SweepShape,
    pub hardware: Vec<Vec<String>>,
    pub rows: Vec<Row>,
    pub knees: Vec<Knee>,
    pub seconds: f64,
}

/// Runs every point (in the current rayon pool); `progress` is called once per point.
pub fn run(spec: SweepSpec, progress: impl Fn() + Sync) -> Result<SweepResult, SweepError> {
    check(&spec.shape)?;
    let all: Vec<usize> = (0..spec.shape.len()).collect();
    let rows = std::sync::Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    run_points(&spec, &all, |i, row| {
        progress();
        if let Ok(mut v) = rows.lock() {
            v.push((i, row));
        }
    })?;
    let mut rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
    rows.sort_by_key(|(i, _)| *i);
    Ok(SweepResult::new(
        spec.shape,
        rows.into_iter().map(|(_, r)| r).collect(),
        started.elapsed().as_secs_f64(),
    ))
}

/// Runs the grid points at `indices` (hardware-major positions), handing each row to
/// `done` as it finishes (from any thread, in no particular order).
pub fn run_points(
    spec: &SweepSpec,
    indices: &[usize],
    done: impl Fn(usize, Row) + Sync,
) -> Result<(), SweepError> {
    check(&spec.shape)?;
    let hardware = points(&spec.shape.axes);
    let (configs, runs) = plan(spec, &hardware)?;
    let picked: Vec<Run> = indices.iter().map(|&i| runs[i].clone()).collect();
    runs_of::run_each(&configs, &picked, |k, row| done(indices[k], row))?;
    Ok(())
}

/// A grid stems can run.
pub fn check(shape: &SweepShape) -> Result<(), SweepError> {
    if !(shape.dram_bound_share > 0.0 && shape.dram_bound_share < 1.0) {
        return Err(SweepError::Usage(
            "the DRAM-bound share must lie between 0 and 1".into(),
        ));
    }
    // One field on two axes: the later would win at every point while the rows are
    // labelled by both.
    for (i, a) in shape.axes.iter().enumerate() {
        if let Some(b) = shape.axes[..i].iter().find(|b| b.path == a.path) {
            return Err(SweepError::Usage(format!(
                "--axis {}: given twice ({} and {}); give all its values on one axis",
                a.path,
                b.values.join(","),
                a.values.join(",")
            )));
        }
    }
    let total = shape.len();
    if total == 0 || total > MAX_POINTS {
        return Err(SweepError::Usage(format!(
            "{} points asked for and every one is a simulation (1 to {MAX_POINTS}); narrow the axes",
            if total == usize::MAX {
                "more than 2^64".to_string()
            } else {
                total.to_string()
            }
        )));
    }
    Ok(())
}

impl SweepResult {
    /// The result of every row of the grid, in order.
    pub fn new(shape: SweepShape, rows: Vec<Row>, seconds: f64) -> Self {
        let hardware = points(&shape.axes);
        let knees = knees(&shape, &rows, shape.schedules.len());
        Self {
            shape,
            hardware,
            rows,
            knees,
            seconds,
        }
    }

    /// Points the simulator refused.
    pub fn failed(&self) -> usize {
        self.rows.iter().filter(|r| !r.verified).count()
    }
}

/// One configuration per point of the hardware axes, and the runs (configs × schedules).
fn plan(spec: &SweepSpec, hardware: &[Vec<String>]) -> Result<(Vec<Config>, Vec<Run>), SweepError> {
    let mut configs = Vec::new();
    let mut runs = Vec::new();
    for point in hardware {
        let mut overrides = spec.overrides.clone();
        let mut label = Vec::new();
        for (axis, value) in spec.shape.axes.iter().zip(point) {
            label.push(format!("{}={value}", axis.path));
            if axis.is_gb() {
                let size: Size = value
                    .parse()
                    .map_err(|m: String| SweepError::Usage(format!("axis gb: {m}")))?;
                overrides.global_sram = Some(size);
            } else if let Some(layer) = axis.activity() {
                let a: f64 = value
                    .parse()
                    .map_err(|_| SweepError::Usage(format!("axis {}: '{value}'", axis.path)))?;
                match layer {
                    None => overrides.activity = Some(a),
                    Some(name) => overrides.layer_activity.push((name.to_string(), a)),
                }
            } else {
                overrides.hardware.push(
                    format!("{}={value}", axis.path)
                        .parse()
                        .map_err(SweepError::Usage)?,
                );
            }
        }
        let (mut w, acc) =
            crate::model::load(&spec.workload, &spec.hardware, &overrides).map_err(|mut e| {
                // A field an axis sets is the axis's, not a --set's.
                for (axis, value) in spec.shape.axes.iter().zip(point) {
                    let set = format!("--set {}={value}", axis.path);
                    e.origin = e
                        .origin
                        .replace(&set, &format!("--axis {}={value}", axis.path));
                }
                e
            })?;
        let spikes = match &spec.recording {
            Some(path) => crate::sim::SpikeSource::Given(std::sync::Arc::new(
                crate::spikes::record::attach(&mut w, path)?,
            )),
            None => crate::sim::SpikeSource::default(),
        };
        for s in &spec.shape.schedules {
            runs.push(Run {
                config: configs.len(),
                spec: ScheduleSpec::parse(s, w.num_blocks, w.timesteps)?,
            });
        }
        configs.push(Config {
            label: label.join(" "),
            allocation: Allocation::first_able(&w, &acc),
            workload: w,
            accelerator: acc,
            options: SchedulerOptions {
                prefetch: spec.prefetch,
                objective: Objective::Energy,
                eviction: spec.eviction,
            },
            spikes,
        });
    }
    Ok((configs, runs))
}

/// The rows of `schedule` along axis `a`, the other axes at their first value.
pub fn along<'r>(
    shape: &SweepShape,
    hardware: &[Vec<String>],
    rows: &'r [Row],
    a: usize,
    schedule: usize,
) -> Vec<&'r Row> {
    let schedules = shape.schedules.len();
    hardware
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.iter()
                .enumerate()
                .all(|(k, v)| k == a || *v == shape.axes[k].values[0])
        })
        .map(|(h, _)| &rows[h * schedules + schedule])
        .collect()
}

fn knees(shape: &SweepShape, rows: &[Row], schedules: usize) -> Vec<Knee> {
    let hardware = points(&shape.axes);
    let mut out = Vec::new();
    for (a, axis) in shape.axes.iter().enumerate() {
        if !axis.is_ordered() {
            continue;
        }
        for s in 0..schedules {
            let line = along(shape, &hardware, rows, a, s);
            let shares: Vec<f64> = line
                .iter()
                .map(|r| dram_port_share(r).unwrap_or(1.0))
                .collect();
            let from = shares
                .iter()
                .position(|&x| x < shape.dram_bound_share)
                .map(|i| axis.values[i].clone());
            out.push(Knee {
                schedule: rows[s].schedule.clone(),
                axis: format!("{}{}", axis.path, others_at(shape, a)),
                compute_bound_from: from,
                dram_port_share: shares,
            });
        }
    }
    out
}

/// What the plot against axis `a` holds the other axes at (their first values).
pub fn others_at(shape: &SweepShape, a: usize) -> String {
    let others: Vec<String> = shape
        .axes
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != a)
        .map(|(_, x)| format!("{}={}", x.path, x.values[0]))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" ({})", others.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_take_lists_and_ranges() {
        let a: Axis = "dram.bw_bits=16,32,64".parse().expect("list");
        assert_eq!(a.values, ["16", "32", "64"]);
        assert_eq!(a.numbers(), Some(vec![16.0, 32.0, 64.0]));
        let g: Axis = "gb=64KiB..1MiB*2".parse().expect("geometric sizes");
        assert_eq!(g.values, ["64KiB", "128KiB", "256KiB", "512KiB", "1MiB"]);
        let s: Axis = "dram.latency_cycles=100..400+100"
            .parse()
            .expect("arithmetic");
        assert_eq!(s.values, ["100", "200", "300", "400"]);
        for bad in [
            "dram.bw_bits",
            "gb=1MiB..64KiB*2",
            "gb=64KiB..1MiB*1",
            "x=1..10",
            "dram.bw_bits=1,,2",
        ] {
            assert!(bad.parse::<Axis>().is_err(), "{bad}");
        }
        assert!("dram.bw_bits=1..1000000000+1".parse::<Axis>().is_err());
    }

    #[test]
    fn points_are_the_cross_product_in_order() {
        let a: Axis = "a.x=1,2".parse().expect("axis");
        let b: Axis = "b.y=3,4,5".parse().expect("axis");
        let p = points(&[a, b]);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], ["1", "3"]);
        assert_eq!(p[5], ["2", "5"]);
    }
}
