//! Does the simulator verify what it runs? Saved schedules are broken on purpose, one
//! mistake at a time, and each must fail with its own named error; untouched ones, and
//! the scheduler's own output, must pass.

mod common;

use std::path::Path;
use std::process::Command;
use stems::model::OpKind;
use stems::schedule::{Action, Location, Reason, Schedule, SchedulerOptions};
use stems::sim::validity::{Violation, ViolationKind};
use stems::sim::{MeasuredReport, SimError, SimOptions, simulate};
use stems::tiling::graph::DataClass;

fn saved(name: &str) -> Schedule {
    Schedule::load(Path::new(&format!("traces/{name}.schedule.json")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: Schedule) -> Result<MeasuredReport, Box<Violation>> {
    match simulate(s, &SimOptions::default()) {
        Ok(m) => Ok(m),
        Err(SimError::Verification(v)) => Err(v),
        Err(other) => panic!("expected a verification verdict, got {other}"),
    }
}

fn refused(s: Schedule, kind: ViolationKind) -> Violation {
    match run(s) {
        Ok(_) => panic!("a broken schedule replayed without an error (expected {kind:?})"),
        Err(v) => {
            assert_eq!(v.kind, kind, "{v}");
            *v
        }
    }
}

/// Where an action sits: tile, `true` for the after list, index.
type Slot = (usize, bool, usize);

fn actions(s: &Schedule, tile: usize, after: bool) -> &Vec<Action> {
    let t = &s.tiles[tile];
    if after { &t.after } else { &t.before }
}

fn actions_mut(s: &mut Schedule, tile: usize, after: bool) -> &mut Vec<Action> {
    let t = &mut s.tiles[tile];
    if after { &mut t.after } else { &mut t.before }
}

/// The first action (in schedule order) that `pred` accepts.
fn find(s: &Schedule, pred: impl Fn(&Schedule, &Action) -> bool) -> Slot {
    for tile in 0..s.tiles.len() {
        for after in [false, true] {
            if let Some(i) = actions(s, tile, after).iter().position(|a| pred(s, a)) {
                return (tile, after, i);
            }
        }
    }
    panic!("no such action in the schedule")
}

/// The last action (in schedule order) that `pred` accepts.
fn find_last(s: &Schedule, pred: impl Fn(&Schedule, &Action) -> bool) -> Slot {
    for tile in (0..s.tiles.len()).rev() {
        for after in [true, false] {
            if let Some(i) = actions(s, tile, after).iter().rposition(|a| pred(s, a)) {
                return (tile, after, i);
            }
        }
    }
    panic!("no such action in the schedule")
}

fn take(s: &mut Schedule, (tile, after, i): Slot) -> Action {
    actions_mut(s, tile, after).remove(i)
}

fn is_transfer(a: &Action, reason: Reason, class: Option<DataClass>, s: &Schedule) -> bool {
    matches!(a, Action::Transfer(t) if t.reason == reason
        && class.is_none_or(|c| s.objects[t.object].class == c))
}

fn weight_load(s: &Schedule, a: &Action) -> bool {
    is_transfer(a, Reason::Load, Some(DataClass::W), s)
}

#[test]
fn untouched_saved_schedules_verify_with_waste_measured() {
    for name in [
        "tiny_2t_lf_4kib",
        "tiny_tb_lf_2kib",
        "sew18_tb_lbl_1mib",
        "sew18_4t_lbl_128kib",
    ] {
        let m = run(saved(name)).unwrap_or_else(|v| panic!("{name}: {v}"));
        let v = &m.verification;
        assert!(v.verified && v.checks > 0, "{name}");
        // The floor is worked out here from the layer shapes, not by the verifier.
        let w = &saved(name).workload;
        let weights: u64 = w
            .layers
            .iter()
            .filter(|l| matches!(l.op, OpKind::Conv | OpKind::Fc))
            .map(|l| l.dims.k * l.dims.c * l.dims.fy * l.dims.fx * l.precision.w as u64)
            .sum();
        assert_eq!(v.compulsory_dram_bits_by_operand.W, weights, "{name}");
        let moved = m.report.dram_bits.total as i64;
        assert_eq!(v.excess_dram_bits, moved - v.compulsory_dram_bits as i64);
    }
}

#[test]
fn a_deleted_weight_load_leaves_the_tile_without_its_weights() {
    let mut s = saved("tiny_2t_lf_4kib");
    let slot = find(&s, weight_load);
    take(&mut s, slot);
    let v = refused(s, ViolationKind::OperandNotValid);
    assert!(
        v.object.as_deref().is_some_and(|o| o.contains("weights")),
        "{v}"
    );
    assert!(v.found.contains("allocated but never filled"), "{v}");
    assert!(v.tile.is_some() && v.cycle.is_some(), "{v}");
}

#[test]
fn a_deleted_state_spill_loses_the_state_its_reload_needs() {
    let mut s = saved("tiny_2t_lf_4kib");
    let slot = find(&s, |s, a| {
        is_transfer(a, Reason::Spill, Some(DataClass::V), s)
    });
    take(&mut s, slot);
    let v = refused(s, ViolationKind::DataLost);
    assert!(
        v.object.as_deref().is_some_and(|o| o.contains("state")),
        "{v}"
    );
    assert!(v.expected.contains("1 read still to come"), "{v}");
}

#[test]
fn a_schedule_without_transfers_reads_nothing() {
    let mut s = saved("tiny_2t_lf_4kib");
    for t in &mut s.tiles {
        t.before.retain(|a| !matches!(a, Action::Transfer(_)));
        t.after.retain(|a| !matches!(a, Action::Transfer(_)));
    }
    let v = refused(s, ViolationKind::OperandNotValid);
    assert!(
        v.tile.as_deref().is_some_and(|t| t.starts_with("tile 0 ")),
        "{v}"
    );
}

#[test]
fn a_duplicated_load_races_the_original() {
    let mut s = saved("tiny_2t_lf_4kib");
    let (tile, after, i) = find(&s, weight_load);
    let copy = actions(&s, tile, after)[i].clone();
    actions_mut(&mut s, tile, after).insert(i + 1, copy);
    let v = refused(s, ViolationKind::ConcurrentTransfers);
    assert!(v.found.contains("still in flight"), "{v}");
}

/// The first allocation of a loaded weight object, and the free that releases it.
fn weight_alloc_and_free(s: &Schedule) -> (Slot, Slot) {
    let alloc = find(
        s,
        |s, a| matches!(a, Action::Alloc { object, .. } if s.objects[*object].class == DataClass::W),
    );
    let Action::Alloc { object, .. } = actions(s, alloc.0, alloc.1)[alloc.2].clone() else {
        unreachable!()
    };
    let free = find(
        s,
        |_, a| matches!(a, Action::Free { object: o, .. } if *o == object),
    );
    (alloc, free)
}

#[test]
fn an_allocation_shrunk_to_64_bits_cannot_hold_its_object() {
    let mut s = saved("tiny_2t_lf_4kib");
    let (alloc, free) = weight_alloc_and_free(&s);
    for (tile, after, i) in [alloc, free] {
        match &mut actions_mut(&mut s, tile, after)[i] {
            Action::Alloc { extents, .. } | Action::Free { extents, .. } => {
                extents.truncate(1);
                extents[0].len = 64;
            }
            _ => unreachable!(),
        }
    }
    let v = refused(s, ViolationKind::AllocationTooSmall);
    assert!(v.found.contains("64 bits allocated"), "{v}");
}

#[test]
fn a_dropped_allocation_leaves_the_load_nowhere_to_land() {
    let mut s = saved("tiny_2t_lf_4kib");
    let (alloc, free) = weight_alloc_and_free(&s);
    // The later slot first, so that the earlier index stays valid.
    take(&mut s, free);
    take(&mut s, alloc);
    let v = refused(s, ViolationKind::NotAllocated);
    assert!(v.expected.contains("for the load to land in"), "{v}");
}

#[test]
fn freeing_a_feature_before_its_last_reader_loses_it() {
    let mut s = saved("tiny_2t_lf_4kib");
    // A produced feature chunk with readers: move its first free to right after the
    // tile that produces it.
    let slot = find(&s, |s, a| {
        matches!(a, Action::Free { object, .. }
            if s.objects[*object].producer.is_some() && !s.objects[*object].readers.is_empty())
    });
    let free = take(&mut s, slot);
    let Action::Free { object, .. } = &free else {
        unreachable!()
    };
    let producer = s.objects[*object].producer.expect("produced");
    assert!(producer < slot.0 || slot.1, "the free came later");
    s.tiles[producer].after.push(free);
    let v = refused(s, ViolationKind::DataLost);
    assert!(
        v.object.as_deref().is_some_and(|o| o.contains("output")),
        "{v}"
    );
}

#[test]
fn a_load_moved_after_its_tile_arrives_too_late() {
    let mut s = saved("tiny_2t_lf_4kib");
    let slot = find(&s, weight_load);
    assert!(!slot.1, "loads come before their tile");
    let load = take(&mut s, slot);
    s.tiles[slot.0].after.insert(0, load);
    let v = refused(s, ViolationKind::OperandNotValid);
    assert!(
        v.tile
            .as_deref()
            .is_some_and(|t| t.starts_with(&format!("tile {} ", slot.0))),
        "{v}"
    );
}

#[test]
fn a_reversed_load_writes_back_data_that_is_not_there() {
    let mut s = saved("tiny_2t_lf_4kib");
    let (tile, after, i) = find(&s, weight_load);
    if let Action::Transfer(t) = &mut actions_mut(&mut s, tile, after)[i] {
        std::mem::swap(&mut t.from, &mut t.to);
        assert_eq!(t.to, Location::Dram);
    }
    let v = refused(s, ViolationKind::SourceNotValid);
    assert!(v.found.contains("never filled"), "{v}");
}

#[test]
fn a_tile_recomputing_another_tiles_columns_fails_coverage_on_load_and_in_the_simulator() {
    let mut s = saved("tiny_2t_lf_4kib");
    let (a, b) = (0, 1);
    assert_eq!(s.tiles[a].tile.layer, s.tiles[b].tile.layer);
    s.tiles[b].tile.region = s.tiles[a].tile.region.clone();
    let problems = s.check();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("is computed twice (tiles 0 and 1)")),
        "{problems:?}"
    );
    let v = refused(s, ViolationKind::Coverage);
    assert!(v.found.contains("computed twice"), "{v}");
}

