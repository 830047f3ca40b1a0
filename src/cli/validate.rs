//! `stems validate`: schedules, simulates and verifies many runs, and shows where the
//! analytic prediction misses the measurement, by cause.

use super::explore::parse_side;
use super::journaled::{JournalArgs, run_grid};
use super::{Format, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::cost::StallCause;
use stems::mapping::Objective;
use stems::model::limits::MAX_JOBS;
use stems::model::units::{human_bits, thousands};
use stems::model::{Overrides, Size};
use stems::report::Table;
use stems::rundir::fingerprint;
use stems::schedule::{Allocation, ScheduleSpec, SchedulerOptions};
use stems::validate::journal::JournalHeader;
use stems::validate::runs::{self, Config, Row, Run, Summary};

#[derive(Args)]
pub struct ValidateArgs {
    /// Workload TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "scenario"
    )]
    pub workload: Option<PathBuf>,
    /// Accelerator TOML file.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FILE",
        required_unless_present = "scenario"
    )]
    pub hardware: Option<PathBuf>,
    /// Global SRAM sizes to validate at, comma-separated (default: the hardware file's).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub gb: Vec<Size>,
    /// Blocks whose neuron state is removed (the paper's SEW-X ablation), e.g. 0,1.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub stateless_blocks: Vec<usize>,
    /// Set an accelerator field by path, repeatable (see `stems simulate --help`).
    #[arg(long = "set", allow_hyphen_values = true, value_name = "PATH=VALUE")]
    pub set: Vec<stems::model::overrides::FieldSet>,
    /// Scale every feature tensor's density by FACTOR (on a dense workload, the
    /// density), as on `evaluate`.
    #[arg(long, allow_hyphen_values = true, value_name = "FACTOR")]
    pub activity: Option<f64>,
    /// A recording of real inferences (.npz): the analytic half takes its densities,
    /// the simulator its spikes.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE.npz")]
    pub spikes: Option<PathBuf>,
    /// A schedule to validate (repeatable): one `<time>-<space>` entry for every block
    /// or one per block, e.g. --schedule ST-LBL --schedule TB-LF,TB-LBL.
    #[arg(long = "schedule", value_name = "SPEC", allow_hyphen_values = true)]
    pub schedules: Vec<String>,
    /// Validate every schedule of a space: the paper's hybrid (N+1)² grid, or all 4^N
    /// block cuts.
    #[arg(long, allow_hyphen_values = true, value_parser = ["hybrid", "exhaustive"])]
    pub space: Option<String>,
    /// Hybrid space: apply time batching to blocks counted from this end.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub batch_from: stems::explore::Side,
    /// Hybrid space: apply layer fusion to blocks counted from this end.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub fuse_from: stems::explore::Side,
    /// Layer-to-core allocation: LAYER=CORE or block:N=CORE, comma-separated.
    #[arg(long, allow_hyphen_values = true, value_name = "LIST")]
    pub allocate: Option<String>,
    /// A scenario file: every experiment's baseline and schedules, on its models.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE", conflicts_with_all = ["workload", "hardware", "gb", "stateless_blocks", "set", "activity", "spikes", "schedules", "space", "allocate", "eviction"])]
    pub scenario: Option<PathBuf>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: super::EvictionArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// How many of the worst-predicted runs to list.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 3,
        value_name = "N"
    )]
    pub worst: usize,
    /// Also exit 1 when a run's latency falls outside the agreement band (−5 … +15 % of
    /// the prediction) or shows waste; a disagreement on an exact quantity always does.
    #[arg(long)]
    pub strict: bool,
    /// The band measured latency must fall in, in percent of the prediction.
    #[arg(long, allow_hyphen_values = true, value_name = "LO..HI", default_value = "-5..15", value_parser = super::simulate::parse_band)]
    pub latency_band: (f64, f64),
    /// Write validation.csv, summary.json and predicted_vs_measured.svg here, and each
    /// run's row as it finishes (rows.jsonl, for --resume and `stems merge`).
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs beyond this are refused: each is a whole simulation (0.1–2 s for the bundled
/// networks), so a larger sweep is hours of work that deserves to be asked for in parts.
const MAX_RUNS: usize = 4_096;

/// The configurations and runs the arguments ask for.
fn plan(args: &ValidateArgs) -> Result<(Vec<Config>, Vec<Run>)> {
    if let Some(path) = &args.scenario {
        let scenario = stems::scenario::Scenario::load(path)?;
        let mut configs = Vec::new();
        let mut runs = Vec::new();
        for x in scenario.experiments {
            for spec in std::iter::once(&x.baseline).chain(&x.schedules) {
                runs.push(Run {
                    config: configs.len(),
                    spec: spec.clone(),
                });
            }
            configs.push(Config {
                label: x.name,
                workload: x.workload,
                accelerator: x.accelerator,
                allocation: x.allocation,
                options: SchedulerOptions {
                    prefetch: x.prefetch,
                    objective: Objective::Energy,
                    eviction: x.eviction,
                },
                spikes: x.spikes,
            });
        }
        return Ok((configs, runs));
    }
    let (Some(workload), Some(hardware)) = (&args.workload, &args.hardware) else {
        bail!(UsageError(
            "give --workload and --hardware, or --scenario".into()
        ));
    };
    if args.schedules.is_empty() && args.space.is_none() {
        bail!(UsageError(
            "give the schedules to validate: --schedule SPEC (repeatable) or --space hybrid".into()
        ));
    }
    let sizes: Vec<Option<Size>> = if args.gb.is_empty() {
        vec![None]
    } else {
        args.gb.iter().copied().map(Some).collect()
    };
    let mut configs = Vec::new();
    let mut runs = Vec::new();
    for gb in sizes {
        let (mut w, acc) = stems::model::load(
            workload,
            hardware,
            &Overrides {
                global_sram: gb,
                stateless_blocks: args.stateless_blocks.clone(),
                hardware: args.set.clone(),
                activity: args.activity,
                layer_activity: Vec::new(),
            },
        )?;
        let spikes = match &args.spikes {
            Some(path) => stems::sim::SpikeSource::Given(std::sync::Arc::new(
                stems::spikes::record::attach(&mut w, path)?,
            )),
            None => stems::sim::SpikeSource::default(),
        };
        let mut specs: Vec<ScheduleSpec> = args
            .schedules
            .iter()
            .map(|s| ScheduleSpec::parse(s, w.num_blocks, w.timesteps))
            .collect::<Result<_, _>>()?;
        if let Some(space) = &args.space {
            let space = match space.as_str() {
                "exhaustive" => stems::explore::Space::Exhaustive,
                _ => stems::explore::Space::Hybrid {
                    batch_from: args.batch_from,
                    fuse_from: args.fuse_from,
                },
            };
            let size = space.size(w.num_blocks);
            if size > MAX_RUNS as u128 {
                bail!(UsageError(format!(
                    "that space has {size} schedules per size and every run is a simulation (limit {MAX_RUNS} runs); use the hybrid space or list schedules"
                )));
            }
            specs.extend(space.points(w.num_blocks).into_iter().map(|p| p.spec));
        }
        let allocation = match &args.allocate {
            Some(a) => Allocation::parse(a, &w, &acc)
                .map_err(|e| UsageError(format!("--allocate: {e}")))?,
            None => Allocation::first_able(&w, &acc),
        };
        runs.extend(specs.into_iter().map(|spec| Run {
            config: configs.len(),
            spec,
        }));
        configs.push(Config {
            label: gb.map_or_else(
                || human_bits(acc.cores[0].global_sram().size_bits),
                |g| g.to_string(),
            ),
            workload: w,
            accelerator: acc,
            allocation,
            options: SchedulerOptions {
                prefetch: !args.no_prefetch,
                objective: Objective::Energy,
                eviction: args.eviction.eviction,
            },
            spikes,
        });
    }
    if runs.len() > MAX_RUNS {
        bail!(UsageError(format!(
            "{} runs asked for and every run is a simulation (limit {MAX_RUNS}); split the sizes or schedules over several invocations",
            runs.len()
        )));
    }
    Ok((configs, runs))
}

pub fn run(args: ValidateArgs) -> Result<()> {
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let (configs, runs) = plan(&args)?;
    let header = header(&configs, &runs, &args);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let started = std::time::Instant::now();
    let rows = run_grid(&args.journal, &args.out, &header, "runs", |todo, done| {
        let picked: Vec<Run> = todo.iter().map(|&i| runs[i].clone()).collect();
        pool.install(|| runs::run_each(&configs, &picked, |k, row| done(todo[k], row)))?;
        Ok(())
    })?;
    let rows: Vec<Row> = rows.into_values().collect();
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary::new(&rows, args.worst, args.latency_band);
    if let Some(dir) = args.journal.dir(&args.out) {
        write_outputs(dir, &rows, &summary)?;
    }
    match args.format {
        Format::Table => print_table(&configs, &summary, seconds)?,
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                summary: &'a Summary,
                seconds: f64,
                runs: &'a [Row],
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    summary: &summary,
                    seconds,
                    runs: &rows,
                })?
            );
        }
    }
    if summary.failed > 0 {
        bail!(
            "{} of {} runs failed verification (see the failures above)",
            summary.failed,
            summary.runs
        );
    }
    if !summary.disagreements.is_empty() {
        bail!(
            "{} of {} runs: the halves disagree on a quantity they compute alike (see above)",
            summary.disagreements.len(),
            summary.runs
        );
    }
    if args.strict && !(summary.outside_latency_band.is_empty() && summary.wasteful.is_empty()) {
        bail!(
            "--strict: {} runs outside the latency band, {} with waste (listed above)",
            summary.outside_latency_band.len(),
            summary.wasteful.len()
        );
    }
    Ok(())
}

