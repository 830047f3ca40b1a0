//! Workloads: a DAG of SNN layers over `T` timesteps, read from TOML in three steps —
//! serde structs that deny unknown fields, a validation pass that reports every problem
//! with its line, and the resolved [`Workload`] with integer layer ids.

use super::activity::Densities;
use super::diag::{Collector, ModelError, Problem, SourceText, check_range};
use super::limits::*;
pub use super::source::Source;
use super::units::thousands;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// The four operands of a layer: weights, input features, output features, neuron state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operand {
    W,
    I,
    O,
    V,
}

impl Operand {
    pub const ALL: [Operand; 4] = [Operand::W, Operand::I, Operand::O, Operand::V];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Operand::W => "W",
            Operand::I => "I",
            Operand::O => "O",
            Operand::V => "V",
        }
    }
}

/// Layer operators. Conv and fully connected reduce over C·FY·FX with weights; the
/// element-wise and pooling operators have no weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Conv,
    Fc,
    SewAdd,
    SewOr,
    MaxPool,
    AvgPool,
    /// A layer of neurons that integrate their one input element-wise: a neuron that
    /// does not directly follow the layer whose output it integrates.
    Neuron,
    /// Activation × activation (spiking self-attention): per head, the left source's
    /// tokens × the right source's matrix, the right source being the W operand
    /// (`attention` has the rules).
    Matmul,
}

impl OpKind {
    pub const ALL: [OpKind; 8] = [
        OpKind::Conv,
        OpKind::Fc,
        OpKind::SewAdd,
        OpKind::SewOr,
        OpKind::MaxPool,
        OpKind::AvgPool,
        OpKind::Neuron,
        OpKind::Matmul,
    ];

    const NAMES: [(&'static str, OpKind); 8] = [
        ("conv", OpKind::Conv),
        ("fc", OpKind::Fc),
        ("sew_add", OpKind::SewAdd),
        ("sew_or", OpKind::SewOr),
        ("max_pool", OpKind::MaxPool),
        ("avg_pool", OpKind::AvgPool),
        ("neuron", OpKind::Neuron),
        ("matmul", OpKind::Matmul),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Conv and fully connected: stored weights, a weighted reduction that runs on the
    /// PE array as MACs (multi-bit inputs) or SOPs (spike inputs).
    pub fn has_weights(self) -> bool {
        matches!(self, OpKind::Conv | OpKind::Fc)
    }

    /// A reduction on the PE array with a W operand: conv and fc (stored weights) and
    /// matmul (whose W operand is another layer's output).
    pub fn is_reduction(self) -> bool {
        self.has_weights() || self == OpKind::Matmul
    }

    /// Element-wise: output (k, y, x) reads (k, y, x) of each source; `c` counts the
    /// sources.
    pub fn is_elementwise(self) -> bool {
        matches!(self, OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron)
    }

    /// How many sources the operator reads.
    pub fn sources(self) -> usize {
        match self {
            OpKind::SewAdd | OpKind::SewOr | OpKind::Matmul => 2,
            _ => 1,
        }
    }

    /// Input channels a tile of `k` output channels reads over a reduction extent `c`
    /// (element-wise: `c` sources of `k` channels; pooling is depthwise).
    pub fn input_channels(self, k: u64, c: u64) -> u64 {
        match self {
            OpKind::Conv | OpKind::Fc | OpKind::Matmul => c,
            OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron => k * c,
            OpKind::MaxPool | OpKind::AvgPool => k,
        }
    }

    /// Operations besides the weighted reduction per output and timestep, for a
    /// reduction extent `c` (element-wise: the sources) and `taps` window positions:
    /// combining the sources, the window's comparisons or sums, or a neuron layer's
    /// integration of its input into its state. The update of a neuron fused into a
    /// weighted layer is not an operation of its own (the paper ignores the
    /// activation beside the integration, which the reduction already counts).
    pub fn other_ops_per_output(self, c: u64, taps: u64) -> u64 {
        match self {
            OpKind::Conv | OpKind::Fc | OpKind::Matmul => 0,
            OpKind::SewAdd | OpKind::SewOr => c - 1,
            OpKind::Neuron => c,
            OpKind::MaxPool | OpKind::AvgPool => taps,
        }
    }

    pub fn is_pool(self) -> bool {
        matches!(self, OpKind::MaxPool | OpKind::AvgPool)
    }
}

/// Loop sizes of one timestep of a layer. Element-wise and pooling layers have `c == k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dims {
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    pub fy: u64,
    pub fx: u64,
}

/// Operand precisions in bits. `v` is 0 for stateless layers, `w` is 0 for layers
/// without weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Precision {
    pub w: u32,
    pub i: u32,
    pub o: u32,
    pub v: u32,
    pub acc: u32,
}

/// The network input tensor (one per timestep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkInput {
    pub name: String,
    pub channels: u64,
    pub height: u64,
    pub width: u64,
    pub bits: u32,
}

impl NetworkInput {
    pub fn bits_per_timestep(&self) -> u64 {
        self.channels * self.height * self.width * self.bits as u64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub id: usize,
    pub name: String,
    pub op: OpKind,
    pub dims: Dims,
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    pub precision: Precision,
    pub stateful: bool,
    /// Reads its own previous timestep's output through recurrent weights (a recurrent
    /// SNN layer; `recurrence` has what that means for tiles and cuts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurrent: bool,
    /// A matmul's heads: independent products over equal slices of the channels.
    #[serde(default = "one_head", skip_serializing_if = "is_one_head")]
    pub heads: u64,
    /// A matmul reads its right source transposed (Q·Kᵀ: the right source's tokens are
    /// the output channels; otherwise they are the reduction).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transpose_right: bool,
    pub sources: Vec<Source>,
    pub block: usize,
    /// The density of the layer's input as the file states it (its own `activity`, or
    /// none: then `[defaults]`, another reader of the same tensor, or dense). What the
    /// stages use is `Workload::densities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<f64>,
}

fn one_head() -> u64 {
    1
}

fn is_one_head(h: &u64) -> bool {
    *h == 1
}

impl Layer {
    /// The channels a weighted layer reduces over: its source's, and its own output's
    /// when it is recurrent (the recurrent weights see the previous timestep's spikes
    /// through the layer's own kernel, as if concatenated to the input); a matmul's
    /// one head's share of its left source's channels.
    pub fn reduction_channels(&self) -> u64 {
        if self.op == OpKind::Matmul {
            return self.dims.c / self.heads.max(1);
        }
        self.dims.c + if self.recurrent { self.dims.k } else { 0 }
    }

