//! `stems sweep`: the cross product of hardware axes and schedules, simulated and
//! verified; the CSV shows bandwidth stalls shrinking as DRAM bandwidth grows.

use std::process::Command;

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

#[test]
fn more_dram_bandwidth_means_lower_latency_and_fewer_dram_port_stalls() {
    let dir = std::env::temp_dir().join(format!("stems-sweep-{}", std::process::id()));
    let out = stems(&[
        "sweep",
        "--workload",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--gb",
        "128KiB",
        "--schedule",
        "ST-LBL",
        "--axis",
        "dram.bw_bits=16,32,64,128,256",
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).expect("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 5);
    let series = |name: &str| -> Vec<f64> {
        rows.iter()
            .map(|r| r[col(name)].parse().expect("number"))
            .collect()
    };
    let bw = series("dram.bw_bits");
    let latency = series("measured_latency_cycles");
    let stalls = series("measured_stall_dram_port_cycles");
    let utilisation = series("dram_utilisation");
    assert_eq!(bw, [16.0, 32.0, 64.0, 128.0, 256.0]);
    for i in 1..5 {
        assert!(latency[i] < latency[i - 1], "latency {latency:?}");
        assert!(stalls[i] < stalls[i - 1], "dram_port stalls {stalls:?}");
    }
    assert!(
        utilisation.iter().all(|u| (0.0..=1.0).contains(u)),
        "{utilisation:?}"
    );
    assert!(
        utilisation[0] > 0.9,
        "16 bits/cycle saturates the port: {utilisation:?}"
    );
    for r in &rows {
        assert_eq!(&r[col("verified")], "true");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("json"))
            .expect("json");
    assert_eq!(summary["knees"][0]["axis"], "dram.bw_bits");
    // Rank agreement over the five points; energy agrees exactly, so it ranks alike.
    let rank = &summary["rank_agreement"]["overall"];
    assert_eq!(rank["latency"]["runs"], 5);
    assert_eq!(rank["energy"]["top1_match"], true);
    assert!(
        summary["knees"][0]["dram_port_share"]
            .as_array()
            .is_some_and(|a| a.len() == 5)
    );
    let text = std::fs::read_to_string(dir.join("latency_dram_bw_bits_ST-LBLx7.svg"))
        .expect("the latency plot, named by its schedule");
    assert!(text.starts_with("<svg") && text.contains("stall: dram_port"));
    assert!(
        text.contains("dram.bw_bits (bits/cycle)"),
        "the axis states its unit"
    );
    // Energy does not depend on bandwidth (no time-dependent energy yet): a flat line
    // says nothing, so no picture of it.
    assert!(!dir.join("energy_dram_bw_bits.svg").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn two_axes_make_a_cross_product_and_a_heatmap() {
    let dir = std::env::temp_dir().join(format!("stems-sweep2-{}", std::process::id()));
    let out = stems(&[
        "sweep",
        "--workload",
        "models/workloads/tiny_fused.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--schedule",
        "2T-LF,ST-LBL",
        "--schedule",
        "ST-LBL",
        "--axis",
        "gb=2KiB..8KiB*2",
        "--axis",
        "dram.latency_cycles=100..300+100",
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 3 * 3 * 2);
    assert!(dir.join("latency_heatmap.svg").exists());
    // A bad axis names itself.
    let out = stems(&[
        "sweep",
        "--workload",
        "models/workloads/tiny_fused.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--schedule",
        "ST-LBL",
        "--axis",
        "dram.bw_bits=0,64",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("dram field 'bw_bits'"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
