//! The PE array's timing against a cycle-level peer's public formula (SCALE-Sim,
//! output-stationary, no memory stalls): with one accumulator set, one input per PE per
//! cycle and the output pixels unrolled over the rows, a layer takes
//! folds × (T + R + C − 2) cycles, where a fold is ⌈OY·OX / R⌉ × ⌈K / C⌉ output tiles
//! and T = C·FY·FX its reduction. Both halves must reproduce it, and with two
//! accumulator sets a short reduction must be bound by the drain.

mod common;

use std::path::Path;
use stems::mapping::{MapKey, Mapper, Objective, Residency};
use stems::model::{Accelerator, OpKind, Overrides, Workload};
use stems::schedule::SchedulerOptions;
use stems::sim::{SimOptions, simulate};
use stems::tiling::{CtShape, TileRegion};

const NETWORKS: [&str; 3] = [
    "models/workloads/sew_resnet18_cifar10dvs.toml",
    "models/workloads/red_lif_gen4.toml",
    "models/workloads/sew_resnet152_imagenet.toml",
];

fn overrides(sets: &[&str]) -> Overrides {
    Overrides {
        hardware: sets
            .iter()
            .map(|s| s.parse().expect("PATH=VALUE"))
            .collect(),
        ..Overrides::default()
    }
}

/// The peer's configuration: one input per PE per cycle, one accumulator set, output
/// pixels over the rows.
const PEER: [&str; 3] = [
    "core*.pe_array.inputs_per_pe=1",
    "core*.pe_array.accumulator_buffers=1",
    "core*.pe_array.row_dims=OYOX",
];

