//! Recurrent layers: their recurrent weights and operations are costed, their tiles run
//! timestep by timestep over every neuron, cuts that split a spatial recurrence across
//! a time batch are refused (evaluate), skipped and counted (explore), both halves
//! agree on what they run, and the verifier catches a tile whose previous spikes are
//! gone.

mod common;

use common::{plan, stems};
use std::path::Path;
use stems::schedule::Action;
use stems::sim::validity::ViolationKind;
use stems::sim::{SimError, SimOptions, simulate};

const SHD: &str = "models/workloads/shd_rsnn.toml";
const HW: &str = "models/hardware/meta_proto.toml";

/// A recurrent 3×3 conv (stride 1, same size) between two plain ones, T = 4.
const RCONV: &str = r#"
name = "rconv"
timesteps = 4
[input]
channels = 2
height = 8
width = 8
bits = 1
[defaults]
precision = { w = 4, o = 1, v = 12, acc = 16 }
[[layer]]
name = "conv1"
op = "conv"
block = 0
sources = ["input"]
k = 8
c = 2
oy = 8
ox = 8
fy = 3
fx = 3
padding = 1
stateful = true
[[layer]]
name = "rec"
op = "conv"
block = 1
sources = ["conv1"]
k = 8
c = 8
oy = 8
ox = 8
fy = 3
fx = 3
padding = 1
stateful = true
recurrent = true
"#;

/// RCONV in a directory of the test's own (tests run in parallel).
fn rconv_file(test: &str) -> common::TestFile {
    common::test_file("recurrent", test, "rconv.toml", RCONV)
}

#[test]
fn recurrent_weights_and_operations_are_counted() {
    let w = stems::model::Workload::load(Path::new(SHD)).expect("loads");
    let h1 = w.layer_by_name("hidden1").expect("hidden1");
    // 700 inputs and the layer's own 256 spikes of the timestep before.
    assert_eq!(h1.weights(), 256 * (700 + 256));
    assert_eq!(h1.sops_per_timestep(), 256 * (700 + 256));
    let readout = w.layer_by_name("readout").expect("readout");
    assert_eq!(readout.weights(), 20 * 256, "the readout is not recurrent");
}

#[test]
fn a_recurrent_tile_runs_every_neuron_of_a_timestep_before_the_next() {
    let s = plan(Path::new(SHD), "128KiB", "TB-LBL");
    for st in s.tiles.iter().filter(|t| t.tile.layer < 2) {
        let first_neuron_loop = st
            .loop_nest
            .iter()
            .position(|l| l.dim != stems::mapping::Dim::T)
            .unwrap_or(st.loop_nest.len());
        assert!(
            st.loop_nest[first_neuron_loop..]
                .iter()
                .all(|l| l.dim != stems::mapping::Dim::T),
            "{:?}",
            st.loop_nest
        );
    }
    // A saved nest with a timestep loop inside a neuron loop is refused on load.
    let mut tampered = s.clone();
    let nest = &mut tampered.tiles[0].loop_nest;
    let t = nest
        .iter()
        .position(|l| l.dim == stems::mapping::Dim::T)
        .expect("a T loop");
    let k = nest
        .iter()
        .position(|l| l.dim == stems::mapping::Dim::K)
        .expect("a K loop");
    nest.swap(t, k);
    let problems = tampered.check();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("timesteps must be the outermost loops")),
        "{problems:?}"
    );
}

#[test]
fn both_halves_agree_on_a_recurrent_network() {
    // Dense, and at 10 % activity on an array that skips zeros: the recurrent spikes
    // of the timestep before count as input in both halves.
    for extra in [
        &[][..],
        &["--activity", "0.1", "--set", "core0.pe_array.sparsity=skip"][..],
    ] {
        let mut args = vec![
            "validate",
            "--workload",
            SHD,
            "--hardware",
            HW,
            "--space",
            "hybrid",
            "--gb",
            "64KiB",
        ];
        args.extend_from_slice(extra);
        let o = stems(&args);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("0 runs disagree on an exact quantity"),
            "{text}"
        );
        assert!(text.contains("0 failed"), "{text}");
    }
}

