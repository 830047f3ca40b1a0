//! Recurrent layers in a NIR graph: a neuron node fed back to itself through one
//! weighted node (snnTorch's RLeaky and RSynaptic export as `LIF → w_rec → LIF`).
//! The loop is cut out of the graph before it is ordered, and the layer that keeps
//! the neuron's state becomes `recurrent`, its feedback weights checked against it.
//! Any other cycle is refused.

use super::ImportError;
use super::layers::Layer;
use super::nir_file::{NirGraph, NirNode};
use std::collections::BTreeMap;

const WEIGHTED: [&str; 3] = ["Affine", "Linear", "Conv2d"];

/// The graph without its recurrent loops, and each loop's neuron → feedback node.
pub(super) fn cut_loops(graph: &NirGraph) -> (NirGraph, BTreeMap<String, String>) {
    let edges_of = |n: &str, incoming: bool| {
        graph
            .edges
            .iter()
            .filter(|(a, b)| if incoming { b == n } else { a == n })
            .count()
    };
    let mut loops = BTreeMap::new();
    for (r, n) in &graph.edges {
        let (Some(rec), Some(neuron)) = (graph.nodes.get(r), graph.nodes.get(n)) else {
            continue;
        };
        let fed_back = WEIGHTED.contains(&rec.kind.as_str())
            && super::NEURONS.contains(&neuron.kind.as_str())
            && graph.edges.contains(&(n.clone(), r.clone()))
            && edges_of(r, true) == 1
            && edges_of(r, false) == 1;
        if fed_back {
            loops.insert(n.clone(), r.clone());
        }
    }
    let mut cut = graph.clone();
    cut.nodes
        .retain(|name, _| !loops.values().any(|r| r == name));
    cut.edges
        .retain(|(a, b)| !loops.values().any(|r| r == a || r == b));
    (cut, loops)
}

/// Marks the layer keeping each looped neuron's state `recurrent`, after checking
/// that its feedback weights are that layer's own kernel over its own output.
pub(super) fn attach(
    layers: &mut [Layer],
    loops: &BTreeMap<String, String>,
    nodes: &BTreeMap<String, NirNode>,
) -> Result<(), ImportError> {
    for (neuron, rec) in loops {
        let node = &nodes[rec];
        let layer = layers
            .iter_mut()
            .find(|l| l.neurons.contains(neuron))
            .ok_or_else(|| {
                ImportError::node(
                    node,
                    "edges",
                    format!("feeds back into '{neuron}', which is not a layer's neuron"),
                )
            })?;
        let w = node.array("weight")?;
        let expected: Vec<u64> = match layer.op {
            "fc" => vec![layer.k, layer.k],
            "conv" => vec![layer.k, layer.k, layer.fy, layer.fx],
            other => {
                return Err(ImportError::node(
                    node,
                    "edges",
                    format!(
                        "feeds '{neuron}' back, whose state stems keeps in the {other} layer '{}'; stems models recurrence in conv and fc layers (snnTorch's RLeaky after a Linear or Conv2d)",
                        layer.name
                    ),
                ));
            }
        };
        if w != expected.as_slice() {
            return Err(ImportError::node(
                node,
                "weight",
                format!(
                    "shape {w:?}: stems models a recurrence through the layer's own kernel over its own output, {expected:?} for '{}'",
                    layer.name
                ),
            ));
        }
        layer.recurrent = true;
        layer.from.push(format!("recurrent {} '{rec}'", node.kind));
    }
    Ok(())
}
