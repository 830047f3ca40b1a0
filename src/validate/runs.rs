//! Many runs at once: each is scheduled, simulated and verified, and the prediction's
//! error is measured and attributed to stall causes on both sides.
//!
//! Runs are independent; they are executed in parallel (rayon, one mapper per worker
//! and configuration) and collected in the order given, so the rows do not depend on
//! the thread count.

use super::agreement::Rules;
use super::{CrossValidated, cross_validate, largest_traffic_delta};
use crate::cost::{Report, StallCause};
use crate::mapping::Mapper;
use crate::model::{Accelerator, Workload};
use crate::schedule::{Allocation, ScheduleError, ScheduleSpec, SchedulerOptions, schedule};
use crate::sim::{SimError, SimOptions};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Models and options shared by a group of runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// What a person calls this group: `128KiB`, an experiment's name.
    pub label: String,
    pub workload: Workload,
    pub accelerator: Accelerator,
    pub allocation: Allocation,
    pub options: SchedulerOptions,
    /// The spikes the simulator executes (drawn at the densities unless recorded).
    pub spikes: crate::sim::SpikeSource,
}

/// One run: a schedule on a configuration (an index into the configs).
#[derive(Debug, Clone)]
pub struct Run {
    pub config: usize,
    pub spec: ScheduleSpec,
}

pub use super::row::{Figures, Row};

fn delta(p: f64, m: f64) -> f64 {
    if p == 0.0 {
        if m == 0.0 { 0.0 } else { 100.0 }
    } else {
        100.0 * (m - p) / p
    }
}

/// The cause with the largest |measured − predicted| stall cycles, and that difference.
fn dominant(p: &Figures, m: &Figures) -> Option<(&'static str, i64)> {
    StallCause::ALL
        .iter()
        .map(|&c| (c.name(), m.stall(c) as i64 - p.stall(c) as i64))
        .filter(|(_, d)| *d != 0)
        .max_by_key(|(_, d)| d.abs())
}

fn row(
    config: &Config,
    spec: &ScheduleSpec,
    predicted: &Report,
    checked: Result<CrossValidated, SimError>,
) -> Row {
    let p = Figures::of(predicted);
    let mut r = Row {
        config: config.label.clone(),
        workload: config.workload.name.clone(),
        global_sram_bits: config.accelerator.cores[0].global_sram().size_bits,
        schedule: spec.to_string(),
        verified: false,
        failure: None,
        predicted: p.clone(),
        measured: None,
        latency_delta_percent: None,
        energy_delta_percent: None,
        dram_delta_percent: None,
        largest_traffic_delta: None,
        dominant_cause: None,
        dominant_cause_delta_cycles: 0,
        verification: None,
        events: 0,
        dram_busy_cycles: None,
        dram_row_hit_rate: None,
        disagreements: Vec::new(),
        waste: Vec::new(),
    };
    match checked {
        Ok(x) => {
            let m = x.measured;
            let mf = Figures::of(&m.report);
            r.verified = m.verification.verified;
            r.latency_delta_percent =
                Some(delta(p.latency_cycles as f64, mf.latency_cycles as f64));
            r.energy_delta_percent = Some(delta(p.energy_pj, mf.energy_pj));
            r.dram_delta_percent = Some(delta(p.dram_bits as f64, mf.dram_bits as f64));
            r.largest_traffic_delta = largest_traffic_delta(&x.comparison)
                .map(|c| format!("{} {:+.3} %", c.metric, c.delta_percent));
            if let Some((cause, d)) = dominant(&p, &mf) {
                r.dominant_cause = Some(cause.to_string());
                r.dominant_cause_delta_cycles = d;
            }
            r.events = m.events;
            r.dram_busy_cycles = m
                .components
                .iter()
                .find(|c| c.name == "dram")
                .map(|c| c.busy_cycles);
            r.dram_row_hit_rate = m.dram_device.as_ref().map(|d| d.row_hit_rate);
            let a = x.agreement;
            r.disagreements = a
                .disagreements()
                .map(|c| {
                    format!(
                        "{}: predicted {}, measured {}",
                        c.quantity, c.predicted, c.measured
                    )
                })
                .collect();
            r.waste = a.waste;
            r.verification = Some(m.verification);
            r.measured = Some(mf);
        }
        Err(e) => r.failure = Some(e.to_string()),
    }
    r
}

