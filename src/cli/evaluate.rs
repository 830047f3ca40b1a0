//! `stems evaluate`: a schedule's analytic cost.

use super::{Format, ModelFiles, ScheduleArgs};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
    /// Write the Schedule (JSON) for `stems simulate --replay`.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE")]
    pub save_schedule: Option<PathBuf>,
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let schedule = args.models.plan(&args.schedule)?;
    if let Some(path) = &args.save_schedule {
        schedule.save(path)?;
        eprintln!("schedule written to {}", path.display());
    }
    let array = stems::report::array::by_layer(&schedule);
    match args.format {
        Format::Table => {
            outln!("{}", schedule.predicted.render_table().trim_end());
            outln!("\nPE array per layer (cycles; other = waiting for memory or first data)");
            out!("{}", stems::report::array::render(&array));
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                report: &'a stems::cost::Report,
                array_by_layer: &'a [stems::report::array::LayerArray],
            }
            outln!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    report: &schedule.predicted,
                    array_by_layer: &array,
                })?
            )
        }
    }
    Ok(())
}
