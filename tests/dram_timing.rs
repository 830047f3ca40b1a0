//! The DRAM timing model end to end: every bundled standard runs a schedule that the
//! simulator verifies, with its device figures; runs are reproducible across thread
//! counts; a timing model that contradicts itself is refused naming the field.

mod common;

use common::{Scratch, evaluate_on, stems, test_file};
use std::path::Path;
use stems::model::Overrides;
use stems::schedule::SchedulerOptions;
use stems::sim::{SimOptions, simulate};

fn timed(preset: &str, gb: &str, spec: &str) -> stems::schedule::Schedule {
    stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some(gb.parse().expect("size")),
            hardware: vec![
                "dram.model=timing".parse().expect("set"),
                format!("dram.timing.preset={preset}").parse().expect("set"),
            ],
            ..Overrides::default()
        },
        spec,
        SchedulerOptions::default(),
    )
    .expect("plans")
}

#[test]
fn every_standard_runs_verified_with_its_device_figures() {
    let dir = Scratch::new("dram-timing", "traces");
    for preset in ["ddr4_2400", "lpddr4_3200", "hbm2"] {
        for spec in ["ST-LBL", "TB-LF"] {
            let s = timed(preset, "4KiB", spec);
            let dram_bits_predicted = s.predicted.dram_bits.total;
            let trace = dir.join(format!("{preset}-{spec}.trace"));
            let options = SimOptions {
                dram_trace: Some(trace.clone()),
                ..SimOptions::default()
            };
            let run = simulate(s, &options).expect("runs and verifies");
            assert!(run.verification.verified, "{preset} {spec}");
            // Traffic is the schedule's whatever the DRAM's timing.
            assert_eq!(run.report.dram_bits.total, dram_bits_predicted);
            let d = run.dram_device.as_ref().expect("device figures");
            let c = &d.counts;
            assert_eq!(c.bursts, c.row_hits + c.row_misses + c.row_conflicts);
            assert!(c.bursts > 0 && d.row_hit_rate > 0.0 && d.row_hit_rate <= 1.0);
            assert!(d.bus_utilisation > 0.0 && d.bus_utilisation <= 1.0);
            // Every burst moves burst_bytes; together at least the traffic.
            let t = run_timing(preset);
            assert!(c.bursts * t.burst_bytes() * 8 >= run.report.dram_bits.total);
            // The DRAM trace lists every burst, at its column command, in time order.
            let text = std::fs::read_to_string(&trace).expect("trace");
            let cycles: Vec<u64> = text
                .lines()
                .map(|l| l.rsplit(' ').next().and_then(|c| c.parse().ok()).expect(l))
                .collect();
            assert_eq!(cycles.len() as u64, c.bursts);
            assert_eq!(run.dram_trace_requests, Some(c.bursts));
            assert!(cycles.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

fn run_timing(preset: &str) -> stems::model::dram_timing::DramTiming {
    let text = stems::model::dram_timing::PRESETS
        .iter()
        .find(|(n, _)| *n == preset)
        .expect("preset")
        .1;
    toml::from_str(text).expect("preset parses")
}

#[test]
fn a_sweep_over_standards_is_the_same_on_one_thread_and_two() {
    let dir = Scratch::new("dram-timing", "sweep");
    let mut csvs = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.join(jobs);
        let run = stems(&[
            "sweep",
            "--workload",
            "models/workloads/tiny_fused.toml",
            "--hardware",
            "models/hardware/meta_proto.toml",
            "--gb",
            "4KiB",
            "--schedule",
            "ST-LBL",
            "--schedule",
            "TB-LF",
            "--set",
            "dram.model=timing",
            "--set",
            "dram.timing.preset=ddr4_2400",
            "--axis",
            "dram.timing.preset=ddr4_2400,lpddr4_3200,hbm2",
            "--jobs",
            jobs,
            "--out",
            out.to_str().expect("path"),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        csvs.push(std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv"));
    }
    assert_eq!(csvs[0], csvs[1]);
    assert!(csvs[0].contains("measured_stall_dram_refresh_cycles"));
    // Three standards × two schedules, each simulated and verified.
    let rows: Vec<&str> = csvs[0].lines().skip(1).collect();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.contains(",true,")), "{rows:#?}");
}

#[test]
fn contradictory_timing_is_refused_naming_the_field() {
    let cases: [(&str, &str); 6] = [
        ("tras = 80", "'trc'"),
        ("address_mapping = \"ro,ba,co\"", "'address_mapping'"),
        ("columns = 1000", "'columns'"),
        ("burst_length = 2048", "'burst_length'"),
        ("preset = \"ddr9\"", "unknown preset"),
        ("trefi = 100", "'trefi'"),
    ];
    let base = std::fs::read_to_string("models/hardware/meta_proto.toml").expect("hardware");
    for (i, (line, named)) in cases.iter().enumerate() {
        let preset = if line.starts_with("preset") {
            String::new()
        } else {
            "preset = \"ddr4_2400\"\n".to_string()
        };
        let text = format!("{base}model = \"timing\"\n\n[dram.timing]\n{preset}{line}\n");
        let hw = test_file("dram-timing", &format!("bad{i}"), "hw.toml", &text);
        let (code, err) = evaluate_on(&hw);
        assert_eq!(code, Some(2), "{line}: {err}");
        assert!(
            err.contains(named) && err.contains("hw.toml:"),
            "{line}: {err}"
        );
    }
}

#[test]
fn a_saved_schedule_carries_its_dram_placement_and_overlaps_are_refused() {
    let s = timed("ddr4_2400", "4KiB", "TB-LF");
    assert_eq!(s.dram_placement.base.len(), s.objects.len());
    let mut json: serde_json::Value = serde_json::to_value(&s).expect("serializes");
    let dir = Scratch::new("dram-timing", "placement");
    let good = dir.file("good.schedule.json", json.to_string());
    let replay = |path: &Path| {
        stems(&[
            "simulate",
            "--replay",
            path.to_str().expect("path"),
            "--format",
            "json",
        ])
    };
    assert!(replay(&good).status.success());
    // Object 1's region moved onto object 0's: one would overwrite the other.
    let base = json["dram_placement"]["base"]
        .as_array_mut()
        .expect("placement");
    base[1] = base[0].clone();
    let bad = dir.file("bad.schedule.json", json.to_string());
    let run = replay(&bad);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("dram_placement") && err.contains("share DRAM bytes"),
        "{err}"
    );
    // A saved DRAM timing that counts another clock than the accelerator's.
    let mut clocked = serde_json::to_value(&s).expect("serializes");
    clocked["accelerator"]["dram"]["timing"]["accelerator_clock_mhz"] = 800.into();
    let other = dir.file("clock.schedule.json", clocked.to_string());
    let run = replay(&other);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("accelerator's clock_mhz is 1000"), "{err}");
    // A file without a placement (written before it existed) is placed on load.
    json.as_object_mut()
        .expect("object")
        .remove("dram_placement");
    let old = dir.file("old.schedule.json", json.to_string());
    assert!(replay(&old).status.success());
}

#[test]
fn data_that_does_not_fit_the_device_is_refused() {
    let run = stems(&[
        "simulate",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "128KiB",
        "--schedule",
        "TB-LBL",
        "--set",
        "dram.model=timing",
        "--set",
        "dram.timing.preset=ddr4_2400",
        // 8 banks × 2 rows × 8 KiB: 128 KiB, less than SEW-ResNet-18's weights.
        "--set",
        "dram.timing.rows=2",
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("of DRAM, the DDR4 device holds 128.00 KiB"),
        "{err}"
    );
}
