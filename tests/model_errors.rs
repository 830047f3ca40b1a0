//! Bad input: every kind of model error names the file, line, element and field, all
//! problems are reported together, and the CLI exits 2 without panicking.

use std::process::Command;
use stems::model::{Accelerator, HardwareOverrides, ModelError, SourceText, Workload};

const WORKLOAD: &str = r#"name = "tiny"
timesteps = 4

[input]
channels = 2
height = 8
width = 8
bits = 1

[defaults]
precision = { w = 4, o = 1, v = 12, acc = 16 }

[[layer]]
name = "a"
op = "conv"
block = 0
sources = ["input"]
k = 8
c = 2
oy = 8
ox = 8
fy = 3
fx = 3
padding = 1
stateful = true

[[layer]]
name = "b"
op = "conv"
block = 1
sources = ["a"]
k = 8
c = 8
oy = 4
ox = 4
fy = 2
fx = 2
stride = 2
stateful = true
"#;

fn workload_err(text: &str) -> ModelError {
    match Workload::parse(&SourceText::new("tiny.toml", text)) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

/// Line of the last line that starts with `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .rposition(|l| l.trim_start().starts_with(needle))
        .expect("needle in text")
        + 1
}

#[test]
fn the_base_workload_is_valid() {
    let w = Workload::parse(&SourceText::new("tiny.toml", WORKLOAD)).expect("valid");
    assert_eq!(w.layers.len(), 2);
    assert_eq!(w.num_blocks, 2);
    assert_eq!(
        w.layers[1].precision.i, 1,
        "input precision comes from the producer"
    );
}

#[test]
fn malformed_toml_names_the_line() {
    let text = WORKLOAD.replace("k = 8\nc = 8", "k = 8\nc = = 8");
    let e = workload_err(&text);
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].line, Some(line_of(&text, "c = = 8")));
    assert!(e.to_string().contains("tiny.toml:"), "{e}");
}

#[test]
fn unknown_field_is_named_with_its_line() {
    let text = WORKLOAD.replace("stride = 2", "stride = 2\nstrid = 2");
    let e = workload_err(&text);
    let p = &e.problems[0];
    assert_eq!(p.field.as_deref(), Some("strid"));
    assert_eq!(p.element, "layer 'b'");
    assert_eq!(p.line, Some(line_of(&text, "strid = 2")));
}

#[test]
fn missing_field_is_named() {
    let text = WORKLOAD.replace("fy = 2\n", "");
    let e = workload_err(&text);
    let p = &e.problems[0];
    assert_eq!(p.field.as_deref(), Some("fy"));
    assert!(p.message.contains("missing"), "{}", p.message);
}

#[test]
fn zero_and_negative_sizes_are_rejected() {
    let text = WORKLOAD.replace("k = 8\nc = 8", "k = 0\nc = -8");
    let e = workload_err(&text);
    let fields: Vec<_> = e
        .problems
        .iter()
        .filter_map(|p| p.field.as_deref())
        .collect();
    assert!(fields.contains(&"k") && fields.contains(&"c"), "{e}");
    assert_eq!(e.problems[0].line, Some(line_of(&text, "k = 0")));
}

#[test]
fn a_missing_source_layer_is_named() {
    let text = WORKLOAD.replace("sources = [\"a\"]", "sources = [\"nope\"]");
    let e = workload_err(&text);
    assert_eq!(e.problems[0].field.as_deref(), Some("sources"));
    assert!(
        e.problems[0].message.contains("'nope' does not exist"),
        "{e}"
    );
}

