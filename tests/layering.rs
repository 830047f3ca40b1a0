//! The module tree follows the data flow, and imports point down it: a stage may use
//! the stages before it, never one after it (so `report`, which prints and draws, is
//! imported by no stage, and the cost report lives in `cost`, below its builders).
//! This reads every source file of each top-level module and checks the `crate::`
//! paths it names.

use std::path::Path;

/// The top-level modules of the library, each after everything it may use.
const ORDER: &[&str] = &[
    "model",
    "output",
    "rundir",
    "import",
    "tiling",
    "cost",
    "mapping",
    "schedule",
    "spikes",
    "sim",
    "validate",
    "explore",
    "hardware_sweep",
    "scenario",
    "report",
];

fn sources(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("a source folder") {
            sources(&entry.expect("an entry").path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules a file's text names as `crate::NAME`.
fn named(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_module_imports_only_the_stages_before_it() {
    let mut wrong = Vec::new();
    for (rank, module) in ORDER.iter().enumerate() {
        let mut files = Vec::new();
        sources(Path::new(&format!("src/{module}")), &mut files);
        sources(Path::new(&format!("src/{module}.rs")), &mut files);
        assert!(
            !files.is_empty(),
            "src/{module} is listed but has no source"
        );
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            for used in named(&text) {
                let at = ORDER.iter().position(|m| *m == used);
                if at.is_some_and(|r| r > rank) {
                    wrong.push(format!("{} uses {used}", file.display()));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports pointing up the data flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_place_in_the_order() {
    let lib = std::fs::read_to_string("src/lib.rs").expect("lib.rs");
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        {
            assert!(
                ORDER.contains(&name),
                "src/lib.rs declares '{name}', which ORDER does not place"
            );
        }
    }
}

/// The sibling modules a file names as `super::NAME` (or `crate::…::NAME` through its
/// own folder).
fn siblings_named(text: &str, siblings: &[String], folder_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for s in siblings {
        let by_super = format!("super::{s}");
        let by_crate = format!("crate::{folder_path}::{s}");
        let names = |pat: &str| {
            text.match_indices(pat).any(|(i, _)| {
                let next = text[i + pat.len()..].chars().next();
                !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        };
        if names(&by_super) || names(&by_crate) {
            out.push(s.clone());
        }
    }
    out
}

#[test]
fn no_two_files_of_a_folder_import_each_other() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut folders: std::collections::BTreeMap<std::path::PathBuf, Vec<std::path::PathBuf>> =
        Default::default();
    for f in files {
        if f.file_name()
            .is_some_and(|n| n != "mod.rs" && n != "lib.rs" && n != "main.rs")
        {
            folders
                .entry(f.parent().expect("a folder").to_path_buf())
                .or_default()
                .push(f);
        }
    }
    let mut circles = Vec::new();
    for (folder, files) in &folders {
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.file_stem()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let folder_path = folder
            .strip_prefix("src")
            .expect("under src")
            .to_string_lossy()
            .replace('/', "::");
        let edges: Vec<Vec<String>> = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).expect("a source file");
                siblings_named(&text, &names, &folder_path)
            })
            .collect();
        for (i, a) in names.iter().enumerate() {
            for b in &edges[i] {
                let j = names.iter().position(|n| n == b).expect("a sibling");
                if a < b && edges[j].contains(a) {
                    circles.push(format!("{}: {a} <-> {b}", folder.display()));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files that import each other: {circles:?}"
    );
}

/// Functions stay short enough to read at once: about 80 lines, none over this.
const LONGEST_FUNCTION: usize = 85;

/// The functions of a rustfmt-formatted file with their lengths in lines: from the line
/// that opens `fn NAME` to the brace that closes it at the same indentation.
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let head = line.trim_start();
        let head = head.strip_prefix("pub(super) ").unwrap_or(head);
        let head = head.strip_prefix("pub(crate) ").unwrap_or(head);
        let head = head.strip_prefix("pub ").unwrap_or(head);
        let head = head.strip_prefix("const ").unwrap_or(head);
        if let Some(rest) = head.strip_prefix("fn ")
            && !line.trim_end().ends_with(';')
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (i..lines.len())
                .find(|&j| {
                    lines[j].trim_end() == close || (j == i && line.trim_end().ends_with('}'))
                })
                .unwrap_or(lines.len() - 1);
            out.push((name, end - i + 1));
            i = end;
        }
        i += 1;
    }
    out
}

#[test]
fn no_function_in_src_is_longer_than_the_limit() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for (name, lines) in function_lengths(&text) {
            if lines > LONGEST_FUNCTION {
                long.push(format!("{} {name}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {LONGEST_FUNCTION} lines (split them along their seams):\n{}",
        long.join("\n")
    );
}

#[test]
fn function_lengths_are_measured_from_fn_to_its_closing_brace() {
    let text = "fn a() {\n    let x = 1;\n}\n\nimpl T {\n    pub fn b(\n        y: u8,\n    ) -> u8 {\n        y\n    }\n    fn c();\n}\n";
    assert_eq!(
        function_lengths(text),
        vec![("a".to_string(), 3), ("b".to_string(), 5)]
    );
}