/// Swaps the regions of the first tile of `layer` and of its later timestep group.
fn swap_timestep_groups(s: &mut Schedule, layer: &str) {
    let first = s
        .tiles
        .iter()
        .position(|t| t.layer_name == layer)
        .expect("the layer");
    let region = s.tiles[first].tile.region.clone();
    let later = s
        .tiles
        .iter()
        .position(|t| {
            t.tile.layer == s.tiles[first].tile.layer
                && t.tile.region.ox == region.ox
                && t.tile.region.t.start > 0
        })
        .expect("a later timestep group");
    s.tiles[first].tile.region = s.tiles[later].tile.region.clone();
    s.tiles[later].tile.region = region;
}

#[test]
fn timesteps_run_out_of_order_read_stale_state() {
    // One stateful conv, its timesteps in two groups: nothing reads its output before
    // the end, so swapping the groups breaks only the state's order.
    let text = "name = \"one\"\ntimesteps = 4\n[input]\nchannels = 2\nheight = 4\nwidth = 4\nbits = 1\n\
        [[layer]]\nname = \"conv\"\nop = \"conv\"\nblock = 0\nsources = [\"input\"]\nk = 4\nc = 2\noy = 4\nox = 4\n\
        fy = 3\nfx = 3\npadding = 1\nstateful = true\nprecision = { w = 4, o = 1, v = 12, acc = 16 }\n";
    let w = common::test_file("verification", "stale-state", "one.toml", text);
    let mut s = stems::schedule::plan(
        &w,
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides::default(),
        "2T-LBL",
        SchedulerOptions::default(),
    )
    .expect("plan");
    swap_timestep_groups(&mut s, "conv");
    let v = refused(s, ViolationKind::StaleState);
    assert!(v.expected.contains("state after timestep 1"), "{v}");
    assert!(v.found.contains("reset state"), "{v}");
}