#[test]
fn a_cycle_is_reported_with_its_path() {
    let text = WORKLOAD.replace("sources = [\"input\"]", "sources = [\"b\"]");
    let e = workload_err(&text);
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn shape_mismatches_account_for_stride_kernel_and_padding() {
    // Without padding a 3×3 conv on 8×8 gives 6×6, not 8×8.
    let text = WORKLOAD.replace("padding = 1\n", "");
    let e = workload_err(&text);
    let p = &e.problems[0];
    assert_eq!(p.field.as_deref(), Some("oy"));
    assert!(p.message.contains("gives 6"), "{}", p.message);
    // Channel mismatch with the producer.
    let text = WORKLOAD.replace("k = 8\nc = 8", "k = 8\nc = 7");
    let e = workload_err(&text);
    assert_eq!(e.problems[0].field.as_deref(), Some("c"));
}

#[test]
fn a_block_id_that_goes_backwards_is_rejected() {
    let text = format!(
        "{WORKLOAD}\n[[layer]]\nname = \"c\"\nop = \"conv\"\nblock = 0\nsources = [\"b\"]\nk = 8\nc = 8\noy = 4\nox = 4\nfy = 1\nfx = 1\n"
    );
    let e = workload_err(&text);
    assert_eq!(e.problems[0].field.as_deref(), Some("block"));
    assert!(e.problems[0].message.contains("backwards"), "{e}");
}

#[test]
fn zero_precision_where_needed_is_rejected() {
    let text = WORKLOAD.replace(
        "stride = 2\nstateful = true",
        "stride = 2\nstateful = true\nprecision = { v = 0 }",
    );
    let e = workload_err(&text);
    assert_eq!(e.problems[0].field.as_deref(), Some("v"));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = WORKLOAD
        .replace("k = 8\nc = 2", "k = 8\nc = 2\nop_typo = 1")
        .replace("sources = [\"a\"]", "sources = [\"nope\"]");
    let e = workload_err(&text);
    assert!(e.problems.len() >= 2, "{e}");
    let elements: Vec<_> = e.problems.iter().map(|p| p.element.as_str()).collect();
    assert!(
        elements.contains(&"layer 'a'") && elements.contains(&"layer 'b'"),
        "{e}"
    );
}

#[test]
fn an_override_naming_a_missing_block_is_rejected() {
    let mut w = Workload::parse(&SourceText::new("tiny.toml", WORKLOAD)).expect("valid");
    let e = w
        .make_blocks_stateless(&[5])
        .expect_err("block 5 does not exist");
    assert!(e.to_string().contains("block 5"), "{e}");
}

const ACCEL: &str = include_str!("../models/hardware/meta_proto.toml");

#[test]
fn a_memory_level_no_operand_uses_is_rejected() {
    let text = ACCEL.replace("operands = [\"I\"]", "operands = []");
    let e = Accelerator::parse(&SourceText::new("hw.toml", &text)).expect_err("invalid");
    let p = &e.problems[0];
    assert_eq!(p.element, "memory 'input_lb' of core 'core0'");
    assert_eq!(p.field.as_deref(), Some("operands"));
    assert_eq!(p.line, Some(line_of(&text, "operands = []")));
}

#[test]
fn accelerator_sizes_must_be_positive() {
    let text = ACCEL
        .replace("size = \"16KiB\"", "size = \"0KiB\"")
        .replace("rows = 16", "rows = -16");
    let e = Accelerator::parse(&SourceText::new("hw.toml", &text)).expect_err("invalid");
    assert_eq!(e.problems.len(), 2, "both problems are reported: {e}");
    let size = e
        .problems
        .iter()
        .find(|p| p.field.as_deref() == Some("size"))
        .expect("size problem");
    assert_eq!(size.line, Some(line_of(&text, "size = \"0KiB\"")));
    let text = ACCEL.replace("rows = 16", "rows = -16");
    let e = Accelerator::parse(&SourceText::new("hw.toml", &text)).expect_err("invalid");
    assert_eq!(e.problems[0].field.as_deref(), Some("rows"));
}

#[test]
fn the_global_sram_override_resizes_banks_and_bandwidth() {
    let mut acc = Accelerator::parse(&SourceText::new("hw.toml", ACCEL)).expect("valid");
    acc.apply(HardwareOverrides {
        global_sram: Some("512KiB".parse().expect("size")),
    })
    .expect("override within limits");
    let g = acc.cores[0].global_sram();
    assert_eq!(g.size_bits, 512 * 1024 * 8);
    assert_eq!(g.banks, 4);
    assert_eq!(g.read_bw_bits(), 512);
}

fn stems(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stems"))
        .args(args)
        .output()
        .expect("run stems")
}

#[test]
fn the_cli_exits_2_on_bad_models_and_overrides() {
    let dir = std::env::temp_dir().join(format!("stems-model-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        WORKLOAD.replace("sources = [\"a\"]", "sources = [\"nope\"]"),
    )
    .expect("write");
    let out = stems(&["inspect", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:") && stderr.contains("layer 'b' field 'sources'"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = stems(&[
        "inspect",
        "models/workloads/sew_resnet18_cifar10dvs.toml",
        "--stateless-blocks",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = stems(&[
        "inspect",
        "models/hardware/meta_proto.toml",
        "--gb",
        "12 parsecs",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = stems(&["inspect", "does/not/exist.toml"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// The problems `edit` makes in the test accelerator, as (field, message) pairs.
fn accelerator_problems(edit: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let text = edit(ACCEL);
    match Accelerator::parse(&SourceText::new("hw.toml", &text)) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e
            .problems
            .into_iter()
            .map(|p| (p.field.unwrap_or_default(), p.message))
            .collect(),
    }
}

#[test]
fn absurd_hardware_numbers_are_errors_naming_the_field_and_the_limit() {
    for (from, to, field, needle) in [
        // Wrapping or saturating arithmetic used to turn these into 0 or u64::MAX.
        (
            "size = \"16KiB\"",
            "size = \"2305843009213693952B\"",
            "size",
            "larger than the largest size",
        ),
        (
            "size = \"16KiB\"",
            "size = 2305843009213693952",
            "size",
            "larger than the largest size",
        ),
        ("size = \"16KiB\"", "size = \"512KB\"", "size", "ambiguous"),
        (
            "size = \"16KiB\"",
            "size = \"1b\"",
            "size",
            "smaller than the smallest memory",
        ),
        (
            "accumulator_bits = 16",
            "accumulator_bits = 65",
            "accumulator_bits",
            "between 1 and 64",
        ),
        (
            "read_bw_bits = 128",
            "read_bw_bits = 9223372036854775807",
            "read_bw_bits",
            "between 1 and",
        ),
        ("rows = 16", "rows = 100000", "rows", "between 1 and 4,096"),
    ] {
        assert!(ACCEL.contains(from), "{from}");
        let problems = accelerator_problems(|t| t.replacen(from, to, 1));
        assert!(
            problems
                .iter()
                .any(|(f, m)| f == field && m.contains(needle)),
            "{to}: {problems:?}"
        );
    }
}

#[test]
fn array_unrolling_and_drain_fields_are_checked_one_mistake_at_a_time() {
    for (from, to, field, needle) in [
        (
            "row_dims = [\"OY\"]",
            "row_dims = [\"XY\"]",
            "row_dims",
            "not one of K, OY, OX, OYOX",
        ),
        (
            "row_dims = [\"OY\"]",
            "row_dims = [\"OY\", \"OY\"]",
            "row_dims",
            "twice",
        ),
        (
            "row_dims = [\"OY\"]",
            "row_dims = []",
            "row_dims",
            "nothing to unroll",
        ),
        (
            "row_dims = [\"OY\"]",
            "row_dims = [\"OY\"]\nrow_dim = \"OY\"",
            "row_dims",
            "not both",
        ),
        (
            "row_dims = [\"OY\"]",
            "row_dims = [\"K\"]",
            "col_dims",
            "different dimensions",
        ),
        (
            "accumulator_buffers = 1",
            "accumulator_buffers = 3",
            "accumulator_buffers",
            "between 1 and 2",
        ),
        (
            "drain_rows_per_cycle = 1",
            "drain_rows_per_cycle = 0",
            "drain_rows_per_cycle",
            "between 1 and",
        ),
    ] {
        assert!(ACCEL.contains(from), "{from}");
        let problems = accelerator_problems(|t| t.replacen(from, to, 1));
        assert_eq!(problems.len(), 1, "{to}: {problems:?}");
        assert!(
            problems[0].0 == field && problems[0].1.contains(needle),
            "{to}: {problems:?}"
        );
    }
    // The older single form still loads, as one choice.
    let text = ACCEL.replacen("row_dims = [\"OY\"]", "row_dim = \"OY\"", 1);
    let acc =
        Accelerator::parse(&SourceText::new("hw.toml", &text)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acc.cores[0].pe_array.unrollings().len(), 1);
}

#[test]
fn a_global_sram_override_beyond_the_limits_is_refused() {
    for (gb, needle) in [
        ("2TiB", "larger than the largest size"),
        ("2305843009213693952B", "larger than the largest size"),
        ("16b", "smaller than the smallest memory"),
    ] {
        let out = stems(&["inspect", "models/hardware/meta_proto.toml", "--gb", gb]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{gb}: {stderr}");
        assert!(stderr.contains(needle), "{gb}: {stderr}");
    }
    // Within the size limit but too many banks of 128 KiB.
    let mut acc = Accelerator::parse(&SourceText::new("hw.toml", ACCEL)).expect("valid");
    let p = acc
        .apply(HardwareOverrides {
            global_sram: Some("1TiB".parse().expect("size")),
        })
        .expect_err("too many banks");
    assert!(
        p.message.contains("banks (limit 1,048,576)"),
        "{}",
        p.message
    );
}

#[test]
fn absurd_workload_numbers_are_errors_naming_the_field_and_the_limit() {
    for (from, to, field, needle) in [
        (
            "timesteps = 4",
            "timesteps = 1000000000",
            "timesteps",
            "between 1 and 4096",
        ),
        ("bits = 1", "bits = 65", "bits", "between 1 and 64"),
        (
            "k = 8\nc = 2",
            "k = 4294967295\nc = 2",
            "k",
            "between 1 and 1,048,576",
        ),
        (
            "stride = 2",
            "stride = 100000",
            "stride",
            "between 1 and 1024",
        ),
        (
            "stateful = true\n",
            "stateful = true\nactivity = 1.5\n",
            "activity",
            "within 0..=1, got 1.5",
        ),
        (
            "stateful = true\n",
            "stateful = true\nactivity = nan\n",
            "activity",
            "within 0..=1, got NaN",
        ),
        (
            "k = 8\nc = 2",
            "k = 1048576\nc = 1048576",
            "k",
            "more than stems models",
        ),
    ] {
        assert!(WORKLOAD.contains(from), "{from}");
        let e = workload_err(&WORKLOAD.replacen(from, to, 1));
        assert!(
            e.problems
                .iter()
                .any(|p| p.field.as_deref() == Some(field) && p.message.contains(needle)),
            "{to}: {e}"
        );
    }
}

/// `n` 1×1 conv layers; with `reversed`, each reads the one listed after it.
fn chain(n: usize, reversed: bool) -> String {
    let mut text = String::from(
        "name = \"chain\"\ntimesteps = 1\n[input]\nchannels = 1\nheight = 1\nwidth = 1\nbits = 1\n\
         [defaults]\nprecision = { w = 1, o = 1, acc = 8 }\n",
    );
    for i in 0..n {
        let source = match (reversed, i) {
            (false, 0) => "input".to_string(),
            (false, _) => format!("l{}", i - 1),
            (true, _) if i + 1 == n => "l0".to_string(),
            (true, _) => format!("l{}", i + 1),
        };
        text.push_str(&format!(
            "[[layer]]\nname = \"l{i}\"\nop = \"conv\"\nblock = 0\nsources = [\"{source}\"]\n\
             k = 1\nc = 1\noy = 1\nox = 1\nfy = 1\nfx = 1\n"
        ));
    }
    text
}

#[test]
fn long_layer_chains_are_checked_without_recursion_and_bounded() {
    // A cycle through 9,999 layers is named, not a stack overflow.
    let e = workload_err(&chain(9_999, true));
    assert!(
        e.problems.iter().any(|p| p.message.starts_with("cycle: ")),
        "{e}"
    );
    let e = workload_err(&chain(10_001, false));
    assert!(
        e.to_string().contains("has 10,001 layers (limit 10,000)"),
        "{e}"
    );
}

#[test]
fn type_errors_name_the_field_at_the_values_own_line() {
    // A whole-document table, an array-of-tables entry, and a nested inline table.
    for (from, to, element, field) in [
        ("channels = 2", "channels = \"2\"", "input", "channels"),
        ("k = 8\nc = 8", "k = \"8\"\nc = 8", "layer 'b'", "k"),
        ("stride = 2", "stride = [2, 2, 2]", "layer 'b'", "stride"),
    ] {
        let text = WORKLOAD.replacen(from, to, 1);
        let e = workload_err(&text);
        let p = &e.problems[0];
        assert_eq!(
            (p.element.as_str(), p.field.as_deref()),
            (element, Some(field)),
            "{e}"
        );
        let first_line = to.lines().next().expect("line");
        assert_eq!(p.line, Some(line_of(&text, first_line)), "{e}");
    }
    let text = WORKLOAD.replacen(
        "precision = { w = 4, o = 1, v = 12, acc = 16 }",
        "precision = { w = \"4\", o = 1, v = 12, acc = 16 }",
        1,
    );
    let e = workload_err(&text);
    assert!(
        e.to_string()
            .contains("defaults field 'precision.w': expects a whole number, got string \"4\""),
        "{e}"
    );
}

#[test]
fn a_broken_table_is_reported_once_without_consequential_errors() {
    // Layer 'a' does not parse; 'b' reads it, which is not a second problem.
    let e = workload_err(&WORKLOAD.replacen("k = 8\nc = 2", "k = \"8\"\nc = 2", 1));
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(e.problems[0].element, "layer 'a'");
    // A memory that does not parse does not make the hierarchy look wrong.
    let text = ACCEL.replacen("read_bw_bits = 128", "read_bw_bits = \"128\"", 1);
    let e = Accelerator::parse(&SourceText::new("hw.toml", &text)).expect_err("invalid");
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(e.problems[0].field.as_deref(), Some("read_bw_bits"));
}

#[test]
fn a_cores_operators_must_be_known_operator_names() {
    let at = "position = [0, 0]";
    assert!(ACCEL.contains(at));
    for (list, needle) in [
        (
            "[\"conv\", \"pooling\"]",
            "'pooling' is not one of conv, fc",
        ),
        ("[\"conv\", \"conv\"]", "'conv' is listed twice"),
        ("[]", "lists no operator"),
    ] {
        let problems =
            accelerator_problems(|t| t.replacen(at, &format!("{at}\noperators = {list}"), 1));
        assert!(
            problems
                .iter()
                .any(|(f, m)| f == "operators" && m.contains(needle)),
            "{list}: {problems:?}"
        );
    }
}

#[test]
fn a_noc_link_must_join_neighbours_once() {
    let at = "energy_fj_per_bit_per_hop = 0.0";
    assert!(ACCEL.contains(at));
    for (links, needle) in [
        (
            "[[noc.link]]\nbetween = [[0, 0], [2, 0]]\nbw_bits = 32",
            "are not neighbours",
        ),
        (
            "[[noc.link]]\nbetween = [[0, 0], [1, 0]]\nbw_bits = 32\n[[noc.link]]\nbetween = [[1, 0], [0, 0]]\nbw_bits = 64",
            "listed twice",
        ),
        (
            "[[noc.link]]\nbetween = [[0, 0], [1, 0]]\nbw_bits = 0",
            "between 1 and",
        ),
        (
            "[[noc.link]]\nbetween = [[2, 0], [3, 0]]\nbw_bits = 32",
            "[3, 0] lies outside the 3×1 mesh",
        ),
    ] {
        let problems = accelerator_problems(|t| {
            t.replacen("mesh = [1, 1]", "mesh = [3, 1]", 1).replacen(
                at,
                &format!("{at}\n{links}"),
                1,
            )
        });
        assert!(
            problems.iter().any(|(_, m)| m.contains(needle)),
            "{links}: {problems:?}"
        );
    }
}