/// Schedules, simulates and verifies `runs`, handing each row to `done` with the run's
/// position as it finishes (from any thread, in no particular order).
pub fn run_each(
    configs: &[Config],
    runs: &[Run],
    done: impl Fn(usize, Row) + Sync,
) -> Result<(), ScheduleError> {
    let indexed: Vec<(usize, &Run)> = runs.iter().enumerate().collect();
    indexed.par_iter().try_for_each_init(
        || -> Vec<Option<Mapper>> { configs.iter().map(|_| None).collect() },
        |mappers, &(k, run)| {
            let c = &configs[run.config];
            let mapper = mappers[run.config].get_or_insert_with(|| Mapper::new(&c.accelerator));
            let s = schedule(
                &c.workload,
                &c.accelerator,
                &run.spec,
                &c.allocation,
                c.options,
                mapper,
            )?;
            let predicted = s.predicted.clone();
            let options = SimOptions {
                spikes: c.spikes.clone(),
                ..SimOptions::default()
            };
            let checked = cross_validate(s, &options, Rules::default());
            done(k, row(c, &run.spec, &predicted, checked));
            Ok(())
        },
    )
}

/// Schedules, simulates and verifies every run; `progress` is called once per finished
/// run (from any thread). A run the simulator refuses is a row with its failure; a run
/// that cannot be scheduled is an error.
pub fn run(
    configs: &[Config],
    runs: &[Run],
    progress: impl Fn() + Sync,
) -> Result<Vec<Row>, ScheduleError> {
    let slots: Vec<std::sync::OnceLock<Row>> = runs.iter().map(|_| Default::default()).collect();
    run_each(configs, runs, |k, row| {
        progress();
        let _ = slots[k].set(row);
    })?;
    Ok(slots.into_iter().filter_map(|s| s.into_inner()).collect())
}

/// Min, median, 90th percentile and max (nearest rank).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Self {
            min: v[0],
            median: rank(0.5),
            p90: rank(0.9),
            max: v[v.len() - 1],
        })
    }
}

/// A run the prediction misses badly, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Worst {
    pub config: String,
    pub schedule: String,
    pub predicted_latency_cycles: u64,
    pub measured_latency_cycles: u64,
    pub latency_delta_percent: f64,
    pub dominant_cause: Option<String>,
    /// Measured − predicted stall cycles, by cause.
    pub stall_delta_cycles: BTreeMap<&'static str, i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub config: String,
    pub schedule: String,
    pub failure: String,
}

