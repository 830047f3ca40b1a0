//! Does any input make stems panic, hang, blow up its memory or exit with anything but
//! 0 (fine) or 2 (bad input, naming the field or option)? The bundled models, a
//! scenario, a saved schedule and command lines are mutated the ways users and tools
//! break them — nasty numbers, wrong types, deleted, duplicated or unknown fields,
//! truncated files, broken references — and each mutant is run through the binary.
//!
//! A few hundred cases run in CI (seeded, so the same cases every time);
//! `STEMS_FUZZ_CASES=100000 cargo test --release --test fuzz_inputs -- --nocapture`
//! runs a long soak and prints the tallies. `STEMS_FUZZ_SEED` picks another sequence.

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CI_CASES: u64 = 360;
const TIME_LIMIT: Duration = Duration::from_secs(10);
const MEMORY_LIMIT_KIB: u64 = 1 << 20;

const WORKLOAD: &str = "models/workloads/tiny_fused.toml";
const ATTENTION: &str = "tests/fixtures/attention/one_head.toml";
const HARDWARE: &str = "models/hardware/meta_proto.toml";
const SCHEDULE: &str = "traces/tiny_2t_lf_4kib.schedule.json";

/// Values that break parsers and arithmetic.
const NASTY_TOML: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "65",
    "4097",
    "1000000000",
    "4294967295",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "nan",
    "inf",
    "0.5",
    "\"\"",
    "\"x\"",
    "\"1b\"",
    "\"512KB\"",
    "\"2305843009213693952B\"",
    "\"2TiB\"",
    "\"1TiB\"",
    "[]",
    "[1, 2]",
    "true",
    "{}",
];

const NASTY_JSON: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "4294967295",
    "18446744073709551615",
    "9223372036854775807",
    "1e300",
    "0.5",
    "\"\"",
    "\"x\"",
    "null",
    "true",
    "[]",
    "{}",
];

const NASTY_ARGS: &[&str] = &[
    "0",
    "-1",
    "1",
    "100000",
    "18446744073709551615",
    "",
    "x",
    "1b",
    "512KB",
    "2TiB",
    "2305843009213693952B",
    "-1KiB",
    "ST-LBL",
    "TB-LF",
    "3T-LBL",
    "-LBL",
    "ST-LF0",
    "ST-LBL,ST-LBL,ST-LBL,ST-LBL",
    "0..0",
    "-5..10",
    "10..5",
    "conv_a",
    "nope",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Workload,
    Accelerator,
    Scenario,
    Schedule,
    CommandLine,
    Recording,
    Nir,
    RunDirectory,
    Sweep,
    Allocation,
}

const KINDS: [Kind; 10] = [
    Kind::Workload,
    Kind::Accelerator,
    Kind::Scenario,
    Kind::Schedule,
    Kind::CommandLine,
    Kind::Recording,
    Kind::Nir,
    Kind::RunDirectory,
    Kind::Sweep,
    Kind::Allocation,
];

/// The multi-core machines and the networks placed on them by allocation cases.
const MACHINES: &[&str] = &[
    "models/hardware/mesh_2x2.toml",
    "models/hardware/meta_proto_soc.toml",
];
const NETWORKS: &[&str] = &[
    "models/workloads/tiny_fused.toml",
    "models/workloads/red_lif_gen4.toml",
    "models/workloads/sew_resnet18_cifar10dvs.toml",
    "models/workloads/sew_resnet152_imagenet.toml",
    "models/workloads/shd_rsnn.toml",
    "models/workloads/spikformer_4_384_cifar10.toml",
];

/// One network on one multi-core machine: each layer's name and the cores that run its
/// operator, so that cases can draw valid allocations (and break them on purpose).
struct Placement {
    hardware: &'static str,
    workload: &'static str,
    network: stems::model::Workload,
    blocks: usize,
    layers: Vec<(String, Vec<String>)>,
    cores: Vec<String>,
}

fn placements() -> Vec<Placement> {
    use stems::model::{Accelerator, HardwareOverrides, Workload};
    let mut out = Vec::new();
    for &hardware in MACHINES {
        let acc = Accelerator::load(Path::new(hardware), HardwareOverrides::default())
            .expect("a bundled machine");
        for &workload in NETWORKS {
            let w = Workload::load(Path::new(workload)).expect("a bundled network");
            let layers = w
                .layers
                .iter()
                .map(|l| {
                    let able = acc.cores.iter().filter(|c| c.runs(l.op));
                    (l.name.clone(), able.map(|c| c.name.clone()).collect())
                })
                .collect();
            out.push(Placement {
                hardware,
                workload,
                blocks: w.num_blocks,
                network: w.clone(),
                layers,
                cores: acc.cores.iter().map(|c| c.name.clone()).collect(),
            });
        }
    }
    out
}

