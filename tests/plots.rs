//! Are the pictures ready for a paper? Every plot kind is drawn from small inputs and
//! its SVG read back: each axis has a title with a unit, every series is named in a
//! legend, no label leaves the canvas, and no integer tick reads "500.0".

mod common;

use std::path::Path;
use stems::cost::Report;
use stems::report::plot;

/// One `<text>` of an SVG: position, anchor, size, rotation and content.
#[derive(Debug)]
struct Label {
    x: f64,
    y: f64,
    anchor: String,
    size: f64,
    rotated: bool,
    text: String,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = at + tag[at..].find('"')?;
    Some(tag[at..end].to_string())
}

/// The canvas size and every text of an SVG file.
fn read(path: &Path) -> ((f64, f64), Vec<Label>) {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let root = &svg[svg.find("<svg").expect("an svg")..];
    let root = &root[..root.find('>').expect("the svg tag")];
    let size = |n: &str| {
        attr(root, n)
            .and_then(|v| v.parse::<f64>().ok())
            .expect("size")
    };
    let mut labels = Vec::new();
    let mut rest = svg.as_str();
    while let Some(at) = rest.find("<text") {
        let tag_end = at + rest[at..].find('>').expect("a text tag");
        let tag = &rest[at..tag_end];
        let close = tag_end + rest[tag_end..].find("</text>").expect("a closing tag");
        let text = rest[tag_end + 1..close].trim().replace("&amp;", "&");
        let number = |n: &str| {
            attr(tag, n)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        labels.push(Label {
            x: number("x"),
            y: number("y"),
            anchor: attr(tag, "text-anchor").unwrap_or_else(|| "start".into()),
            size: number("font-size").max(8.0),
            rotated: tag.contains("rotate("),
            text,
        });
        rest = &rest[close..];
    }
    ((size("width"), size("height")), labels)
}

/// Checks a drawn SVG: the axis titles carry units, the series are named, labels stay on
/// the canvas, integer ticks have no ".0".
fn check(path: &Path, axes: &[&str], series: &[&str]) {
    let ((w, h), labels) = read(path);
    let name = path.display();
    for axis in axes {
        let l = labels
            .iter()
            .find(|l| l.text == *axis)
            .unwrap_or_else(|| panic!("{name}: no axis title '{axis}'"));
        assert!(
            l.text.contains('(') && l.text.ends_with(')'),
            "{name}: axis title '{}' states no unit",
            l.text
        );
    }
    for s in series {
        assert!(
            labels.iter().any(|l| l.text.contains(s)),
            "{name}: series '{s}' is not named in a legend"
        );
    }
    for l in &labels {
        // Extent of the text: about 0.55 em per character.
        let len = 0.55 * l.size * l.text.chars().count() as f64;
        let (lo, hi) = match l.anchor.as_str() {
            "middle" => (l.x - len / 2.0, l.x + len / 2.0),
            "end" => (l.x - len, l.x),
            _ => (l.x, l.x + len),
        };
        let (limit, along) = if l.rotated {
            (h, "height")
        } else {
            (w, "width")
        };
        let (lo, hi) = if l.rotated {
            // Rotated by 270° about its anchor: its length runs along y.
            (l.y - (hi - l.x), l.y - (lo - l.x))
        } else {
            (lo, hi)
        };
        assert!(
            lo >= -2.0 && hi <= limit + 2.0,
            "{name}: label '{}' runs off the canvas ({lo:.0}..{hi:.0} of {along} {limit})",
            l.text
        );
        assert!(
            l.y >= -2.0 && l.y <= h + 2.0 && l.x >= -2.0 && l.x <= w + 2.0,
            "{name}: label '{}' at ({}, {}) is off the {w}×{h} canvas",
            l.text,
            l.x,
            l.y
        );
        let integer_with_point = l
            .text
            .strip_suffix(".0")
            .is_some_and(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit() || c == '-'));
        assert!(
            !integer_with_point,
            "{name}: tick label '{}' is an integer printed with .0",
            l.text
        );
    }
}

