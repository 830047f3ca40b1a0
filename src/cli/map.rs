//! `stems map`: the best loop nest of one computation tile.

use super::{Format, ModelFiles, UsageError, parse_objective};
use anyhow::{Result, bail};
use clap::Args;
use stems::mapping::Objective;
use stems::mapping::alone::map_alone;
use stems::tiling::TileRegion;

#[derive(Args)]
pub struct MapArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// The layer to map.
    #[arg(long, allow_hyphen_values = true, value_name = "NAME")]
    pub layer: String,
    /// Timesteps in the tile (1 = single timestep, T = the whole inference).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value_t = 1
    )]
    pub timesteps: u32,
    /// The tile's first timestep (0 = the inference starts: no state to load).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "T",
        default_value_t = 0
    )]
    pub first_timestep: u32,
    /// Output lines in the tile (cut along OX as a layer-fused tile); default: all.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub lines: Option<u64>,
    /// What to minimise: energy, latency or edp.
    #[arg(long, allow_hyphen_values = true, default_value = "energy", value_parser = parse_objective)]
    pub objective: Objective,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: MapArgs) -> Result<()> {
    let (workload, accelerator) = args.models.load()?;
    let layer = workload.layer_by_name(&args.layer).ok_or_else(|| {
        let names: Vec<&str> = workload.layers.iter().map(|l| l.name.as_str()).collect();
        UsageError(format!(
            "--layer {}: no such layer in {} (layers: {})",
            args.layer,
            workload.name,
            names.join(", ")
        ))
    })?;
    let t_end = args.first_timestep.checked_add(args.timesteps);
    if args.timesteps == 0 || t_end.is_none_or(|e| e > workload.timesteps) {
        bail!(UsageError(format!(
            "--timesteps {} from --first-timestep {} does not fit the workload's {} timesteps",
            args.timesteps, args.first_timestep, workload.timesteps
        )));
    }
    let mut region = TileRegion::whole_layer(
        layer,
        args.first_timestep..args.first_timestep + args.timesteps,
    );
    if let Some(lines) = args.lines {
        if lines == 0 || lines > layer.dims.ox {
            bail!(UsageError(format!(
                "--lines {lines}: layer {} has {} output lines (OX)",
                layer.name, layer.dims.ox
            )));
        }
        region.ox = 0..lines;
    }
    let mapped = map_alone(&workload, &accelerator, layer, region, args.objective)?;
    match args.format {
        Format::Table => out!("{}", mapped.render_table()),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&mapped)?),
    }
    Ok(())
}
