//! Do the figures README.md shows still come out of the command it names? Each block
//! between `<!-- generated: stems run SCENARIO --format markdown -->` and
//! `<!-- end generated -->` is compared with what that command prints (the same library
//! calls). After a deliberate change, `STEMS_BLESS=1 cargo test --release --test
//! readme_figures` rewrites the blocks; read the prose around them again.

use std::path::Path;

const BEGIN: &str = "<!-- generated: stems run ";
const END: &str = "<!-- end generated -->";

/// What `stems run SCENARIO --format markdown` prints.
fn markdown(scenario: &Path) -> String {
    let s = stems::scenario::Scenario::load(scenario).unwrap_or_else(|e| panic!("{e}"));
    let experiments = stems::scenario::run(&s, |_, _| {}).expect("experiments");
    let sweeps: Vec<(String, stems::hardware_sweep::SweepResult)> = s
        .sweeps
        .iter()
        .map(|(name, spec)| {
            let r = stems::hardware_sweep::run(spec.clone(), || {}).expect("sweep");
            (name.clone(), r)
        })
        .collect();
    stems::report::scenario::render_markdown(Some(&experiments), &sweeps)
        .trim_end()
        .to_string()
}

#[test]
fn the_readme_shows_what_its_commands_print() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let bless = std::env::var("STEMS_BLESS").is_ok();
    let mut out = String::new();
    let mut rest = readme.as_str();
    let mut stale = Vec::new();
    let mut blocks = 0;
    while let Some(at) = rest.find(BEGIN) {
        let line_end = at + rest[at..].find('\n').expect("a marker line");
        let command = &rest[at + BEGIN.len()..line_end];
        let scenario = command
            .split_whitespace()
            .next()
            .expect("the scenario of the command");
        assert!(
            command.trim_end().ends_with("--format markdown -->"),
            "{command}"
        );
        let end = line_end + rest[line_end..].find(END).expect("an end marker");
        let shown = rest[line_end + 1..end].trim_end();
        let printed = markdown(Path::new(scenario));
        if shown != printed {
            stale.push(scenario.to_string());
        }
        out.push_str(&rest[..=line_end]);
        out.push_str(&printed);
        out.push('\n');
        rest = &rest[end..];
        blocks += 1;
    }
    out.push_str(rest);
    assert!(blocks > 0, "README.md has no generated figures");
    if bless && !stale.is_empty() {
        std::fs::write("README.md", out).expect("rewrite README.md");
        return;
    }
    assert!(
        stale.is_empty(),
        "README.md's figures for {stale:?} differ from what the commands print now; \
         rerun with STEMS_BLESS=1 to rewrite them, then check the text around them"
    );
}