/// What a validate run directory is for: the runs and a hash of their models and
/// options (loaded, so a scenario's models count too).
fn header(configs: &[Config], runs: &[Run], args: &ValidateArgs) -> JournalHeader {
    let mut models = Vec::new();
    for c in configs {
        models.push(format!(
            "{} {:?} {:?} {:?} {:?}",
            c.label, c.workload, c.accelerator, c.allocation, c.options
        ));
    }
    let runs: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {}", r.config, r.spec))
        .collect();
    JournalHeader {
        kind: "validate".into(),
        points: runs.len(),
        shard: args.journal.shard,
        fingerprint: fingerprint(&[
            ("stems version", env!("CARGO_PKG_VERSION").as_bytes()),
            ("models and options", models.join("\n").as_bytes()),
            ("runs", runs.join("\n").as_bytes()),
        ]),
        layout: serde_json::json!({ "worst": args.worst, "latency_band": args.latency_band }),
    }
}

/// Writes validation.csv, summary.json and predicted_vs_measured.svg into `dir`.
pub fn write_outputs(dir: &std::path::Path, rows: &[Row], summary: &Summary) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv_path = dir.join("validation.csv");
    let mut file = stems::output::AtomicFile::create(&csv_path)?;
    runs::write_csv(&mut file, rows).with_context(|| format!("writing {}", csv_path.display()))?;
    file.commit()?;
    stems::output::write(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )?;
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let Some(m) = &r.measured else { continue };
        let point = (r.predicted.latency_cycles as f64, m.latency_cycles as f64);
        match groups.iter_mut().find(|(label, _)| *label == r.config) {
            Some((_, points)) => points.push(point),
            None => groups.push((r.config.clone(), vec![point])),
        }
    }
    let mut workloads: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    workloads.dedup();
    stems::report::plot::scatter(
        &dir.join("predicted_vs_measured.svg"),
        &format!(
            "{}: predicted vs simulated latency{}",
            workloads.join(", "),
            summary
                .rank_agreement
                .overall
                .and_then(|a| a.latency.kendall_tau)
                .map_or(String::new(), |t| format!(" (Kendall τ {t:.2})"))
        ),
        "predicted latency (cycles)",
        "measured latency (cycles)",
        &groups,
    )?;
    eprintln!(
        "wrote validation.csv, summary.json, predicted_vs_measured.svg to {}",
        dir.display()
    );
    Ok(())
}

