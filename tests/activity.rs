//! Does stems cost spike activity as the rules say, on both halves? A one-layer network
//! with a known spike pattern is worked out by hand (gated energy, the busiest lane
//! under `skip`, coordinate traffic); uniform random spikes on SEW-ResNet-18 must agree
//! with the analytic expectation; clustered ones must cost more cycles and the
//! comparison must name lane imbalance; a compressed transfer with the wrong non-zeros
//! is refused; and bad recordings are refused naming the file, entry and problem.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use stems::cost::Report;
use stems::model::Overrides;
use stems::schedule::{SchedulerOptions, plan};
use stems::sim::{MeasuredReport, SimOptions, SpikeSource, simulate};
use stems::spikes::{Pattern, SpikeOptions, Spikes, TensorBuilder, tensor_shapes};

/// One 3×3 conv (4 → 2 channels, "same" padding) on a 4×4×4 spike input, one timestep.
const ONE_CONV: &str = r#"name = "one_conv"
timesteps = 1
[input]
channels = 4
height = 4
width = 4
bits = 1
[[layer]]
name = "conv"
op = "conv"
block = 0
sources = ["input"]
k = 2
c = 4
oy = 4
ox = 4
fy = 3
fx = 3
padding = 1
precision = { w = 4, o = 1, acc = 16 }
"#;

fn temp_file(name: &str, text: &[u8]) -> common::TestFile {
    common::test_file("activity", name, name, text)
}

fn overrides(sets: &[&str]) -> Overrides {
    Overrides {
        hardware: sets
            .iter()
            .map(|s| s.parse().expect("PATH=VALUE"))
            .collect(),
        ..Overrides::default()
    }
}

/// The hand-made pattern: all four input channels spike at pixel (1, 1), channel 0 at
/// (3, 3); three outputs spike.
fn known_spikes(workload: &stems::model::Workload) -> Arc<Spikes> {
    let shapes = tensor_shapes(workload);
    let mut input = TensorBuilder::new(shapes[0]);
    for c in 0..4 {
        input.set(0, c, 1, 1);
    }
    input.set(0, 0, 3, 3);
    let mut output = TensorBuilder::new(shapes[1]);
    for (k, y, x) in [(0, 0, 0), (1, 3, 3), (1, 2, 1)] {
        output.set(0, k, y, x);
    }
    Arc::new(Spikes {
        tensors: vec![input.finish(), output.finish()],
        origin: "by hand".into(),
    })
}

fn run_one_conv(sets: &[&str]) -> (Report, MeasuredReport) {
    let w = temp_file("one_conv.toml", ONE_CONV.as_bytes());
    let hw = Path::new("models/hardware/meta_proto.toml");
    let schedule = plan(
        &w,
        hw,
        &overrides(sets),
        "ST-LBL",
        SchedulerOptions::default(),
    )
    .expect("plan");
    let spikes = known_spikes(&schedule.workload);
    let predicted = schedule.predicted.clone();
    let options = SimOptions {
        spikes: SpikeSource::Given(spikes),
        ..SimOptions::default()
    };
    let measured = simulate(schedule, &options).expect("simulate");
    (predicted, measured)
}

fn compute_cycles(r: &Report) -> u64 {
    r.busy_cycles - r.stall_cycles_by_cause["fill_drain"]
}

