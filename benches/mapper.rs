//! Intra-layer mapper throughput: candidate mappings evaluated per second, and the time
//! to map every unique computation tile of SEW-ResNet-18 for all cuts (1T, 2T, 4T, 8T,
//! 16T × layer-by-layer and one-line fused tiles) on one core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashSet;
use std::hint::black_box;
use std::path::Path;
use stems::mapping::{MapKey, Mapper, Objective, Residency};
use stems::model::{Accelerator, HardwareOverrides, Workload};
use stems::tiling::{CtShape, Cut, layer_regions};

fn unique_keys(workload: &Workload, accelerator: &Accelerator) -> Vec<MapKey> {
    let gb = accelerator.cores[0].global_sram().size_bits;
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for layer in &workload.layers {
        for tb in [1, 2, 4, 8, 16] {
            for lines in [None, Some(1)] {
                let cut = Cut {
                    time_batch: tb,
                    lines,
                };
                for region in layer_regions(layer, cut, workload.timesteps) {
                    let shape = CtShape::new(workload, layer, &region);
                    let (residency, budget) = Residency::pack(&shape, gb);
                    let key = MapKey {
                        shape,
                        core: 0,
                        residency,
                        stream_budget_bits: if residency.any_streamed() { budget } else { 0 },
                        objective: Objective::Energy,
                    };
                    if seen.insert(key) {
                        keys.push(key);
                    }
                }
            }
        }
    }
    keys
}

fn bench_mapper(c: &mut Criterion) {
    let workload = Workload::load(Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"))
        .expect("bundled workload");
    let accelerator = Accelerator::load(
        Path::new("models/hardware/meta_proto.toml"),
        HardwareOverrides {
            global_sram: Some("1MiB".parse().expect("size")),
        },
    )
    .expect("bundled accelerator");
    let keys = unique_keys(&workload, &accelerator);

    let mut probe = Mapper::new(&accelerator);
    for key in &keys {
        probe.map(*key).expect("every tile maps");
    }
    let candidates = probe.candidates_evaluated;
    eprintln!(
        "SEW-ResNet-18, all cuts: {} unique tiles, {} candidate mappings",
        keys.len(),
        candidates
    );

    let mut group = c.benchmark_group("mapper");
    group.sample_size(10);
    group.throughput(Throughput::Elements(candidates));
    group.bench_function("sew_resnet18_all_cuts_candidates", |b| {
        b.iter(|| {
            let mut mapper = Mapper::new(&accelerator);
            for key in &keys {
                black_box(mapper.map(*key).expect("maps"));
            }
            mapper.candidates_evaluated
        })
    });
    group.finish();
}

criterion_group!(benches, bench_mapper);
criterion_main!(benches);