#[test]
fn a_tile_listed_before_the_tile_that_writes_its_input_is_named_not_left_to_deadlock() {
    let mut s = saved("tiny_2t_lf_4kib");
    // conv_b's first tile now computes timesteps 2..4: it reads conv_a's output for
    // them, which a tile listed later writes.
    swap_timestep_groups(&mut s, "conv_b");
    let v = refused(s, ViolationKind::OrderContradictsData);
    assert!(
        v.tile
            .as_deref()
            .is_some_and(|t| t.contains("conv_b t2..4")),
        "{v}"
    );
    assert!(
        v.expected.contains("conv_a t2..4") && v.expected.contains("listed before it"),
        "{v}"
    );
}

#[test]
fn a_scheduler_output_with_one_reload_or_load_removed_fails() {
    let s = stems::schedule::plan(
        Path::new("models/workloads/sew_resnet18_cifar10dvs.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides {
            global_sram: Some("128KiB".parse().expect("size")),
            stateless_blocks: vec![],
            hardware: Vec::new(),
            activity: None,
            layer_activity: Vec::new(),
        },
        "4T-LBL",
        SchedulerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    run(s.clone()).unwrap_or_else(|v| panic!("the unmodified schedule verifies: {v}"));
    for reason in [Reason::Reload, Reason::Load] {
        let mut broken = s.clone();
        let slot = find(&broken, |s, a| is_transfer(a, reason, None, s));
        take(&mut broken, slot);
        refused(broken, ViolationKind::OperandNotValid);
    }
}

#[test]
fn a_broken_replay_exits_2_naming_the_violation() {
    let dir = common::Scratch::new("verification", "broken-replay");
    let mut s = saved("tiny_2t_lf_4kib");
    let slot = find(&s, |s, a| {
        is_transfer(a, Reason::Spill, Some(DataClass::V), s)
    });
    take(&mut s, slot);
    let path = dir.join("lost.schedule.json");
    s.save(&path).expect("save");
    let out = Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(["simulate", "--replay", path.to_str().expect("path")])
        .output()
        .expect("run stems");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lost.schedule.json: verification failed: data lost at cycle"),
        "{stderr}"
    );
}

