//! Energy that depends on time: static power (PE arrays, memories, the DRAM's
//! background) over the run's latency, charged by one rule in both halves, so that a
//! run that stalls longer costs more; and under the DRAM timing model, the device's
//! bursts and row activations priced by its currents.

mod common;

use common::{evaluate_on, stems, test_file};
use std::path::Path;
use stems::model::Overrides;
use stems::schedule::SchedulerOptions;
use stems::sim::{SimOptions, simulate};

fn plan(sets: &[&str], spec: &str) -> stems::schedule::Schedule {
    stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &Overrides {
            global_sram: Some("4KiB".parse().expect("size")),
            hardware: sets.iter().map(|s| s.parse().expect("set")).collect(),
            ..Overrides::default()
        },
        spec,
        SchedulerOptions::default(),
    )
    .expect("plans")
}

#[test]
fn static_energy_is_static_power_over_each_halfs_latency() {
    // 1 mW of PE array, plus 10 pW per bit of a 4 KiB global SRAM (0.33 µW).
    let s = plan(
        &[
            "core0.pe_array.static_power_uw=1000",
            "core0.global_sram.leakage_pw_per_bit=10",
        ],
        "TB-LF",
    );
    let power = 1000.0 + 10.0 * 32768.0 / 1e6;
    assert!((s.accelerator.static_power_uw() - power).abs() < 1e-9);
    let predicted = s.predicted.clone();
    let measured = simulate(s, &SimOptions::default()).expect("runs").report;
    for r in [&predicted, &measured] {
        // µW × cycles at 1000 MHz (µs) = pJ.
        let expected = power * r.latency_cycles as f64 / 1000.0;
        assert!((r.energy_pj.static_pj - expected).abs() < 1e-6 * expected);
        let per_us = r.energy_pj.total / (r.latency_cycles as f64 / 1000.0);
        assert!((r.average_power_mw - per_us / 1000.0).abs() < 1e-9 * per_us);
    }
    // What data movement and operations spent is the same on both sides; the static
    // part differs as latency does.
    let (p, m) = (&predicted.energy_pj, &measured.energy_pj);
    assert!((p.dynamic() - m.dynamic()).abs() < 1e-6 * p.dynamic());
    let ratio = m.static_pj / p.static_pj;
    let latency_ratio = measured.latency_cycles as f64 / predicted.latency_cycles as f64;
    assert!((ratio - latency_ratio).abs() < 1e-9);
}

#[test]
fn a_starved_dram_port_now_costs_energy() {
    let energy = |bw: &str, static_power: bool| {
        let mut sets = vec![bw];
        if static_power {
            sets.push("core0.pe_array.static_power_uw=100000");
        }
        let s = plan(&sets, "ST-LBL");
        let run = simulate(s, &SimOptions::default()).expect("runs");
        (run.report.energy_pj.total, run.report.latency_cycles)
    };
    let (slow, fast) = ("dram.bw_bits=8", "dram.bw_bits=256");
    // Without static power the energy is the same at any bandwidth ...
    assert_eq!(energy(slow, false).0, energy(fast, false).0);
    // ... with it, the slower run costs more, by its extra cycles times the power.
    let ((e_slow, l_slow), (e_fast, l_fast)) = (energy(slow, true), energy(fast, true));
    assert!(l_slow > l_fast);
    let extra = 100_000.0 * (l_slow - l_fast) as f64 / 1000.0;
    assert!(
        (e_slow - e_fast - extra).abs() < 1e-6 * extra,
        "{e_slow} {e_fast} {extra}"
    );
}

