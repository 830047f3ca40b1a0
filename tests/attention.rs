//! Spiking self-attention: `op = "matmul"` multiplies two activation tensors. Its
//! operations and traffic are worked by hand on a one-head, 4-token attention; its W
//! operand is the right source's output, read whole and counted as features; cuts that
//! fuse it with the layers computing that operand are refused, skipped and counted;
//! both halves agree on Spikformer and every schedule of its hybrid space verifies;
//! the bundled Spikformer's layer table matches the published model.

mod common;

use common::{plan, stems};
use std::path::Path;
use stems::model::{OpKind, Workload};
use stems::schedule::{Action, Schedule};
use stems::sim::{SimError, SimOptions, simulate};
use stems::tiling::graph::DataClass;

const SPIKFORMER: &str = "models/workloads/spikformer_4_384_cifar10.toml";
const HW: &str = "models/hardware/meta_proto.toml";

/// Q, K and V (per-token linear + LIF) over 4 tokens of 8 features, then one head of
/// scores Q·Kᵀ and scores · V into LIF neurons, T = 2.
const ATTENTION: &str = include_str!("fixtures/attention/one_head.toml");

/// `text` as a workload file in a directory of the test's own.
fn workload_file(test: &str, text: &str) -> common::TestFile {
    common::test_file("attention", test, "attention.toml", text)
}

#[test]
fn one_head_attention_operations_and_traffic_by_hand() {
    let path = workload_file("by-hand", ATTENTION);
    let w = Workload::load(&path).expect("loads");
    let scores = w.layer_by_name("scores").expect("scores");
    // 4 query tokens × 4 key tokens, each a sum over 8 features of spikes: SOPs.
    assert_eq!(scores.sops_per_timestep(), 4 * 4 * 8);
    assert_eq!(scores.weights(), 0, "a matmul stores no weights");
    assert_eq!(scores.precision.w, 1, "its W operand is K's spikes");
    let attend = w.layer_by_name("attend").expect("attend");
    // 4 query tokens × 8 features, each a sum over 4 key tokens of 4-bit scores: MACs.
    assert_eq!(attend.macs_per_timestep(), 4 * 8 * 4);
    assert_eq!((attend.precision.i, attend.precision.w), (4, 1));

    // Everything fits in 64 KiB: DRAM sees the weights of Q, K and V (3 × 8 × 8 × 4
    // bits), the input read and the output written (8 × 4 spikes × 2 timesteps each).
    let s = plan(&path, "64KiB", "ST-LBL");
    let p = &s.predicted;
    assert_eq!(p.ops.sops, 2 * (3 * 8 * 8 * 4 + 4 * 4 * 8));
    assert_eq!(p.ops.macs, 2 * (4 * 8 * 4));
    assert_eq!(p.dram_bits.by_operand.W, 3 * 8 * 8 * 4);
    assert_eq!(p.dram_bits.by_operand.F, 2 * (8 * 4) * 2);
    assert_eq!(
        p.dram_bits.attention, 0,
        "Q, K, V and the scores stay on chip"
    );

    // A scores tile's W operand: every column of K at its timestep, 8 × 4 spikes.
    let tile = s
        .tiles
        .iter()
        .find(|t| t.tile.layer == scores.id)
        .expect("a scores tile");
    let bits: u64 = tile.tile.weights.iter().map(|&o| s.objects[o].bits).sum();
    assert_eq!(bits, 8 * 4);
    let shape = stems::tiling::CtShape::new(&w, scores, &tile.tile.region);
    assert_eq!(shape.weight_bits(), 8 * 4);
    assert_eq!(
        DataClass::of(OpKind::Matmul, stems::model::Operand::W),
        DataClass::F
    );

    // The simulator counts the same.
    let predicted = p.clone();
    let run = simulate(s, &SimOptions::default()).expect("runs and verifies");
    assert_eq!(run.report.ops, predicted.ops);
    assert_eq!(run.report.dram_bits, predicted.dram_bits);
}

