//! `stems explore`: a space of schedules costed in parallel.

use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::explore::search::Objective as SearchObjective;
use stems::explore::workers::MAX_PREFIX_CACHE_BYTES;
use stems::mapping::Objective;
use stems::model::units::Size;
use stems::schedule::SchedulerOptions;

#[derive(Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub models: ModelFiles,
    /// hybrid: the paper's (N+1)² grid; exhaustive: all 4^N block cuts; search: a
    /// seeded genetic search over per-block ST/nT/TB × LBL/LF<n> (see --budget).
    #[arg(long, allow_hyphen_values = true, default_value = "hybrid", value_parser = ["hybrid", "exhaustive", "search"])]
    pub space: String,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Apply time batching to blocks counted from this end (hybrid space): input or
    /// output.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub batch_from: stems::explore::Side,
    /// Apply layer fusion to blocks counted from this end (hybrid space): input or
    /// output.
    #[arg(long, allow_hyphen_values = true, default_value = "input", value_parser = parse_side)]
    pub fuse_from: stems::explore::Side,
    /// What "best" means: energy, dram_energy, dram_bits or latency.
    #[arg(long, allow_hyphen_values = true, default_value = "energy", value_parser = parse_rank)]
    pub rank_by: stems::explore::Rank,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// Do not overlap a tile's transfers with the previous tile's compute.
    #[arg(long)]
    pub no_prefetch: bool,
    #[command(flatten)]
    pub eviction: super::EvictionArg,
    /// How many of the best schedules to list.
    #[arg(long, allow_hyphen_values = true, default_value_t = 10)]
    pub top: usize,
    /// Checkpoints each worker keeps of the first blocks schedules share, so that they
    /// are scheduled once (the least recently used go first; figures do not depend
    /// on it, only the time), e.g. 16MiB or 1GiB.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "SIZE",
        default_value = "16MiB"
    )]
    pub prefix_cache: Size,
    /// Write explore.csv, summary.json and SVG pictures into this directory. Rows are
    /// written as schedules complete, so an interrupted run can be finished with
    /// --resume DIR.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DIR",
        conflicts_with = "resume"
    )]
    pub out: Option<PathBuf>,
    /// Finish an interrupted run in DIR (the same space, models and options).
    #[arg(long, allow_hyphen_values = true, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Cost only the K-th of N disjoint slices of the space (0 ≤ K < N); combine the
    /// shards' directories with `stems merge`.
    #[arg(long, allow_hyphen_values = true, value_name = "K/N")]
    pub shard: Option<stems::rundir::Shard>,
    /// Go ahead with a run estimated at more than an hour (STEMS_LONG_RUN_SECONDS).
    #[arg(long)]
    pub yes: bool,
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t)]
    pub format: Format,
}

/// Options of `--space search` (refused with the other spaces).
#[derive(Args)]
pub struct SearchArgs {
    /// Schedules to cost (search space), warm start included [default: 5000].
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub budget: Option<usize>,
    /// Seed of the search's random generator [default: 0]. Same seed, same result, on
    /// any --jobs.
    #[arg(long, allow_hyphen_values = true, value_name = "S")]
    pub seed: Option<u64>,
    /// What the search minimises: energy, latency, edp, dram_bits, or pareto (energy
    /// against latency) [default: energy].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_objective)]
    pub objective: Option<SearchObjective>,
    /// Survivors per generation, and children bred from them [default: 32].
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub population: Option<usize>,
    /// Line counts of the fused cuts LF<n> [default: 1,2,4,8].
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub lines: Option<Vec<u64>>,
    /// Start from the paper's hybrid grid (hybrid) or from random schedules only (none)
    /// [default: hybrid].
    #[arg(long, allow_hyphen_values = true, value_parser = ["hybrid", "none"])]
    pub warm_start: Option<String>,
    /// A schedule to mark on pareto.svg (e.g. the paper's best), as NAME=SPEC or SPEC;
    /// repeatable.
    #[arg(long, allow_hyphen_values = true, value_name = "[NAME=]SPEC")]
    pub mark: Vec<String>,
}

fn parse_objective(s: &str) -> Result<SearchObjective, String> {
    s.parse()
}

