//! Arguments and helpers the subcommands share.

/// Writes to stdout, returning the error instead of panicking: a closed stdout
/// (`stems … | head`) then ends the command quietly (see `main`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `out!` with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod allocate;
pub mod evaluate;
pub mod explore;
pub mod import;
pub mod inspect;
pub mod journaled;
pub mod map;
pub mod merge;
pub mod progress;
pub mod run;
pub mod search;
pub mod simulate;
pub mod sweep;
pub mod validate;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use stems::mapping::{Mapper, Objective};
use stems::model::{Accelerator, HardwareOverrides, Size, Workload};
use stems::schedule::{Allocation, Schedule, ScheduleSpec, SchedulerOptions};
use stems::spikes::Spikes;

#[derive(Clone, Copy, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document for programs.
    Json,
}

#[derive(Args)]
pub struct ModelOverrides {
    /// Global SRAM size of every core, e.g. 128KiB or 1MiB (banks and bandwidth follow).
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
    pub gb: Option<Size>,
    /// Blocks whose neuron state is removed (the paper's SEW-X ablation), e.g. 0,1.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub stateless_blocks: Vec<usize>,
    /// Set an accelerator field by path, repeatable: dram.bw_bits=32,
    /// core*.input_lb.size=32KiB, core0.pe_array.rows=8 (see models/FORMAT.md).
    #[arg(long = "set", allow_hyphen_values = true, value_name = "PATH=VALUE")]
    pub set: Vec<stems::model::overrides::FieldSet>,
    /// Scale every feature tensor's density by FACTOR (capped at 1); on a workload
    /// that states no activity (dense), FACTOR is the density, e.g. 0.07.
    #[arg(long, allow_hyphen_values = true, value_name = "FACTOR")]
    pub activity: Option<f64>,
    /// A recording of real inferences (.npz, see models/FORMAT.md): the analytic half
    /// takes each layer's densities from it, the simulator its spikes.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE.npz")]
    pub spikes: Option<PathBuf>,
}

impl ModelOverrides {
    /// The overrides as the model stage takes them.
    pub fn model(&self) -> stems::model::Overrides {
        stems::model::Overrides {
            global_sram: self.gb,
            stateless_blocks: self.stateless_blocks.clone(),
            hardware: self.set.clone(),
            activity: self.activity,
            layer_activity: Vec::new(),
        }
    }

    fn hardware(&self) -> HardwareOverrides {
        HardwareOverrides {
            global_sram: self.gb,
        }
    }
}

/// How the simulator draws spikes where no recording is given.
#[derive(Args, Clone)]
pub struct SpikeArgs {
    /// How drawn spikes are spread: uniform (independent, the analytic half's
    /// assumption) or clustered (in spatial patches: busier lanes).
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub spike_pattern: stems::spikes::Pattern,
    /// Seed of the spike generator (same seed, same spikes).
    #[arg(
        long = "spike-seed",
        allow_hyphen_values = true,
        value_name = "N",
        default_value_t = 0
    )]
    pub spike_seed: u64,
}

impl SpikeArgs {
    /// The recorded spikes when given, else drawn by these options.
    pub fn source(&self, recorded: Option<Arc<Spikes>>) -> stems::sim::SpikeSource {
        match recorded {
            Some(s) => stems::sim::SpikeSource::Given(s),
            None => stems::sim::SpikeSource::Generated(stems::spikes::SpikeOptions {
                pattern: self.spike_pattern,
                seed: self.spike_seed,
            }),
        }
    }
}

#[derive(Args)]
pub struct ModelFiles {
    /// Workload TOML file.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE")]
    pub workload: PathBuf,
    /// Accelerator TOML file.
    #[arg(long, allow_hyphen_values = true, value_name = "FILE")]
    pub hardware: PathBuf,
    #[command(flatten)]
    pub overrides: ModelOverrides,
}

impl ModelFiles {
    fn load(&self) -> Result<(Workload, Accelerator)> {
        let (w, acc, _) = self.load_with_spikes()?;
        Ok((w, acc))
    }

    /// The models, with a recording's densities when `--spikes` gives one, and its
    /// spikes for the simulator.
    fn load_with_spikes(&self) -> Result<(Workload, Accelerator, Option<Arc<Spikes>>)> {
        let (mut w, acc) =
            stems::model::load(&self.workload, &self.hardware, &self.overrides.model())?;
        let spikes = match &self.overrides.spikes {
            Some(path) => Some(Arc::new(stems::spikes::record::attach(&mut w, path)?)),
            None => None,
        };
        Ok((w, acc, spikes))
    }

