//! Does models/FORMAT.md document exactly what stems reads? Its example workload,
//! accelerator and scenario must be accepted field for field (no unknown field), and
//! every field the parsers accept — found by planting an unknown field in each table
//! of the example and reading the parser's list of expected ones — must appear in the
//! example. Every key of a saved schedule must appear in FORMAT.md's schedule table.

mod common;

use std::path::Path;
use stems::model::{Accelerator, SourceText, Workload};

const FORMAT: &str = "models/FORMAT.md";
const PROBE: &str = "zz_probe";

/// The ```toml block that follows the heading starting with `heading`.
fn block(doc: &str, heading: &str) -> String {
    let at = doc
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("FORMAT.md has no section '{heading}'"));
    let start = at + doc[at..].find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("the block's end");
    doc[start..end].to_string()
}

/// Every problem the parser reports for `text` (empty when it is accepted).
fn problems(kind: &str, text: &str) -> Vec<String> {
    let source = SourceText::new(format!("{kind}.toml"), text);
    let error = match kind {
        "workload" => Workload::parse(&source).err(),
        "accelerator" => Accelerator::parse(&source).err(),
        _ => {
            let root = std::env::current_dir().expect("cwd");
            let text = text.replace("\"../models/", &format!("\"{}/models/", root.display()));
            let path = common::test_file("format-doc", "scenario", "scenario.toml", text);
            stems::scenario::Scenario::load(&path).err()
        }
    };
    error.map_or_else(Vec::new, |e| {
        e.problems
            .iter()
            .map(|p| format!("{}: {}", p.field.clone().unwrap_or_default(), p.message))
            .collect()
    })
}

/// The fields the parser expects where the probe was planted, from its error.
fn expected_fields(messages: &[String]) -> Option<Vec<String>> {
    let m = messages
        .iter()
        .find(|m| m.contains(&format!("unknown field `{PROBE}`")))?;
    let list = m.split("expected ").nth(1)?;
    let list = list.split(" (").next()?;
    Some(
        list.trim_start_matches("one of ")
            .split(", ")
            .flat_map(|f| f.split(" or "))
            .map(|f| f.trim_matches('`').to_string())
            .filter(|f| !f.is_empty())
            .collect(),
    )
}

/// Where a probe can go: after the first line, after each table header, inside each
/// inline table. Returns the block with the probe planted, and where.
fn probes(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let with = |i: usize, line: String| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[i] = line;
        l.join("\n") + "\n"
    };
    out.push((format!("{PROBE} = 1\n{text}"), "the top level".to_string()));
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            out.push((with(i, format!("{line}\n{PROBE} = 1")), t.to_string()));
        } else if let Some(pos) = line.find("= {") {
            let planted = format!("{}= {{ {PROBE} = 1, {}", &line[..pos], &line[pos + 3..]);
            out.push((
                with(i, planted),
                t.split('=').next().unwrap_or("").trim().to_string(),
            ));
        }
    }
    out
}

/// Whether `field` is written in `text` as a key (`field =`, on its own, inline, or in
/// a comment showing an alternative form) or as a table (`[field]`, `[[x.field]]`).
fn documents(text: &str, field: &str) -> bool {
    text.lines().any(|l| {
        l.match_indices(field).any(|(i, _)| {
            let before = l[..i].chars().last();
            let after = l[i + field.len()..].trim_start();
            let key =
                matches!(before, None | Some(' ' | '{' | ',' | '[')) && after.starts_with('=');
            let table = matches!(before, Some('[' | '.')) && after.starts_with(']');
            key || table
        })
    })
}

fn check(kind: &str, heading: &str) {
    let doc = std::fs::read_to_string(FORMAT).expect("FORMAT.md");
    let text = block(&doc, heading);
    let unknown: Vec<String> = problems(kind, &text)
        .into_iter()
        .filter(|m| m.contains("unknown field"))
        .collect();
    assert!(
        unknown.is_empty(),
        "FORMAT.md's {kind} documents fields stems refuses: {unknown:#?}"
    );
    let mut undocumented = Vec::new();
    for (planted, place) in probes(&text) {
        let Some(fields) = expected_fields(&problems(kind, &planted)) else {
            panic!("no unknown-field report for a probe in {kind} at {place}");
        };
        for f in fields {
            if !documents(&text, &f) {
                undocumented.push(format!("{place}: {f}"));
            }
        }
    }
    undocumented.sort();
    undocumented.dedup();
    assert!(
        undocumented.is_empty(),
        "stems accepts {kind} fields FORMAT.md does not document: {undocumented:#?}"
    );
}

#[test]
fn the_workload_format_is_documented_field_for_field() {
    check("workload", "Workload");
}

#[test]
fn the_accelerator_format_is_documented_field_for_field() {
    check("accelerator", "Accelerator");
}

#[test]
fn the_scenario_format_is_documented_field_for_field() {
    check("scenario", "Scenario");
}

/// Every key of `v` (objects inside arrays included) below `depth` levels.
fn keys(v: &serde_json::Value, depth: usize, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys(x, depth - 1, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                keys(x, depth, out);
            }
        }
        _ => {}
    }
}

/// Whether `word` appears in `text` on its own (not inside a longer name).
fn mentions(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().last();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn every_key_of_a_saved_schedule_is_documented() {
    let doc = std::fs::read_to_string(FORMAT).expect("FORMAT.md");
    let table = &doc[doc.find("## Saved schedule").expect("the schedule section")..];
    let text = std::fs::read_to_string(Path::new("traces/tiny_2t_lf_4kib.schedule.json"))
        .expect("a saved schedule");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut found = Vec::new();
    // The schedule's own keys and those of its objects, tiles and actions; the embedded
    // models and the prediction are documented as wholes (their own sections).
    for (k, x) in v.as_object().expect("an object") {
        found.push(k.clone());
        if ["objects", "tiles"].contains(&k.as_str()) {
            keys(x, 4, &mut found);
        }
    }
    let skip = ["workload", "accelerator"];
    let mut missing: Vec<String> = found
        .into_iter()
        .filter(|k| !skip.contains(&k.as_str()))
        .filter(|k| !mentions(table, k))
        .collect();
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "saved-schedule keys FORMAT.md does not document: {missing:?}"
    );
}
