//! Importing networks from NIR (Neuromorphic Intermediate Representation), the graph
//! format snnTorch, Norse, Sinabs, Rockpool, Lava-dl and the SpiNNaker2 and Xylo
//! toolchains export, into a workload TOML that every command accepts.
//!
//! How nodes become layers (models/FORMAT.md has the table):
//! - a weighted node (`Conv2d`, `Affine`, `Linear`) becomes a `conv` or `fc` layer;
//!   when its only consumer is a neuron node (`LIF`, `IF`, `LI`, `Integrator`,
//!   `CubaLIF`), the layer is stateful, and a `CubaLIF` keeps two state variables
//!   (current and voltage), so its state bits double;
//! - `SumPool2d` and `AvgPool2d` become `avg_pool` layers;
//! - `Flatten`, `Scale` and `Threshold` fold away;
//! - a node with several inputs sums them: an element-wise `sew_add` layer per extra
//!   input;
//! - anything else (`Delay`, `Conv1d`, recurrent edges, dilation, groups) is refused
//!   with the node's name and field.
//!
//! Shapes come from `Input`'s shape and each node's parameters, checked against the
//! weights' shapes. Blocks follow resolution: a new block starts where a layer reads a
//! different spatial size than the block's first layer, or where the classifier
//! starts (`--blocks` overrides).

pub mod nir_file;

use crate::model::Workload;
use crate::model::diag::SourceText;
use nir_file::{NirGraph, NirNode};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

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

/// A feature map between layers: where it comes from and its shape.
#[derive(Debug, Clone, PartialEq)]
struct Value {
    /// `input` or a layer name.
    source: String,
    channels: u64,
    height: u64,
    width: u64,
}

impl Value {
    fn flat(&self) -> u64 {
        self.channels * self.height * self.width
    }
}

/// One layer being built.
#[derive(Debug, Clone)]
struct Layer {
    name: String,
    op: &'static str,
    sources: Vec<String>,
    k: u64,
    c: u64,
    oy: u64,
    ox: u64,
    fy: u64,
    fx: u64,
    stride: [u64; 2],
    padding: [u64; 2],
    /// Input resolution (for the automatic blocks).
    in_hw: (u64, u64),
    /// State variables per neuron (0: stateless).
    states: u32,
    from: Vec<String>,
}

const NEURONS: [&str; 5] = ["LIF", "IF", "LI", "Integrator", "CubaLIF"];
const FOLDED: [&str; 3] = ["Flatten", "Scale", "Threshold"];

/// Converts `graph` into workload TOML text, checked by stems' own loader.
pub fn to_workload_toml(graph: &NirGraph, options: &ImportOptions) -> Result<String, ImportError> {
    let order = topological(graph)?;
    let preds = neighbours(graph, true);
    let succs = neighbours(graph, false);
    let mut input: Option<(String, Value)> = None;
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut layers: Vec<Layer> = Vec::new();
    for name in &order {
        let node = &graph.nodes[name];
        let inputs: Vec<Value> = preds[name]
            .iter()
            .map(|p| values.get(p).cloned())
            .collect::<Option<_>>()
            .unwrap_or_default();
        // Several inputs are summed: an element-wise add layer before the node.
        let single = match inputs.len() {
            0 => None,
            1 => Some(inputs[0].clone()),
            _ => Some(add_inputs(node, &inputs, &graph.nodes, &mut layers)?),
        };
        let need = |v: &Option<Value>| {
            v.clone()
                .ok_or_else(|| ImportError::node(node, "edges", "has no input"))
        };
        let out = match node.kind.as_str() {
            "Input" => {
                if let Some((first, _)) = &input {
                    return Err(ImportError::Graph(format!(
                        "has two Input nodes ('{first}' and '{}'); a stems workload has one network input",
                        node.name
                    )));
                }
                let v = input_value(node)?;
                input = Some((node.name.clone(), v.clone()));
                v
            }
            // An Output in mid-graph passes its input on to whatever follows it.
            "Output" => match single {
                Some(v) => v,
                None => continue,
            },
            "Conv2d" => conv(node, need(&single)?, &mut layers)?,
            "Affine" | "Linear" => fc(node, need(&single)?, &mut layers)?,
            "SumPool2d" | "AvgPool2d" => pool(node, need(&single)?, &mut layers)?,
            k if NEURONS.contains(&k) => {
                let v = need(&single)?;
                neuron(node, &v, &succs, &mut layers);
                v
            }
            k if FOLDED.contains(&k) => need(&single)?,
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
        };
        values.insert(name.clone(), out);
    }
    let (_, input) = input.ok_or_else(|| ImportError::Graph("has no Input node".into()))?;
    let blocks = blocks_of(options.blocks.as_deref(), &layers)?;
    let text = render(graph, options, &input, &layers, &blocks);
    Workload::parse(&SourceText::new("imported.toml", &text))
        .map_err(|e| ImportError::Check(e.to_string()))?;
    Ok(text)
}