fn dir() -> common::Scratch {
    common::Scratch::new("plots", "svg")
}

fn report(energy_scale: f64) -> Report {
    let p = stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides::default(),
        "ST-LBL",
        stems::schedule::SchedulerOptions::default(),
    )
    .expect("plan");
    let mut r = p.predicted;
    for row in r.energy_matrix_pj.values_mut() {
        for v in row.values_mut() {
            *v *= energy_scale;
        }
    }
    r.energy_pj.total *= energy_scale;
    r
}

#[test]
fn heatmaps_name_their_ticks_and_scale() {
    let scratch = dir();
    let path = scratch.join("heatmap.svg");
    let ticks: Vec<String> = ["64KiB", "128KiB", "256KiB"].map(String::from).to_vec();
    // One position without a value (a schedule that cannot run).
    let cells: Vec<plot::Cell> = (0..3)
        .flat_map(|x| (0..3).map(move |y| (x, y)))
        .filter(|&p| p != (2, 2))
        .map(|(x, y)| plot::Cell {
            x,
            y,
            value: 1e6 * (1 + x + 3 * y) as f64,
            label: plot::readable(1e6 * (1 + x + 3 * y) as f64),
        })
        .collect();
    plot::heatmap(
        &path,
        "a network with a rather long name, ST-LBL×7: measured latency (cycles)",
        "dram.bw_bits (bits/cycle)",
        "gb (global SRAM per core)",
        &ticks,
        &ticks,
        &cells,
        (Some((1, 1)), "cannot run"),
    )
    .expect("draw");
    check(
        &path,
        &["dram.bw_bits (bits/cycle)", "gb (global SRAM per core)"],
        &["best", "64KiB", "cannot run"],
    );
    let (_, labels) = read(&path);
    let scale = labels.iter().filter(|l| l.text.ends_with(" M")).count();
    assert!(
        scale >= 5 + 8,
        "the colour bar has several labelled ticks besides the cells"
    );
}

#[test]
fn breakdowns_pick_a_readable_unit_and_name_every_bar() {
    let scratch = dir();
    let path = scratch.join("breakdown.svg");
    let (a, b) = (report(5000.0), report(2000.0));
    plot::breakdown(
        &path,
        "tiny_fused on 4.00 KiB: energy per inference",
        &[("ST-LBL".into(), &a), ("best: TB-LF,TB-LBL".into(), &b)],
    )
    .expect("draw");
    let ((_, _), labels) = read(&path);
    let axis = labels
        .iter()
        .find(|l| l.text.starts_with("energy per inference ("))
        .expect("the energy axis");
    assert_eq!(axis.text, "energy per inference (mJ)");
    check(
        &path,
        &[axis.text.as_str()],
        &["ST-LBL", "best: TB-LF,TB-LBL", "dram W"],
    );
}

