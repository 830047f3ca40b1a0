//! `stems simulate --dram-trace FILE`: every DRAM request the simulator issues, one
//! 64-byte line each, as `0xADDRESS READ|WRITE CYCLE` in time order (the trace
//! DRAMsim3 replays), at addresses where each object has a region of its own.

use std::path::Path;
use stems::model::Overrides;
use stems::schedule::SchedulerOptions;
use stems::schedule::dram_placement::LINE_BYTES;
use stems::sim::{SimOptions, simulate};
use stems::tiling::graph::ObjectKind;

#[test]
fn the_dram_trace_lists_every_line_in_time_order_at_the_objects_addresses() {
    let s = stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some("4KiB".parse().expect("size")),
            ..Overrides::default()
        },
        "TB-LF",
        SchedulerOptions::default(),
    )
    .expect("plans");
    let placed = &s.dram_placement;
    let weights: Vec<(u64, u64)> = s
        .objects
        .iter()
        .filter(|o| matches!(o.kind, ObjectKind::Weights { .. }))
        .map(|o| {
            (
                placed.pieces(&s.objects, &[o.id], 0, 1)[0].0,
                o.bits.div_ceil(8),
            )
        })
        .collect();
    let path = std::env::temp_dir().join(format!("stems-dram-trace-{}.trace", std::process::id()));
    let run = simulate(
        s,
        &SimOptions {
            dram_trace: Some(path.clone()),
            ..SimOptions::default()
        },
    )
    .expect("runs and verifies");
    let text = std::fs::read_to_string(&path).expect("the trace");
    let mut requests = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "{line}");
        let addr = u64::from_str_radix(f[0].trim_start_matches("0x"), 16).expect(line);
        assert!(
            f[0].starts_with("0x") && addr.is_multiple_of(LINE_BYTES),
            "{line}"
        );
        assert!(f[1] == "READ" || f[1] == "WRITE", "{line}");
        let cycle: u64 = f[2].parse().expect(line);
        requests.push((cycle, addr, f[1] == "WRITE"));
    }
    assert_eq!(Some(requests.len() as u64), run.dram_trace_requests);
    // The count README.md states for this run.
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let stated = readme
        .lines()
        .find_map(|l| l.split("--dram-trace tiny.trace     # ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .expect("README states the count");
    assert_eq!(stated, requests.len().to_string(), "README.md's figure");
    assert!(
        requests.windows(2).all(|p| p[0].0 <= p[1].0),
        "in time order"
    );
    assert!(
        requests
            .last()
            .is_some_and(|r| r.0 <= run.report.latency_cycles),
        "within the run"
    );
    // At least the lines the traffic fills, each direction.
    let d = &run.report.dram_bits;
    let lines = |write: bool| requests.iter().filter(|r| r.2 == write).count() as u64;
    assert!(lines(false) >= d.read.div_ceil(LINE_BYTES * 8), "{d:?}");
    assert!(lines(true) >= d.write.div_ceil(LINE_BYTES * 8), "{d:?}");
    // Weights are read, line by line, and never written.
    for (base, bytes) in weights {
        for line in (base..base + bytes).step_by(LINE_BYTES as usize) {
            let at = line / LINE_BYTES * LINE_BYTES;
            assert!(
                requests.iter().any(|r| r.1 == at && !r.2),
                "weights line {at:#x} is read"
            );
        }
        assert!(
            !requests
                .iter()
                .any(|r| r.2 && (base..base + bytes).contains(&r.1)),
            "weights are never written"
        );
    }
    let _ = std::fs::remove_file(&path);
}