fn load(workload: &str, sets: &[&str]) -> (Workload, Accelerator) {
    stems::model::load(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &overrides(sets),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The whole of `layer` at one timestep.
fn one_timestep(w: &Workload, layer: usize) -> CtShape {
    let l = &w.layers[layer];
    CtShape::new(w, l, &TileRegion::whole_layer(l, 0..1))
}

fn map(acc: &Accelerator, shape: CtShape) -> std::sync::Arc<stems::mapping::Mapping> {
    Mapper::new(acc)
        .map(MapKey {
            shape,
            core: 0,
            residency: Residency::ON_CHIP,
            stream_budget_bits: 0,
            objective: Objective::Energy,
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// (folds, cycles) by the peer's formula.
fn peer(acc: &Accelerator, s: &CtShape) -> (u64, u64) {
    let pe = &acc.cores[0].pe_array;
    let folds = (s.oy * s.ox).div_ceil(pe.rows) * s.k.div_ceil(pe.cols);
    let reduction = s.c * s.fy * s.fx;
    (folds, folds * (reduction + pe.rows + pe.cols - 2))
}

/// The array cycles (busy) the simulator measures for a conv of `shape`'s dimensions,
/// alone in a network, at one timestep.
fn simulated_array_cycles(acc: &Accelerator, shape: &CtShape) -> u64 {
    assert_eq!(shape.fy, shape.fx, "square kernels");
    let conv = common::Conv {
        k: shape.k,
        c: shape.c,
        oy: shape.oy,
        ox: shape.ox,
        f: shape.fy,
        stride: 1,
        timesteps: 1,
        stateful: false,
        input_bits: 1,
    };
    let w = conv.workload();
    let s = stems::schedule::schedule(
        &w,
        acc,
        &stems::schedule::ScheduleSpec::parse("ST-LBL", 1, 1).expect("spec"),
        &stems::schedule::Allocation::single_core(&w),
        SchedulerOptions::default(),
        &mut Mapper::new(acc),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let m = simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.verification.verified);
    m.report.busy_cycles
}

#[test]
fn every_conv_of_the_bundled_networks_takes_the_peers_cycles() {
    let mut checked = 0;
    let mut misses = Vec::new();
    for network in NETWORKS {
        let (w, acc) = load(network, &PEER);
        let mut seen = std::collections::HashSet::new();
        for (i, layer) in w.layers.iter().enumerate() {
            let shape = one_timestep(&w, i);
            if layer.op != OpKind::Conv
                || !seen.insert((shape.k, shape.c, shape.oy, shape.ox, shape.fy, shape.fx))
            {
                continue;
            }
            let m = map(&acc, shape);
            let c = &m.cycles;
            let array = c.compute + c.fill_drain + c.drain_bound;
            let (folds, cycles) = peer(&acc, &shape);
            checked += 1;
            // Every fold takes the peer's T + R + C − 2 ...
            assert_eq!(
                array,
                c.folds
                    * (shape.c * shape.fy * shape.fx + acc.cores[0].pe_array.fill_drain_cycles()),
                "{} {}",
                w.name,
                layer.name
            );
            // ... and there are as many folds as the peer's: the rows take the output
            // pixels flattened, ⌈OY·OX / R⌉ of them per column fold. The simulator runs
            // the same shape (as a one-layer network) in the same array cycles.
            let measured = simulated_array_cycles(&acc, &shape);
            if (c.folds, array, measured) != (folds, cycles, cycles) {
                misses.push(format!(
                    "{} {} (K {} C {} {}×{} {}×{}): {} folds, {array} cycles, {measured} simulated; the peer {folds} folds, {cycles} cycles",
                    w.name, layer.name, shape.k, shape.c, shape.oy, shape.ox, shape.fy, shape.fx, c.folds
                ));
            }
        }
    }
    assert!(checked >= 20, "{checked} conv shapes");
    assert!(
        misses.is_empty(),
        "{} of {checked} shapes differ:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn small_outputs_choose_the_unrolling_that_fills_the_rows() {
    // SEW-ResNet-18's last convs are 2×2 and 4×4: rows tied to OY leave most of them idle.
    let (w, fixed) = load(NETWORKS[0], &[]);
    let (_, choice) = load(NETWORKS[0], &["core*.pe_array.row_dims=[\"OY\", \"OYOX\"]"]);
    let mut improved = 0;
    for (i, layer) in w.layers.iter().enumerate() {
        let shape = one_timestep(&w, i);
        if layer.op != OpKind::Conv {
            continue;
        }
        let (a, b) = (map(&fixed, shape), map(&choice, shape));
        assert!(
            b.energy_pj.total <= a.energy_pj.total * (1.0 + 1e-12),
            "{}: a wider choice never costs more energy",
            layer.name
        );
        if shape.oy < 16 {
            assert!(
                b.cycles.spatial_utilization > a.cycles.spatial_utilization,
                "{} ({}×{}): {:?} uses {:.3} of the PEs, {:?} {:.3}",
                layer.name,
                shape.oy,
                shape.ox,
                b.spatial,
                b.cycles.spatial_utilization,
                a.spatial,
                a.cycles.spatial_utilization
            );
            assert!(b.cycles.total < a.cycles.total, "{}", layer.name);
            improved += 1;
        }
    }
    assert!(improved >= 4, "{improved} small layers");
}

#[test]
fn analytic_and_simulated_array_cycles_agree_exactly_with_one_accumulator_set() {
    for (spec, sets) in [("ST-LBL", &PEER[..]), ("TB-LBL", &[][..])] {
        let (w, acc) = load(NETWORKS[0], sets);
        let spec =
            stems::schedule::ScheduleSpec::parse(spec, w.num_blocks, w.timesteps).expect("spec");
        let s = stems::schedule::schedule(
            &w,
            &acc,
            &spec,
            &stems::schedule::Allocation::single_core(&w),
            SchedulerOptions::default(),
            &mut Mapper::new(&acc),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let predicted = s.predicted.busy_cycles;
        let fill_drain = s.predicted.stall_cycles_by_cause["fill_drain"];
        let m = simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.verification.verified);
        assert_eq!(m.report.busy_cycles, predicted, "{spec:?} {sets:?}");
        assert_eq!(
            m.report.stall_cycles_by_cause["fill_drain"], fill_drain,
            "{sets:?}"
        );
    }
}

#[test]
fn with_two_accumulator_sets_a_short_reduction_is_drain_bound() {
    // A 1×1 conv with C = 2: a fold's reduction is one cycle, its drain 16 rows.
    let conv = common::Conv {
        k: 64,
        c: 2,
        oy: 32,
        ox: 32,
        f: 1,
        stride: 1,
        timesteps: 2,
        stateful: true,
        input_bits: 4,
    };
    let w = conv.workload();
    let mut acc = common::accelerator();
    acc.cores[0].pe_array.accumulator_buffers = 2;
    let rows = acc.cores[0].pe_array.rows;
    let s = stems::schedule::schedule(
        &w,
        &acc,
        &stems::schedule::ScheduleSpec::parse("ST-LBL", w.num_blocks, w.timesteps).expect("spec"),
        &stems::schedule::Allocation::single_core(&w),
        SchedulerOptions::default(),
        &mut Mapper::new(&acc),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let folds: u64 = s
        .tiles
        .iter()
        .map(|t| {
            let n = t.loop_nest.len() - t.reduction_loops;
            t.loop_nest[..n].iter().map(|l| l.size).product::<u64>()
        })
        .sum();
    assert_eq!(
        folds,
        2 * 2 * (32 * 32 / 16),
        "K 2 × 64 pixel rows × 2 timesteps"
    );
    // The analytic array is busy draining: a fold's reduction hides under its drain.
    let busy = s.predicted.busy_cycles;
    assert!(busy >= folds * rows, "{busy} < {folds} folds × {rows} rows");
    assert!(busy < folds * (rows + 1) + 200, "{busy}");
    let drain_bound = s.predicted.stall_cycles_by_cause["fill_drain"];
    assert!(drain_bound >= folds * (rows - 2), "{drain_bound}");
    // The simulated run (which also waits for its fills) takes at least as long, and
    // its array spends most of its busy time on fill/drain rather than the reduction.
    let predicted_latency = s.predicted.latency_cycles;
    let m = simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for (side, latency) in [
        ("analytic", predicted_latency),
        ("simulated", m.report.latency_cycles),
    ] {
        assert!(
            latency >= folds * rows,
            "{side}: {latency} < {folds} folds × {rows} rows"
        );
    }
    let measured_fill_drain = m.report.stall_cycles_by_cause["fill_drain"];
    assert!(
        measured_fill_drain > m.report.busy_cycles / 2,
        "{measured_fill_drain} of {}",
        m.report.busy_cycles
    );
}

/// The bundled accelerator in the peer's configuration (one input per PE per cycle,
/// one accumulator set, output pixels over the rows).
fn peer_accelerator() -> Accelerator {
    let mut acc = common::accelerator();
    let pe = &mut acc.cores[0].pe_array;
    pe.inputs_per_pe = 1;
    pe.accumulator_buffers = 1;
    pe.row_dims = vec![stems::model::AxisUnroll::OYOX];
    acc
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any conv shape, one timestep, on the peer's configuration: the rows take the
    /// output pixels flattened, so the layer takes exactly the peer's
    /// ⌈OY·OX / R⌉ × ⌈K / C⌉ folds of T + R + C − 2 cycles; and the simulator runs it in
    /// exactly the array cycles the analytic model predicts.
    #[test]
    fn any_conv_shape_takes_the_peers_cycles_in_both_halves(
        conv in common::conv_strategy()
    ) {
        let conv = common::Conv { timesteps: 1, ..conv };
        let acc = peer_accelerator();
        let pe = &acc.cores[0].pe_array;
        let shape = conv.shape(0..1);
        let m = map(&acc, shape);
        let c = &m.cycles;
        let array = c.compute + c.fill_drain + c.drain_bound;
        proptest::prop_assert!(m.spatial.flat);
        proptest::prop_assert_eq!(
            array,
            c.folds * (shape.c * shape.fy * shape.fx + pe.fill_drain_cycles())
        );
        proptest::prop_assert_eq!((c.folds, array), peer(&acc, &shape));
        let w = conv.workload();
        let s = stems::schedule::schedule(
            &w,
            &acc,
            &stems::schedule::ScheduleSpec::parse("ST-LBL", 1, 1).expect("spec"),
            &stems::schedule::Allocation::single_core(&w),
            SchedulerOptions::default(),
            &mut Mapper::new(&acc),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let predicted = s.predicted.busy_cycles;
        let measured = simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert!(measured.verification.verified);
        proptest::prop_assert_eq!(measured.report.busy_cycles, predicted);
    }
}
