//! Reading a NIR file: an HDF5 file (written by the Python `nir` package) holding
//! `/version`, `/node/edges` (pairs of node names) and `/node/nodes/<name>/…`, one
//! group per node with a `type` string and its parameters as datasets.
//!
//! Only what the import needs is kept: every node's type, its integer parameters
//! (shapes, strides, paddings, …) and the shapes of its array parameters (weights).
//! Weight values are not read: costs depend on shapes, not values.

use super::ImportError;
use hdf5_reader::Hdf5File;
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
    let file = Hdf5File::open(path).map_err(file_error)?;
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
        for d in datasets {
            let field = d.name().to_string();
            if field == "type" {
                node.kind = d
                    .read_string()
                    .map_err(|e| ImportError::node(&node, "type", e.to_string()))?;
            } else if let Ok(v) = d.read_array::<i64>() {
                node.ints.insert(field, v.iter().copied().collect());
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
