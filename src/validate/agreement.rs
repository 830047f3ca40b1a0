//! Whether the two halves agree, as a verdict rather than a table: the quantities both
//! compute the same way (operations, traffic per operand, energy per component, the
//! array's busy cycles) must be equal — exactly on dense computation, within a stated
//! tolerance when the simulator ran spikes the analytic half only knows as densities —
//! and latency must fall in a band around the prediction. Waste the verifier measured (redundant loads, dead
//! writes) is listed too. `simulate --strict` and `validate` fail on a disagreement.

use crate::cost::{Report, TileFigures};
use crate::sim::VerificationReport;
use serde::Serialize;

/// What counts as agreeing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// Measured latency within these percent of the prediction (the analytic half
    /// averages out per-pass fill latency and port contention: it is optimistic by a
    /// few percent, up to about 11 % on DRAM-bound time-batched schedules).
    pub latency_band_percent: (f64, f64),
    /// Relative tolerance of spike-dependent quantities when the simulator ran spikes.
    pub spikes_tolerance: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            latency_band_percent: (-5.0, 15.0),
            spikes_tolerance: 0.02,
        }
    }
}

/// One quantity compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub quantity: String,
    pub predicted: f64,
    pub measured: f64,
    /// Relative tolerance allowed (0: exact).
    pub tolerance: f64,
    pub agrees: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub checks: Vec<Check>,
    pub latency_delta_percent: f64,
    pub latency_band_percent: (f64, f64),
    pub latency_within_band: bool,
    /// Whether the measured latency lies inside the prediction's bounds (true when the
    /// prediction states none).
    pub latency_within_bounds: bool,
    /// Waste the verifier measured, as sentences (empty: none).
    pub waste: Vec<String>,
    /// The tolerance the run's quantities are held to (0 on dense computation).
    #[serde(skip)]
    tolerance: f64,
}

/// Tile quantities that disagree that are listed one by one; the rest are counted.
const LISTED_TILES: usize = 3;

/// The per-tile quantities of one tile that differ: (quantity, predicted, measured).
fn tile_differences(p: &TileFigures, m: &TileFigures) -> Vec<(&'static str, f64, f64)> {
    let mut out = Vec::new();
    if p.busy_cycles != m.busy_cycles {
        out.push(("busy_cycles", p.busy_cycles as f64, m.busy_cycles as f64));
    }
    if let (Some(ps), Some(ms)) = (p.spend, m.spend) {
        for ((quantity, a), (_, b)) in ps.quantities().into_iter().zip(ms.quantities()) {
            // Energies are sums of products in floating point: equal to 1e-9.
            if (b - a).abs() > 1e-9 * a.abs().max(1.0) {
                out.push((quantity, a, b));
            }
        }
    }
    out
}

impl Agreement {
    /// Adds the per-tile comparison: each tile's PE-array busy cycles, operations,
    /// DRAM and NoC traffic and energy by component, predicted (`predicted`: the
    /// tile's layer and figures, in schedule order) against measured. Totals can agree
    /// while tiles do not (errors that cancel across tiles, or a cost charged to the
    /// wrong tile); this names the first tile quantities that differ and counts the
    /// others. On dense computation only: with spikes a tile's figures are an
    /// expectation on one side and one draw on the other, and small tiles scatter by
    /// more than the totals' tolerance without anything being wrong.
    pub fn with_tiles(
        mut self,
        predicted: &[(String, TileFigures)],
        measured: &[TileFigures],
    ) -> Self {
        if self.tolerance > 0.0 {
            return self;
        }
        let differing =
            predicted
                .iter()
                .zip(measured)
                .enumerate()
                .flat_map(|(tile, ((layer, p), m))| {
                    tile_differences(p, m)
                        .into_iter()
                        .map(move |d| (tile, layer, d))
                });
        let mut count = 0;
        for (tile, layer, (quantity, p, m)) in differing {
            count += 1;
            if count <= LISTED_TILES {
                self.checks.push(Check {
                    quantity: format!("tile {tile} ({layer}) {quantity}"),
                    predicted: p,
                    measured: m,
                    tolerance: 0.0,
                    agrees: false,
                });
            }
        }
        if count > LISTED_TILES
            && let Some(last) = self.checks.last_mut()
        {
            last.quantity += &format!(
                " (and {} more tile quantities differ)",
                count - LISTED_TILES
            );
        }
        self
    }

    pub fn disagreements(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.agrees)
    }

    /// Every quantity agrees (the halves compute the same things).
    pub fn exact(&self) -> bool {
        self.checks.iter().all(|c| c.agrees)
    }

    /// Under `--strict`: quantities, latency band and no waste.
    pub fn strict(&self) -> bool {
        self.exact()
            && self.latency_within_band
            && self.latency_within_bounds
            && self.waste.is_empty()
    }

    /// One line per problem, for people (empty when everything agrees).
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .disagreements()
            .map(|c| {
                format!(
                    "{}: predicted {}, measured {}{}",
                    c.quantity,
                    number(c.predicted),
                    number(c.measured),
                    if c.tolerance > 0.0 {
                        format!(" (more than {:.1} % apart)", 100.0 * c.tolerance)
                    } else {
                        " (must be equal)".into()
                    }
                )
            })
            .collect();
        if !self.latency_within_band {
            let (lo, hi) = self.latency_band_percent;
            out.push(format!(
                "latency: measured {:+.1} % from the prediction, outside {lo:+.0} … {hi:+.0} %",
                self.latency_delta_percent
            ));
        }
        if !self.latency_within_bounds {
            out.push("latency: measured outside the prediction's latency bounds".into());
        }
        out.extend(self.waste.iter().cloned());
        out
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e18 {
        crate::model::units::thousands(v as u64)
    } else {
        format!("{v:.3}")
    }
}