#[test]
fn a_load_of_data_already_on_chip_is_measured_as_redundant() {
    let mut s = saved("tiny_2t_lf_4kib");
    let clean = run(s.clone()).unwrap_or_else(|v| panic!("{v}"));
    let (tile, after, i) = find(&s, weight_load);
    let Action::Transfer(load) = actions(&s, tile, after)[i].clone() else {
        unreachable!()
    };
    // The next tile of the same layer loads the (still resident) weights again.
    let layer = s.tiles[tile].tile.layer;
    let next = (tile + 1..s.tiles.len())
        .find(|&t| s.tiles[t].tile.layer == layer)
        .expect("another tile of the layer");
    s.tiles[next].before.push(Action::Transfer(load.clone()));
    let m = run(s).unwrap_or_else(|v| panic!("wasteful but correct: {v}"));
    assert_eq!(m.verification.redundant_load_bits, load.bits);
    assert_eq!(clean.verification.redundant_load_bits, 0);
    assert_eq!(
        m.verification.excess_dram_bits_by_operand.W,
        clean.verification.excess_dram_bits_by_operand.W + load.bits as i64
    );
}

#[test]
fn a_spill_never_read_back_is_measured_as_a_dead_write() {
    let mut s = saved("tiny_2t_lf_4kib");
    let clean = run(s.clone()).unwrap_or_else(|v| panic!("{v}"));
    // conv_a's first output chunk, written to DRAM by the tile that produces it and
    // never reloaded: its on-chip copy serves every reader.
    let object = s.tiles[0].tile.output;
    let bits = s.objects[object].bits;
    s.tiles[0]
        .after
        .push(Action::Transfer(stems::schedule::Transfer {
            object,
            from: Location::Sram { core: 0 },
            to: Location::Dram,
            bits,
            reason: Reason::Spill,
            predicted_start: 0,
            predicted_end: 0,
        }));
    let m = run(s).unwrap_or_else(|v| panic!("wasteful but correct: {v}"));
    assert_eq!(clean.verification.dead_write_bits, 0);
    assert_eq!(m.verification.dead_write_bits, bits);
}

#[test]
fn a_streaming_tile_without_its_staging_area_is_refused() {
    let mut s = saved("tiny_tb_lf_2kib");
    let stage = find(&s, |_, a| matches!(a, Action::Stage { .. }));
    let unstage = find(&s, |_, a| matches!(a, Action::Unstage { .. }));
    take(&mut s, unstage);
    take(&mut s, stage);
    let v = refused(s, ViolationKind::MissingStaging);
    assert!(v.found.contains("0 bits staged"), "{v}");
}