/// The runs with something in `what`, joined into one line each.
fn listed(rows: &[Row], what: fn(&Row) -> &Vec<String>) -> Vec<Failure> {
    rows.iter()
        .filter(|r| !what(r).is_empty())
        .map(|r| Failure {
            config: r.config.clone(),
            schedule: r.schedule.clone(),
            failure: what(r).join("; "),
        })
        .collect()
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub verified: usize,
    pub failed: usize,
    /// (measured − predicted) / predicted latency, in percent.
    pub latency_delta_percent: Option<Spread>,
    pub abs_latency_delta_percent: Option<Spread>,
    /// Largest |Δ| of energy and DRAM traffic over all runs, in percent.
    pub max_abs_energy_delta_percent: f64,
    pub max_abs_dram_delta_percent: f64,
    /// How often each cause dominates the latency miss.
    pub dominant_causes: BTreeMap<String, usize>,
    pub worst: Vec<Worst>,
    pub failures: Vec<Failure>,
    /// Runs whose halves disagree on a quantity they compute alike.
    pub disagreements: Vec<Failure>,
    /// The band measured latency must fall in, in percent of the prediction.
    pub latency_band_percent: (f64, f64),
    /// Runs whose latency falls outside that band.
    pub outside_latency_band: Vec<Failure>,
    /// How far the predictions said the latency may lie from them, and whether it did.
    pub latency_bounds: Option<BoundsSummary>,
    /// Runs whose measured latency falls outside its prediction's bounds.
    pub outside_latency_bounds: Vec<Failure>,
    /// Runs with waste (redundant loads, dead writes).
    pub wasteful: Vec<Failure>,
    /// Whether the analytic half ranks the runs as the simulator does.
    pub rank_agreement: super::rank::RankSummary,
    /// Schedules of the space that cannot run on the workload, not run.
    #[serde(skip_serializing_if = "no_skipped")]
    pub skipped: crate::schedule::space::Skipped,
}

/// The latency bounds over the measured runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BoundsSummary {
    /// Runs with bounds and a measurement, and those whose measurement lies inside.
    pub runs: usize,
    pub inside: usize,
    /// The floors and ceilings, in percent of the prediction.
    pub floor_percent: Option<Spread>,
    pub ceiling_percent: Option<Spread>,
}

impl BoundsSummary {
    fn of(rows: &[Row]) -> Option<Self> {
        let bounded: Vec<_> = rows
            .iter()
            .filter_map(|r| Some((r.latency_bounds()?, r.predicted.latency_cycles)))
            .collect();
        if bounded.is_empty() {
            return None;
        }
        let (floors, ceilings): (Vec<f64>, Vec<f64>) =
            bounded.iter().map(|((b, _), p)| b.percent_of(*p)).unzip();
        Some(Self {
            runs: bounded.len(),
            inside: bounded.iter().filter(|((_, inside), _)| *inside).count(),
            floor_percent: Spread::of(&floors),
            ceiling_percent: Spread::of(&ceilings),
        })
    }
}

/// Rows whose measured latency lies outside the prediction's bounds.
fn outside_bounds(rows: &[Row]) -> Vec<Failure> {
    rows.iter()
        .filter_map(|r| {
            let (b, inside) = r.latency_bounds()?;
            let m = r.measured.as_ref()?.latency_cycles;
            (!inside).then(|| Failure {
                config: r.config.clone(),
                schedule: r.schedule.clone(),
                failure: format!(
                    "measured latency {m} cycles outside the prediction's bounds {} … {}",
                    b.floor_cycles, b.ceiling_cycles
                ),
            })
        })
        .collect()
}

fn no_skipped(s: &crate::schedule::space::Skipped) -> bool {
    s.count == 0
}

impl Summary {
    /// Why the validation fails, if it does: a run the simulator refused, halves that
    /// disagree on a quantity they compute alike and, when `strict`, a run outside the
    /// latency band or with waste.
    pub fn failure(&self, strict: bool) -> Option<String> {
        if self.failed > 0 {
            return Some(format!(
                "{} of {} runs failed verification (see the failures above)",
                self.failed, self.runs
            ));
        }
        if !self.disagreements.is_empty() {
            return Some(format!(
                "{} of {} runs: the halves disagree on a quantity they compute alike (see above)",
                self.disagreements.len(),
                self.runs
            ));
        }
        if !self.outside_latency_bounds.is_empty() {
            return Some(format!(
                "{} of {} runs: the measured latency lies outside the bounds the prediction \
                 states (see above)",
                self.outside_latency_bounds.len(),
                self.runs
            ));
        }
        if strict && !(self.outside_latency_band.is_empty() && self.wasteful.is_empty()) {
            return Some(format!(
                "--strict: {} runs outside the latency band, {} with waste (listed above)",
                self.outside_latency_band.len(),
                self.wasteful.len()
            ));
        }
        None
    }

