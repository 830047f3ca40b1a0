//! End-to-end simulation: saved schedules replay to their recorded figures, the
//! simulator's measurement agrees with the analytic prediction, runs are
//! deterministic, broken schedules fail loudly (deadlock, invariants, bad files), and
//! traces open as Chrome trace JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use stems::mapping::Mapper;
use stems::model::{Accelerator, HardwareOverrides, Workload};
use stems::schedule::{
    Action, Allocation, Extent, Schedule, ScheduleSpec, SchedulerOptions, schedule,
};
use stems::sim::{MeasuredReport, SimError, SimOptions, simulate};
use stems::validate::agreement::{Rules, agreement};

fn plan(workload: &str, gb: &str, spec: &str, stateless: &[usize]) -> Schedule {
    stems::schedule::plan(
        Path::new(workload),
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides {
            global_sram: Some(gb.parse().expect("size")),
            stateless_blocks: stateless.to_vec(),
            hardware: Vec::new(),
            activity: None,
            layer_activity: Vec::new(),
        },
        spec,
        SchedulerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: Schedule) -> MeasuredReport {
    simulate(s, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("traces")
        .expect("traces/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".schedule.json"))
        .collect();
    v.sort();
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_saved_schedule_replays_to_its_recorded_figures() {
    let files = traces();
    assert!(files.len() >= 3, "traces/ holds saved schedules");
    for path in files {
        let expected_path = PathBuf::from(
            path.to_string_lossy()
                .replace(".schedule.json", ".expected.json"),
        );
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path).expect("expected figures"),
        )
        .expect("json");
        let schedule = Schedule::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let predicted = schedule.predicted.clone();
        let m = run(schedule);
        let got = serde_json::to_value(&m).expect("json");
        let name = path.display();
        for key in [
            "latency_cycles",
            "busy_cycles",
            "peak_global_sram_bits",
            "events",
        ] {
            assert_eq!(got[key], expected[key], "{name}: {key}");
        }
        assert_eq!(got["dram_bits"], expected["dram_bits"], "{name}");
        assert_eq!(got["ops"], expected["ops"], "{name}");
        for (k, v) in expected["energy_pj"].as_object().expect("energy") {
            let (a, b) = (
                v.as_f64().expect("f64"),
                got["energy_pj"][k].as_f64().expect("f64"),
            );
            assert!(close(a, b), "{name}: energy_pj.{k} {b} != {a}");
        }
        // Independently of the recording: the verifier proved the listed transfers
        // sufficient, and the traffic they and the streaming tiles move equals the
        // analytic prediction.
        assert!(m.verification.verified, "{name}");
        assert_eq!(m.report.dram_bits, predicted.dram_bits, "{name}");
    }
}

/// The cross-validation the paper reports (section 5.3): the simulation's data movement
/// matches the analytic estimate.
#[test]
fn measured_traffic_and_energy_match_the_prediction() {
    // Latency may differ within -15..+25 %: the analytic model averages bandwidth over a
    // tile, the simulator pays per-pass fill latency and contention.
    let cases = [
        ("sew_resnet18_cifar10dvs", "128KiB", "ST-LBL", vec![]),
        (
            "sew_resnet18_cifar10dvs",
            "128KiB",
            "TB-LF,TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            vec![],
        ),
        (
            "sew_resnet18_cifar10dvs",
            "128KiB",
            "ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            vec![0, 1],
        ),
        ("sew_resnet18_cifar10dvs", "1MiB", "2T-LF2", vec![]),
        ("tiny_fused", "2KiB", "TB-LF,TB-LBL", vec![]),
        // A prefetched reload of what the previous tile streamed into DRAM waits for it.
        (
            "sew_resnet18_cifar10dvs",
            "8KiB",
            "TB-LF,TB-LF,TB-LF,TB-LF,TB-LF,TB-LF,TB-LBL",
            vec![],
        ),
        // Weight tiles larger than the weight buffer (256-channel reductions).
        ("red_lif_gen4", "512KiB", "ST-LBL", vec![]),
        (
            "sew_resnet152_imagenet",
            "1MiB",
            "TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            vec![],
        ),
    ];
    for (name, gb, spec, stateless) in cases {
        let w = format!("models/workloads/{name}.toml");
        let s = plan(&w, gb, spec, &stateless);
        let p = s.predicted.clone();
        let tiles = s.predicted_tiles();
        let measured = run(s);
        let measured_tiles = measured.tiles();
        let m = measured.report;
        // The verdict `simulate --strict` and `validate` give: every quantity both
        // halves compute is equal, tile by tile too, and the run wastes nothing.
        let verdict = agreement(&p, &m, Some(&measured.verification), Rules::default())
            .with_tiles(&tiles, &measured_tiles);
        assert!(
            verdict.exact() && verdict.waste.is_empty(),
            "{w} {gb} {spec}: {:?}",
            verdict.problems()
        );
        assert_eq!(m.busy_cycles, p.busy_cycles, "{w} {gb} {spec}");
        assert_eq!(
            m.peak_global_sram_bits, p.peak_global_sram_bits,
            "{w} {gb} {spec}"
        );
        // One stall definition on both halves: the array computes (busy, fill/drain
        // included) or stalls for one cause, so busy + stalls make up the run.
        for (side, r) in [("predicted", &p), ("measured", &m)] {
            let stalls: u64 = r
                .stall_cycles_by_cause
                .iter()
                .filter(|(c, _)| *c != "fill_drain")
                .map(|(_, v)| v)
                .sum();
            assert_eq!(
                r.busy_cycles + stalls,
                r.latency_cycles,
                "{w} {gb} {spec}: {side} busy + stalls"
            );
        }
        // Latency differs by contention and latency the analytic model averages out.
        let ratio = m.latency_cycles as f64 / p.latency_cycles as f64;
        assert!(
            (0.85..1.25).contains(&ratio),
            "{w} {gb} {spec}: latency {} vs {}",
            m.latency_cycles,
            p.latency_cycles
        );
    }
}

#[test]
fn a_simulation_is_deterministic() {
    let s = plan(
        "models/workloads/tiny_fused.toml",
        "4KiB",
        "2T-LF,ST-LBL",
        &[],
    );
    let mut a = run(s.clone());
    let mut b = run(s);
    for r in [&mut a, &mut b] {
        r.wall_seconds = 0.0;
        r.events_per_second = 0.0;
    }
    assert_eq!(a, b);
}

#[test]
fn an_allocation_that_never_frees_is_a_deadlock_naming_the_stuck_command() {
    let mut s = plan("models/workloads/tiny_fused.toml", "16KiB", "ST-LBL", &[]);
    // Tile 1 allocates over the weights tile 0 keeps for later: it waits for a free
    // that never comes.
    let taken: Extent = s.tiles[0]
        .before
        .iter()
        .find_map(|a| match a {
            Action::Alloc { extents, .. } => extents.first().copied(),
            _ => None,
        })
        .expect("tile 0 allocates");
    let object = s.tiles[1].tile.output;
    s.tiles[1].before.insert(
        0,
        Action::Alloc {
            core: 0,
            object,
            extents: vec![taken],
        },
    );
    match simulate(s, &SimOptions::default()) {
        Err(SimError::Deadlock { stuck, .. }) => {
            let msg = stuck.join(" ");
            assert!(msg.contains("core0.controller"), "{msg}");
            assert!(msg.contains("tile 1") && msg.contains("Overlap"), "{msg}");
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn exceeding_the_sram_is_an_invariant_violation() {
    let mut s = plan("models/workloads/tiny_fused.toml", "16KiB", "ST-LBL", &[]);
    let capacity = s.accelerator.cores[0].global_sram().size_bits;
    // A bogus allocation beyond what is free.
    let object = s.tiles[0].tile.output;
    s.tiles[0].before.insert(
        0,
        Action::Alloc {
            core: 0,
            object,
            extents: vec![Extent {
                start: capacity,
                len: capacity,
            }],
        },
    );
    match simulate(s, &SimOptions::default()) {
        Err(SimError::Invariant(msg)) => assert!(msg.contains("SRAM"), "{msg}"),
        other => panic!("expected an invariant violation, got {other:?}"),
    }
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

#[test]
fn traces_are_chrome_trace_json_bounded_by_the_filters() {
    let dir = std::env::temp_dir().join(format!("stems-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let full = dir.join("full.trace.json");
    let out = stems(&[
        "simulate",
        "--replay",
        "traces/tiny_2t_lf_4kib.schedule.json",
        "--trace",
        full.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&full).expect("trace")).expect("valid JSON");
    let events = j["traceEvents"].as_array().expect("traceEvents");
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for track in [
        "core0",
        "dram",
        "tiles",
        "transfers 1",
        "PE stalls",
        "PE folds",
        "accumulator drain",
        "port (bursts)",
        "access latency",
    ] {
        assert!(names.contains(&track), "no track {track}: {names:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "C" && e["name"] == "global_sram_bits")
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "C" && e["name"] == "bandwidth_bits_per_cycle")
    );
    let spans = |j: &serde_json::Value| -> Vec<(u64, u64, String)> {
        j["traceEvents"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["ts"].as_u64().expect("ts"),
                    e["dur"].as_u64().expect("dur"),
                    e["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let all = spans(&j);

    let windowed = dir.join("window.trace.json");
    let out = stems(&[
        "simulate",
        "--replay",
        "traces/tiny_2t_lf_4kib.schedule.json",
        "--trace",
        windowed.to_str().expect("path"),
        "--trace-window",
        "1000..5000",
        "--trace-layers",
        "conv_b",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&windowed).expect("trace")).expect("json");
    let some = spans(&w);
    assert!(!some.is_empty() && some.len() < all.len());
    assert!(
        some.iter()
            .all(|(ts, dur, _)| *ts < 5000 && ts + dur >= 1000)
    );
    assert!(
        some.iter()
            .filter(|(_, _, n)| n.starts_with("conv_"))
            .all(|(_, _, n)| n.starts_with("conv_b")),
        "only conv_b tiles"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn broken_schedule_files_exit_2_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("stems-bad-schedules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("traces/tiny_2t_lf_4kib.schedule.json").expect("trace"),
    )
    .expect("json");
    let mut cases: Vec<(&str, serde_json::Value, &str)> = Vec::new();
    let mut v = good.clone();
    v["schema_version"] = serde_json::json!(99);
    cases.push(("version", v, "schema version 99"));
    let mut v = good.clone();
    v["tiles"][3]["layer"] = serde_json::json!(42);
    cases.push(("layer", v, "references layer 42"));
    let mut v = good.clone();
    v["tiles"][0]["boundaries"][1]["level"] = serde_json::json!("l2_cache");
    cases.push(("memory", v, "l2_cache"));
    let mut v = good.clone();
    v["tiles"][2]["region"]["ox"]["end"] = serde_json::json!(999);
    cases.push(("region", v, "outside layer"));
    let mut v = good.clone();
    let size = v["tiles"][0]["loop_nest"][0]["size"]
        .as_u64()
        .expect("size");
    v["tiles"][0]["loop_nest"][0]["size"] = serde_json::json!(size + 1);
    cases.push(("nest", v, "the tile needs"));
    // Two objects allocated at the same address.
    let mut v = good.clone();
    let first_alloc = v["tiles"][0]["before"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["action"] == "alloc").cloned())
        .expect("an alloc");
    let mut clash = first_alloc.clone();
    clash["object"] = v["tiles"][0]["output"].clone();
    v["tiles"][0]["before"]
        .as_array_mut()
        .expect("before")
        .insert(1, clash);
    cases.push(("overlap", v, "overlaps"));
    let mut v = good.clone();
    v["objects"][5]["kind"]["layer"] = serde_json::json!(999);
    cases.push((
        "object layer",
        v,
        "object 5 field 'kind': describes layer 999",
    ));
    let mut v = good.clone();
    v["objects"][3]["readers"] = serde_json::json!([99999]);
    cases.push(("reader", v, "names tile 99999"));
    let mut v = good.clone();
    v["tiles"][2]["region"]["t"]["start"] = serde_json::json!("zero");
    cases.push((
        "type",
        v,
        "field 'tiles[2]': malformed: invalid type: string \"zero\", expected u32 at line 1 column",
    ));
    for (name, pointer, value, needle) in [
        (
            "huge object",
            "/objects/3/bits",
            serde_json::json!(1u64 << 63),
            "object 3 field 'bits'",
        ),
        (
            "tile block",
            "/tiles/0/block",
            serde_json::json!(5),
            "tile 0 field 'block'",
        ),
        (
            "consumers",
            "/workload/consumers/0",
            serde_json::json!([]),
            "field 'consumers'",
        ),
        (
            "stateless",
            "/stateless_blocks",
            serde_json::json!([9]),
            "stateless block 9",
        ),
        (
            "position",
            "/accelerator/cores/0/position",
            serde_json::json!([5, 5]),
            "field 'position'",
        ),
        (
            "cuts",
            "/cuts",
            serde_json::json!([]),
            "0 cuts for 2 blocks",
        ),
    ] {
        let mut v = good.clone();
        *v.pointer_mut(pointer).expect(pointer) = value;
        cases.push((name, v, needle));
    }
    // The last free of the last tile removed: still allocated at the end (bad input).
    let mut v = good.clone();
    let last = v["tiles"].as_array().map_or(0, Vec::len) - 1;
    let after = v["tiles"][last]["after"].as_array_mut().expect("after");
    let free = after
        .iter()
        .rposition(|a| a["action"] == "free")
        .expect("a free");
    after.remove(free);
    cases.push(("missing free", v, "is still allocated"));
    let mut v = good.clone();
    v["workload"]["timesteps"] = serde_json::json!(5000);
    cases.push(("limits", v, "between 1 and 4,096, got 5000"));
    for (name, value, needle) in cases {
        let path = dir.join(format!("{name}.schedule.json"));
        std::fs::write(&path, serde_json::to_string(&value).expect("json")).expect("write");
        // With a trace too: the trace writer must never see an unchecked schedule.
        let trace = dir.join(format!("{name}.trace.json"));
        let out = stems(&[
            "simulate",
            "--replay",
            path.to_str().expect("path"),
            "--trace",
            trace.to_str().expect("path"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_draws_occupancy_saturation_and_queue_delay_pictures() {
    let dir = std::env::temp_dir().join(format!("stems-plots-{}", std::process::id()));
    let out = stems(&[
        "simulate",
        "--replay",
        "traces/tiny_2t_lf_4kib.schedule.json",
        "--plots",
        dir.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (svg, needle) in [
        ("sram_occupancy.svg", "computing block 0"),
        ("dram_utilisation.svg", "PE array waiting for DRAM"),
        ("dram_queue_delay.svg", "<rect"),
    ] {
        let text = std::fs::read_to_string(dir.join(svg)).expect("svg");
        assert!(
            text.starts_with("<svg") && text.contains(needle),
            "{svg}: {needle}"
        );
    }
    // The bin width is stated; percentages stay within 0..=100.
    let u = std::fs::read_to_string(dir.join("dram_utilisation.svg")).expect("svg");
    assert!(u.contains("bins of"), "bin width on the axis");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_json_has_the_measured_extras() {
    let out = stems(&[
        "simulate",
        "--replay",
        "traces/sew18_tb_lbl_1mib.schedule.json",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in [
        "/events",
        "/events_per_second",
        "/energy_pj/total",
        "/dram_bits/by_operand/F",
        "/latency_cycles",
        "/stall_cycles_by_cause/dram_port",
        "/stall_cycles_by_cause/bank_conflict",
        "/stall_cycles_by_cause/noc_link",
        "/stall_cycles_by_cause/local_buffer_bandwidth",
        "/stall_cycles_by_cause/dependency",
        "/peak_global_sram_bits_per_core/0",
        "/latency_cycles_distribution/tile/p99",
        "/latency_cycles_distribution/transfer/max",
        "/latency_cycles_distribution/fill/p50",
        "/validation/0/metric",
    ] {
        assert!(j.pointer(key).is_some(), "missing {key}");
    }
    let dram = j["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "dram")
        .expect("dram");
    for key in ["p50", "p99", "max"] {
        assert!(dram["ports"][0]["queue_delay_cycles"][key].is_u64());
    }
    assert!(dram["busy_cycles"].as_u64().expect("busy") > 0);
    // The PE array, its controller and the by-cause table tell the same stall story;
    // ports report queueing, not stall.
    let by_cause: u64 = j["stall_cycles_by_cause"]
        .as_object()
        .expect("causes")
        .iter()
        .filter(|(c, _)| *c != "fill_drain")
        .map(|(_, v)| v.as_u64().expect("cycles"))
        .sum();
    let component = |name: &str| {
        j["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .expect(name)
    };
    for name in ["core0.pe_array", "core0.controller"] {
        assert_eq!(
            component(name)["stall_cycles"].as_u64(),
            Some(by_cause),
            "{name}"
        );
    }
    assert_eq!(dram["stall_cycles"], 0);
    assert!(component("core0.global_sram")["queue_delay_cycles"].is_u64());
}

/// The bundled accelerator with its TOML text edited by `edit`, and `gb` of global SRAM.
fn variant(name: &str, gb: &str, edit: impl Fn(&str) -> String) -> Accelerator {
    let text = std::fs::read_to_string("models/hardware/meta_proto.toml").expect("model");
    let mut acc =
        Accelerator::parse(&stems::model::SourceText::new(name, edit(&text))).expect("valid");
    acc.apply(HardwareOverrides {
        global_sram: Some(gb.parse().expect("size")),
    })
    .expect("override within limits");
    acc
}

/// The bundled accelerator with its local buffers replaced by `replacement` (TOML).
fn local_buffers_replaced(name: &str, gb: &str, replacement: &str) -> Accelerator {
    variant(name, gb, |text| {
        let start = text
            .find("[[core.memory]]\nname = \"weight_lb\"")
            .expect("weight buffer");
        let end = text
            .find("[[core.memory]]\nname = \"global_sram\"")
            .expect("global sram");
        format!("{}{replacement}{}", &text[..start], &text[end..])
    })
}

/// Schedules a bundled workload on `acc`, simulates it, and checks the two halves agree
/// on traffic, PE busy cycles and energy (in total and per component).
fn both_halves_agree(acc: &Accelerator, workload: &str, spec: &str, allocate: &str) -> Schedule {
    let w = Workload::load(Path::new(workload)).expect("workload");
    let allocation = Allocation::parse(allocate, &w, acc).expect("allocation");
    let spec = ScheduleSpec::parse(spec, w.num_blocks, w.timesteps).expect("spec");
    let mut mapper = Mapper::new(acc);
    let s = schedule(
        &w,
        acc,
        &spec,
        &allocation,
        SchedulerOptions::default(),
        &mut mapper,
    )
    .expect("schedule");
    let p = s.predicted.clone();
    let m = run(s.clone()).report;
    assert_eq!(m.dram_bits, p.dram_bits);
    assert_eq!(m.noc_bits, p.noc_bits);
    assert_eq!(m.busy_cycles, p.busy_cycles);
    let (pe, me) = (&p.energy_pj, &m.energy_pj);
    for (a, b) in [
        (pe.total, me.total),
        (pe.dram, me.dram),
        (pe.global_sram, me.global_sram),
        (pe.local_buffers, me.local_buffers),
        (pe.pe, me.pe),
        (pe.noc, me.noc),
    ] {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{b} vs {a}");
    }
    s
}

#[test]
fn data_crosses_the_mesh_between_cores_and_both_halves_agree() {
    // A second, identical core on a 2×1 mesh whose links cost energy.
    let acc = variant("two_cores.toml", "8KiB", |text| {
        let start = text.find("[[core]]").expect("core table");
        let end = text.find("[noc]").expect("noc table");
        let second = text[start..end]
            .replace("name = \"core0\"", "name = \"core1\"")
            .replace("position = [0, 0]", "position = [1, 0]");
        text.replacen("[noc]", &format!("{second}[noc]"), 1)
            .replace("mesh = [1, 1]", "mesh = [2, 1]")
            .replace(
                "energy_fj_per_bit_per_hop = 0.0",
                "energy_fj_per_bit_per_hop = 50.0",
            )
    });
    let s = both_halves_agree(
        &acc,
        "models/workloads/tiny_fused.toml",
        "ST-LBL",
        "block:1=core1",
    );
    assert!(s.tiles.iter().any(|t| t.tile.core == 1));
    let moves = s
        .tiles
        .iter()
        .flat_map(|t| t.before.iter())
        .filter(|a| matches!(a, Action::Transfer(t) if t.reason == stems::schedule::Reason::Move))
        .count();
    assert!(moves > 0, "conv_b's output moves to core1 for the pool");
    assert!(s.predicted.energy_pj.noc > 0.0);
}

#[test]
fn without_local_buffers_the_array_reads_the_global_sram_and_both_halves_agree() {
    let acc = local_buffers_replaced("no_lb.toml", "16KiB", "");
    assert_eq!(acc.cores[0].memories.len(), 1);
    let s = both_halves_agree(&acc, "models/workloads/tiny_fused.toml", "2T-LF,ST-LBL", "");
    assert_eq!(s.predicted.energy_pj.local_buffers, 0.0);
}

#[test]
fn a_local_buffer_shared_by_weights_and_inputs_agrees_in_both_halves() {
    let shared = "[[core.memory]]\nname = \"shared_lb\"\noperands = [\"W\", \"I\"]\nsize = \"48KiB\"\n\
                  read_bw_bits = 384\nwrite_bw_bits = 384\nread_energy_fj_per_bit = 100.0\n\
                  write_energy_fj_per_bit = 120.0\n\n";
    let acc = local_buffers_replaced("shared.toml", "128KiB", shared);
    let s = both_halves_agree(
        &acc,
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "2T-LF2",
        "",
    );
    assert!(s.predicted.energy_pj.local_buffers > 0.0);
}

#[test]
fn the_trace_of_a_fused_schedule_is_well_formed_and_shows_stalls() {
    let dir = std::env::temp_dir().join(format!("stems-trace-check-{}", std::process::id()));
    let path = dir.join("fused.trace.json");
    let out = stems(&[
        "simulate",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "128KiB",
        "--schedule",
        "TB-LF,TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
        "--trace",
        path.to_str().expect("path"),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("trace")).expect("json");
    let events = trace["traceEvents"].as_array().expect("events");
    let mut tracks = std::collections::HashMap::new();
    for e in events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
    {
        tracks.insert(
            (e["pid"].as_u64(), e["tid"].as_u64()),
            e["args"]["name"].as_str().unwrap_or("").to_string(),
        );
    }
    let mut spans: std::collections::BTreeMap<String, Vec<(u64, u64, String)>> = Default::default();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let track = tracks
            .get(&(e["pid"].as_u64(), e["tid"].as_u64()))
            .cloned()
            .expect("every span's track is named");
        let ts = e["ts"].as_u64().expect("ts ≥ 0");
        let dur = e["dur"].as_u64().expect("dur ≥ 0");
        spans.entry(track).or_default().push((
            ts,
            ts + dur,
            e["name"].as_str().unwrap_or("").to_string(),
        ));
    }
    // Tracks that hold one thing at a time never overlap.
    for (track, list) in &mut spans {
        if track == "access latency" {
            continue; // pipelined: accesses overlap by design
        }
        list.sort();
        for w in list.windows(2) {
            assert!(w[0].1 <= w[1].0, "{track}: {:?} overlaps {:?}", w[0], w[1]);
        }
    }
    // Transfers last as long as they take.
    assert!(
        spans
            .iter()
            .filter(|(t, _)| t.starts_with("transfers"))
            .flat_map(|(_, l)| l)
            .all(|(a, b, _)| b > a)
    );
    // Every fold drains its accumulators: one drain slice per fold, each no longer
    // than the fold's own drain time, never before the fold's compute ends.
    let (folds, drains) = (&spans["PE folds"], &spans["accumulator drain"]);
    assert_eq!(folds.len(), drains.len());
    assert!(!folds.is_empty());
    for (f, d) in folds.iter().zip(drains) {
        assert!(d.0 >= f.1 && d.1 > d.0, "fold {f:?}, drain {d:?}");
    }
    // The stall slices are the report's stall cycles, by cause.
    let causes = report["stall_cycles_by_cause"].as_object().expect("causes");
    let mut traced: std::collections::BTreeMap<String, u64> = Default::default();
    for (a, b, name) in &spans["PE stalls"] {
        *traced.entry(name.clone()).or_default() += b - a;
    }
    for (cause, cycles) in causes.iter().filter(|(c, _)| *c != "fill_drain") {
        assert_eq!(
            traced.get(cause).copied().unwrap_or(0),
            cycles.as_u64().expect("cycles"),
            "{cause}"
        );
    }
    // Counters never go negative, bandwidth never beyond the port, occupancy never
    // beyond the SRAM, and the bandwidth counter ends at 0.
    let capacity = 128.0 * 1024.0 * 8.0;
    let mut last_bandwidth = None;
    for e in events.iter().filter(|e| e["ph"] == "C") {
        let v = e["args"]["value"].as_f64().expect("value");
        assert!(v >= 0.0, "{e}");
        match e["name"].as_str() {
            Some("bandwidth_bits_per_cycle") => {
                assert!(v <= 64.0, "{e}");
                last_bandwidth = Some(v);
            }
            Some("global_sram_bits") => assert!(v <= capacity, "{e}"),
            _ => {}
        }
    }
    assert_eq!(last_bandwidth, Some(0.0));
    std::fs::remove_dir_all(&dir).ok();
}
