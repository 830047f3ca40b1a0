//! Recordings of real inferences: an `.npz` file (what `numpy.savez` writes) holding,
//! per layer name, that layer's input as a `[T, C, H, W]` (or `[T, N]`, N = C·H·W in
//! C-major order) array of 0/1 spikes or of activation values, optionally with a
//! leading sample axis `[S, T, …]`; `NAME/output` holds a layer's output where no
//! single-source layer reads it (a network output, a tensor only a residual add reads).
//!
//! Every feature tensor of the workload must be covered by some entry; entries that
//! cover the same tensor must agree. The zip container is read with `zip` and each
//! array with `npyz`, element by element into the spike bits, so memory stays at one
//! bit per element; a recording above `MAX_SPIKE_BITS` elements is refused before it is
//! read.

use super::{
    MAX_SPIKE_BITS, SpikeError, Spikes, TensorBuilder, TensorShape, TensorSpikes, tensor_shapes,
};
use crate::model::{Source, Workload};
use std::io::Read;
use std::path::Path;

/// Most entries a recording may hold.
const MAX_ENTRIES: usize = 100_000;

/// A recording read into spikes, with the samples it averaged.
pub struct Recording {
    pub spikes: Spikes,
    pub samples: u64,
    /// Per tensor (index as in `Spikes`), the density at each timestep over samples.
    pub densities: Vec<Vec<f64>>,
}

fn err(path: &Path, message: impl Into<String>) -> SpikeError {
    SpikeError::Recording {
        file: path.display().to_string(),
        message: message.into(),
    }
}

/// Which tensor an entry name covers, and how (`None`: not a layer of the workload).
fn tensor_of(workload: &Workload, name: &str) -> Option<Result<usize, String>> {
    if let Some(layer) = name.strip_suffix("/output") {
        let l = workload.layer_by_name(layer)?;
        return Some(Ok(1 + l.id));
    }
    let l = workload.layer_by_name(name)?;
    match l.sources.as_slice() {
        [s] => Some(Ok(s.tensor_index())),
        _ => Some(Err(format!(
            "'{name}' reads {} sources; record each of them instead (as the input of a layer that reads only it, or as 'SOURCE/output')",
            l.sources.len()
        ))),
    }
}

/// Reads a recording for `workload`: the spikes of its first sample (what the
/// simulator executes) and every tensor's densities over all samples (what the
/// analytic half takes).
pub fn read(path: &Path, workload: &Workload) -> Result<Recording, SpikeError> {
    let file = std::fs::File::open(path).map_err(|e| err(path, format!("cannot open: {e}")))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| err(path, format!("not an .npz (zip) archive: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(err(
            path,
            format!("holds {} entries (limit {MAX_ENTRIES})", zip.len()),
        ));
    }
    let shapes = tensor_shapes(workload);
    let mut covered: Vec<Option<Entry>> = vec![None; shapes.len()];
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| err(path, format!("entry {i}: {e}")))?;
        let file_name = entry.name().to_string();
        let Some(name) = file_name.strip_suffix(".npy") else {
            continue;
        };
        let name = name.to_string();
        let index = match tensor_of(workload, &name) {
            None => {
                return Err(err(
                    path,
                    format!(
                        "entry '{name}': no layer of '{}' has this name",
                        workload.name
                    ),
                ));
            }
            Some(Err(m)) => return Err(err(path, format!("entry '{name}': {m}"))),
            Some(Ok(i)) => i,
        };
        let read = read_entry(&mut entry, shapes[index], precision_of(workload, index))
            .map_err(|m| err(path, format!("entry '{name}': {m}")))?;
        total = total.saturating_add(read.elements);
        if total > MAX_SPIKE_BITS {
            return Err(err(
                path,
                format!("holds more than {MAX_SPIKE_BITS} elements, more than stems reads"),
            ));
        }
        if let Some(prev) = &covered[index]
            && !same_spikes(&prev.spikes, &read.spikes)
        {
            let other = &prev.name;
            return Err(err(
                path,
                format!(
                    "entries '{other}' and '{name}' hold the same tensor with different spikes"
                ),
            ));
        }
        covered[index] = Some(Entry { name, ..read });
    }
    let mut tensors = Vec::with_capacity(shapes.len());
    let mut densities = Vec::with_capacity(shapes.len());
    let mut samples = 1;
    for (i, c) in covered.into_iter().enumerate() {
        let Some(e) = c else {
            return Err(err(path, missing(workload, i)));
        };
        tensors.push(e.spikes);
        densities.push(e.densities);
        samples = samples.max(e.samples);
    }
    Ok(Recording {
        spikes: Spikes {
            tensors,
            origin: path.display().to_string(),
        },
        samples,
        densities,
    })
}

/// Reads a recording for `workload` and makes its densities the workload's (the
/// analytic half's input); returns the spikes for the simulator.
pub fn attach(workload: &mut Workload, path: &Path) -> Result<Spikes, SpikeError> {
    let r = read(path, workload)?;
    workload.densities.tensors = r.densities;
    Ok(r.spikes)
}

/// What a missing tensor is called, and the entry that would cover it.
fn missing(workload: &Workload, index: usize) -> String {
    let source = if index == 0 {
        Source::NetworkInput
    } else {
        Source::Layer(index - 1)
    };
    let single_reader = workload
        .layers
        .iter()
        .find(|l| l.sources == [source])
        .map(|l| format!("'{}'", l.name));
    let name = workload.source_name(source);
    let key = match (single_reader, source) {
        (Some(k), _) => k,
        (None, Source::Layer(_)) => format!("'{name}/output'"),
        (None, Source::NetworkInput) => "the input of a layer that reads it".into(),
    };
    format!("no spikes for '{name}' (record it as {key})")
}

