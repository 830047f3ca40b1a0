//! Exploration throughput on SEW-ResNet-18 at 128 KiB, in schedules per second: the
//! hybrid (N+1)² space (64 schedules) on one thread and on all cores; a stride of the
//! exhaustive 4^N space under the paper's eviction rule (every 61st of 16,384
//! schedules: a prime stride mixes every block's cuts, and a sample takes about a
//! second); the genetic search (300 evaluations); and the genetic allocation search
//! on four cores (mesh_2x2, TB-LF, 300 allocations); and a subtree of the exhaustive
//! space ranked for its best 10 only (`--best 10`). Each sample starts with cold
//! mapping caches. The hybrid space also runs on a chip that skips zeros and stores
//! coordinates, where the workload's 7 % activity enters every mapping: it should stay
//! within 20 % of the dense chip's rate (on the dense chip activity changes nothing).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use stems::explore::search::{Objective, SearchOptions, SearchSpace, search};
use stems::explore::{Side, Space, explore};
use stems::model::{Overrides, load};
use stems::schedule::{Eviction, SchedulerOptions};

fn bench_explore(c: &mut Criterion) {
    let (w, acc) = load(
        Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some("128KiB".parse().expect("size")),
            stateless_blocks: vec![],
            hardware: Vec::new(),
            activity: None,
            layer_activity: Vec::new(),
        },
    )
    .expect("models");
    let hybrid = Space::Hybrid {
        batch_from: Side::Input,
        fuse_from: Side::Input,
    }
    .points(w.num_blocks);
    let exhaustive: Vec<_> = Space::Exhaustive
        .points(w.num_blocks)
        .into_iter()
        .step_by(61)
        .collect();
    // A subtree of the exhaustive space: blocks 0 and 1 ST-LBL, all 4^5 cuts of the
    // rest (where prefix sharing continues schedules from their common first blocks).
    let subtree: Vec<_> = Space::Exhaustive
        .points(w.num_blocks)
        .into_iter()
        .filter(|p| p.spec.blocks[..2].iter().all(|b| b.to_string() == "ST-LBL"))
        .collect();
    let paper = SchedulerOptions {
        eviction: Eviction::Paper,
        ..SchedulerOptions::default()
    };
    let (_, sparse_acc) = load(
        Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some("128KiB".parse().expect("size")),
            hardware: [
                "core0.pe_array.sparsity=skip",
                "core0.global_sram.feature_format=coordinate",
                "dram.feature_format=coordinate",
            ]
            .iter()
            .map(|s| s.parse().expect("PATH=VALUE"))
            .collect(),
            ..Overrides::default()
        },
    )
    .expect("models");
    let mut group = c.benchmark_group("explore");
    group.sample_size(10);
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    };
    for (name, points, threads, options) in [
        (
            "sew_resnet18_hybrid_1_thread",
            &hybrid,
            1,
            SchedulerOptions::default(),
        ),
        (
            "sew_resnet18_hybrid_all_cores",
            &hybrid,
            0,
            SchedulerOptions::default(),
        ),
        (
            "sew_resnet18_exhaustive_stride61_all_cores_paper",
            &exhaustive,
            0,
            paper,
        ),
        (
            "sew_resnet18_exhaustive_subtree_1024_all_cores",
            &subtree,
            0,
            SchedulerOptions::default(),
        ),
    ] {
        let pool = pool(threads);
        group.throughput(Throughput::Elements(points.len() as u64));
        // The skipping chip on the hybrid space only (the subtree shares the options).
        if name == "sew_resnet18_hybrid_all_cores" {
            group.bench_function("sew_resnet18_hybrid_all_cores_skip_coordinates", |b| {
                b.iter(|| {
                    pool.install(|| {
                        black_box(
                            explore(&w, &sparse_acc, points, options, || {})
                                .expect("explores")
                                .len(),
                        )
                    })
                })
            });
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                pool.install(|| {
                    black_box(
                        explore(&w, &acc, points, options, || {})
                            .expect("explores")
                            .len(),
                    )
                })
            })
        });
    }
    // The same subtree ranked for its best 10 only (`explore --best 10`): a schedule
    // is dropped at the first boundary where what it has cost exceeds the 10th best.
    let header = stems::explore::store::RunHeader {
        workload: w.name.clone(),
        blocks: w.num_blocks,
        timesteps: w.timesteps,
        global_sram_bits: acc.cores[0].global_sram().size_bits,
        space: Space::Exhaustive,
        rank_by: stems::explore::Rank::Energy,
        points: subtree.len(),
        shard: None,
        fingerprint: Default::default(),
    };
    let best_10 = stems::explore::space_run::SpaceRun {
        workload: &w,
        accelerator: &acc,
        header: &header,
        points: &subtree,
        options: SchedulerOptions::default(),
        jobs: None,
        prefix_cache_bytes: stems::explore::workers::PREFIX_CACHE_BYTES_PER_WORKER,
        place: stems::rundir::journaled::Place::Nowhere,
        best: Some((stems::explore::Rank::Energy, 10)),
    };
    group.throughput(Throughput::Elements(subtree.len() as u64));
    group.bench_function(
        "sew_resnet18_exhaustive_subtree_1024_best_10_all_cores",
        |b| {
            b.iter(|| {
                let costed =
                    stems::explore::space_run::cost_space::<anyhow::Error>(&best_10, &(), |_| {
                        Ok(())
                    })
                    .expect("explores");
                black_box(costed.outcomes.len())
            })
        },
    );
    let space = SearchSpace::new(w.num_blocks, w.timesteps, &[1, 2, 4, 8]);
    let options = SearchOptions {
        budget: 300,
        seed: 0,
        population: 32,
        objective: Objective::Energy,
        warm_start: Vec::new(),
        prefix_cache_bytes: Some(stems::explore::workers::PREFIX_CACHE_BYTES_PER_WORKER),
    };
    let all_cores = pool(0);
    group.throughput(Throughput::Elements(options.budget as u64));
    group.bench_function("sew_resnet18_search_300_all_cores", |b| {
        b.iter(|| {
            all_cores.install(|| {
                black_box(
                    search(
                        &w,
                        &acc,
                        &space,
                        &options,
                        SchedulerOptions::default(),
                        |_| {},
                    )
                    .0
                    .len(),
                )
            })
        })
    });
    let mesh = stems::model::Accelerator::load(
        Path::new("models/hardware/mesh_2x2.toml"),
        stems::model::HardwareOverrides::default(),
    )
    .expect("mesh");
    let fused =
        stems::schedule::ScheduleSpec::parse("TB-LF", w.num_blocks, w.timesteps).expect("spec");
    let allocations = stems::explore::allocate::AllocationSpace::new(
        &w,
        &mesh,
        stems::explore::allocate::Unit::Layer,
    )
    .expect("space");
    let allocate_options = stems::explore::allocate::AllocateOptions {
        budget: 300,
        seed: 0,
        population: 32,
        objective: Objective::Latency,
    };
    group.throughput(Throughput::Elements(allocate_options.budget as u64));
    group.bench_function("sew_resnet18_allocate_300_mesh_2x2_all_cores", |b| {
        b.iter(|| {
            all_cores.install(|| {
                black_box(
                    stems::explore::allocate::allocate(
                        &w,
                        &mesh,
                        &fused,
                        &allocations,
                        allocate_options,
                        SchedulerOptions::default(),
                        |_| {},
                    )
                    .len(),
                )
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_explore);
criterion_main!(benches);