    /// Operations of one timestep that run on the PE array as reductions.
    pub fn reduction_ops_per_timestep(&self) -> u64 {
        if self.op.is_reduction() {
            let d = &self.dims;
            d.k * self.reduction_channels() * d.oy * d.ox * d.fy * d.fx
        } else {
            0
        }
    }

    /// Inputs wider than one bit make the reduction MACs; spikes make it SOPs.
    pub fn spiking_input(&self) -> bool {
        self.precision.i == 1
    }

    pub fn macs_per_timestep(&self) -> u64 {
        if self.spiking_input() {
            0
        } else {
            self.reduction_ops_per_timestep()
        }
    }

    pub fn sops_per_timestep(&self) -> u64 {
        if self.spiking_input() {
            self.reduction_ops_per_timestep()
        } else {
            0
        }
    }

    /// Element-wise combinations and pooling-window operations.
    pub fn other_ops_per_timestep(&self) -> u64 {
        let d = &self.dims;
        let c = if self.op.is_elementwise() {
            self.sources.len() as u64
        } else {
            d.c
        };
        self.output_neurons() * self.op.other_ops_per_output(c, d.fy * d.fx)
    }

    pub fn weights(&self) -> u64 {
        let d = &self.dims;
        if self.op.has_weights() {
            d.k * self.reduction_channels() * d.fy * d.fx
        } else {
            0
        }
    }

    pub fn weight_bits(&self) -> u64 {
        self.weights() * self.precision.w as u64
    }

    pub fn output_neurons(&self) -> u64 {
        self.dims.k * self.dims.oy * self.dims.ox
    }

    pub fn states(&self) -> u64 {
        if self.stateful {
            self.output_neurons()
        } else {
            0
        }
    }

    pub fn state_bits(&self) -> u64 {
        self.states() * self.precision.v as u64
    }

    pub fn output_bits_per_timestep(&self) -> u64 {
        self.output_neurons() * self.precision.o as u64
    }

    /// Input range `[lo, hi)` along one axis read by outputs `[o_lo, o_hi)`, clipped to
    /// an input of extent `input_extent` (padding is not stored).
    pub fn input_range(&self, axis: usize, o_lo: u64, o_hi: u64, input_extent: u64) -> Range<u64> {
        if o_hi <= o_lo {
            return 0..0;
        }
        let f = if axis == 0 {
            self.dims.fy
        } else {
            self.dims.fx
        };
        let s = self.stride[axis];
        let p = self.padding[axis];
        let lo = (o_lo * s).saturating_sub(p);
        let hi = ((o_hi - 1) * s + f).saturating_sub(p).min(input_extent);
        lo.min(hi)..hi
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub description: Option<String>,
    pub timesteps: u32,
    pub input: NetworkInput,
    pub layers: Vec<Layer>,
    pub num_blocks: usize,
    /// For each layer, the layers that read its output (in id order).
    pub consumers: Vec<Vec<usize>>,
    /// Blocks whose neuron state an override removed (the SEW-X ablation).
    #[serde(default)]
    pub stateless_blocks: Vec<usize>,
    /// The density of every feature tensor (absent: all dense).
    #[serde(default, skip_serializing_if = "Densities::is_dense")]
    pub densities: Densities,
}

/// Shape of a feature tensor of one timestep: channels, height, width, bits per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureShape {
    pub channels: u64,
    pub height: u64,
    pub width: u64,
    pub bits: u32,
}

impl Workload {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let source = SourceText::read(path)?;
        Self::parse(&source)
    }

