//! Reading a NIR file: an HDF5 file (written by the Python `nir` package) holding
//! `/version`, `/node/edges` (pairs of node names) and `/node/nodes/<name>/…`, one
//! group per node with a `type` string and its parameters as datasets.
//!
//! Only what the import needs is kept: every node's type, its integer parameters
//! (shapes, strides, paddings, …) and the shapes of its array parameters (weights).
//! Weight values are not read: costs depend on shapes, not values. An integer
//! parameter is read whatever type the writer stored it in (numpy's default integer
//! is int32 on some platforms; some exporters write floats), and a value that is not a
//! whole number is refused rather than dropped.

use super::ImportError;
use hdf5_reader::{Datatype, Hdf5File, OpenOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct NirNode {
    pub name: String,
    /// `Conv2d`, `LIF`, …
    pub kind: String,
    /// Integer parameters, flattened (`stride` → [1, 1]).
    pub ints: BTreeMap<String, Vec<i64>>,
    /// Shapes of the floating-point parameters (`weight` → [8, 2, 3, 3]).
    pub arrays: BTreeMap<String, Vec<u64>>,
}

impl NirNode {
    /// An integer parameter, or an error naming the node and the field.
    pub fn int_list(&self, field: &str) -> Result<&[i64], ImportError> {
        self.ints
            .get(field)
            .map(Vec::as_slice)
            .ok_or_else(|| self.missing(field))
    }

    pub fn array(&self, field: &str) -> Result<&[u64], ImportError> {
        self.arrays
            .get(field)
            .map(Vec::as_slice)
            .ok_or_else(|| self.missing(field))
    }

    fn missing(&self, field: &str) -> ImportError {
        ImportError::node(self, field, "is missing")
    }
}

/// The graph as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NirGraph {
    pub version: String,
    pub nodes: BTreeMap<String, NirNode>,
    pub edges: Vec<(String, String)>,
}

/// Reads `path`. Nested graphs (a node that is itself a graph) are refused by name.
pub fn read(path: &Path) -> Result<NirGraph, ImportError> {
    let file_error = |e: hdf5_reader::error::Error| ImportError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    // Every read is of a name, a string or a handful of integers: a dataspace that
    // claims more (a corrupt header) is refused before anything is allocated.
    let options = OpenOptions {
        max_read_bytes: MAX_READ_BYTES,
        ..OpenOptions::default()
    };
    let file = Hdf5File::open_with_options(path, options).map_err(file_error)?;
    let version = file
        .dataset("/version")
        .and_then(|d| d.read_string())
        .unwrap_or_else(|_| "unknown".into());
    let flat = file
        .dataset("/node/edges")
        .and_then(|d| d.read_strings())
        .map_err(|e| ImportError::Graph(format!("/node/edges: {e}")))?;
    if flat.len() % 2 != 0 {
        return Err(ImportError::Graph(format!(
            "/node/edges holds {} names, not pairs",
            flat.len()
        )));
    }
    let edges = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let mut nodes = BTreeMap::new();
    let groups = file
        .group("/node/nodes")
        .and_then(|g| g.groups())
        .map_err(|e| ImportError::Graph(format!("/node/nodes: {e}")))?;
    for g in groups {
        let name = g.name().to_string();
        let mut node = NirNode {
            name: name.clone(),
            kind: String::new(),
            ints: BTreeMap::new(),
            arrays: BTreeMap::new(),
        };
        let datasets = g
            .datasets()
            .map_err(|e| ImportError::Graph(format!("node '{name}': {e}")))?;
        // The type first, so that errors in the other fields name it.
        if let Some(d) = datasets.iter().find(|d| d.name() == "type") {
            node.kind = d
                .read_string()
                .map_err(|e| ImportError::node(&node, "type", e.to_string()))?;
        }
        for d in datasets.iter().filter(|d| d.name() != "type") {
            let field = d.name().to_string();
            if INTEGER_FIELDS.contains(&field.as_str()) {
                let values = read_integers(d).map_err(|m| ImportError::node(&node, &field, m))?;
                node.ints.insert(field, values);
            } else {
                node.arrays.insert(field, d.shape().to_vec());
            }
        }
        if node.kind.is_empty() {
            let has_subgraph = g.groups().map(|s| !s.is_empty()).unwrap_or(false);
            let why = if has_subgraph {
                "is a nested graph, which stems does not import; flatten it in Python first"
            } else {
                "has no type"
            };
            return Err(ImportError::node(&node, "type", why));
        }
        nodes.insert(name, node);
    }
    Ok(NirGraph {
        version,
        nodes,
        edges,
    })
}

