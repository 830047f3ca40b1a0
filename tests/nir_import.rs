//! `stems import`: NIR graphs written by the Python `nir` package
//! (tests/fixtures/nir/make_fixtures.py) become workloads whose layers, weights, states
//! and per-timestep operations match figures computed by hand; unsupported input is
//! refused with the node and field, exit 2 and no output file.

use std::path::Path;
use std::process::Command;
use stems::import::{ImportOptions, nir_file, to_workload_toml};
use stems::model::Workload;
use stems::model::diag::SourceText;

fn import(fixture: &str, timesteps: u32) -> Workload {
    let graph = nir_file::read(Path::new(&format!("tests/fixtures/nir/{fixture}.nir")))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = to_workload_toml(
        &graph,
        &ImportOptions {
            name: fixture.into(),
            timesteps,
            precision: [4, 1, 12, 16],
            input_bits: 1,
            blocks: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Workload::parse(&SourceText::new("imported.toml", &text)).unwrap_or_else(|e| panic!("{e}"))
}

/// (name, op, k, c, oy, ox, fy, fx, stateful, block) of every layer.
fn shapes(w: &Workload) -> Vec<(String, &'static str, [u64; 6], bool, usize)> {
    w.layers
        .iter()
        .map(|l| {
            let d = &l.dims;
            (
                l.name.clone(),
                l.op.name(),
                [d.k, d.c, d.oy, d.ox, d.fy, d.fx],
                l.stateful,
                l.block,
            )
        })
        .collect()
}

#[test]
fn a_conv_snn_with_pooling_and_a_classifier() {
    let w = import("conv_snn", 8);
    assert_eq!(w.timesteps, 8);
    let s = |n: &str, op, dims, st, b| (n.to_string(), op, dims, st, b);
    assert_eq!(
        shapes(&w),
        vec![
            // 2×16×16 → 3×3 pad 1: 16×16.
            s("conv1", "conv", [8, 2, 16, 16, 3, 3], true, 0),
            // Sum-pool 2×2 stride 2: 8×8.
            s("pool", "avg_pool", [8, 8, 8, 8, 2, 2], false, 0),
            // 3×3, stride 2, pad 1 on 8×8: (8 + 2 − 3)/2 + 1 = 4.
            s("conv2", "conv", [16, 8, 4, 4, 3, 3], true, 1),
            // Flatten folds away: the classifier reads 16·4·4 = 256 inputs.
            s("fc", "fc", [10, 256, 1, 1, 1, 1], true, 2),
        ]
    );
    let l = |n: &str| w.layer_by_name(n).expect("layer");
    // Weights: K·C·FY·FX.
    assert_eq!(l("conv1").weights(), 8 * 2 * 9);
    assert_eq!(l("conv2").weights(), 16 * 8 * 9);
    assert_eq!(l("fc").weights(), 10 * 256);
    // States: one per output neuron.
    assert_eq!(l("conv1").states(), 8 * 16 * 16);
    assert_eq!(l("conv2").states(), 16 * 4 * 4);
    assert_eq!(l("fc").states(), 10);
    // Spiking inputs: reductions are SOPs, K·C·OY·OX·FY·FX per timestep.
    assert_eq!(l("conv1").sops_per_timestep(), 8 * 2 * 16 * 16 * 9);
    assert_eq!(l("fc").sops_per_timestep(), 10 * 256);
    assert_eq!(l("conv1").macs_per_timestep(), 0);
    // The sum-pool adds 2×2 spikes: 0..=4 needs 3 bits, so conv2 multiplies (MACs).
    assert_eq!(l("pool").precision.o, 3);
    assert_eq!(l("conv2").precision.i, 3);
    assert_eq!(l("conv2").macs_per_timestep(), 16 * 8 * 4 * 4 * 9);
}

#[test]
fn an_mlp_with_cubalif_keeps_two_state_variables_per_neuron() {
    let w = import("mlp_cubalif", 4);
    let s = |n: &str, dims| (n.to_string(), "fc", dims, true, 0);
    assert_eq!(
        shapes(&w),
        vec![
            s("fc1", [64, 100, 1, 1, 1, 1]),
            s("fc2", [10, 64, 1, 1, 1, 1])
        ]
    );
    let l = |n: &str| w.layer_by_name(n).expect("layer");
    // Current and voltage: 2 × 12 bits per neuron.
    assert_eq!(l("fc1").precision.v, 24);
    assert_eq!(l("fc1").state_bits(), 64 * 24);
    assert_eq!(l("fc2").state_bits(), 10 * 24);
    assert_eq!(l("fc1").sops_per_timestep(), 64 * 100);
    assert_eq!(l("fc2").sops_per_timestep(), 10 * 64);
}

#[test]
fn a_residual_block_sums_its_branches_in_an_element_wise_layer() {
    let w = import("residual", 4);
    let s = |n: &str, op, dims, st| (n.to_string(), op, dims, st, 0);
    assert_eq!(
        shapes(&w),
        vec![
            s("conv1", "conv", [4, 4, 8, 8, 3, 3], true),
            s("conv2", "conv", [4, 4, 8, 8, 3, 3], true),
            s("conv3_add", "sew_add", [4, 4, 8, 8, 1, 1], false),
            s("conv3", "conv", [8, 4, 4, 4, 3, 3], true),
        ]
    );
    let add = w.layer_by_name("conv3_add").expect("add");
    let names: Vec<&str> = add.sources.iter().map(|&s| w.source_name(s)).collect();
    assert_eq!(names, ["conv2", "conv1"]);
    // One addition per output element and timestep.
    assert_eq!(add.other_ops_per_timestep(), 4 * 8 * 8);
}

#[test]
fn integer_parameters_stored_in_any_type_and_quantised_weights_import_alike() {
    // conv_snn with int8/16/32, unsigned, half, single and double parameters and int8
    // weights (make_fixtures.py): the same layers, stride 2 included.
    assert_eq!(
        shapes(&import("conv_snn_dtypes", 8)),
        shapes(&import("conv_snn", 8))
    );
}

#[test]
fn weights_are_known_by_their_shape_without_being_read() {
    // A 16384 × 16384 weight whose gigabyte of values was never written: read whole, it
    // took 1 GB and 2 s; its shape is all the layer needs.
    let w = import("wide_linear", 4);
    let fc1 = w.layers.iter().find(|l| l.name == "fc1").expect("fc1");
    assert_eq!((fc1.dims.k, fc1.dims.c), (16384, 16384));
}

#[test]
fn an_output_in_mid_graph_passes_its_input_on() {
    // A probe Output between two layers: fc2 still reads fc1's spikes (it used to
    // "have no input").
    let w = import("output_mid", 4);
    let names: Vec<(&str, Vec<&str>)> = w
        .layers
        .iter()
        .map(|l| {
            let sources = l.sources.iter().map(|&s| w.source_name(s)).collect();
            (l.name.as_str(), sources)
        })
        .collect();
    assert_eq!(names, vec![("fc1", vec!["input"]), ("fc2", vec!["fc1"])]);
}

#[test]
fn awkward_node_names_are_written_as_toml_and_generated_names_do_not_collide() {
    // A DEL character and a line separator are legal NIR names (they were written as
    // Rust escapes, which TOML refuses), and a node named conv3_add is what the sum
    // before conv3 would be called.
    let w = import("odd_names", 4);
    let names: Vec<&str> = w.layers.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"conv\u{7f}1"), "{names:?}");
    assert!(names.contains(&"conv3_add_2"), "{names:?}");
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("stems runs")
}