#[test]
fn a_known_pattern_costs_what_the_rules_give_by_hand() {
    // Windows (3×3, padding 1): the 4 spikes at (1, 1) fall in the windows of the 9
    // outputs with oy, ox in 0..=2; the one at (3, 3) in those of oy, ox in 2..=3.
    // Non-zero inputs over all windows: 9·4 + 4·1 = 40; two output channels each
    // perform an SOP per non-zero input: 80 of the dense 2·4·16·9 = 1,152.
    let (_, dense) = run_one_conv(&[]);
    assert_eq!(dense.report.operations.performed.sops, 1152);
    let (_, gate) = run_one_conv(&["core0.pe_array.sparsity=gate"]);
    assert_eq!(gate.report.operations.dense.sops, 1152);
    assert_eq!(gate.report.operations.performed.sops, 80);
    // 70 fJ per SOP (registers cost nothing on meta_proto): 80 · 70 fJ = 5.6 pJ.
    assert!(
        (gate.report.energy_pj.pe - 5.6).abs() < 1e-9,
        "{}",
        gate.report.energy_pj.pe
    );
    assert!((dense.report.energy_pj.pe - 1152.0 * 0.07).abs() < 1e-9);
    // Gating keeps the cycles: 4 folds (one per output column, the array's rows take
    // the 4 output rows) of ⌈4 / 2⌉ · 9 = 18 cycles.
    assert_eq!(compute_cycles(&gate.report), 72);
    assert_eq!(compute_cycles(&dense.report), 72);

    // Under skip a fold lasts as long as its busiest lane (an output pixel), taking its
    // non-zero inputs two per cycle:
    //   column 0: rows 0..3 see 4, 4, 4, 0  → ⌈4/2⌉ = 2
    //   column 1: 4, 4, 4, 0                 → 2
    //   column 2: 4, 4, 4 + 1, 1             → ⌈5/2⌉ = 3
    //   column 3: 0, 0, 1, 1                 → 1
    // = 8 cycles. The average lanes (10, 12, 14, 2 non-zeros over 4 lanes: 3, 3, 4, 1
    // → 2, 2, 2, 1 cycles) would take 7: one cycle of lane imbalance.
    let sets = [
        "core0.pe_array.sparsity=skip",
        "core0.global_sram.feature_format=coordinate",
        "dram.feature_format=coordinate",
    ];
    let (_, skip) = run_one_conv(&sets);
    assert_eq!(compute_cycles(&skip.report), 8);
    assert_eq!(skip.report.stall_cycles_by_cause["lane_imbalance"], 1);
    assert_eq!(skip.report.operations.performed.sops, 80);
    // Coordinates: the input's 5 spikes at ⌈log2(4·4·4)⌉ = 6 address bits each (a spike
    // carries no value) are read from DRAM: 30 bits; the output's 3 spikes at
    // ⌈log2(2·4·4)⌉ = 5 bits are written back: 15 bits.
    let f = skip.report.dram_bits.by_operand_direction.F;
    assert_eq!((f.read, f.write), (30, 15));
    // Dense, the same tensors are 64 and 32 bits.
    let f = dense.report.dram_bits.by_operand_direction.F;
    assert_eq!((f.read, f.write), (64, 32));
}

fn sew18(sets: &[&str], pattern: Pattern) -> (Report, Report) {
    let mut o = overrides(sets);
    o.global_sram = Some("1MiB".parse().expect("size"));
    // The workload states the paper's 7 % (section 5.2.1).
    let schedule = plan(
        Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &o,
        "TB-LBL",
        SchedulerOptions::default(),
    )
    .expect("plan");
    let predicted = schedule.predicted.clone();
    let options = SimOptions {
        spikes: SpikeSource::Generated(SpikeOptions { pattern, seed: 1 }),
        ..SimOptions::default()
    };
    let m = simulate(schedule, &options).expect("simulate");
    assert!(m.verification.verified);
    (predicted, m.report)
}

fn within(p: f64, m: f64, share: f64, what: &str) {
    let d = (m - p).abs() / p.max(1.0);
    assert!(
        d <= share,
        "{what}: predicted {p}, measured {m} ({:.2} %)",
        100.0 * d
    );
}

#[test]
fn uniform_spikes_agree_with_the_analytic_expectation() {
    let sets = [
        "core0.pe_array.sparsity=skip",
        "core0.global_sram.feature_format=coordinate",
        "dram.feature_format=coordinate",
    ];
    let (p, m) = sew18(&sets, Pattern::Uniform);
    let ops = |r: &Report| r.operations.performed.total() as f64;
    within(ops(&p), ops(&m), 0.01, "operations performed");
    within(
        p.dram_bits.total as f64,
        m.dram_bits.total as f64,
        0.01,
        "DRAM bits",
    );
    within(
        p.dram_bits.by_operand.F as f64,
        m.dram_bits.by_operand.F as f64,
        0.01,
        "DRAM feature bits",
    );
    within(
        p.energy_pj.global_sram,
        m.energy_pj.global_sram,
        0.01,
        "global SRAM energy",
    );
    within(
        p.busy_cycles as f64,
        m.busy_cycles as f64,
        0.03,
        "busy cycles",
    );
    // Sparse and compressed: far fewer operations and feature bits than dense.
    assert!(ops(&m) < 0.1 * m.operations.dense.total() as f64);
    // Both halves state the activity they worked on; the simulator measures it.
    let conv1 = m
        .activity
        .iter()
        .find(|a| a.layer == "conv1")
        .expect("conv1");
    let measured = conv1.measured.expect("measured");
    assert!(
        (conv1.stated - 0.07).abs() < 1e-9 && (measured - 0.07).abs() < 0.002,
        "{conv1:?}"
    );
}

