//! Diagnostics for input files: every problem names the file, the line (where TOML has
//! one), the element (layer, memory, core, block) and the field.
//!
//! Validation collects *all* problems of a file before failing, so a user fixes a model
//! in one round instead of one error per run.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A TOML document kept next to its parsed form so that problems can point at lines.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
}

impl SourceText {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads a file; an unreadable file is itself a one-problem [`ModelError`].
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::new(path, text)),
            Err(err) => Err(ModelError::single(
                path.display().to_string(),
                Problem::new("file", format!("cannot read: {err}")),
            )),
        }
    }

    pub fn display_path(&self) -> String {
        self.path.display().to_string()
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// End of the table whose header (or inline body) is `span`: toml spans an
    /// array-of-tables entry by its `[[header]]` only, so the body runs to the next
    /// header line or the end of the file.
    fn table_end(&self, span: &Range<usize>) -> usize {
        let from = span.end.min(self.text.len());
        let mut offset = from;
        for line in self.text[from..].split_inclusive('\n') {
            if offset > from && line.trim_start().starts_with('[') {
                return offset;
            }
            offset += line.len();
        }
        self.text.len()
    }

    /// Line of `field = ...` inside the byte range of a table, or the table's first line
    /// when the key is absent (a missing field is reported where its table starts).
    /// The name of the `[table]` or `[[table]]` header above `offset`, if any.
    pub fn header_above(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        self.text[..offset].lines().rev().find_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]"));
            let inner = inner.or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')));
            inner.map(|h| h.trim().to_string())
        })
    }

    /// The key assigned on the line containing `offset` (`k` in `k = "16"`), if any.
    pub fn key_at(&self, offset: usize) -> Option<&str> {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next()?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        let valid = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        valid.then_some(key)
    }

    pub fn field_line(&self, span: &Range<usize>, field: &str) -> usize {
        let start = span.start.min(self.text.len());
        let end = self.table_end(span);
        let mut offset = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix(field)
                && rest.trim_start().starts_with('=')
            {
                return self.line_of(offset);
            }
            offset += line.len();
        }
        // Inline tables (`precision = { w = 4 }`) put keys mid-line.
        let needle_space = format!("{field} =");
        let needle_tight = format!("{field}=");
        if let Some(pos) = self.text[start..end]
            .find(&needle_space)
            .or_else(|| self.text[start..end].find(&needle_tight))
        {
            return self.line_of(start + pos);
        }
        self.line_of(start)
    }
}

/// One problem found in an input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based line in the file, when the input is a file with lines.
    pub line: Option<usize>,
    /// What the problem is about: `layer 'conv3'`, `memory 'global_sram' of core 'core0'`.
    pub element: String,
    /// The offending field, when there is one.
    pub field: Option<String>,
    pub message: String,
}

/// Records a problem when `v` lies outside `lo..=hi` (a resolved value's limits).
pub fn check_range(
    problems: &mut Vec<Problem>,
    element: &str,
    field: &str,
    v: u64,
    (lo, hi): (u64, u64),
) {
    if v < lo || v > hi {
        problems.push(
            Problem::new(
                element,
                format!(
                    "must be between {lo} and {}, got {v}",
                    crate::model::units::thousands(hi)
                ),
            )
            .field(field),
        );
    }
}

