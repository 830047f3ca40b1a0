//! Prefix sharing (issue 29): a schedule continued from a checkpoint of the blocks it
//! shares with an earlier one predicts exactly what it predicts when run from the start,
//! under both eviction policies, and sharing does happen.

use std::path::Path;
use stems::explore::Space;
use stems::mapping::Mapper;
use stems::model::{Overrides, load};
use stems::schedule::{
    Allocation, Eviction, PrefixCache, SchedulerOptions, predict, predict_sharing,
};
use stems::tiling::graph::{BuildRecord, TileGraph};

/// Every `stride`-th schedule of the exhaustive space, run in prefix order with one
/// cache and each on its own; returns how many continued from a checkpoint.
fn same_with_and_without_sharing(
    workload: &str,
    gb: &str,
    stride: usize,
    eviction: Eviction,
) -> u64 {
    let (w, acc) = load(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            ..Overrides::default()
        },
    )
    .expect("models");
    let options = SchedulerOptions {
        eviction,
        ..SchedulerOptions::default()
    };
    let allocation = Allocation::first_able(&w, &acc);
    let mut points = Space::Exhaustive.points(w.num_blocks);
    points.sort_by_cached_key(|p| p.spec.prefix_order_key(w.timesteps));
    let mut shared_mapper = Mapper::new(&acc);
    let mut cache = PrefixCache::new(64 << 20);
    let strided: Vec<_> = points.iter().step_by(stride).collect();
    for (i, p) in strided.iter().enumerate() {
        // Half the schedules name the next one (checkpoints only where it shares them),
        // the others keep a checkpoint the second time its key comes up.
        let next = strided.get(i + 1).filter(|_| i % 2 == 0).map(|n| &n.spec);
        let shared = predict_sharing(
            &w,
            &acc,
            &p.spec,
            &allocation,
            options,
            &mut shared_mapper,
            &mut cache,
            next,
        )
        .expect("schedules");
        let alone = predict(
            &w,
            &acc,
            &p.spec,
            &allocation,
            options,
            &mut Mapper::new(&acc),
        )
        .expect("schedules");
        assert_eq!(
            serde_json::to_string(&shared).expect("json"),
            serde_json::to_string(&alone).expect("json"),
            "{} ({eviction})",
            p.spec
        );
    }
    cache.hits
}

#[test]
fn sharing_changes_no_figure_on_tiny_fused() {
    for eviction in [Eviction::Cost, Eviction::Paper] {
        same_with_and_without_sharing("models/workloads/tiny_fused.toml", "4KiB", 1, eviction);
    }
}

#[test]
fn sharing_changes_no_figure_on_sew_resnet18_and_red_lif() {
    let hits = same_with_and_without_sharing(
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "128KiB",
        37,
        Eviction::Cost,
    );
    assert!(hits > 0, "no schedule continued from a checkpoint");
    same_with_and_without_sharing(
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "128KiB",
        97,
        Eviction::Paper,
    );
    let hits = same_with_and_without_sharing(
        "models/workloads/red_lif_gen4.toml",
        "512KiB",
        211,
        Eviction::Cost,
    );
    assert!(hits > 0, "no schedule continued from a checkpoint");
}

#[test]
fn sharing_changes_no_figure_on_sew_resnet152() {
    let hits = same_with_and_without_sharing(
        "models/workloads/sew_resnet152_imagenet.toml",
        "2MiB",
        257,
        Eviction::Cost,
    );
    assert!(hits > 0, "no schedule continued from a checkpoint");
}

fn stems(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn the_search_reports_its_sharing_and_an_absurd_cache_is_refused() {
    let dir = std::env::temp_dir().join(format!("stems_prefix_search_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let common = [
        "explore",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "128KiB",
        "--space",
        "search",
        "--budget",
        "300",
    ];
    let out = stems(&[&common[..], &["--out", dir.to_str().expect("utf-8")]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let sharing = &summary["prefix_sharing"];
    assert_eq!(sharing["schedules"], 300, "{sharing}");
    assert!(
        sharing["continued"].as_u64().expect("count") > 0,
        "{sharing}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let out = stems(&[&common[..], &["--prefix-cache", "1TiB"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--prefix-cache") && err.contains("per worker"),
        "{err}"
    );
}

/// Every schedule of a stretch of the exhaustive space in prefix order (`take` from
/// every `stride`-th), its graph built from the one before and afresh: the same graph.
/// Returns how many took tiles from the one before.
fn spliced_graphs_equal_fresh_ones(workload: &str, stride: usize, take: usize) -> usize {
    let w = stems::model::Workload::load(Path::new(workload)).expect("model");
    let mut points = Space::Exhaustive.points(w.num_blocks);
    points.sort_by_cached_key(|p| p.spec.prefix_order_key(w.timesteps));
    let cores = vec![0; w.layers.len()];
    let mut before: Option<(TileGraph, BuildRecord)> = None;
    let mut spliced = 0;
    for start in (0..points.len()).step_by(stride) {
        for p in points.iter().skip(start).take(take) {
            let cuts = p.spec.cuts(w.timesteps);
            if stems::tiling::cut_problem(&w, &cuts).is_some() {
                continue;
            }
            let (graph, record, taken) = TileGraph::build_after(&w, &cuts, &cores, before.take());
            let fresh = TileGraph::build(&w, &cuts, &cores);
            if graph != fresh {
                let tile =
                    (0..fresh.tiles.len()).find(|&i| graph.tiles.get(i) != Some(&fresh.tiles[i]));
                let object = (0..fresh.objects.len())
                    .find(|&i| graph.objects.get(i) != Some(&fresh.objects[i]));
                panic!(
                    "{workload}: {} built from the one before ({taken} tiles taken) differs: \
                     tile {tile:?} {:?} vs {:?}, object {object:?} {:?} vs {:?}",
                    p.spec,
                    tile.and_then(|i| graph.tiles.get(i)),
                    tile.map(|i| &fresh.tiles[i]),
                    object.and_then(|i| graph.objects.get(i)),
                    object.map(|i| &fresh.objects[i]),
                );
            }
            spliced += usize::from(taken > 0);
            before = Some((graph, record));
        }
    }
    spliced
}

#[test]
fn graphs_built_from_the_one_before_are_built_right() {
    for (workload, stride, take) in [
        ("models/workloads/tiny_fused.toml", 1, 1),
        ("models/workloads/shd_rsnn.toml", 1, 1),
        ("models/workloads/sew_resnet18_cifar10dvs.toml", 331, 12),
        ("models/workloads/red_lif_gen4.toml", 1499, 12),
        ("models/workloads/spikformer_4_384_cifar10.toml", 97, 12),
    ] {
        let spliced = spliced_graphs_equal_fresh_ones(workload, stride, take);
        assert!(
            spliced > 0,
            "{workload}: no graph took tiles from the one before"
        );
    }
}
