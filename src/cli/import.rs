//! `stems import`: a NIR graph as a workload TOML (see `stems::import`).

use super::UsageError;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::import::{ImportError, ImportOptions, nir_file, to_workload_toml};

#[derive(Args)]
pub struct ImportArgs {
    /// The NIR file (HDF5, as the Python `nir` package writes it).
    #[arg(value_name = "FILE.nir")]
    pub file: PathBuf,
    /// Write the workload here (default: standard output). Nothing is written when the
    /// import fails.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE.toml")]
    pub out: Option<PathBuf>,
    /// Timesteps per inference (NIR does not carry them).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 1,
        value_name = "T"
    )]
    pub timesteps: u32,
    /// The workload's name (default: the file's stem).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub name: Option<String>,
    /// Bits of weights, outputs (spikes), neuron state and accumulators.
    #[arg(long, allow_hyphen_values = true, default_value = "w=4,o=1,v=12,acc=16", value_parser = parse_precision)]
    pub precision: [u32; 4],
    /// Bits per input value (1 = spikes).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 1,
        value_name = "B"
    )]
    pub input_bits: u32,
    /// One block per imported layer, comma-separated, overriding the automatic blocks.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_delimiter = ',',
        value_name = "LIST"
    )]
    pub blocks: Option<Vec<usize>>,
}

fn parse_precision(s: &str) -> Result<[u32; 4], String> {
    let mut p = [4, 1, 12, 16];
    for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not NAME=BITS (w, o, v, acc)"))?;
        let bits: u32 = v
            .trim()
            .parse()
            .ok()
            .filter(|b| (1..=64).contains(b))
            .ok_or_else(|| format!("{k}: '{v}' is not a bit width in 1..=64"))?;
        let slot = ["w", "o", "v", "acc"]
            .iter()
            .position(|n| *n == k.trim())
            .ok_or_else(|| format!("'{k}' is not w, o, v or acc"))?;
        p[slot] = bits;
    }
    Ok(p)
}

pub fn run(args: ImportArgs) -> Result<()> {
    if !(1..=4096).contains(&args.timesteps) {
        bail!(UsageError("--timesteps must be 1..=4096".into()));
    }
    if !(1..=64).contains(&args.input_bits) {
        bail!(UsageError("--input-bits must be 1..=64".into()));
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.file
            .file_stem()
            .map_or("imported".into(), |s| s.to_string_lossy().into_owned())
    });
    let options = ImportOptions {
        name,
        timesteps: args.timesteps,
        precision: args.precision,
        input_bits: args.input_bits,
        blocks: args.blocks.clone(),
    };
    let bad = |e: ImportError| match e {
        ImportError::File { .. } => UsageError(e.to_string()),
        _ => UsageError(format!("{}: {e}", args.file.display())),
    };
    let graph = nir_file::read(&args.file).map_err(bad)?;
    let text = to_workload_toml(&graph, &options).map_err(bad)?;
    match &args.out {
        Some(path) => {
            stems::output::write(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => out!("{text}"),
    }
    eprintln!("{}", stems::import::summary(&text));
    Ok(())
}
