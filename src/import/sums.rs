//! Summed inputs. NIR sums the inputs of a node that has several; stems makes the sum a
//! `sew_add` layer. A sum is made once, however many nodes read it (a residual add is
//! read by the next block's convolution and by the next shortcut), and a sum of three
//! builds on the sum of two it contains.

use super::ImportError;
use super::layers::{self, Layer, Value};
use super::nir_file::NirNode;
use std::collections::BTreeMap;

/// The sums made so far, by the sorted names of what they add.
#[derive(Default)]
pub(super) struct Sums {
    made: BTreeMap<Vec<String>, Value>,
}

impl Sums {
    /// The sum of `inputs` (at least two) that `node` reads, made as few new layers as
    /// the sums already made allow.
    pub fn sum(
        &mut self,
        node: &NirNode,
        inputs: &[Value],
        nodes: &BTreeMap<String, NirNode>,
        layers: &mut Vec<Layer>,
    ) -> Result<Value, ImportError> {
        let wanted = sorted(inputs.iter().map(|v| v.source.clone()));
        if let Some(v) = self.made.get(&wanted) {
            return Ok(v.clone());
        }
        // Start from the largest sum already made of some of the inputs.
        let (mut parts, mut acc) = self
            .made
            .iter()
            .filter(|(parts, _)| contains(&wanted, parts))
            .max_by_key(|(parts, _)| parts.len())
            .map(|(p, v)| (p.clone(), v.clone()))
            .unwrap_or_else(|| (vec![inputs[0].source.clone()], inputs[0].clone()));
        let mut left = inputs.to_vec();
        for p in &parts {
            if let Some(i) = left.iter().position(|v| &v.source == p) {
                left.remove(i);
            }
        }
        let many = left.len() > 1;
        for (i, v) in left.iter().enumerate() {
            let base = if many {
                format!("{}_add{}", node.name, i + 1)
            } else {
                format!("{}_add", node.name)
            };
            let layer = layers::add(free_name(&base, nodes, layers), &acc, v, &node.name)
                .map_err(|m| ImportError::node(node, "edges", m))?;
            acc = layer.value();
            layers.push(layer);
            parts = sorted(parts.into_iter().chain([v.source.clone()]));
            self.made.insert(parts.clone(), acc.clone());
        }
        Ok(acc)
    }
}

fn sorted(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = names.collect();
    v.sort();
    v
}

/// Whether the sorted multiset `whole` contains the sorted multiset `part`.
fn contains(whole: &[String], part: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|p| rest.any(|w| w == p))
}

/// `base`, or `base_2`, `base_3`, … if a node or layer already has the name.
fn free_name(base: &str, nodes: &BTreeMap<String, NirNode>, layers: &[Layer]) -> String {
    let taken = |n: &str| nodes.contains_key(n) || layers.iter().any(|l| l.name == n);
    std::iter::once(base.to_string())
        .chain((2..).map(|k| format!("{base}_{k}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}