    /// With the schedules of the space that were not run because they cannot.
    pub fn with_skipped(mut self, skipped: crate::schedule::space::Skipped) -> Self {
        self.skipped = skipped;
        self
    }

    /// Summarises `rows`, listing the `worst` runs by |latency Δ| and those outside
    /// the latency `band` (percent).
    pub fn new(rows: &[Row], worst: usize, band: (f64, f64)) -> Self {
        let measured: Vec<&Row> = rows.iter().filter(|r| r.measured.is_some()).collect();
        let lat: Vec<f64> = measured
            .iter()
            .filter_map(|r| r.latency_delta_percent)
            .collect();
        let abs: Vec<f64> = lat.iter().map(|x| x.abs()).collect();
        let max_abs = |f: fn(&Row) -> Option<f64>| {
            measured
                .iter()
                .filter_map(|r| f(r))
                .map(f64::abs)
                .fold(0.0, f64::max)
        };
        let mut dominant_causes = BTreeMap::new();
        for r in &measured {
            if let Some(c) = &r.dominant_cause {
                *dominant_causes.entry(c.clone()).or_default() += 1;
            }
        }
        let mut order: Vec<&Row> = measured.clone();
        order.sort_by(|a, b| {
            let key = |r: &Row| r.latency_delta_percent.unwrap_or(0.0).abs();
            key(b).total_cmp(&key(a))
        });
        let worst = order
            .iter()
            .take(worst)
            .filter_map(|r| {
                let m = r.measured.as_ref()?;
                Some(Worst {
                    config: r.config.clone(),
                    schedule: r.schedule.clone(),
                    predicted_latency_cycles: r.predicted.latency_cycles,
                    measured_latency_cycles: m.latency_cycles,
                    latency_delta_percent: r.latency_delta_percent.unwrap_or(0.0),
                    dominant_cause: r.dominant_cause.clone(),
                    stall_delta_cycles: StallCause::ALL
                        .iter()
                        .map(|&c| (c.name(), m.stall(c) as i64 - r.predicted.stall(c) as i64))
                        .collect(),
                })
            })
            .collect();
        Self {
            runs: rows.len(),
            verified: rows.iter().filter(|r| r.verified).count(),
            failed: rows.iter().filter(|r| !r.verified).count(),
            latency_delta_percent: Spread::of(&lat),
            abs_latency_delta_percent: Spread::of(&abs),
            max_abs_energy_delta_percent: max_abs(|r| r.energy_delta_percent),
            max_abs_dram_delta_percent: max_abs(|r| r.dram_delta_percent),
            dominant_causes,
            worst,
            disagreements: listed(rows, |r| &r.disagreements),
            latency_band_percent: band,
            outside_latency_band: rows
                .iter()
                .filter_map(|r| {
                    let d = r.latency_delta_percent?;
                    (!(band.0..=band.1).contains(&d)).then(|| Failure {
                        config: r.config.clone(),
                        schedule: r.schedule.clone(),
                        failure: format!("latency {d:+.1} % from the prediction"),
                    })
                })
                .collect(),
            latency_bounds: BoundsSummary::of(rows),
            outside_latency_bounds: outside_bounds(rows),
            wasteful: listed(rows, |r| &r.waste),
            rank_agreement: super::rank::RankSummary::new(rows),
            skipped: Default::default(),
            failures: rows
                .iter()
                .filter_map(|r| {
                    Some(Failure {
                        config: r.config.clone(),
                        schedule: r.schedule.clone(),
                        failure: r.failure.clone()?,
                    })
                })
                .collect(),
        }
    }
}

/// `validation.csv`: one row per run, predicted next to measured.
pub fn write_csv<W: std::io::Write>(out: W, rows: &[Row]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(csv_header())?;
    for r in rows {
        w.write_record(csv_record(r))?;
    }
    w.flush()?;
    Ok(())
}