/// A random allocation of a bundled network on a multi-core machine, simulated: a valid
/// one (every layer on a core that runs it) must verify and exit 0; one broken on
/// purpose (a core that does not run the layer, no such core or layer, one layer on two
/// cores) must be refused naming the entry. The second value says whether it is valid.
fn allocation_case(p: &Placement, rng: &mut ChaCha8Rng) -> (Vec<String>, bool) {
    let mut entries = Vec::new();
    for (layer, able) in &p.layers {
        if rng.random_bool(0.7) {
            let core = able.choose(rng).expect("a core runs it");
            entries.push(format!("{layer}={core}"));
        }
    }
    let valid = rng.random_bool(0.8);
    if !valid {
        let (layer, able) = p.layers.choose(rng).expect("a layer");
        let unable: Vec<&String> = p.cores.iter().filter(|c| !able.contains(c)).collect();
        let other = p.cores.iter().find(|c| Some(*c) != able.first());
        entries.push(match (rng.random_range(0..4), unable.first(), other) {
            (0, Some(core), _) => format!("{layer}={core}"),
            (1, _, Some(core)) => format!("{layer}={},{layer}={core}", able[0]),
            (2, _, _) => format!("nope={}", able[0]),
            _ => format!("{layer}=core99"),
        });
    }
    // A schedule that can run (a fused cut across attention cannot; see
    // tests/attention.rs): an allocation case is about the allocation.
    let stage = ["ST-LBL", "ST-LF", "TB-LBL", "TB-LF"];
    let spec = loop {
        let spec: Vec<&str> = (0..p.blocks)
            .map(|_| *stage.choose(rng).unwrap_or(&"ST-LBL"))
            .collect();
        let text = spec.join(",");
        let w = &p.network;
        let parsed = stems::schedule::ScheduleSpec::parse(&text, w.num_blocks, w.timesteps)
            .expect("a spec of the network's blocks");
        if stems::schedule::space::Skipped::default().keeps(w, &parsed) {
            break text;
        }
    };
    let s = |x: &str| x.to_string();
    let args = vec![
        s("simulate"),
        s("--workload"),
        s(p.workload),
        s("--hardware"),
        s(p.hardware),
        s("--gb"),
        s("1MiB"),
        s("--schedule"),
        spec,
        s("--allocate"),
        entries.join(","),
    ];
    (args, valid)
}

/// NIR files written by the `nir` package and h5py (tests/fixtures/nir), byte-mutated.
const NIR_FILES: &[&str] = &[
    "tests/fixtures/nir/conv_snn.nir",
    "tests/fixtures/nir/conv_snn_dtypes.nir",
    "tests/fixtures/nir/residual.nir",
    "tests/fixtures/nir/mlp_cubalif.nir",
    "tests/fixtures/nir/wide_linear.nir",
    "tests/fixtures/nir/snntorch_rleaky.nir",
    "tests/fixtures/nir/recurrent_conv.nir",
    "tests/fixtures/nir/resnet_downsample.nir",
    "tests/fixtures/nir/sew_resnet.nir",
    "tests/fixtures/nir/norse_conv.nir",
];

/// Sweep axes: field paths (wildcards, unknown fields, a field twice) and values
/// (lists, ranges, sizes, nonsense), a few points each when they are valid.
const AXIS_PATHS: &[&str] = &[
    "dram.bw_bits",
    "noc.link_bw_bits",
    "core*.pe_array.rows",
    "c*o*r*e*0.pe_array.cols",
    "core0.global_sram.banks",
    "gb",
    "activity",
    "layer.conv_a.activity",
    "layer.nope.activity",
    "**.x",
    "dram",
    "",
];
const AXIS_VALUES: &[&str] = &[
    "16,32",
    "8..64*4",
    "2KiB..8KiB*2",
    "0.25,1",
    "1..1000000+1",
    "1..4",
    "0",
    "-1",
    "x",
    "",
    "1e308",
    "4..1*2",
    "1..8*1",
];

const RECORDING: &str = "tests/fixtures/spikes/snn_conv_spikes.npz";
const RECORDED_WORKLOAD: &str = "tests/fixtures/spikes/snn_conv.toml";

