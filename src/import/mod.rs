//! Importing networks from NIR (Neuromorphic Intermediate Representation), the graph
//! format snnTorch, Norse, Sinabs, Rockpool, Lava-dl and the SpiNNaker2 and Xylo
//! toolchains export, into a workload TOML that every command accepts.
//!
//! How nodes become layers (models/FORMAT.md has the table):
//! - a weighted node (`Conv2d`, `Affine`, `Linear`) becomes a `conv` or `fc` layer,
//!   `SumPool2d` and `AvgPool2d` an `avg_pool` layer;
//! - a neuron node (`LIF`, `IF`, `LI`, `Integrator`, `CubaLIF`) keeps its state in the
//!   layer it follows when it is that layer's only reader, and is a `neuron` layer of
//!   its own elsewhere (`spiking`); a `CubaLIF` keeps two state variables;
//! - `Flatten`, `Scale` and `Threshold` fold away;
//! - a node with several inputs sums them: `sew_add` layers, one per sum however many
//!   nodes read it (`sums`);
//! - a neuron fed back to itself through one weighted node makes its layer
//!   `recurrent` (`recurrence`);
//! - anything else (`Delay`, `Conv1d`, other cycles, dilation, groups) is refused
//!   with the node's name and field.
//!
//! Shapes come from `Input`'s shape (`input`) and each node's parameters, checked
//! against the weights' shapes. Blocks follow the network's stages (`blocks`).

mod blocks;
mod input;
mod layers;
pub mod nir_file;
mod recurrence;
mod render;
mod spiking;
mod sums;

use crate::model::Workload;
use crate::model::diag::SourceText;
use layers::{Layer, Value};
use nir_file::{NirGraph, NirNode};
use std::collections::{BTreeMap, BTreeSet};
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: not a readable NIR (HDF5) file: {message}")]
    File { path: String, message: String },
    #[error("node '{node}' ({kind}) field '{field}': {message}")]
    Node {
        node: String,
        kind: String,
        field: String,
        message: String,
    },
    #[error("graph: {0}")]
    Graph(String),
    #[error("option {option}: {message}")]
    Option {
        option: &'static str,
        message: String,
    },
    #[error("the network breaks a rule of stems workloads (in the workload it imports as): {0}")]
    Check(String),
}

