//! `stems explore`: a space of schedules costed in parallel.

use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::mapping::Objective;
use stems::model::units::thousands;
use stems::report::Table;
use stems::report::output::AtomicFile;
use stems::schedule::SchedulerOptions;

#[derive(Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// hybrid: the paper's (N+1)² grid; exhaustive: all 4^N block cuts.
    #[arg(long, allow_hyphen_values = true, default_value = "hybrid", value_parser = ["hybrid", "exhaustive"])]
    pub space: String,
    /// Apply time batching to blocks counted from this end (hybrid space).
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub batch_from: stems::explore::Side,
    /// Apply layer fusion to blocks counted from this end (hybrid space).
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub fuse_from: stems::explore::Side,
    /// What "best" means.
    #[arg(long, allow_hyphen_values = true, default_value = "energy", value_parser = parse_rank)]
    pub rank_by: stems::explore::Rank,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    /// How many of the best schedules to list.
    #[arg(long, allow_hyphen_values = true, default_value_t = 10)]
    pub top: usize,
    /// Write explore.csv, summary.json and SVG pictures into this directory.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

pub fn parse_side(s: &str) -> Result<stems::explore::Side, String> {
    s.parse()
}

pub fn parse_rank(s: &str) -> Result<stems::explore::Rank, String> {
    s.parse()
}

