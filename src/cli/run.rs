//! `stems run`: a scenario file.

use super::Format;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// A scenario TOML file (see scenarios/).
    pub scenario: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
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
    match args.format {
        Format::Table => println!("{}", result.render_table().trim_end()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
    }
    Ok(())
}
