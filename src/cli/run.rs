//! `stems run`: a scenario file.

use super::Format;
use super::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// A scenario TOML file (see scenarios/).
    pub scenario: PathBuf,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
    /// Write results.json and, per experiment, a stacked energy breakdown of every
    /// schedule (the paper's figures 7, 9 and 11) into this directory.
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> Result<()> {
    let scenario = stems::scenario::Scenario::load(&args.scenario)?;
    let total: usize = scenario.experiments.iter().map(|x| x.run_count()).sum();
    let mut failed = 0;
    if total > 0 {
        failed += run_experiments(&args, &scenario, total)?;
    }
    for (i, (name, spec)) in scenario.sweeps.iter().enumerate() {
        failed += run_sweep(&args, i, name, spec)?;
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
) -> Result<usize> {
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
        stems::report::output::write(&json, serde_json::to_string_pretty(&result)?.as_bytes())?;
        eprintln!(
            "wrote results.json and the breakdown pictures to {}",
            dir.display()
        );
    }
    match args.format {
        Format::Table => outln!("{}", result.render_table().trim_end()),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&result)?),
    }
    Ok(result.failed_verification())
}

/// One `[[sweep]]` of the scenario; with `--out`, its files go to `DIR/sweepN`.
fn run_sweep(
    args: &RunArgs,
    index: usize,
    name: &str,
    spec: &stems::sweep::SweepSpec,
) -> Result<usize> {
    let total = spec.shape.len();
    let progress = Progress::new(total as u64, "points");
    let result =
        stems::sweep::run(spec.clone(), || progress.inc()).map_err(super::sweep::bad_input)?;
    progress.finish();
    if let Some(dir) = &args.out {
        let dir = dir.join(format!("sweep{}", index + 1));
        let written = result.write(&dir)?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    match args.format {
        Format::Table => outln!("\nsweep '{name}'\n{}", result.render_table().trim_end()),
        Format::Json => outln!("{}", result.summary_json()?),
    }
    Ok(result.failed())
}