impl Problem {
    pub fn new(element: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            line: None,
            element: element.into(),
            field: None,
            message: message.into(),
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

/// Every problem found in one input (a model file, a scenario, a command-line override).
#[derive(Debug, Clone, thiserror::Error)]
pub struct ModelError {
    /// The file path, or `command line` for overrides.
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl ModelError {
    pub fn single(origin: impl Into<String>, problem: Problem) -> Self {
        Self {
            origin: origin.into(),
            problems: vec![problem],
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in {}",
            if n == 1 { "" } else { "s" },
            self.origin
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", self.origin)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": {}", p.element)?;
            if let Some(field) = &p.field {
                write!(f, " field '{field}'")?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

/// Collects problems for one source while validating it.
pub struct Collector<'a> {
    pub source: &'a SourceText,
    pub problems: Vec<Problem>,
}

impl<'a> Collector<'a> {
    pub fn new(source: &'a SourceText) -> Self {
        Self {
            source,
            problems: Vec::new(),
        }
    }

    /// Records a problem about `field` of the element whose table spans `span`.
    pub fn at(
        &mut self,
        span: &Range<usize>,
        element: &str,
        field: &str,
        message: impl Into<String>,
    ) {
        // A dotted path (`paper.dram_reduction`) is found by its first key, which may
        // hold an inline table.
        let key = field.split('.').next().unwrap_or(field);
        let line = self.source.field_line(span, key);
        self.problems
            .push(Problem::new(element, message).field(field).at_line(line));
    }

    /// Deserializes the whole document. A problem is recorded against the failing
    /// field's dotted path (`defaults.precision.w`), at its line, in its table.
    pub fn document<T: serde::de::DeserializeOwned>(&mut self, element: &str) -> Option<T> {
        let text: &'a str = &self.source.text;
        let whole = 0..text.len();
        let de = match toml::Deserializer::parse(text) {
            Ok(de) => de,
            Err(e) => {
                self.toml_error(&e, element, &whole);
                return None;
            }
        };
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let named = backticked(inner.message()).is_some();
                self.toml_error(&inner, element, &whole);
                if !named
                    && path != "."
                    && let Some(p) = self.problems.last_mut()
                {
                    // Spanned wrappers are not fields; the element already names the table.
                    let mut keys: Vec<&str> =
                        path.split('.').filter(|k| !k.starts_with("$__")).collect();
                    let table: Vec<&str> = p.element.split('.').collect();
                    if keys.len() > table.len() && keys[..table.len()] == table[..] {
                        keys.drain(..table.len());
                    }
                    p.field = Some(keys.join("."));
                }
                if let Some(hint) = other_kind(text, element)
                    && let Some(p) = self.problems.last_mut()
                {
                    p.message.push_str(&format!("; {hint}"));
                }
                None
            }
        }
    }

    /// Deserializes one table (a layer, a memory, an experiment) on its own. A problem
    /// is recorded against the failing field's dotted path, at that field's line.
    ///
    /// Every unknown and every missing field is reported, not only the first: an
    /// unknown field is recorded and dropped (the rest of the table is still read and
    /// checked, so its other problems are found too); a missing one is recorded and
    /// stood in for while looking for more, and then the table is not resolved.
    pub fn table<T: serde::de::DeserializeOwned>(
        &mut self,
        mut table: toml::Table,
        element: &str,
        span: &Range<usize>,
    ) -> Option<T> {
        let mut unresolvable = false;
        // Stand-ins tried for a missing field, in turn, until its type is accepted.
        const STAND_INS: usize = 6;
        let mut standing_in: Option<(String, usize)> = None;
        for _ in 0..64 {
            let e =
                match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(table.clone())) {
                    Ok(v) => return (!unresolvable).then_some(v),
                    Err(e) => e,
                };
            let path = e.path().to_string();
            let raw = e.into_inner().message().trim().to_string();
            let message = with_format_hint(&raw);
            // The stand-in for a missing field has the wrong type: try the next one (for
            // a choice of names, the first name offered).
            if let Some((key, tried)) = standing_in.take()
                && path == key
            {
                if raw.starts_with("invalid type") && tried + 1 < STAND_INS {
                    table.insert(key.clone(), stand_in(tried + 1));
                    standing_in = Some((key, tried + 1));
                    continue;
                }
                if raw.starts_with("unknown variant")
                    && let Some(name) = raw
                        .split_once("expected `")
                        .and_then(|(_, r)| r.split_once('`'))
                        .map(|(n, _)| n.to_string())
                {
                    table.insert(key.clone(), toml::Value::String(name));
                    continue;
                }
            }
            self.table_problem(&message, &path, element, span);
            let named = backticked(&message);
            match named {
                Some(f)
                    if message.starts_with("unknown field")
                        && drop_key(&mut table, parent_of(&path, &f), &f) => {}
                Some(f) if message.starts_with("missing field") && path == "." => {
                    unresolvable = true;
                    table.insert(f.clone(), stand_in(0));
                    standing_in = Some((f, 0));
                }
                _ => return None,
            }
        }
        None
    }

    fn table_problem(&mut self, message: &str, path: &str, element: &str, span: &Range<usize>) {
        // Unknown and missing fields are named by the message, not the path.
        let field = backticked(message).or((path != ".").then(|| path.to_string()));
        let line = match &field {
            Some(f) => self
                .source
                .field_line(span, f.rsplit('.').next().unwrap_or(f)),
            None => self.source.line_of(span.start),
        };
        let mut problem = Problem::new(element, message).at_line(line);
        if let Some(f) = field {
            problem = problem.field(f);
        }
        self.problems.push(problem);
    }

    /// Turns a TOML/serde error into a problem with its line and, when serde names one,
    /// its field.
    pub fn toml_error(&mut self, err: &toml::de::Error, element: &str, span: &Range<usize>) {
        let message = with_format_hint(err.message().trim());
        // In a whole document, the table the error sits in names the element better.
        // An unknown table (`[defaults]` where none is allowed) belongs to the document,
        // not to the table written above it.
        let unknown_table = backticked(&message).is_some_and(|f| {
            err.span().is_some_and(|s| {
                let text = &self.source.text;
                let from = text[..s.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let line = text[from..].lines().next().unwrap_or("").trim();
                line.starts_with('[') && line.trim_start_matches('[').starts_with(f.as_str())
            })
        });
        let header = err
            .span()
            .filter(|_| !unknown_table)
            .and_then(|s| self.source.header_above(s.start));
        let element = header.as_deref().unwrap_or(element);
        // A value of the wrong type, a duplicate key: the key written where the error is.
        let field = backticked(&message).or_else(|| {
            err.span()
                .and_then(|s| self.source.key_at(s.start))
                .map(String::from)
        });
        // Spans are only meaningful when the whole document was deserialized; tables
        // deserialized on their own are located by their field name.
        let whole_document = span.start == 0 && span.end == self.source.text.len();
        let line = match (err.span(), &field) {
            (Some(s), _) if whole_document => self.source.line_of(s.start),
            (_, Some(f)) => self.source.field_line(span, f),
            _ => self.source.line_of(span.start),
        };
        let mut problem = Problem::new(element, message).at_line(line);
        if let Some(f) = field {
            problem = problem.field(f);
        }
        self.problems.push(problem);
    }

    /// The collected problems as an error (used after a problem that stops parsing).
    pub fn into_error(self) -> ModelError {
        ModelError {
            origin: self.source.display_path(),
            problems: self.problems,
        }
    }

    pub fn finish(self) -> Result<(), ModelError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ModelError {
                origin: self.source.display_path(),
                problems: self.problems,
            })
        }
    }
}

/// Points an unknown-field error at the format reference.
fn with_format_hint(message: &str) -> String {
    if message.contains("unknown field") {
        format!("{message} (every field is described in models/FORMAT.md)")
    } else if let Some(plain) = plain_type_error(message) {
        plain
    } else {
        message.to_string()
    }
}

/// serde's "invalid type: string \"abc\", expected i64" as a person says it: "expects a
/// whole number, got the string \"abc\"".
fn plain_type_error(message: &str) -> Option<String> {
    let rest = message.strip_prefix("invalid type: ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let wanted = match expected.trim() {
        "i64" | "u64" | "i32" | "u32" | "usize" | "u8" | "u16" => "a whole number",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        "a string" => "a string (in quotes)",
        "a sequence" => "a list [..]",
        other => other,
    };
    Some(format!("expects {wanted}, got {found}"))
}

/// The first `name` in serde's "unknown field `name`" / "missing field `name`" messages.
fn backticked(message: &str) -> Option<String> {
    if !(message.contains("unknown field") || message.contains("missing field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// When a file read as `expected` (workload, accelerator, scenario) is plainly another
/// kind, what it is and where it goes.
fn other_kind(text: &str, expected: &str) -> Option<String> {
    let table: toml::Table = text.parse().ok()?;
    let has = |keys: &[&str]| keys.iter().all(|k| table.contains_key(*k));
    let (kind, keys, usage) = [
        (
            "workload",
            &["timesteps", "layer"][..],
            "--workload (or `workload = ` in a scenario)",
        ),
        (
            "accelerator",
            &["core", "dram"][..],
            "--hardware (or `hardware = ` in a scenario)",
        ),
        ("scenario", &["experiment"][..], "`stems run`"),
        ("scenario", &["sweep"][..], "`stems run`"),
    ]
    .into_iter()
    .find(|(kind, keys, _)| *kind != expected && has(keys))?;
    Some(format!(
        "this file is {} {kind} ({}), not {} {expected}: give it to {usage}",
        article(kind),
        keys.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        article(expected)
    ))
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A value standing in for a missing field while the rest of a table is checked, the
/// `n`-th type tried.
fn stand_in(n: usize) -> toml::Value {
    match n {
        0 => toml::Value::Integer(0),
        1 => toml::Value::String(String::new()),
        2 => toml::Value::Array(Vec::new()),
        3 => toml::Value::Table(toml::Table::new()),
        4 => toml::Value::Boolean(false),
        _ => toml::Value::Float(0.0),
    }
}

/// The dotted path of the table holding `key`, from serde's path to it (which may or
/// may not end with the key itself).
fn parent_of<'p>(path: &'p str, key: &str) -> &'p str {
    path.strip_suffix(key)
        .map(|p| p.trim_end_matches('.'))
        .unwrap_or(path)
}

/// Removes the unknown key `key` from the (sub)table at dotted `path` of `table`;
/// whether it was there.
fn drop_key(table: &mut toml::Table, path: &str, key: &str) -> bool {
    match path.split_once('.') {
        _ if path.is_empty() || path == "." => table.remove(key).is_some(),
        Some((head, rest)) => match table.get_mut(head) {
            Some(toml::Value::Table(t)) => drop_key(t, rest, key),
            _ => false,
        },
        None => match table.get_mut(path) {
            Some(toml::Value::Table(t)) => t.remove(key).is_some(),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_line_finds_keys_in_tables_and_inline_tables() {
        let src = SourceText::new("m.toml", "a = 1\n[t]\nname = \"x\"\nk = 3\np = { w = 4 }\n");
        let span = 6..9;
        assert_eq!(src.field_line(&span, "k"), 4);
        assert_eq!(src.field_line(&span, "w"), 5);
        assert_eq!(src.field_line(&span, "missing"), 2);
    }

    #[test]
    fn backticked_extracts_serde_field_names() {
        assert_eq!(
            backticked("unknown field `kk`, expected one of `k`").as_deref(),
            Some("kk")
        );
        assert_eq!(backticked("invalid type: string"), None);
    }
}