/// A recording with bytes flipped, overwritten with nasty values, or cut short.
fn mutate_bytes(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.random_range(0..4) {
        0 => b.truncate(rng.random_range(0..b.len().max(1))),
        1 => {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..b.len().max(1));
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.random_range(0..8);
                }
            }
        }
        2 => {
            let i = rng.random_range(0..b.len().max(1));
            let value = *[0u8, 0xff, 0x7f, 0x80].choose(rng).unwrap_or(&0);
            for x in b.iter_mut().skip(i).take(rng.random_range(1..16)) {
                *x = value;
            }
        }
        _ => {
            let i = rng.random_range(0..b.len().max(1));
            b.splice(i..i, std::iter::repeat_n(0u8, rng.random_range(1..64)));
        }
    }
    b
}

/// One mutated TOML text: a value replaced, a line deleted or duplicated, an unknown
/// field added, or the text cut short.
fn mutate_toml(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let assignments: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = ") && !lines[i].trim_start().starts_with('#'))
        .collect();
    let i = *assignments.choose(rng).unwrap_or(&0);
    match rng.random_range(0..10) {
        0..=4 => {
            if let Some((key, _)) = lines[i].split_once(" = ") {
                let value = NASTY_TOML.choose(rng).unwrap_or(&"0");
                lines[i] = format!("{key} = {value}");
            }
        }
        5 => {
            lines.remove(i);
        }
        6 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        7 => lines.insert(i + 1, "bogus_field = 1".into()),
        8 => {
            let cut = rng.random_range(0..text.len().max(1));
            let cut = (0..=cut)
                .rev()
                .find(|&c| text.is_char_boundary(c))
                .unwrap_or(0);
            return text[..cut].to_string();
        }
        _ => {
            // A reference to something that does not exist.
            if let Some((key, _)) = lines[i].split_once(" = ") {
                lines[i] = format!("{key} = \"nowhere\"");
            }
        }
    }
    lines.join("\n")
}

/// Every leaf of a JSON value, as paths of keys and indices.
fn leaves(
    v: &serde_json::Value,
    path: &mut Vec<serde_json::Value>,
    out: &mut Vec<Vec<serde_json::Value>>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone().into());
                leaves(child, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.into());
                leaves(child, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn at<'a>(v: &'a mut serde_json::Value, path: &[serde_json::Value]) -> &'a mut serde_json::Value {
    path.iter().fold(v, |v, k| match k {
        serde_json::Value::String(s) => &mut v[s.as_str()],
        serde_json::Value::Number(n) => &mut v[n.as_u64().unwrap_or(0) as usize],
        _ => v,
    })
}

/// One mutated schedule: a leaf replaced, or an array element removed or duplicated.
fn mutate_json(
    base: &serde_json::Value,
    paths: &[Vec<serde_json::Value>],
    rng: &mut ChaCha8Rng,
) -> String {
    let mut v = base.clone();
    let path = paths.choose(rng).cloned().unwrap_or_default();
    match rng.random_range(0..6) {
        0..=3 => {
            let nasty = NASTY_JSON.choose(rng).unwrap_or(&"0");
            *at(&mut v, &path) = serde_json::from_str(nasty).unwrap_or_default();
        }
        4 | 5 => {
            // The innermost array on the path loses or repeats an element.
            if let Some(pos) = path.iter().rposition(|k| k.is_u64()) {
                let index = path[pos].as_u64().unwrap_or(0) as usize;
                if let Some(a) = at(&mut v, &path[..pos]).as_array_mut() {
                    if rng.random_bool(0.5) {
                        a.remove(index);
                    } else {
                        let copy = a[index].clone();
                        a.insert(index, copy);
                    }
                }
            }
        }
        _ => unreachable!(),
    }
    v.to_string()
}

fn scenario_text() -> String {
    let root = std::env::current_dir().expect("cwd");
    format!(
        "name = \"fuzz\"\n[[experiment]]\nname = \"tiny\"\nworkload = \"{}\"\nhardware = \"{}\"\ngb = \"4KiB\"\nstateless_blocks = [1]\nbaseline = \"ST-LBL\"\nschedules = [\"2T-LF,ST-LBL\"]\nsimulate = true\npaper = {{ dram_reduction = 2.0 }}\n",
        root.join(WORKLOAD).display(),
        root.join(HARDWARE).display()
    )
}

