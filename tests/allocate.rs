//! `stems allocate`: the genetic allocation search is deterministic on any thread
//! count, never breeds an allocation a core cannot run, finds the optimum when its
//! budget covers the space, and its command line writes what it says.

use std::path::Path;
use std::process::Command;
use stems::explore::allocate::{
    AllocateOptions, AllocationEvaluated, AllocationSpace, Unit, allocate, best,
};
use stems::explore::ga::Genome;
use stems::explore::search::Objective;
use stems::model::{Accelerator, Overrides, SourceText, Workload, load};
use stems::schedule::{Allocation, ScheduleSpec, SchedulerOptions};

const TINY: &str = "models/workloads/tiny_fused.toml";
const MESH: &str = "models/hardware/mesh_2x2.toml";

fn models(workload: &str, hardware: &str, gb: &str) -> (Workload, Accelerator) {
    load(
        Path::new(workload),
        Path::new(hardware),
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
    space: &AllocationSpace,
    options: AllocateOptions,
    threads: usize,
) -> Vec<AllocationEvaluated> {
    let spec = ScheduleSpec::parse("TB-LF", w.num_blocks, w.timesteps).expect("spec");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        allocate(
            w,
            acc,
            &spec,
            space,
            options,
            SchedulerOptions::default(),
            |_| {},
        )
    })
}

fn key(all: &[AllocationEvaluated]) -> Vec<(String, Option<u64>)> {
    all.iter()
        .map(|e| {
            (
                e.allocation.clone(),
                e.report.as_ref().map(|r| r.latency_cycles),
            )
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_search_on_one_and_two_threads() {
    let (w, acc) = models(TINY, MESH, "16KiB");
    let space = AllocationSpace::new(&w, &acc, Unit::Layer).expect("space");
    let options = AllocateOptions {
        budget: 40,
        seed: 11,
        population: 8,
        objective: Objective::Latency,
    };
    let one = run(&w, &acc, &space, options, 1);
    let two = run(&w, &acc, &space, options, 2);
    assert_eq!(one.len(), 40);
    assert_eq!(key(&one), key(&two));
    let other = run(
        &w,
        &acc,
        &space,
        AllocateOptions {
            seed: 12,
            ..options
        },
        2,
    );
    assert_ne!(key(&one), key(&other), "another seed searches otherwise");
    // The warm start comes first: everything on the first core.
    assert_eq!(one[0].core_of_layer, vec![0; w.layers.len()]);
}

#[test]
fn a_budget_covering_the_space_finds_the_best_allocation() {
    let (w, acc) = models(TINY, MESH, "16KiB");
    // 3 layers on 4 cores: 64 allocations.
    let space = AllocationSpace::new(&w, &acc, Unit::Layer).expect("space");
    assert_eq!(space.size(), 64);
    let options = AllocateOptions {
        budget: 100,
        seed: 1,
        population: 6,
        objective: Objective::Latency,
    };
    let all = run(&w, &acc, &space, options, 2);
    assert_eq!(all.len(), 64, "each allocation once, then the search stops");
    let found = best(&all, Objective::Latency).expect("a feasible allocation");
    let best_latency = all[found].report.as_ref().map(|r| r.latency_cycles);
    let brute = all
        .iter()
        .filter_map(|e| e.report.as_ref().map(|r| r.latency_cycles))
        .min();
    assert_eq!(best_latency, brute);
    // Spreading the layers beats one core.
    assert!(best_latency < all[0].report.as_ref().map(|r| r.latency_cycles));
}

/// The mesh with core1 turned into a pooling-only core.
fn with_a_pooling_core() -> Accelerator {
    let text = std::fs::read_to_string(MESH).expect("mesh");
    let text = text.replacen(
        "name = \"core1\"\nposition = [1, 0]",
        "name = \"core1\"\nposition = [1, 0]\noperators = [\"max_pool\", \"avg_pool\"]",
        1,
    );
    assert!(text.contains("operators = "));
    Accelerator::parse(&SourceText::new("pooling.toml", text)).expect("valid")
}

#[test]
fn allocations_never_put_an_operator_on_a_core_that_cannot_run_it() {
    let acc = with_a_pooling_core();
    let (w, _) = models(TINY, MESH, "16KiB");
    for unit in [Unit::Layer, Unit::Block] {
        let space = AllocationSpace::new(&w, &acc, unit).expect("space");
        let options = AllocateOptions {
            budget: 64,
            seed: 5,
            population: 8,
            objective: Objective::Energy,
        };
        let all = run(&w, &acc, &space, options, 2);
        assert!(!all.is_empty());
        for e in &all {
            for (l, &c) in e.core_of_layer.iter().enumerate() {
                assert!(
                    acc.cores[c].runs(w.layers[l].op),
                    "{} puts {} on {}",
                    e.allocation,
                    w.layers[l].name,
                    acc.cores[c].name
                );
            }
        }
        if unit == Unit::Layer {
            assert!(
                all.iter().any(|e| e.core_of_layer[2] == 1),
                "the pool may go to the pooling core"
            );
        }
    }
    // Asked by hand, the same allocation is refused with the reason.
    let e = Allocation::parse("conv_a=core1", &w, &acc).expect_err("refused");
    assert!(
        e.to_string()
            .contains("puts conv_a (conv) on core1, which runs only max_pool, avg_pool"),
        "{e}"
    );
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn the_command_writes_its_outputs_and_refuses_bad_options() {
    let dir = std::env::temp_dir().join(format!("stems-allocate-{}", std::process::id()));
    let base = [
        "allocate",
        "--workload",
        TINY,
        "--hardware",
        MESH,
        "--gb",
        "16KiB",
        "--schedule",
        "TB-LF",
    ];
    let mut args = base.to_vec();
    let out_dir = dir.to_string_lossy().to_string();
    args.extend(["--budget", "30", "--format", "json", "--out", &out_dir]);
    let out = stems(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let best = summary["best_allocation"]
        .as_str()
        .expect("best allocation");
    assert!(best.contains("=core"), "{best}");
    for f in ["allocations.csv", "convergence.svg", "summary.json"] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let rows = std::fs::read_to_string(dir.join("allocations.csv")).expect("csv");
    assert_eq!(
        rows.lines().count(),
        31,
        "a header and one row per evaluation"
    );
    // The best allocation is one `--allocate` takes.
    let out = stems(&[
        "evaluate",
        "--workload",
        TINY,
        "--hardware",
        MESH,
        "--gb",
        "16KiB",
        "--schedule",
        "TB-LF",
        "--allocate",
        best,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (extra, needle) in [
        (vec!["--budget", "0"], "--budget"),
        (vec!["--objective", "dram_bits"], "latency, energy or edp"),
        (vec!["--unit", "tile"], "layer or block"),
        (vec!["--population", "1"], "--population"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        let out = stems(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