/// The rank agreement overall and, with several configurations, per configuration.
fn print_rank_agreement(r: &stems::validate::rank::RankSummary, labels: &[&str]) -> Result<()> {
    let Some(overall) = &r.overall else {
        return Ok(());
    };
    outln!("rank agreement (analytic vs simulated order): {overall}");
    if r.by_config.len() > 1 {
        for label in labels {
            if let Some(a) = r.by_config.get(*label) {
                outln!("  {label}: {a}");
            }
        }
    }
    Ok(())
}

fn print_table(configs: &[Config], s: &Summary, seconds: f64) -> Result<()> {
    let labels: Vec<&str> = configs.iter().map(|c| c.label.as_str()).collect();
    let workloads: std::collections::BTreeSet<&str> =
        configs.iter().map(|c| c.workload.name.as_str()).collect();
    outln!(
        "validated {} runs of {} ({}) in {seconds:.1} s: {} verified, {} failed",
        s.runs,
        workloads.into_iter().collect::<Vec<_>>().join(", "),
        labels.join(", "),
        s.verified,
        s.failed
    );
    let (lo, hi) = s.latency_band_percent;
    outln!(
        "agreement: {} runs disagree on an exact quantity, {} fall outside the latency band {lo:+.0} … {hi:+.0} %, {} show waste",
        s.disagreements.len(),
        s.outside_latency_band.len(),
        s.wasteful.len()
    );
    let listed = s.disagreements.iter().chain(&s.outside_latency_band);
    for f in listed.chain(&s.wasteful) {
        outln!("  {} {}: {}", f.config, f.schedule, f.failure);
    }
    if let Some(d) = s.latency_delta_percent {
        outln!(
            "latency Δ % (measured vs predicted): min {:+.2}  median {:+.2}  p90 {:+.2}  max {:+.2}",
            d.min,
            d.median,
            d.p90,
            d.max
        );
    }
    if let Some(d) = s.abs_latency_delta_percent {
        outln!(
            "|latency Δ| %: median {:.2}  p90 {:.2}  max {:.2}",
            d.median,
            d.p90,
            d.max
        );
    }
    outln!(
        "energy and DRAM traffic: largest |Δ| {:.4} % and {:.4} %",
        s.max_abs_energy_delta_percent,
        s.max_abs_dram_delta_percent
    );
    print_rank_agreement(&s.rank_agreement, &labels)?;
    if !s.dominant_causes.is_empty() {
        let causes: Vec<String> = s
            .dominant_causes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        outln!(
            "cause the prediction misses most, per run: {}",
            causes.join(", ")
        );
    }
    if !s.worst.is_empty() {
        outln!("\nworst-predicted runs (stall cycles: measured − predicted)");
        let mut header = vec![
            "config".to_string(),
            "schedule".into(),
            "predicted".into(),
            "measured".into(),
            "Δ %".into(),
            "dominant cause".into(),
        ];
        header.extend(StallCause::ALL.iter().map(|c| c.name().to_string()));
        let mut t = Table::new(header);
        for w in &s.worst {
            let mut row = vec![
                w.config.clone(),
                w.schedule.clone(),
                thousands(w.predicted_latency_cycles),
                thousands(w.measured_latency_cycles),
                format!("{:+.2}", w.latency_delta_percent),
                w.dominant_cause.clone().unwrap_or_else(|| "-".into()),
            ];
            row.extend(StallCause::ALL.iter().map(|c| {
                let d = w.stall_delta_cycles.get(c.name()).copied().unwrap_or(0);
                format!(
                    "{}{}",
                    if d < 0 { "-" } else { "+" },
                    thousands(d.unsigned_abs())
                )
            }));
            t.row(row);
        }
        out!("{}", t.render());
    }
    if !s.failures.is_empty() {
        outln!("\nruns the simulator refused");
        for f in &s.failures {
            outln!("  {} {}: {}", f.config, f.schedule, f.failure);
        }
    }
    Ok(())
}
