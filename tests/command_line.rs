//! Does stems behave as a Unix tool on the command line: a reader that closes stdout
//! early (`stems … | head`) ends the command quietly with exit 0.

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args([
            "explore",
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "128KiB",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stems");
    // Read a little of the (much longer) output, then hang up like `head -1`.
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    let out = child.wait_with_output().expect("stems ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

fn stems(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

const TINY: [&str; 4] = [
    "--workload",
    "models/workloads/tiny_fused.toml",
    "--hardware",
    "models/hardware/meta_proto.toml",
];

#[test]
fn values_starting_with_a_hyphen_are_errors_naming_the_option() {
    for (option, value, needle) in [
        ("--gb", "-1KiB", "invalid value '-1KiB' for '--gb"),
        ("--schedule", "-LBL", "--schedule: schedule \"-LBL\""),
        ("--jobs", "-1", "invalid value '-1' for '--jobs"),
    ] {
        let cmd = if option == "--jobs" {
            "explore"
        } else {
            "evaluate"
        };
        let mut args = vec![cmd];
        args.extend(TINY);
        args.extend([option, value]);
        if option != "--schedule" && cmd != "explore" {
            args.extend(["--schedule", "ST-LBL"]);
        }
        let out = stems(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(stderr.contains(needle), "{option} {value}: {stderr}");
    }
}

#[test]
fn output_files_get_their_folders_and_errors_name_the_path() {
    let dir = std::env::temp_dir().join(format!("stems-outputs-{}", std::process::id()));
    let trace = dir.join("new/folder/run.trace.json");
    let schedule = dir.join("other/new/folder/s.schedule.json");
    let mut args = vec!["simulate"];
    args.extend(TINY);
    args.extend([
        "--schedule",
        "ST-LBL",
        "--trace",
        trace.to_str().expect("path"),
    ]);
    let out = stems(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).expect("trace written");
    assert!(text.trim_end().ends_with("]}"), "a whole JSON document");
    let mut args = vec!["evaluate"];
    args.extend(TINY);
    args.extend([
        "--schedule",
        "ST-LBL",
        "--save-schedule",
        schedule.to_str().expect("path"),
    ]);
    assert!(stems(&args).status.success());
    assert!(
        schedule.exists()
            && !dir
                .join("other/new/folder/s.schedule.json.partial")
                .exists()
    );
    // A folder that cannot be made (a file is in the way): the message names the path.
    let blocked = trace.join("x.json");
    let mut args = vec!["evaluate"];
    args.extend(TINY);
    args.extend([
        "--schedule",
        "ST-LBL",
        "--save-schedule",
        blocked.to_str().expect("path"),
    ]);
    let out = stems(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("run.trace.json/x.json"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_accelerator_with_a_syntax_error_is_reported_as_an_accelerator() {
    let dir = std::env::temp_dir().join(format!("stems-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("hw.toml");
    let text = std::fs::read_to_string("models/hardware/meta_proto.toml").expect("model");
    std::fs::write(&path, text.replacen("rows = 16", "rows = = 16", 1)).expect("write");
    let out = stems(&["inspect", path.to_str().expect("path"), "--gb", "1MiB"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("core.pe_array field 'rows': extra `=`"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn memory_follows_what_is_accessed_not_the_configured_banks() {
    // 128 GiB of 128 KiB banks: a million banks. Their ports are created on first use,
    // so a tiny network simulates as quickly as on a small SRAM.
    let mut args = vec!["simulate"];
    args.extend(TINY);
    args.extend(["--gb", "128GiB", "--schedule", "ST-LBL"]);
    let started = std::time::Instant::now();
    let out = stems(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed().as_secs() < 5);
    // More worker threads than any machine: a typo, refused.
    let mut args = vec!["explore"];
    args.extend(TINY);
    args.extend(["--jobs", "100000"]);
    let out = stems(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jobs must be 1..=1024"));
}

#[test]
fn any_hardware_field_can_be_set_and_reports_name_their_overrides() {
    let latency = |bw: &str| -> (u64, serde_json::Value) {
        let set = format!("dram.bw_bits={bw}");
        let out = stems(&[
            "simulate",
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "128KiB",
            "--schedule",
            "ST-LBL",
            "--set",
            &set,
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(j["hardware"], format!("meta_proto[{set}]"));
        assert_eq!(j["hardware_overrides"][0], set);
        (j["latency_cycles"].as_u64().expect("latency"), j)
    };
    let (slow, _) = latency("16");
    let (fast, _) = latency("256");
    assert!(slow > 2 * fast, "16 bits/cycle: {slow}, 256: {fast}");
    // An override obeys the file's rules and names its path.
    for (set, needle) in [
        (
            "dram.bw_bits=0",
            "dram field 'bw_bits': must be between 1 and",
        ),
        ("core9.pe_array.rows=8", "no core is named 'core9'"),
        (
            "core*.input_lb.size=16KB",
            "field 'size': '16KB': 'KB' is ambiguous",
        ),
        ("core0.pe_array.colz=8", "unknown field `colz`"),
        ("dram.bw_bits", "is not PATH=VALUE"),
    ] {
        let mut args = vec!["simulate"];
        args.extend(TINY);
        args.extend(["--schedule", "ST-LBL", "--set", set]);
        let out = stems(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{set}: {stderr}");
        assert!(stderr.contains(needle), "{set}: {stderr}");
    }
}

#[test]
fn validating_a_scenario_of_sweeps_only_points_to_run() {
    let out = stems(&["validate", "--scenario", "scenarios/bandwidth_stalls.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no [[experiment]] to validate")
            && stderr.contains("stems run scenarios/bandwidth_stalls.toml"),
        "{stderr}"
    );
}