    /// Checks a resolved workload that did not come from TOML (e.g. embedded in a saved
    /// Schedule): sizes positive, sources and blocks in range, layers in order.
    /// Checks a resolved workload that did not come from TOML (e.g. embedded in a saved
    /// Schedule) by the same rules as a file: limits, ids, execution order, contiguous
    /// blocks, consumers, and shapes and precisions that agree.
    pub fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        self.check_sizes(&mut p);
        for (idx, l) in self.layers.iter().enumerate() {
            self.check_layer(idx, l, &mut p);
        }
        self.check_blocks(&mut p);
        for l in &self.layers {
            if l.heads == 0 || (l.op != OpKind::Matmul && (l.heads != 1 || l.transpose_right)) {
                let message =
                    "heads or transpose_right on a layer that is not a matmul (or 0 heads)";
                p.push(Problem::new(format!("layer '{}'", l.name), message).field("heads"));
            }
        }
        if !p.is_empty() {
            return p;
        }
        self.check_consumers(&mut p);
        for (id, field, message) in shape_problems(self) {
            p.push(Problem::new(format!("layer '{}'", self.layers[id].name), message).field(field));
        }
        p
    }

    /// Timesteps, layer count, the input tensor and the block count within range.
    fn check_sizes(&self, p: &mut Vec<Problem>) {
        check_range(
            p,
            "workload",
            "timesteps",
            self.timesteps as u64,
            (1, MAX_TIMESTEPS),
        );
        check_range(
            p,
            "workload",
            "layers",
            self.layers.len() as u64,
            (1, MAX_LAYERS as u64),
        );
        let i = &self.input;
        for (field, v) in [
            ("channels", i.channels),
            ("height", i.height),
            ("width", i.width),
        ] {
            check_range(p, "input", field, v, (1, MAX_DIM));
        }
        check_range(p, "input", "bits", i.bits as u64, (1, MAX_PRECISION_BITS));
        check_range(
            p,
            "workload",
            "num_blocks",
            self.num_blocks as u64,
            (1, self.layers.len().max(1) as u64),
        );
    }

    /// One layer's dimensions, precisions, block and sources.
    fn check_layer(&self, idx: usize, l: &Layer, p: &mut Vec<Problem>) {
        let el = format!("layer '{}'", l.name);
        let d = &l.dims;
        for (field, v) in [
            ("k", d.k),
            ("c", d.c),
            ("oy", d.oy),
            ("ox", d.ox),
            ("fy", d.fy),
            ("fx", d.fx),
        ] {
            check_range(p, &el, field, v, (1, MAX_DIM));
        }
        for v in l.stride {
            check_range(p, &el, "stride", v, (1, MAX_STRIDE));
        }
        for v in l.padding {
            check_range(p, &el, "padding", v, (0, MAX_STRIDE));
        }
        let pr = &l.precision;
        for (field, v) in [
            ("w", pr.w),
            ("i", pr.i),
            ("o", pr.o),
            ("v", pr.v),
            ("acc", pr.acc),
        ] {
            check_range(p, &el, field, v as u64, (0, MAX_PRECISION_BITS));
        }
        for (what, bits) in [
            (
                "weights",
                d.k.checked_mul(d.c)
                    .and_then(|x| x.checked_mul(d.fy * d.fx)),
            ),
            (
                "outputs",
                d.k.checked_mul(d.oy).and_then(|x| x.checked_mul(d.ox)),
            ),
        ] {
            if bits
                .and_then(|b| b.checked_mul(64))
                .is_none_or(|b| b > MAX_LAYER_BITS * 64)
            {
                p.push(
                    Problem::new(&el, format!("its {what} exceed what stems models")).field("k"),
                );
            }
        }
        if l.id != idx || l.block >= self.num_blocks.max(1) {
            p.push(Problem::new(&el, "id or block out of range").field("block"));
        }
        if idx > 0
            && !(self.layers[idx - 1].block..=self.layers[idx - 1].block + 1).contains(&l.block)
        {
            p.push(Problem::new(&el, "blocks are not contiguous in layer order").field("block"));
        }
        if l.sources.is_empty() {
            p.push(Problem::new(&el, "has no source").field("sources"));
        }
        for s in &l.sources {
            if let Source::Layer(j) = s
                && *j >= idx
            {
                p.push(
                    Problem::new(
                        &el,
                        format!("reads layer {j}, which does not come before it"),
                    )
                    .field("sources"),
                );
            }
        }
        if pr.o == 0 || pr.i == 0 || (l.stateful && pr.v == 0) {
            p.push(Problem::new(&el, "a needed precision is 0").field("precision"));
        }
    }

    /// Blocks run from 0 to `num_blocks` − 1 and the stateless ones exist.
    fn check_blocks(&self, p: &mut Vec<Problem>) {
        if self.layers.first().is_some_and(|l| l.block != 0)
            || self
                .layers
                .last()
                .is_some_and(|l| l.block + 1 != self.num_blocks)
        {
            p.push(
                Problem::new("workload", "blocks must run from 0 to num_blocks − 1")
                    .field("num_blocks"),
            );
        }
        if let Some(b) = self
            .stateless_blocks
            .iter()
            .find(|&&b| b >= self.num_blocks)
        {
            p.push(
                Problem::new("workload", format!("stateless block {b} does not exist"))
                    .field("stateless_blocks"),
            );
        }
    }

    /// The consumer lists are those the layers' sources imply.
    fn check_consumers(&self, p: &mut Vec<Problem>) {
        let mut consumers = vec![Vec::new(); self.layers.len()];
        for l in &self.layers {
            for s in &l.sources {
                if let Source::Layer(j) = s {
                    consumers[*j].push(l.id);
                }
            }
        }
        if consumers != self.consumers {
            p.push(
                Problem::new(
                    "workload",
                    "consumer lists do not match the layers' sources",
                )
                .field("consumers"),
            );
        }
    }

    pub fn layer_by_name(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The density of a layer's input, over its sources (weighted by their sizes) and
    /// timesteps `t`: the layer's `activity`.
    pub fn input_density(&self, layer: usize, t: std::ops::Range<u32>) -> f64 {
        let d = &self.densities;
        let l = &self.layers[layer];
        if d.tensors.is_empty() {
            return 1.0;
        }
        if let ([s], false) = (l.input_sources(), l.recurrent) {
            return d.of(*s, t);
        }
        let (mut sum, mut weight) = (0.0, 0.0);
        for &s in l.input_sources() {
            let shape = self.source_shape(s);
            let n = (shape.channels * shape.height * shape.width) as f64;
            sum += n * d.of(s, t.clone());
            weight += n;
        }
        if l.recurrent {
            // Its own spikes of the timestep before: none before the first timestep.
            let n = l.output_neurons() as f64;
            let earlier = t.start.saturating_sub(1)..t.end - 1;
            let fired = (earlier.end - earlier.start) as f64;
            let density = if fired > 0.0 {
                d.of(Source::Layer(layer), earlier) * fired / (t.end - t.start) as f64
            } else {
                0.0
            };
            sum += n * density;
            weight += n;
        }
        if weight > 0.0 { sum / weight } else { 1.0 }
    }

    pub fn source_shape(&self, source: Source) -> FeatureShape {
        match source {
            Source::NetworkInput => FeatureShape {
                channels: self.input.channels,
                height: self.input.height,
                width: self.input.width,
                bits: self.input.bits,
            },
            Source::Layer(id) => {
                let l = &self.layers[id];
                FeatureShape {
                    channels: l.dims.k,
                    height: l.dims.oy,
                    width: l.dims.ox,
                    bits: l.precision.o,
                }
            }
        }
    }

    pub fn source_name(&self, source: Source) -> &str {
        match source {
            Source::NetworkInput => &self.input.name,
            Source::Layer(id) => &self.layers[id].name,
        }
    }

    /// Layers whose output nobody reads: the network outputs, which end in DRAM.
    pub fn is_network_output(&self, layer: usize) -> bool {
        self.consumers[layer].is_empty()
    }

    pub fn block_layers(&self, block: usize) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(move |l| l.block == block)
    }

    /// Sets the density of every tensor `layer` reads (an override: other readers of
    /// those tensors see it too).
    pub fn set_layer_activity(&mut self, layer: &str, activity: f64) -> Result<(), ModelError> {
        let problem = |m: String| ModelError {
            origin: "activity override".into(),
            problems: vec![Problem::new(format!("layer '{layer}'"), m).field("activity")],
        };
        if !(0.0..=1.0).contains(&activity) {
            return Err(problem(format!("must be within 0..=1, got {activity}")));
        }
        let Some(l) = self.layer_by_name(layer) else {
            return Err(problem(format!(
                "workload '{}' has no such layer",
                self.name
            )));
        };
        let sources = l.sources.clone();
        let tensors = self.layers.len() + 1;
        for s in sources {
            self.densities.set(s, vec![activity], tensors);
        }
        Ok(())
    }

    /// The SEW-X ablation: the listed blocks lose their neuron state; their layers keep
    /// their shapes and spike outputs.
    pub fn make_blocks_stateless(&mut self, blocks: &[usize]) -> Result<(), ModelError> {
        let problems: Vec<Problem> = blocks
            .iter()
            .filter(|&&b| b >= self.num_blocks)
            .map(|b| {
                Problem::new(
                    format!("block {b}"),
                    format!(
                        "workload '{}' has blocks 0..={} only",
                        self.name,
                        self.num_blocks.saturating_sub(1)
                    ),
                )
                .field("stateless_blocks")
            })
            .collect();
        if !problems.is_empty() {
            return Err(ModelError {
                origin: "stateless-blocks override".into(),
                problems,
            });
        }
        for layer in &mut self.layers {
            if blocks.contains(&layer.block) {
                layer.stateful = false;
                layer.precision.v = 0;
            }
        }
        self.stateless_blocks.extend_from_slice(blocks);
        self.stateless_blocks.sort_unstable();
        self.stateless_blocks.dedup();
        Ok(())
    }

    pub fn parse(source: &SourceText) -> Result<Self, ModelError> {
        let mut diag = Collector::new(source);
        let Some(raw) = diag.document::<RawWorkload>("workload") else {
            return Err(diag.into_error());
        };
        let workload = resolve(raw, &mut diag);
        diag.finish()?;
        workload.ok_or_else(|| {
            ModelError::single(
                source.display_path(),
                Problem::new("workload", "could not be resolved"),
            )
        })
    }
}

