//! Long design-space runs: an exploration killed part-way and resumed gives what an
//! uninterrupted one gives, shards merge into the unsharded result, and a redirected run
//! logs its progress.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RED: [&str; 8] = [
    "--workload",
    "models/workloads/red_lif_gen4.toml",
    "--hardware",
    "models/hardware/meta_proto.toml",
    "--gb",
    "512KiB",
    "--batch-from",
    "output",
];

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

fn explore(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["explore"];
    args.extend(RED);
    args.extend(extra);
    stems(&args)
}

/// The CSV's data rows, sorted (rows are written as schedules complete).
fn rows(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("explore.csv")).expect("csv");
    let mut v: Vec<String> = text.lines().skip(1).map(String::from).collect();
    v.sort();
    v
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn an_exploration_killed_part_way_and_resumed_matches_an_uninterrupted_one() {
    let base = std::env::temp_dir().join(format!("stems-resume-{}", std::process::id()));
    let (whole, cut) = (base.join("whole"), base.join("cut"));
    let out = explore(&["--out", whole.to_str().expect("path"), "--jobs", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One worker, killed once a dozen schedules are on disk.
    let mut args = vec!["explore"];
    args.extend(RED);
    args.extend(["--out", cut.to_str().expect("path"), "--jobs", "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let started = Instant::now();
    while lines(&cut.join("outcomes.jsonl")) < 12 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let costed = lines(&cut.join("outcomes.jsonl"));
    assert!(
        (12..81).contains(&costed),
        "killed part-way: {costed} of 81"
    );
    assert!(
        !cut.join("summary.json").exists(),
        "no summary before the end"
    );

    let out = explore(&["--resume", cut.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("points already costed"), "{stderr}");
    assert_eq!(
        std::fs::read(whole.join("summary.json")).expect("summary"),
        std::fs::read(cut.join("summary.json")).expect("summary"),
        "byte-identical summaries"
    );
    assert_eq!(rows(&whole), rows(&cut));
    assert_eq!(rows(&cut).len(), 81);

    // Resuming with other options is refused.
    let out = stems(&[
        "explore",
        "--workload",
        "models/workloads/red_lif_gen4.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "256KiB",
        "--resume",
        cut.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was started for another run"));
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn shards_run_concurrently_merge_into_the_unsharded_result() {
    explore_in_4_shards(&RED, "red");
}

/// The acceptance run: SEW-ResNet-18's 16,384 exhaustive schedules at 128 KiB,
/// about 2.5 min unsharded and 4 min for the shards on 2 cores (release build), so
/// left to `cargo test --release --test long_runs -- --ignored`.
#[test]
#[ignore]
fn sew18_exhaustive_shards_merge_into_the_unsharded_result() {
    explore_in_4_shards(
        &[
            "--workload",
            "models/workloads/sew_resnet18_cifar10dvs.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "128KiB",
            "--space",
            "exhaustive",
            "--yes",
        ],
        "sew18",
    );
}

/// One unsharded exploration of `models` and 4 shards of it run concurrently as
/// separate processes; their merge must equal the unsharded run.
fn explore_in_4_shards(models: &[&str], name: &str) {
    let base = std::env::temp_dir().join(format!("stems-shards-{name}-{}", std::process::id()));
    let whole = base.join("whole");
    let mut args = vec!["explore"];
    args.extend(models);
    args.extend(["--out", whole.to_str().expect("path")]);
    let out = stems(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shard_dirs: Vec<_> = (0..4).map(|k| base.join(format!("shard{k}"))).collect();
    let children: Vec<_> = shard_dirs
        .iter()
        .enumerate()
        .map(|(k, dir)| {
            let mut args = vec!["explore".to_string()];
            args.extend(models.iter().map(|s| s.to_string()));
            args.extend([
                "--shard".into(),
                format!("{k}/4"),
                "--out".into(),
                dir.display().to_string(),
                "--jobs".into(),
                "1".into(),
            ]);
            Command::new(env!("CARGO_BIN_EXE_stems"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start shard")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("shard");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let merged = base.join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shard_dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), merged.display().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(&args)
        .output()
        .expect("merge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(whole.join("summary.json")).expect("summary"),
        std::fs::read(merged.join("summary.json")).expect("summary")
    );
    assert_eq!(rows(&whole), rows(&merged));
    // A missing shard is named.
    let out = stems(&[
        "merge",
        shard_dirs[0].to_str().expect("path"),
        shard_dirs[2].to_str().expect("path"),
        "--out",
        base.join("partial").to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 1/4 is missing"));
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_redirected_run_logs_its_progress() {
    let mut args = vec!["explore"];
    args.extend(RED);
    args.extend(["--jobs", "1"]);
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(&args)
        .env("STEMS_PROGRESS_SECONDS", "0.2")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The size and estimate first, then lines with done/total, rate and time left.
    assert!(stderr.contains("81 schedules to cost; about"), "{stderr}");
    let progress = stderr
        .lines()
        .filter(|l| l.contains("/81 schedules (") && l.contains("/s, about"))
        .count();
    assert!(progress >= 2, "{stderr}");
    // ... and the best schedule so far, by the ranking figure.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("best so far ") && l.contains(" mJ)")),
        "{stderr}"
    );
}

const TINY: [&str; 4] = [
    "--workload",
    "models/workloads/tiny_fused.toml",
    "--hardware",
    "models/hardware/meta_proto.toml",
];

fn succeeds(args: &[&str]) -> std::process::Output {
    let out = stems(args);
    assert!(
        out.status.success(),
        "stems {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn same_files(a: &Path, b: &Path, names: &[&str]) {
    for name in names {
        assert_eq!(
            read(&a.join(name)),
            read(&b.join(name)),
            "{name} of {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn validate_shards_merge_and_an_interrupted_validate_resumes() {
    let base = std::env::temp_dir().join(format!("stems-validate-grid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = |name: &str| base.join(name).to_str().expect("path").to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["validate", "--space", "hybrid", "--gb", "128KiB,256KiB"];
        args.extend(TINY);
        args.extend(extra);
        stems(&args)
    };
    let whole = run(&["--out", &dir("whole")]);
    assert!(whole.status.success());
    let outputs = ["summary.json", "validation.csv"];

    for k in 0..3 {
        let shard = format!("{k}/3");
        let out = run(&["--out", &dir(&format!("s{k}")), "--shard", &shard]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    succeeds(&[
        "merge",
        &dir("s0"),
        &dir("s1"),
        &dir("s2"),
        "--out",
        &dir("merged"),
    ]);
    same_files(&base.join("whole"), &base.join("merged"), &outputs);
    let missing = stems(&["merge", &dir("s0"), &dir("s2"), "--out", &dir("m2")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("shard 1/3 is missing"));

    // An interruption: the header, five rows and a line cut short.
    let cut = base.join("cut");
    std::fs::create_dir_all(&cut).expect("mkdir");
    std::fs::copy(base.join("whole/run.json"), cut.join("run.json")).expect("copy");
    let journal = read(&base.join("whole/rows.jsonl"));
    let kept: Vec<&str> = journal.lines().take(5).collect();
    let torn = &journal.lines().nth(5).expect("a sixth row")[..40];
    std::fs::write(
        cut.join("rows.jsonl"),
        format!("{}\n{torn}", kept.join("\n")),
    )
    .expect("write");
    let resumed = run(&["--resume", &dir("cut")]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("5 runs already done"));
    same_files(&base.join("whole"), &cut, &outputs);
    assert_eq!(lines(&cut.join("rows.jsonl")), 18);

    // Resuming with other options is refused rather than mixed in.
    let other = stems(&[
        "validate",
        "--space",
        "hybrid",
        "--gb",
        "64KiB",
        TINY[0],
        TINY[1],
        TINY[2],
        TINY[3],
        "--resume",
        &dir("cut"),
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("was started for another run"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn sweep_shards_merge_into_the_unsharded_sweep() {
    let base = std::env::temp_dir().join(format!("stems-sweep-grid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = |name: &str| base.join(name).to_str().expect("path").to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--axis",
            "dram.bw_bits=16,32,64,128",
            "--axis",
            "gb=64KiB,128KiB",
            "--schedule",
            "ST-LBL",
            "--schedule",
            "TB-LBL",
        ];
        args.extend(TINY);
        args.extend(extra);
        succeeds(&args)
    };
    run(&["--out", &dir("whole")]);
    run(&["--out", &dir("s0"), "--shard", "0/2"]);
    run(&["--out", &dir("s1"), "--shard", "1/2"]);
    succeeds(&["merge", &dir("s1"), &dir("s0"), "--out", &dir("merged")]);
    same_files(
        &base.join("whole"),
        &base.join("merged"),
        &["summary.json", "sweep.csv", "latency_heatmap.svg"],
    );

    // A shard of another grid does not merge.
    let mut other = vec![
        "sweep",
        "--axis",
        "dram.bw_bits=16,32",
        "--schedule",
        "ST-LBL",
    ];
    other.extend(TINY);
    let other_dir = dir("other");
    other.extend(["--out", &other_dir, "--shard", "1/2"]);
    succeeds(&other);
    let mixed = stems(&["merge", &dir("s0"), &dir("other"), "--out", &dir("m2")]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("another grid"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_run_estimated_above_the_threshold_asks_for_yes() {
    for command in ["explore", "validate", "sweep"] {
        let mut args = vec![command];
        args.extend(TINY);
        args.extend(match command {
            "sweep" => vec!["--axis", "dram.bw_bits=8..1024*2", "--schedule", "ST-LBL"],
            _ => vec!["--space", "hybrid"],
        });
        let run = |extra: &[&str]| {
            let mut all = args.clone();
            all.extend(extra);
            Command::new(env!("CARGO_BIN_EXE_stems"))
                .args(&all)
                .env("STEMS_LONG_RUN_SECONDS", "0")
                .output()
                .expect("run stems")
        };
        let refused = run(&[]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("pass --yes") && stderr.contains("--shard K/N"),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("to do") || stderr.contains("to cost"),
            "{stderr}"
        );
        let confirmed = run(&["--yes"]);
        assert!(
            confirmed.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&confirmed.stderr)
        );
    }
}
