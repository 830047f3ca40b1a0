//! Running a scenario: each experiment's runs (the baseline, the given schedules, the
//! best hybrid, the searched best and the searched allocations), scheduled, simulated
//! and verified.

use super::*;

/// One schedule's outcome in an experiment.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Where the schedule comes from: baseline, given, best hybrid or searched.
    pub origin: String,
    pub eviction: Eviction,
    pub schedule: String,
    /// Layer-to-core allocation, as `--allocate` takes it.
    pub allocation: String,
    pub predicted: Report,
    /// The simulator's report, when the experiment asks for it and the schedule
    /// verified.
    pub measured: Option<Report>,
    /// Baseline figure over this schedule's (1.0 for the baseline).
    pub dram_reduction: f64,
    pub energy_reduction: f64,
    /// When simulated: what the verifier proved and measured of waste.
    pub verification: Option<VerificationReport>,
    /// When simulated and refused: the verifier's violation.
    pub violation: Option<String>,
    /// (measured − predicted) / predicted latency, in percent, when simulated.
    pub latency_delta_percent: Option<f64>,
    /// The DRAM-traffic figure on which the two halves differ most, if they differ.
    pub largest_traffic_delta: Option<Comparison>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    pub name: String,
    pub workload: String,
    pub global_sram_bits: u64,
    pub stateless_blocks: Vec<usize>,
    pub runs: Vec<RunResult>,
    pub paper: Option<PaperFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub experiments: Vec<ExperimentResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error("allocation search: {0}")]
    Allocation(String),
}

/// What the simulator made of a schedule: its report and verification, or the
/// violation that stopped it (nothing when the experiment does not simulate).
#[derive(Default)]
struct Simulated {
    measured: Option<crate::cost::Report>,
    verification: Option<crate::sim::VerificationReport>,
    violation: Option<String>,
}

fn simulated(x: &Experiment, s: crate::schedule::Schedule) -> Result<Simulated, RunError> {
    if !x.simulate {
        return Ok(Simulated::default());
    }
    let options = SimOptions {
        spikes: x.spikes.clone(),
        ..SimOptions::default()
    };
    match simulate(s, &options) {
        Ok(m) => Ok(Simulated {
            measured: Some(m.report),
            verification: Some(m.verification),
            violation: None,
        }),
        Err(SimError::Verification(v)) => Ok(Simulated {
            violation: Some(v.to_string()),
            ..Simulated::default()
        }),
        Err(e) => Err(e.into()),
    }
}

/// Runs every experiment: the baseline and each schedule, analytically and (if asked)
/// on the simulator. `progress` is told each finished run.
pub fn run(
    scenario: &Scenario,
    mut progress: impl FnMut(&str, &str),
) -> Result<ScenarioResult, RunError> {
    let mut experiments = Vec::new();
    for x in &scenario.experiments {
        let mut mapper = Mapper::new(&x.accelerator);
        let mut runs: Vec<RunResult> = Vec::new();
        for Run {
            origin,
            eviction,
            spec,
            allocation,
        } in runs_of(x)?
        {
            let options = SchedulerOptions {
                prefetch: x.prefetch,
                objective: Objective::Energy,
                eviction,
            };
            let s = schedule(
                &x.workload,
                &x.accelerator,
                &spec,
                &allocation,
                options,
                &mut mapper,
            )?;
            let predicted = s.predicted.clone();
            let Simulated {
                measured,
                verification,
                violation,
            } = simulated(x, s)?;
            let comparison = measured.as_ref().map(|m| validate::compare(&predicted, m));
            let latency_delta_percent = comparison.as_ref().and_then(|c| {
                c.iter()
                    .find(|r| r.metric == "latency_cycles")
                    .map(|r| r.delta_percent)
            });
            let largest_traffic_delta = comparison
                .as_deref()
                .and_then(validate::largest_traffic_delta)
                .cloned();
            let (base_dram, base_energy) = runs
                .first()
                .map(|b| (b.predicted.dram_bits.total, b.predicted.energy_pj.total))
                .unwrap_or((predicted.dram_bits.total, predicted.energy_pj.total));
            progress(&x.name, &spec.to_string());
            runs.push(RunResult {
                origin,
                eviction,
                schedule: spec.to_string(),
                allocation: allocation.describe(&x.workload, &x.accelerator),
                dram_reduction: base_dram as f64 / predicted.dram_bits.total.max(1) as f64,
                energy_reduction: base_energy / predicted.energy_pj.total,
                predicted,
                measured,
                verification,
                violation,
                latency_delta_percent,
                largest_traffic_delta,
            });
        }
        experiments.push(ExperimentResult {
            name: x.name.clone(),
            workload: x.workload.name.clone(),
            global_sram_bits: x.accelerator.cores[0].global_sram().size_bits,
            stateless_blocks: x.workload.stateless_blocks.clone(),
            runs,
            paper: x.paper,
        });
    }
    Ok(ScenarioResult {
        scenario: scenario.name.clone(),
        experiments,
    })
}

