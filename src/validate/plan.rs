//! What a validation runs: configurations (the models and options at each global SRAM
//! size) and the schedules simulated on each. A scenario's experiments make a plan too
//! (`scenario::Scenario::validation_plan`).

use super::journal::JournalHeader;
use super::runs::{Config, Run};
use crate::model::units::human_bits;
use crate::model::{ModelError, Overrides, Size};
use crate::rundir::{Shard, fingerprint};
use crate::schedule::space::{Skipped, Space};
use crate::schedule::{Allocation, ScheduleError, ScheduleSpec, SchedulerOptions, SpecError};
use crate::sim::SpikeSource;
use crate::spikes::SpikeError;
use std::path::Path;
use std::sync::Arc;

/// Runs beyond this are refused: each is a whole simulation (0.1–2 s for the bundled
/// networks), so a larger sweep is hours of work that deserves to be asked for in parts.
pub const MAX_RUNS: usize = 4_096;

/// Why a plan cannot be made: all bad input.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Spikes(#[from] SpikeError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("--allocate: {0}")]
    Allocation(ScheduleError),
    #[error(
        "that space has {0} schedules per size and every run is a simulation (limit {MAX_RUNS} runs); use the hybrid space or list schedules"
    )]
    SpaceTooLarge(u128),
    #[error(
        "{0} runs asked for and every run is a simulation (limit {MAX_RUNS}); split the sizes or schedules over several invocations"
    )]
    TooManyRuns(usize),
}

/// Configurations and the runs on them.
#[derive(Debug, Default)]
pub struct Plan {
    pub configs: Vec<Config>,
    pub runs: Vec<Run>,
    /// Schedules of the asked-for space that cannot run on the workload, not run.
    pub skipped: Skipped,
}

impl Plan {
    /// Adds a configuration and its schedules.
    pub fn push(&mut self, config: Config, specs: impl IntoIterator<Item = ScheduleSpec>) {
        let at = self.configs.len();
        self.runs
            .extend(specs.into_iter().map(|spec| Run { config: at, spec }));
        self.configs.push(config);
    }

    /// What a run directory of this plan is for: the runs and a hash of their models
    /// and options (loaded, so a scenario's models count too). `layout` is how the
    /// results are summarised (resuming with another layout is refused).
    pub fn journal_header(&self, shard: Option<Shard>, layout: serde_json::Value) -> JournalHeader {
        let models: Vec<String> = self
            .configs
            .iter()
            .map(|c| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    c.label, c.workload, c.accelerator, c.allocation, c.options
                )
            })
            .collect();
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|r| format!("{} {}", r.config, r.spec))
            .collect();
        JournalHeader {
            kind: "validate".into(),
            points: runs.len(),
            shard,
            fingerprint: fingerprint(&[
                ("stems version", env!("CARGO_PKG_VERSION").as_bytes()),
                ("models and options", models.join("\n").as_bytes()),
                ("runs", runs.join("\n").as_bytes()),
            ]),
            layout,
        }
    }
}

/// A grid of runs from a workload and a hardware file: the same schedules at each
/// global SRAM size.
pub struct Grid<'a> {
    pub workload: &'a Path,
    pub hardware: &'a Path,
    /// Global SRAM sizes (`None`: the hardware file's).
    pub sizes: Vec<Option<Size>>,
    /// Applied at every size (their `global_sram` is the size's).
    pub overrides: Overrides,
    /// A recording of real inferences: the analytic half takes its densities, the
    /// simulator its spikes.
    pub spikes: Option<&'a Path>,
    /// Schedules as written by the user, and a space whose every schedule runs.
    pub schedules: &'a [String],
    pub space: Option<Space>,
    /// `LAYER=CORE` or `block:N=CORE` entries (default: the first able core).
    pub allocation: Option<&'a str>,
    pub options: SchedulerOptions,
}

/// Loads the models at each size and lists the runs, refusing more than [`MAX_RUNS`].
pub fn plan_grid(grid: &Grid) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for &gb in &grid.sizes {
        let (config, specs) = config_at(grid, gb, &mut plan.skipped)?;
        plan.push(config, specs);
    }
    if plan.runs.len() > MAX_RUNS {
        return Err(PlanError::TooManyRuns(plan.runs.len()));
    }
    Ok(plan)
}

/// One size's configuration and schedules (of the space, those that can run: the
/// others are counted in `skipped`; a listed schedule that cannot run is an error when
/// it is scheduled).
fn config_at(
    grid: &Grid,
    gb: Option<Size>,
    skipped: &mut Skipped,
) -> Result<(Config, Vec<ScheduleSpec>), PlanError> {
    let overrides = Overrides {
        global_sram: gb,
        ..grid.overrides.clone()
    };
    let (mut w, acc) = crate::model::load(grid.workload, grid.hardware, &overrides)?;
    let spikes = match grid.spikes {
        Some(path) => SpikeSource::Given(Arc::new(crate::spikes::record::attach(&mut w, path)?)),
        None => SpikeSource::default(),
    };
    let mut specs: Vec<ScheduleSpec> = grid
        .schedules
        .iter()
        .map(|s| ScheduleSpec::parse(s, w.num_blocks, w.timesteps))
        .collect::<Result<_, _>>()?;
    if let Some(space) = grid.space {
        let size = space.size(w.num_blocks);
        if size > MAX_RUNS as u128 {
            return Err(PlanError::SpaceTooLarge(size));
        }
        specs.extend(
            space
                .points(w.num_blocks)
                .into_iter()
                .map(|p| p.spec)
                .filter(|spec| skipped.keeps(&w, spec)),
        );
    }
    let allocation = match grid.allocation {
        Some(a) => Allocation::parse(a, &w, &acc).map_err(PlanError::Allocation)?,
        None => Allocation::first_able(&w, &acc),
    };
    let label = gb.map_or_else(
        || human_bits(acc.cores[0].global_sram().size_bits),
        |g| g.to_string(),
    );
    let config = Config {
        label,
        workload: w,
        accelerator: acc,
        allocation,
        options: grid.options,
        spikes,
    };
    Ok((config, specs))
}
