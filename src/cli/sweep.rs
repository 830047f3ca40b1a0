//! `stems sweep`: the cross product of hardware axes and schedules, each point
//! scheduled, simulated and verified; a CSV row per point, plots against each axis,
//! and where each schedule stops being DRAM-bound.

use super::progress::Progress;
use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use stems::mapping::Objective;
use stems::model::limits::MAX_JOBS;
use stems::model::units::{Size, thousands};
use stems::report::Table;
use stems::report::cost::StallCause;
use stems::schedule::spec::compact;
use stems::schedule::{Allocation, ScheduleSpec, SchedulerOptions};
use stems::sweep::{Axis, Knee, dram_port_share, points};
use stems::validate::sweep::{self, Config, Row, Run};

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// An axis, repeatable: an accelerator field path or `gb`, with values
    /// (dram.bw_bits=16,32,64) or a range (gb=64KiB..2MiB*2, dram.latency_cycles=100..400+100).
    #[arg(
        long = "axis",
        allow_hyphen_values = true,
        value_name = "PATH=VALUES",
        required = true
    )]
    pub axes: Vec<Axis>,
    /// A schedule, repeatable (the schedule axis): one `<time>-<space>` entry for every
    /// block or one per block.
    #[arg(
        long = "schedule",
        allow_hyphen_values = true,
        value_name = "SPEC",
        required = true
    )]
    pub schedules: Vec<String>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// A schedule counts as DRAM-bound while the DRAM port stalls it this share of its
    /// latency or more.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0.05,
        value_name = "SHARE"
    )]
    pub dram_bound_share: f64,
    /// Write sweep.csv, summary.json and plots (latency and energy against each axis,
    /// a heatmap for two axes) here.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

/// Most points one sweep may run.
const MAX_POINTS: usize = 4_096;

/// One configuration per point of the hardware axes, and the runs (configs × schedules).
fn plan(args: &SweepArgs, hardware: &[Vec<String>]) -> Result<(Vec<Config>, Vec<Run>)> {
    let mut configs = Vec::new();
    let mut runs = Vec::new();
    for point in hardware {
        let mut overrides = args.models.overrides.model();
        let mut label = Vec::new();
        for (axis, value) in args.axes.iter().zip(point) {
            label.push(format!("{}={value}", axis.path));
            if axis.is_gb() {
                let size: Size = value
                    .parse()
                    .map_err(|m: String| UsageError(format!("--axis gb: {m}")))?;
                overrides.global_sram = Some(size);
            } else {
                overrides.hardware.push(
                    format!("{}={value}", axis.path)
                        .parse()
                        .map_err(UsageError)?,
                );
            }
        }
        let (w, acc) =
            stems::model::load(&args.models.workload, &args.models.hardware, &overrides)?;
        for s in &args.schedules {
            let spec = ScheduleSpec::parse(s, w.num_blocks, w.timesteps).context("--schedule")?;
            runs.push(Run {
                config: configs.len(),
                spec,
            });
        }
        configs.push(Config {
            label: label.join(" "),
            allocation: Allocation::single_core(&w),
            workload: w,
            accelerator: acc,
            options: SchedulerOptions {
                prefetch: !args.no_prefetch,
                objective: Objective::Energy,
            },
        });
    }
    Ok((configs, runs))
}

