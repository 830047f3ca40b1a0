//! One run of a validation grid as a row: what it is, its figures on both sides, the
//! verdict and what went wrong — what `validation.csv`, journals, the rank agreement
//! and the summaries read.

use crate::cost::{EnergyByComponent, LatencyBounds, Report, StallCause, StallCycles};
use crate::sim::VerificationReport;
use serde::{Deserialize, Serialize};

/// The figures compared, from one side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    pub latency_cycles: u64,
    pub energy_pj: f64,
    pub energy_by_component_pj: EnergyByComponent,
    pub dram_bits: u64,
    pub peak_global_sram_bits: u64,
    pub stall_cycles: StallCycles,
    /// The latency's floor and ceiling (predictions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_bounds: Option<LatencyBounds>,
}

impl Figures {
    pub fn of(r: &Report) -> Self {
        Self {
            latency_cycles: r.latency_cycles,
            energy_pj: r.energy_pj.total,
            energy_by_component_pj: r.energy_pj.clone(),
            dram_bits: r.dram_bits.total,
            peak_global_sram_bits: r.peak_global_sram_bits,
            stall_cycles: r.stall_cycles_by_cause.clone(),
            latency_bounds: r.latency_bounds,
        }
    }

    pub fn stall(&self, c: StallCause) -> u64 {
        self.stall_cycles[c.name()]
    }
}

impl Row {
    /// The prediction's latency bounds, with whether the measured latency lies inside
    /// (when both are known).
    pub fn latency_bounds(&self) -> Option<(LatencyBounds, bool)> {
        let b = self.predicted.latency_bounds?;
        let m = self.measured.as_ref()?;
        Some((b, b.contain(m.latency_cycles)))
    }
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub config: String,
    pub workload: String,
    pub global_sram_bits: u64,
    pub schedule: String,
    pub verified: bool,
    /// Why the simulator refused the run (verification, deadlock, invariant).
    pub failure: Option<String>,
    pub predicted: Figures,
    pub measured: Option<Figures>,
    pub latency_delta_percent: Option<f64>,
    pub energy_delta_percent: Option<f64>,
    pub dram_delta_percent: Option<f64>,
    /// The traffic figure that differs most, when any differs.
    pub largest_traffic_delta: Option<String>,
    /// The cause whose stall cycles the prediction misses most (measured − predicted).
    pub dominant_cause: Option<String>,
    pub dominant_cause_delta_cycles: i64,
    pub verification: Option<VerificationReport>,
    pub events: u64,
    /// Cycles the DRAM port was busy in the simulation (transferring or in access
    /// latency), for its utilisation.
    pub dram_busy_cycles: Option<u64>,
    /// Under the DRAM timing model, the share of bursts served from an open row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dram_row_hit_rate: Option<f64>,
    /// Quantities the halves compute alike but disagree on (see `agreement`).
    #[serde(default)]
    pub disagreements: Vec<String>,
    /// Waste the verifier measured.
    #[serde(default)]
    pub waste: Vec<String>,
}
