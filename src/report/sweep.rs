//! Printing and writing a hardware sweep (`stems sweep`): its table, the markdown
//! README.md shows, `sweep.csv`, `summary.json` and the plots against each axis.

use super::{Table, WriteError};
use crate::cost::{EnergyByComponent, StallCause};
use crate::hardware_sweep::{Axis, Knee, SweepResult, SweepShape, along, others_at};
use crate::model::units::thousands;
use crate::schedule::spec::compact;
use crate::validate::runs::Row;
use std::path::Path;

impl SweepResult {
    pub fn render_table(&self) -> String {
        render(
            &self.shape,
            &self.hardware,
            &self.rows,
            &self.knees,
            self.seconds,
        )
    }

    /// Every point in a markdown table (what README.md shows of a sweep), and where
    /// each schedule stops being DRAM-bound.
    pub fn render_markdown(&self) -> String {
        let timed = self.rows.iter().any(|r| r.dram_row_hit_rate.is_some());
        // The parts of the energy that depend on how the run unfolds, where any is spent.
        type Part = (&'static str, fn(&EnergyByComponent) -> f64);
        let all: [Part; 2] = [
            ("of it row activations", |e| e.dram_activate),
            ("of it static", |e| e.static_pj),
        ];
        let parts: Vec<Part> = all
            .into_iter()
            .filter(|(_, part)| {
                self.rows
                    .iter()
                    .any(|r| part(&r.predicted.energy_by_component_pj) > 0.0)
            })
            .collect();
        let mut header: Vec<String> = self.shape.axes.iter().map(|a| a.path.clone()).collect();
        header.push("schedule".into());
        header.push("energy".into());
        header.extend(parts.iter().map(|(name, _)| name.to_string()));
        header.extend(
            [
                "DRAM traffic",
                "latency (simulated)",
                "latency Δ %",
                "DRAM-port stall (simulated)",
                "DRAM busy %",
            ]
            .map(String::from),
        );
        if timed {
            header.extend(["row hits %", "row-miss stall", "refresh stall"].map(String::from));
        }
        let mut t = Table::new(header);
        let schedules = self.shape.schedules.len();
        for (i, row) in self.rows.iter().enumerate() {
            let m = row.measured.as_ref();
            let mut cells = self.hardware[i / schedules.max(1)].clone();
            let stall = |c: StallCause| m.map_or("-".into(), |m| thousands(m.stall(c)));
            cells.push(compact(&row.schedule));
            cells.push(crate::model::units::human_energy_pj(
                row.predicted.energy_pj,
            ));
            for (_, part) in &parts {
                cells.push(crate::model::units::human_energy_pj(part(
                    &row.predicted.energy_by_component_pj,
                )));
            }
            cells.extend([
                crate::model::units::human_bits(row.predicted.dram_bits),
                m.map_or("-".into(), |m| thousands(m.latency_cycles)),
                row.latency_delta_percent
                    .map_or("-".into(), |d| format!("{d:+.1}")),
                stall(StallCause::DramPort),
                m.zip(row.dram_busy_cycles).map_or("-".into(), |(m, b)| {
                    format!("{:.1}", 100.0 * b as f64 / m.latency_cycles.max(1) as f64)
                }),
            ]);
            if timed {
                cells.extend([
                    row.dram_row_hit_rate
                        .map_or("-".into(), |h| format!("{:.1}", 100.0 * h)),
                    stall(StallCause::DramRowMiss),
                    stall(StallCause::DramRefresh),
                ]);
            }
            t.row(cells);
        }
        let mut out = t.render_markdown();
        for k in &self.knees {
            out.push_str(&format!(
                "\n- {} along {}: DRAM-port stalls under {:.0} % of the latency {}",
                compact(&k.schedule),
                k.axis,
                100.0 * self.shape.dram_bound_share,
                k.compute_bound_from
                    .as_ref()
                    .map_or("at no value".to_string(), |v| format!("from {v}")),
            ));
        }
        if !self.knees.is_empty() {
            out.push('\n');
        }
        out
    }

    pub fn summary_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(&summary(
            &self.shape,
            &self.hardware,
            &self.rows,
            &self.knees,
        ))
    }

    /// Writes `sweep.csv`, `summary.json` and the plots into `dir`; returns the names.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>, WriteError> {
        write_outputs(dir, &self.shape, &self.hardware, &self.rows, &self.knees)
    }
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    workload: &'a str,
    axes: &'a [Axis],
    schedules: Vec<String>,
    points: usize,
    verified: usize,
    dram_bound_share: f64,
    knees: &'a [Knee],
    /// Whether the analytic half orders the points as the simulator does.
    rank_agreement: crate::validate::rank::RankSummary,
}

