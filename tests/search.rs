//! `explore --space search`: the genetic search costs each schedule once, finds the
//! optimum when its budget covers the space, gives the same result on any thread
//! count, keeps a true Pareto front, and refuses its options outside the search.

use std::path::Path;
use std::process::Command;
use stems::explore::search::{
    Evaluated, Objective, SearchOptions, SearchSpace, best, pareto_front, search,
};
use stems::mapping::Mapper;
use stems::model::{Accelerator, Overrides, Workload, load};
use stems::schedule::{Allocation, SchedulerOptions, predict};

fn models(workload: &str, gb: &str) -> (Workload, Accelerator) {
    load(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            ..Overrides::default()
        },
    )
    .expect("models")
}

fn run(
    w: &Workload,
    acc: &Accelerator,
    space: &SearchSpace,
    options: &SearchOptions,
    threads: usize,
) -> Vec<Evaluated> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| search(w, acc, space, options, SchedulerOptions::default(), |_| {}).0)
}

#[test]
fn a_budget_covering_the_space_costs_each_schedule_once_and_finds_the_optimum() {
    let (w, acc) = models("models/workloads/tiny_fused.toml", "4KiB");
    let space = SearchSpace::new(w.num_blocks, w.timesteps, &[1, 2]);
    let size = space.size() as usize;
    assert!(size > 20, "a space worth searching: {size}");
    let options = SearchOptions {
        budget: size + 50,
        seed: 7,
        population: 8,
        objective: Objective::Energy,
        warm_start: Vec::new(),
        prefix_cache_bytes: Some(stems::explore::workers::PREFIX_CACHE_BYTES_PER_WORKER),
    };
    let all = run(&w, &acc, &space, &options, 2);
    assert_eq!(
        all.len(),
        size,
        "every schedule once, then the search stops"
    );
    let mut specs: Vec<String> = all.iter().map(|e| e.spec.to_string()).collect();
    specs.sort();
    specs.dedup();
    assert_eq!(specs.len(), size);
    // Brute force agrees on the optimum.
    let mut mapper = Mapper::new(&acc);
    let brute = all
        .iter()
        .filter_map(|e| {
            predict(
                &w,
                &acc,
                &e.spec,
                &Allocation::single_core(&w),
                SchedulerOptions::default(),
                &mut mapper,
            )
            .ok()
            .map(|r| r.energy_pj.total)
        })
        .fold(f64::INFINITY, f64::min);
    let found = best(&all, Objective::Energy).expect("a schedulable point");
    assert_eq!(
        all[found].report.as_ref().expect("costed").energy_pj.total,
        brute
    );
}

#[test]
fn the_same_seed_gives_the_same_search_on_any_thread_count_and_another_seed_differs() {
    let (w, acc) = models("models/workloads/sew_resnet18_cifar10dvs.toml", "128KiB");
    let space = SearchSpace::new(w.num_blocks, w.timesteps, &[1, 4]);
    let options = |seed| SearchOptions {
        budget: 120,
        seed,
        population: 16,
        objective: Objective::Pareto,
        warm_start: Vec::new(),
        prefix_cache_bytes: Some(stems::explore::workers::PREFIX_CACHE_BYTES_PER_WORKER),
    };
    let key = |all: &[Evaluated]| -> Vec<(String, Option<u64>)> {
        all.iter()
            .map(|e| {
                (
                    e.spec.to_string(),
                    e.report.as_ref().map(|r| r.latency_cycles),
                )
            })
            .collect()
    };
    let one = key(&run(&w, &acc, &space, &options(3), 1));
    let two = key(&run(&w, &acc, &space, &options(3), 2));
    assert_eq!(one.len(), 120);
    assert_eq!(one, two);
    let other = key(&run(&w, &acc, &space, &options(4), 2));
    assert_ne!(one, other);
}

#[test]
fn the_pareto_front_holds_exactly_the_non_dominated_schedules() {
    let (w, acc) = models("models/workloads/sew_resnet18_cifar10dvs.toml", "128KiB");
    let space = SearchSpace::new(w.num_blocks, w.timesteps, &[1, 2, 4, 8]);
    let options = SearchOptions {
        budget: 150,
        seed: 1,
        population: 16,
        objective: Objective::Pareto,
        warm_start: Vec::new(),
        prefix_cache_bytes: Some(stems::explore::workers::PREFIX_CACHE_BYTES_PER_WORKER),
    };
    let all = run(&w, &acc, &space, &options, 2);
    let front = pareto_front(&all);
    assert!(front.len() >= 2, "{} points on the front", front.len());
    let point = |i: usize| {
        let r = all[i].report.as_ref().expect("feasible");
        (r.energy_pj.total, r.latency_cycles as f64)
    };
    let dominates =
        |a: (f64, f64), b: (f64, f64)| a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1);
    for i in (0..all.len()).filter(|&i| all[i].report.is_some()) {
        let dominated = (0..all.len())
            .filter(|&j| all[j].report.is_some())
            .any(|j| dominates(point(j), point(i)));
        assert_eq!(
            front.contains(&i),
            !dominated && !front.iter().any(|&f| f != i && point(f) == point(i)),
            "{}",
            all[i].spec
        );
    }
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("stems runs")
}

#[test]
fn search_options_are_refused_elsewhere_and_bad_budgets_are_named() {
    let models = [
        "explore",
        "--workload",
        "models/workloads/tiny_fused.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
    ];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = models.to_vec();
        v.extend_from_slice(extra);
        stems(&v)
    };
    for (extra, says) in [
        (
            &["--budget", "10"][..],
            "--budget applies only to --space search",
        ),
        (
            &["--space", "search", "--budget", "0"][..],
            "--budget must be",
        ),
        (
            &["--space", "search", "--budget", "99999999999"][..],
            "--budget must be",
        ),
        (&["--space", "search", "--lines", "0"][..], "--lines"),
        (
            &["--space", "search", "--mark", "ZZ-LF"][..],
            "--mark ZZ-LF",
        ),
        (&["--space", "search", "--shard", "0/2"][..], "--shard"),
        (
            &["--space", "search", "--rank-by", "latency"][..],
            "takes --objective",
        ),
    ] {
        let out = with(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    // A small search writes its files, with the summary's usual shape.
    let dir = std::env::temp_dir().join(format!("stems-search-{}", std::process::id()));
    let out = with(&[
        "--space",
        "search",
        "--budget",
        "40",
        "--objective",
        "pareto",
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["search.csv", "pareto.csv", "pareto.svg", "summary.json"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary"))
            .expect("json");
    assert!(
        summary["best"]["report"]["energy_pj"]["total"]
            .as_f64()
            .is_some()
    );
    assert_eq!(summary["space"]["kind"], "search");
    let rows = std::fs::read_to_string(dir.join("search.csv")).expect("csv");
    assert_eq!(rows.lines().count(), 41, "a header and 40 evaluations");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_table_says_which_way_the_search_and_the_hybrid_grid_compare() {
    let args = |budget: &'static str| {
        [
            "explore",
            "--workload",
            "models/workloads/tiny_fused.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "4KiB",
            "--space",
            "search",
            "--budget",
            budget,
        ]
    };
    // Five evaluations do not reach the grid's best (TB-LF×2); 225 cover the space.
    let short = stems(&args("5"));
    let text = String::from_utf8_lossy(&short.stdout);
    assert!(
        text.contains("× higher: it has not reached the grid's (raise --budget)"),
        "{text}"
    );
    let whole = stems(&args("225"));
    let text = String::from_utf8_lossy(&whole.stdout);
    assert!(text.contains("the search's best is 1.00× lower"), "{text}");
}
