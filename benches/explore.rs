//! Exploration throughput: the hybrid (N+1)² space of SEW-ResNet-18 (64 schedules) at
//! 128 KiB, in schedules per second, on one thread and on all cores.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use stems::explore::{Side, Space, explore};
use stems::model::{Overrides, load};
use stems::schedule::SchedulerOptions;

fn bench_explore(c: &mut Criterion) {
    let (w, acc) = load(
        Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some("128KiB".parse().expect("size")),
            stateless_blocks: vec![],
            hardware: Vec::new(),
        },
    )
    .expect("models");
    let points = Space::Hybrid {
        batch_from: Side::Input,
        fuse_from: Side::Input,
    }
    .points(w.num_blocks);
    let mut group = c.benchmark_group("explore");
    group.sample_size(10);
    group.throughput(Throughput::Elements(points.len() as u64));
    for threads in [1, 0] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let name = if threads == 1 {
            "sew_resnet18_hybrid_1_thread"
        } else {
            "sew_resnet18_hybrid_all_cores"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                pool.install(|| {
                    black_box(
                        explore(&w, &acc, &points, SchedulerOptions::default(), || {})
                            .expect("explores")
                            .len(),
                    )
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_explore);
criterion_main!(benches);