fn summary<'a>(
    shape: &'a SweepShape,
    hardware: &[Vec<String>],
    rows: &'a [Row],
    knees: &'a [Knee],
) -> Summary<'a> {
    Summary {
        workload: rows.first().map_or("", |r| r.workload.as_str()),
        axes: &shape.axes,
        schedules: rows
            .iter()
            .take(shape.schedules.len())
            .map(|r| r.schedule.clone())
            .collect(),
        points: hardware.len() * shape.schedules.len(),
        verified: rows.iter().filter(|r| r.verified).count(),
        dram_bound_share: shape.dram_bound_share,
        knees,
        rank_agreement: crate::validate::rank::RankSummary::new(rows),
    }
}

fn write_csv(
    path: &Path,
    shape: &SweepShape,
    hardware: &[Vec<String>],
    rows: &[Row],
) -> Result<(), WriteError> {
    let mut file = crate::output::AtomicFile::create(path)?;
    {
        let mut w = csv::Writer::from_writer(&mut file);
        let mut header: Vec<String> = shape.axes.iter().map(|a| a.path.clone()).collect();
        header.extend(
            [
                "schedule",
                "verified",
                "failure",
                "predicted_latency_cycles",
                "measured_latency_cycles",
                "latency_delta_percent",
                "energy_pj",
                "energy_dram_pj",
                "energy_global_sram_pj",
                "energy_local_buffers_pj",
                "energy_pe_pj",
                "energy_noc_pj",
                "dram_bits",
                "dram_utilisation",
                "peak_global_sram_bits",
            ]
            .map(String::from),
        );
        for side in ["predicted", "measured"] {
            header.extend(
                StallCause::ALL
                    .iter()
                    .map(|c| format!("{side}_stall_{}_cycles", c.name())),
            );
        }
        w.write_record(&header)?;
        let schedules = shape.schedules.len();
        for (i, r) in rows.iter().enumerate() {
            let mut rec: Vec<String> = hardware[i / schedules].clone();
            let m = r.measured.as_ref();
            let e = m.map(|m| &m.energy_by_component_pj);
            let opt = |v: Option<String>| v.unwrap_or_default();
            rec.extend([
                r.schedule.clone(),
                r.verified.to_string(),
                opt(r.failure.clone()),
                r.predicted.latency_cycles.to_string(),
                opt(m.map(|m| m.latency_cycles.to_string())),
                opt(r.latency_delta_percent.map(|d| format!("{d:.4}"))),
                opt(m.map(|m| format!("{:.3}", m.energy_pj))),
                opt(e.map(|e| format!("{:.3}", e.dram))),
                opt(e.map(|e| format!("{:.3}", e.global_sram))),
                opt(e.map(|e| format!("{:.3}", e.local_buffers))),
                opt(e.map(|e| format!("{:.3}", e.pe))),
                opt(e.map(|e| format!("{:.3}", e.noc))),
                opt(m.map(|m| m.dram_bits.to_string())),
                opt(m.zip(r.dram_busy_cycles).map(|(m, busy)| {
                    format!("{:.4}", busy as f64 / m.latency_cycles.max(1) as f64)
                })),
                opt(m.map(|m| m.peak_global_sram_bits.to_string())),
            ]);
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
            w.write_record(&rec)?;
        }
        w.flush().map_err(csv::Error::from)?;
    }
    file.commit()?;
    Ok(())
}

/// An axis as a plot's title names it: the path and the unit of its values.
fn axis_title(axis: &Axis) -> String {
    let p = axis.path.as_str();
    let unit = if p == "gb" {
        Some("global SRAM per core")
    } else if p == "activity" {
        Some("factor on every density")
    } else if p.ends_with(".activity") {
        Some("input density")
    } else if p.ends_with("bw_bits") {
        Some("bits/cycle")
    } else if p.ends_with("_cycles") {
        Some("cycles")
    } else if p.ends_with("_fj_per_bit") || p.ends_with("_per_hop") {
        Some("fJ/bit")
    } else if p.ends_with("_energy_fj") {
        Some("fJ/operation")
    } else if p.ends_with(".rows") || p.ends_with(".cols") {
        Some("PEs")
    } else {
        None
    };
    unit.map_or_else(|| p.to_string(), |u| format!("{p} ({u})"))
}