// ---------------------------------------------------------------------------------------
// Step 1: serde structs exactly as written in TOML.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: String,
    #[serde(default)]
    description: Option<String>,
    timesteps: i64,
    input: toml::Spanned<RawInput>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    layer: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    #[serde(default = "default_input_name")]
    name: String,
    channels: i64,
    height: i64,
    width: i64,
    bits: i64,
}

fn default_input_name() -> String {
    "input".into()
}

/// Values every layer inherits unless it sets its own.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    precision: RawPrecision,
    activity: Option<f64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawPrecision {
    w: Option<i64>,
    i: Option<i64>,
    o: Option<i64>,
    v: Option<i64>,
    acc: Option<i64>,
}

impl RawPrecision {
    fn over(self, base: RawPrecision) -> RawPrecision {
        RawPrecision {
            w: self.w.or(base.w),
            i: self.i.or(base.i),
            o: self.o.or(base.o),
            v: self.v.or(base.v),
            acc: self.acc.or(base.acc),
        }
    }
}

/// A stride or padding: one integer for both axes, or `[y, x]`.
#[derive(Clone, Copy)]
enum Pair {
    Same(i64),
    YX([i64; 2]),
}

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pair;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, or two integers [y, x]")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Pair, E> {
                Ok(Pair::Same(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Pair, E> {
                Ok(Pair::Same(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Pair, A::Error> {
                let mut yx = [0i64; 2];
                for (i, v) in yx.iter_mut().enumerate() {
                    *v = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(3, &self));
                }
                Ok(Pair::YX(yx))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Pair {
    fn yx(self) -> [i64; 2] {
        match self {
            Pair::Same(v) => [v, v],
            Pair::YX(p) => p,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    op: String,
    block: i64,
    sources: Vec<String>,
    k: Option<i64>,
    c: Option<i64>,
    oy: Option<i64>,
    ox: Option<i64>,
    fy: Option<i64>,
    fx: Option<i64>,
    stride: Option<Pair>,
    padding: Option<Pair>,
    #[serde(default)]
    stateful: bool,
    #[serde(default)]
    recurrent: bool,
    heads: Option<i64>,
    transpose_right: Option<bool>,
    #[serde(default)]
    precision: RawPrecision,
    activity: Option<f64>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for people reading the TOML
    note: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Step 2 and 3: validate and resolve.

struct Pending {
    raw: RawLayer,
    span: Range<usize>,
    element: String,
}

fn resolve(raw: RawWorkload, diag: &mut Collector) -> Option<Workload> {
    let whole = 0..diag.source.text.len();
    if raw.timesteps < 1 || raw.timesteps as u64 > MAX_TIMESTEPS {
        diag.at(
            &whole,
            "workload",
            "timesteps",
            format!(
                "must be between 1 and {MAX_TIMESTEPS}, got {}",
                raw.timesteps
            ),
        );
    }
    let input = resolve_input(raw.input, diag);
    let defaults = raw.defaults.precision;
    let default_activity = raw.defaults.activity;
    if let Some(a) = default_activity {
        check_activity(diag, &whole, "defaults", a);
    }

    if raw.layer.is_empty() {
        diag.at(&whole, "workload", "layer", "has no [[layer]] tables");
    }
    if raw.layer.len() > MAX_LAYERS {
        diag.at(
            &whole,
            "workload",
            "layer",
            format!(
                "has {} layers (limit {})",
                thousands(raw.layer.len() as u64),
                thousands(MAX_LAYERS as u64)
            ),
        );
        return None;
    }

    let (pending, unparsed) = parse_layers(raw.layer, diag);
    let ids = check_names(&pending, &input, diag);
    let mut layers = Vec::with_capacity(pending.len());
    for (id, p) in pending.iter().enumerate() {
        layers.push(resolve_layer(
            id, p, &ids, &unparsed, &input, defaults, diag,
        ));
    }
    // Problems that left every layer resolvable (an unknown field, dropped) do not stop
    // the checks across layers: they may find more.
    let before = diag.problems.len();
    if !unparsed.is_empty() {
        return None;
    }
    let layers: Vec<Layer> = layers.into_iter().collect::<Option<_>>()?;

    check_acyclic_and_ordered(&layers, &pending, diag);
    let num_blocks = check_blocks(&layers, &pending, diag);
    if diag.problems.len() > before {
        return None;
    }

    let mut workload = Workload {
        name: raw.name,
        description: raw.description,
        timesteps: raw.timesteps as u32,
        input,
        consumers: vec![Vec::new(); layers.len()],
        layers,
        num_blocks,
        stateless_blocks: Vec::new(),
        densities: Densities::default(),
    };
    for layer in &workload.layers {
        for s in &layer.sources {
            if let Source::Layer(p) = s {
                workload.consumers[*p].push(layer.id);
            }
        }
    }
    check_shapes(&mut workload, &pending, diag);
    resolve_densities(&mut workload, default_activity, &pending, diag);
    if diag.problems.is_empty() {
        Some(workload)
    } else {
        None
    }
}

/// The network input tensor, each field within range (clamped into it when not, after
/// the problem is reported, so that the layers can still be checked).
fn resolve_input(raw: toml::Spanned<RawInput>, diag: &mut Collector) -> NetworkInput {
    let input_span = raw.span();
    let ri = raw.into_inner();
    for (field, value, max) in [
        ("channels", ri.channels, MAX_DIM),
        ("height", ri.height, MAX_DIM),
        ("width", ri.width, MAX_DIM),
        ("bits", ri.bits, MAX_PRECISION_BITS),
    ] {
        if value < 1 || value as u64 > max {
            diag.at(
                &input_span,
                "input",
                field,
                format!("must be between 1 and {}, got {value}", thousands(max)),
            );
        }
    }
    let input = NetworkInput {
        name: ri.name,
        channels: ri.channels.clamp(1, MAX_DIM as i64) as u64,
        height: ri.height.clamp(1, MAX_DIM as i64) as u64,
        width: ri.width.clamp(1, MAX_DIM as i64) as u64,
        bits: ri.bits.clamp(1, MAX_PRECISION_BITS as i64) as u32,
    };
    if input.bits_per_timestep() > MAX_LAYER_BITS {
        diag.at(
            &input_span,
            "input",
            "channels",
            format!(
                "{} bits per timestep is more than stems models ({})",
                thousands(input.bits_per_timestep()),
                thousands(MAX_LAYER_BITS)
            ),
        );
    }
    input
}

/// Each `[[layer]]` table deserialized on its own, so that one bad layer does not hide
/// the others; returns the layers that parsed and the names of those that did not
/// (reported once here; references to them are not errors).
fn parse_layers(
    tables: Vec<toml::Spanned<toml::Table>>,
    diag: &mut Collector,
) -> (Vec<Pending>, Vec<String>) {
    let mut pending = Vec::new();
    let mut unparsed: Vec<String> = Vec::new();
    for (index, table) in tables.into_iter().enumerate() {
        let span = table.span();
        let table = table.into_inner();
        let element = match table.get("name").and_then(|v| v.as_str()) {
            Some(name) => format!("layer '{name}'"),
            None => format!("layer #{}", index + 1),
        };
        let name = table.get("name").and_then(|v| v.as_str()).map(String::from);
        match diag.table::<RawLayer>(table, &element, &span) {
            Some(raw) => pending.push(Pending { raw, span, element }),
            None => unparsed.extend(name),
        }
    }
    (pending, unparsed)
}

/// Layer ids by name: names distinct and not the network input's.
fn check_names<'p>(
    pending: &'p [Pending],
    input: &NetworkInput,
    diag: &mut Collector,
) -> HashMap<&'p str, usize> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (id, p) in pending.iter().enumerate() {
        if p.raw.name == input.name {
            diag.at(
                &p.span,
                &p.element,
                "name",
                format!("'{}' is the network input's name", input.name),
            );
        }
        if let Some(prev) = ids.insert(p.raw.name.as_str(), id) {
            diag.at(
                &p.span,
                &p.element,
                "name",
                format!("duplicate layer name (first used by layer #{})", prev + 1),
            );
        }
    }

    ids
}

/// Where a layer's problems are reported: its table in the file.
struct At<'a, 'src> {
    diag: &'a mut Collector<'src>,
    span: &'a Range<usize>,
    el: &'a str,
}

impl At<'_, '_> {
    fn say(&mut self, field: &str, message: impl Into<String>) {
        self.diag.at(self.span, self.el, field, message);
    }
}

fn resolve_layer(
    id: usize,
    p: &Pending,
    ids: &HashMap<&str, usize>,
    unparsed: &[String],
    input: &NetworkInput,
    defaults: RawPrecision,
    diag: &mut Collector,
) -> Option<Layer> {
    let raw = &p.raw;
    let before = diag.problems.len();
    let mut at = At {
        diag,
        span: &p.span,
        el: p.element.as_str(),
    };
    let (op, dims) = resolve_op_and_dims(raw, &mut at);
    let stride = window_pair(&mut at, "stride", raw.stride, 1, 1);
    let padding = window_pair(&mut at, "padding", raw.padding, 0, 0);
    let sources = resolve_sources(id, raw, op, (ids, unparsed, input), &mut at)?;
    let precision = resolve_precision(raw, op, defaults, &mut at);
    if raw.block < 0 {
        at.say("block", format!("must be at least 0, got {}", raw.block));
    }
    if let Some(a) = raw.activity {
        check_activity(at.diag, at.span, at.el, a);
    }
    if raw.recurrent {
        check_recurrent(op, raw.stateful, stride, &mut at);
    }
    let heads = resolve_matmul_fields(raw, op, (stride, padding), &mut at);
    check_layer_sizes(&dims, &precision, &mut at);
    if at.diag.problems.len() != before {
        return None;
    }
    Some(Layer {
        id,
        name: raw.name.clone(),
        op,
        dims,
        stride,
        padding,
        precision,
        stateful: raw.stateful,
        recurrent: raw.recurrent,
        heads,
        transpose_right: raw.transpose_right.unwrap_or(false),
        sources,
        block: raw.block as usize,
        activity: raw.activity,
    })
}

/// A recurrent layer is a stateful conv or fc; a conv's recurrence goes through its own
/// kernel over its own output, so it cannot stride (its size is checked against its
/// source's in `source_problems`).
fn check_recurrent(op: OpKind, stateful: bool, stride: [u64; 2], at: &mut At) {
    if !op.has_weights() {
        at.say(
            "recurrent",
            format!(
                "only conv and fc layers have recurrent weights, not '{}'",
                op.name()
            ),
        );
    } else if !stateful {
        at.say(
            "recurrent",
            "a recurrent layer feeds back its neurons' spikes: it needs stateful = true",
        );
    }
    if op == OpKind::Conv && stride != [1, 1] {
        at.say(
            "recurrent",
            "a recurrent conv reads its own output through its own kernel: stride must be 1",
        );
    }
}

/// A matmul's heads (1 when not given) and transposition; other operators have
/// neither, nor does a matmul stride or pad (its tokens are read one to one).
fn resolve_matmul_fields(
    raw: &RawLayer,
    op: OpKind,
    (stride, padding): ([u64; 2], [u64; 2]),
    at: &mut At,
) -> u64 {
    if op != OpKind::Matmul {
        for (field, given) in [
            ("heads", raw.heads.is_some()),
            ("transpose_right", raw.transpose_right.is_some()),
        ] {
            if given {
                at.say(
                    field,
                    format!("only a matmul has {field}, not '{}'", op.name()),
                );
            }
        }
        return 1;
    }
    if stride != [1, 1] || padding != [0, 0] {
        at.say(
            "stride",
            "a matmul reads its tokens one to one: stride 1, padding 0",
        );
    }
    match raw.heads {
        None => 1,
        Some(h) if h >= 1 && h as u64 <= MAX_DIM => h as u64,
        Some(h) => {
            at.say(
                "heads",
                format!("must be between 1 and {}, got {h}", thousands(MAX_DIM)),
            );
            1
        }
    }
}

/// The operator and the loop dimensions (which are required depends on the operator),
/// with the shapes each operator allows.
fn resolve_op_and_dims(raw: &RawLayer, at: &mut At) -> (OpKind, Dims) {
    let op = OpKind::parse(&raw.op);
    if op.is_none() {
        at.say(
            "op",
            format!(
                "unknown operator '{}' (expected one of {})",
                raw.op,
                OpKind::ALL.map(OpKind::name).join(", ")
            ),
        );
    }
    // With an unknown operator, no dimension is reported missing (that would follow
    // from the typo, not be a problem).
    let op_known = op.is_some();
    let op = op.unwrap_or(OpKind::Conv);
    let mut dim = |field: &str, value: Option<i64>, default: Option<u64>| -> u64 {
        match (value, default) {
            (Some(v), _) if v >= 1 && v as u64 <= MAX_DIM => v as u64,
            (Some(v), _) => {
                at.say(
                    field,
                    format!("must be between 1 and {}, got {v}", thousands(MAX_DIM)),
                );
                1
            }
            (None, Some(d)) => d,
            (None, None) if !op_known => 1,
            (None, None) => {
                at.say(field, format!("missing (required for op '{}')", op.name()));
                1
            }
        }
    };
    let k = dim("k", raw.k, None);
    let (c, oy, ox, fy, fx) = match op {
        OpKind::Conv => (
            dim("c", raw.c, None),
            dim("oy", raw.oy, None),
            dim("ox", raw.ox, None),
            dim("fy", raw.fy, None),
            dim("fx", raw.fx, None),
        ),
        OpKind::Matmul => (
            dim("c", raw.c, None),
            dim("oy", raw.oy, None),
            dim("ox", raw.ox, None),
            dim("fy", raw.fy, Some(1)),
            dim("fx", raw.fx, Some(1)),
        ),
        OpKind::Fc => (
            dim("c", raw.c, None),
            dim("oy", raw.oy, Some(1)),
            dim("ox", raw.ox, Some(1)),
            dim("fy", raw.fy, Some(1)),
            dim("fx", raw.fx, Some(1)),
        ),
        OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron => (
            dim("c", raw.c, Some(k)),
            dim("oy", raw.oy, None),
            dim("ox", raw.ox, None),
            dim("fy", raw.fy, Some(1)),
            dim("fx", raw.fx, Some(1)),
        ),
        OpKind::MaxPool | OpKind::AvgPool => (
            dim("c", raw.c, Some(k)),
            dim("oy", raw.oy, None),
            dim("ox", raw.ox, None),
            dim("fy", raw.fy, None),
            dim("fx", raw.fx, None),
        ),
    };
    check_op_shape(op, (k, c), (oy, ox, fy, fx), at);
    (
        op,
        Dims {
            k,
            c,
            oy,
            ox,
            fy,
            fx,
        },
    )
}

/// What each operator's shape must be: an fc has no spatial extent, pooling and
/// element-wise layers keep their channels, element-wise layers have no window.
fn check_op_shape(
    op: OpKind,
    (k, c): (u64, u64),
    (oy, ox, fy, fx): (u64, u64, u64, u64),
    at: &mut At,
) {
    if op == OpKind::Fc && (oy, ox, fy, fx) != (1, 1, 1, 1) {
        at.say("oy", "a fully connected layer has oy = ox = fy = fx = 1");
    }
    if (op.is_elementwise() || op.is_pool()) && c != k {
        at.say(
            "c",
            format!(
                "{} keeps channels: c must equal k ({k}), got {c}",
                op.name()
            ),
        );
    }
    if op.is_elementwise() && (fy, fx) != (1, 1) {
        at.say("fy", "element-wise layers have no window: fy = fx = 1");
    }
    if op == OpKind::Matmul && (fy, fx) != (1, 1) {
        at.say("fy", "a matmul has no window: fy = fx = 1");
    }
}

/// A stride or padding (one value or `[y, x]`), within `min..=MAX_STRIDE`.
fn window_pair(at: &mut At, field: &str, value: Option<Pair>, default: i64, min: i64) -> [u64; 2] {
    let yx = value.map(Pair::yx).unwrap_or([default, default]);
    let max = MAX_STRIDE as i64;
    for v in yx {
        if v < min || v > max {
            at.say(field, format!("must be between {min} and {max}, got {v}"));
        }
    }
    [yx[0].clamp(min, max) as u64, yx[1].clamp(min, max) as u64]
}

/// The layer's sources (earlier layers or the network input), as many as its operator
/// takes. `None` when a source is a layer already reported broken.
fn resolve_sources(
    id: usize,
    raw: &RawLayer,
    op: OpKind,
    (ids, unparsed, input): (&HashMap<&str, usize>, &[String], &NetworkInput),
    at: &mut At,
) -> Option<Vec<Source>> {
    let mut sources = Vec::new();
    if raw.sources.is_empty() {
        at.say(
            "sources",
            "a layer needs at least one source (a layer name or the input)",
        );
    }
    for name in &raw.sources {
        if *name == input.name {
            sources.push(Source::NetworkInput);
        } else if let Some(&src) = ids.get(name.as_str()) {
            if src == id {
                at.say("sources", "a layer cannot read its own output");
            }
            sources.push(Source::Layer(src));
        } else if unparsed.contains(name) {
            // Already reported where that layer is written.
            return None;
        } else {
            at.say(
                "sources",
                format!(
                    "source '{name}' does not exist (not a layer, nor the input '{}')",
                    input.name
                ),
            );
        }
    }
    let expected_sources = op.sources();
    if !raw.sources.is_empty() && raw.sources.len() != expected_sources {
        at.say(
            "sources",
            format!(
                "op '{}' takes {expected_sources} source{}, got {}",
                op.name(),
                if expected_sources == 1 { "" } else { "s" },
                raw.sources.len()
            ),
        );
    }
    Some(sources)
}

/// Precisions: the layer's values over the file's defaults; `i` may be left to the
/// producer (filled in by `check_shapes`). A neuron layer must keep state.
fn resolve_precision(raw: &RawLayer, op: OpKind, defaults: RawPrecision, at: &mut At) -> Precision {
    let prec = raw.precision.over(defaults);
    let mut bits = |field: &str, value: Option<i64>, needed: bool| -> u32 {
        match value {
            Some(v) if !(0..=64).contains(&v) => {
                at.say(field, format!("precision must be 0..=64 bits, got {v}"));
                0
            }
            Some(0) | None if needed => {
                at.say(
                    field,
                    "precision of 0 bits (or missing) where the operand is needed",
                );
                0
            }
            Some(v) => v as u32,
            None => 0,
        }
    };
    // A matmul's W operand is its right source's output: its width comes from there
    // (filled in by `check_shapes`), not from the file's defaults.
    let w = if op == OpKind::Matmul {
        match raw.precision.w {
            Some(_) => bits("w", raw.precision.w, true),
            None => 0,
        }
    } else {
        bits("w", prec.w, op.has_weights())
    };
    let o = bits("o", prec.o, true);
    let v = bits("v", prec.v, raw.stateful);
    let acc = bits("acc", prec.acc, op.is_reduction());
    let i = match prec.i {
        Some(_) => bits("i", prec.i, true),
        None => 0,
    };
    if op == OpKind::Neuron && !raw.stateful {
        at.say(
            "stateful",
            "a neuron layer keeps neuron state: stateful = true",
        );
    }
    Precision {
        w,
        i,
        o,
        v: if raw.stateful { v } else { 0 },
        acc,
    }
}

/// Products stems forms from the dimensions stay within 64 bits.
fn check_layer_sizes(d: &Dims, p: &Precision, at: &mut At) {
    let sizes = [
        ("k", "weights", [d.k, d.c, d.fy, d.fx, p.w as u64]),
        ("k", "output per timestep", [d.k, d.oy, d.ox, p.o as u64, 1]),
        ("k", "neuron state", [d.k, d.oy, d.ox, p.v as u64, 1]),
    ];
    for (field, what, factors) in sizes {
        let bits = factors.iter().try_fold(1u64, |a, &x| a.checked_mul(x));
        if bits.is_none_or(|b| b > MAX_LAYER_BITS) {
            at.say(
                field,
                format!(
                    "its {what} would take more than {} bits, more than stems models",
                    thousands(MAX_LAYER_BITS)
                ),
            );
        }
    }
}

/// An activity is a fraction of elements: within 0..=1 (NaN is not).
fn check_activity(diag: &mut Collector, span: &Range<usize>, el: &str, a: f64) {
    if !(0.0..=1.0).contains(&a) {
        diag.at(
            span,
            el,
            "activity",
            format!("is the fraction of input elements that are non-zero: within 0..=1, got {a}"),
        );
    }
}

/// Each feature tensor's density: what its readers state (they must agree: a tensor has
/// one density), else `[defaults] activity`, else dense.
fn resolve_densities(
    workload: &mut Workload,
    default: Option<f64>,
    pending: &[Pending],
    diag: &mut Collector,
) {
    let tensors = workload.layers.len() + 1;
    let mut stated: Vec<Option<(f64, usize)>> = vec![None; tensors];
    for layer in &workload.layers {
        let Some(a) = layer.activity else { continue };
        for &s in &layer.sources {
            match stated[s.tensor_index()] {
                Some((b, other)) if b != a => diag.at(
                    &pending[layer.id].span,
                    &pending[layer.id].element,
                    "activity",
                    format!(
                        "{a} for its input '{}', which layer '{}' reads at {b}: a tensor has one density",
                        workload.source_name(s),
                        workload.layers[other].name
                    ),
                ),
                _ => stated[s.tensor_index()] = Some((a, layer.id)),
            }
        }
    }
    let fallback = default.unwrap_or(1.0);
    if stated.iter().all(Option::is_none) && fallback == 1.0 {
        return;
    }
    workload.densities.tensors = stated
        .iter()
        .map(|s| vec![s.map_or(fallback, |(a, _)| a)])
        .collect();
}

/// Layers must form a DAG listed in execution order (every source before its reader).
fn check_acyclic_and_ordered(layers: &[Layer], pending: &[Pending], diag: &mut Collector) {
    // Colour-based DFS to name a cycle if there is one; iterative, so that a long
    // chain of layers cannot overflow the stack.
    let n = layers.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
    let mut cycle: Option<Vec<usize>> = None;
    let sources = |u: usize| -> Vec<usize> {
        layers[u]
            .sources
            .iter()
            .filter_map(|s| match s {
                Source::Layer(p) => Some(*p),
                Source::NetworkInput => None,
            })
            .collect()
    };
    'roots: for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        // The path from the root, each with the sources still to visit.
        let mut path: Vec<(usize, Vec<usize>)> = vec![(root, sources(root))];
        state[root] = 1;
        while let Some((_, pending)) = path.last_mut() {
            match pending.pop() {
                Some(p) if state[p] == 1 => {
                    let start = path.iter().position(|(x, _)| *x == p).unwrap_or(0);
                    cycle = Some(path[start..].iter().map(|(x, _)| *x).collect());
                    break 'roots;
                }
                Some(p) if state[p] == 0 => {
                    state[p] = 1;
                    path.push((p, sources(p)));
                }
                Some(_) => {}
                None => {
                    if let Some((u, _)) = path.pop() {
                        state[u] = 2;
                    }
                }
            }
        }
    }
    if let Some(cyc) = cycle {
        let names: Vec<&str> = cyc.iter().rev().map(|&i| layers[i].name.as_str()).collect();
        let first = cyc[0];
        diag.at(
            &pending[first].span,
            &pending[first].element,
            "sources",
            format!("cycle: {} -> {}", names.join(" -> "), names[0]),
        );
        return;
    }
    for layer in layers {
        for s in &layer.sources {
            if let Source::Layer(p) = *s
                && p > layer.id
            {
                diag.at(
                    &pending[layer.id].span,
                    &pending[layer.id].element,
                    "sources",
                    format!(
                        "source '{}' is listed after this layer; list layers in execution order",
                        layers[p].name
                    ),
                );
            }
        }
    }
}

/// Block ids start at 0, never go backwards in file order, and leave no gaps.
fn check_blocks(layers: &[Layer], pending: &[Pending], diag: &mut Collector) -> usize {
    let mut current = 0usize;
    for (i, layer) in layers.iter().enumerate() {
        let expected_first = i == 0 && layer.block != 0;
        if expected_first {
            diag.at(
                &pending[i].span,
                &pending[i].element,
                "block",
                format!("the first layer must be in block 0, got {}", layer.block),
            );
        } else if layer.block < current {
            diag.at(
                &pending[i].span,
                &pending[i].element,
                "block",
                format!(
                    "block id goes backwards ({} after {current}); blocks are contiguous in layer order",
                    layer.block
                ),
            );
        } else if layer.block > current + 1 && i > 0 {
            diag.at(
                &pending[i].span,
                &pending[i].element,
                "block",
                format!("block id skips from {current} to {}", layer.block),
            );
        }
        current = current.max(layer.block);
    }
    layers.iter().map(|l| l.block + 1).max().unwrap_or(0)
}

/// Producer and consumer shapes agree (channels, spatial size with stride, kernel and
/// padding, precision). Fills in input precisions left to the producer.
fn check_shapes(w: &mut Workload, pending: &[Pending], diag: &mut Collector) {
    // An input precision left out comes from the producers (the widest of them).
    for id in 0..w.layers.len() {
        if w.layers[id].precision.i == 0 {
            w.layers[id].precision.i = widest_source_bits(w, &w.layers[id]).unwrap_or(0);
        }
        if let Some(right) = w.layers[id].weight_source()
            && w.layers[id].precision.w == 0
        {
            w.layers[id].precision.w = w.source_shape(right).bits;
        }
    }
    for (id, field, message) in shape_problems(w) {
        diag.at(&pending[id].span, &pending[id].element, field, message);
    }
}

/// What one source's shape says against the layer that reads it: (field, message).
fn source_problems(
    layer: &Layer,
    shape: &FeatureShape,
    src_name: &str,
) -> Vec<(&'static str, String)> {
    let d = layer.dims;
    let mut out = Vec::new();
    match layer.op {
        OpKind::Fc => {
            let flat = shape.channels * shape.height * shape.width;
            if d.c != flat && d.c != shape.channels {
                out.push((
                    "c",
                    format!(
                        "{} inputs, but source '{src_name}' gives {}×{}×{} = {flat}",
                        d.c, shape.channels, shape.height, shape.width
                    ),
                ));
            }
        }
        OpKind::SewAdd | OpKind::SewOr | OpKind::Neuron => {
            if (shape.channels, shape.height, shape.width) != (d.k, d.oy, d.ox) {
                out.push((
                    "sources",
                    format!(
                        "source '{src_name}' is {}×{}×{} but this layer is {}×{}×{} (k×oy×ox)",
                        shape.channels, shape.height, shape.width, d.k, d.oy, d.ox
                    ),
                ));
            }
        }
        // Both sources at once: `attention::matmul_problems`.
        OpKind::Matmul => {}
        OpKind::Conv | OpKind::MaxPool | OpKind::AvgPool => {
            if layer.recurrent && (d.oy, d.ox) != (shape.height, shape.width) {
                out.push((
                    "recurrent",
                    format!(
                        "a recurrent conv reads its own output through its own kernel, so its output ({}×{}) must be as large as its input '{src_name}' ({}×{}): pad to keep the size",
                        d.oy, d.ox, shape.height, shape.width
                    ),
                ));
            }
            if d.c != shape.channels {
                out.push((
                    "c",
                    format!(
                        "{} input channels, but source '{src_name}' has {}",
                        d.c, shape.channels
                    ),
                ));
            }
            for (axis, field, outputs, inp, f) in [
                (0, "oy", d.oy, shape.height, d.fy),
                (1, "ox", d.ox, shape.width, d.fx),
            ] {
                let padded = inp + 2 * layer.padding[axis];
                let s = layer.stride[axis].max(1);
                let expected = (padded >= f).then(|| (padded - f) / s + 1);
                if expected != Some(outputs) {
                    out.push((
                        field,
                        format!(
                            "{outputs} outputs, but an input of {inp} from '{src_name}' with kernel {f}, stride {s}, padding {} gives {}",
                            layer.padding[axis],
                            expected.map_or("none".to_string(), |e| e.to_string())
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// The input precision a layer reads its sources at: the widest source's. A layer's
/// tiles carry one input precision, so an element-wise sum of spikes and currents reads
/// the spikes at the currents' width.
fn widest_source_bits(w: &Workload, layer: &Layer) -> Option<u32> {
    layer
        .input_sources()
        .iter()
        .map(|&s| w.source_shape(s).bits)
        .max()
}

/// Producer/consumer disagreements: (layer, field, message). Shapes follow
/// `out = (in + 2·pad − kernel) / stride + 1`, element-wise sources match the layer, a
/// fully connected layer reads its source whole, and the input precision is the
/// widest source's.
fn shape_problems(w: &Workload) -> Vec<(usize, &'static str, String)> {
    let mut out = Vec::new();
    for layer in &w.layers {
        let id = layer.id;
        out.extend(
            layer
                .matmul_problems(w)
                .into_iter()
                .map(|(f, m)| (id, f, m)),
        );
        for &src in layer.sources.iter().filter(|_| layer.op != OpKind::Matmul) {
            let shape = w.source_shape(src);
            let src_name = w.source_name(src).to_string();
            out.extend(
                source_problems(layer, &shape, &src_name)
                    .into_iter()
                    .map(|(field, message)| (id, field, message)),
            );
        }
        if let Some(right) = layer.weight_source()
            && layer.precision.w != w.source_shape(right).bits
        {
            out.push((
                id,
                "w",
                format!(
                    "W precision {} bits, but its right source '{}' produces {}-bit features",
                    layer.precision.w,
                    w.source_name(right),
                    w.source_shape(right).bits
                ),
            ));
        }
        if let Some(bits) = widest_source_bits(w, layer)
            && layer.precision.i != bits
        {
            out.push((
                id,
                "i",
                format!(
                    "input precision {} bits, but the source produces {bits}-bit features",
                    layer.precision.i
                ),
            ));
        }
    }
    out
}
