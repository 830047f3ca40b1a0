//! The bundled models reproduce the paper's published figures (table 2, section 5.2).

use std::process::Command;
use stems::model::Workload;
use stems::report::inspect::WorkloadInspection;

fn load(path: &str) -> Workload {
    Workload::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Table 2's "# Neuron States" column counts bits at 12 bits per state; SEW-X keeps state
/// in the last X of the 7 blocks.
#[test]
fn sew_resnet18_reproduces_table_2_neuron_state_column() {
    let paper = [
        (7, 46e6),
        (6, 8.6e6),
        (5, 2.3e6),
        (4, 750e3),
        (3, 360e3),
        (2, 61e3),
        (1, 12e3),
        (0, 0.0),
    ];
    let sew7 = load("models/workloads/sew_resnet18_cifar10dvs.toml");
    let sew7_features = WorkloadInspection::new(&sew7, &[])
        .totals
        .footprint
        .feature_bits_per_timestep;
    for (x, expected_bits) in paper {
        let mut w = load("models/workloads/sew_resnet18_cifar10dvs.toml");
        let stateless: Vec<usize> = (0..7 - x).collect();
        w.make_blocks_stateless(&stateless).expect("valid blocks");
        let report = WorkloadInspection::new(&w, &stateless);
        let bits = report.totals.footprint.state_bits as f64;
        // The paper rounds to two significant figures.
        let tolerance = 0.05 * expected_bits;
        assert!(
            (bits - expected_bits).abs() <= tolerance,
            "SEW-{x}: {bits} state bits, table 2 says {expected_bits}"
        );
        // Shapes and spike outputs stay; only V goes.
        assert_eq!(
            report.totals.footprint.feature_bits_per_timestep,
            sew7_features
        );
        assert!(w.layers.iter().all(|l| l.precision.o == 1));
    }
}

#[test]
fn red_lif_memory_matches_section_5_2_2() {
    let w = load("models/workloads/red_lif_gen4.toml");
    let lif: Vec<_> = w.layers.iter().filter(|l| l.stateful).collect();
    let ff: Vec<_> = w.layers.iter().filter(|l| !l.stateful).collect();
    assert_eq!(lif.len(), 5);
    let lif_weights: u64 = lif.iter().map(|l| l.weights()).sum();
    let lif_states: u64 = lif.iter().map(|l| l.states()).sum();
    let ff_weights: u64 = ff.iter().map(|l| l.weights()).sum();
    // Paper: 2.6M weights and 1.3M states in the LIF layers, 0.4M weights feed-forward.
    assert!(
        (2.55e6..2.7e6).contains(&(lif_weights as f64)),
        "{lif_weights}"
    );
    assert!(
        (1.2e6..1.35e6).contains(&(lif_states as f64)),
        "{lif_states}"
    );
    assert!(
        (0.38e6..0.47e6).contains(&(ff_weights as f64)),
        "{ff_weights}"
    );
    assert!(ff.iter().all(|l| l.block <= 2) && lif.iter().all(|l| l.block >= 3));
    assert_eq!(w.num_blocks, 8);
    assert_eq!(w.timesteps, 12);
}

#[test]
fn sew_resnet152_has_the_published_structure() {
    let w = load("models/workloads/sew_resnet152_imagenet.toml");
    assert_eq!(w.timesteps, 4);
    assert_eq!(w.num_blocks, 7);
    let residuals = w.layers.iter().filter(|l| l.op.is_elementwise()).count();
    assert_eq!(residuals, 50);
    let weights: u64 = w.layers.iter().map(|l| l.weights()).sum();
    // ResNet-152 has about 60.2M parameters (weights; batch-norm folded away).
    assert!((59e6..61e6).contains(&(weights as f64)), "{weights}");
    // Hyperblock sizes: 3, 8, 9, 9, 9, 9, 3 residual blocks.
    let per_block: Vec<usize> = (0..7)
        .map(|b| w.block_layers(b).filter(|l| l.op.is_elementwise()).count())
        .collect();
    assert_eq!(per_block, vec![3, 8, 9, 9, 9, 9, 3]);
}

#[test]
fn inspect_json_gives_table_2_through_the_cli() {
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "inspect",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--stateless-blocks",
            "0,1",
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
    assert_eq!(json["kind"], "workload");
    assert_eq!(json["timesteps"], 16);
    assert_eq!(json["blocks"].as_array().map(Vec::len), Some(7));
    assert_eq!(json["blocks"][0]["state_bits"], 0);
    let bits = json["totals"]["state_bits"].as_u64().expect("number");
    assert!((2.2e6..2.4e6).contains(&(bits as f64)), "SEW-5: {bits}");
    for key in [
        "block",
        "layers",
        "macs_per_timestep",
        "sops_per_timestep",
        "other_ops_per_timestep",
        "weights",
        "weight_bits",
        "states",
        "state_bits",
        "feature_bits_per_timestep",
    ] {
        assert!(json["blocks"][3].get(key).is_some(), "blocks[] lacks {key}");
    }
}

#[test]
fn inspect_accelerator_json_resizes_the_global_sram() {
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "inspect",
            "models/hardware/meta_proto.toml",
            "--gb",
            "512KiB",
            "--format",
            "json",
        ])
        .output()
        .expect("run stems");
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["kind"], "accelerator");
    let gb = &json["cores"][0]["memories"][2];
    assert_eq!(gb["name"], "global_sram");
    assert_eq!(gb["size_bits"], 512 * 1024 * 8);
    assert_eq!(gb["banks"], 4);
}