/// A name for a file from a schedule (`TB-LFx2_TB-LBLx5`).
fn file_slug(text: &str) -> String {
    compact(text)
        .replace('×', "x")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `sweep.csv`, `summary.json` and the plots into `dir`; returns the file names.
fn write_outputs(
    dir: &Path,
    shape: &SweepShape,
    hardware: &[Vec<String>],
    rows: &[Row],
    knees: &[Knee],
) -> Result<Vec<String>, WriteError> {
    write_csv(&dir.join("sweep.csv"), shape, hardware, rows)?;
    crate::output::write(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary(shape, hardware, rows, knees))?.as_bytes(),
    )?;
    let mut written = vec!["sweep.csv".to_string(), "summary.json".to_string()];
    let pictures = Pictures {
        dir,
        shape,
        hardware,
        rows,
        workload: rows.first().map_or("", |r| r.workload.as_str()),
    };
    for a in 0..shape.axes.len() {
        let mut energy_lines = Vec::new();
        for s in 0..shape.schedules.len() {
            written.push(pictures.latency(a, s)?);
            let line = along(shape, hardware, rows, a, s);
            energy_lines.push((
                compact(&rows[s].schedule),
                line.iter()
                    .map(|r| r.measured.as_ref().map_or(0.0, |m| m.energy_pj))
                    .collect::<Vec<f64>>(),
            ));
        }
        written.extend(pictures.energy(a, energy_lines)?);
    }
    written.extend(pictures.latency_heatmap()?);
    Ok(written)
}

/// The pictures of a sweep, drawn into `dir`.
struct Pictures<'a> {
    dir: &'a Path,
    shape: &'a SweepShape,
    hardware: &'a [Vec<String>],
    rows: &'a [Row],
    workload: &'a str,
}

impl Pictures<'_> {
    /// Schedule `s`'s latency along axis `a`: busy cycles and each stall cause
    /// stacked, the predicted and measured latency as lines. Returns the file name.
    fn latency(&self, a: usize, s: usize) -> Result<String, WriteError> {
        let (shape, rows) = (self.shape, self.rows);
        let axis = &shape.axes[a];
        let line = along(shape, self.hardware, rows, a, s);
        let measured = |f: &dyn Fn(&crate::validate::runs::Figures) -> f64| -> Vec<f64> {
            line.iter()
                .map(|r| r.measured.as_ref().map_or(0.0, f))
                .collect()
        };
        // Busy cycles at the bottom, then each stall cause (fill/drain is in busy).
        let mut stacks = vec![(
            "computing".to_string(),
            measured(&|m| {
                let stalls: u64 = StallCause::ALL
                    .iter()
                    .filter(|c| !c.is_busy())
                    .map(|&c| m.stall(c))
                    .sum();
                m.latency_cycles.saturating_sub(stalls) as f64
            }),
        )];
        let any = |c: StallCause| {
            line.iter()
                .any(|r| r.measured.as_ref().is_some_and(|m| m.stall(c) > 0))
        };
        for c in StallCause::ALL
            .iter()
            .filter(|c| !c.is_busy() && (!c.is_dram_timing() || any(**c)))
        {
            stacks.push((
                format!("stall: {}", c.name()),
                measured(&|m| m.stall(*c) as f64),
            ));
        }
        let lines = vec![
            (
                "predicted latency".to_string(),
                line.iter()
                    .map(|r| r.predicted.latency_cycles as f64)
                    .collect(),
            ),
            (
                "measured latency".to_string(),
                measured(&|m| m.latency_cycles as f64),
            ),
        ];
        let file = format!(
            "latency_{}_{}.svg",
            slug(&axis.path),
            file_slug(&rows[s].schedule)
        );
        crate::report::plot::against_axis(
            &self.dir.join(&file),
            &format!(
                "{}, {}: latency against {}{}",
                self.workload,
                compact(&rows[s].schedule),
                axis.path,
                others_at(shape, a)
            ),
            &axis_title(axis),
            "latency (cycles)",
            &axis.values,
            &stacks,
            &lines,
        )?;
        Ok(file)
    }

    /// Every schedule's measured energy along axis `a`, unless no line moves along it
    /// (such a picture says nothing). Returns the file name, if drawn.
    fn energy(
        &self,
        a: usize,
        mut lines: Vec<(String, Vec<f64>)>,
    ) -> Result<Option<String>, WriteError> {
        let axis = &self.shape.axes[a];
        let flat = lines
            .iter()
            .all(|(_, v)| v.iter().all(|&x| (x - v[0]).abs() <= 1e-9 * v[0].abs()));
        if flat {
            return Ok(None);
        }
        let top = lines
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(0.0, f64::max);
        let (per, unit) = crate::report::plot::energy_unit(top);
        for (_, v) in &mut lines {
            v.iter_mut().for_each(|x| *x /= per);
        }
        let file = format!("energy_{}.svg", slug(&axis.path));
        crate::report::plot::against_axis(
            &self.dir.join(&file),
            &format!(
                "{}: energy per inference against {}{}",
                self.workload,
                axis.path,
                others_at(self.shape, a)
            ),
            &axis_title(axis),
            &format!("energy per inference ({unit})"),
            &axis.values,
            &[],
            &lines,
        )?;
        Ok(Some(file))
    }

    /// With two axes, the first schedule's measured latency over both. Returns the
    /// file name, if drawn.
    fn latency_heatmap(&self) -> Result<Option<String>, WriteError> {
        let [x, y] = &self.shape.axes[..] else {
            return Ok(None);
        };
        let rows = self.rows;
        let cells: Vec<crate::report::plot::Cell> = self
            .hardware
            .iter()
            .enumerate()
            .filter_map(|(h, p)| {
                let m = rows[h * self.shape.schedules.len()].measured.as_ref()?;
                Some(crate::report::plot::Cell {
                    x: x.values.iter().position(|v| *v == p[0])?,
                    y: y.values.iter().position(|v| *v == p[1])?,
                    value: m.latency_cycles as f64,
                    label: crate::report::plot::readable(m.latency_cycles as f64),
                })
            })
            .collect();
        crate::report::plot::heatmap(
            &self.dir.join("latency_heatmap.svg"),
            &format!(
                "{}, {}: measured latency (cycles)",
                self.workload,
                compact(&rows[0].schedule)
            ),
            &axis_title(x),
            &axis_title(y),
            &x.values,
            &y.values,
            &cells,
            (None, "not measured"),
        )?;
        Ok(Some("latency_heatmap.svg".into()))
    }
}

