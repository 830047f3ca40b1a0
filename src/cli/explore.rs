//! `stems explore`: a space of schedules costed in parallel.

use super::{Format, ModelFiles, UsageError};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use stems::explore::search::Objective as SearchObjective;
use stems::explore::workers::{MAX_PREFIX_CACHE_BYTES, PREFIX_CACHE_BYTES_PER_WORKER};
use stems::mapping::Objective;
use stems::model::units::Size;
use stems::rundir::journaled::Watch;
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
    /// Rank only the best K schedules by --rank-by: a schedule is dropped as soon as
    /// what its first blocks cost already exceeds the K-th best found. Writes (and
    /// lists) those K, exactly the first K of the full ranking, and how many were
    /// dropped (`pruned` in summary.json). Not with --resume or --shard.
    #[arg(long, allow_hyphen_values = true, value_name = "K", conflicts_with_all = ["resume", "shard"])]
    pub best: Option<usize>,
    /// Checkpoints each worker keeps of the first blocks schedules share, so that they
    /// are scheduled once (the least recently used go first; figures do not depend
    /// on it, only the time), e.g. 16MiB or 1GiB. Default: 16MiB; for --space search,
    /// 256MiB shared by the workers.
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
    pub prefix_cache: Option<Size>,
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
    /// `--prefix-cache` in bytes per worker (`None` if not given), refused above
    /// [`MAX_PREFIX_CACHE_BYTES`].
    pub fn prefix_cache_bytes(&self) -> Result<Option<usize>> {
        let Some(size) = self.prefix_cache else {
            return Ok(None);
        };
        let bytes = size.bits() / 8;
        if bytes > MAX_PREFIX_CACHE_BYTES {
            bail!(UsageError(format!(
                "--prefix-cache {size}: at most {} GiB per worker",
                MAX_PREFIX_CACHE_BYTES >> 30
            )));
        }
        Ok(Some(bytes as usize))
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

pub fn run(args: ExploreArgs) -> Result<()> {
    use stems::explore::space_run::{SpaceRun, cost_space};
    use stems::model::limits::MAX_JOBS;
    use stems::rundir::journaled::Place;
    if args.jobs.is_some_and(|j| j == 0 || j > MAX_JOBS) {
        bail!(UsageError(format!("--jobs must be 1..={MAX_JOBS}")));
    }
    if args.best == Some(0) {
        bail!(UsageError("--best must be at least 1".into()));
    }
    args.search.refuse_outside_search()?;
    let (workload, accelerator) = args.models.load()?;
    let space = space(&args, workload.num_blocks)?;
    let points = space.points(workload.num_blocks);
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
    let run = SpaceRun {
        workload: &workload,
        accelerator: &accelerator,
        header: &header,
        points: &points,
        options,
        jobs: args.jobs,
        prefix_cache_bytes: args
            .prefix_cache_bytes()?
            .unwrap_or(PREFIX_CACHE_BYTES_PER_WORKER),
        // Ranking only the best writes them at the end, not every row as it comes.
        place: match args.best {
            Some(_) => Place::Nowhere,
            None => Place::new(args.resume.as_deref(), args.out.as_deref()),
        },
        best: args.best.map(|k| (args.rank_by, k)),
    };
    let watch = Watching {
        progress: super::progress::Progress::new(0, "schedules"),
        rank_by: args.rank_by,
    };
    let costed = cost_space(&run, &watch, |estimate| {
        eprintln!(
            "{} schedules to cost{}; about {:.0} s",
            estimate.todo,
            args.shard.map_or(String::new(), |s| format!(
                " (shard {s} of a {}-point space)",
                points.len()
            )),
            estimate.seconds
        );
        super::progress::confirm_long_run(estimate.seconds, args.yes)
    })?;
    watch.progress.finish();
    show(&args, &header, &costed)
}

/// The enumerated space the flags ask for, refused above [`MAX_ENUMERATED`].
fn space(args: &ExploreArgs, blocks: usize) -> Result<stems::explore::Space> {
    use stems::explore::Space;
    use stems::explore::space_run::MAX_ENUMERATED;
    let space = if args.space == "exhaustive" {
        Space::Exhaustive
    } else {
        Space::Hybrid {
            batch_from: args.batch_from,
            fuse_from: args.fuse_from,
        }
    };
    if space.size(blocks) > MAX_ENUMERATED {
        bail!(UsageError(format!(
            "the exhaustive space of {blocks} blocks has {} schedules (limit {MAX_ENUMERATED}); use the hybrid space",
            space.size(blocks)
        )));
    }
    Ok(space)
}

/// The sharing on stderr, the run directory's files, the table or JSON on stdout.
fn show(
    args: &ExploreArgs,
    header: &stems::explore::store::RunHeader,
    costed: &stems::explore::space_run::CostedSpace,
) -> Result<()> {
    use stems::report::explore::{Explored, write_results};
    eprintln!(
        "{}",
        stems::report::explore::sharing_line(&costed.sharing, "schedules")
    );
    if let Some(dir) = args.resume.as_ref().or(args.out.as_ref()) {
        // Rows were journaled as they came, unless only the best are kept.
        let csv = args.best.is_some();
        if csv {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let written = write_results(
            dir,
            header,
            &costed.outcomes,
            csv,
            kept(costed),
            &costed.skipped,
        )?;
        eprintln!("wrote {} to {}", written.join(", "), dir.display());
    }
    let explored = Explored {
        header,
        outcomes: &costed.outcomes,
        costed: costed.costed,
        seconds: costed.seconds,
        kept: kept(costed),
        skipped: &costed.skipped,
    };
    match args.format {
        Format::Table => out!("{}", explored.render_table(args.top)),
        Format::Json => outln!("{}", explored.json()?),
    }
    Ok(())
}

/// What `--best` kept beside the best.
fn kept(
    costed: &stems::explore::space_run::CostedSpace,
) -> Option<stems::report::explore::Kept<'_>> {
    costed.pruned.map(|pruned| stems::report::explore::Kept {
        baseline: costed.baseline.as_ref(),
        pruned,
    })
}

/// Progress of a space: a bar or log lines, with the best schedule so far.
struct Watching {
    progress: super::progress::Progress,
    rank_by: stems::explore::Rank,
}

impl Watching {
    fn offer(&self, o: &stems::explore::Outcome) {
        let value = self.rank_by.value(&o.report);
        self.progress.offer(value, || {
            format!(
                "{} ({})",
                stems::schedule::spec::compact(&o.point.spec.to_string()),
                self.rank_by.show(value)
            )
        });
    }
}

impl Watch<stems::explore::Outcome> for Watching {
    fn resumed(&self, dir: &std::path::Path, items: &[(usize, stems::explore::Outcome)]) {
        eprintln!(
            "resuming {}: {} points already costed",
            dir.display(),
            items.len()
        );
        items.iter().for_each(|(_, o)| self.offer(o));
    }
    fn starting(&self, todo: usize) {
        self.progress.set_total(todo as u64);
    }
    fn finished(&self, o: &stems::explore::Outcome) {
        self.offer(o);
        self.progress.inc();
    }
    fn dropped(&self) {
        self.progress.inc();
    }
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
