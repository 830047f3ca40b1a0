//! What a matmul — activation × activation, as in spiking self-attention — means: which
//! source feeds which operand, the shapes its sources must have, and the cuts that
//! cannot run. The one rule the model checks, the tile graph, the cut check, the
//! mapper and the verifier share.
//!
//! A token sequence is a feature map whose spatial positions are the tokens, in raster
//! order (N tokens as 1×N, or a patch grid kept as its rows × columns); a token's
//! features are its channels. Per head h of H, a matmul multiplies the left source's
//! tokens × its h-th slice of channels (c / H of them, the reduction) by a matrix taken
//! from the right source:
//!
//! - `transpose_right = true` (Q·Kᵀ): the right source has the left's channels; its
//!   tokens are the head's k / H output channels (one attention score per key token).
//! - otherwise (scores · V): the right source's tokens are the reduction (c / H = its
//!   token count) and its h-th slice of k / H channels are the head's output channels.
//!
//! Either way a tile of any query tokens reads every token of the right source at its
//! timesteps: that tensor is the tile's W operand, produced at run time, different at
//! every timestep and counted as feature (F) traffic. So a layer-fused stack cannot
//! pass the right source line by line into the matmul: such cuts are refused.

use super::Operand;
use super::Source;
use super::workload::{FeatureShape, Layer, OpKind, Workload};

impl Layer {
    /// The sources that feed the I operand: every source but a matmul's right one.
    pub fn input_sources(&self) -> &[Source] {
        if self.op == OpKind::Matmul {
            &self.sources[..self.sources.len().min(1)]
        } else {
            &self.sources
        }
    }

    /// The source whose features are the W operand: a matmul's right source, read
    /// whole (every token) at the tile's timesteps.
    pub fn weight_source(&self) -> Option<Source> {
        (self.op == OpKind::Matmul)
            .then(|| self.sources.get(1).copied())
            .flatten()
    }

    /// Why a cut cannot run this matmul, if it cannot: its right source is computed
    /// line by line in the same layer-fused stack. `lines_of_block` gives each block's
    /// fused lines (`None`: layer by layer).
    pub fn fusion_breaks(
        &self,
        w: &Workload,
        lines_of_block: &dyn Fn(usize) -> Option<u64>,
    ) -> Option<String> {
        let Some(Source::Layer(p)) = self.weight_source() else {
            return None;
        };
        let producer = &w.layers[p];
        let lines = lines_of_block(producer.block)?;
        let same_stack = (producer.block..=self.block).all(|b| lines_of_block(b).is_some());
        (same_stack && lines < producer.dims.ox).then(|| {
            format!(
                "layer '{}' multiplies by all tokens of '{}', which the same layer-fused stack computes {lines} column{} at a time: attention cannot be fused along the tokens (cut the block of '{}' layer by layer, or end the fused stack before '{}')",
                self.name,
                producer.name,
                if lines == 1 { "" } else { "s" },
                producer.name,
                self.name
            )
        })
    }
}

impl Layer {
    /// What a matmul's two sources say against its shape: (field, message); nothing
    /// for other operators.
    pub fn matmul_problems(&self, w: &Workload) -> Vec<(&'static str, String)> {
        match (self.op, &self.sources[..]) {
            (OpKind::Matmul, &[left, right]) if left == right => vec![(
                "sources",
                format!(
                    "a matmul of '{}' by itself: its two sources must be different tensors",
                    w.source_name(left)
                ),
            )],
            (OpKind::Matmul, &[left, right]) => shape_problems(
                self,
                (&w.source_shape(left), w.source_name(left)),
                (&w.source_shape(right), w.source_name(right)),
            ),
            _ => Vec::new(),
        }
    }
}

/// `left` and `right` (shapes and names) against the matmul `layer`'s shape.
fn shape_problems(
    layer: &Layer,
    (left, left_name): (&FeatureShape, &str),
    (right, right_name): (&FeatureShape, &str),
) -> Vec<(&'static str, String)> {
    let d = layer.dims;
    let h = layer.heads.max(1);
    let mut out = Vec::new();
    for (field, n) in [("c", d.c), ("k", d.k)] {
        if n % h != 0 {
            out.push((
                "heads",
                format!("{h} heads do not divide {field} = {n} into equal slices"),
            ));
        }
    }
    if !out.is_empty() {
        return out;
    }
    if (left.channels, left.height, left.width) != (d.c, d.oy, d.ox) {
        out.push((
            "sources",
            format!(
                "left source '{left_name}' is {}×{}×{} but this matmul reads c×oy×ox = {}×{}×{}",
                left.channels, left.height, left.width, d.c, d.oy, d.ox
            ),
        ));
    }
    let tokens = right.height * right.width;
    let (want_channels, want_tokens, how) = if layer.transpose_right {
        (
            d.c,
            d.k / h,
            "transposed: its channels are c, its tokens k / heads",
        )
    } else {
        (d.k, d.c / h, "its channels are k, its tokens c / heads")
    };
    if (right.channels, tokens) != (want_channels, want_tokens) {
        out.push((
            "transpose_right",
            format!(
                "right source '{right_name}' has {} channels × {tokens} tokens, but read {how} it must have {want_channels} × {want_tokens}",
                right.channels
            ),
        ));
    }
    out
}

/// Whether `tensor` is an attention operand, by `Workload::attention_tensors`.
pub fn is_attention_tensor(tensors: &[bool], tensor: Source) -> bool {
    tensors.get(tensor.tensor_index()).copied().unwrap_or(false)
}

impl Workload {
    /// Per tensor (index 0: the network input, 1 + l: layer l's output), whether a
    /// matmul reads it: its data is an attention operand (Q, K, V, the scores).
    pub fn attention_tensors(&self) -> Vec<bool> {
        let mut feeds = vec![false; self.layers.len() + 1];
        for l in self.layers.iter().filter(|l| l.op == OpKind::Matmul) {
            for s in &l.sources {
                feeds[s.tensor_index()] = true;
            }
        }
        feeds
    }

    /// Whether `layer`'s `operand` moves attention operands: a matmul's I and W, and
    /// the output of a layer a matmul reads. `tensors` is `attention_tensors()`. The
    /// DRAM traffic both halves report as `dram_bits.attention` is that of these
    /// operands, and of the transfers of chunks of those tensors.
    pub fn is_attention_operand(&self, tensors: &[bool], layer: usize, operand: Operand) -> bool {
        match operand {
            Operand::I | Operand::W => self.layers[layer].op == OpKind::Matmul,
            Operand::O => is_attention_tensor(tensors, Source::Layer(layer)),
            Operand::V => false,
        }
    }
}
