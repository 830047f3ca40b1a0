//! Scenarios: the bundled ones load and run; overrides (global SRAM size, stateless
//! blocks) come from the file; bad scenarios are reported with their lines.

mod common;

use std::path::Path;
use std::process::Command;
use stems::scenario::{Scenario, run};

#[test]
fn bundled_scenarios_load_with_their_overrides() {
    let s = Scenario::load(Path::new("scenarios/paper_best_schedules.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.experiments.len(), 3);
    let sew5 = &s.experiments[0];
    assert_eq!(
        sew5.accelerator.cores[0].global_sram().size_bits,
        128 * 1024 * 8
    );
    assert_eq!(sew5.workload.stateless_blocks, vec![0, 1]);
    assert!(sew5.workload.block_layers(0).all(|l| !l.stateful));
    let red = &s.experiments[2];
    assert_eq!(red.accelerator.cores[0].global_sram().banks, 4);
    for other in [
        "scenarios/time_batching_sew18_1mib.toml",
        "scenarios/sew152_appendix.toml",
        "scenarios/beyond_the_paper.toml",
    ] {
        Scenario::load(Path::new(other)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_scenario_runs_every_schedule_against_its_baseline() {
    let dir = std::env::temp_dir().join(format!("stems-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("tiny.toml");
    let models = std::env::current_dir().expect("cwd").join("models");
    std::fs::write(
        &path,
        format!(
            r#"name = "tiny"
[[experiment]]
name = "tiny fused"
workload = "{m}/workloads/tiny_fused.toml"
hardware = "{m}/hardware/meta_proto.toml"
gb = "4KiB"
baseline = "ST-LBL"
schedules = ["2T-LF,ST-LBL", "TB-LF,TB-LBL"]
simulate = true
"#,
            m = models.display()
        ),
    )
    .expect("write");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    let r = run(&s, |_, schedule| seen.push(schedule.to_string())).expect("runs");
    assert_eq!(seen, vec!["ST-LBL,ST-LBL", "2T-LF,ST-LBL", "TB-LF,TB-LBL"]);
    let runs = &r.experiments[0].runs;
    assert_eq!(runs[0].dram_reduction, 1.0);
    for run in runs {
        let expected =
            runs[0].predicted.dram_bits.total as f64 / run.predicted.dram_bits.total as f64;
        assert!((run.dram_reduction - expected).abs() < 1e-12);
        // Verified, and the simulated traffic agrees with the prediction.
        assert!(run.verification.as_ref().is_some_and(|v| v.verified));
        assert!(run.violation.is_none() && run.largest_traffic_delta.is_none());
        assert!(run.latency_delta_percent.is_some());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_scenarios_name_the_experiment_field_and_line() {
    let dir = std::env::temp_dir().join(format!("stems-bad-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.toml");
    let models = std::env::current_dir().expect("cwd").join("models");
    std::fs::write(
        &path,
        format!(
            r#"name = "bad"
[[experiment]]
name = "one"
workload = "{m}/workloads/sew_resnet18_cifar10dvs.toml"
hardware = "{m}/hardware/meta_proto.toml"
gb = "12 parsecs"
stateless_blocks = [9]
allocate = "conv1=core9"
baseline = "ST-LBL"
schedules = ["3T-LBL"]
"#,
            m = models.display()
        ),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(["run", path.to_str().expect("path")])
        .output()
        .expect("run stems");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in [
        "bad.toml:6: experiment 'one' field 'gb'",
        "field 'stateless_blocks'",
        "field 'schedules'",
        "does not divide",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_out_writes_results_and_one_breakdown_per_experiment() {
    let dir = std::env::temp_dir().join(format!("stems-run-out-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "run",
            "scenarios/time_batching_sew18_1mib.toml",
            "--out",
            dir.to_str().expect("path"),
        ])
        .output()
        .expect("run stems");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(dir.join("experiment1_breakdown.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("TB-LBL×7"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("json"))
            .expect("json");
    assert_eq!(
        json["experiments"][0]["runs"].as_array().map(Vec::len),
        Some(5)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn published_figures_must_be_positive_factors() {
    let dir = std::env::temp_dir().join(format!("stems-paper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("nan.toml");
    let models = std::env::current_dir().expect("cwd").join("models");
    std::fs::write(
        &path,
        format!(
            "name = \"nan\"\n[[experiment]]\nname = \"x\"\nworkload = \"{m}/workloads/tiny_fused.toml\"\n\
             hardware = \"{m}/hardware/meta_proto.toml\"\nbaseline = \"ST-LBL\"\nschedules = []\n\
             paper = {{ dram_reduction = nan, energy_reduction = -2.0 }}\n",
            m = models.display()
        ),
    )
    .expect("write");
    let e = Scenario::load(&path).expect_err("NaN and negative figures");
    let text = e.to_string();
    for needle in [
        "nan.toml:8: experiment 'x' field 'paper.dram_reduction'",
        "field 'paper.energy_reduction': a reduction is a positive factor, got -2",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_sweep_runs_and_bad_axes_name_their_field() {
    let dir = std::env::temp_dir().join(format!("stems-sweep-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let models = std::env::current_dir().expect("cwd").join("models");
    let text = |axes: &str| {
        format!(
            "name = \"s\"\n[[sweep]]\nname = \"latency\"\nworkload = \"{m}/workloads/tiny_fused.toml\"\n\
             hardware = \"{m}/hardware/meta_proto.toml\"\ngb = \"4KiB\"\nschedules = [\"ST-LBL\", \"2T-LF,ST-LBL\"]\n\
             axes = [{axes}]\n",
            m = models.display()
        )
    };
    let path = dir.join("sweep.toml");
    std::fs::write(&path, text("\"dram.latency_cycles=50,200\"")).expect("write");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.sweeps.len(), 1);
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(["run", path.to_str().expect("path"), "--out"])
        .arg(&out_dir)
        .output()
        .expect("run stems");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sweep 'latency'") && stdout.contains("4 points"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out_dir.join("sweep1/sweep.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 5);
    // A bad axis is reported with its field.
    std::fs::write(&path, text("\"dram.bw_bits=1..9\"")).expect("write");
    let e = Scenario::load(&path).expect_err("bad axis");
    assert!(
        e.to_string().contains("sweep 'latency' field 'axes'"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_adds_the_best_hybrid_per_policy_and_a_searched_best_all_verified() {
    let dir = std::env::temp_dir().join(format!("stems-beyond-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("beyond.toml");
    let models = std::env::current_dir().expect("cwd").join("models");
    let write = |extra: &str| {
        std::fs::write(
            &path,
            format!(
                r#"name = "beyond"
[[experiment]]
name = "tiny"
workload = "{m}/workloads/tiny_fused.toml"
hardware = "{m}/hardware/meta_proto.toml"
gb = "4KiB"
baseline = "ST-LBL"
eviction = "paper"
schedules = []
simulate = true
{extra}
"#,
                m = models.display()
            ),
        )
        .expect("write");
    };
    write("best_hybrid = {}\nsearch = { budget = 60, seed = 2, lines = [1, 2] }");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.experiments[0].run_count(), 4);
    let r = run(&s, |_, _| {}).expect("runs");
    let runs = &r.experiments[0].runs;
    let origins: Vec<String> = runs
        .iter()
        .map(|r| format!("{}, {} eviction", r.origin, r.eviction))
        .collect();
    assert_eq!(
        origins,
        [
            "baseline, paper eviction",
            "best hybrid, paper eviction",
            "best hybrid, cost eviction",
            "searched, cost eviction"
        ]
    );
    for run in runs {
        assert!(
            run.verification.as_ref().is_some_and(|v| v.verified),
            "{}",
            run.schedule
        );
    }
    let energy = |i: usize| runs[i].predicted.energy_pj.total;
    assert!(
        energy(3) <= energy(2),
        "the search starts from the hybrid grid"
    );
    // Bad requests name their field.
    for (extra, field) in [
        ("search = { budget = 0 }", "search.budget"),
        ("search = { lines = [] }", "search.lines"),
        ("best_hybrid = { evictions = [] }", "best_hybrid.evictions"),
        ("best_hybrid = { evictions = [\"lru\"] }", "lru"),
        ("search = { budgett = 5 }", "budgett"),
        ("", "lists no schedule"),
    ] {
        write(extra);
        let e = Scenario::load(&path).expect_err(extra).to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_runs_each_schedule_again_on_the_allocation_the_search_finds() {
    let dir = std::env::temp_dir().join(format!("stems-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("alloc.toml");
    let models = std::env::current_dir().expect("cwd").join("models");
    let write = |extra: &str| {
        std::fs::write(
            &path,
            format!(
                r#"name = "alloc"
[[experiment]]
name = "tiny on four cores"
workload = "{m}/workloads/tiny_fused.toml"
hardware = "{m}/hardware/mesh_2x2.toml"
gb = "16KiB"
baseline = "TB-LF"
schedules = ["ST-LBL"]
simulate = true
{extra}
"#,
                m = models.display()
            ),
        )
        .expect("write");
    };
    write("allocation_search = { budget = 40, seed = 1 }");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.experiments[0].run_count(), 4);
    let r = run(&s, |_, _| {}).expect("runs");
    let runs = &r.experiments[0].runs;
    assert_eq!(runs.len(), 4);
    for (single, searched) in [(&runs[0], &runs[2]), (&runs[1], &runs[3])] {
        assert_eq!(single.schedule, searched.schedule);
        assert!(
            searched.origin.starts_with("ga allocation"),
            "{}",
            searched.origin
        );
        assert!(
            searched.predicted.latency_cycles <= single.predicted.latency_cycles,
            "the search starts from one core"
        );
        assert!(searched.verification.as_ref().is_some_and(|v| v.verified));
    }
    assert!(runs[2].allocation.contains("core1") || runs[2].allocation.contains("core2"));
    let table = r.render_table();
    assert!(table.contains("by core"), "{table}");
    assert!(table.contains("noc_link"), "{table}");
    // `stems validate --scenario` validates the same runs, the searched allocations
    // included: one configuration for the experiment's own allocation, one per
    // allocation found (two schedules may share one).
    let plan = s.clone().validation_plan().expect("plan");
    assert_eq!(plan.runs.len(), 4);
    let found: std::collections::BTreeSet<_> = runs[2..].iter().map(|r| &r.allocation).collect();
    assert_eq!(plan.configs.len(), 1 + found.len());
    for run in &runs[2..] {
        assert!(
            plan.runs.iter().any(|v| {
                let c = &plan.configs[v.config];
                c.label.contains("ga allocation")
                    && v.spec.to_string() == run.schedule
                    && c.allocation.describe(&c.workload, &c.accelerator) == run.allocation
            }),
            "{} on {} is validated",
            run.schedule,
            run.allocation
        );
    }
    for (extra, field) in [
        (
            "allocation_search = { objective = \"dram_bits\" }",
            "allocation_search.objective",
        ),
        (
            "allocation_search = { unit = \"tile\" }",
            "allocation_search.unit",
        ),
        (
            "allocation_search = { budget = 0 }",
            "allocation_search.budget",
        ),
        ("allocation_search = { seeds = 1 }", "seeds"),
    ] {
        write(extra);
        let e = Scenario::load(&path).expect_err(extra).to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A sweep whose hardware, or a field set over it, cannot be read is reported against
/// that field and its line, not against its workload.
#[test]
fn a_sweep_names_the_field_its_loading_problem_belongs_to() {
    let root = std::env::current_dir().expect("cwd");
    let path = |p: &str| root.join(p).display().to_string();
    let text = format!(
        r#"name = "x"
[[sweep]]
name = "bad set"
workload = "{w}"
hardware = "{h}"
set = ["dram.model=timing"]
schedules = ["ST-LBL"]
axes = ["dram.bw_bits=64"]

[[sweep]]
name = "bad hardware"
workload = "{w}"
hardware = "{missing}"
schedules = ["ST-LBL"]
axes = ["dram.bw_bits=64"]
"#,
        w = path("models/workloads/tiny_fused.toml"),
        h = path("models/hardware/meta_proto.toml"),
        missing = path("models/hardware/no_such_chip.toml"),
    );
    let file = common::test_file("scenario", "fields", "fields.toml", text);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(["run", file.to_str().expect("path")])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains(":6: sweep 'bad set' field 'set'"), "{err}");
    assert!(
        err.contains(":13: sweep 'bad hardware' field 'hardware'"),
        "{err}"
    );
}