#[test]
fn both_halves_count_the_attention_operands_that_leave_the_chip() {
    // At 128 KiB, Spikformer's score maps do not fit beside the rest: Q·Kᵀ streams
    // them out, scores · V streams them back; K and V spill.
    let s = plan(Path::new(SPIKFORMER), "128KiB", "TB-LBL");
    let predicted = s.predicted.dram_bits.clone();
    assert!(predicted.attention > 0, "{predicted:?}");
    assert!(
        predicted.attention <= predicted.by_operand.F,
        "{predicted:?}"
    );
    let run = simulate(s, &SimOptions::default()).expect("runs and verifies");
    assert_eq!(run.report.dram_bits, predicted);
}

#[test]
fn a_matmul_reads_every_token_of_its_right_source_and_waits_for_them() {
    let path = workload_file("deps", ATTENTION);
    // Q, K, V line by line, the attention layer by layer: legal (different stacks).
    let s = plan(&path, "64KiB", "ST-LF,ST-LBL");
    let k_tiles: Vec<usize> = s
        .tiles
        .iter()
        .filter(|t| t.tile.layer == 1 && t.tile.region.t.start == 0)
        .map(|t| t.tile.id)
        .collect();
    assert_eq!(k_tiles.len(), 4, "K in four column chunks");
    let scores = s
        .tiles
        .iter()
        .find(|t| t.tile.layer == 3 && t.tile.region.t.start == 0)
        .expect("scores at t0");
    for k in &k_tiles {
        assert!(scores.tile.deps.contains(k), "scores waits for K tile {k}");
        assert!(
            scores.tile.weights.contains(&s.tiles[*k].tile.output),
            "and reads its output as W"
        );
    }
    simulate(s, &SimOptions::default()).expect("runs and verifies");
}

