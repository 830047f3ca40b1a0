//! Several cores on a mesh: layers on different cores pipeline, features cross the
//! NoC, and both halves account for the links the same way.

use std::path::Path;
use stems::mapping::Mapper;
use stems::model::{Accelerator, HardwareOverrides, Workload};
use stems::schedule::{Allocation, Schedule, ScheduleSpec, SchedulerOptions, schedule};
use stems::sim::{MeasuredReport, SimOptions, simulate};

const MESH: &str = "models/hardware/mesh_2x2.toml";
const TINY: &str = "models/workloads/tiny_fused.toml";

fn mesh(gb: &str) -> Accelerator {
    let mut acc = Accelerator::load(Path::new(MESH), HardwareOverrides::default()).expect("mesh");
    acc.apply(HardwareOverrides {
        global_sram: Some(gb.parse().expect("size")),
    })
    .expect("within limits");
    acc
}

fn plan(acc: &Accelerator, workload: &str, spec: &str, allocate: &str) -> Schedule {
    let w = Workload::load(Path::new(workload)).expect("workload");
    let allocation = if allocate.is_empty() {
        Allocation::single_core(&w)
    } else {
        Allocation::parse(allocate, &w, acc).expect("allocation")
    };
    let spec = ScheduleSpec::parse(spec, w.num_blocks, w.timesteps).expect("spec");
    schedule(
        &w,
        acc,
        &spec,
        &allocation,
        SchedulerOptions::default(),
        &mut Mapper::new(acc),
    )
    .expect("schedule")
}

