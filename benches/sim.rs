//! Simulator throughput: the raw event-queue rate (push + pop with a few thousand
//! events pending, the kernel's `EventQueue` on the priority-queue crate, next to std's
//! BinaryHeap for reference) and whole simulations in events per second. The component
//! logic should cost at most as much as the queue: simulation events/s at least half the
//! raw queue rate of the same run. Each simulation runs verified (the default) and
//! unverified, to show what data-validity tracking costs: verified runs should keep at
//! least 70 % of the unverified event rate. With spike activity the same simulation runs
//! on a chip that skips zeros and stores coordinates, executing pre-drawn spikes (the
//! drawing is outside the measurement, as `simulate` times it): it should keep at least
//! half the dense event rate. The DRAM timing model runs the heaviest DRAM user at
//! least at a third of the port model's event rate.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::path::Path;
use stems::model::Overrides;
use stems::schedule::{Schedule, SchedulerOptions};
use stems::sim::kernel::EventQueue;
use stems::sim::message::Message;
use stems::sim::{SimOptions, simulate};

const PENDING: u64 = 4096;
const OPS: u64 = 100_000;

/// A deterministic spread of future cycles.
fn delay(i: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) >> 7) % 1000
}

fn bench_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_queue");
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("kernel_push_pop_4096_pending", |b| {
        b.iter_batched(
            || {
                let mut q = EventQueue::new();
                for i in 0..PENDING {
                    q.push(delay(i), 0, Message::Start);
                }
                q
            },
            |mut q| {
                for i in 0..OPS {
                    let (at, to, msg) = q.pop().expect("pending events");
                    q.push(at + delay(i) + 1, to, msg);
                }
                black_box(q.len())
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("std_binary_heap_push_pop_4096_pending", |b| {
        b.iter_batched(
            || {
                let mut h = BinaryHeap::new();
                for i in 0..PENDING {
                    h.push(Reverse((delay(i), i)));
                }
                h
            },
            |mut h| {
                for i in 0..OPS {
                    let Reverse((at, _)) = h.pop().expect("pending events");
                    h.push(Reverse((at + delay(i) + 1, PENDING + i)));
                }
                black_box(h.len())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn plan(workload: &str, gb: &str, spec: &str) -> Schedule {
    plan_on(workload, gb, spec, &[])
}

fn plan_on(workload: &str, gb: &str, spec: &str, sets: &[&str]) -> Schedule {
    stems::schedule::plan(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            stateless_blocks: Vec::new(),
            hardware: sets
                .iter()
                .map(|s| s.parse().expect("PATH=VALUE"))
                .collect(),
            activity: None,
            layer_activity: Vec::new(),
        },
        spec,
        SchedulerOptions::default(),
    )
    .expect("schedule")
}

fn bench_simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    for (name, gb, spec) in [
        ("sew_resnet18_128KiB_ST-LBL", "128KiB", "ST-LBL"),
        (
            "sew_resnet18_128KiB_TB-LF_TB-LBL",
            "128KiB",
            "TB-LF,TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
        ),
    ] {
        let s = plan("models/workloads/sew_resnet18_cifar10dvs.toml", gb, spec);
        let events = simulate(s.clone(), &SimOptions::default())
            .expect("simulates")
            .events;
        group.throughput(Throughput::Elements(events));
        for verify in [true, false] {
            let options = SimOptions {
                verify,
                ..SimOptions::default()
            };
            let label = format!("{name}/{}", if verify { "verified" } else { "unverified" });
            group.bench_function(label, |b| {
                b.iter_batched(
                    || s.clone(),
                    |s| black_box(simulate(s, &options).expect("simulates").events),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

/// The same simulations executing spikes: SEW-ResNet-18 at its stated 7 % on a chip
/// that skips zeros and stores features as coordinates, against the dense chip.
fn bench_spikes(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation_with_spikes");
    group.sample_size(10);
    let sparse = [
        "core0.pe_array.sparsity=skip",
        "core0.global_sram.feature_format=coordinate",
        "dram.feature_format=coordinate",
    ];
    let spec = "TB-LF,TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL";
    let w = "models/workloads/sew_resnet18_cifar10dvs.toml";
    for (name, sets) in [("dense", &[][..]), ("skip_coordinates", &sparse[..])] {
        let s = plan_on(w, "128KiB", spec, sets);
        let spikes = stems::spikes::generate(&s.workload, Default::default()).expect("spikes");
        let options = SimOptions {
            spikes: stems::sim::SpikeSource::Given(std::sync::Arc::new(spikes)),
            ..SimOptions::default()
        };
        let events = simulate(s.clone(), &options).expect("simulates").events;
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("sew_resnet18_128KiB_TB-LF_TB-LBL/{name}"), |b| {
            b.iter_batched(
                || s.clone(),
                |s| black_box(simulate(s, &options).expect("simulates").events),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// SEW-ResNet-18 ST-LBL (the heaviest DRAM user) on the port model and on the DRAM
/// timing model's presets: the timing model should keep at least a third of the
/// port model's event rate.
fn bench_dram_models(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation_dram_model");
    group.sample_size(10);
    let w = "models/workloads/sew_resnet18_cifar10dvs.toml";
    for preset in ["port", "ddr4_2400", "hbm2"] {
        let sets: Vec<String> = if preset == "port" {
            Vec::new()
        } else {
            vec![
                "dram.model=timing".into(),
                format!("dram.timing.preset={preset}"),
            ]
        };
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let s = plan_on(w, "128KiB", "ST-LBL", &sets);
        let events = simulate(s.clone(), &SimOptions::default())
            .expect("simulates")
            .events;
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("sew_resnet18_128KiB_ST-LBL/{preset}"), |b| {
            b.iter_batched(
                || s.clone(),
                |s| {
                    black_box(
                        simulate(s, &SimOptions::default())
                            .expect("simulates")
                            .events,
                    )
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_queue,
    bench_simulation,
    bench_spikes,
    bench_dram_models
);
criterion_main!(benches);