#[test]
fn clustered_spikes_cost_cycles_the_analytic_model_misses_and_the_comparison_names_why() {
    let (p, m) = sew18(&["core0.pe_array.sparsity=skip"], Pattern::Clustered);
    // The same density (operations agree) ...
    let ops = |r: &Report| r.operations.performed.total() as f64;
    within(ops(&p), ops(&m), 0.02, "operations performed");
    // ... but busier lanes: more cycles than the uniform expectation.
    assert!(
        m.busy_cycles as f64 > 1.1 * p.busy_cycles as f64,
        "{} vs {}",
        m.busy_cycles,
        p.busy_cycles
    );
    let rows = stems::validate::compare(&p, &m);
    let imbalance = rows
        .iter()
        .find(|r| r.metric == "stall_cycles.lane_imbalance")
        .expect("a lane-imbalance row");
    // The busy-cycle gap is the lane imbalance the uniform assumption did not expect.
    let busy_gap = m.busy_cycles as f64 - p.busy_cycles as f64;
    let imbalance_gap = imbalance.measured - imbalance.predicted;
    assert!(
        (imbalance_gap - busy_gap).abs() < 0.1 * busy_gap,
        "busy gap {busy_gap}, lane imbalance gap {imbalance_gap}"
    );
}

#[test]
fn a_compressed_transfer_with_too_few_non_zeros_fails_verification() {
    let w = temp_file("one_conv_v.toml", ONE_CONV.as_bytes());
    let schedule = plan(
        &w,
        Path::new("models/hardware/meta_proto.toml"),
        &overrides(&["dram.feature_format=coordinate"]),
        "ST-LBL",
        SchedulerOptions::default(),
    )
    .expect("plan");
    let spikes = known_spikes(&schedule.workload);
    let schedule = Arc::new(schedule);
    let mut v = stems::sim::validity::Validity::new(Arc::clone(&schedule))
        .expect("derive")
        .with_spikes(Some(spikes));
    // The network input's load carries its 5 spikes; claim 4.
    let (tile, load) = schedule
        .tiles
        .iter()
        .flat_map(|t| t.before.iter().map(move |a| (t.tile.id, a)))
        .find_map(|(id, a)| match a {
            stems::schedule::Action::Transfer(t)
                if schedule.objects[t.object].describe(&schedule.workload) == "network input" =>
            {
                Some((id, t.clone()))
            }
            _ => None,
        })
        .expect("the input's load");
    v.payload_carried(0, tile, &load, 5)
        .expect("the right count passes");
    let err = v.payload_carried(0, tile, &load, 4).expect_err("too few");
    assert_eq!(
        err.kind,
        stems::sim::validity::ViolationKind::CompressedPayload
    );
    assert!(err.to_string().contains("5 non-zeros"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Bad recordings.

/// A `.npy` file: the header numpy writes (version 1.0) and the raw data.
fn npy(descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// An `.npz`: a zip of `.npy` entries, stored as `numpy.savez` does.
fn npz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in entries {
            zip.start_file(format!("{name}.npy"), options)
                .expect("entry");
            zip.write_all(bytes).expect("write");
        }
        zip.finish().expect("finish");
    }
    buf.into_inner()
}

fn stems(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn evaluate_with(recording: &Path) -> (i32, String) {
    let w = temp_file("one_conv_r.toml", ONE_CONV.as_bytes());
    stems(&[
        "evaluate",
        "--workload",
        w.to_str().expect("path"),
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--schedule",
        "ST-LBL",
        "--spikes",
        recording.to_str().expect("path"),
    ])
}

#[test]
fn a_good_recording_sets_the_densities_it_holds() {
    let input: Vec<u8> = (0..64).map(|i| u8::from(i % 8 == 0)).collect();
    let output = vec![0u8; 32];
    let file = temp_file(
        "good.npz",
        &npz(&[
            ("conv", npy("|u1", &[1, 4, 4, 4], &input)),
            ("conv/output", npy("|u1", &[1, 2, 4, 4], &output)),
        ]),
    );
    let (code, err) = evaluate_with(&file);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_recordings_are_refused_naming_file_entry_and_problem() {
    let ok_input = npy("|u1", &[1, 4, 4, 4], &[0; 64]);
    let ok_output = npy("|u1", &[1, 2, 4, 4], &[0; 32]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "missing",
            npz(&[("conv", ok_input.clone())]),
            "no spikes for 'conv' (record it as 'conv/output')",
        ),
        (
            "unknown",
            npz(&[
                ("conv", ok_input.clone()),
                ("nope/output", ok_output.clone()),
            ]),
            "entry 'nope/output': no layer",
        ),
        (
            "shape",
            npz(&[
                ("conv", npy("|u1", &[1, 4, 4, 5], &[0; 80])),
                ("conv/output", ok_output.clone()),
            ]),
            "entry 'conv': shape [1, 4, 4, 5]",
        ),
        (
            "timesteps",
            npz(&[
                ("conv", npy("|u1", &[2, 4, 4, 4], &[0; 128])),
                ("conv/output", ok_output.clone()),
            ]),
            "entry 'conv': shape [2, 4, 4, 4]",
        ),
        (
            "not_spikes",
            npz(&[
                (
                    "conv",
                    npy("|u1", &[1, 4, 4, 4], &[[3u8].as_slice(), &[0; 63]].concat()),
                ),
                ("conv/output", ok_output.clone()),
            ]),
            "element 0 is 3: a 1-bit (spike) input holds only 0 and 1",
        ),
        (
            "truncated_data",
            npz(&[
                ("conv", npy("|u1", &[1, 4, 4, 4], &[0; 40])),
                ("conv/output", ok_output.clone()),
            ]),
            "entry 'conv': is truncated",
        ),
        (
            "not_a_zip",
            b"hello, not a zip".to_vec(),
            "not an .npz (zip) archive",
        ),
        (
            "huge",
            npz(&[
                ("conv", npy("|u1", &[1 << 30, 1, 4, 4, 4], &[0; 64])),
                ("conv/output", ok_output.clone()),
            ]),
            "more than stems reads",
        ),
        (
            "float_nan",
            npz(&[
                (
                    "conv",
                    npy(
                        "<f8",
                        &[1, 4, 4, 4],
                        &[f64::NAN.to_le_bytes().as_slice(), &[0; 63 * 8]].concat(),
                    ),
                ),
                ("conv/output", ok_output.clone()),
            ]),
            "element 0 is NaN",
        ),
    ];
    for (name, bytes, needle) in cases {
        let file = temp_file(&format!("{name}.npz"), &bytes);
        let (code, err) = evaluate_with(&file);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.contains(needle),
            "{name}: expected '{needle}' in: {err}"
        );
        assert!(
            err.contains(&format!("{name}.npz")),
            "{name}: the file is named: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // A file cut short in its zip directory.
    let whole = npz(&[("conv", ok_input), ("conv/output", ok_output)]);
    let file = temp_file("cut.npz", &whole[..whole.len() - 30]);
    let (code, err) = evaluate_with(&file);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cut.npz"), "{err}");
}

#[test]
fn activity_overrides_outside_their_range_are_refused() {
    for bad in ["-0.5", "nan", "inf"] {
        let (code, err) = stems(&[
            "evaluate",
            "--workload",
            "models/workloads/tiny_fused.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--schedule",
            "ST-LBL",
            "--activity",
            bad,
        ]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("activity"), "{bad}: {err}");
    }
}
