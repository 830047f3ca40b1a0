//! Exploration: the spaces have the paper's shapes, results do not depend on the thread
//! count, the outputs are written, and the hybrid exploration finds the optimal schedules
//! the paper reports (figures 8/10 and 13, appendix 10.2).

use std::path::Path;
use std::process::Command;
use stems::explore::{Rank, Side, Space, best, explore};
use stems::model::{Overrides, load};
use stems::schedule::{Eviction, SchedulerOptions};

/// tiny_fused on the paper's accelerator with `gb` of global SRAM.
fn tiny_fused(gb: &str) -> (stems::model::Workload, stems::model::Accelerator) {
    load(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            ..Overrides::default()
        },
    )
    .expect("models")
}

fn best_schedule(workload: &str, gb: &str, stateless: &[usize], batch_from: Side) -> String {
    let (w, acc) = load(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            stateless_blocks: stateless.to_vec(),
            hardware: Vec::new(),
            activity: None,
            layer_activity: Vec::new(),
        },
    )
    .expect("models");
    let space = Space::Hybrid {
        batch_from,
        fuse_from: Side::Input,
    };
    let points = space.points(w.num_blocks);
    // The paper's optima under the paper's memory manager.
    let options = SchedulerOptions {
        eviction: Eviction::Paper,
        ..SchedulerOptions::default()
    };
    let outcomes = explore(&w, &acc, &points, options, || {}).expect("explores");
    let i = best(&outcomes, Rank::DramEnergy).expect("non-empty");
    outcomes[i].point.spec.to_string()
}

#[test]
fn the_hybrid_space_has_n_plus_one_squared_schedules_and_the_exhaustive_four_to_the_n() {
    let hybrid = Space::Hybrid {
        batch_from: Side::Output,
        fuse_from: Side::Input,
    };
    let points = hybrid.points(3);
    assert_eq!(points.len(), 16);
    let p = points
        .iter()
        .find(|p| p.batched == 1 && p.fused == 2)
        .expect("point");
    assert_eq!(p.spec.to_string(), "ST-LF,ST-LF,TB-LBL");
    let all = Space::Exhaustive.points(3);
    assert_eq!(all.len(), 64);
    let mut names: Vec<String> = all.iter().map(|p| p.spec.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 64, "every combination once");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (w, acc) = tiny_fused("4KiB");
    let points = Space::Exhaustive.points(w.num_blocks);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            explore(&w, &acc, &points, SchedulerOptions::default(), || {}).expect("explores")
        })
    };
    let one = serde_json::to_string(&run(1)).expect("json");
    let two = serde_json::to_string(&run(2)).expect("json");
    assert_eq!(one, two);
}

#[test]
fn explore_writes_csv_summary_and_pictures() {
    let dir = std::env::temp_dir().join(format!("stems-explore-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "explore",
            "--workload",
            "models/workloads/tiny_fused.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "4KiB",
            "--jobs",
            "2",
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
    let csv = std::fs::read_to_string(dir.join("explore.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 9, "a header and (2+1)² rows");
    assert!(
        csv.lines()
            .next()
            .expect("header")
            .starts_with("point,batched,fused,schedule,energy_pj")
    );
    for svg in ["dram_energy.svg", "energy.svg", "breakdown.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).expect("svg");
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("json"))
            .expect("json");
    assert_eq!(summary["schedules"], 9);
    assert!(summary["best"]["schedule"].is_array());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn red_lif_at_512kib_favours_fusing_the_feed_forward_blocks_and_batching_the_lif_layers() {
    // Figures 8 and 10: ST-LF for the three feed-forward blocks, TB-LBL for the LIF layers.
    assert_eq!(
        best_schedule(
            "models/workloads/red_lif_gen4.toml",
            "512KiB",
            &[],
            Side::Output
        ),
        "ST-LF,ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL"
    );
}

#[test]
fn sew5_at_128kib_has_the_same_shape_of_optimum_as_red_lif() {
    // Figure 13.
    assert_eq!(
        best_schedule(
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "128KiB",
            &[0, 1],
            Side::Output
        ),
        "ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL"
    );
}

#[test]
fn sew_resnet152_at_1mib_batches_everything_and_fuses_the_first_hyperblock() {
    // Appendix 10.2.
    assert_eq!(
        best_schedule(
            "models/workloads/sew_resnet152_imagenet.toml",
            "1MiB",
            &[],
            Side::Input
        ),
        "TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL"
    );
}

#[test]
fn the_bounds_rule_out_the_schedules_whose_floor_lies_above_the_fastest_ones_ceiling() {
    let (w, acc) = tiny_fused("8KiB");
    let points = Space::Exhaustive.points(w.num_blocks);
    let mut outcomes =
        explore(&w, &acc, &points, SchedulerOptions::default(), || {}).expect("explores");
    let order = stems::explore::ranked(&outcomes, Rank::Energy);
    // Bounds as tight as the predictions: every schedule slower than the fastest is
    // certainly slower, and those as fast are not.
    for o in &mut outcomes {
        let l = o.report.latency_cycles;
        o.report.latency_bounds = Some(stems::cost::LatencyBounds {
            floor_cycles: l,
            ceiling_cycles: l,
        });
    }
    let fastest = outcomes.iter().map(|o| o.report.latency_cycles).min();
    let slower = outcomes
        .iter()
        .filter(|o| Some(o.report.latency_cycles) > fastest)
        .count();
    assert!(slower > 0);
    assert_eq!(
        stems::explore::certainly_slower(&outcomes, &order),
        Some(slower)
    );
    // A fastest prediction without bounds rules nothing out.
    let i = order
        .iter()
        .copied()
        .min_by_key(|&i| outcomes[i].report.latency_cycles)
        .expect("outcomes");
    outcomes[i].report.latency_bounds = None;
    assert_eq!(stems::explore::certainly_slower(&outcomes, &order), None);
}