/// Compares a prediction with a measurement of the same schedule.
pub fn agreement(
    p: &Report,
    m: &Report,
    verification: Option<&VerificationReport>,
    rules: Rules,
) -> Agreement {
    // Spikes ran when the simulator measured activity: then what depends on them is an
    // expectation on one side and a count on the other.
    let spikes = m.activity.iter().any(|a| a.measured.is_some());
    let loose = if spikes { rules.spikes_tolerance } else { 0.0 };
    // A schedule saved before dense operations were recorded has none to compare.
    let stated = |quantity: &str| {
        !(quantity.starts_with("operations.") && p.operations == Default::default())
    };
    let checks = exact_quantities(p, m, loose)
        .into_iter()
        .filter(|row| stated(row.0))
        .map(|(quantity, predicted, measured, tolerance)| {
            // Energies are sums of products in floating point: equal to 1e-9.
            let slack = tolerance.max(1e-9);
            let agrees = (measured - predicted).abs() <= slack * predicted.abs().max(1.0);
            Check {
                quantity: quantity.to_string(),
                predicted,
                measured,
                tolerance,
                agrees,
            }
        })
        .collect();
    let delta = if p.latency_cycles == 0 {
        0.0
    } else {
        100.0 * (m.latency_cycles as f64 - p.latency_cycles as f64) / p.latency_cycles as f64
    };
    let (lo, hi) = rules.latency_band_percent;
    Agreement {
        checks,
        latency_delta_percent: delta,
        latency_band_percent: rules.latency_band_percent,
        latency_within_band: (lo..=hi).contains(&delta),
        latency_within_bounds: p.latency_bounds.is_none_or(|b| b.contain(m.latency_cycles)),
        waste: verification.map(waste).unwrap_or_default(),
        tolerance: loose,
    }
}

/// What the verifier found loaded or written for nothing.
fn waste(v: &VerificationReport) -> Vec<String> {
    let mut waste = Vec::new();
    if v.redundant_load_bits > 0 {
        waste.push(format!(
            "waste: {} bits loaded where they were already valid",
            crate::model::units::thousands(v.redundant_load_bits)
        ));
    }
    if v.dead_write_bits > 0 {
        waste.push(format!(
            "waste: {} bits written to DRAM and never read back",
            crate::model::units::thousands(v.dead_write_bits)
        ));
    }
    waste
}

/// The quantities both halves compute alike: (name, predicted, measured, relative
/// tolerance). Those that depend on spikes get `loose` (0 unless spikes ran).
/// Peak SRAM occupancy is left out: the simulator allocates a tile's buffers when its
/// loads issue, which may overlap the previous tile's last reads; the planner frees at
/// tile boundaries. Capacity itself is enforced by the simulator.
fn exact_quantities(p: &Report, m: &Report, loose: f64) -> [(&'static str, f64, f64, f64); 20] {
    let (pd, md) = (&p.dram_bits, &m.dram_bits);
    let (pe, me) = (&p.energy_pj, &m.energy_pj);
    let int = |x: u64| x as f64;
    let operand = |name, p: u64, m: u64, tolerance| (name, int(p), int(m), tolerance);
    [
        operand(
            "dram_bits.by_operand.W",
            pd.by_operand.W,
            md.by_operand.W,
            0.0,
        ),
        operand(
            "dram_bits.by_operand.V",
            pd.by_operand.V,
            md.by_operand.V,
            0.0,
        ),
        operand(
            "dram_bits.by_operand.F",
            pd.by_operand.F,
            md.by_operand.F,
            loose,
        ),
        operand("dram_bits.attention", pd.attention, md.attention, loose),
        ("dram_bits.read", int(pd.read), int(md.read), loose),
        ("dram_bits.write", int(pd.write), int(md.write), loose),
        ("dram_bits.total", int(pd.total), int(md.total), loose),
        ("noc_bits", int(p.noc_bits), int(m.noc_bits), loose),
        ("ops.macs", int(p.ops.macs), int(m.ops.macs), loose),
        ("ops.sops", int(p.ops.sops), int(m.ops.sops), loose),
        ("ops.other", int(p.ops.other), int(m.ops.other), 0.0),
        operand(
            "operations.dense.macs",
            p.operations.dense.macs,
            m.operations.dense.macs,
            0.0,
        ),
        operand(
            "operations.dense.sops",
            p.operations.dense.sops,
            m.operations.dense.sops,
            0.0,
        ),
        ("energy_pj.dram", pe.dram, me.dram, loose),
        (
            "energy_pj.global_sram",
            pe.global_sram,
            me.global_sram,
            loose,
        ),
        (
            "energy_pj.local_buffers",
            pe.local_buffers,
            me.local_buffers,
            loose,
        ),
        ("energy_pj.pe", pe.pe, me.pe, loose),
        ("energy_pj.noc", pe.noc, me.noc, loose),
        // Static energy is power over latency and row activations depend on the
        // order of accesses: both differ as latency does.
        (
            "energy_pj.per_access",
            pe.per_access(),
            me.per_access(),
            loose,
        ),
        ("busy_cycles", int(p.busy_cycles), int(m.busy_cycles), loose),
    ]
}
