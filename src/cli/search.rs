//! `stems explore --space search`: a seeded genetic search over per-block time and
//! space cuts (see `stems::explore::search`), with a Pareto front of energy against
//! latency.

use super::explore::ExploreArgs;
use super::{Format, UsageError};
use anyhow::{Context, Result, bail};
use std::path::Path;
use stems::explore::Space;
use stems::explore::search::{
    Evaluated, Objective, SearchOptions, SearchSpace, best, pareto_front, ranked, search,
};
use stems::mapping::Objective as MapObjective;
use stems::model::units::{human_bits, human_energy_pj, thousands};
use stems::report::Table;
use stems::schedule::{ScheduleSpec, SchedulerOptions};

/// Budgets above this are refused: a search that long wants sharding of its own.
const MAX_BUDGET: usize = 1_000_000;

pub fn run(args: ExploreArgs) -> Result<()> {
    use stems::model::limits::MAX_JOBS;
    let s = &args.search;
    if args.resume.is_some() || args.shard.is_some() {
        bail!(UsageError(
            "--resume and --shard apply to the enumerated spaces, not to --space search".into()
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
    let objective = s.objective.unwrap_or(Objective::Energy);
    let seed = s.seed.unwrap_or(0);
    let (workload, accelerator) = args.models.load()?;
    let n = workload.num_blocks;
    let space = SearchSpace::new(n, workload.timesteps, &lines);
    let hybrid: Vec<ScheduleSpec> = Space::Hybrid {
        batch_from: args.batch_from,
        fuse_from: args.fuse_from,
    }
    .points(n)
    .into_iter()
    .map(|p| p.spec)
    .collect();
    let warm = s.warm_start.as_deref() != Some("none");
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
    let options = SearchOptions {
        budget,
        seed,
        population,
        objective,
        warm_start: if warm { hybrid.clone() } else { Vec::new() },
        prefix_cache_bytes: args.prefix_cache_bytes()?,
    };
    let scheduler = SchedulerOptions {
        prefetch: !args.no_prefetch,
        eviction: args.eviction.eviction,
        objective: MapObjective::Energy,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let progress = super::progress::Progress::new(budget as u64, "evaluations");
    let started = std::time::Instant::now();
    let (all, sharing) = pool.install(|| {
        search(
            &workload,
            &accelerator,
            &space,
            &options,
            scheduler,
            |e: &Evaluated| {
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
            },
        )
    });
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let best_index = best(&all, objective);
    let front = pareto_front(&all);
    // The best of the hybrid grid, costed here when the warm start did not.
    let best_hybrid = best_of(&workload, &accelerator, &hybrid, scheduler, objective, &all)?;
    let marked: Vec<(String, stems::cost::Report)> = marks
        .iter()
        .map(|(name, spec)| {
            Ok((
                name.clone(),
                cost(&workload, &accelerator, spec, scheduler)?,
            ))
        })
        .collect::<Result<_>>()?;

    let summary = Summary {
        workload: &workload.name,
        global_sram_bits: accelerator.cores[0].global_sram().size_bits,
        space: SpaceSummary {
            kind: "search",
            blocks: n,
            cuts_per_block: space.cuts.len(),
            schedules: space.size().to_string(),
            lines: &lines,
            budget,
            seed,
            population,
            objective,
            warm_start: if warm { "hybrid" } else { "none" },
            eviction: scheduler.eviction,
        },
        evaluations: all.len(),
        infeasible: all.iter().filter(|e| e.report.is_none()).count(),
        seconds,
        evaluations_per_second: all.len() as f64 / seconds.max(1e-9),
        prefix_sharing: sharing,
        best: best_index.map(|i| &all[i]),
        best_hybrid: best_hybrid.as_ref().map(|(spec, r)| Named {
            schedule: spec.entries(),
            report: r,
        }),
        pareto: front.iter().map(|&i| &all[i]).collect(),
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_outputs(dir, &summary, &all, &front, &best_hybrid, &marked)?;
        eprintln!(
            "wrote search.csv, pareto.csv, pareto.svg, summary.json to {}",
            dir.display()
        );
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&summary)?),
        Format::Table => print_table(&summary, &all, &front, args.top)?,
    }
    Ok(())
}

fn cost(
    workload: &stems::model::Workload,
    accelerator: &stems::model::Accelerator,
    spec: &ScheduleSpec,
    scheduler: SchedulerOptions,
) -> Result<stems::cost::Report> {
    let mut mapper = stems::mapping::Mapper::new(accelerator);
    Ok(stems::schedule::predict(
        workload,
        accelerator,
        spec,
        &stems::schedule::Allocation::first_able(workload, accelerator),
        scheduler,
        &mut mapper,
    )?)
}

/// The best of `specs` by `objective`, reusing what the search costed.
fn best_of(
    workload: &stems::model::Workload,
    accelerator: &stems::model::Accelerator,
    specs: &[ScheduleSpec],
    scheduler: SchedulerOptions,
    objective: Objective,
    costed: &[Evaluated],
) -> Result<Option<(ScheduleSpec, stems::cost::Report)>> {
    let mut found: Option<(ScheduleSpec, stems::cost::Report)> = None;
    for spec in specs {
        let report = match costed.iter().find(|e| &e.spec == spec) {
            Some(e) => e.report.clone(),
            None => cost(workload, accelerator, spec, scheduler).ok(),
        };
        if let Some(r) = report
            && found
                .as_ref()
                .is_none_or(|(_, b)| objective.value(&r) < objective.value(b))
        {
            found = Some((spec.clone(), r));
        }
    }
    Ok(found)
}

#[derive(serde::Serialize)]
struct SpaceSummary<'a> {
    kind: &'static str,
    blocks: usize,
    cuts_per_block: usize,
    /// As a string: it may exceed what JSON numbers hold exactly.
    schedules: String,
    lines: &'a [u64],
    budget: usize,
    seed: u64,
    population: usize,
    objective: Objective,
    warm_start: &'static str,
    eviction: stems::schedule::Eviction,
}

#[derive(serde::Serialize)]
struct Named<'a> {
    schedule: Vec<String>,
    report: &'a stems::cost::Report,
}