#[test]
fn unsupported_input_names_the_node_and_field_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("stems-nir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("out.toml");
    let out_s = out.to_str().expect("utf-8");
    for (args, says) in [
        (
            vec!["import", "tests/fixtures/nir/dilated.nir", "--out", out_s],
            "node 'conv' (Conv2d) field 'dilation'",
        ),
        (
            vec!["import", "tests/fixtures/nir/delay.nir", "--out", out_s],
            "node 'delay' (Delay) field 'type': stems cannot map a Delay node",
        ),
        (
            vec!["import", "tests/fixtures/nir/recurrent.nir", "--out", out_s],
            "field 'edges': is on a recurrent edge",
        ),
        (
            vec!["import", "tests/fixtures/nir/mismatch.nir", "--out", out_s],
            "node 'conv2' (Conv2d) field 'weight': has 6 input channels, its input 'conv1' has 4",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/dilated_int32.nir",
                "--out",
                out_s,
            ],
            "node 'conv' (Conv2d) field 'dilation': stems maps undilated",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/fractional_stride.nir",
                "--out",
                out_s,
            ],
            "node 'conv2' (Conv2d) field 'stride': 1.5 is not a whole number",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/two_inputs.nir",
                "--out",
                out_s,
            ],
            "has two Input nodes ('in_a' and 'in_b'); a stems workload has one network input",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/conv_snn.nir",
                "--blocks",
                "0,0,2,2",
                "--out",
                out_s,
            ],
            "option --blocks: entry 3 (2, layer 'conv2'): blocks start at 0",
        ),
        (
            vec!["import", "Cargo.toml", "--out", out_s],
            "not a readable NIR (HDF5) file",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/conv_snn.nir",
                "--blocks",
                "0,1",
                "--out",
                out_s,
            ],
            "--blocks: lists 2 blocks for 4 layers",
        ),
        (
            vec![
                "import",
                "tests/fixtures/nir/conv_snn.nir",
                "--precision",
                "q=3",
            ],
            "'q' is not w, o, v or acc",
        ),
    ] {
        let o = stems(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_imported_network_explores_end_to_end_with_no_hand_edits() {
    let dir = std::env::temp_dir().join(format!("stems-nir-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let toml = dir.join("conv_snn.toml");
    let toml_s = toml.to_str().expect("utf-8");
    let o = stems(&[
        "import",
        "tests/fixtures/nir/conv_snn.nir",
        "--timesteps",
        "8",
        "--out",
        toml_s,
    ]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{said}");
    // What it made, in one line: 8·16·16 + 16·4·4 + 10 neurons keep state.
    assert!(
        said.contains("4 layers in 3 blocks: 3 stateful (0 neuron layers, 0 recurrent), 2,314 neurons with state"),
        "{said}"
    );
    let o = stems(&[
        "explore",
        "--workload",
        toml_s,
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "16KiB",
        "--space",
        "hybrid",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    // 3 blocks: (3 + 1)² hybrid schedules, all costed.
    assert_eq!(v["outcomes"].as_array().map(Vec::len), Some(16));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupted_nir_files_are_refused_without_a_panic() {
    use rand::{RngExt, SeedableRng};
    let original = std::fs::read("tests/fixtures/nir/conv_snn.nir").expect("fixture");
    let dir = std::env::temp_dir().join(format!("stems-nir-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("broken.nir");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    let options = ImportOptions {
        name: "broken".into(),
        timesteps: 4,
        precision: [4, 1, 12, 16],
        input_bits: 1,
        blocks: None,
    };
    let (mut refused, mut imported) = (0, 0);
    for _ in 0..300 {
        let mut bytes = original.clone();
        match rng.random_range(0..3) {
            0 => bytes.truncate(rng.random_range(0..original.len())),
            _ => {
                for _ in 0..rng.random_range(1..8) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
        }
        std::fs::write(&path, &bytes).expect("write");
        let outcome = std::panic::catch_unwind(|| {
            nir_file::read(&path).and_then(|g| to_workload_toml(&g, &options))
        });
        match outcome {
            Ok(Ok(_)) => imported += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("a corrupted file made the import panic"),
        }
    }
    assert!(
        refused > 0,
        "no corruption was noticed ({imported} imported)"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_neuron_fed_back_through_a_conv_of_its_own_kernel_is_a_recurrent_conv() {
    let w = import("recurrent_conv", 4);
    assert_eq!(w.layers.len(), 1);
    let l = &w.layers[0];
    assert!(l.recurrent && l.stateful);
    // Its 2 input channels and its own 8, through the 3×3 kernel.
    assert_eq!(l.weights(), 8 * (2 + 8) * 9);
    // Any other feedback kernel is refused naming it.
    let graph =
        nir_file::read(Path::new("tests/fixtures/nir/recurrent_conv_5x5.nir")).expect("reads");
    let options = ImportOptions {
        name: "r".into(),
        timesteps: 4,
        precision: [4, 1, 12, 16],
        input_bits: 1,
        blocks: None,
    };
    let e = to_workload_toml(&graph, &options).expect_err("refused");
    assert!(
        e.to_string()
            .contains("node 'w_rec' (Conv2d) field 'weight': shape [8, 8, 5, 5]"),
        "{e}"
    );
}