struct Inputs {
    /// Workload texts to mutate: a fused CNN and an attention block.
    workloads: Vec<String>,
    /// Accelerator texts to mutate: the paper's chip, and the same with a DRAM timing
    /// table written out field by field.
    hardware: Vec<String>,
    scenario: String,
    schedule: serde_json::Value,
    schedule_leaves: Vec<Vec<serde_json::Value>>,
    /// Shards 0/2 and 1/2 of a validate run, for run-directory cases.
    shards: (PathBuf, PathBuf),
    placements: Vec<Placement>,
}

/// The paper's chip, alone and with the DDR4 preset's timing table written out (every
/// field, so that mutations reach each of them).
fn hardware_texts() -> Vec<String> {
    let chip = std::fs::read_to_string(HARDWARE).expect("hardware");
    let ddr4 = std::fs::read_to_string("models/dram/ddr4_2400.toml").expect("preset");
    let timed = format!("{chip}model = \"timing\"\n\n[dram.timing]\n{ddr4}");
    vec![chip, timed]
}

/// Shards 0/2 and 1/2 of tiny_fused's hybrid space at 8 KiB, validated into `dir`.
fn validate_shards(dir: &Path) -> (PathBuf, PathBuf) {
    let shard = |k: usize| {
        let out = dir.join(format!("s{k}"));
        let _ = std::fs::remove_dir_all(&out);
        let status = Command::new(env!("CARGO_BIN_EXE_stems"))
            .args(["validate", "--workload", WORKLOAD, "--hardware", HARDWARE])
            .args([
                "--space",
                "hybrid",
                "--gb",
                "8KiB",
                "--shard",
                &format!("{k}/2"),
            ])
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("validate");
        assert!(status.success(), "validating shard {k}");
        out
    };
    (shard(0), shard(1))
}