fn precision_of(workload: &Workload, index: usize) -> u32 {
    if index == 0 {
        workload.input.bits
    } else {
        workload.layers[index - 1].precision.o
    }
}

fn same_spikes(a: &TensorSpikes, b: &TensorSpikes) -> bool {
    let s = a.shape;
    (0..s.timesteps)
        .all(|t| a.count_box(t, 0..s.height, 0..s.width) == b.count_box(t, 0..s.height, 0..s.width))
}

/// One array of a recording.
#[derive(Clone)]
struct Entry {
    name: String,
    /// The first sample's spikes.
    spikes: TensorSpikes,
    /// Per timestep, over all samples.
    densities: Vec<f64>,
    samples: u64,
    elements: u64,
}

/// Reads one array.
fn read_entry(reader: &mut impl Read, shape: TensorShape, bits: u32) -> Result<Entry, String> {
    let npy = npyz::NpyFile::new(reader).map_err(|e| format!("not a .npy array: {e}"))?;
    let dims = npy.shape().to_vec();
    let per_t = shape.elements_per_timestep();
    let t = shape.timesteps as u64;
    let expected_4d = [t, shape.channels, shape.height, shape.width];
    let samples = match dims.as_slice() {
        [a, b, c, d] if [*a, *b, *c, *d] == expected_4d => 1,
        [a, n] if *a == t && *n == per_t => 1,
        [s, a, b, c, d] if [*a, *b, *c, *d] == expected_4d => *s,
        [s, a, n] if *a == t && *n == per_t => *s,
        _ => {
            return Err(format!(
                "shape {dims:?}, expected [T, C, H, W] = {expected_4d:?} or [T, N] = [{t}, {per_t}] (optionally after a sample axis)"
            ));
        }
    };
    if samples == 0 {
        return Err("holds no samples".into());
    }
    if npy.order() != npyz::Order::C {
        return Err("is stored in Fortran order; save it C-contiguous".into());
    }
    let elements = samples.saturating_mul(t).saturating_mul(per_t);
    if elements > MAX_SPIKE_BITS {
        return Err(format!(
            "holds {elements} elements, more than stems reads ({MAX_SPIKE_BITS})"
        ));
    }
    let mut first = TensorBuilder::new(shape);
    let mut nonzero_per_t = vec![0u64; t as usize];
    let mut index = 0u64;
    let mut visit = |value: f64| -> Result<(), String> {
        if !value.is_finite() {
            return Err(format!("element {index} is {value}"));
        }
        if bits == 1 && value != 0.0 && value != 1.0 {
            return Err(format!(
                "element {index} is {value}: a 1-bit (spike) input holds only 0 and 1"
            ));
        }
        if value != 0.0 {
            let within = index % (t * per_t);
            let (ti, e) = (within / per_t, within % per_t);
            nonzero_per_t[ti as usize] += 1;
            if index < t * per_t {
                let plane = shape.height * shape.width;
                let (c, rest) = (e / plane, e % plane);
                first.set(ti as u32, c, rest / shape.width, rest % shape.width);
            }
        }
        index += 1;
        Ok(())
    };
    visit_values(npy, &mut visit)?;
    if index != elements {
        return Err(format!("is truncated: {index} of {elements} elements"));
    }
    let densities = nonzero_per_t
        .iter()
        .map(|&n| n as f64 / (samples * per_t).max(1) as f64)
        .collect();
    Ok(Entry {
        name: String::new(),
        spikes: first.finish(),
        densities,
        samples,
        elements,
    })
}

/// Calls `visit` with every element as a number, whatever its stored type.
fn visit_values<R: Read>(
    npy: npyz::NpyFile<R>,
    visit: &mut impl FnMut(f64) -> Result<(), String>,
) -> Result<(), String> {
    use npyz::{DType, TypeChar};
    let DType::Plain(ty) = npy.dtype() else {
        return Err(format!(
            "has dtype {:?}; expected numbers or booleans",
            npy.dtype()
        ));
    };
    let size = ty.size_field();
    macro_rules! each {
        ($t:ty) => {{
            for v in npy.data::<$t>().map_err(|e| e.to_string())? {
                visit(v.map_err(|e| format!("is truncated or unreadable: {e}"))? as f64)?;
            }
            Ok(())
        }};
    }
    match (ty.type_char(), size) {
        (TypeChar::Bool, 1) => {
            for v in npy.data::<bool>().map_err(|e| e.to_string())? {
                visit(
                    if v.map_err(|e| format!("is truncated or unreadable: {e}"))? {
                        1.0
                    } else {
                        0.0
                    },
                )?;
            }
            Ok(())
        }
        (TypeChar::Uint, 1) => each!(u8),
        (TypeChar::Uint, 2) => each!(u16),
        (TypeChar::Uint, 4) => each!(u32),
        (TypeChar::Uint, 8) => each!(u64),
        (TypeChar::Int, 1) => each!(i8),
        (TypeChar::Int, 2) => each!(i16),
        (TypeChar::Int, 4) => each!(i32),
        (TypeChar::Int, 8) => each!(i64),
        (TypeChar::Float, 4) => each!(f32),
        (TypeChar::Float, 8) => each!(f64),
        (c, s) => Err(format!(
            "has element type {c:?} of {s} bytes; expected bool, integers or float32/64"
        )),
    }
}