#[test]
fn fusing_attention_with_its_right_source_is_refused_and_skipped() {
    let path = workload_file("refused", ATTENTION);
    let f = path.to_str().expect("utf-8");
    let o = stems(&[
        "evaluate",
        "--workload",
        f,
        "--hardware",
        HW,
        "--schedule",
        "ST-LF,ST-LF",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("layer 'scores' multiplies by all tokens of 'k'"),
        "{err}"
    );
    assert!(
        err.contains("attention cannot be fused along the tokens"),
        "{err}"
    );
    // Fusing after the attention (Q, K, V layer by layer) is free.
    let o = stems(&[
        "evaluate",
        "--workload",
        f,
        "--hardware",
        HW,
        "--schedule",
        "TB-LBL,TB-LF",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // explore and validate skip such schedules and count them: of the 16 block cuts,
    // the 4 that fuse both blocks.
    let o = stems(&[
        "explore",
        "--workload",
        f,
        "--hardware",
        HW,
        "--space",
        "exhaustive",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("12 schedules of one_head_attention"),
        "{text}"
    );
    assert!(
        text.contains("4 schedules skipped: they cannot run"),
        "{text}"
    );
    let o = stems(&[
        "validate",
        "--workload",
        f,
        "--hardware",
        HW,
        "--space",
        "exhaustive",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["summary"]["skipped"]["count"], 4, "{}", v["summary"]);
    // The search skips them before costing: its budget covers the whole space of 100,
    // every schedule that can run costed, none refused.
    let o = stems(&[
        "explore",
        "--workload",
        f,
        "--hardware",
        HW,
        "--space",
        "search",
        "--budget",
        "100",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.starts_with("68 of 100 schedules"), "{text}");
    assert!(
        text.contains("32 schedules bred were skipped uncosted"),
        "{text}"
    );
    assert!(!text.contains("refused by the scheduler"), "{text}");
    assert_eq!(v["summary"]["runs"], 12);
    assert_eq!(v["summary"]["verified"], 12);
}

#[test]
fn a_tampered_schedule_missing_part_of_k_is_caught() {
    let path = workload_file("tampered", ATTENTION);
    let mut s = plan(&path, "64KiB", "ST-LF,ST-LBL");
    // Free one column of K as soon as it is made: the scores tile still needs it.
    let k_tile = s
        .tiles
        .iter()
        .find(|t| t.tile.layer == 1 && t.tile.region.t.start == 0)
        .expect("a K tile")
        .tile
        .id;
    let chunk = s.tiles[k_tile].tile.output;
    let free = s
        .tiles
        .iter()
        .flat_map(|t| t.after.iter().chain(t.before.iter()))
        .find(|a| matches!(a, Action::Free { object, .. } if *object == chunk))
        .cloned()
        .expect("the chunk is freed somewhere");
    for t in &mut s.tiles {
        t.after.retain(|a| a != &free);
        t.before.retain(|a| a != &free);
    }
    s.tiles[k_tile].after.push(free);
    match simulate(s, &SimOptions::default()) {
        Err(SimError::Verification(v)) => {
            let text = v.to_string();
            assert!(text.contains("k output"), "{text}");
        }
        Err(e) => panic!("expected a verification verdict, got {e}"),
        Ok(_) => panic!("a scores tile read a column of K that was freed"),
    }
}

#[test]
fn a_saved_schedule_with_heads_on_a_conv_is_refused() {
    let path = workload_file("saved", ATTENTION);
    let s = plan(&path, "64KiB", "ST-LBL");
    let saved = path.with_file_name("s.schedule.json");
    s.save(&saved).expect("saves");
    Schedule::load(&saved).expect("the schedule as saved loads");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    v["workload"]["layers"][0]["heads"] = serde_json::json!(2);
    std::fs::write(&saved, v.to_string()).expect("write");
    let err = Schedule::load(&saved)
        .expect_err("a conv with heads")
        .to_string();
    assert!(err.contains("layer 'q'") && err.contains("heads"), "{err}");
}

#[test]
fn bad_matmuls_are_refused_naming_layer_and_field() {
    let cases = [
        // Inner dimensions: 8 features of Q against a K of 6.
        (
            ATTENTION.replace(
                "name = \"k\"\nop = \"conv\"\nblock = 0\nsources = [\"input\"]\nk = 8",
                "name = \"k\"\nop = \"conv\"\nblock = 0\nsources = [\"input\"]\nk = 6",
            ),
            "right source 'k' has 6 channels × 4 tokens",
            "transpose_right",
        ),
        // Heads that do not divide the channels.
        (
            ATTENTION.replace(
                "transpose_right = true\n",
                "transpose_right = true\nheads = 3\n",
            ),
            "3 heads do not divide",
            "heads",
        ),
        // V read transposed: its tokens are not the scores' reduction.
        (
            ATTENTION.replace(
                "sources = [\"scores\", \"v\"]\n",
                "sources = [\"scores\", \"v\"]\ntranspose_right = true\n",
            ),
            "read transposed",
            "transpose_right",
        ),
        (
            ATTENTION.replace("sources = [\"q\", \"k\"]", "sources = [\"q\", \"q\"]"),
            "its two sources must be different tensors",
            "sources",
        ),
        (
            ATTENTION.replace(
                "name = \"q\"\nop = \"conv\"\n",
                "name = \"q\"\nop = \"conv\"\nheads = 2\n",
            ),
            "only a matmul has heads",
            "heads",
        ),
        (
            ATTENTION.replace("sources = [\"q\", \"k\"]", "sources = [\"q\"]"),
            "op 'matmul' takes 2 sources",
            "sources",
        ),
    ];
    for (i, (text, says, field)) in cases.iter().enumerate() {
        let path = workload_file(&format!("bad{i}"), text);
        let o = stems(&["inspect", path.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(says), "case {i}: {err}");
        assert!(err.contains(&format!("field '{field}'")), "case {i}: {err}");
        assert!(
            err.contains("attention.toml:"),
            "case {i} names the file: {err}"
        );
        assert!(err.contains("layer '"), "case {i} names the layer: {err}");
    }
}

#[test]
fn the_bundled_spikformer_is_spikformer_4_384() {
    let w = Workload::load(Path::new(SPIKFORMER)).expect("loads");
    let (d, heads, tokens, ratio, blocks) = (384u64, 12u64, 64u64, 4u64, 4u64);
    // Conv and linear weights from the architecture: SPS's 3×3 convs (3 → 48 → 96 →
    // 192 → 384, and the 384 → 384 position embedding), per encoder block Q, K, V and
    // the projection (d × d each) and the MLP (d × 4d twice), and the 10-class head.
    let sps = 9 * (3 * 48 + 48 * 96 + 96 * 192 + 192 * 384 + 384 * 384);
    let per_block = 4 * d * d + 2 * ratio * d * d;
    let head = d * 10;
    let weights: u64 = w.layers.iter().map(|l| l.weights()).sum();
    assert_eq!(weights, sps + blocks * per_block + head);
    // With BatchNorm (scale and shift per channel) and the biases of the projection,
    // the MLP and the head, the published 9.32 M parameters (Zhou et al., ICLR 2023).
    let bn = 2 * (48 + 96 + 192 + 384 + 384) + blocks * 2 * (4 * d + ratio * d + d);
    let biases = blocks * (d + ratio * d + d) + 10;
    let total = (weights + bn + biases) as f64;
    assert!((total / 9.32e6 - 1.0).abs() < 0.001, "{total} parameters");

    assert_eq!(
        w.num_blocks, 5,
        "the patch splitting, then one per encoder block"
    );
    assert_eq!(w.timesteps, 4);
    let per_head = d / heads;
    for b in 1..=blocks {
        let scores = w.layer_by_name(&format!("b{b}_scores")).expect("scores");
        let attend = w.layer_by_name(&format!("b{b}_attend")).expect("attend");
        assert_eq!((scores.op, attend.op), (OpKind::Matmul, OpKind::Matmul));
        assert_eq!((scores.heads, attend.heads), (heads, heads));
        // Every head: tokens × tokens scores over 32 features, then tokens × 32
        // features over the tokens.
        assert_eq!(
            scores.sops_per_timestep(),
            heads * tokens * tokens * per_head
        );
        assert_eq!(
            attend.macs_per_timestep(),
            heads * tokens * per_head * tokens
        );
        assert_eq!(scores.block as u64, b);
        let q = w.layer_by_name(&format!("b{b}_q")).expect("q");
        assert_eq!(q.reduction_ops_per_timestep(), d * d * tokens);
        assert!(q.stateful && attend.stateful && !scores.stateful);
    }
    // inspect names the heads and the transposition.
    let o = stems(&["inspect", SPIKFORMER]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("b1_scores    matmulᵀ ×12"), "{text}");
    assert!(text.contains("b1_attend    matmul ×12"), "{text}");
}

#[test]
fn spikformer_halves_agree_and_every_hybrid_schedule_verifies() {
    for extra in [
        &[][..],
        &[
            "--activity",
            "0.15",
            "--set",
            "core0.pe_array.sparsity=skip",
        ][..],
    ] {
        let mut args = vec![
            "validate",
            "--workload",
            SPIKFORMER,
            "--hardware",
            HW,
            "--space",
            "hybrid",
            "--gb",
            "128KiB",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = stems(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        let s = &v["summary"];
        // 36 points, of which those fusing an encoder block (with its own Q, K, V)
        // cannot run.
        let runs = s["runs"].as_u64().expect("runs");
        let skipped = s["skipped"]["count"].as_u64().expect("skipped");
        assert_eq!(runs + skipped, 36, "{s}");
        assert!(runs >= 6 && skipped > 0, "{s}");
        assert_eq!(s["verified"].as_u64(), Some(runs), "{s}");
        assert_eq!(s["disagreements"].as_array().map(Vec::len), Some(0), "{s}");
        if extra.is_empty() {
            assert_eq!(s["max_abs_dram_delta_percent"], 0.0, "{s}");
            assert_eq!(s["max_abs_energy_delta_percent"], 0.0, "{s}");
        }
    }
}