/// `summary.json`: `best.report.energy_pj.total` as in the enumerated spaces.
#[derive(serde::Serialize)]
struct Summary<'a> {
    workload: &'a str,
    global_sram_bits: u64,
    space: SpaceSummary<'a>,
    evaluations: usize,
    infeasible: usize,
    seconds: f64,
    evaluations_per_second: f64,
    /// How many evaluations continued from a checkpoint of blocks an earlier one
    /// shared (depends on `--jobs`, like `seconds`; the figures do not).
    prefix_sharing: stems::explore::Sharing,
    best: Option<&'a Evaluated>,
    best_hybrid: Option<Named<'a>>,
    pareto: Vec<&'a Evaluated>,
}

fn csv_rows(path: &Path, rows: &[&Evaluated]) -> Result<()> {
    let mut file = stems::output::AtomicFile::create(path)?;
    {
        let mut w = csv::Writer::from_writer(&mut file);
        w.write_record([
            "evaluation",
            "generation",
            "schedule",
            "energy_pj",
            "latency_cycles",
            "edp_pj_cycles",
            "dram_bits",
            "error",
        ])?;
        for e in rows {
            let r = e.report.as_ref();
            let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
            w.write_record([
                e.index.to_string(),
                e.generation.to_string(),
                e.spec.to_string(),
                num(r.map(|r| r.energy_pj.total)),
                r.map_or(String::new(), |r| r.latency_cycles.to_string()),
                num(r.map(|r| r.energy_pj.total * r.latency_cycles as f64)),
                r.map_or(String::new(), |r| r.dram_bits.total.to_string()),
                e.error.clone().unwrap_or_default(),
            ])?;
        }
        w.flush()?;
    }
    file.commit()?;
    Ok(())
}

