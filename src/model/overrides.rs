//! Overrides of any accelerator field, written `PATH=VALUE` (`--set` on the command line,
//! `set = [...]` in a scenario), for studies that vary the hardware without copies of
//! its file.
//!
//! Paths follow the accelerator file (models/FORMAT.md): `dram.bw_bits`,
//! `noc.link_bw_bits`, `CORE.pe_array.FIELD`, `CORE.MEMORY.FIELD`, `CORE.position`,
//! where CORE and MEMORY are names and may use `*` as a wildcard (`core*.input_lb.size`).
//! A value is read as a TOML value when it is one (`32`, `1.5`, `true`, `[1, 0]`), and
//! as a string otherwise (`512KiB`, `OY`). The overridden document then goes through the
//! file's own validation, so an override obeys every rule and limit a file does.

use super::diag::Problem;
use std::fmt;
use std::str::FromStr;

/// One `PATH=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSet {
    pub path: String,
    pub value: String,
}

impl FromStr for FieldSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not PATH=VALUE (e.g. dram.bw_bits=32)"))?;
        let (path, value) = (path.trim(), value.trim());
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(format!(
                "'{}' holds a control character ({c:?}): one PATH=VALUE per option",
                s.escape_debug()
            ));
        }
        if path.is_empty() || value.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!("'{s}' is not PATH=VALUE (e.g. dram.bw_bits=32)"));
        }
        Ok(Self {
            path: path.to_string(),
            value: value.to_string(),
        })
    }
}

impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

/// `*` matches any run of characters; everything else literally. Linear in the name
/// for each star (a star only ever resumes from the last one), never exponential.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    // Where the last star was and where in the name it resumes.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The value as TOML when it is one value, as a string otherwise. A value spanning
/// lines is refused where the set is parsed, so nothing after a newline is dropped.
fn value_of(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn problem(set: &FieldSet, message: String) -> Problem {
    Problem::new("override", message).field(set.path.clone())
}

/// The `[[ARRAY]]` entries of `table` whose `name` matches `pattern`.
fn named<'t>(table: &'t mut toml::Table, array: &str, pattern: &str) -> Vec<&'t mut toml::Table> {
    match table.get_mut(array).and_then(|v| v.as_array_mut()) {
        Some(a) => a
            .iter_mut()
            .filter_map(|v| v.as_table_mut())
            .filter(|t| {
                t.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| glob(pattern, n))
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Applies `set` to an accelerator document: every table the path selects gets the
/// value. A path that selects nothing is a problem naming it.
pub fn apply(doc: &mut toml::Table, set: &FieldSet) -> Result<(), Problem> {
    let keys: Vec<&str> = set.path.split('.').collect();
    let value = value_of(&set.value);
    let (field, tables) = keys.split_last().expect("a checked path has a key");
    let mut targets: Vec<&mut toml::Table> = Vec::new();
    match tables {
        [] => targets.push(doc),
        ["dram", "timing"] => match doc.get_mut("dram").and_then(|v| v.as_table_mut()) {
            Some(d) => match d
                .entry("timing")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                toml::Value::Table(t) => targets.push(t),
                _ => return Err(problem(set, "the file's dram.timing is not a table".into())),
            },
            None => return Err(problem(set, "the file has no [dram] table".into())),
        },
        [section @ ("dram" | "noc")] => {
            match doc.get_mut(*section).and_then(|v| v.as_table_mut()) {
                Some(t) => targets.push(t),
                None => return Err(problem(set, format!("the file has no [{section}] table"))),
            }
        }
        [core, rest @ ..] => {
            let cores = named(doc, "core", core);
            if cores.is_empty() {
                return Err(problem(set, format!("no core is named '{core}'")));
            }
            for c in cores {
                match rest {
                    [] => targets.push(c),
                    ["pe_array"] => match c.get_mut("pe_array").and_then(|v| v.as_table_mut()) {
                        Some(t) => targets.push(t),
                        None => return Err(problem(set, "the core has no pe_array".into())),
                    },
                    [memory] => {
                        let found = named(c, "memory", memory);
                        if found.is_empty() {
                            return Err(problem(set, format!("no memory is named '{memory}'")));
                        }
                        targets.extend(found);
                    }
                    _ => {
                        return Err(problem(
                            set,
                            "paths are dram.FIELD, dram.timing.FIELD, noc.FIELD, CORE.FIELD, CORE.pe_array.FIELD or CORE.MEMORY.FIELD".into(),
                        ));
                    }
                }
            }
        }
    }
    for t in targets {
        t.insert(field.to_string(), value.clone());
    }
    Ok(())
}

/// `name[dram.bw_bits=32,core*.input_lb.size=16KiB]`: what a report calls overridden
/// hardware.
pub fn label(name: &str, sets: &[String]) -> String {
    if sets.is_empty() {
        name.to_string()
    } else {
        format!("{name}[{}]", sets.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        assert!(glob("core*", "core0") && glob("*", "x") && glob("c*e*", "core0"));
        assert!(!glob("core*", "dram") && !glob("core1", "core10"));
        assert!(glob("a*b*c", "aXbYbZc") && !glob("a*b*c", "aXbYbZ") && glob("**", ""));
        // Forty stars against a name they cannot match: backtracking took forever.
        let stars = "*a".repeat(40);
        assert!(!glob(&stars, &"a".repeat(39)));
        assert!(glob(&stars, &"a".repeat(40)));
    }

    #[test]
    fn a_value_is_one_line() {
        let e = "dram.bw_bits=32\nnoc.link_bw_bits=8"
            .parse::<FieldSet>()
            .expect_err("newline");
        assert!(e.contains("control character"), "{e}");
        // Two TOML keys in one value are a string (refused by the field), never the
        // first of them with the rest dropped.
        assert_eq!(
            value_of("32\nw = 1"),
            toml::Value::String("32\nw = 1".into())
        );
    }

    #[test]
    fn paths_select_tables_and_values_keep_their_type() {
        let mut doc: toml::Table = r#"
            [[core]]
            name = "core0"
            [core.pe_array]
            rows = 16
            [[core.memory]]
            name = "input_lb"
            size = "16KiB"
            [[core]]
            name = "core1"
            [core.pe_array]
            rows = 16
            [[core.memory]]
            name = "input_lb"
            size = "16KiB"
            [dram]
            bw_bits = 64
        "#
        .parse()
        .expect("toml");
        for s in [
            "dram.bw_bits=32",
            "core*.pe_array.rows=8",
            "core1.input_lb.size=8KiB",
        ] {
            apply(&mut doc, &s.parse().expect("set")).expect(s);
        }
        assert_eq!(doc["dram"]["bw_bits"].as_integer(), Some(32));
        let cores = doc["core"].as_array().expect("cores");
        assert!(
            cores
                .iter()
                .all(|c| c["pe_array"]["rows"].as_integer() == Some(8))
        );
        assert_eq!(cores[0]["memory"][0]["size"].as_str(), Some("16KiB"));
        assert_eq!(cores[1]["memory"][0]["size"].as_str(), Some("8KiB"));
        let e =
            apply(&mut doc, &"core9.pe_array.rows=8".parse().expect("set")).expect_err("no core");
        assert!(
            e.message.contains("no core is named 'core9'"),
            "{}",
            e.message
        );
        assert!("dram.bw_bits".parse::<FieldSet>().is_err());
    }
}
