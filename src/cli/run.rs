//! `stems run`: a scenario file.

use super::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// A scenario TOML file (see scenarios/).
    pub scenario: PathBuf,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: RunFormat,
    /// Write results.json and, per experiment, a stacked energy breakdown of every
    /// schedule (the paper's figures 7, 9 and 11) into this directory.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How `run` prints its results.
#[derive(Clone, Copy, clap::ValueEnum, Default)]
pub enum RunFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document for programs.
    Json,
    /// A markdown table per experiment list and sweep (what README.md shows).
    Markdown,
}

pub fn run(args: RunArgs) -> Result<()> {
    let scenario = stems::scenario::Scenario::load(&args.scenario)?;
    let total: usize = scenario.experiments.iter().map(|x| x.run_count()).sum();
    let mut failed = 0;
    let mut experiments = None;
    if total > 0 {
        let (result, f) = run_experiments(&args, &scenario, total)?;
        experiments = Some(result);
        failed += f;
    }
    let mut sweeps = Vec::new();
    for (i, (name, spec)) in scenario.sweeps.iter().enumerate() {
        let result = run_sweep(&args, i, name, spec)?;
        failed += result.failed();
        sweeps.push((name.clone(), result));
    }
    if let RunFormat::Markdown = args.format {
        let text = stems::report::scenario::render_markdown(experiments.as_ref(), &sweeps);
        outln!("{}", text.trim_end());
    }
    if failed > 0 {
        anyhow::bail!("{failed} schedule(s) failed verification on the simulator");
    }
    Ok(())
}

fn run_experiments(
    args: &RunArgs,
    scenario: &stems::scenario::Scenario,
    total: usize,
) -> Result<(stems::scenario::ScenarioResult, usize)> {
    let progress = Progress::new(total as u64, "runs");
    let result = stems::scenario::run(scenario, |_, _| progress.inc())?;
    progress.finish();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, x) in result.experiments.iter().enumerate() {
            let bars: Vec<(String, &stems::cost::Report)> = x
                .runs
                .iter()
                .map(|r| (stems::schedule::spec::compact(&r.schedule), &r.predicted))
                .collect();
            let file = dir.join(format!("experiment{}_breakdown.svg", i + 1));
            stems::report::plot::breakdown(&file, &x.name, &bars)?;
        }
        let json = dir.join("results.json");
        stems::output::write(&json, serde_json::to_string_pretty(&result)?.as_bytes())?;
        eprintln!(
            "wrote results.json and the breakdown pictures to {}",
            dir.display()
        );
    }
    match args.format {
        RunFormat::Table => outln!("{}", result.render_table().trim_end()),
        RunFormat::Json => outln!("{}", serde_json::to_string_pretty(&result)?),
        RunFormat::Markdown => {} // printed with the sweeps, in one piece
    }
    let failed = result.failed_verification();
    Ok((result, failed))
}

/// One `[[sweep]]` of the scenario; with `--out`, its files go to `DIR/sweepN`.
fn run_sweep(
    args: &RunArgs,
    index: usize,
    name: &str,
    spec: &stems::hardware_sweep::SweepSpec,
) -> Result<stems::hardware_sweep::SweepResult> {
    let total = spec.shape.len();
    let progress = Progress::new(total as u64, "points");
    let result = stems::hardware_sweep::run(spec.clone(), || progress.inc())
        .map_err(super::sweep::bad_input)?;
    progress.finish();
    if let Some(dir) = &args.out {
        let dir = dir.join(format!("sweep{}", index + 1));
        let written = result.write(&dir)?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    match args.format {
        RunFormat::Table => outln!("\nsweep '{name}'\n{}", result.render_table().trim_end()),
        RunFormat::Json => outln!("{}", result.summary_json()?),
        RunFormat::Markdown => {}
    }
    Ok(result)
}