impl ExploreArgs {
    /// `--prefix-cache` in bytes, refused above [`MAX_PREFIX_CACHE_BYTES`] per worker.
    pub fn prefix_cache_bytes(&self) -> Result<usize> {
        let bytes = self.prefix_cache.bits() / 8;
        if bytes > MAX_PREFIX_CACHE_BYTES {
            bail!(UsageError(format!(
                "--prefix-cache {}: at most {} GiB per worker",
                self.prefix_cache,
                MAX_PREFIX_CACHE_BYTES >> 30
            )));
        }
        Ok(bytes as usize)
    }
}

impl SearchArgs {
    /// These options mean nothing in the enumerated spaces: say so rather than ignore.
    pub fn refuse_outside_search(&self) -> Result<()> {
        let given = [
            ("--budget", self.budget.is_some()),
            ("--seed", self.seed.is_some()),
            ("--objective", self.objective.is_some()),
            ("--population", self.population.is_some()),
            ("--lines", self.lines.is_some()),
            ("--warm-start", self.warm_start.is_some()),
            ("--mark", !self.mark.is_empty()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            bail!(UsageError(format!("{flag} applies only to --space search")));
        }
        Ok(())
    }
}

pub fn parse_side(s: &str) -> Result<stems::explore::Side, String> {
    s.parse()
}

pub fn parse_rank(s: &str) -> Result<stems::explore::Rank, String> {
    s.parse()
}

/// Spaces above this many schedules are refused (use sharding instead).
const LIMIT: u128 = 70_000;

pub fn run(args: ExploreArgs) -> Result<()> {
    use stems::explore::{Space, WorkerPool, explore_each};
    use stems::model::limits::MAX_JOBS;
    use stems::report::explore::{Explored, write_results};
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    args.search.refuse_outside_search()?;
    let (workload, accelerator) = args.models.load()?;
    let n = workload.num_blocks;
    let space = if args.space == "exhaustive" {
        Space::Exhaustive
    } else {
        Space::Hybrid {
            batch_from: args.batch_from,
            fuse_from: args.fuse_from,
        }
    };
    if space.size(n) > LIMIT {
        bail!(UsageError(format!(
            "the exhaustive space of {n} blocks has {} schedules (limit {LIMIT}); use the hybrid space",
            space.size(n)
        )));
    }
    let points = space.points(n);
    let options = SchedulerOptions {
        prefetch: !args.no_prefetch,
        eviction: args.eviction.eviction,
        objective: Objective::Energy,
    };
    let header = run_header(
        &args,
        &workload,
        &accelerator,
        (space, points.len()),
        options,
    );
    let dir = args.resume.as_ref().or(args.out.as_ref());
    let (store, mut outcomes) = open_run(&args, &header)?;
    let done: std::collections::BTreeSet<usize> = outcomes.iter().map(|o| o.index).collect();
    let todo: Vec<usize> = header
        .indices()
        .into_iter()
        .filter(|i| !done.contains(i))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let threads = pool.current_num_threads().max(1);
    let store = std::sync::Mutex::new(store);
    let fresh = std::sync::Mutex::new(Vec::new());
    let stored_error = std::sync::Mutex::new(None);
    let progress = super::progress::Progress::new(todo.len() as u64, "schedules");
    let offer = |o: &stems::explore::Outcome| {
        let value = args.rank_by.value(&o.report);
        progress.offer(value, || {
            format!(
                "{} ({})",
                stems::schedule::spec::compact(&o.point.spec.to_string()),
                args.rank_by.show(value)
            )
        });
    };
    outcomes.iter().for_each(offer);
    let started = std::time::Instant::now();
    let keep = |o: stems::explore::Outcome| {
        offer(&o);
        progress.inc();
        if let Ok(mut s) = store.lock()
            && let Some(s) = s.as_mut()
            && let Err(e) = s.append(&o)
            && let Ok(mut slot) = stored_error.lock()
        {
            slot.get_or_insert(e);
        }
        if let Ok(mut v) = fresh.lock() {
            v.push(o);
        }
    };
    // A short timed sample first: the size of the run and what it will take.
    // A percent of the run, so the layers' first mappings do not dominate the rate.
    let sample = todo.len().min((2 * threads).max(todo.len() / 100));
    let cache_bytes = args.prefix_cache_bytes()?;
    let workers = pool.install(|| WorkerPool::with_cache_bytes(&accelerator, cache_bytes));
    pool.install(|| {
        explore_each(
            &workload,
            &accelerator,
            &points,
            &todo[..sample],
            options,
            &workers,
            keep,
        )
    })?;
    let per_point = started.elapsed().as_secs_f64() / sample.max(1) as f64;
    let estimate = per_point * (todo.len() - sample) as f64;
    eprintln!(
        "{} schedules to cost{}; about {:.0} s",
        todo.len(),
        args.shard.map_or(String::new(), |s| format!(
            " (shard {s} of a {}-point space)",
            points.len()
        )),
        estimate
    );
    super::progress::confirm_long_run(estimate, args.yes)?;
    let sharing = pool.install(|| {
        explore_each(
            &workload,
            &accelerator,
            &points,
            &todo[sample..],
            options,
            &workers,
            keep,
        )
    })?;
    progress.finish();
    eprintln!(
        "prefix sharing: {} of {} schedules ({:.0} %) continued from a checkpoint of their first blocks, {} tiles not scheduled again",
        sharing.continued,
        sharing.schedules,
        sharing.hit_percent(),
        sharing.tiles_skipped
    );
    if let Some(e) = stored_error.into_inner().unwrap_or(None) {
        return Err(store_error(e));
    }
    if let Some(s) = store.into_inner().unwrap_or(None).as_mut() {
        s.sync().map_err(store_error)?;
    }
    outcomes.extend(fresh.into_inner().unwrap_or_default());
    outcomes.sort_by_key(|o| o.index);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = dir {
        let written = write_results(dir, &header, &outcomes, false)?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    let explored = Explored {
        header: &header,
        outcomes: &outcomes,
        costed: todo.len(),
        seconds,
    };
    match args.format {
        Format::Table => out!("{}", explored.render_table(args.top)),
        Format::Json => outln!("{}", explored.json()?),
    }
    Ok(())
}

/// What the run is: the header a run directory holds and resumes are checked against.
fn run_header(
    args: &ExploreArgs,
    workload: &stems::model::Workload,
    accelerator: &stems::model::Accelerator,
    (space, points): (stems::explore::Space, usize),
    options: SchedulerOptions,
) -> stems::explore::store::RunHeader {
    use stems::explore::store::RunHeader;
    use stems::rundir::fingerprint;
    let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
    RunHeader {
        workload: workload.name.clone(),
        blocks: workload.num_blocks,
        timesteps: workload.timesteps,
        global_sram_bits: accelerator.cores[0].global_sram().size_bits,
        space,
        rank_by: args.rank_by,
        points,
        shard: args.shard,
        fingerprint: fingerprint(&[
            ("stems version", env!("CARGO_PKG_VERSION").as_bytes()),
            ("workload file", &read(&args.models.workload)),
            ("hardware file", &read(&args.models.hardware)),
            (
                "model overrides",
                format!("{:?}", args.models.overrides.model()).as_bytes(),
            ),
            ("scheduler options", format!("{options:?}").as_bytes()),
            ("space", format!("{space:?} {points}").as_bytes()),
        ]),
    }
}

/// The run directory: new (`--out`), an interrupted run to finish (`--resume`) with
/// the outcomes it holds, or none.
fn open_run(
    args: &ExploreArgs,
    header: &stems::explore::store::RunHeader,
) -> Result<(
    Option<stems::explore::store::RunDir>,
    Vec<stems::explore::Outcome>,
)> {
    use stems::explore::store::RunDir;
    Ok(match (&args.resume, &args.out) {
        (Some(d), _) => {
            let (store, done) = RunDir::resume(d, header).map_err(store_error)?;
            eprintln!(
                "resuming {}: {} points already costed",
                d.display(),
                done.len()
            );
            (Some(store), done)
        }
        (None, Some(d)) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (
                Some(RunDir::create(d, header).map_err(store_error)?),
                Vec::new(),
            )
        }
        (None, None) => (None, Vec::new()),
    })
}

/// A run directory that does not belong to this run is bad input.
pub fn store_error(e: stems::rundir::StoreError) -> anyhow::Error {
    if e.is_bad_input() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}
