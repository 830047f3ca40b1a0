//! A scenario's results as tables for people.

use super::Table;
use crate::cost::{Report, StallCause};
use crate::model::units::{human_bits, human_energy_pj, thousands};
use crate::scenario::*;

/// For an experiment whose runs use several cores: latency, energy, NoC traffic and
/// the PE arrays' stall cycles by cause (measured when simulated), and each run's
/// allocation. Empty when every run keeps to one core.
fn render_cores(x: &ExperimentResult) -> String {
    let multi = |r: &RunResult| uses_several_cores(&r.allocation) || r.predicted.noc_bits > 0;
    if !x.runs.iter().any(multi) {
        return String::new();
    }
    let mut head = vec![
        "run".to_string(),
        "schedule".into(),
        "latency (cycles)".into(),
        "energy".into(),
        "NoC traffic".into(),
    ];
    let causes: Vec<StallCause> = StallCause::ALL
        .into_iter()
        .filter(|c| {
            !c.is_dram_timing()
                || x.runs.iter().any(|r| {
                    let s = r.measured.as_ref().unwrap_or(&r.predicted);
                    s.stall_cycles_by_cause
                        .get(c.name())
                        .is_some_and(|v| *v > 0)
                })
        })
        .collect();
    head.extend(causes.iter().map(|c| c.name().to_string()));
    let mut t = Table::new(head);
    for r in &x.runs {
        let shown = r.measured.as_ref().unwrap_or(&r.predicted);
        let mut row = vec![
            format!("{}, {} eviction ({})", r.origin, r.eviction, shown.source),
            r.schedule.clone(),
            thousands(shown.latency_cycles),
            human_energy_pj(shown.energy_pj.total),
            human_bits(shown.noc_bits),
        ];
        row.extend(causes.iter().map(|c| {
            thousands(
                shown
                    .stall_cycles_by_cause
                    .get(c.name())
                    .copied()
                    .unwrap_or(0),
            )
        }));
        t.row(row);
    }
    let mut out = format!(
        "\nby core: latency, NoC traffic and PE-array stall cycles by cause (all cores)\n{}",
        t.render()
    );
    for r in x.runs.iter().filter(|r| multi(r)) {
        out.push_str(&format!("{} {}: {}\n", r.origin, r.schedule, r.allocation));
    }
    out
}

/// A whole scenario in markdown: its experiments' runs, then each sweep's points —
/// what `stems run SCENARIO --format markdown` prints and README.md shows.
pub fn render_markdown(
    result: Option<&ScenarioResult>,
    sweeps: &[(String, crate::hardware_sweep::SweepResult)],
) -> String {
    let mut parts = Vec::new();
    if let Some(r) = result.filter(|r| !r.experiments.is_empty()) {
        parts.push(r.render_markdown());
    }
    for (name, s) in sweeps {
        parts.push(format!("Sweep: {name}\n\n{}", s.render_markdown()));
    }
    parts.join("\n")
}

/// Whether an allocation (`LAYER=CORE,…`) puts layers on more than one core.
fn uses_several_cores(allocation: &str) -> bool {
    let mut cores = allocation
        .split(',')
        .filter_map(|a| a.split_once('=').map(|(_, c)| c));
    let first = cores.next();
    cores.any(|c| Some(c) != first)
}

impl ScenarioResult {
    /// One markdown table of every run: what README.md shows (`stems run … --format
    /// markdown` prints it; `tests/readme_figures.rs` keeps the README's copy in step).
    pub fn render_markdown(&self) -> String {
        let mut t = Table::new([
            "experiment",
            "run",
            "schedule",
            "energy",
            "energy ×",
            "DRAM traffic",
            "DRAM W / F / V",
            "DRAM ×",
            "V share of energy",
            "latency (simulated)",
            "latency Δ %",
            "busy (simulated)",
            "lane imbalance (simulated)",
        ]);
        for x in &self.experiments {
            for r in &x.runs {
                let p = &r.predicted;
                let v_share =
                    100.0 * p.energy_by_operand_pj.V / p.energy_pj.total.max(f64::MIN_POSITIVE);
                let m = r.measured.as_ref();
                let measured = |f: fn(&Report) -> u64| m.map_or("-".into(), |m| thousands(f(m)));
                t.row([
                    x.name.clone(),
                    r.origin.clone(),
                    crate::schedule::spec::compact(&r.schedule),
                    human_energy_pj(p.energy_pj.total),
                    format!("{:.2}", r.energy_reduction),
                    human_bits(p.dram_bits.total),
                    format!(
                        "{} / {} / {}",
                        human_bits(p.dram_bits.by_operand.W),
                        features_cell(&p.dram_bits),
                        human_bits(p.dram_bits.by_operand.V)
                    ),
                    format!("{:.2}", r.dram_reduction),
                    format!("{v_share:.1} %"),
                    measured(|m| m.latency_cycles),
                    r.latency_delta_percent
                        .map_or("-".into(), |d| format!("{d:+.1}")),
                    measured(|m| m.busy_cycles),
                    measured(|m| {
                        m.stall_cycles_by_cause
                            .get(StallCause::LaneImbalance.name())
                            .copied()
                            .unwrap_or(0)
                    }),
                ]);
            }
        }
        let mut out = t.render_markdown();
        for x in &self.experiments {
            if let Some(line) = paper_line(x) {
                out.push_str(&format!("\n- {}: {line}", x.name));
            }
        }
        if self.experiments.iter().any(|x| x.paper.is_some()) {
            out.push('\n');
        }
        out
    }