/// Writes the case's files into `dir` and returns the command line to run, and whether
/// it must succeed (exit 0) rather than possibly be refused.
fn make_case(kind: Kind, inputs: &Inputs, rng: &mut ChaCha8Rng, dir: &Path) -> (Vec<String>, bool) {
    let file = |name: &str, text: &str| -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write case");
        p.display().to_string()
    };
    let s = |x: &str| x.to_string();
    let args = match kind {
        Kind::Allocation => {
            let p = inputs.placements.choose(rng).expect("placements");
            return allocation_case(p, rng);
        }
        Kind::Workload => {
            let base = inputs.workloads.choose(rng).expect("workloads");
            let w = file("w.toml", &mutate_toml(base, rng));
            if rng.random_bool(0.3) {
                vec![s("inspect"), w]
            } else {
                let cmd = *["simulate", "evaluate"].choose(rng).unwrap_or(&"simulate");
                vec![
                    s(cmd),
                    s("--workload"),
                    w,
                    s("--hardware"),
                    s(HARDWARE),
                    s("--gb"),
                    s("4KiB"),
                    s("--schedule"),
                    s("ST-LBL"),
                ]
            }
        }
        Kind::Accelerator => {
            let text = inputs.hardware.choose(rng).expect("hardware");
            let h = file("h.toml", &mutate_toml(text, rng));
            if rng.random_bool(0.3) {
                vec![s("inspect"), h]
            } else {
                vec![
                    s("simulate"),
                    s("--workload"),
                    s(WORKLOAD),
                    s("--hardware"),
                    h,
                    s("--schedule"),
                    s("2T-LF,ST-LBL"),
                ]
            }
        }
        Kind::Scenario => {
            let sc = file("s.toml", &mutate_toml(&inputs.scenario, rng));
            vec![s("run"), sc]
        }
        Kind::Schedule => {
            let f = file(
                "x.schedule.json",
                &mutate_json(&inputs.schedule, &inputs.schedule_leaves, rng),
            );
            let trace = dir.join("x.trace.json").display().to_string();
            vec![s("simulate"), s("--replay"), f, s("--trace"), trace]
        }
        Kind::Recording => {
            let bytes = std::fs::read(RECORDING).expect("the bundled recording");
            let p = dir.join("r.npz");
            std::fs::write(&p, mutate_bytes(&bytes, rng)).expect("write case");
            let cmd = *["simulate", "evaluate"].choose(rng).unwrap_or(&"evaluate");
            vec![
                s(cmd),
                s("--workload"),
                s(RECORDED_WORKLOAD),
                s("--hardware"),
                s(HARDWARE),
                s("--schedule"),
                s("ST-LBL"),
                s("--set"),
                s("core0.pe_array.sparsity=skip"),
                s("--spikes"),
                p.display().to_string(),
            ]
        }
        Kind::Nir => {
            let source = *NIR_FILES.choose(rng).unwrap_or(&NIR_FILES[0]);
            let bytes = std::fs::read(source).expect("a NIR fixture");
            let p = dir.join("n.nir");
            std::fs::write(&p, mutate_bytes(&bytes, rng)).expect("write case");
            let out = dir.join("n.toml").display().to_string();
            vec![s("import"), p.display().to_string(), s("--out"), out]
        }
        Kind::RunDirectory => {
            // A copy of shard 0 of a validate run with its header or journal broken,
            // merged with shard 1.
            let (s0, s1) = &inputs.shards;
            let copy = dir.join("shard");
            let _ = std::fs::remove_dir_all(&copy);
            std::fs::create_dir_all(&copy).expect("dir");
            let header = std::fs::read_to_string(s0.join("run.json")).expect("header");
            let rows = std::fs::read(s0.join("rows.jsonl")).expect("rows");
            if rng.random_bool(0.5) {
                let h: serde_json::Value = serde_json::from_str(&header).expect("json");
                let mut hl = Vec::new();
                leaves(&h, &mut Vec::new(), &mut hl);
                std::fs::write(copy.join("run.json"), mutate_json(&h, &hl, rng)).expect("w");
                std::fs::write(copy.join("rows.jsonl"), &rows).expect("w");
            } else {
                std::fs::write(copy.join("run.json"), &header).expect("w");
                std::fs::write(copy.join("rows.jsonl"), mutate_bytes(&rows, rng)).expect("w");
            }
            let merged = dir.join("merged");
            let _ = std::fs::remove_dir_all(&merged);
            vec![
                s("merge"),
                copy.display().to_string(),
                s1.display().to_string(),
                s("--out"),
                merged.display().to_string(),
            ]
        }
        Kind::Sweep => {
            let mut args = vec![
                s("sweep"),
                s("--workload"),
                s(WORKLOAD),
                s("--hardware"),
                s(HARDWARE),
                s("--gb"),
                s("4KiB"),
                s("--schedule"),
                s("ST-LBL"),
            ];
            for _ in 0..rng.random_range(1..3) {
                let path = AXIS_PATHS.choose(rng).unwrap_or(&"gb");
                let values = AXIS_VALUES.choose(rng).unwrap_or(&"16,32");
                args.extend([s("--axis"), format!("{path}={values}")]);
            }
            args
        }
        Kind::CommandLine => {
            let mut args = match rng.random_range(0..4) {
                0 => vec![
                    s("simulate"),
                    s("--workload"),
                    s(WORKLOAD),
                    s("--hardware"),
                    s(HARDWARE),
                ],
                1 => vec![
                    s("evaluate"),
                    s("--workload"),
                    s(WORKLOAD),
                    s("--hardware"),
                    s(HARDWARE),
                ],
                2 => vec![
                    s("explore"),
                    s("--workload"),
                    s(WORKLOAD),
                    s("--hardware"),
                    s(HARDWARE),
                ],
                _ => vec![
                    s("validate"),
                    s("--workload"),
                    s(WORKLOAD),
                    s("--hardware"),
                    s(HARDWARE),
                ],
            };
            let options = [
                "--gb",
                "--schedule",
                "--jobs",
                "--stateless-blocks",
                "--allocate",
                "--trace-window",
                "--objective",
                "--space",
                "--activity",
            ];
            let mut has_schedule = false;
            for _ in 0..rng.random_range(1..4) {
                let o = *options.choose(rng).unwrap_or(&"--gb");
                has_schedule |= o == "--schedule";
                args.push(s(o));
                args.push(s(NASTY_ARGS.choose(rng).unwrap_or(&"0")));
            }
            if !has_schedule && args[0] != "explore" {
                args.extend([s("--schedule"), s("ST-LBL")]);
            }
            args
        }
    };
    (args, false)
}

#[derive(Debug, Default)]
struct Tally {
    cases: BTreeMap<String, u64>,
    exits: BTreeMap<i32, u64>,
    /// Cases that had to exit 0 (valid allocations, which must verify).
    must_succeed: u64,
    failures: Vec<String>,
    slowest: Duration,
    peak_kib: u64,
}