#[test]
fn the_clock_turns_power_into_energy_and_dram_clocks_into_cycles() {
    let at = |mhz: &str| {
        plan(
            &[
                &format!("clock_mhz={mhz}"),
                "core0.pe_array.static_power_uw=1000",
                "dram.model=timing",
                "dram.timing.preset=ddr4_2400",
            ],
            "TB-LF",
        )
    };
    let (fast, slow) = (at("1000"), at("500"));
    let t = |s: &stems::schedule::Schedule| s.accelerator.dram.timing.clone().expect("timing");
    // A DRAM clock lasts half as many cycles of a clock half as fast.
    assert_eq!(t(&fast).to_cycles(1200), 1000);
    assert_eq!(t(&slow).to_cycles(1200), 500);
    // The same power over the same number of cycles costs twice as much at 500 MHz.
    let per_cycle = |s: &stems::schedule::Schedule| {
        s.predicted.energy_pj.static_pj / s.predicted.latency_cycles as f64
    };
    assert!((per_cycle(&slow) / per_cycle(&fast) - 2.0).abs() < 1e-9);
}

#[test]
fn bad_powers_and_a_second_clock_are_refused() {
    let base = std::fs::read_to_string("models/hardware/meta_proto.toml").expect("hardware");
    for (i, (edit, named)) in [
        ("static_power_uw = -1.0", "'static_power_uw'"),
        ("static_power_uw = 1e300", "'static_power_uw'"),
        (
            "model = \"timing\"\n[dram.timing]\npreset = \"ddr4_2400\"\naccelerator_clock_mhz = 800",
            "'accelerator_clock_mhz'",
        ),
        (
            "model = \"timing\"\n[dram.timing]\npreset = \"ddr4_2400\"\nidd4w_ma = 20.0",
            "'idd4w_ma': 20 mA is below IDD3N (47 mA)",
        ),
        (
            "model = \"timing\"\n[dram.timing]\npreset = \"ddr4_2400\"\nidd0_ma = -5.0",
            "'idd0_ma'",
        ),
    ]
    .iter()
    .enumerate()
    {
        let hw = test_file("static-energy", &format!("bad{i}"), "hw.toml", format!("{base}{edit}\n"));
        let (code, err) = evaluate_on(&hw);
        assert_eq!(code, Some(2), "{edit}: {err}");
        assert!(err.contains(named), "{edit}: {err}");
    }
    let run = stems(&[
        "evaluate",
        "--workload",
        "models/workloads/tiny_fused.toml",
        "--hardware",
        "models/hardware/meta_proto.toml",
        "--schedule",
        "ST-LBL",
        "--set",
        "clock_mhz=0",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("'clock_mhz'"));
}

#[test]
fn the_dram_timing_model_prices_bursts_and_activations_by_its_currents() {
    let s = plan(
        &["dram.model=timing", "dram.timing.preset=ddr4_2400"],
        "ST-LBL",
    );
    let dram = s.accelerator.dram.clone();
    let t = dram.timed().expect("timing model").clone();
    let predicted = s.predicted.clone();
    let run = simulate(s, &SimOptions::default()).expect("runs");
    let activates = run
        .dram_device
        .as_ref()
        .expect("device figures")
        .counts
        .activates();
    assert!(activates > 0);
    for r in [&predicted, &run.report] {
        // Per bit: the stated energy of moving it, plus the device's burst energy.
        let per_bit = r.dram_bits.read as f64
            * (dram.read_energy_fj_per_bit + t.burst_energy_fj_per_bit(false))
            + r.dram_bits.write as f64
                * (dram.write_energy_fj_per_bit + t.burst_energy_fj_per_bit(true));
        let e = &r.energy_pj;
        assert!((e.dram - per_bit / 1000.0).abs() < 1e-6 * e.dram);
        let parts =
            e.dram + e.global_sram + e.local_buffers + e.pe + e.noc + e.dram_activate + e.static_pj;
        assert!((e.total - parts).abs() < 1e-6 * e.total);
    }
    // The simulator prices the activations its device made; the analytic half its
    // estimate of them, which may differ, as latency may.
    let measured = run.report.energy_pj.dram_activate;
    let expected = activates as f64 * t.activate_energy_pj();
    assert!((measured - expected).abs() < 1e-6 * expected);
    assert!(predicted.energy_pj.dram_activate > 0.0);
    // Energy per bit and per operation is the same on both sides.
    let (p, m) = (
        predicted.energy_pj.per_access(),
        run.report.energy_pj.per_access(),
    );
    assert!((p - m).abs() < 1e-6 * p, "{p} {m}");
}
