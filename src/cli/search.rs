//! `stems explore --space search`: a seeded genetic search over per-block time and
//! space cuts (see `stems::explore::search`), with a Pareto front of energy against
//! latency.

use super::explore::ExploreArgs;
use super::{Format, UsageError};
use anyhow::{Context, Result, bail};
use stems::explore::Space;
use stems::explore::search::{Evaluated, Objective, SearchOptions};
use stems::explore::search_run::{SearchRun, run_search};
use stems::mapping::Objective as MapObjective;
use stems::report::search::{FILES, render_table, write_outputs};
use stems::schedule::{ScheduleSpec, SchedulerOptions};

/// Budgets above this are refused: a search that long wants sharding of its own.
const MAX_BUDGET: usize = 1_000_000;

/// The search's options from the flags, each checked (the enumerated spaces' flags
/// refused), and the line counts of its fused cuts.
fn search_options(args: &ExploreArgs) -> Result<(SearchOptions, Vec<u64>)> {
    use stems::model::limits::MAX_JOBS;
    let s = &args.search;
    if args.resume.is_some() || args.shard.is_some() || args.best.is_some() {
        bail!(UsageError(
            "--resume, --shard and --best apply to the enumerated spaces, not to --space search"
                .into()
        ));
    }
    if args.rank_by != stems::explore::Rank::Energy {
        bail!(UsageError(
            "--rank-by ranks the enumerated spaces; --space search takes --objective".into()
        ));
    }
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    let budget = s.budget.unwrap_or(5000);
    if budget == 0 || budget > MAX_BUDGET {
        bail!(UsageError(format!("--budget must be 1..={MAX_BUDGET}")));
    }
    let population = s.population.unwrap_or(32);
    if !(2..=4096).contains(&population) {
        bail!(UsageError("--population must be 2..=4096".into()));
    }
    let lines = s.lines.clone().unwrap_or_else(|| vec![1, 2, 4, 8]);
    if lines.is_empty() || lines.iter().any(|&l| l == 0 || l > 4096) {
        bail!(UsageError(
            "--lines must list line counts in 1..=4096".into()
        ));
    }
    Ok((
        SearchOptions {
            budget,
            seed: s.seed.unwrap_or(0),
            population,
            objective: s.objective.unwrap_or(Objective::Energy),
            warm_start: Vec::new(),
            prefix_cache_bytes: args.prefix_cache_bytes()?,
        },
        lines,
    ))
}

pub fn run(args: ExploreArgs) -> Result<()> {
    let (options, lines) = search_options(&args)?;
    let objective = options.objective;
    let budget = options.budget;
    let s = &args.search;
    let (workload, accelerator) = args.models.load()?;
    let n = workload.num_blocks;
    let marks = s
        .mark
        .iter()
        .map(|m| {
            let (name, spec) = m.split_once('=').unwrap_or((m.as_str(), m.as_str()));
            let spec = ScheduleSpec::parse(spec, n, workload.timesteps)
                .map_err(|e| UsageError(format!("--mark {m}: {e}")))?;
            Ok((name.to_string(), spec))
        })
        .collect::<Result<Vec<_>>>()?;
    let run = SearchRun {
        workload: &workload,
        accelerator: &accelerator,
        lines,
        warm_start: s.warm_start.as_deref() != Some("none"),
        options,
        scheduler: SchedulerOptions {
            prefetch: !args.no_prefetch,
            eviction: args.eviction.eviction,
            objective: MapObjective::Energy,
        },
        marks,
        jobs: args.jobs,
    };
    let hybrid: Vec<ScheduleSpec> = Space::Hybrid {
        batch_from: args.batch_from,
        fuse_from: args.fuse_from,
    }
    .points(n)
    .into_iter()
    .map(|p| p.spec)
    .collect();
    let progress = super::progress::Progress::new(budget as u64, "evaluations");
    let searched = run_search::<anyhow::Error>(&run, &hybrid, |e: &Evaluated| {
        if let Some(r) = &e.report {
            let v = objective.value(r);
            progress.offer(v, || {
                format!(
                    "{} ({})",
                    stems::schedule::spec::compact(&e.spec.to_string()),
                    objective.show(v)
                )
            });
        }
        progress.inc();
    })?;
    progress.finish();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_outputs(dir, &searched)?;
        eprintln!("wrote {FILES} to {}", dir.display());
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&searched.summary())?),
        Format::Table => out!("{}", render_table(&searched, args.top)),
    }
    Ok(())
}