#[test]
fn a_staging_area_shrunk_below_its_streamed_chunks_is_refused() {
    let mut s = saved("sew18_tb_lbl_1mib");
    // conv1 streams its input through a staging area that holds whole chunks. The
    // budget and the reserved extents shrunk together to 64 bits: the staging area
    // "reaches its budget", but the streamed chunks cannot fit in it.
    let (tile, after, i) = find(&s, |s, a| {
        matches!(a, Action::Stage { .. })
            && s.tiles
                .iter()
                .any(|t| t.layer_name == "conv1" && t.before.contains(a))
    });
    assert_eq!(s.tiles[tile].layer_name, "conv1");
    s.tiles[tile].stream_budget_bits = 64;
    if let Action::Stage { extents, .. } = &mut actions_mut(&mut s, tile, after)[i] {
        extents.truncate(1);
        extents[0].len = 64;
    }
    let unstage = find(&s, |s, a| {
        matches!(a, Action::Unstage { .. }) && s.tiles[tile].after.contains(a)
    });
    if let Action::Unstage { extents, .. } =
        &mut actions_mut(&mut s, unstage.0, unstage.1)[unstage.2]
    {
        extents.truncate(1);
        extents[0].len = 64;
    }
    let v = refused(s, ViolationKind::StagingTooSmall);
    assert!(
        v.expected.contains("streamed") && v.expected.contains("to fit the staging area"),
        "{v}"
    );
    assert_eq!(v.found, "64 bits staged", "{v}");
    assert!(v.tile.is_some(), "names the tile: {v}");
}

#[test]
fn a_tile_whose_output_has_no_allocation_is_refused() {
    let mut s = saved("tiny_2t_lf_4kib");
    let output = s.tiles[0].tile.output;
    let is = |o: usize| {
        move |_: &Schedule, a: &Action| match a {
            Action::Alloc { object, .. } | Action::Free { object, .. } => *object == o,
            _ => false,
        }
    };
    let free = find(&s, |s, a| {
        matches!(a, Action::Free { .. }) && is(output)(s, a)
    });
    take(&mut s, free);
    let alloc = find(&s, is(output));
    take(&mut s, alloc);
    let v = refused(s, ViolationKind::UnallocatedOutput);
    assert!(
        v.tile.as_deref().is_some_and(|t| t.starts_with("tile 0 ")),
        "{v}"
    );
}

/// The last network output's `output` transfer and the free that follows it (nothing
/// reuses its space afterwards).
fn output_write_and_free(s: &Schedule) -> (Slot, Slot) {
    let write = find_last(s, |s, a| is_transfer(a, Reason::Output, None, s));
    let Action::Transfer(t) = actions(s, write.0, write.1)[write.2].clone() else {
        unreachable!()
    };
    let free = find_last(
        s,
        |_, a| matches!(a, Action::Free { object, .. } if *object == t.object),
    );
    (write, free)
}

#[test]
fn a_network_output_that_never_reaches_dram_is_refused() {
    // Freed without being written out: the result is lost.
    let mut s = saved("tiny_2t_lf_4kib");
    let (write, _) = output_write_and_free(&s);
    take(&mut s, write);
    let v = refused(s, ViolationKind::DataLost);
    assert!(v.expected.contains("network output"), "{v}");
    // Neither written out nor freed: still missing from DRAM at the end.
    let mut s = saved("tiny_2t_lf_4kib");
    let (write, free) = output_write_and_free(&s);
    take(&mut s, free);
    take(&mut s, write);
    let v = refused(s, ViolationKind::OutputNotInDram);
    assert!(
        v.object
            .as_deref()
            .is_some_and(|o| o.contains("pool output")),
        "{v}"
    );
}

#[test]
fn a_reload_of_data_never_written_to_dram_reads_nothing() {
    let mut s = saved("tiny_2t_lf_4kib");
    // conv_a's first output chunk is on chip when tile 2 runs; a reload of it into a
    // fresh allocation finds no DRAM copy.
    let object = s.tiles[0].tile.output;
    s.tiles[2].before.insert(
        0,
        Action::Transfer(stems::schedule::Transfer {
            object,
            from: Location::Dram,
            to: Location::Sram { core: 0 },
            bits: s.objects[object].bits,
            reason: Reason::Reload,
            predicted_start: 0,
            predicted_end: 0,
        }),
    );
    let v = refused(s, ViolationKind::SourceNotValid);
    assert!(v.found.contains("no copy in DRAM"), "{v}");
    assert!(v.expected.contains("for the reload to read"), "{v}");
}