fn csv_header() -> Vec<String> {
    let mut header: Vec<String> = [
        "config",
        "workload",
        "global_sram_bits",
        "schedule",
        "verified",
        "failure",
        "predicted_latency_cycles",
        "measured_latency_cycles",
        "latency_delta_percent",
        "predicted_energy_pj",
        "measured_energy_pj",
        "energy_delta_percent",
        "predicted_dram_bits",
        "measured_dram_bits",
        "dram_delta_percent",
    ]
    .map(String::from)
    .to_vec();
    for side in ["predicted", "measured"] {
        header.extend(
            StallCause::ALL
                .iter()
                .map(|c| format!("{side}_stall_{}_cycles", c.name())),
        );
    }
    header.extend(
        [
            "dominant_cause",
            "dominant_cause_delta_cycles",
            "verification_checks",
            "redundant_load_bits",
            "dead_write_bits",
            "compulsory_dram_bits",
            "excess_dram_bits",
            "excess_W_bits",
            "excess_F_bits",
            "excess_V_bits",
            "events",
            "predicted_latency_floor_cycles",
            "predicted_latency_ceiling_cycles",
            "within_latency_bounds",
        ]
        .map(String::from),
    );
    header
}

fn csv_record(r: &Row) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let pct = |v: Option<f64>| opt(v.map(|x| format!("{x:.4}")));
    let m = r.measured.as_ref();
    let v = r.verification.as_ref();
    let mut rec = vec![
        r.config.clone(),
        r.workload.clone(),
        r.global_sram_bits.to_string(),
        r.schedule.clone(),
        r.verified.to_string(),
        opt(r.failure.clone()),
        r.predicted.latency_cycles.to_string(),
        opt(m.map(|m| m.latency_cycles.to_string())),
        pct(r.latency_delta_percent),
        format!("{:.3}", r.predicted.energy_pj),
        opt(m.map(|m| format!("{:.3}", m.energy_pj))),
        pct(r.energy_delta_percent),
        r.predicted.dram_bits.to_string(),
        opt(m.map(|m| m.dram_bits.to_string())),
        pct(r.dram_delta_percent),
    ];
    rec.extend(
        StallCause::ALL
            .iter()
            .map(|&c| r.predicted.stall(c).to_string()),
    );
    rec.extend(
        StallCause::ALL
            .iter()
            .map(|&c| opt(m.map(|m| m.stall(c).to_string()))),
    );
    rec.extend([
        r.dominant_cause.clone().unwrap_or_default(),
        r.dominant_cause_delta_cycles.to_string(),
        opt(v.map(|v| v.checks.to_string())),
        opt(v.map(|v| v.redundant_load_bits.to_string())),
        opt(v.map(|v| v.dead_write_bits.to_string())),
        opt(v.map(|v| v.compulsory_dram_bits.to_string())),
        opt(v.map(|v| v.excess_dram_bits.to_string())),
        opt(v.map(|v| v.excess_dram_bits_by_operand.W.to_string())),
        opt(v.map(|v| v.excess_dram_bits_by_operand.F.to_string())),
        opt(v.map(|v| v.excess_dram_bits_by_operand.V.to_string())),
        r.events.to_string(),
    ]);
    let bounds = r.predicted.latency_bounds;
    rec.extend([
        opt(bounds.map(|b| b.floor_cycles.to_string())),
        opt(bounds.map(|b| b.ceiling_cycles.to_string())),
        opt(r.latency_bounds().map(|(_, inside)| inside.to_string())),
    ]);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Spread::of(&v).expect("values");
        assert_eq!((s.min, s.median, s.p90, s.max), (1.0, 5.0, 9.0, 10.0));
        assert_eq!(Spread::of(&[]), None);
        let one = Spread::of(&[-3.0]).expect("one");
        assert_eq!(
            (one.min, one.median, one.p90, one.max),
            (-3.0, -3.0, -3.0, -3.0)
        );
    }
}
