//! Where neurons live and what each layer outputs.
//!
//! Every neuron node is first a `neuron` layer of its own. Its state then moves into
//! the layer it integrates when that layer has no other reader (a convolution, an fc,
//! a pooling or a sum followed by LIF): one stateful layer, as the hardware runs it.
//! A neuron after the input, after a layer read elsewhere too, or after another neuron
//! stays a layer of its own. Nothing stateful is dropped.

use super::layers::Layer;
use std::collections::BTreeSet;

/// Moves each neuron layer into its source where it is that source's only reader.
/// `outputs` are the values the network's `Output` nodes read (a reader each).
pub(super) fn fuse_neurons(layers: &mut Vec<Layer>, outputs: &mut BTreeSet<String>) {
    let mut i = 0;
    while i < layers.len() {
        if let Some(j) = host(layers, outputs, i) {
            let neuron = layers.remove(i);
            let into = layers[j].name.clone();
            layers[j].states = neuron.states;
            layers[j].from.extend(neuron.from);
            layers[j].neurons.extend(neuron.neurons);
            for s in layers.iter_mut().flat_map(|l| l.sources.iter_mut()) {
                if *s == neuron.name {
                    s.clone_from(&into);
                }
            }
            if outputs.remove(&neuron.name) {
                outputs.insert(into);
            }
        } else {
            i += 1;
        }
    }
}

/// The layer that neuron layer `i` can live in: its stateless source, read by it alone.
fn host(layers: &[Layer], outputs: &BTreeSet<String>, i: usize) -> Option<usize> {
    let n = &layers[i];
    if n.op != "neuron" {
        return None;
    }
    let source = &n.sources[0];
    let readers = layers.iter().filter(|l| l.sources.contains(source)).count()
        + usize::from(outputs.contains(source));
    let j = layers[..i].iter().position(|l| &l.name == source)?;
    (readers == 1 && layers[j].states == 0).then_some(j)
}

/// Bits of each layer's output. A stateful layer fires spikes (`spike_bits`); a
/// stateless one passes on what it computed: a max or an OR of its inputs keeps their
/// bits, a sum of `n` values grows by ⌈log2 n⌉ bits, a weighted sum is an accumulator
/// (`acc_bits`), never more.
pub(super) fn set_output_bits(
    layers: &mut [Layer],
    input_bits: u32,
    spike_bits: u32,
    acc_bits: u32,
) {
    let mut bits_of: std::collections::BTreeMap<String, u32> =
        [("input".to_string(), input_bits)].into();
    for l in layers.iter_mut() {
        let widest = l
            .sources
            .iter()
            .map(|s| bits_of.get(s).copied().unwrap_or(spike_bits))
            .max()
            .unwrap_or(spike_bits);
        let terms = match l.op {
            "sew_add" => l.sources.len() as u64,
            "avg_pool" => l.fy * l.fx,
            _ => 1,
        };
        let bits = match l.op {
            _ if l.states > 0 => spike_bits,
            "conv" | "fc" => acc_bits,
            _ => widest + terms.next_power_of_two().trailing_zeros(),
        }
        .min(acc_bits);
        l.output_bits = (bits != spike_bits).then_some(bits);
        bits_of.insert(l.name.clone(), bits);
    }
}