#[test]
fn scatter_occupancy_utilisation_histogram_and_search_plots_read_cleanly() {
    let d = dir();
    let groups = vec![
        (
            "128KiB".to_string(),
            vec![(35_000.0, 36_000.0), (40_000.0, 42_500.0)],
        ),
        ("1MiB".to_string(), vec![(30_000.0, 30_100.0)]),
    ];
    let p = d.join("scatter.svg");
    plot::scatter(
        &p,
        "tiny: latency",
        "predicted latency (cycles)",
        "measured latency (cycles)",
        &groups,
    )
    .expect("draw");
    check(
        &p,
        &["predicted latency (cycles)", "measured latency (cycles)"],
        &["y = x", "128KiB", "1MiB"],
    );

    let trace: Vec<(u64, u64)> = (0..200).map(|i| (i * 500, (i % 17) * 4096)).collect();
    let p = d.join("occupancy.svg");
    let bands: Vec<(u64, u64, usize)> = (0..20)
        .map(|i| (i * 5000, i * 5000 + 4000, (i % 3) as usize))
        .collect();
    let names: Vec<String> = (0..3).map(|b| format!("block {b}")).collect();
    plot::occupancy(
        &p,
        "SRAM occupancy",
        &[("core0".into(), &trace)],
        65536 * 8,
        100_000,
        (&bands, &names),
    )
    .expect("draw");
    check(
        &p,
        &["global SRAM in use (KiB)"],
        &["capacity", "core0", "computing block 2"],
    );

    let bursts: Vec<(u64, u64, u64)> = (0..100).map(|i| (i * 1000, i * 1000 + 600, 4096)).collect();
    let p = d.join("utilisation.svg");
    plot::dram_utilisation(
        &p,
        "DRAM saturation",
        &bursts,
        &[(0, 50_000)],
        1,
        100_000,
        50,
    )
    .expect("draw");
    check(
        &p,
        &["share of the bin (%)"],
        &["DRAM bus busy", "PE array waiting for DRAM"],
    );

    let samples: Vec<(u64, u64)> = (0..20).map(|b| (1u64 << b, 1000 - 40 * b)).collect();
    let p = d.join("histogram.svg");
    plot::histogram(
        &p,
        "DRAM port queue delay",
        "cycles waited (each bucket up to twice its label)",
        &samples,
    )
    .expect("draw");
    check(
        &p,
        &[
            "cycles waited (each bucket up to twice its label)",
            "requests (count)",
        ],
        &[],
    );

    let all: Vec<(f64, f64)> = (0..300)
        .map(|i| (4.0 + (i % 37) as f64 * 0.1, 30.0 + (i % 23) as f64))
        .collect();
    let front = vec![(4.0, 45.0), (4.5, 35.0), (6.0, 30.0)];
    let p = d.join("pareto.svg");
    plot::pareto(
        &p,
        "search",
        ("energy per inference (mJ)", "latency (M cycles)"),
        &all,
        &front,
        &[("best hybrid TB-LF,TB-LBL×6".into(), (4.6, 36.0))],
    )
    .expect("draw");
    check(
        &p,
        &["energy per inference (mJ)", "latency (M cycles)"],
        &["Pareto front", "best hybrid TB-LF,TB-LBL×6", "costed"],
    );

    let points: Vec<(f64, f64)> = (0..200)
        .map(|i| (i as f64, 1e6 / (1.0 + i as f64)))
        .collect();
    let p = d.join("convergence.svg");
    plot::convergence(
        &p,
        "allocation search",
        "latency (cycles)",
        &points,
        &points,
    )
    .expect("draw");
    check(
        &p,
        &["evaluations (count)", "latency (cycles)"],
        &["evaluated", "best so far"],
    );
}

#[test]
fn plots_against_a_sweep_axis_say_what_they_hold() {
    let scratch = dir();
    let p = scratch.join("against.svg");
    let labels: Vec<String> = ["16", "32", "64", "128", "256", "512"]
        .map(String::from)
        .to_vec();
    let stacks = vec![
        ("computing".to_string(), vec![3e7; 6]),
        (
            "stall: dram_port".to_string(),
            vec![6e7, 2e7, 6e6, 1e6, 0.0, 0.0],
        ),
    ];
    let lines = vec![(
        "measured latency".to_string(),
        vec![9e7, 5e7, 3.6e7, 3.1e7, 3e7, 3e7],
    )];
    plot::against_axis(
        &p,
        "sew_resnet18_cifar10dvs, ST-LBL×7: latency against dram.bw_bits (gb=64KiB)",
        "dram.bw_bits (bits/cycle)",
        "latency (cycles)",
        &labels,
        &stacks,
        &lines,
    )
    .expect("draw");
    check(
        &p,
        &["dram.bw_bits (bits/cycle)", "latency (cycles)"],
        &["computing", "stall: dram_port", "measured latency"],
    );
}