impl ImportError {
    pub fn node(node: &NirNode, field: &str, message: impl Into<String>) -> Self {
        Self::Node {
            node: node.name.clone(),
            kind: node.kind.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// What the user chooses that NIR does not carry.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub name: String,
    pub timesteps: u32,
    /// Bits of w, o, v, acc.
    pub precision: [u32; 4],
    pub input_bits: u32,
    /// One block per layer, overriding the automatic blocks.
    pub blocks: Option<Vec<usize>>,
}

/// What a second Input node usually means, as seen with the exporters (README, import).
const LOST_ADDITION: &str = "If the network has a residual connection, its exporter probably lost it: snnTorch 1.0's export_to_nir (nirtorch 2.6's extract_nir_graph) drops residual additions and leaves an Input in their place; trace the network with nirtorch.torch_to_nir instead (README, \"Your own network\")";

pub(super) const NEURONS: [&str; 5] = ["LIF", "IF", "LI", "Integrator", "CubaLIF"];
const FOLDED: [&str; 3] = ["Flatten", "Scale", "Threshold"];

/// The network as the nodes are read, in graph order.
#[derive(Default)]
struct Network {
    input: Option<(String, Value)>,
    values: BTreeMap<String, Value>,
    layers: Vec<Layer>,
    sums: sums::Sums,
    /// Values the `Output` nodes read.
    outputs: BTreeSet<String>,
    notes: Vec<String>,
}

/// What an import made, in one line for the person who ran it, then the notes the
/// file carries at its top (input axes dropped).
pub fn summary(text: &str) -> String {
    let Ok(w) = Workload::parse(&SourceText::new("imported.toml", text)) else {
        return String::new();
    };
    let count = |f: &dyn Fn(&crate::model::Layer) -> bool| w.layers.iter().filter(|l| f(l)).count();
    let neurons: u64 = w.layers.iter().map(|l| l.states()).sum();
    let plural = |k: u64| if k == 1 { "" } else { "s" };
    let n = |k: usize, what: &str| format!("{k} {what}{}", plural(k as u64));
    let layers = n(w.layers.len(), "layer");
    let blocks = n(w.num_blocks, "block");
    let neuron_layers = n(
        count(&|l| l.op == crate::model::OpKind::Neuron),
        "neuron layer",
    );
    let mut out = format!(
        "{layers} in {blocks}: {} stateful ({neuron_layers}, {} recurrent), {} neuron{} with state",
        count(&|l| l.stateful),
        count(&|l| l.recurrent),
        crate::model::units::thousands(neurons),
        plural(neurons)
    );
    for note in text.lines().filter(|l| l.starts_with("# The input")) {
        out.push('\n');
        out.push_str(note.trim_start_matches("# "));
    }
    out
}

/// Converts `graph` into workload TOML text, checked by stems' own loader.
pub fn to_workload_toml(graph: &NirGraph, options: &ImportOptions) -> Result<String, ImportError> {
    // Ordered without its recurrent loops, which `recurrence::attach` puts back.
    let (cut, loops) = recurrence::cut_loops(graph);
    let order = topological(&cut)?;
    let preds = neighbours(&cut, true);
    let succs = neighbours(&cut, false);
    let mut net = Network::default();
    for name in &order {
        let node = &cut.nodes[name];
        let readers: Vec<&NirNode> = succs[name].iter().map(|r| &cut.nodes[r]).collect();
        if let Some(out) = net.read(node, &preds[name], &readers, &cut.nodes)? {
            net.values.insert(name.clone(), out);
        }
    }
    let (_, input) = net
        .input
        .ok_or_else(|| ImportError::Graph("has no Input node".into()))?;
    let mut layers = net.layers;
    spiking::fuse_neurons(&mut layers, &mut net.outputs);
    recurrence::attach(&mut layers, &loops, &graph.nodes)?;
    let [_, spike_bits, _, acc_bits] = options.precision;
    spiking::set_output_bits(&mut layers, options.input_bits, spike_bits, acc_bits);
    let blocks = blocks::blocks_of(options.blocks.as_deref(), &mut layers)?;
    let text = render::render(
        graph,
        options,
        &render::Imported {
            input: &input,
            layers: &layers,
            blocks: &blocks,
            notes: &net.notes,
        },
    );
    Workload::parse(&SourceText::new("imported.toml", &text))
        .map_err(|e| ImportError::Check(e.to_string()))?;
    Ok(text)
}

impl Network {
    /// Reads one node (its sources already read): the value it outputs, if any.
    fn read(
        &mut self,
        node: &NirNode,
        preds: &[String],
        readers: &[&NirNode],
        nodes: &BTreeMap<String, NirNode>,
    ) -> Result<Option<Value>, ImportError> {
        let inputs: Vec<Value> = preds
            .iter()
            .map(|p| self.values.get(p).cloned())
            .collect::<Option<_>>()
            .unwrap_or_default();
        let single = match inputs.len() {
            0 => None,
            1 => Some(inputs[0].clone()),
            _ => Some(self.sums.sum(node, &inputs, nodes, &mut self.layers)?),
        };
        let need = || {
            single
                .clone()
                .ok_or_else(|| ImportError::node(node, "edges", "has no input"))
        };
        let layers = &mut self.layers;
        Ok(Some(match node.kind.as_str() {
            "Input" => self.input(node, readers)?,
            // An Output in mid-graph passes its input on to whatever follows it.
            "Output" => match single {
                Some(v) => {
                    self.outputs.insert(v.source.clone());
                    v
                }
                None => return Ok(None),
            },
            "Conv2d" => layers::conv(node, need()?, layers)?,
            "Affine" | "Linear" => layers::fc(node, need()?, layers)?,
            "SumPool2d" | "AvgPool2d" => layers::pool(node, need()?, layers)?,
            k if NEURONS.contains(&k) => layers::neuron(node, &need()?, layers),
            k if FOLDED.contains(&k) => need()?,
            "Conv1d" | "Conv3d" => {
                return Err(ImportError::node(
                    node,
                    "type",
                    "stems maps 2-D convolutions only",
                ));
            }
            other => {
                return Err(ImportError::node(
                    node,
                    "type",
                    format!(
                        "stems cannot map a {other} node (supported: Input, Output, Conv2d, Affine, Linear, LIF, IF, LI, Integrator, CubaLIF, SumPool2d, AvgPool2d, Flatten, Scale, Threshold)"
                    ),
                ));
            }
        }))
    }

    fn input(&mut self, node: &NirNode, readers: &[&NirNode]) -> Result<Value, ImportError> {
        if let Some((first, _)) = &self.input {
            return Err(ImportError::Graph(format!(
                "has two Input nodes ('{first}' and '{}'); a stems workload has one network input. {LOST_ADDITION}",
                node.name
            )));
        }
        let (v, note) = input::input_value(node, readers)?;
        self.notes.extend(note);
        self.input = Some((node.name.clone(), v.clone()));
        Ok(v)
    }
}

/// Kahn's order; a cycle is a recurrent edge, which stems cannot express.
fn topological(graph: &NirGraph) -> Result<Vec<String>, ImportError> {
    for (a, b) in &graph.edges {
        for n in [a, b] {
            if !graph.nodes.contains_key(n) {
                return Err(ImportError::Graph(format!(
                    "edge {a} → {b} names no node '{n}'"
                )));
            }
        }
    }
    let readers = neighbours(graph, false);
    let mut indegree: BTreeMap<&str, usize> = graph.nodes.keys().map(|k| (k.as_str(), 0)).collect();
    for (_, b) in &graph.edges {
        if let Some(d) = indegree.get_mut(b.as_str()) {
            *d += 1;
        }
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop_first() {
        order.push(n.to_string());
        for r in readers.get(n).into_iter().flatten() {
            if let Some(d) = indegree.get_mut(r.as_str()) {
                *d -= 1;
                if *d == 0 {
                    ready.insert(r);
                }
            }
        }
    }
    // What never became ready waits on itself: a cycle.
    if let Some(node) = indegree
        .iter()
        .find(|(_, d)| **d > 0)
        .and_then(|(n, _)| graph.nodes.get(*n))
    {
        return Err(ImportError::node(
            node,
            "edges",
            "is on a recurrent edge (a cycle) stems cannot model: stems models a recurrence as a conv or fc layer's neurons fed back to themselves through one weighted node (snnTorch's RLeaky and RSynaptic)",
        ));
    }
    Ok(order)
}

/// Each node's neighbours along the edges: its sources (`incoming`) or its readers.
fn neighbours(graph: &NirGraph, incoming: bool) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = graph
        .nodes
        .keys()
        .map(|k| (k.clone(), Vec::new()))
        .collect();
    for (a, b) in &graph.edges {
        let (node, neighbour) = if incoming { (b, a) } else { (a, b) };
        m.entry(node.clone()).or_default().push(neighbour.clone());
    }
    m
}
