//! The intra-layer mapper against closed forms computed by hand, and its properties.

mod common;

use common::{Conv, accelerator, conv_strategy};
use proptest::prelude::*;
use stems::mapping::{MapKey, Mapping, Objective, Residency, SearchConfig, map_uncached};
use stems::model::{Accelerator, Workload};
use stems::tiling::{CtShape, TileRegion};

fn map_on(acc: &Accelerator, shape: CtShape) -> Mapping {
    let key = MapKey {
        shape,
        core: 0,
        residency: Residency::ON_CHIP,
        stream_budget_bits: 0,
        objective: Objective::Energy,
    };
    map_uncached(acc, &key, SearchConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn rw(m: &Mapping, op: &str, level: &str) -> (u64, u64) {
    m.accesses
        .get(op)
        .and_then(|l| l.get(level))
        .map(|rw| (rw.read_bits, rw.write_bits))
        .unwrap_or((0, 0))
}

#[test]
fn a_1x1_conv_that_fits_moves_every_operand_exactly_once() {
    let conv = Conv {
        k: 64,
        c: 64,
        oy: 16,
        ox: 8,
        f: 1,
        stride: 1,
        timesteps: 1,
        stateful: false,
        input_bits: 1,
    };
    let m = map_on(&accelerator(), conv.shape(0..1));
    let w_bits = 64 * 64 * 4;
    let i_bits = 64 * 16 * 8;
    let o_bits = 64 * 16 * 8;
    assert_eq!(rw(&m, "W", "global_sram"), (w_bits, 0));
    assert_eq!(rw(&m, "W", "weight_lb").1, w_bits);
    assert_eq!(rw(&m, "I", "global_sram"), (i_bits, 0));
    assert_eq!(rw(&m, "I", "input_lb").1, i_bits);
    assert_eq!(rw(&m, "O", "global_sram"), (0, o_bits));
    assert_eq!(m.sops, 64 * 64 * 16 * 8);
    // K 64 = 2 × 32, C 64 = 32 × 2, OY 16, OX 8: 2 · 32 · 8 cycles of a full array.
    assert_eq!(m.cycles.compute, 2 * 32 * 8);
    assert!((m.cycles.spatial_utilization - 1.0).abs() < 1e-12);
}

#[test]
fn weights_larger_than_the_weight_buffer_are_refetched_per_output_column() {
    // One K-tile's full reduction is 32 × 256 × 9 × 4 = 294,912 bits > 32 KiB: the
    // buffer holds part of a reduction, so every output column (OX = 4) refetches all
    // weights.
    let conv = Conv {
        k: 64,
        c: 256,
        oy: 16,
        ox: 4,
        f: 3,
        stride: 1,
        timesteps: 1,
        stateful: false,
        input_bits: 1,
    };
    let m = map_on(&accelerator(), conv.shape(0..1));
    let w_bits = 64 * 256 * 9 * 4;
    assert_eq!(rw(&m, "W", "weight_lb").1, 4 * w_bits);
    assert_eq!(rw(&m, "W", "global_sram").0, 4 * w_bits);
    // The input (256 × 16 × 4 spikes + halo) fits the input buffer: read once.
    let (i_read, _) = rw(&m, "I", "global_sram");
    assert_eq!(i_read, 256 * 16 * 4);
}

#[test]
fn batching_four_timesteps_keeps_state_in_the_accumulators() {
    let conv = Conv {
        k: 32,
        c: 32,
        oy: 16,
        ox: 4,
        f: 3,
        stride: 1,
        timesteps: 8,
        stateful: true,
        input_bits: 1,
    };
    let acc = accelerator();
    let neurons = 32 * 16 * 4;
    let v = neurons * 12;

    // Timesteps 2..6 batched: V is loaded once before and stored once after.
    let batched = map_on(&acc, conv.shape(2..6));
    assert_eq!(rw(&batched, "V", "global_sram"), (v, v));

    // The same timesteps one at a time: a load and a store per timestep.
    let single: u64 = (2..6)
        .map(|t| {
            let m = map_on(&acc, conv.shape(t..t + 1));
            let (r, w) = rw(&m, "V", "global_sram");
            r + w
        })
        .sum();
    assert_eq!(single, 4 * 2 * v);

    // Inference edges: nothing to load at timestep 0, nothing to store after the last.
    assert_eq!(
        rw(&map_on(&acc, conv.shape(0..4)), "V", "global_sram"),
        (0, v)
    );
    assert_eq!(
        rw(&map_on(&acc, conv.shape(4..8)), "V", "global_sram"),
        (v, 0)
    );
    assert_eq!(
        rw(&map_on(&acc, conv.shape(0..1)), "V", "global_sram"),
        (0, v)
    );
    assert_eq!(
        rw(&map_on(&acc, conv.shape(7..8)), "V", "global_sram"),
        (v, 0)
    );
    // The whole inference in one tile: V never leaves the accumulators.
    assert_eq!(
        rw(&map_on(&acc, conv.shape(0..8)), "V", "global_sram"),
        (0, 0)
    );
}

#[test]
fn a_stateless_layer_has_no_state_operand() {
    let conv = Conv {
        k: 32,
        c: 32,
        oy: 16,
        ox: 4,
        f: 3,
        stride: 1,
        timesteps: 8,
        stateful: false,
        input_bits: 1,
    };
    let m = map_on(&accelerator(), conv.shape(2..6));
    assert!(!m.accesses.contains_key("V"));
    assert!(!m.energy_pj.by_operand.contains_key("V"));
}

#[test]
fn multi_bit_inputs_are_macs_and_spikes_are_sops() {
    let conv = Conv {
        k: 32,
        c: 2,
        oy: 16,
        ox: 4,
        f: 1,
        stride: 1,
        timesteps: 1,
        stateful: true,
        input_bits: 4,
    };
    let m = map_on(&accelerator(), conv.shape(0..1));
    assert_eq!((m.macs, m.sops), (32 * 2 * 16 * 4, 0));
}

#[test]
fn under_filled_arrays_are_charged_for_the_cycles_they_occupy() {
    // K 8 of 32 columns, OY 4 of 16 rows: 1/16 of the array does useful work.
    let conv = Conv {
        k: 8,
        c: 2,
        oy: 4,
        ox: 4,
        f: 1,
        stride: 1,
        timesteps: 1,
        stateful: false,
        input_bits: 1,
    };
    let m = map_on(&accelerator(), conv.shape(0..1));
    assert_eq!(m.cycles.compute, 4);
    assert!(
        (m.cycles.spatial_utilization - 1.0 / 16.0).abs() < 1e-12,
        "{}",
        m.cycles.spatial_utilization
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_operand_moves_at_least_its_compulsory_size(conv in conv_strategy()) {
        let shape = conv.shape(0..conv.timesteps);
        let m = map_on(&accelerator(), shape);
        let w = shape.weight_bits();
        prop_assert!(rw(&m, "W", "global_sram").0 >= w);
        prop_assert!(rw(&m, "W", "weight_lb").1 >= w);
        let i = shape.input_bits();
        prop_assert!(rw(&m, "I", "global_sram").0 >= i, "{} < {i}", rw(&m, "I", "global_sram").0);
        prop_assert!(rw(&m, "I", "input_lb").1 >= i);
        prop_assert_eq!(rw(&m, "O", "global_sram").1, shape.output_bits());
    }

    #[test]
    fn a_larger_buffer_never_makes_the_best_mapping_worse(conv in conv_strategy(), which in 0usize..3) {
        let shape = conv.shape(0..conv.timesteps);
        let small = accelerator();
        let mut large = small.clone();
        large.cores[0].memories[which].size_bits *= 2;
        let before = map_on(&small, shape).energy_pj.total;
        let after = map_on(&large, shape).energy_pj.total;
        prop_assert!(after <= before * (1.0 + 1e-12), "{after} > {before}");
    }

    #[test]
    fn compute_energy_is_the_layers_operations_times_their_energy(conv in conv_strategy()) {
        let m = map_on(&accelerator(), conv.shape(0..conv.timesteps));
        // Worked out here from the layer's dimensions: every output position of every
        // output channel reduces C·F·F inputs, each timestep; spiking inputs make SOPs.
        let ops = conv.k * conv.c * conv.oy * conv.ox * conv.f * conv.f * conv.timesteps as u64;
        let pe = &accelerator().cores[0].pe_array;
        let (sops, macs) = if conv.input_bits == 1 { (ops, 0) } else { (0, ops) };
        prop_assert_eq!((m.sops, m.macs), (sops, macs));
        let fj = sops as f64 * pe.sop_energy_fj + macs as f64 * pe.mac_energy_fj;
        prop_assert!((m.energy_pj.compute - fj / 1000.0).abs() <= 1e-9 * fj);
    }
}

#[test]
fn results_are_identical_on_every_run() {
    let conv = Conv {
        k: 64,
        c: 64,
        oy: 32,
        ox: 32,
        f: 3,
        stride: 1,
        timesteps: 4,
        stateful: true,
        input_bits: 1,
    };
    let acc = accelerator();
    let a = map_on(&acc, conv.shape(0..2));
    let b = map_on(&acc, conv.shape(0..2));
    assert_eq!(a, b);
}

#[test]
fn every_conv_layer_of_the_bundled_workloads_maps() {
    let acc = accelerator();
    let gb = acc.cores[0].global_sram().size_bits;
    for path in [
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "models/workloads/red_lif_gen4.toml",
        "models/workloads/sew_resnet152_imagenet.toml",
    ] {
        let w = Workload::load(std::path::Path::new(path)).expect("bundled workload");
        for layer in w.layers.iter().filter(|l| l.op.has_weights()) {
            for t in [0..1, 0..w.timesteps] {
                let shape = CtShape::new(&w, layer, &TileRegion::whole_layer(layer, t));
                let (residency, budget) = Residency::pack(&shape, gb);
                let key = MapKey {
                    shape,
                    core: 0,
                    residency,
                    stream_budget_bits: budget,
                    objective: Objective::Energy,
                };
                let m = map_uncached(&acc, &key, SearchConfig::default())
                    .unwrap_or_else(|e| panic!("{path} {}: {e}", layer.name));
                assert_eq!(m.macs + m.sops, shape.reduction_ops(), "{}", layer.name);
                assert!(m.energy_pj.total > 0.0);
            }
        }
    }
}

#[test]
fn stems_map_prints_the_documented_json_keys() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "map",
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--layer",
            "conv1",
            "--timesteps",
            "16",
            "--format",
            "json",
        ])
        .output()
        .expect("run stems");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(json["loop_nest"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(
        json["accesses"]["W"]["weight_lb"]["write_bits"]
            .as_u64()
            .is_some()
    );
    assert_eq!(json["sops"].as_u64(), Some(603_979_776 * 16));
    for key in ["compute", "fill_drain", "stall", "total"] {
        assert!(json["cycles"][key].as_u64().is_some(), "cycles.{key}");
    }
    assert!(json["energy_pj"]["total"].as_f64().is_some_and(|e| e > 0.0));
    assert!(
        json["energy_pj"]["by_level"]["global_sram"]
            .as_f64()
            .is_some()
    );
    assert!(json["energy_pj"]["by_operand"]["W"].as_f64().is_some());

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "map",
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--layer",
            "nope",
        ])
        .output()
        .expect("run stems");
    assert_eq!(bad.status.code(), Some(2));
}