/// The parameters NIR stores as integers; every other dataset is an array whose shape
/// alone is kept.
const INTEGER_FIELDS: &[&str] = &[
    "shape",
    "input_type",
    "output_type",
    "stride",
    "padding",
    "dilation",
    "groups",
    "kernel_size",
];

/// An integer parameter holds one value per axis at most; more is a corrupt file.
const MAX_INTEGER_VALUES: u64 = 16;

/// Bound on one read (strings, edge lists, integer parameters).
const MAX_READ_BYTES: usize = 64 << 20;

/// An integer parameter's values, from any integer or floating-point type.
fn read_integers(d: &hdf5_reader::Dataset) -> Result<Vec<i64>, String> {
    let n = d.num_elements().map_err(|e| e.to_string())?;
    if n > MAX_INTEGER_VALUES {
        return Err(format!(
            "holds {n} values; an integer parameter has at most {MAX_INTEGER_VALUES}"
        ));
    }
    let err = |e: hdf5_reader::error::Error| e.to_string();
    let ints = |v: Vec<i128>| {
        v.into_iter()
            .map(|x| i64::try_from(x).map_err(|_| format!("{x} does not fit a 64-bit integer")))
            .collect()
    };
    let read = |f: fn(&hdf5_reader::Dataset) -> Result<Vec<i128>, hdf5_reader::error::Error>| {
        f(d).map_err(err)
    };
    match d.dtype().clone() {
        Datatype::FixedPoint { size, signed, .. } => ints(match (size, signed) {
            (1, true) => read(widen::<i8>)?,
            (2, true) => read(widen::<i16>)?,
            (4, true) => read(widen::<i32>)?,
            (8, true) => read(widen::<i64>)?,
            (1, false) => read(widen::<u8>)?,
            (2, false) => read(widen::<u16>)?,
            (4, false) => read(widen::<u32>)?,
            (8, false) => read(widen::<u64>)?,
            _ => {
                return Err(format!(
                    "is a {size}-byte integer, which HDF5 readers do not know"
                ));
            }
        }),
        Datatype::FloatingPoint { size, .. } => {
            let values: Vec<f64> = match size {
                2 => half_floats(d).map_err(err)?,
                4 => d
                    .read_array::<f32>()
                    .map_err(err)?
                    .iter()
                    .map(|&x| x as f64)
                    .collect(),
                8 => d
                    .read_array::<f64>()
                    .map_err(err)?
                    .iter()
                    .copied()
                    .collect(),
                _ => {
                    return Err(format!(
                        "is a {size}-byte float, which HDF5 readers do not know"
                    ));
                }
            };
            values
                .into_iter()
                .map(|x| {
                    if x.fract() == 0.0 && x.abs() < 9.0e15 {
                        Ok(x as i64)
                    } else {
                        Err(format!("{x} is not a whole number"))
                    }
                })
                .collect()
        }
        other => Err(format!("is stored as {other:?}; expected integers")),
    }
}

fn widen<T: hdf5_reader::H5Type + Copy + Into<i128>>(
    d: &hdf5_reader::Dataset,
) -> Result<Vec<i128>, hdf5_reader::error::Error> {
    Ok(d.read_array::<T>()?.iter().map(|&x| x.into()).collect())
}

/// IEEE half-precision values (which hdf5-reader does not decode), from their bytes.
fn half_floats(d: &hdf5_reader::Dataset) -> Result<Vec<f64>, hdf5_reader::error::Error> {
    let bytes = d.read_native_bytes()?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| half_to_f64(u16::from_ne_bytes([b[0], b[1]])))
        .collect())
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let mantissa = f64::from(h & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}
