//! Networks exported by the real libraries (tests/fixtures/nir/export_libraries.py:
//! snnTorch's exporter, nirtorch's tracer, Norse, Rockpool and Sinabs) import with what
//! PyTorch computes for the same network (the `.torch.json` beside each `.nir`): every
//! neuron's state, every weighted layer's output shape, one layer per addition with as
//! many readers. Inputs keep the batch and time axes the exporters leave.

mod common;

use serde_json::Value as Json;
use std::path::Path;
use stems::import::{ImportOptions, nir_file, to_workload_toml};
use stems::model::diag::SourceText;
use stems::model::{OpKind, Source, Workload};

fn import(fixture: &str) -> Result<Workload, String> {
    let graph = nir_file::read(Path::new(&format!("tests/fixtures/nir/{fixture}.nir")))
        .map_err(|e| e.to_string())?;
    let options = ImportOptions {
        name: fixture.into(),
        timesteps: 4,
        precision: [4, 1, 12, 16],
        input_bits: 1,
        blocks: None,
    };
    let text = to_workload_toml(&graph, &options).map_err(|e| e.to_string())?;
    Workload::parse(&SourceText::new("imported.toml", &text)).map_err(|e| e.to_string())
}

fn torch(fixture: &str) -> Json {
    let text = std::fs::read_to_string(format!("tests/fixtures/nir/{fixture}.torch.json"))
        .expect("the fixture's PyTorch facts");
    serde_json::from_str(&text).expect("json")
}

fn numel(shape: &Json) -> u64 {
    shape
        .as_array()
        .expect("a shape")
        .iter()
        .map(|d| d.as_u64().expect("a size"))
        .product()
}

/// How many layers read `id`'s output, the network's output counting as one.
fn readers(w: &Workload, id: usize) -> usize {
    let layers = w
        .layers
        .iter()
        .filter(|l| l.sources.contains(&Source::Layer(id)))
        .count();
    layers + usize::from(layers == 0)
}

fn check_against_torch(fixture: &str) {
    let w = import(fixture).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let facts = torch(fixture);
    // Every neuron's state, nothing dropped: the same count, neuron by neuron shape.
    let states: u64 = w.layers.iter().map(|l| l.states()).sum();
    assert_eq!(
        states,
        facts["stateful_neurons"].as_u64().expect("count"),
        "{fixture}: neurons with state"
    );
    let mut ours: Vec<u64> = w
        .layers
        .iter()
        .filter(|l| l.stateful)
        .map(|l| l.states())
        .collect();
    let mut theirs: Vec<u64> = facts["neurons"]
        .as_object()
        .expect("neurons")
        .values()
        .map(numel)
        .collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(
        ours, theirs,
        "{fixture}: one stateful layer per neuron module"
    );
    // Weighted layers keep PyTorch's names and output shapes.
    for (name, shape) in facts["weighted_outputs"].as_object().expect("outputs") {
        let l = w
            .layer_by_name(name)
            .unwrap_or_else(|| panic!("{fixture}: no layer '{name}'"));
        assert_eq!(
            l.output_neurons(),
            numel(shape),
            "{fixture}: '{name}' output"
        );
    }
    // Every weight, recurrent ones included, and one recurrent layer per recurrent
    // neuron module.
    let weights: u64 = w.layers.iter().map(|l| l.weights()).sum();
    assert_eq!(
        weights,
        facts["weights"].as_u64().expect("weights"),
        "{fixture}: weights"
    );
    let recurrent = w.layers.iter().filter(|l| l.recurrent).count();
    let theirs = facts["recurrent_neurons"].as_array().expect("list").len();
    assert_eq!(recurrent, theirs, "{fixture}: recurrent layers");
    // One layer per addition, read by as many nodes as in PyTorch.
    let mut ours: Vec<usize> = w
        .layers
        .iter()
        .filter(|l| l.op == OpKind::SewAdd)
        .map(|l| readers(&w, l.id))
        .collect();
    let mut theirs: Vec<usize> = facts["additions"]
        .as_array()
        .expect("additions")
        .iter()
        .map(|a| a["readers"].as_u64().expect("readers") as usize)
        .collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs, "{fixture}: additions and their readers");
}

#[test]
fn snntorch_conv_pool_leaky_keeps_the_neurons_after_pooling() {
    // The tutorial's order: the state lives in the pooling layers (3,510 variables; the
    // import used to keep the classifier's 10).
    check_against_torch("snntorch_conv_pool");
    let w = import("snntorch_conv_pool").expect("imports");
    let pools: Vec<bool> = w
        .layers
        .iter()
        .filter(|l| l.op.is_pool())
        .map(|l| l.stateful)
        .collect();
    assert_eq!(pools, [true, true]);
    // Conv → pool → LIF is one stage: two blocks and the classifier.
    let blocks: Vec<usize> = w.layers.iter().map(|l| l.block).collect();
    assert_eq!(blocks, [0, 0, 1, 1, 2]);
}

#[test]
fn a_neuron_on_the_input_is_a_neuron_layer() {
    check_against_torch("snntorch_neuron_first");
    let w = import("snntorch_neuron_first").expect("imports");
    assert_eq!(w.layers[0].op, OpKind::Neuron);
    assert_eq!(w.layers[0].sources, [Source::NetworkInput]);
    // Its update integrates one input per neuron and timestep.
    assert_eq!(w.layers[0].other_ops_per_timestep(), 2 * 16 * 16);
}