pub fn run(args: SweepArgs) -> Result<()> {
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    if !(args.dram_bound_share > 0.0 && args.dram_bound_share < 1.0) {
        bail!(UsageError(
            "--dram-bound-share must lie between 0 and 1".into()
        ));
    }
    let hardware = points(&args.axes);
    let total = hardware.len() * args.schedules.len();
    if total > MAX_POINTS {
        bail!(UsageError(format!(
            "{total} points asked for and every one is a simulation (limit {MAX_POINTS}); narrow the axes"
        )));
    }
    let (configs, runs) = plan(&args, &hardware)?;
    let progress = Progress::new(runs.len() as u64, "points");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let rows = pool.install(|| sweep::run(&configs, &runs, || progress.inc()))?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let schedules = args.schedules.len();
    let knees = knees(&args, &rows, schedules);
    if let Some(dir) = &args.out {
        write_outputs(dir, &args, &hardware, &rows, &knees, seconds)?;
    }
    match args.format {
        Format::Table => print_table(&args, &hardware, &rows, &knees, seconds)?,
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&summary(&args, &hardware, &rows, &knees, seconds))?
        ),
    }
    let failed = rows.iter().filter(|r| !r.verified).count();
    if failed > 0 {
        bail!("{failed} of {} points failed verification", rows.len());
    }
    Ok(())
}

/// The rows of `schedule` along axis `a`, the other axes at their first value.
fn along<'r>(
    args: &SweepArgs,
    hardware: &[Vec<String>],
    rows: &'r [Row],
    a: usize,
    schedule: usize,
) -> Vec<&'r Row> {
    let schedules = args.schedules.len();
    hardware
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.iter()
                .enumerate()
                .all(|(k, v)| k == a || *v == args.axes[k].values[0])
        })
        .map(|(h, _)| &rows[h * schedules + schedule])
        .collect()
}

fn knees(args: &SweepArgs, rows: &[Row], schedules: usize) -> Vec<Knee> {
    let hardware = points(&args.axes);
    let mut out = Vec::new();
    for (a, axis) in args.axes.iter().enumerate() {
        for s in 0..schedules {
            let line = along(args, &hardware, rows, a, s);
            let shares: Vec<f64> = line
                .iter()
                .map(|r| dram_port_share(r).unwrap_or(1.0))
                .collect();
            let from = shares
                .iter()
                .position(|&x| x < args.dram_bound_share)
                .map(|i| axis.values[i].clone());
            out.push(Knee {
                schedule: rows[s].schedule.clone(),
                axis: axis.path.clone(),
                compute_bound_from: from,
                dram_port_share: shares,
            });
        }
    }
    out
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    workload: &'a str,
    axes: &'a [Axis],
    schedules: Vec<String>,
    points: usize,
    verified: usize,
    seconds: f64,
    dram_bound_share: f64,
    knees: &'a [Knee],
}

fn summary<'a>(
    args: &'a SweepArgs,
    hardware: &[Vec<String>],
    rows: &'a [Row],
    knees: &'a [Knee],
    seconds: f64,
) -> Summary<'a> {
    Summary {
        workload: rows.first().map_or("", |r| r.workload.as_str()),
        axes: &args.axes,
        schedules: rows
            .iter()
            .take(args.schedules.len())
            .map(|r| r.schedule.clone())
            .collect(),
        points: hardware.len() * args.schedules.len(),
        verified: rows.iter().filter(|r| r.verified).count(),
        seconds,
        dram_bound_share: args.dram_bound_share,
        knees,
    }
}

fn write_csv(path: &Path, args: &SweepArgs, hardware: &[Vec<String>], rows: &[Row]) -> Result<()> {
    let mut file = stems::report::output::AtomicFile::create(path)?;
    {
        let mut w = csv::Writer::from_writer(&mut file);
        let mut header: Vec<String> = args.axes.iter().map(|a| a.path.clone()).collect();
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
        let schedules = args.schedules.len();
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
        w.flush()?;
    }
    file.commit()?;
    Ok(())
}

