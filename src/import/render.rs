//! The imported network as workload TOML text.

use super::ImportOptions;
use super::layers::{Layer, Value};
use super::nir_file::NirGraph;
use std::fmt::Write as _;

pub(super) struct Imported<'a> {
    pub input: &'a Value,
    pub layers: &'a [Layer],
    pub blocks: &'a [usize],
    /// What the import decided that the user should know (as comments at the top).
    pub notes: &'a [String],
}

pub(super) fn render(graph: &NirGraph, options: &ImportOptions, net: &Imported) -> String {
    let [w, o, v, acc] = options.precision;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Imported from NIR (version {}) by `stems import`.",
        graph.version.escape_debug()
    );
    let _ = writeln!(
        t,
        "# NIR carries no timestep count: T comes from --timesteps."
    );
    for note in net.notes {
        let _ = writeln!(t, "# {note}");
    }
    let _ = writeln!(t, "\nname = {}", toml_string(&options.name));
    let _ = writeln!(
        t,
        "description = \"{} layers imported from {} NIR nodes\"",
        net.layers.len(),
        graph.nodes.len()
    );
    let _ = writeln!(t, "timesteps = {}", options.timesteps);
    let input = net.input;
    let _ = writeln!(
        t,
        "\n[input]\nchannels = {}\nheight = {}\nwidth = {}\nbits = {}",
        input.channels, input.height, input.width, options.input_bits
    );
    let _ = writeln!(
        t,
        "\n[defaults]\nprecision = {{ w = {w}, o = {o}, v = {v}, acc = {acc} }}"
    );
    for (l, block) in net.layers.iter().zip(net.blocks) {
        layer(&mut t, l, *block, v);
    }
    t
}

fn layer(t: &mut String, l: &Layer, block: usize, v: u32) {
    let _ = writeln!(
        t,
        "\n[[layer]]\nname = {}\nop = {}\nblock = {block}",
        toml_string(&l.name),
        toml_string(l.op)
    );
    let sources: Vec<String> = l.sources.iter().map(|s| toml_string(s)).collect();
    let _ = writeln!(t, "sources = [{}]", sources.join(", "));
    let _ = writeln!(
        t,
        "k = {}\nc = {}\noy = {}\nox = {}\nfy = {}\nfx = {}",
        l.k, l.c, l.oy, l.ox, l.fy, l.fx
    );
    if l.stride != [1, 1] {
        let _ = writeln!(t, "stride = [{}, {}]", l.stride[0], l.stride[1]);
    }
    if l.padding != [0, 0] {
        let _ = writeln!(t, "padding = [{}, {}]", l.padding[0], l.padding[1]);
    }
    if l.states > 0 {
        let _ = writeln!(t, "stateful = true");
    }
    if l.recurrent {
        let _ = writeln!(t, "recurrent = true");
    }
    let mut precision = Vec::new();
    if let Some(o) = l.output_bits {
        precision.push(format!("o = {o}"));
    }
    if l.states > 1 {
        precision.push(format!("v = {}", v * l.states));
    }
    if !precision.is_empty() {
        // A stateful layer fires spikes, so only a stateless one has `o` set.
        let why = if l.states > 1 {
            format!("{} state variables per neuron", l.states)
        } else {
            "its output is a sum or a value, not spikes".to_string()
        };
        let _ = writeln!(t, "precision = {{ {} }}   # {why}", precision.join(", "));
    }
    let _ = writeln!(
        t,
        "note = {}",
        toml_string(&format!("from {}", l.from.join(" + ")))
    );
}

/// `s` as a TOML string (escaped as TOML escapes, not as Rust's Debug does).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