    /// Schedules the models with the cuts, allocation and options of `args`.
    fn plan(&self, args: &ScheduleArgs) -> Result<Schedule> {
        Ok(self.plan_with_spikes(args)?.0)
    }

    /// `plan`, and the recording's spikes when `--spikes` gives one.
    fn plan_with_spikes(&self, args: &ScheduleArgs) -> Result<(Schedule, Option<Arc<Spikes>>)> {
        let (workload, accelerator, spikes) = self.load_with_spikes()?;
        let spec = args.spec(&workload)?;
        let allocation = args.allocation(&workload, &accelerator)?;
        let mut mapper = Mapper::new(&accelerator);
        let started = std::time::Instant::now();
        let schedule = stems::schedule::schedule(
            &workload,
            &accelerator,
            &spec,
            &allocation,
            args.options(),
            &mut mapper,
        )?;
        tracing::info!(
            tiles = schedule.tiles.len(),
            unique_mappings = mapper.cached(),
            seconds = started.elapsed().as_secs_f64(),
            "scheduled"
        );
        Ok((schedule, spikes))
    }
}

#[derive(Args)]
pub struct ScheduleArgs {
    /// Cuts: one `<time>-<space>` entry for every block (ST-LBL) or one per block
    /// (TB-LF,TB-LF,TB-LBL,...). Time: ST, <n>T, TB; space: LBL, LF, LF<n>.
    #[arg(long, allow_hyphen_values = true, value_name = "SPEC", conflicts_with_all = ["time_batched", "fused"])]
    pub schedule: Option<String>,
    /// The authors' notation: one digit per block, 1 = time-batched (TB), 0 = ST.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DIGITS",
        requires = "fused"
    )]
    pub time_batched: Option<String>,
    /// The authors' notation: one digit per block, 1 = layer-fused (LF), 0 = LBL.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DIGITS",
        requires = "time_batched"
    )]
    pub fused: Option<String>,
    /// Layer-to-core allocation: LAYER=CORE or block:N=CORE, comma-separated
    /// (default: every layer on the first core that runs its operator).
    #[arg(long, allow_hyphen_values = true, value_name = "LIST")]
    pub allocate: Option<String>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    /// What the intra-layer mapper minimises: energy, latency or edp.
    #[arg(long, allow_hyphen_values = true, default_value = "energy", value_parser = parse_objective)]
    pub objective: Objective,
    #[command(flatten)]
    pub eviction: EvictionArg,
}

/// `--eviction`, on every command that schedules.
#[derive(clap::Args, Clone, Copy)]
pub struct EvictionArg {
    /// The memory manager's eviction policy: `cost` prices each candidate by the DRAM
    /// traffic its eviction causes (then Belady); `paper` is the paper's rule (fewest
    /// future uses, latest next use, largest).
    #[arg(
        long = "eviction",
        allow_hyphen_values = true,
        default_value = "cost",
        value_name = "POLICY"
    )]
    pub eviction: stems::schedule::Eviction,
}

impl ScheduleArgs {
    fn spec(&self, workload: &Workload) -> Result<ScheduleSpec> {
        use anyhow::Context;
        Ok(match (&self.schedule, &self.time_batched, &self.fused) {
            (Some(s), _, _) => ScheduleSpec::parse(s, workload.num_blocks, workload.timesteps)
                .context("--schedule")?,
            (None, Some(t), Some(f)) => ScheduleSpec::from_digits(t, f, workload.num_blocks)
                .context("--time-batched / --fused")?,
            _ => bail!(UsageError(
                "give --schedule SPEC, or --time-batched DIGITS with --fused DIGITS".into()
            )),
        })
    }

    fn allocation(&self, workload: &Workload, acc: &Accelerator) -> Result<Allocation> {
        Ok(match &self.allocate {
            Some(a) => Allocation::parse(a, workload, acc)
                .map_err(|e| UsageError(format!("--allocate: {e}")))?,
            None => Allocation::first_able(workload, acc),
        })
    }

    fn options(&self) -> SchedulerOptions {
        SchedulerOptions {
            prefetch: !self.no_prefetch,
            objective: self.objective,
            eviction: self.eviction.eviction,
        }
    }
}

pub fn parse_objective(s: &str) -> Result<Objective, String> {
    s.parse()
}

/// A command-line combination that makes no sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