    /// Runs whose simulation the verifier refused.
    pub fn failed_verification(&self) -> usize {
        self.experiments
            .iter()
            .flat_map(|x| &x.runs)
            .filter(|r| r.violation.is_some())
            .count()
    }

    pub fn render_table(&self) -> String {
        let mut out = format!("scenario {}\n", self.scenario);
        for x in &self.experiments {
            out.push_str(&format!(
                "\n{} — {} on {} global SRAM{}\n",
                x.name,
                x.workload,
                human_bits(x.global_sram_bits),
                if x.stateless_blocks.is_empty() {
                    String::new()
                } else {
                    format!(", stateless blocks {:?}", x.stateless_blocks)
                }
            ));
            let mut t = Table::new([
                "run",
                "schedule",
                "energy",
                "DRAM traffic",
                "W",
                "F",
                "V",
                "latency (cycles)",
                "DRAM ×",
                "energy ×",
                "verified",
                "sim latency",
                "latency Δ %",
                "traffic Δ",
            ]);
            for r in &x.runs {
                let d = &r.predicted.dram_bits;
                t.row([
                    format!("{}, {} eviction", r.origin, r.eviction),
                    r.schedule.clone(),
                    human_energy_pj(r.predicted.energy_pj.total),
                    human_bits(d.total),
                    human_bits(d.by_operand.W),
                    features_cell(d),
                    human_bits(d.by_operand.V),
                    thousands(r.predicted.latency_cycles),
                    format!("{:.2}", r.dram_reduction),
                    format!("{:.2}", r.energy_reduction),
                    match (&r.verification, &r.violation) {
                        (Some(_), _) => "yes".into(),
                        (_, Some(_)) => "NO".into(),
                        _ => "-".into(),
                    },
                    r.measured
                        .as_ref()
                        .map_or("-".into(), |m| thousands(m.latency_cycles)),
                    r.latency_delta_percent
                        .map_or("-".into(), |d| format!("{d:+.1}")),
                    match (&r.measured, &r.largest_traffic_delta) {
                        (None, _) => "-".into(),
                        (Some(_), None) => "none".into(),
                        (Some(_), Some(c)) => format!("{} {:+.3} %", c.metric, c.delta_percent),
                    },
                ]);
            }
            out.push_str(&t.render());
            out.push_str(&render_cores(x));
            for r in x.runs.iter().filter(|r| r.violation.is_some()) {
                out.push_str(&format!(
                    "{} failed verification: {}\n",
                    r.schedule,
                    r.violation.as_deref().unwrap_or_default()
                ));
            }
            if let Some(line) = paper_line(x) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// The DRAM traffic of features, and of it the attention operands' when there are any.
fn features_cell(d: &crate::cost::DramBits) -> String {
    if d.attention == 0 {
        human_bits(d.by_operand.F)
    } else {
        format!(
            "{} ({} attention)",
            human_bits(d.by_operand.F),
            human_bits(d.attention)
        )
    }
}

/// The published reductions next to stems' best schedule of the experiment.
fn paper_line(x: &ExperimentResult) -> Option<String> {
    let p = x.paper?;
    let best = x
        .runs
        .iter()
        .skip(1)
        .max_by(|a, b| a.dram_reduction.total_cmp(&b.dram_reduction))?;
    let mut line = format!(
        "paper: {:.1}× less DRAM traffic; stems ({}): {:.1}× ({:+.0} %)",
        p.dram_reduction,
        best.schedule,
        best.dram_reduction,
        100.0 * (best.dram_reduction / p.dram_reduction - 1.0),
    );
    if let Some(e) = p.energy_reduction {
        line.push_str(&format!(
            "; paper: {e:.1}× less energy; stems: {:.1}× ({:+.0} %)",
            best.energy_reduction,
            100.0 * (best.energy_reduction / e - 1.0),
        ));
    }
    Some(line)
}