impl Experiment {
    /// How many schedules it runs (a best hybrid per policy, a searched best).
    pub fn run_count(&self) -> usize {
        1 + self.schedules.len()
            + self.best_hybrid.as_ref().map_or(0, |h| h.evictions.len())
            + usize::from(self.search.is_some())
            + self
                .allocation_search
                .map_or(0, |_| 1 + self.schedules.len())
    }
}

/// One run of an experiment: where its schedule comes from, the policy, the schedule
/// and the allocation.
pub(super) struct Run {
    pub origin: String,
    pub eviction: Eviction,
    pub spec: ScheduleSpec,
    pub allocation: Allocation,
}

/// What an experiment runs, in order. The baseline and the given schedules use the
/// experiment's policy and allocation; the best hybrid is found under each requested
/// policy; the searched best under the search's; then the baseline and the given
/// schedules again on the allocation the allocation search finds for each.
pub(super) fn runs_of(x: &Experiment) -> Result<Vec<Run>, RunError> {
    let mut runs = schedule_runs(x)?
        .into_iter()
        .map(|(origin, eviction, spec)| Run {
            origin,
            eviction,
            spec,
            allocation: x.allocation.clone(),
        })
        .collect::<Vec<_>>();
    if let Some(q) = &x.allocation_search {
        use crate::explore::allocate::{AllocationSpace, allocate, best};
        let space = AllocationSpace::new(&x.workload, &x.accelerator, q.unit)
            .map_err(|e| RunError::Allocation(e.to_string()))?;
        let options = SchedulerOptions {
            prefetch: x.prefetch,
            objective: Objective::Energy,
            eviction: x.eviction,
        };
        for spec in std::iter::once(&x.baseline).chain(&x.schedules) {
            let found = allocate(
                &x.workload,
                &x.accelerator,
                spec,
                &space,
                q.options,
                options,
                |_| {},
            );
            if let Some(b) = best(&found, q.options.objective) {
                runs.push(Run {
                    origin: format!("GA allocation ({:?})", q.options.objective).to_lowercase(),
                    eviction: x.eviction,
                    spec: spec.clone(),
                    allocation: Allocation {
                        core_of_layer: found[b].core_of_layer.clone(),
                    },
                });
            }
        }
    }
    Ok(runs)
}

/// The schedules an experiment runs on its own allocation: (origin, policy, schedule).
fn schedule_runs(x: &Experiment) -> Result<Vec<(String, Eviction, ScheduleSpec)>, RunError> {
    let mut runs = vec![("baseline".to_string(), x.eviction, x.baseline.clone())];
    runs.extend(
        x.schedules
            .iter()
            .map(|s| ("given".to_string(), x.eviction, s.clone())),
    );
    let options = |eviction| SchedulerOptions {
        prefetch: x.prefetch,
        objective: Objective::Energy,
        eviction,
    };
    let hybrid = |batch_from, fuse_from| {
        crate::explore::Space::Hybrid {
            batch_from,
            fuse_from,
        }
        .points(x.workload.num_blocks)
    };
    if let Some(h) = &x.best_hybrid {
        let points = hybrid(h.batch_from, h.fuse_from);
        for &eviction in &h.evictions {
            let outcomes = crate::explore::explore(
                &x.workload,
                &x.accelerator,
                &points,
                options(eviction),
                || {},
            )?;
            if let Some(b) = crate::explore::best(&outcomes, crate::explore::Rank::Energy) {
                runs.push((
                    "best hybrid".into(),
                    eviction,
                    outcomes[b].point.spec.clone(),
                ));
            }
        }
    }
    if let Some(q) = &x.search {
        use crate::explore::search::{Objective as Goal, SearchOptions, SearchSpace, best, search};
        let space = SearchSpace::new(x.workload.num_blocks, x.workload.timesteps, &q.lines);
        let found = search(
            &x.workload,
            &x.accelerator,
            &space,
            &SearchOptions {
                budget: q.budget,
                seed: q.seed,
                population: q.population,
                objective: Goal::Energy,
                warm_start: hybrid(q.batch_from, q.fuse_from)
                    .into_iter()
                    .map(|p| p.spec)
                    .collect(),
                prefix_cache_bytes: None,
            },
            options(q.eviction),
            |_| {},
        )
        .0;
        if let Some(b) = best(&found, Goal::Energy) {
            runs.push(("searched".into(), q.eviction, found[b].spec.clone()));
        }
    }
    Ok(runs)
}