#[test]
fn a_spiking_resnet_keeps_the_neuron_after_its_addition() {
    check_against_torch("spiking_resnet");
    let w = import("spiking_resnet").expect("imports");
    let add = w
        .layers
        .iter()
        .find(|l| l.op == OpKind::SewAdd)
        .expect("the addition");
    assert!(
        add.stateful,
        "the LIF after the sum keeps its state in the sum"
    );
    // A sum of a current (16 bits) and spikes reads both at the current's width.
    assert_eq!(add.precision.i, 16);
}

#[test]
fn a_sew_resnet_makes_each_sum_once() {
    // Two additions, the first read by conv3 and by the second: two layers (the import
    // used to make three, one per reader).
    check_against_torch("sew_resnet");
    let w = import("sew_resnet").expect("imports");
    let adds = w.layers.iter().filter(|l| l.op == OpKind::SewAdd).count();
    assert_eq!(adds, 2);
    assert!(
        w.layers.iter().all(|l| l.block <= 1),
        "one stage and the classifier"
    );
}

#[test]
fn an_addition_the_exporter_dropped_is_refused_naming_the_cause() {
    // snnTorch 1.0's export_to_nir leaves a second Input where the addition was.
    let e = import("snntorch_resnet_lost_add").expect_err("refused");
    assert!(e.contains("has two Input nodes"), "{e}");
    assert!(e.contains("drops residual additions"), "{e}");
    assert!(e.contains("torch_to_nir"), "{e}");
}

#[test]
fn norse_rockpool_and_sinabs_exports_import_with_their_input_axes_dropped() {
    for fixture in ["norse_conv", "rockpool_mlp", "sinabs_conv_sumpool"] {
        check_against_torch(fixture);
    }
    // Norse leaves a batch axis: [1, 2, 34, 34] is a 2×34×34 input.
    let w = import("norse_conv").expect("imports");
    let i = &w.input;
    assert_eq!((i.channels, i.height, i.width), (2, 34, 34));
    // Rockpool leaves batch and time: [1, 1, 200] read by a Linear is 200 values (it
    // was read as a 1×1×200 image), and its LIF neurons keep current and voltage.
    let w = import("rockpool_mlp").expect("imports");
    let i = &w.input;
    assert_eq!((i.channels, i.height, i.width), (200, 1, 1));
    assert!(w.layers.iter().all(|l| l.precision.v == 24));
    // Sinabs: the IF after a sum-pool keeps its state in the pooling layer.
    let w = import("sinabs_conv_sumpool").expect("imports");
    assert!(w.layers.iter().any(|l| l.op.is_pool() && l.stateful));
}

#[test]
fn an_input_stems_cannot_read_is_refused_naming_the_shape() {
    let e = import("input_time_axis").expect_err("refused");
    assert!(
        e.contains("node 'input' (Input) field 'shape': [4, 2, 8, 8]: a leading axis of 4"),
        "{e}"
    );
    let e = import("input_ambiguous").expect_err("refused");
    assert!(
        e.contains("[1, 1, 16] reads as a 1×1×16 image or as 16 values"),
        "{e}"
    );
}

#[test]
fn an_snntorch_rleaky_is_a_recurrent_layer() {
    // RLeaky exports as LIF → w_rec → LIF: the fc before it becomes recurrent, its
    // 64 × 64 feedback weights counted (50,176 weights in all, as in PyTorch).
    check_against_torch("snntorch_rleaky");
    let w = import("snntorch_rleaky").expect("imports");
    let hidden = &w.layers[0];
    assert!(hidden.recurrent && hidden.stateful);
    assert_eq!(hidden.weights(), 64 * (700 + 64));
    assert!(!w.layers[1].recurrent);
}

#[test]
fn blocks_follow_the_residual_stages() {
    // The stride-2 stage: its strided convolution and shortcut close stage 0, the rest
    // of the stage (conv2, the sum with its LIF, the pooling) is block 1, the
    // classifier block 2, whatever order the graph listed the branches in.
    check_against_torch("resnet_downsample");
    let w = import("resnet_downsample").expect("imports");
    let blocks: Vec<(&str, usize)> = w
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.block))
        .collect();
    assert_eq!(
        blocks,
        [
            ("conv0", 0),
            ("conv1", 0),
            ("shortcut", 0),
            ("conv2", 1),
            ("lif2_add", 1),
            ("pool", 1),
            ("fc", 2)
        ]
    );
}

#[test]
fn imported_networks_validate_with_both_halves_agreeing() {
    // A stateful pooling (snnTorch's order) and a stateful sum in a downsampling
    // residual stage: every schedule verified, energy and traffic equal.
    let dir = common::Scratch::new("nirlib", "validate");
    for fixture in ["snntorch_conv_pool", "resnet_downsample"] {
        let toml = dir.join(format!("{fixture}.toml"));
        let nir = format!("tests/fixtures/nir/{fixture}.nir");
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
                .args(args)
                .output()
                .expect("stems runs")
        };
        let toml_s = toml.to_str().expect("utf-8");
        let o = run(&["import", &nir, "--timesteps", "4", "--out", toml_s]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = run(&[
            "validate",
            "--workload",
            toml_s,
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--space",
            "hybrid",
            "--gb",
            "16KiB",
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{fixture}: {text}");
        assert!(text.contains(" 0 failed"), "{fixture}: {text}");
        assert!(
            text.contains("0 runs disagree on an exact quantity"),
            "{fixture}: {text}"
        );
    }
}
