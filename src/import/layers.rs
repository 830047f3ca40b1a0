//! The layers one NIR node becomes, with their shapes checked against the weights.

use super::ImportError;
use super::nir_file::NirNode;

/// A feature map between layers: where it comes from and its shape.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Value {
    /// `input` or a layer name.
    pub source: String,
    pub channels: u64,
    pub height: u64,
    pub width: u64,
}

impl Value {
    pub fn flat(&self) -> u64 {
        self.channels * self.height * self.width
    }

    fn shape(&self) -> String {
        format!("{}×{}×{}", self.channels, self.height, self.width)
    }
}

/// One layer being built.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub name: String,
    pub op: &'static str,
    pub sources: Vec<String>,
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    pub fy: u64,
    pub fx: u64,
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    /// State variables per neuron (0: stateless).
    pub states: u32,
    /// Output bits when they differ from the spikes' (`--precision o`).
    pub output_bits: Option<u32>,
    /// The neuron nodes whose state it keeps.
    pub neurons: Vec<String>,
    /// Reads its own spikes of the timestep before (`recurrence`).
    pub recurrent: bool,
    pub from: Vec<String>,
}

impl Layer {
    /// A layer of `op` over `v` that keeps its shape (no window, no weights).
    fn elementwise(name: String, op: &'static str, sources: Vec<String>, v: &Value) -> Self {
        Layer {
            name,
            op,
            sources,
            k: v.channels,
            c: v.channels,
            oy: v.height,
            ox: v.width,
            fy: 1,
            fx: 1,
            stride: [1, 1],
            padding: [0, 0],
            states: 0,
            output_bits: None,
            neurons: Vec::new(),
            recurrent: false,
            from: Vec::new(),
        }
    }

    pub fn value(&self) -> Value {
        Value {
            source: self.name.clone(),
            channels: self.k,
            height: self.oy,
            width: self.ox,
        }
    }
}

fn positive(node: &NirNode, field: &str, v: i64) -> Result<u64, ImportError> {
    u64::try_from(v)
        .ok()
        .filter(|&x| x > 0 && x <= 1 << 20)
        .ok_or_else(|| ImportError::node(node, field, format!("{v} is not a size in 1..=2^20")))
}

/// A shape parameter's sizes, each checked.
pub(super) fn sizes(node: &NirNode, field: &str) -> Result<Vec<u64>, ImportError> {
    node.int_list(field)?
        .iter()
        .map(|&v| positive(node, field, v))
        .collect()
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
    use crate::model::limits::MAX_STRIDE;
    let within = |field: &str, v: i64, min: u64| {
        u64::try_from(v)
            .ok()
            .filter(|&x| (min..=MAX_STRIDE).contains(&x))
            .ok_or_else(|| {
                ImportError::node(
                    node,
                    field,
                    format!("{v} is not a {field} in {min}..={MAX_STRIDE}"),
                )
            })
    };
    let stride = pair(node, "stride", default_stride)?;
    let padding = pair(node, "padding", 0)?;
    Ok((
        [
            within("stride", stride[0], 1)?,
            within("stride", stride[1], 1)?,
        ],
        [
            within("padding", padding[0], 0)?,
            within("padding", padding[1], 0)?,
        ],
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

/// A window layer (`conv` or a pooling) of `k` outputs over `v`.
fn windowed(
    node: &NirNode,
    op: &'static str,
    v: &Value,
    (k, c, fy, fx): (u64, u64, u64, u64),
    (stride, padding): ([u64; 2], [u64; 2]),
    field: &str,
) -> Result<Layer, ImportError> {
    Ok(Layer {
        name: node.name.clone(),
        op,
        sources: vec![v.source.clone()],
        k,
        c,
        oy: out_extent(node, field, v.height, fy, stride[0], padding[0])?,
        ox: out_extent(node, field, v.width, fx, stride[1], padding[1])?,
        fy,
        fx,
        stride,
        padding,
        states: 0,
        output_bits: None,
        neurons: Vec::new(),
        recurrent: false,
        from: vec![format!("{} '{}'", node.kind, node.name)],
    })
}

pub(super) fn conv(
    node: &NirNode,
    v: Value,
    layers: &mut Vec<Layer>,
) -> Result<Value, ImportError> {
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
    let layer = windowed(
        node,
        "conv",
        &v,
        (k, c, fy, fx),
        stride_padding(node, 1)?,
        "weight",
    )?;
    layers.push(layer);
    Ok(layers[layers.len() - 1].value())
}

pub(super) fn fc(node: &NirNode, v: Value, layers: &mut Vec<Layer>) -> Result<Value, ImportError> {
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
                "has {m} inputs, its input '{}' has {} ({})",
                v.source,
                v.flat(),
                v.shape()
            ),
        ));
    }
    let mut layer = Layer::elementwise(node.name.clone(), "fc", vec![v.source.clone()], &v);
    (layer.k, layer.c, layer.oy, layer.ox) = (n, m, 1, 1);
    layer.from = vec![format!("{} '{}'", node.kind, node.name)];
    layers.push(layer);
    Ok(layers[layers.len() - 1].value())
}

pub(super) fn pool(
    node: &NirNode,
    v: Value,
    layers: &mut Vec<Layer>,
) -> Result<Value, ImportError> {
    let kernel = pair(node, "kernel_size", 1)?;
    let [fy, fx] = [
        positive(node, "kernel_size", kernel[0])?,
        positive(node, "kernel_size", kernel[1])?,
    ];
    // A pooling window strides by its size unless told otherwise.
    let layer = windowed(
        node,
        "avg_pool",
        &v,
        (v.channels, v.channels, fy, fx),
        stride_padding(node, kernel[0])?,
        "kernel_size",
    )?;
    layers.push(layer);
    Ok(layers[layers.len() - 1].value())
}

/// A neuron node as a layer of its own; `spiking::fuse_neurons` later moves its state
/// into the layer it follows where that layer has no other reader.
pub(super) fn neuron(node: &NirNode, v: &Value, layers: &mut Vec<Layer>) -> Value {
    let mut layer = Layer::elementwise(node.name.clone(), "neuron", vec![v.source.clone()], v);
    layer.states = if node.kind == "CubaLIF" { 2 } else { 1 };
    layer.neurons = vec![node.name.clone()];
    layer.from = vec![format!("{} '{}'", node.kind, node.name)];
    layers.push(layer);
    layers[layers.len() - 1].value()
}

/// The sum of `a` and `b` as a `sew_add` layer named `name`.
pub(super) fn add(name: String, a: &Value, b: &Value, into: &str) -> Result<Layer, String> {
    if (a.channels, a.height, a.width) != (b.channels, b.height, b.width) {
        return Err(format!(
            "sums '{}' ({}) and '{}' ({}): shapes differ",
            a.source,
            a.shape(),
            b.source,
            b.shape()
        ));
    }
    let mut layer =
        Layer::elementwise(name, "sew_add", vec![a.source.clone(), b.source.clone()], a);
    layer.from = vec![format!("the inputs summed into '{into}'")];
    Ok(layer)
}