/// An axis path as part of a file name.
fn slug(path: &str) -> String {
    path.replace(['.', '*'], "_")
}

fn render(
    shape: &SweepShape,
    hardware: &[Vec<String>],
    rows: &[Row],
    knees: &[Knee],
    seconds: f64,
) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} points ({} hardware × {} schedules) in {seconds:.1} s, {} verified",
        rows.len(),
        hardware.len(),
        shape.schedules.len(),
        rows.iter().filter(|r| r.verified).count()
    );
    let mut header: Vec<String> = shape.axes.iter().map(|a| a.path.clone()).collect();
    header.extend(
        [
            "schedule",
            "predicted",
            "measured",
            "Δ %",
            "dram_port stall",
            "DRAM busy %",
            "energy",
        ]
        .map(String::from),
    );
    let mut t = Table::new(header);
    let schedules = shape.schedules.len();
    for (i, r) in rows.iter().enumerate() {
        let mut row = hardware[i / schedules].clone();
        let m = r.measured.as_ref();
        row.extend([
            compact(&r.schedule),
            thousands(r.predicted.latency_cycles),
            m.map_or("-".into(), |m| thousands(m.latency_cycles)),
            r.latency_delta_percent
                .map_or("-".into(), |d| format!("{d:+.1}")),
            m.map_or("-".into(), |m| thousands(m.stall(StallCause::DramPort))),
            m.zip(r.dram_busy_cycles).map_or("-".into(), |(m, b)| {
                format!("{:.1}", 100.0 * b as f64 / m.latency_cycles.max(1) as f64)
            }),
            m.map_or("-".into(), |m| {
                crate::model::units::human_energy_pj(m.energy_pj)
            }),
        ]);
        t.row(row);
    }
    text.push_str(&t.render());
    if let Some(r) = crate::validate::rank::RankSummary::new(rows).overall {
        let _ = writeln!(text, "\nrank agreement over every point: {r}");
    }
    let _ = writeln!(
        text,
        "\nwhere each schedule stops being DRAM-bound (DRAM-port stalls under {:.0} % of its latency)",
        100.0 * shape.dram_bound_share
    );
    for k in knees {
        let _ = writeln!(
            text,
            "  {} along {}: {}",
            compact(&k.schedule),
            k.axis,
            k.compute_bound_from
                .as_deref()
                .map_or("DRAM-bound at every value".to_string(), |v| format!(
                    "from {v}"
                ))
        );
    }
    text
}