#[test]
fn a_time_batched_fused_cut_across_a_spatial_recurrence_is_refused_and_skipped() {
    let file = rconv_file("refused");
    let f = file.to_str().expect("utf-8");
    // One timestep at a time, or the whole layer per tile: both run.
    for spec in ["ST-LBL,ST-LF", "ST-LBL,TB-LBL"] {
        let o = stems(&[
            "evaluate",
            "--workload",
            f,
            "--hardware",
            HW,
            "--schedule",
            spec,
        ]);
        assert!(
            o.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Column chunks of a time batch need each other's spikes.
    let o = stems(&[
        "evaluate",
        "--workload",
        f,
        "--hardware",
        HW,
        "--schedule",
        "ST-LBL,TB-LF",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("layer 'rec' is recurrent"), "{err}");
    assert!(
        err.contains("cannot both cut a spatial recurrence"),
        "{err}"
    );
    // explore skips such schedules and says how many.
    let dir = file.parent().expect("dir").join("explore");
    let d = dir.to_str().expect("utf-8");
    let o = stems(&[
        "explore",
        "--workload",
        f,
        "--hardware",
        HW,
        "--space",
        "exhaustive",
        "--out",
        d,
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Block 1 under TB-LF or 2T-LF (and so on) is skipped: 4 cuts of block 0 × the
    // fused, batched cuts of block 1.
    assert!(
        text.contains("schedules skipped: they cannot run"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let skipped = summary["skipped"]["count"].as_u64().expect("a count");
    let costed = summary["schedules"].as_u64().expect("schedules");
    assert!(skipped > 0 && costed > 0, "{summary}");
}

#[test]
fn freeing_the_previous_spikes_before_the_recurrent_read_is_caught() {
    let mut s = plan(Path::new(SHD), "128KiB", "ST-LBL");
    // hidden1's tile of timestep 1 reads hidden1's output of timestep 0 again: free
    // that object after its feed-forward reader (hidden2 at timestep 0), before the
    // recurrent read.
    let (t0, t1) = {
        let mut h1 = s.tiles.iter().filter(|t| t.tile.layer == 0);
        (
            h1.next().expect("t0").tile.id,
            h1.next().expect("t1").tile.id,
        )
    };
    let output = s.tiles[t0].tile.output;
    assert!(
        s.tiles[t1].tile.inputs.contains(&output),
        "the recurrent read"
    );
    let free = s
        .tiles
        .iter_mut()
        .flat_map(|t| t.after.iter_mut().chain(t.before.iter_mut()))
        .find(|a| matches!(a, Action::Free { object, .. } if *object == output))
        .map(|a| a.clone())
        .expect("the output is freed somewhere");
    for t in &mut s.tiles {
        t.after.retain(|a| a != &free);
        t.before.retain(|a| a != &free);
    }
    let forward_reader = s
        .tiles
        .iter()
        .find(|t| t.tile.layer == 1 && t.tile.region.t.start == 0)
        .expect("hidden2 at timestep 0")
        .tile
        .id;
    assert!(
        t0 < forward_reader && forward_reader < t1,
        "ST-LBL runs timestep by timestep"
    );
    s.tiles[forward_reader].after.push(free);
    match simulate(s, &SimOptions::default()) {
        Err(SimError::Verification(v)) => assert_eq!(v.kind, ViolationKind::DataLost, "{v}"),
        Err(e) => panic!("expected a verification verdict, got {e}"),
        Ok(_) => panic!("a tile read spikes that were freed"),
    }
}

#[test]
fn a_recurrence_stems_cannot_model_is_refused_naming_the_field() {
    let layer = |extra: &str| RCONV.replace("recurrent = true\n", extra);
    for (text, says) in [
        (
            RCONV.replace("k = 8\nc = 8\noy = 8\nox = 8\nfy = 3\nfx = 3\npadding = 1\nstateful = true\nrecurrent = true", "k = 8\nc = 8\noy = 8\nox = 8\nfy = 3\nfx = 3\npadding = 1\nrecurrent = true"),
            "field 'recurrent': a recurrent layer feeds back its neurons' spikes: it needs stateful = true",
        ),
        (
            layer("recurrent = true\nstride = 2\n").replace("oy = 8\nox = 8\nfy = 3\nfx = 3\npadding = 1\nstateful = true\nrecurrent", "oy = 4\nox = 4\nfy = 3\nfx = 3\npadding = 1\nstateful = true\nrecurrent"),
            "stride must be 1",
        ),
        (
            layer("recurrent = true\n").replace("padding = 1\nstateful = true\nrecurrent", "padding = 0\nstateful = true\nrecurrent").replace("oy = 8\nox = 8\nfy = 3\nfx = 3\npadding = 0", "oy = 6\nox = 6\nfy = 3\nfx = 3\npadding = 0"),
            "must be as large as its input 'conv1' (8×8)",
        ),
    ] {
        let e = stems::model::Workload::parse(&stems::model::diag::SourceText::new("w.toml", &text))
            .expect_err("refused");
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    // A pooling layer has no recurrent weights.
    let pool = RCONV.replace(
        "name = \"rec\"\nop = \"conv\"",
        "name = \"rec\"\nop = \"avg_pool\"",
    );
    let e = stems::model::Workload::parse(&stems::model::diag::SourceText::new("w.toml", &pool))
        .expect_err("refused");
    assert!(
        e.to_string()
            .contains("only conv and fc layers have recurrent weights"),
        "{e}"
    );
}

#[test]
fn shards_of_a_space_with_skipped_schedules_merge_into_the_whole_run() {
    let file = rconv_file("shards");
    let f = file.to_str().expect("utf-8");
    let root = file.parent().expect("dir").join("shards");
    let _ = std::fs::remove_dir_all(&root);
    let dir = |name: &str| root.join(name).to_str().expect("utf-8").to_string();
    let explore = |extra: &[&str]| {
        let mut args = vec![
            "explore",
            "--workload",
            f,
            "--hardware",
            HW,
            "--space",
            "exhaustive",
            "--gb",
            "16KiB",
        ];
        args.extend_from_slice(extra);
        let o = stems(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    explore(&["--out", &dir("whole")]);
    explore(&["--shard", "0/2", "--out", &dir("s0")]);
    explore(&["--shard", "1/2", "--out", &dir("s1")]);
    let o = stems(&["merge", &dir("s0"), &dir("s1"), "--out", &dir("merged")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sorted_rows = |d: &str| {
        let text = std::fs::read_to_string(root.join(d).join("explore.csv")).expect("csv");
        let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
        rows.sort();
        rows
    };
    assert_eq!(sorted_rows("merged"), sorted_rows("whole"));
    let skipped = |d: &str| {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(d).join("summary.json")).expect("summary"),
        )
        .expect("json");
        s["skipped"]["count"].as_u64()
    };
    assert_eq!(skipped("merged"), skipped("whole"));
    assert!(skipped("whole").is_some_and(|n| n > 0));
}
