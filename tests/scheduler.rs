//! The inter-layer scheduler: memory manager decisions on hand-built workloads, state
//! at the inference's edges, halo dependencies of fused tiles, accounting identities,
//! Schedule round trips, and bad schedules.

use std::path::Path;
use std::process::Command;
use stems::mapping::Mapper;
use stems::model::{Accelerator, HardwareOverrides, Size, SourceText, Workload};
use stems::schedule::{
    Action, Allocation, Eviction, Location, Reason, Schedule, ScheduleSpec, SchedulerOptions,
    schedule,
};
use stems::tiling::graph::DataClass;
use stems::tiling::graph::ObjectKind;

fn accelerator(gb: Size) -> Accelerator {
    Accelerator::load(
        Path::new("models/hardware/meta_proto.toml"),
        HardwareOverrides {
            global_sram: Some(gb),
        },
    )
    .expect("bundled accelerator")
}

fn workload(text: &str) -> Workload {
    Workload::parse(&SourceText::new("test.toml", text)).unwrap_or_else(|e| panic!("{e}"))
}

fn run(w: &Workload, acc: &Accelerator, spec: &str, prefetch: bool) -> Schedule {
    run_with(w, acc, spec, prefetch, Eviction::default())
}

fn run_with(
    w: &Workload,
    acc: &Accelerator,
    spec: &str,
    prefetch: bool,
    eviction: Eviction,
) -> Schedule {
    let spec = ScheduleSpec::parse(spec, w.num_blocks, w.timesteps).expect("valid spec");
    let mut mapper = Mapper::new(acc);
    schedule(
        w,
        acc,
        &spec,
        &Allocation::single_core(w),
        SchedulerOptions {
            prefetch,
            eviction,
            ..SchedulerOptions::default()
        },
        &mut mapper,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn transfers(s: &Schedule) -> Vec<(usize, &stems::schedule::Transfer)> {
    s.tiles
        .iter()
        .flat_map(|t| {
            t.before
                .iter()
                .chain(t.after.iter())
                .filter_map(move |a| match a {
                    Action::Transfer(tr) => Some((t.tile.id, tr)),
                    _ => None,
                })
        })
        .collect()
}

fn object_named(s: &Schedule, pred: impl Fn(&ObjectKind) -> bool) -> usize {
    s.objects
        .iter()
        .position(|o| pred(&o.kind))
        .expect("object exists")
}

/// Three 1×1 conv layers, T = 2: A and B single-timestep, C batched over both timesteps.
/// Sizes (bits): WA 512, FA 256/timestep, WB 4096, FB 1024/timestep, WC 1024, FC 128,
/// input 128/timestep. The SRAM of 5632 bits holds B's tile (5376) but not B's weights
/// and output together with A's second-timestep tile (6016), so before t1:A the
/// manager must evict one of WB (next used by t1:B) or FB@t0 (next used by C). Both
/// have one future use; the one needed latest goes — FB@t0, spilled because it is live
/// — and it is reloaded for C. A's weights, clean, are dropped for free and reloaded.
const THREE_LAYERS: &str = r#"name = "three"
timesteps = 2
[input]
channels = 8
height = 4
width = 4
bits = 1
[defaults]
precision = { w = 4, o = 1, v = 12, acc = 16 }
[[layer]]
name = "A"
op = "conv"
block = 0
sources = ["input"]
k = 16
c = 8
oy = 4
ox = 4
fy = 1
fx = 1
[[layer]]
name = "B"
op = "conv"
block = 1
sources = ["A"]
k = 64
c = 16
oy = 4
ox = 4
fy = 1
fx = 1
[[layer]]
name = "C"
op = "conv"
block = 2
sources = ["B"]
k = 4
c = 64
oy = 4
ox = 4
fy = 1
fx = 1
"#;

#[test]
fn the_papers_eviction_spills_live_data_needed_latest_and_drops_clean_weights() {
    let w = workload(THREE_LAYERS);
    let acc = accelerator(Size::from_bits(5632));
    let s = run_with(&w, &acc, "ST-LBL,ST-LBL,TB-LBL", false, Eviction::Paper);
    let order: Vec<(&str, u32)> = s
        .tiles
        .iter()
        .map(|t| (t.layer_name.as_str(), t.tile.region.t.start))
        .collect();
    assert_eq!(
        order,
        vec![("A", 0), ("B", 0), ("A", 1), ("B", 1), ("C", 0)]
    );
    assert!(
        s.tiles.iter().all(|t| t.streamed.is_empty()),
        "every tile fits alone"
    );

    let fb0 = object_named(
        &s,
        |k| matches!(k, ObjectKind::Features { layer: Some(1), t, .. } if t.start == 0),
    );
    let wb = object_named(&s, |k| matches!(k, ObjectKind::Weights { layer: 1 }));
    let wa = object_named(&s, |k| matches!(k, ObjectKind::Weights { layer: 0 }));
    let moves = transfers(&s);
    let spills: Vec<_> = moves
        .iter()
        .filter(|(_, t)| t.reason == Reason::Spill)
        .collect();
    assert_eq!(spills.len(), 1, "{spills:?}");
    let (at, spill) = spills[0];
    assert_eq!((*at, spill.object, spill.bits), (2, fb0, 1024));
    assert_eq!(spill.to, Location::Dram);
    let reload = moves
        .iter()
        .find(|(_, t)| t.object == fb0 && t.reason == Reason::Reload)
        .expect("FB@t0 comes back");
    assert_eq!(reload.0, 4, "reloaded for C");
    // Weights are never written to DRAM; B's stay resident, A's are dropped and
    // fetched again.
    assert!(
        moves
            .iter()
            .all(|(_, t)| !(t.object == wb || t.object == wa) || t.to != Location::Dram)
    );
    assert_eq!(moves.iter().filter(|(_, t)| t.object == wb).count(), 1);
    assert_eq!(moves.iter().filter(|(_, t)| t.object == wa).count(), 2);
    assert_eq!(s.predicted.spills.len(), 1);
    assert_eq!(s.predicted.spills[0].bits, 1024);
}

const ONE_LIF: &str = r#"name = "lif"
timesteps = 4
[input]
channels = 16
height = 16
width = 8
bits = 1
[[layer]]
name = "L"
op = "conv"
block = 0
sources = ["input"]
k = 32
c = 16
oy = 16
ox = 8
fy = 3
fx = 3
padding = 1
stateful = true
precision = { w = 4, o = 1, v = 12, acc = 16 }
"#;

#[test]
fn state_starts_from_reset_and_is_discarded_after_the_last_timestep() {
    let w = workload(ONE_LIF);
    let v_bits = 32 * 16 * 8 * 12;
    // Plenty of SRAM: the state stays on chip between timesteps.
    let s = run(&w, &accelerator(Size::from_kib(128)), "ST-LBL", true);
    let v = object_named(&s, |k| matches!(k, ObjectKind::State { .. }));
    assert_eq!(s.objects[v].bits, v_bits);
    assert_eq!(s.predicted.dram_bits.by_operand.V, 0);
    // Allocated (not loaded) before timestep 0, freed (not written) after timestep 3.
    let first = &s.tiles[0];
    assert!(
        first
            .before
            .iter()
            .any(|a| matches!(a, Action::Alloc { object, .. } if *object == v))
    );
    assert!(transfers(&s).iter().all(|(_, t)| t.object != v));
    let last = &s.tiles[3];
    assert!(
        last.after
            .iter()
            .any(|a| matches!(a, Action::Free { object, .. } if *object == v))
    );
    // Inside the tiles: no V read at timestep 0, no V write after timestep 3.
    assert!(!s.tiles[0].tile.reads_state);
    assert!(!s.tiles[3].tile.writes_state);

    // Batched over all timesteps, the state has no SRAM home at all.
    let tb = run(&w, &accelerator(Size::from_kib(128)), "TB-LBL", true);
    assert!(
        tb.objects
            .iter()
            .all(|o| !matches!(o.kind, ObjectKind::State { .. }))
    );
    assert_eq!(tb.predicted.energy_by_operand_pj.V, 0.0);

    // An SRAM too small for the state: it streams from DRAM, except at the edges —
    // three loads (t1..t3) and three stores (t0..t2).
    let small = run(
        &w,
        &accelerator(Size::from_bits(v_bits - 1)),
        "ST-LBL",
        true,
    );
    let d = &small.predicted.dram_bits.by_operand_direction.V;
    assert_eq!((d.read, d.write), (3 * v_bits, 3 * v_bits));
}

const FUSED: &str = r#"name = "fused"
timesteps = 1
[input]
channels = 4
height = 16
width = 6
bits = 1
[defaults]
precision = { w = 4, o = 1, acc = 16 }
[[layer]]
name = "a"
op = "conv"
block = 0
sources = ["input"]
k = 32
c = 4
oy = 16
ox = 6
fy = 3
fx = 3
padding = 1
[[layer]]
name = "b"
op = "conv"
block = 0
sources = ["a"]
k = 32
c = 32
oy = 16
ox = 6
fy = 3
fx = 3
padding = 1
[[layer]]
name = "p"
op = "max_pool"
block = 0
sources = ["b"]
k = 32
oy = 8
ox = 3
fy = 2
fx = 2
stride = 2
"#;

#[test]
fn fused_tiles_depend_on_their_halo_lines_and_run_depth_first() {
    let w = workload(FUSED);
    let s = run(&w, &accelerator(Size::from_kib(64)), "ST-LF", true);
    let find = |layer: &str, col: u64| {
        s.tiles
            .iter()
            .find(|t| t.layer_name == layer && t.tile.region.ox.start == col)
            .expect("tile")
    };
    let cols_of = |deps: &[usize]| -> Vec<(String, u64)> {
        deps.iter()
            .map(|&d| {
                (
                    s.tiles[d].layer_name.clone(),
                    s.tiles[d].tile.region.ox.start,
                )
            })
            .collect()
    };
    // A 3×3 conv line needs its producer's lines j-1, j, j+1 (two at the edges).
    assert_eq!(
        cols_of(&find("b", 0).tile.deps),
        vec![("a".into(), 0), ("a".into(), 1)]
    );
    assert_eq!(
        cols_of(&find("b", 3).tile.deps),
        vec![("a".into(), 2), ("a".into(), 3), ("a".into(), 4)]
    );
    // A 2×2 stride-2 pool line needs lines 2j and 2j+1.
    assert_eq!(
        cols_of(&find("p", 1).tile.deps),
        vec![("b".into(), 2), ("b".into(), 3)]
    );
    // Depth-first: b's line 0 runs as soon as a's lines 0 and 1 exist.
    let order: Vec<(String, u64)> = s
        .tiles
        .iter()
        .map(|t| (t.layer_name.clone(), t.tile.region.ox.start))
        .take(5)
        .collect();
    assert_eq!(
        order,
        vec![
            ("a".into(), 0),
            ("a".into(), 1),
            ("b".into(), 0),
            ("a".into(), 2),
            ("b".into(), 1)
        ]
    );
    // Every line of `a` is read by up to three lines of `b`, then freed.
    let a1 = s
        .tiles
        .iter()
        .find(|t| t.layer_name == "a" && t.tile.region.ox.start == 1)
        .expect("a1");
    assert_eq!(s.objects[a1.tile.output].readers.len(), 3);
    assert_eq!(
        s.predicted.dram_bits.by_operand.F,
        w.input.bits_per_timestep() + 32 * 8 * 3
    );
}

#[test]
fn a_roomy_time_batched_schedule_moves_and_computes_what_the_layer_shapes_say() {
    // THREE_LAYERS on 1 MiB, every block time-batched: nothing spills and no state
    // leaves the accumulators, so each weight and the network input are read once and
    // the network output written once. Worked out by hand from the layer shapes:
    //   weights: A 16·8·4 + B 64·16·4 + C 4·64·4 = 512 + 4096 + 1024 bits;
    //   input: 8 channels · 4·4 · 1 bit · 2 timesteps = 256 bits read;
    //   output: C's 4 channels · 4·4 · 1 bit · 2 timesteps = 128 bits written;
    //   SOPs (spiking inputs): (16·8 + 64·16 + 4·64) · 16 positions · 2 timesteps.
    let w = workload(THREE_LAYERS);
    let acc = accelerator(Size::from_kib(1024));
    let s = run(&w, &acc, "TB-LBL", true);
    let sops = (16 * 8 + 64 * 16 + 4 * 64) * 16 * 2;
    let (read_w, read_f, write_f) = (512 + 4096 + 1024, 256, 128);
    let dram_fj = (read_w + read_f) as f64 * acc.dram.read_energy_fj_per_bit
        + write_f as f64 * acc.dram.write_energy_fj_per_bit;
    let pe_fj = sops as f64 * acc.cores[0].pe_array.sop_energy_fj;
    let p = s.predicted.clone();
    let m = stems::sim::simulate(s, &stems::sim::SimOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .report;
    for (side, r) in [("predicted", &p), ("measured", &m)] {
        let d = &r.dram_bits.by_operand_direction;
        assert_eq!((d.W.read, d.W.write), (read_w, 0), "{side}");
        assert_eq!((d.F.read, d.F.write), (read_f, write_f), "{side}");
        assert_eq!((d.V.read, d.V.write), (0, 0), "{side}");
        assert_eq!((r.ops.sops, r.ops.macs), (sops, 0), "{side}");
        assert!(
            (r.energy_pj.dram - dram_fj / 1000.0).abs() < 1e-9 * dram_fj,
            "{side}"
        );
        assert!(
            (r.energy_pj.pe - pe_fj / 1000.0).abs() < 1e-9 * pe_fj,
            "{side}"
        );
        assert!(r.spills.is_empty() && r.streamed.is_empty(), "{side}");
    }
}

#[test]
fn a_saved_schedule_loads_back_identical() {
    let w = workload(ONE_LIF);
    let s = run(&w, &accelerator(Size::from_kib(16)), "2T-LF", true);
    let path = std::env::temp_dir().join(format!(
        "stems-roundtrip-{}.schedule.json",
        std::process::id()
    ));
    s.save(&path).expect("save");
    let back = Schedule::load(&path).expect("load");
    std::fs::remove_file(&path).ok();
    assert_eq!(back, s);
}

#[test]
fn figure_7_time_batching_trades_state_traffic_for_feature_traffic() {
    let w =
        Workload::load(Path::new("models/workloads/sew_resnet18_cifar10dvs.toml")).expect("model");
    let acc = accelerator(Size::from_kib(1024));
    let reports: Vec<_> = ["ST-LBL", "2T-LBL", "4T-LBL", "8T-LBL", "TB-LBL"]
        .iter()
        .map(|spec| run(&w, &acc, spec, true).predicted)
        .collect();
    let v: Vec<u64> = reports.iter().map(|r| r.dram_bits.by_operand.V).collect();
    let f: Vec<u64> = reports.iter().map(|r| r.dram_bits.by_operand.F).collect();
    assert!(
        v.windows(2).all(|p| p[1] < p[0]),
        "V falls at every step: {v:?}"
    );
    assert_eq!(v[4], 0, "no state traffic when all timesteps are batched");
    // Only the network input and output cross DRAM up to 4T...
    let edges = f[0];
    assert_eq!(f[1], edges, "{f:?}");
    // ...beyond 4T spikes leak to DRAM, more the more timesteps are batched.
    assert!(f[3] > edges && f[4] > f[3], "{f:?}");
}

/// The paper's best schedules against ST-LBL (figures 10, 12, 13). stems must find at
/// least three quarters of each published reduction.
#[test]
fn the_papers_best_schedules_beat_the_baseline_as_published() {
    let cases = [
        // (workload, stateless blocks, SRAM KiB, best schedule, paper DRAM ×, paper energy ×)
        (
            "sew_resnet18_cifar10dvs",
            "0,1",
            128,
            "ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            18.0,
            2.0,
        ),
        (
            "red_lif_gen4",
            "",
            512,
            "ST-LF,ST-LF,ST-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            7.3,
            1.9,
        ),
        (
            "sew_resnet18_cifar10dvs",
            "",
            128,
            "TB-LF,TB-LF,TB-LBL,TB-LBL,TB-LBL,TB-LBL,TB-LBL",
            12.0,
            5.0,
        ),
    ];
    for (name, stateless, kib, best, paper_dram, paper_energy) in cases {
        let mut w = Workload::load(&Path::new("models/workloads").join(format!("{name}.toml")))
            .expect("model");
        let blocks: Vec<usize> = stateless
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("block"))
            .collect();
        w.make_blocks_stateless(&blocks).expect("blocks");
        let acc = accelerator(Size::from_kib(kib));
        // The paper's figures, under the paper's memory manager.
        let base = run_with(&w, &acc, "ST-LBL", true, Eviction::Paper).predicted;
        let opt = run_with(&w, &acc, best, true, Eviction::Paper).predicted;
        let dram = base.dram_bits.total as f64 / opt.dram_bits.total as f64;
        let energy = base.energy_pj.total / opt.energy_pj.total;
        assert!(
            dram >= 0.75 * paper_dram,
            "{name} {best}: DRAM {dram:.2}× vs paper {paper_dram}×"
        );
        assert!(
            energy >= 0.75 * paper_energy,
            "{name} {best}: energy {energy:.2}× vs paper {paper_energy}×"
        );
    }
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

#[test]
fn bad_schedules_exit_2_naming_the_entry() {
    let base = [
        "evaluate",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
    ];
    for (extra, needle) in [
        (vec!["--schedule", "ST-LBL,TB-LBL"], "2 entries"),
        (vec!["--schedule", "3T-LBL"], "does not divide"),
        (vec!["--schedule", "ST-LF0"], "LF0"),
        (
            vec!["--schedule", "ST-LBL", "--allocate", "conv1=core7"],
            "no core 'core7'",
        ),
        (
            vec!["--schedule", "ST-LBL", "--allocate", "nope=core0"],
            "no layer 'nope'",
        ),
        (
            vec!["--time-batched", "1111", "--fused", "0000000"],
            "4 digits",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = stems(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
    }
}

#[test]
fn evaluate_prints_the_stable_json_keys() {
    let out = stems(&[
        "evaluate",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "256KiB",
        "--schedule",
        "TB-LBL",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for path in [
        "/energy_pj/total",
        "/energy_pj/dram",
        "/energy_pj/global_sram",
        "/energy_pj/local_buffers",
        "/energy_pj/pe",
        "/energy_by_operand_pj/W",
        "/energy_by_operand_pj/F",
        "/energy_by_operand_pj/V",
        "/dram_bits/total",
        "/dram_bits/read",
        "/dram_bits/write",
        "/dram_bits/by_operand/W",
        "/dram_bits/by_operand/F",
        "/dram_bits/by_operand/V",
        "/latency_cycles",
        "/peak_global_sram_bits",
        "/schedule",
    ] {
        assert!(j.pointer(path).is_some(), "missing {path}");
    }
    assert_eq!(j["schedule"].as_array().map(Vec::len), Some(7));
}

#[test]
fn a_cut_into_too_many_tiles_is_refused_before_anything_is_built() {
    // 4096 timesteps × 128 single-line columns × 3 layers, one tile each: 1.5 M tiles.
    let text = THREE_LAYERS
        .replace("timesteps = 2", "timesteps = 4096")
        .replace("width = 4", "width = 128")
        .replace("ox = 4", "ox = 128");
    let w = workload(&text);
    let acc = accelerator(Size::from_kib(1024));
    let spec = ScheduleSpec::parse("ST-LF", w.num_blocks, w.timesteps).expect("spec");
    let started = std::time::Instant::now();
    let err = schedule(
        &w,
        &acc,
        &spec,
        &Allocation::single_core(&w),
        SchedulerOptions::default(),
        &mut Mapper::new(&acc),
    )
    .expect_err("too many tiles");
    assert!(
        err.to_string().contains("1572864 tiles (limit 250000)"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 2);
}

/// tiny_fused at 16 KiB, layer by layer: the paper's rule keeps conv_b's clean weights
/// and spills both layers' neuron state; pricing evictions drops the weights instead and
/// spills only the state that cannot stay (conv_a's, while conv_b's fills the SRAM).
#[test]
fn pricing_evictions_drops_clean_weights_rather_than_spill_dirty_state() {
    let w = Workload::load(Path::new("models/workloads/tiny_fused.toml")).expect("model");
    let acc = accelerator(Size::from_kib(16));
    let paper = run_with(&w, &acc, "ST-LBL", true, Eviction::Paper);
    let cost = run_with(&w, &acc, "ST-LBL", true, Eviction::Cost);
    let state_spill_bits = |s: &Schedule| -> u64 {
        transfers(s)
            .iter()
            .filter(|(_, t)| t.reason == Reason::Spill && s.objects[t.object].class == DataClass::V)
            .map(|(_, t)| t.bits)
            .sum()
    };
    let (p, c) = (state_spill_bits(&paper), state_spill_bits(&cost));
    assert!(
        c > 0 && 2 * c < p,
        "state spilled: cost {c} bits, paper {p}"
    );
    let weight_fetches = |s: &Schedule| {
        transfers(s)
            .iter()
            .filter(|(_, t)| s.objects[t.object].class == DataClass::W)
            .count()
    };
    assert!(weight_fetches(&cost) > weight_fetches(&paper));
    let (p, c) = (
        paper.predicted.dram_bits.total,
        cost.predicted.dram_bits.total,
    );
    assert!(2 * c < p, "cost {c} bits vs paper {p}");
    assert!(cost.predicted.energy_pj.total < paper.predicted.energy_pj.total);
}

/// Data that comes back from DRAM after a spill is a reload, state included, and never
/// comes back more often than it left (plus its initial load).
#[test]
fn fetches_after_a_spill_are_reloads_and_never_outnumber_spills_and_loads() {
    let w = Workload::load(Path::new("models/workloads/tiny_fused.toml")).expect("model");
    let acc = accelerator(Size::from_kib(16));
    for eviction in [Eviction::Paper, Eviction::Cost] {
        let s = run_with(&w, &acc, "ST-LBL", true, eviction);
        let moves = transfers(&s);
        for o in 0..s.objects.len() {
            let count = |r: Reason| {
                moves
                    .iter()
                    .filter(|(_, t)| t.object == o && t.reason == r)
                    .count()
            };
            let (spills, loads, reloads) = (
                count(Reason::Spill),
                count(Reason::Load),
                count(Reason::Reload),
            );
            if s.objects[o].producer.is_some() {
                assert_eq!(
                    loads, 0,
                    "{eviction} object {o}: produced on chip, never loaded"
                );
            }
            assert!(loads <= 1, "{eviction} object {o}: {loads} initial loads");
            if s.objects[o].class == DataClass::V {
                assert!(
                    reloads <= spills,
                    "{eviction} object {o}: {reloads} reloads after {spills} spills"
                );
            }
        }
    }
}

/// Per feature or state object: (fetches after the first, writes to DRAM + first loads).
/// Writes count spills, write-backs and outputs a streaming tile sends to DRAM.
fn reloads_beyond_writes(s: &Schedule) -> Vec<(usize, usize, usize)> {
    let moves = transfers(s);
    let mut out = Vec::new();
    for o in 0..s.objects.len() {
        if s.objects[o].class == DataClass::W {
            continue; // clean weights are re-read by design
        }
        let count = |r: Reason| {
            moves
                .iter()
                .filter(|(_, t)| t.object == o && t.reason == r)
                .count()
        };
        let streamed_out = s
            .tiles
            .iter()
            .filter(|t| t.tile.output == o && t.streamed.contains(&stems::model::Operand::O))
            .count();
        let reloads = count(Reason::Reload);
        let covered =
            count(Reason::Spill) + count(Reason::WriteBack) + streamed_out + count(Reason::Load);
        if reloads > covered {
            out.push((o, reloads, covered));
        }
    }
    out
}

#[test]
fn a_reloaded_chunk_stays_for_its_fused_stack_under_cost_and_not_under_the_paper_rule() {
    let sew =
        Workload::load(Path::new("models/workloads/sew_resnet18_cifar10dvs.toml")).expect("model");
    let tiny = Workload::load(Path::new("models/workloads/tiny_fused.toml")).expect("model");
    // (workload, KiB, schedule, whether the paper's rule reloads a spilled tensor more
    // often than it spilled it).
    for (w, gb, spec, paper_rereloads) in
        [(&sew, 64, "ST-LF", true), (&tiny, 2, "TB-LF,TB-LBL", false)]
    {
        let acc = accelerator(Size::from_kib(gb));
        let costed = run_with(w, &acc, spec, true, Eviction::Cost);
        // The spills list pairs each spilled tensor with its reloads.
        let spills = &costed.predicted.spills;
        for s in spills {
            assert!(s.reloads <= s.spills, "{spec} at {gb} KiB: {s:?}");
        }
        let cost = reloads_beyond_writes(&costed);
        assert!(
            cost.is_empty(),
            "{spec} at {gb} KiB: (object, reloads, writes + loads) {:?}",
            &cost[..cost.len().min(5)]
        );
        // The paper's rule brings halo lines back more often than they left.
        let papered = run_with(w, &acc, spec, true, Eviction::Paper);
        assert!(
            !paper_rereloads
                || papered
                    .predicted
                    .spills
                    .iter()
                    .any(|s| s.reloads > s.spills),
            "{spec} at {gb} KiB: {:?}",
            papered.predicted.spills
        );
        let paper = reloads_beyond_writes(&papered);
        assert!(
            !paper.is_empty(),
            "{spec} at {gb} KiB: the paper's rule re-reloads nothing"
        );
    }
}