fn write_outputs(
    dir: &Path,
    args: &SweepArgs,
    hardware: &[Vec<String>],
    rows: &[Row],
    knees: &[Knee],
    seconds: f64,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_csv(&dir.join("sweep.csv"), args, hardware, rows)?;
    stems::report::output::write(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary(args, hardware, rows, knees, seconds))?.as_bytes(),
    )?;
    let mut written = vec!["sweep.csv".to_string(), "summary.json".to_string()];
    let workload = rows.first().map_or("", |r| r.workload.as_str());
    for (a, axis) in args.axes.iter().enumerate() {
        let slug = axis.path.replace(['.', '*'], "_");
        let mut energy_lines = Vec::new();
        for s in 0..args.schedules.len() {
            let line = along(args, hardware, rows, a, s);
            let measured = |f: &dyn Fn(&stems::validate::sweep::Figures) -> f64| -> Vec<f64> {
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
                        .filter(|&&c| c != StallCause::FillDrain)
                        .map(|&c| m.stall(c))
                        .sum();
                    m.latency_cycles.saturating_sub(stalls) as f64
                }),
            )];
            for c in StallCause::ALL
                .iter()
                .filter(|&&c| c != StallCause::FillDrain)
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
            let file = format!("latency_{slug}_{}.svg", s + 1);
            stems::report::plot::against_axis(
                &dir.join(&file),
                &format!(
                    "{workload}, {}: latency against {}",
                    compact(&rows[s].schedule),
                    axis.path
                ),
                &axis.path,
                "cycles",
                &axis.values,
                &stacks,
                &lines,
            )?;
            written.push(file);
            energy_lines.push((
                compact(&rows[s].schedule),
                line.iter()
                    .map(|r| r.measured.as_ref().map_or(0.0, |m| m.energy_pj / 1e6))
                    .collect(),
            ));
        }
        let file = format!("energy_{slug}.svg");
        stems::report::plot::against_axis(
            &dir.join(&file),
            &format!("{workload}: energy per inference against {}", axis.path),
            &axis.path,
            "energy (µJ)",
            &axis.values,
            &[],
            &energy_lines,
        )?;
        written.push(file);
    }
    if let [x, y] = &args.axes[..] {
        // Measured latency over both axes, for the first schedule.
        let n = x.values.len().max(y.values.len()) - 1;
        let cells: Vec<stems::report::plot::Cell> = hardware
            .iter()
            .enumerate()
            .filter_map(|(h, p)| {
                let m = rows[h * args.schedules.len()].measured.as_ref()?;
                Some(stems::report::plot::Cell {
                    x: x.values.iter().position(|v| *v == p[0])?,
                    y: y.values.iter().position(|v| *v == p[1])?,
                    value: m.latency_cycles as f64,
                    label: stems::report::plot::readable(m.latency_cycles as f64),
                })
            })
            .collect();
        stems::report::plot::heatmap(
            &dir.join("latency_heatmap.svg"),
            &format!(
                "{workload}, {}: measured latency (cycles)",
                compact(&rows[0].schedule)
            ),
            &format!("{} (index into {:?})", x.path, x.values),
            &format!("{} (index into {:?})", y.path, y.values),
            n,
            &cells,
            None,
        )?;
        written.push("latency_heatmap.svg".into());
    }
    eprintln!("wrote {} to {}", written.join(", "), dir.display());
    Ok(())
}

fn print_table(
    args: &SweepArgs,
    hardware: &[Vec<String>],
    rows: &[Row],
    knees: &[Knee],
    seconds: f64,
) -> Result<()> {
    outln!(
        "{} points ({} hardware × {} schedules) in {seconds:.1} s, {} verified",
        rows.len(),
        hardware.len(),
        args.schedules.len(),
        rows.iter().filter(|r| r.verified).count()
    );
    let mut header: Vec<String> = args.axes.iter().map(|a| a.path.clone()).collect();
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
    let schedules = args.schedules.len();
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
                stems::model::units::human_energy_pj(m.energy_pj)
            }),
        ]);
        t.row(row);
    }
    out!("{}", t.render());
    outln!(
        "\nwhere each schedule stops being DRAM-bound (DRAM-port stalls under {:.0} % of its latency)",
        100.0 * args.dram_bound_share
    );
    for k in knees {
        outln!(
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
    Ok(())
}