pub fn run(args: ExploreArgs) -> Result<()> {
    use stems::explore::{Space, best, explore as run_space, write_csv};
    use stems::model::limits::MAX_JOBS;
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let (workload, accelerator) = args.models.load()?;
    let n = workload.num_blocks;
    let space = if args.space == "exhaustive" {
        Space::Exhaustive
    } else {
        Space::Hybrid {
            batch_from: args.batch_from,
            fuse_from: args.fuse_from,
        }
    };
    const LIMIT: u128 = 70_000;
    if space.size(n) > LIMIT {
        bail!(UsageError(format!(
            "the exhaustive space of {n} blocks has {} schedules (limit {LIMIT}); use the hybrid space",
            space.size(n)
        )));
    }
    let points = space.points(n);
    let options = SchedulerOptions {
        prefetch: !args.no_prefetch,
        objective: Objective::Energy,
    };
    let bar = indicatif::ProgressBar::new(points.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} schedules  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let outcomes =
        pool.install(|| run_space(&workload, &accelerator, &points, options, || bar.inc(1)))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let best_index = best(&outcomes, args.rank_by);
    let baseline = outcomes
        .iter()
        .position(|o| o.point.batched == 0 && o.point.fused == 0);
    let mut ranked: Vec<usize> = (0..outcomes.len()).collect();
    ranked.sort_by(|&a, &b| {
        args.rank_by
            .value(&outcomes[a].report)
            .total_cmp(&args.rank_by.value(&outcomes[b].report))
            .then(a.cmp(&b))
    });

    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let csv_path = dir.join("explore.csv");
        let mut file = AtomicFile::create(&csv_path)?;
        write_csv(&mut file, &outcomes)
            .with_context(|| format!("writing {}", csv_path.display()))?;
        file.commit()?;
        let gb = stems::model::units::human_bits(accelerator.cores[0].global_sram().size_bits);
        if let Space::Hybrid {
            batch_from,
            fuse_from,
        } = space
        {
            let best_dram = best(&outcomes, stems::explore::Rank::DramEnergy);
            for (file, what, value, pick) in [
                ("dram_energy.svg", "DRAM energy (µJ)", 0, best_dram),
                (
                    "energy.svg",
                    "energy (µJ)",
                    1,
                    best(&outcomes, stems::explore::Rank::Energy),
                ),
            ] {
                let cells: Vec<stems::report::plot::Cell> = outcomes
                    .iter()
                    .map(|o| {
                        let v = if value == 0 {
                            o.report.energy_pj.dram
                        } else {
                            o.report.energy_pj.total
                        };
                        stems::report::plot::Cell {
                            x: o.point.batched,
                            y: o.point.fused,
                            value: v / 1e6,
                            label: format!("{:.1}", v / 1e6),
                        }
                    })
                    .collect();
                stems::report::plot::heatmap(
                    &dir.join(file),
                    &format!("{} on {gb}: {what} per inference", workload.name),
                    &format!("blocks time-batched (from the {batch_from})"),
                    &format!("blocks layer-fused (from the {fuse_from})"),
                    n,
                    &cells,
                    pick.map(|i| (outcomes[i].point.batched, outcomes[i].point.fused)),
                )?;
            }
        }
        let mut bars: Vec<(String, &stems::report::cost::Report)> = Vec::new();
        if let Some(b) = baseline {
            bars.push(("ST-LBL".into(), &outcomes[b].report));
        }
        if let Some(b) = best_index
            && Some(b) != baseline
        {
            bars.push(("best".into(), &outcomes[b].report));
        }
        stems::report::plot::breakdown(
            &dir.join("breakdown.svg"),
            &format!("{} on {gb}: energy per inference", workload.name),
            &bars,
        )?;
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            workload: &'a str,
            global_sram_bits: u64,
            space: Space,
            rank_by: stems::explore::Rank,
            schedules: usize,
            seconds: f64,
            best: Option<&'a stems::explore::Outcome>,
            baseline: Option<&'a stems::explore::Outcome>,
        }
        let summary = Summary {
            workload: &workload.name,
            global_sram_bits: accelerator.cores[0].global_sram().size_bits,
            space,
            rank_by: args.rank_by,
            schedules: outcomes.len(),
            seconds,
            best: best_index.map(|i| &outcomes[i]),
            baseline: baseline.map(|i| &outcomes[i]),
        };
        stems::report::output::write(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        eprintln!(
            "wrote explore.csv, summary.json, breakdown.svg{} to {}",
            if matches!(space, Space::Hybrid { .. }) {
                ", dram_energy.svg, energy.svg"
            } else {
                ""
            },
            dir.display()
        );
    }

    match args.format {
        Format::Table => {
            outln!(
                "{} schedules of {} on {} global SRAM in {:.2} s ({:.0} schedules/s), ranked by {:?}",
                outcomes.len(),
                workload.name,
                stems::model::units::human_bits(accelerator.cores[0].global_sram().size_bits),
                seconds,
                outcomes.len() as f64 / seconds.max(1e-9),
                args.rank_by
            );
            let base = baseline.map(|b| &outcomes[b].report);
            let mut t = Table::new([
                "rank",
                "schedule",
                "energy",
                "DRAM energy",
                "DRAM traffic",
                "latency",
                "DRAM ×",
                "energy ×",
            ]);
            for (k, &i) in ranked.iter().take(args.top).enumerate() {
                let r = &outcomes[i].report;
                t.row([
                    (k + 1).to_string(),
                    outcomes[i].point.spec.to_string(),
                    stems::model::units::human_energy_pj(r.energy_pj.total),
                    stems::model::units::human_energy_pj(r.energy_pj.dram),
                    stems::model::units::human_bits(r.dram_bits.total),
                    thousands(r.latency_cycles),
                    base.map_or("-".into(), |b| {
                        format!(
                            "{:.2}",
                            b.dram_bits.total as f64 / r.dram_bits.total.max(1) as f64
                        )
                    }),
                    base.map_or("-".into(), |b| {
                        format!("{:.2}", b.energy_pj.total / r.energy_pj.total)
                    }),
                ]);
            }
            out!("{}", t.render());
            if let Space::Hybrid {
                batch_from,
                fuse_from,
            } = space
            {
                outln!(
                    "\nDRAM energy per inference (µJ); columns: blocks time-batched from the {batch_from}, rows: blocks fused from the {fuse_from}"
                );
                let mut header = vec!["fused \\ batched".to_string()];
                header.extend((0..=n).map(|b| b.to_string()));
                let mut t = Table::new(header);
                for fused in 0..=n {
                    let mut row = vec![fused.to_string()];
                    for batched in 0..=n {
                        let v = outcomes
                            .iter()
                            .find(|o| o.point.batched == batched && o.point.fused == fused)
                            .map_or(f64::NAN, |o| o.report.energy_pj.dram / 1e6);
                        row.push(format!("{v:.1}"));
                    }
                    t.row(row);
                }
                out!("{}", t.render());
            }
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                space: Space,
                rank_by: stems::explore::Rank,
                seconds: f64,
                best: Option<usize>,
                outcomes: &'a [stems::explore::Outcome],
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    space,
                    rank_by: args.rank_by,
                    seconds,
                    best: best_index,
                    outcomes: &outcomes,
                })?
            );
        }
    }
    Ok(())
}