#[test]
fn an_object_allocated_twice_on_one_core_is_refused() {
    let mut s = stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides {
            global_sram: Some("64KiB".parse().expect("size")),
            stateless_blocks: vec![],
            hardware: Vec::new(),
            activity: None,
            layer_activity: Vec::new(),
        },
        "ST-LBL",
        SchedulerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (tile, after, i) = find(&s, |_, a| matches!(a, Action::Alloc { .. }));
    let Action::Alloc { object, .. } = actions(&s, tile, after)[i].clone() else {
        unreachable!()
    };
    // A second copy at the top of the (nearly empty) SRAM.
    let bits = s.objects[object].bits;
    let top = s.accelerator.cores[0].global_sram().size_bits - bits;
    actions_mut(&mut s, tile, after).insert(
        i + 1,
        Action::Alloc {
            core: 0,
            object,
            extents: vec![stems::schedule::Extent {
                start: top,
                len: bits,
            }],
        },
    );
    let v = refused(s, ViolationKind::DoubleAllocation);
    assert!(v.found.contains("already allocated"), "{v}");
}

#[test]
fn objects_that_misstate_their_size_are_refused_before_the_run() {
    let mut s = saved("tiny_2t_lf_4kib");
    s.objects[5].bits += 1;
    let v = refused(s, ViolationKind::MalformedObjects);
    assert!(
        v.cycle.is_none() && v.expected.contains("bits (from its shape)"),
        "{v}"
    );
}

#[test]
fn freeing_weights_while_their_tile_computes_is_refused() {
    let mut s = saved("tiny_2t_lf_4kib");
    // Tile 1's actions overlap tile 0's compute (prefetch). With the weights' reader
    // list emptied, nothing makes the free wait for tile 0: a valid DRAM copy remains,
    // so no data is lost, but tile 0 still reads the on-chip copy.
    assert!(s.tiles[1].prefetched);
    let weights = *s.tiles[0].tile.weights.first().expect("conv weights");
    let extents = s.tiles[0]
        .before
        .iter()
        .find_map(|a| match a {
            Action::Alloc {
                object, extents, ..
            } if *object == weights => Some(extents.clone()),
            _ => None,
        })
        .expect("allocated before tile 0");
    s.objects[weights].readers.clear();
    s.tiles[1].before.insert(
        0,
        Action::Free {
            core: 0,
            object: weights,
            extents,
        },
    );
    let v = refused(s, ViolationKind::FreedInUse);
    assert!(v.expected.contains("until tile 0 "), "{v}");
}

/// The problems loading would report for `s`, as "element: field" pairs with messages.
fn load_problems(s: &Schedule) -> Vec<String> {
    s.check()
        .iter()
        .map(|p| {
            format!(
                "{} [{}]: {}",
                p.element,
                p.field.clone().unwrap_or_default(),
                p.message
            )
        })
        .collect()
}

/// A change made to a schedule.
type Tamper = Box<dyn Fn(&mut Schedule)>;

#[test]
fn fields_the_simulator_derives_must_match_the_derivation() {
    let s = saved("tiny_2t_lf_4kib");
    assert!(load_problems(&s).is_empty());
    let reading = s
        .tiles
        .iter()
        .position(|t| t.tile.reads_state)
        .expect("a tile continuing state");
    let writing = s
        .tiles
        .iter()
        .position(|t| t.tile.writes_state)
        .expect("a tile leaving state");
    let (slot, transfer) = {
        let at = find(&s, |_, a| matches!(a, Action::Transfer(_)));
        (at, at.0)
    };
    let cases: Vec<(Tamper, String, &str)> = vec![
        (
            Box::new(move |s: &mut Schedule| s.tiles[reading].tile.reads_state = false),
            format!("tile {reading} [reads_state]: says reads_state = false"),
            "make it true",
        ),
        (
            Box::new(move |s: &mut Schedule| s.tiles[writing].tile.writes_state = false),
            format!("tile {writing} [writes_state]: says writes_state = false"),
            "make it true",
        ),
        (
            Box::new(move |s: &mut Schedule| {
                if let Action::Transfer(t) = &mut actions_mut(s, slot.0, slot.1)[slot.2] {
                    t.bits = 1;
                }
            }),
            format!("tile {transfer} [bits]: moves 1 bits of object"),
            "which holds",
        ),
        (
            Box::new(|s: &mut Schedule| s.tiles[0].layer_name = "elsewhere".into()),
            "tile 0 [layer_name]: is named for layer 'elsewhere'".into(),
            "but runs layer",
        ),
    ];
    for (tamper, names, says) in cases {
        let mut t = s.clone();
        tamper(&mut t);
        let problems = load_problems(&t);
        assert!(
            problems.len() == 1 && problems[0].starts_with(&names) && problems[0].contains(says),
            "expected '{names} … {says}', got {problems:?}"
        );
    }
}
