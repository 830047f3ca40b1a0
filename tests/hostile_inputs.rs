//! The second hardening round: each case is a class a hostile file or a careless command
//! broke (a panic, memory spent before a check, a silently wrong result, a file
//! destroyed), and what stems does now — exit 2 naming the file, option or field, or
//! the right result.

use std::path::{Path, PathBuf};
use std::process::Command;

fn stems(args: &[&str]) -> (i32, String, String) {
    stems_env(args, &[])
}

fn stems_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run stems");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stems-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const HW: &str = "models/hardware/meta_proto.toml";
const TINY: &str = "models/workloads/tiny_fused.toml";

fn refused(args: &[&str], says: &str) {
    let (code, _, err) = stems(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: expected '{says}' in: {err}");
}

#[test]
fn a_sweep_too_large_is_refused_before_its_points_exist() {
    // 10^9 points: the cross product used to be built first (7+ GB).
    refused(
        &[
            "sweep",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--schedule",
            "TB-LBL",
            "--axis",
            "dram.bw_bits=1..1000+1",
            "--axis",
            "noc.link_bw_bits=1..1000+1",
            "--axis",
            "core0.pe_array.rows=1..1000+1",
        ],
        "1000000000 points asked for",
    );
}

#[test]
fn one_field_on_two_axes_is_refused() {
    refused(
        &[
            "sweep",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--schedule",
            "TB-LBL",
            "--axis",
            "dram.bw_bits=16,32",
            "--axis",
            "dram.bw_bits=64",
        ],
        "--axis dram.bw_bits: given twice (16,32 and 64)",
    );
}

#[test]
fn a_set_value_is_one_line_and_stars_do_not_backtrack() {
    refused(
        &[
            "evaluate",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--schedule",
            "TB-LBL",
            "--set",
            "dram.bw_bits=32\nnoc.link_bw_bits=8",
        ],
        "holds a control character",
    );
    // Forty stars used to never return; now a plain "no core".
    let stars = format!("{}.pe_array.rows=8", "*a".repeat(40));
    refused(
        &[
            "evaluate",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--schedule",
            "TB-LBL",
            "--set",
            &stars,
        ],
        "no core is named",
    );
}

#[test]
fn conflicting_allocations_and_unwritable_core_names_are_refused() {
    let red = "models/workloads/red_lif_gen4.toml";
    let mesh = "models/hardware/mesh_2x2.toml";
    refused(
        &[
            "evaluate",
            "--workload",
            red,
            "--hardware",
            mesh,
            "--schedule",
            "ST-LBL",
            "--allocate",
            "conv9=core1,conv9=core2",
        ],
        "entries 'conv9=core1' and 'conv9=core2' put conv9 on two cores",
    );
    // A layer's entry overrides its block's, whichever comes first.
    let (a, b) = (
        stems(&[
            "evaluate",
            "--workload",
            red,
            "--hardware",
            mesh,
            "--schedule",
            "ST-LBL",
            "--allocate",
            "conv9=core2,block:0=core1",
            "--format",
            "json",
        ]),
        stems(&[
            "evaluate",
            "--workload",
            red,
            "--hardware",
            mesh,
            "--schedule",
            "ST-LBL",
            "--allocate",
            "block:0=core1,conv9=core2",
            "--format",
            "json",
        ]),
    );
    assert_eq!((a.0, b.0), (0, 0), "{} {}", a.2, b.2);
    assert_eq!(a.1, b.1);
    refused(
        &[
            "evaluate",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--schedule",
            "TB-LBL",
            "--set",
            "core0.name=a,b",
        ],
        "must be non-empty, without spaces or any of , = . * :",
    );
}

#[test]
fn an_allocation_search_estimated_too_long_asks_for_yes() {
    let (code, _, err) = stems_env(
        &[
            "allocate",
            "--workload",
            "models/workloads/red_lif_gen4.toml",
            "--hardware",
            "models/hardware/mesh_2x2.toml",
            "--schedule",
            "ST-LBL",
            "--budget",
            "1000000",
        ],
        &[("STEMS_LONG_RUN_SECONDS", "60")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pass --yes to go ahead, or lower --budget"),
        "{err}"
    );
}

/// A sharded validate run of tiny_fused at 8 KiB, as shard 0/2 and 1/2.
fn shards(dir: &Path) -> (PathBuf, PathBuf) {
    let s = |k: &str| {
        let out = dir.join(format!("s{k}"));
        let (code, _, err) = stems(&[
            "validate",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--space",
            "hybrid",
            "--gb",
            "8KiB",
            "--shard",
            &format!("{k}/2"),
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 0, "{err}");
        out
    };
    (s("0"), s("1"))
}

/// A copy of `from` with `edit` applied, merged with `other`: exit 2 and `says`.
fn merge_refuses(dir: &Path, from: &Path, other: &Path, edit: impl Fn(&Path), says: &str) {
    let copy = dir.join("tampered");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).expect("dir");
    for f in ["run.json", "rows.jsonl"] {
        std::fs::copy(from.join(f), copy.join(f)).expect("copy");
    }
    edit(&copy);
    let out = dir.join("merged");
    refused(
        &[
            "merge",
            copy.to_str().expect("utf-8"),
            other.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        says,
    );
}

#[test]
fn run_directories_are_checked_like_input() {
    let dir = temp_dir("merge");
    let (s0, s1) = shards(&dir);
    let replace = |from: &'static str, to: &'static str| {
        move |d: &Path| {
            let p = d.join("run.json");
            let text = std::fs::read_to_string(&p).expect("header");
            assert!(text.contains(from), "{text}");
            std::fs::write(&p, text.replace(from, to)).expect("write");
        }
    };
    // A shard count of 0 panicked dividing by it.
    merge_refuses(
        &dir,
        &s0,
        &s1,
        replace("\"count\": 2", "\"count\": 0"),
        "is not K/N",
    );
    // A point count of 10^15 built the list of every index.
    merge_refuses(
        &dir,
        &s0,
        &s1,
        replace("\"points\": 9", "\"points\": 1000000000000000"),
        "claims 1000000000000000 points",
    );
    // A line of the other shard was kept: the merged CSV held it twice.
    let foreign = std::fs::read_to_string(s1.join("rows.jsonl")).expect("rows");
    let first = foreign.lines().next().expect("a row").to_string();
    merge_refuses(
        &dir,
        &s0,
        &s1,
        move |d: &Path| {
            let p = d.join("rows.jsonl");
            let mut text = std::fs::read_to_string(&p).expect("rows");
            text.push_str(&first);
            text.push('\n');
            std::fs::write(&p, text).expect("write");
        },
        "belongs to shard 1/2, not to this shard 0/2",
    );
    // A line of another run (another size), same shard and index: it was kept.
    let other = dir.join("other");
    let (code, _, err) = stems(&[
        "validate",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--space",
        "hybrid",
        "--gb",
        "2KiB",
        "--shard",
        "0/2",
        "--out",
        other.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    let stranger = std::fs::read_to_string(other.join("rows.jsonl")).expect("rows");
    let stranger = stranger.lines().next().expect("a row").to_string();
    merge_refuses(
        &dir,
        &s0,
        &s1,
        move |d: &Path| {
            let p = d.join("rows.jsonl");
            let mut text = std::fs::read_to_string(&p).expect("rows");
            text.push_str(&stranger);
            text.push('\n');
            std::fs::write(&p, text).expect("write");
        },
        "was written by another run",
    );
    // A journal without newlines (a link to /dev/zero) was read until memory ran out.
    #[cfg(unix)]
    merge_refuses(
        &dir,
        &s0,
        &s1,
        |d: &Path| {
            let p = d.join("rows.jsonl");
            std::fs::remove_file(&p).expect("rm");
            std::os::unix::fs::symlink("/dev/zero", &p).expect("link");
        },
        "line 1 is longer than 1 MiB",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_write_through_links_and_dash_is_standard_output() {
    let dir = temp_dir("out");
    let nir = "tests/fixtures/nir/conv_snn.nir";
    let (code, out, err) = stems(&["import", nir, "--out", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[[layer]]"), "the workload on stdout: {out}");
    assert!(!Path::new("-").exists(), "no file named '-'");
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        // A link to a regular file: the target is replaced, the link stays.
        let target = dir.join("target.toml");
        std::fs::write(&target, "old").expect("write");
        let link = dir.join("link.toml");
        std::os::unix::fs::symlink(&target, &link).expect("link");
        let (code, _, err) = stems(&["import", nir, "--out", link.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{err}");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::read_to_string(&target)
                .expect("target")
                .contains("[[layer]]")
        );
        // A link to a device: written through, the device stays a device.
        let null = dir.join("null.toml");
        std::os::unix::fs::symlink("/dev/null", &null).expect("link");
        let (code, _, err) = stems(&["import", nir, "--out", null.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{err}");
        assert!(
            std::fs::symlink_metadata(&null)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::metadata("/dev/null")
                .expect("null")
                .file_type()
                .is_char_device()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replayed_machine_obeys_the_rules_of_its_file() {
    // Two cores on one mesh node were simulated (with a different energy) although the
    // TOML loader refuses that machine.
    let dir = temp_dir("replay");
    let saved = dir.join("s.json");
    let (code, _, err) = stems(&[
        "evaluate",
        "--workload",
        TINY,
        "--hardware",
        "models/hardware/mesh_2x2.toml",
        "--gb",
        "8KiB",
        "--schedule",
        "TB-LF",
        "--allocate",
        "conv_b=core1",
        "--save-schedule",
        saved.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    let first = s["accelerator"]["cores"][0]["position"].clone();
    s["accelerator"]["cores"][1]["position"] = first;
    let tampered = dir.join("t.json");
    std::fs::write(&tampered, s.to_string()).expect("write");
    refused(
        &["simulate", "--replay", tampered.to_str().expect("utf-8")],
        "core 'core1' field 'position': another core already sits at [0, 0]",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_directory_has_one_writer_and_merge_never_overwrites_a_run() {
    let dir = temp_dir("lock");
    let (s0, s1) = shards(&dir);
    // Another process holds the run (here: this test, through the same lock file).
    let lock = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(s0.join(".lock"))
        .expect("lock file");
    lock.try_lock().expect("lock");
    refused(
        &[
            "validate",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--space",
            "hybrid",
            "--gb",
            "8KiB",
            "--shard",
            "0/2",
            "--resume",
            s0.to_str().expect("utf-8"),
        ],
        "another stems process is writing this run",
    );
    drop(lock);
    // The shard itself, however spelled, and a directory holding a run are refused.
    let dotted = format!("{}/./", s1.display());
    let (a, b) = (s0.to_str().expect("utf-8"), s1.to_str().expect("utf-8"));
    refused(&["merge", a, b, "--out", &dotted], "is the shard");
    refused(&["merge", a, b, "--out", a], "is the shard");
    let merged = dir.join("merged");
    let m = merged.to_str().expect("utf-8");
    let (code, _, err) = stems(&["merge", a, b, "--out", m]);
    assert_eq!(code, 0, "{err}");
    refused(&["merge", a, b, "--out", m], "already holds a run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An exploration of tiny_fused's exhaustive space at `gb`, as shard `k`/2, in `dir`.
fn explore_shard(dir: &Path, gb: &str, k: usize) -> PathBuf {
    let out = dir.join(format!("x{gb}-{k}"));
    let (code, _, err) = stems(&[
        "explore",
        "--workload",
        TINY,
        "--hardware",
        HW,
        "--space",
        "exhaustive",
        "--gb",
        gb,
        "--shard",
        &format!("{k}/2"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn an_exploration_line_of_another_run_is_refused_on_resume_and_merge() {
    let dir = temp_dir("explore-lines");
    let (s0, s1) = (
        explore_shard(&dir, "8KiB", 0),
        explore_shard(&dir, "8KiB", 1),
    );
    let stranger = explore_shard(&dir, "16KiB", 0);
    // Same shard and index, another run (another size): the merged CSV held its line.
    let line = std::fs::read_to_string(stranger.join("outcomes.jsonl")).expect("outcomes");
    let line = line.lines().next().expect("a line").to_string();
    let journal = s0.join("outcomes.jsonl");
    let mut text = std::fs::read_to_string(&journal).expect("outcomes");
    text.push_str(&line);
    text.push('\n');
    std::fs::write(&journal, text).expect("write");
    let (a, b) = (s0.to_str().expect("utf-8"), s1.to_str().expect("utf-8"));
    let out = dir.join("merged");
    refused(
        &["merge", a, b, "--out", out.to_str().expect("utf-8")],
        "was written by another run",
    );
    refused(
        &[
            "explore",
            "--workload",
            TINY,
            "--hardware",
            HW,
            "--space",
            "exhaustive",
            "--gb",
            "8KiB",
            "--shard",
            "0/2",
            "--resume",
            a,
        ],
        "was written by another run",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