fn run(s: Schedule) -> MeasuredReport {
    let options = SimOptions {
        record_timelines: true,
        ..SimOptions::default()
    };
    simulate(s, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// (first start, last end) of a layer's tiles on a core, as simulated.
fn span(m: &MeasuredReport, core: usize, layer: usize) -> (u64, u64) {
    let t = &m.timelines.as_ref().expect("timelines").cores[core].tiles;
    let mine: Vec<_> = t.iter().filter(|(_, _, l)| *l == layer).collect();
    assert!(!mine.is_empty(), "layer {layer} ran on core {core}");
    (
        mine.iter().map(|(s, _, _)| *s).min().unwrap_or(0),
        mine.iter().map(|(_, e, _)| *e).max().unwrap_or(0),
    )
}

#[test]
fn a_consumer_core_starts_before_its_producer_layer_finishes() {
    let acc = mesh("64KiB");
    // Fused line tiles over all timesteps: conv_a on core0, conv_b and the pool on core1.
    let s = plan(&acc, TINY, "TB-LF", "conv_b=core1,pool=core1");
    let p = s.predicted.clone();
    let m = run(s);
    assert!(m.verification.verified, "verification passes");
    let (_, conv_a_end) = span(&m, 0, 0);
    let (conv_b_start, _) = span(&m, 1, 1);
    assert!(
        conv_b_start < conv_a_end,
        "conv_b starts at {conv_b_start}, before conv_a ends at {conv_a_end}"
    );
    // Features crossed the mesh, and the two halves count the same link traffic.
    assert!(p.noc_bits > 0);
    assert_eq!(m.report.noc_bits, p.noc_bits);
    // The busiest link's occupancy: link by link, the same bookings in both halves.
    assert!(p.noc_busy_cycles > 0);
    assert_eq!(m.report.noc_busy_cycles, p.noc_busy_cycles);
    assert_eq!(m.report.dram_bits, p.dram_bits);
    let (pe, me) = (p.energy_pj.noc, m.report.energy_pj.noc);
    assert!(pe > 0.0 && (pe - me).abs() <= 1e-9 * pe, "{pe} vs {me}");

    // The producer never waits for the consumer's compute: its copies of moved lines
    // go as soon as the moves land, so the two halves' latencies stay close. (Holding
    // them until core1's readers ran put the simulation 13.6 % over the prediction.)
    let (pl, ml) = (p.latency_cycles as f64, m.report.latency_cycles as f64);
    assert!(
        (ml - pl).abs() <= 0.10 * pl,
        "measured {ml} vs predicted {pl}"
    );

    // Pipelined, the network finishes sooner than on one core, in both halves.
    let one = plan(&acc, TINY, "TB-LF", "");
    let one_p = one.predicted.latency_cycles;
    let one_m = run(one).report.latency_cycles;
    assert!(p.latency_cycles < one_p, "{} vs {one_p}", p.latency_cycles);
    assert!(
        m.report.latency_cycles < one_m,
        "{} vs {one_m}",
        m.report.latency_cycles
    );
}

#[test]
fn dram_traffic_of_a_core_away_from_the_dram_node_crosses_the_mesh() {
    let acc = mesh("64KiB");
    // Everything on core3, two hops from the DRAM's node: every DRAM bit crosses two
    // links, and nothing else moves over the mesh.
    let s = plan(&acc, TINY, "ST-LBL", "block:0=core3,block:1=core3");
    let p = s.predicted.clone();
    assert_eq!(p.noc_bits, 2 * p.dram_bits.total);
    let m = run(s);
    assert!(m.verification.verified);
    assert_eq!(m.report.noc_bits, p.noc_bits);
    assert_eq!(m.report.noc_busy_cycles, p.noc_busy_cycles);
    // At 2 KiB the tiles stream from DRAM; their fills and stores cross the mesh too,
    // and the links are as busy in both halves.
    let small = mesh("2KiB");
    let s = plan(&small, TINY, "ST-LBL", "block:0=core3,block:1=core3");
    assert!(
        s.tiles.iter().any(|t| !t.streamed.is_empty()),
        "some tile streams"
    );
    let p = s.predicted.clone();
    assert_eq!(p.noc_bits, 2 * p.dram_bits.total);
    let m = run(s);
    assert!(m.verification.verified);
    assert_eq!(m.report.noc_bits, p.noc_bits);
    assert_eq!(m.report.noc_busy_cycles, p.noc_busy_cycles);
    // On core0, at the DRAM's node, the mesh stays idle.
    let home = plan(&acc, TINY, "ST-LBL", "");
    assert_eq!(home.predicted.noc_bits, 0);
    assert_eq!(home.predicted.energy_pj.noc, 0.0);
}

/// Whether some core reads from DRAM an object another core wrote there.
fn reloads_across_cores(s: &Schedule) -> bool {
    use stems::schedule::{Action, Location};
    let transfers = |core_is: &dyn Fn(usize) -> bool| {
        s.tiles
            .iter()
            .filter(|t| core_is(t.tile.core))
            .flat_map(|t| t.before.iter().chain(&t.after))
            .filter_map(|a| match a {
                Action::Transfer(x) => Some(x),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    (0..s.accelerator.cores.len()).any(|c| {
        let reads = transfers(&|k| k == c);
        let others = transfers(&|k| k != c);
        reads.iter().any(|r| {
            r.from == Location::Dram
                && others
                    .iter()
                    .any(|w| w.object == r.object && w.to == Location::Dram)
        })
    })
}

#[test]
fn data_handed_between_cores_through_dram_and_copies_is_waited_for() {
    // At 2 KiB per core the three layers spill, so data crosses cores through DRAM
    // (one core spills, another reloads) and through copies another core writes back.
    // Without the hand-off waits (sim/copies.rs) these runs fail verification:
    // "transfer source not valid" (a reload before the other core's spill landed) or
    // "data lost" (a copy freed while another core still reads it).
    let acc = mesh("2KiB");
    for (spec, allocate) in [
        ("TB-LF", "conv_b=core1,pool=core2"),
        ("2T-LF,ST-LBL", "conv_a=core3,pool=core1"),
        ("ST-LBL", "conv_b=core1"),
    ] {
        let s = plan(&acc, TINY, spec, allocate);
        let crosses_dram = reloads_across_cores(&s);
        let p = s.predicted.clone();
        let m = run(s);
        assert!(m.verification.verified, "{spec} {allocate}");
        assert_eq!(m.report.dram_bits, p.dram_bits, "{spec} {allocate}");
        assert_eq!(m.report.noc_bits, p.noc_bits, "{spec} {allocate}");
        if spec == "TB-LF" {
            assert!(
                crosses_dram,
                "a core reloads what another core wrote to DRAM"
            );
        }
    }
}

#[test]
fn by_default_each_layer_goes_to_the_first_core_that_runs_it() {
    // The SoC lists the compute core first: everything runs there by default.
    let soc = Accelerator::load(
        Path::new("models/hardware/meta_proto_soc.toml"),
        HardwareOverrides::default(),
    )
    .expect("soc");
    let w = Workload::load(Path::new(TINY)).expect("workload");
    assert_eq!(
        Allocation::first_able(&w, &soc).core_of_layer,
        vec![0; w.layers.len()]
    );
    // With a pooling-only core listed first, the convs skip it and the pool takes it.
    let text = std::fs::read_to_string(MESH).expect("mesh");
    let text = text.replacen(
        "name = \"core0\"\nposition = [0, 0]",
        "name = \"core0\"\nposition = [0, 0]\noperators = [\"max_pool\"]",
        1,
    );
    let acc =
        Accelerator::parse(&stems::model::SourceText::new("pool_first.toml", text)).expect("valid");
    let a = Allocation::first_able(&w, &acc);
    assert_eq!(a.core_of_layer, vec![1, 1, 0]);
    assert!(a.check(&w, &acc).is_ok());
    assert!(Allocation::single_core(&w).check(&w, &acc).is_err());
}

/// Random valid allocations (every layer on a core that runs its operator) of
/// `workload` under `spec`, `n` of them from `seed`: each schedule stems makes must pass
/// its own verification, with both halves agreeing on traffic.
fn random_allocations_verify(acc: &Accelerator, workload: &str, spec: &str, n: usize, seed: u64) {
    use rand::{RngExt, SeedableRng};
    let w = Workload::load(Path::new(workload)).expect("workload");
    let spec = ScheduleSpec::parse(spec, w.num_blocks, w.timesteps).expect("spec");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..n {
        let allocation = Allocation {
            core_of_layer: w
                .layers
                .iter()
                .map(|l| {
                    let able: Vec<usize> = (0..acc.cores.len())
                        .filter(|&c| acc.cores[c].runs(l.op))
                        .collect();
                    able[rng.random_range(0..able.len())]
                })
                .collect(),
        };
        let what = allocation.describe(&w, acc);
        let s = schedule(
            &w,
            acc,
            &spec,
            &allocation,
            SchedulerOptions::default(),
            &mut Mapper::new(acc),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let p = s.predicted.clone();
        let m = simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(m.verification.verified, "{what}");
        assert_eq!(m.report.dram_bits, p.dram_bits, "{what}");
        assert_eq!(m.report.noc_bits, p.noc_bits, "{what}");
    }
}

#[test]
fn stems_own_schedules_verify_on_random_valid_allocations() {
    // Once refused by the verifier ("expected a valid copy in DRAM for the reload to
    // read, found no copy"): a reload on another core of data never written to DRAM.
    let acc = mesh("1MiB");
    let red = "models/workloads/red_lif_gen4.toml";
    let m = run(plan(&acc, red, "ST-LBL", "conv9=core2,conv10=core2"));
    assert!(m.verification.verified);
    // Once refused ("expected its I valid in DRAM, … a transfer into it still in
    // flight"): a tile streaming its input out of DRAM started before another core's
    // store of that input landed.
    let m = run(plan(
        &acc,
        red,
        "TB-LBL,ST-LBL,TB-LF,TB-LF,ST-LF,TB-LF,TB-LBL,ST-LBL",
        "conv0=core3,conv1=core3,conv2=core2,add4=core0,conv6=core3,add7=core3,\
         conv8=core1,conv9=core0,lif12=core2,lif13=core2,lif14=core1,lif16=core2",
    ));
    assert!(m.verification.verified);
    random_allocations_verify(&acc, red, "ST-LBL", 4, 1);
    random_allocations_verify(&mesh("2KiB"), TINY, "TB-LF", 8, 2);
    random_allocations_verify(&mesh("8KiB"), TINY, "2T-LF,ST-LBL", 8, 3);
    let soc = Accelerator::load(
        Path::new("models/hardware/meta_proto_soc.toml"),
        HardwareOverrides::default(),
    )
    .expect("soc");
    random_allocations_verify(&soc, TINY, "ST-LF", 8, 4);
}

const RED: &str = "models/workloads/red_lif_gen4.toml";

/// Two allocations of RED-LIF, time-batched and fused, over four cores that the
/// genetic search once found: layers pipeline across the cores, and a core holds the
/// chunks it produced until the next layer's core has moved them away.
const RED_PIPELINES: [&str; 2] = [
    "conv0=core3,conv1=core3,conv2=core2,conv3=core3,add4=core3,conv5=core2,conv6=core2,\
     add7=core0,conv8=core0,conv9=core0,conv10=core2,add11=core1,block:3=core1,\
     block:4=core1,block:5=core1,block:6=core1,block:7=core2",
    "block:0=core3,conv5=core3,conv6=core2,add7=core2,conv8=core2,conv9=core1,\
     conv10=core0,add11=core0,block:3=core0,block:4=core1,block:5=core0,block:6=core0,\
     block:7=core1",
];

/// Per lane that frees a copy other cores had moved out (before its other actions):
/// when the last of those moves landed, and when the lane's next transfer starts.
fn frees_after_moves_out(s: &Schedule) -> Vec<(u64, u64)> {
    use std::collections::HashMap;
    use stems::schedule::{Action, Location, Reason};
    let mut moved_out: HashMap<(usize, usize), u64> = HashMap::new();
    let mut waits = Vec::new();
    for t in &s.tiles {
        let mut lane_read_out = 0;
        for a in &t.before {
            match a {
                Action::Free { core, object, .. } => {
                    let landed = moved_out.get(&(*object, *core)).copied().unwrap_or(0);
                    lane_read_out = lane_read_out.max(landed);
                }
                Action::Transfer(x) => {
                    if lane_read_out > 0 {
                        waits.push((lane_read_out, x.predicted_start));
                        lane_read_out = 0;
                    }
                    if let (Location::Sram { core }, Reason::Move) = (x.from, x.reason) {
                        let end = moved_out.entry((x.object, core)).or_default();
                        *end = (*end).max(x.predicted_end);
                    }
                }
                _ => {}
            }
        }
    }
    waits
}

#[test]
fn a_core_frees_a_copy_another_core_moves_away_only_once_the_move_has_landed() {
    // The hardware keeps a copy for the transfers out of it scheduled before its free:
    // the lane that frees it waits there, and so does a lane allocating the space an
    // after lane frees late. Booked in schedule order, without that rule a core reused
    // the space while the move out was still to come, and the prediction was 27.1 %
    // (first allocation) and 13.2 % (second) under the simulation.
    for allocation in RED_PIPELINES {
        let s = plan(&mesh("512KiB"), RED, "TB-LF", allocation);
        let waits = frees_after_moves_out(&s);
        let bound = waits.iter().filter(|(landed, _)| *landed > 0).count();
        assert!(bound > 100, "{bound} lanes free a copy moved out");
        for (landed, next) in &waits {
            assert!(
                next >= landed,
                "a transfer at {next}, the move out lands at {landed}"
            );
        }
        assert_simulated_within_3_percent(s, allocation);
    }
}

/// Simulates `s`, checks it, and checks its measured latency lies within 3 % of the
/// prediction (the bound on the bundled runs).
fn assert_simulated_within_3_percent(s: Schedule, what: &str) {
    let p = s.predicted.latency_cycles as f64;
    let m = run(s);
    assert!(m.verification.verified);
    let delta = (m.report.latency_cycles as f64 - p) / p;
    assert!(
        delta.abs() <= 0.03,
        "{what}: measured {:+.1} % from the prediction",
        delta * 100.0
    );
}

#[test]
fn tiles_of_two_cores_streaming_from_dram_at_once_share_its_bus() {
    // SEW-ResNet-18 layer by layer on four cores, as the genetic search once allocated
    // it: conv0 and conv1 on core3 and conv2 on core1 each stream their state from
    // DRAM, and conv2 of one timestep runs beside conv0 of the next. The hardware
    // interleaves their pieces and both slow; booking the bus for the first and letting
    // the second run at the full rate predicted the run 7.6 % early.
    let allocation = "conv0=core3,conv1=core3,conv2=core1,sew3=core1,pool4=core2,conv5=core1,\
                      conv6=core2,sew7=core2,pool8=core2,conv9=core0,conv10=core1,sew11=core1,\
                      pool12=core1,conv13=core2,conv14=core0,sew15=core0,pool16=core0,\
                      conv17=core1,conv18=core0,conv19=core0,sew20=core1,pool21=core0,\
                      block:5=core0,conv26=core2,conv27=core2,sew28=core1,pool29=core0";
    let s = plan(
        &mesh("512KiB"),
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "ST-LBL",
        allocation,
    );
    let streaming = |core: usize| {
        s.tiles
            .iter()
            .filter(|t| t.tile.core == core && !t.streamed.is_empty())
            .count()
    };
    assert!(streaming(3) > 0 && streaming(1) > 0);
    assert_simulated_within_3_percent(s, allocation);
}