fn write_outputs(
    dir: &Path,
    summary: &Summary,
    all: &[Evaluated],
    front: &[usize],
    best_hybrid: &Option<(ScheduleSpec, stems::cost::Report)>,
    marked: &[(String, stems::cost::Report)],
) -> Result<()> {
    csv_rows(&dir.join("search.csv"), &all.iter().collect::<Vec<_>>())?;
    csv_rows(
        &dir.join("pareto.csv"),
        &front.iter().map(|&i| &all[i]).collect::<Vec<_>>(),
    )?;
    let top = all
        .iter()
        .filter_map(|e| e.report.as_ref().map(|r| r.energy_pj.total))
        .fold(0.0, f64::max);
    let (per, unit) = stems::report::plot::energy_unit(top);
    let point = |r: &stems::cost::Report| (r.energy_pj.total / per, r.latency_cycles as f64 / 1e6);
    let points: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|e| e.report.as_ref().map(point))
        .collect();
    let front_points: Vec<(f64, f64)> = front
        .iter()
        .filter_map(|&i| all[i].report.as_ref().map(point))
        .collect();
    let mut marks: Vec<(String, (f64, f64))> = marked
        .iter()
        .map(|(name, r)| (name.clone(), point(r)))
        .collect();
    if let Some((spec, r)) = best_hybrid {
        marks.push((
            format!(
                "best hybrid {}",
                stems::schedule::spec::compact(&spec.to_string())
            ),
            point(r),
        ));
    }
    stems::report::plot::pareto(
        &dir.join("pareto.svg"),
        &format!(
            "{} on {}: {} schedules searched",
            summary.workload,
            human_bits(summary.global_sram_bits),
            summary.evaluations
        ),
        (
            &format!("energy per inference ({unit})"),
            "latency (M cycles)",
        ),
        &points,
        &front_points,
        &marks,
    )?;
    let json = serde_json::to_string_pretty(summary)?;
    stems::output::write(&dir.join("summary.json"), json.as_bytes())?;
    Ok(())
}

fn print_table(summary: &Summary, all: &[Evaluated], front: &[usize], top: usize) -> Result<()> {
    let s = &summary.space;
    outln!(
        "{} of {} schedules ({} cuts per block, {} blocks) of {} on {} in {:.2} s ({:.0} evaluations/s), seed {}, objective {}{}",
        thousands(summary.evaluations as u64),
        stems::model::units::group_digits(&s.schedules),
        s.cuts_per_block,
        s.blocks,
        summary.workload,
        human_bits(summary.global_sram_bits),
        summary.seconds,
        summary.evaluations_per_second,
        s.seed,
        s.objective,
        if summary.infeasible > 0 {
            format!(", {} refused by the scheduler", summary.infeasible)
        } else {
            String::new()
        }
    );
    let sharing = &summary.prefix_sharing;
    outln!(
        "prefix sharing: {} of {} evaluations ({:.0} %) continued from a checkpoint of their first blocks, {} tiles not scheduled again",
        thousands(sharing.continued),
        thousands(sharing.schedules),
        sharing.hit_percent(),
        thousands(sharing.tiles_skipped)
    );
    let row = |t: &mut Table, k: String, e: &Evaluated, r: &stems::cost::Report| {
        t.row([
            k,
            e.spec.to_string(),
            human_energy_pj(r.energy_pj.total),
            human_bits(r.dram_bits.total),
            thousands(r.latency_cycles),
            e.generation.to_string(),
        ]);
    };
    let header = [
        "rank",
        "schedule",
        "energy",
        "DRAM traffic",
        "latency",
        "generation",
    ];
    let mut t = Table::new(header);
    for (k, (i, r)) in ranked(all, s.objective).into_iter().take(top).enumerate() {
        row(&mut t, (k + 1).to_string(), &all[i], r);
    }
    out!("{}", t.render());
    if let Some(h) = &summary.best_hybrid
        && let Some(b) = summary.best.and_then(|b| b.report.as_ref())
    {
        let (hv, bv) = (s.objective.value(h.report), s.objective.value(b));
        outln!(
            "best of the hybrid grid: {} — the search's best is {:.2}× lower",
            stems::schedule::spec::compact(&h.schedule.join(",")),
            hv / bv.max(f64::MIN_POSITIVE)
        );
    }
    outln!(
        "\nPareto front, energy against latency ({} schedules)",
        front.len()
    );
    let mut t = Table::new(header);
    let on_front = front
        .iter()
        .filter_map(|&i| all[i].report.as_ref().map(|r| (i, r)));
    for (k, (i, r)) in on_front.take(top.max(1) * 2).enumerate() {
        row(&mut t, (k + 1).to_string(), &all[i], r);
    }
    out!("{}", t.render());
    Ok(())
}
