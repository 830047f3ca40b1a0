//! `stems run`: a scenario file.

use super::Format;
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
    let total: usize = scenario
        .experiments
        .iter()
        .map(|x| 1 + x.schedules.len())
        .sum();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = stems::scenario::run(&scenario, |experiment, schedule| {
        bar.set_message(format!("{experiment}: {schedule}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, x) in result.experiments.iter().enumerate() {
            let bars: Vec<(String, &stems::report::cost::Report)> = x
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
    let failed = result.failed_verification();
    if failed > 0 {
        anyhow::bail!("{failed} schedule(s) failed verification on the simulator");
    }
    Ok(())
}
