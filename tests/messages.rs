//! Do messages point at the cause? Each case is a mistake users make (a file of the
//! wrong kind, a typo, several problems at once, a stale run directory) and the
//! wording the user should read.

mod common;

use std::process::Command;

fn stems(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `text` written as `name` in `dir`: its path.
fn temp(dir: &common::Scratch, name: &str, text: &str) -> String {
    dir.file(name, text).display().to_string()
}

const HW: &str = "models/hardware/meta_proto.toml";
const TINY: &str = "models/workloads/tiny_fused.toml";

#[test]
fn a_file_of_the_wrong_kind_says_what_it_is() {
    let (code, _, err) = stems(&["run", TINY]);
    assert_eq!(code, 2);
    assert!(
        err.contains("this file is a workload (`timesteps` and `layer`), not a scenario: give it to --workload"),
        "{err}"
    );
    assert!(
        err.contains("scenario field 'defaults'"),
        "the document, not [input]: {err}"
    );
    let (code, _, err) = stems(&[
        "evaluate",
        "--workload",
        HW,
        "--hardware",
        TINY,
        "--schedule",
        "ST-LBL",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "this file is an accelerator (`core` and `dram`), not a workload: give it to --hardware"
        ),
        "{err}"
    );
}

const LAYERS: &str = r#"name = "x"
timesteps = 1
[input]
channels = 1
height = 4
width = 4
bits = 1
[[layer]]
name = "a"
op = "conv"
sources = ["input"]
k = 2
c = 1
oy = 4
ox = 4
fy = 1
fx = 1
bogus = 3
precision = { w = 4, o = 1, acc = 16, zz = 1 }
[[layer]]
name = "b"
op = "maxpool"
block = 0
sources = ["a"]
k = 2
oy = 2
ox = 2
fy = 2
fx = 2
"#;

#[test]
fn every_problem_of_a_file_is_listed_without_follow_on_errors() {
    let dir = common::Scratch::new("messages", "problems");
    let (code, _, err) = stems(&["inspect", &temp(&dir, "layers.toml", LAYERS)]);
    assert_eq!(code, 2);
    for needle in [
        "layer 'a' field 'bogus': unknown field `bogus`",
        "layer 'a' field 'zz': unknown field `zz`",
        "layer 'a' field 'block': missing field `block`",
        "layer 'b' field 'op': unknown operator 'maxpool'",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    assert!(
        !err.contains("required for op 'conv'"),
        "a typo'd op does not ask for conv's fields: {err}"
    );
    assert!(err.contains("4 problems"), "{err}");
    // An unknown field does not hide a shape error in another layer.
    let shapes = LAYERS
        .replace(
            "precision = { w = 4, o = 1, acc = 16, zz = 1 }",
            "precision = { w = 4, o = 1, acc = 16 }\nblock = 0",
        )
        .replace(
            "op = \"maxpool\"",
            "op = \"conv\"\nc = 3\nprecision = { w = 4, o = 1, acc = 16 }",
        );
    let (_, _, err) = stems(&["inspect", &temp(&dir, "shapes.toml", &shapes)]);
    assert!(err.contains("unknown field `bogus`"), "{err}");
    assert!(
        err.contains("layer 'b' field 'c': 3 input channels, but source 'a' has 2"),
        "{err}"
    );
}

#[test]
fn a_wrong_value_type_reads_plainly() {
    let (code, _, err) = stems(&[
        "evaluate",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--schedule",
        "ST-LBL",
        "--set",
        "dram.bw_bits=abc",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("dram field 'bw_bits': expects a whole number, got string \"abc\""),
        "{err}"
    );
    // A field an axis sets is named as the axis.
    let (code, _, err) = stems(&[
        "sweep",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--schedule",
        "ST-LBL",
        "--axis",
        "dram.bogus=1,2",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("with --axis dram.bogus=1") && !err.contains("--set"),
        "{err}"
    );
}

#[test]
fn replaying_figures_instead_of_a_schedule_says_so() {
    let (code, _, err) = stems(&[
        "simulate",
        "--replay",
        "traces/tiny_2t_lf_4kib.expected.json",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("this file holds figures (a report, or a saved trace's *.expected.json), not a saved schedule: replay the *.schedule.json beside it"),
        "{err}"
    );
}

#[test]
fn resuming_another_run_names_what_differs() {
    let dir = std::env::temp_dir().join(format!("stems-messages-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.display().to_string();
    let (code, _, err) = stems(&[
        "explore",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--gb",
        "4KiB",
        "--out",
        &d,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = stems(&[
        "explore",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--gb",
        "8KiB",
        "--resume",
        &d,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("was started for another run: fingerprint.model overrides, global_sram_bits differ(s) from this one"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tables_read_as_people_write() {
    // A stall the analytic half does not predict is not "+100 %".
    let (code, out, err) = stems(&[
        "simulate",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--gb",
        "4KiB",
        "--schedule",
        "2T-LF,ST-LBL",
    ]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("stall_cycles.dependency"))
        .expect("a dependency row");
    assert!(row.ends_with("none predicted"), "{row}");
    // Objectives and ranks by name, large counts with separators.
    let (_, out, _) = stems(&[
        "explore",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--gb",
        "4KiB",
    ]);
    assert!(out.contains("ranked by energy"), "{out}");
    let (_, out, _) = stems(&[
        "explore",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        HW,
        "--gb",
        "128KiB",
        "--space",
        "search",
        "--budget",
        "40",
        "--population",
        "8",
    ]);
    assert!(
        out.contains("of 6,103,515,625 schedules") && out.contains("objective energy"),
        "{out}"
    );
    // Spills in the order of the layers' numbers.
    let (_, out, _) = stems(&[
        "evaluate",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        HW,
        "--gb",
        "128KiB",
        "--schedule",
        "ST-LBL",
    ]);
    let (c5, c13) = (out.find("conv5 "), out.find("conv13 "));
    assert!(
        c5.is_some() && c13.is_some() && c5 < c13,
        "conv5 before conv13:\n{out}"
    );
}