/// Peak resident memory of a running process, from /proc (0 where unavailable).
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn run_case(args: &[String], must_succeed: bool, tally: &mut Tally, label: &str) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stems");
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        peak = peak.max(peak_kib(child.id()));
        if started.elapsed() > TIME_LIMIT || peak > MEMORY_LIMIT_KIB {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = started.elapsed();
    let stderr = {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    };
    let _ = child.wait();
    tally.slowest = tally.slowest.max(took);
    tally.peak_kib = tally.peak_kib.max(peak);
    let code = status.and_then(|s| s.code()).unwrap_or(-1);
    *tally.exits.entry(code).or_default() += 1;
    let problem = match code {
        -1 if peak > MEMORY_LIMIT_KIB => Some(format!("over {MEMORY_LIMIT_KIB} KiB")),
        -1 => Some(format!(
            "no exit within {TIME_LIMIT:?} (or killed by a signal)"
        )),
        _ if stderr.contains("panicked") => Some("panicked".to_string()),
        0 => None,
        2 if must_succeed => Some("refused a case that must succeed".to_string()),
        2 if names_what(&stderr) => None,
        2 => Some("exit 2 without naming a field or option".to_string()),
        other => Some(format!("exit {other}")),
    };
    if let Some(p) = problem {
        tally.failures.push(format!(
            "{label}: {p}: stems {}\n{}",
            args.join(" "),
            stderr.trim()
        ));
    }
}

/// Whether an error names what is wrong: a field, an option, a schedule's tile or
/// object, or (for a syntax error) the line.
fn names_what(stderr: &str) -> bool {
    // A syntax error has no field: its line and what the parser expected do.
    let line = stderr
        .split(".toml:")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        && ["expected", "invalid", "duplicate"]
            .iter()
            .any(|n| stderr.contains(n));
    line || [
        "field '",
        "--",
        "schedule \"",
        "cannot read",
        "— tile ",
        "object ",
        "run.json: ",
        "rows.jsonl: ",
        ".nir: ",
        "graph: ",
        "axis ",
        "is a run of another",
        "cannot tell whether",
        ".npz: ",
    ]
    .iter()
    .any(|n| stderr.contains(n))
}

#[test]
fn mutated_inputs_never_panic_hang_or_exit_other_than_0_or_2() {
    let cases: u64 = std::env::var("STEMS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_CASES);
    let seed: u64 = std::env::var("STEMS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2026);
    let schedule: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEDULE).expect("trace")).expect("json");
    let mut schedule_leaves = Vec::new();
    leaves(&schedule, &mut Vec::new(), &mut schedule_leaves);
    let shards_dir = std::env::temp_dir().join(format!("stems-fuzz-shards-{}", std::process::id()));
    let inputs = Inputs {
        shards: validate_shards(&shards_dir),
        workloads: [WORKLOAD, ATTENTION]
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("workload"))
            .collect(),
        hardware: hardware_texts(),
        scenario: scenario_text(),
        schedule,
        schedule_leaves,
        placements: placements(),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let inputs = &inputs;
                scope.spawn(move || {
                    let dir: PathBuf =
                        std::env::temp_dir().join(format!("stems-fuzz-{}-{w}", std::process::id()));
                    std::fs::create_dir_all(&dir).expect("temp dir");
                    let mut tally = Tally::default();
                    for case in (w..cases).step_by(workers as usize) {
                        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(case));
                        let kind = KINDS[(case % KINDS.len() as u64) as usize];
                        let (args, must_succeed) = make_case(kind, inputs, &mut rng, &dir);
                        *tally.cases.entry(format!("{kind:?}")).or_default() += 1;
                        let label = format!("case {case} ({kind:?})");
                        run_case(&args, must_succeed, &mut tally, &label);
                        if must_succeed {
                            tally.must_succeed += 1;
                        }
                    }
                    std::fs::remove_dir_all(&dir).ok();
                    tally
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let mut total = Tally::default();
    for t in tallies {
        for (k, n) in t.cases {
            *total.cases.entry(k).or_default() += n;
        }
        for (k, n) in t.exits {
            *total.exits.entry(k).or_default() += n;
        }
        total.must_succeed += t.must_succeed;
        total.failures.extend(t.failures);
        total.slowest = total.slowest.max(t.slowest);
        total.peak_kib = total.peak_kib.max(t.peak_kib);
    }
    std::fs::remove_dir_all(&shards_dir).ok();
    eprintln!(
        "fuzz: {cases} cases {:?}, exits {:?}, {} valid allocations (each must verify), slowest {:.2} s, peak RSS {} MiB, {} failures",
        total.cases,
        total.exits,
        total.must_succeed,
        total.slowest.as_secs_f64(),
        total.peak_kib / 1024,
        total.failures.len()
    );
    assert!(
        total.failures.is_empty(),
        "{} of {cases} cases failed; first ones:\n{}",
        total.failures.len(),
        total
            .failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
