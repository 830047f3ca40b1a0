//! Ranking only the best K (`stems explore --best K`, issue 29): the K kept are exactly
//! the first K of the full ranking, by every rank, and the rest are dropped early.

use std::path::Path;
use stems::explore::space_run::{CostedSpace, SpaceRun, cost_space};
use stems::explore::store::RunHeader;
use stems::explore::{Outcome, Rank, Space};
use stems::model::{Accelerator, Overrides, Workload, load};
use stems::rundir::Shard;
use stems::rundir::journaled::{Estimate, Place};
use stems::schedule::SchedulerOptions;

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

/// The exhaustive space (or the shard of it), every schedule or only the best `k`, on
/// `jobs` threads.
fn costed(
    w: &Workload,
    acc: &Accelerator,
    shard: Option<Shard>,
    best: Option<(Rank, usize)>,
    jobs: usize,
) -> CostedSpace {
    let points = Space::Exhaustive.points(w.num_blocks);
    let header = RunHeader {
        workload: w.name.clone(),
        blocks: w.num_blocks,
        timesteps: w.timesteps,
        global_sram_bits: acc.cores[0].global_sram().size_bits,
        space: Space::Exhaustive,
        rank_by: Rank::Energy,
        points: points.len(),
        shard,
        fingerprint: Default::default(),
    };
    let run = SpaceRun {
        workload: w,
        accelerator: acc,
        header: &header,
        points: &points,
        options: SchedulerOptions::default(),
        jobs: Some(jobs),
        prefix_cache_bytes: 16 << 20,
        place: Place::Nowhere,
        best,
    };
    cost_space::<anyhow::Error>(&run, &(), |_: &Estimate| Ok(())).expect("a costed space")
}

/// The first `k` outcomes by `rank` (ties: the earlier point), in the space's order.
fn first_k(all: &[Outcome], rank: Rank, k: usize) -> Vec<String> {
    let mut ranked: Vec<&Outcome> = all.iter().collect();
    ranked.sort_by(|a, b| {
        rank.value(&a.report)
            .total_cmp(&rank.value(&b.report))
            .then(a.index.cmp(&b.index))
    });
    let mut top: Vec<&Outcome> = ranked.into_iter().take(k).collect();
    top.sort_by_key(|o| o.index);
    top.iter()
        .map(|o| serde_json::to_string(o).expect("json"))
        .collect()
}

fn rows(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| serde_json::to_string(o).expect("json"))
        .collect()
}

const RANKS: [Rank; 4] = [
    Rank::Energy,
    Rank::DramEnergy,
    Rank::DramBits,
    Rank::Latency,
];

#[test]
fn the_best_k_of_tiny_fused_are_the_first_k_of_the_full_ranking() {
    let (w, acc) = models("models/workloads/tiny_fused.toml", "4KiB");
    let all = costed(&w, &acc, None, None, 2);
    assert_eq!(all.pruned, None);
    for rank in RANKS {
        for k in [1, 3, 16, 100] {
            let best = costed(&w, &acc, None, Some((rank, k)), 2);
            assert_eq!(
                rows(&best.outcomes),
                first_k(&all.outcomes, rank, k),
                "{rank} {k}"
            );
            assert_eq!(best.costed, all.outcomes.len(), "every schedule is counted");
        }
    }
}

#[test]
fn the_best_k_of_a_sew_resnet18_stride_are_the_first_k_and_a_quarter_are_dropped() {
    let (w, acc) = models("models/workloads/sew_resnet18_cifar10dvs.toml", "128KiB");
    let shard = Some("5/16".parse::<Shard>().expect("shard"));
    let all = costed(&w, &acc, shard, None, 2);
    for rank in RANKS {
        // How many are dropped depends on the order schedules finish in: one thread.
        let best = costed(&w, &acc, shard, Some((rank, 5)), 1);
        assert_eq!(
            rows(&best.outcomes),
            first_k(&all.outcomes, rank, 5),
            "{rank}"
        );
        let pruned = best.pruned.expect("a pruned count");
        assert!(
            pruned as usize > all.outcomes.len() / 4,
            "{rank}: only {pruned} of {} dropped",
            all.outcomes.len()
        );
    }
}

fn stems(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("stems runs")
}

#[test]
fn best_writes_its_k_rows_and_the_pruned_count_and_refuses_what_it_cannot_do() {
    let dir = std::env::temp_dir().join(format!("stems-best-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let models = [
        "explore",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "128KiB",
    ];
    let out = stems(
        &[
            &models[..],
            &["--best", "4", "--out", dir.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("explore.csv")).expect("explore.csv");
    assert_eq!(csv.lines().count(), 1 + 4, "a header and four rows:\n{csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("json"))
            .expect("summary.json");
    assert!(summary["pruned"].as_u64().is_some(), "{summary}");
    let baseline = &summary["baseline"]["schedule"];
    assert_eq!(
        baseline[0], "ST-LBL",
        "the baseline is costed whole: {summary}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("dropped as unable to rank among the best 4"),
        "{table}"
    );
    for (extra, says) in [
        (&["--best", "0"][..], "--best must be at least 1"),
        (
            &["--best", "3", "--shard", "0/2"][..],
            "cannot be used with",
        ),
        (
            &["--best", "3", "--space", "search"][..],
            "--best apply to the enumerated",
        ),
    ] {
        let out = stems(&[&models[..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
