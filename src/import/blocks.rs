//! Blocks of an imported network: the user's (`--blocks`), or the network's stages.
//!
//! A stage ends where the network downsamples (a strided convolution or a pooling):
//! a layer's stage is the latest among its sources', one later for a source that
//! downsamples, and one later where the classifier (fc) starts. So a residual stage
//! holds its convolutions, its shortcut and its sums, and the pooling or strided
//! convolution that closes it, whatever order the graph listed its branches in.
//! Layers are then ordered by stage (stable, so sources still come first), and each
//! stage is a block.

use super::ImportError;
use super::layers::Layer;
use std::collections::BTreeMap;

/// Whether the layer's readers are in the next stage.
fn downsamples(l: &Layer) -> bool {
    l.op != "fc" && l.stride != [1, 1]
}

/// Orders `layers` by stage and returns each layer's block (its stage).
fn by_stage(layers: &mut Vec<Layer>) -> Vec<usize> {
    let mut stage_of: BTreeMap<&str, (usize, &Layer)> = BTreeMap::new();
    let mut stages = Vec::with_capacity(layers.len());
    for l in layers.iter() {
        let stage = l
            .sources
            .iter()
            .filter_map(|s| stage_of.get(s.as_str()))
            .map(|&(stage, src)| {
                let next = downsamples(src) || (l.op == "fc" && src.op != "fc");
                stage + usize::from(next)
            })
            .max()
            .unwrap_or(0);
        stage_of.insert(&l.name, (stage, l));
        stages.push(stage);
    }
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by_key(|&i| stages[i]);
    let sorted: Vec<Layer> = order.iter().map(|&i| layers[i].clone()).collect();
    *layers = sorted;
    order.iter().map(|&i| stages[i]).collect()
}

/// The block of each layer (of at least one, at most a workload's limit):
/// `--blocks` checked (one per layer, starting at 0, each its predecessor's or the
/// next), or the stages.
pub(super) fn blocks_of(
    blocks: Option<&[usize]>,
    layers: &mut Vec<Layer>,
) -> Result<Vec<usize>, ImportError> {
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
    let stages = by_stage(layers);
    let Some(b) = blocks else {
        return Ok(stages);
    };
    if b.len() != layers.len() {
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
    Ok(b.to_vec())
}