/// The block of each layer (of at least one, at most a workload's limit):
/// `--blocks` checked (one per layer, starting at 0, each
/// its predecessor's or the next), or found from the graph.
fn blocks_of(blocks: Option<&[usize]>, layers: &[Layer]) -> Result<Vec<usize>, ImportError> {
    if layers.is_empty() {
        return Err(ImportError::Graph("has no layer stems can cost".into()));
    }
    let max = crate::model::limits::MAX_LAYERS;
    if layers.len() > max {
        return Err(ImportError::Graph(format!(
            "imports as {} layers; a workload holds at most {max}",
            layers.len()
        )));
    }
    Ok(match blocks {
        Some(b) if b.len() != layers.len() => {
            return Err(ImportError::Option {
                option: "--blocks",
                message: format!(
                    "lists {} blocks for {} layers ({})",
                    b.len(),
                    layers.len(),
                    layers
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        Some(b) => {
            // Blocks start at 0 and grow by at most one per layer, as a workload's do.
            let bad = b.iter().enumerate().find(|&(i, &x)| {
                let before = if i == 0 { 0 } else { b[i - 1] };
                x < before || x > before + 1 || (i == 0 && x != 0)
            });
            if let Some((i, x)) = bad {
                return Err(ImportError::Option {
                    option: "--blocks",
                    message: format!(
                        "entry {} ({x}, layer '{}'): blocks start at 0 and each layer's is its predecessor's or the next",
                        i + 1,
                        layers[i].name
                    ),
                });
            }
            b.to_vec()
        }
        None => automatic_blocks(layers),
    })
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
            "is on a recurrent edge (a cycle); stems maps feed-forward networks only",
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

fn positive(node: &NirNode, field: &str, v: i64) -> Result<u64, ImportError> {
    u64::try_from(v)
        .ok()
        .filter(|&x| x > 0 && x <= 1 << 20)
        .ok_or_else(|| ImportError::node(node, field, format!("{v} is not a size in 1..=2^20")))
}

fn input_value(node: &NirNode) -> Result<Value, ImportError> {
    let field = if node.ints.contains_key("shape") {
        "shape"
    } else {
        "input_type"
    };
    let shape = node.int_list(field)?;
    let dims: Vec<u64> = shape
        .iter()
        .map(|&v| positive(node, field, v))
        .collect::<Result<_, _>>()?;
    match dims.as_slice() {
        [n] => Ok(Value {
            source: "input".into(),
            channels: *n,
            height: 1,
            width: 1,
        }),
        [c, h, w] => Ok(Value {
            source: "input".into(),
            channels: *c,
            height: *h,
            width: *w,
        }),
        _ => Err(ImportError::node(
            node,
            field,
            format!("{shape:?}: stems takes [C, H, W] or [N] inputs"),
        )),
    }
}

/// A parameter given as one integer or one per spatial axis.
fn pair(node: &NirNode, field: &str, default: i64) -> Result<[i64; 2], ImportError> {
    match node.ints.get(field).map(Vec::as_slice) {
        None => Ok([default, default]),
        Some([v]) => Ok([*v, *v]),
        Some([a, b]) => Ok([*a, *b]),
        Some(other) => Err(ImportError::node(
            node,
            field,
            format!("{other:?}: expected one value or one per axis (y, x)"),
        )),
    }
}

/// A window's (stride, padding) per axis, checked.
fn stride_padding(
    node: &NirNode,
    default_stride: i64,
) -> Result<([u64; 2], [u64; 2]), ImportError> {
    let stride = pair(node, "stride", default_stride)?;
    let padding = pair(node, "padding", 0)?;
    use crate::model::limits::MAX_STRIDE;
    let pad = |p: i64| {
        u64::try_from(p)
            .ok()
            .filter(|&x| x <= MAX_STRIDE)
            .ok_or_else(|| {
                ImportError::node(
                    node,
                    "padding",
                    format!("{p} is not a padding in 0..={MAX_STRIDE}"),
                )
            })
    };
    let step = |v: i64| {
        positive(node, "stride", v)?;
        u64::try_from(v)
            .ok()
            .filter(|&x| x <= MAX_STRIDE)
            .ok_or_else(|| {
                ImportError::node(
                    node,
                    "stride",
                    format!("{v} is not a stride in 1..={MAX_STRIDE}"),
                )
            })
    };
    Ok((
        [step(stride[0])?, step(stride[1])?],
        [pad(padding[0])?, pad(padding[1])?],
    ))
}

/// Output extent of a window `f` wide sliding by `s` over `extent` padded by `p`.
fn out_extent(
    node: &NirNode,
    field: &str,
    extent: u64,
    f: u64,
    s: u64,
    p: u64,
) -> Result<u64, ImportError> {
    (extent + 2 * p)
        .checked_sub(f)
        .map(|x| x / s + 1)
        .ok_or_else(|| {
            ImportError::node(
                node,
                field,
                format!("a {f}-wide window does not fit a {extent}-wide input"),
            )
        })
}

fn conv(node: &NirNode, v: Value, layers: &mut Vec<Layer>) -> Result<Value, ImportError> {
    let w = node.array("weight")?;
    let [k, c, fy, fx] = match w {
        [k, c, fy, fx] => [*k, *c, *fy, *fx],
        _ => {
            return Err(ImportError::node(
                node,
                "weight",
                format!("shape {w:?}: a 2-D convolution's weight is [K, C, FY, FX]"),
            ));
        }
    };
    if pair(node, "dilation", 1)? != [1, 1] {
        return Err(ImportError::node(
            node,
            "dilation",
            "stems maps undilated convolutions only",
        ));
    }
    if node.ints.get("groups").is_some_and(|g| g.as_slice() != [1]) {
        return Err(ImportError::node(
            node,
            "groups",
            "stems maps ungrouped convolutions only",
        ));
    }
    if c != v.channels {
        return Err(ImportError::node(
            node,
            "weight",
            format!(
                "has {c} input channels, its input '{}' has {}",
                v.source, v.channels
            ),
        ));
    }
    let (stride, padding) = stride_padding(node, 1)?;
    let oy = out_extent(node, "weight", v.height, fy, stride[0], padding[0])?;
    let ox = out_extent(node, "weight", v.width, fx, stride[1], padding[1])?;
    layers.push(Layer {
        name: node.name.clone(),
        op: "conv",
        sources: vec![v.source.clone()],
        k,
        c,
        oy,
        ox,
        fy,
        fx,
        stride,
        padding,
        in_hw: (v.height, v.width),
        states: 0,
        from: vec![format!("Conv2d '{}'", node.name)],
    });
    Ok(Value {
        source: node.name.clone(),
        channels: k,
        height: oy,
        width: ox,
    })
}

fn fc(node: &NirNode, v: Value, layers: &mut Vec<Layer>) -> Result<Value, ImportError> {
    let w = node.array("weight")?;
    let [n, m] = match w {
        [n, m] => [*n, *m],
        _ => {
            return Err(ImportError::node(
                node,
                "weight",
                format!("shape {w:?}: a {}'s weight is [out, in]", node.kind),
            ));
        }
    };
    if m != v.flat() {
        return Err(ImportError::node(
            node,
            "weight",
            format!(
                "has {m} inputs, its input '{}' has {} ({}×{}×{})",
                v.source,
                v.flat(),
                v.channels,
                v.height,
                v.width
            ),
        ));
    }
    layers.push(Layer {
        name: node.name.clone(),
        op: "fc",
        sources: vec![v.source.clone()],
        k: n,
        c: m,
        oy: 1,
        ox: 1,
        fy: 1,
        fx: 1,
        stride: [1, 1],
        padding: [0, 0],
        in_hw: (v.height, v.width),
        states: 0,
        from: vec![format!("{} '{}'", node.kind, node.name)],
    });
    Ok(Value {
        source: node.name.clone(),
        channels: n,
        height: 1,
        width: 1,
    })
}

fn pool(node: &NirNode, v: Value, layers: &mut Vec<Layer>) -> Result<Value, ImportError> {
    let kernel = pair(node, "kernel_size", 1)?;
    let [fy, fx] = [
        positive(node, "kernel_size", kernel[0])?,
        positive(node, "kernel_size", kernel[1])?,
    ];
    // A pooling window strides by its size unless told otherwise.
    let (stride, padding) = stride_padding(node, kernel[0])?;
    let oy = out_extent(node, "kernel_size", v.height, fy, stride[0], padding[0])?;
    let ox = out_extent(node, "kernel_size", v.width, fx, stride[1], padding[1])?;
    layers.push(Layer {
        name: node.name.clone(),
        op: "avg_pool",
        sources: vec![v.source.clone()],
        k: v.channels,
        c: v.channels,
        oy,
        ox,
        fy,
        fx,
        stride,
        padding,
        in_hw: (v.height, v.width),
        states: 0,
        from: vec![format!("{} '{}'", node.kind, node.name)],
    });
    Ok(Value {
        source: node.name.clone(),
        channels: v.channels,
        height: oy,
        width: ox,
    })
}

/// A neuron node makes the layer before it stateful when it is that layer's only
/// consumer; elsewhere (after an add, a pool or the input) its state has no layer to
/// live in, and the layer's note says so.
fn neuron(node: &NirNode, v: &Value, succs: &BTreeMap<String, Vec<String>>, layers: &mut [Layer]) {
    let states = if node.kind == "CubaLIF" { 2 } else { 1 };
    let sole = succs.get(&v.source).is_some_and(|s| s.len() == 1);
    if let Some(l) = layers.iter_mut().rev().find(|l| l.name == v.source) {
        if sole && (l.op == "conv" || l.op == "fc") && l.states == 0 {
            l.states = states;
            l.from.push(format!("{} '{}'", node.kind, node.name));
        } else {
            l.from.push(format!(
                "{} '{}' after it: its state is not modelled (stems keeps state in conv and fc layers)",
                node.kind, node.name
            ));
        }
    }
}

/// Sums several inputs into one: a `sew_add` per extra input.
fn add_inputs(
    node: &NirNode,
    inputs: &[Value],
    nodes: &BTreeMap<String, NirNode>,
    layers: &mut Vec<Layer>,
) -> Result<Value, ImportError> {
    let mut acc = inputs[0].clone();
    for (i, v) in inputs.iter().enumerate().skip(1) {
        if (v.channels, v.height, v.width) != (acc.channels, acc.height, acc.width) {
            return Err(ImportError::node(
                node,
                "edges",
                format!(
                    "sums '{}' ({}×{}×{}) and '{}' ({}×{}×{}): shapes differ",
                    acc.source,
                    acc.channels,
                    acc.height,
                    acc.width,
                    v.source,
                    v.channels,
                    v.height,
                    v.width
                ),
            ));
        }
        let base = if inputs.len() == 2 {
            format!("{}_add", node.name)
        } else {
            format!("{}_add{i}", node.name)
        };
        // A node may already carry the name (`conv3_add`): take the next free one.
        let taken = |n: &str| nodes.contains_key(n) || layers.iter().any(|l| l.name == n);
        let name = std::iter::once(base.clone())
            .chain((2..).map(|k| format!("{base}_{k}")))
            .find(|n| !taken(n))
            .unwrap_or(base);
        layers.push(Layer {
            name: name.clone(),
            op: "sew_add",
            sources: vec![acc.source.clone(), v.source.clone()],
            k: acc.channels,
            c: acc.channels,
            oy: acc.height,
            ox: acc.width,
            fy: 1,
            fx: 1,
            stride: [1, 1],
            padding: [0, 0],
            in_hw: (acc.height, acc.width),
            states: 0,
            from: vec![format!("the inputs summed into '{}'", node.name)],
        });
        acc = Value {
            source: name,
            ..acc
        };
    }
    Ok(acc)
}

/// A new block where the input resolution changes or the classifier (fc) starts.
fn automatic_blocks(layers: &[Layer]) -> Vec<usize> {
    let mut blocks = Vec::with_capacity(layers.len());
    let mut block = 0;
    let mut current: Option<(u64, u64, bool)> = None;
    for l in layers {
        let key = (l.in_hw.0, l.in_hw.1, l.op == "fc");
        match current {
            Some(c) if c == key => {}
            Some(_) => block += 1,
            None => {}
        }
        current = Some(key);
        blocks.push(block);
    }
    blocks
}

fn render(
    graph: &NirGraph,
    options: &ImportOptions,
    input: &Value,
    layers: &[Layer],
    blocks: &[usize],
) -> String {
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
    let _ = writeln!(t, "\nname = {}", toml_string(&options.name));
    let _ = writeln!(
        t,
        "description = \"{} layers imported from {} NIR nodes\"",
        layers.len(),
        graph.nodes.len()
    );
    let _ = writeln!(t, "timesteps = {}", options.timesteps);
    let _ = writeln!(
        t,
        "\n[input]\nchannels = {}\nheight = {}\nwidth = {}\nbits = {}",
        input.channels, input.height, input.width, options.input_bits
    );
    let _ = writeln!(
        t,
        "\n[defaults]\nprecision = {{ w = {w}, o = {o}, v = {v}, acc = {acc} }}"
    );
    for (l, block) in layers.iter().zip(blocks) {
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
        if l.states > 1 {
            let _ = writeln!(
                t,
                "precision = {{ v = {} }}   # {} state variables per neuron",
                v * l.states,
                l.states
            );
        }
        let _ = writeln!(
            t,
            "note = {}",
            toml_string(&format!("from {}", l.from.join(" + ")))
        );
    }
    t
}

/// `s` as a TOML string (escaped as TOML escapes, not as Rust's Debug does).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
