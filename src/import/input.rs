//! The network input, from an `Input` node's shape as exporters write it: [C, H, W] or
//! [N], often behind a batch axis, sometimes a time axis too, each of size 1.

use super::ImportError;
use super::layers::{Value, sizes};
use super::nir_file::NirNode;

/// The input value and, when axes were dropped to read it, a note saying which.
pub(super) fn input_value(
    node: &NirNode,
    readers: &[&NirNode],
) -> Result<(Value, Option<String>), ImportError> {
    let field = if node.ints.contains_key("shape") {
        "shape"
    } else {
        "input_type"
    };
    let dims = sizes(node, field)?;
    let value = |channels, height, width| Value {
        source: "input".into(),
        channels,
        height,
        width,
    };
    let mut core: &[u64] = &dims;
    while core.len() > 3 && core[0] == 1 {
        core = &core[1..];
    }
    // How many of `dims`' axes the value takes: the rest were batch or time.
    let (v, axes) = match core {
        [n] | [1, n] => (value(*n, 1, 1), 1),
        [1, 1, n] => {
            let v = flat_or_image(node, field, &dims, *n, readers)?;
            let axes = if v.width == 1 { 1 } else { 3 };
            (v, axes)
        }
        [c, h, w] => (value(*c, *h, *w), 3),
        [t, ..] if core.len() > 3 => {
            return Err(ImportError::node(
                node,
                field,
                format!(
                    "{dims:?}: a leading axis of {t}; stems reads one timestep of one sample ([C, H, W] or [N], behind axes of size 1) and takes the timestep count from --timesteps"
                ),
            ));
        }
        _ => {
            return Err(ImportError::node(
                node,
                field,
                format!("{dims:?}: stems takes [C, H, W] or [N] inputs"),
            ));
        }
    };
    let dropped = dims.len() - axes;
    let note = (dropped > 0).then(|| {
        format!(
            "The input's shape {dims:?} has {dropped} leading ax{} of size 1 (batch or time), dropped: read as {}.",
            if dropped == 1 { "is" } else { "es" },
            if axes == 1 {
                format!("{} values", v.channels)
            } else {
                format!("{}×{}×{}", v.channels, v.height, v.width)
            }
        )
    });
    Ok((v, note))
}

/// [1, 1, N] is N values behind two axes of size 1, or a one-row image with one
/// channel: what reads it tells which, and when nothing does, the import refuses.
fn flat_or_image(
    node: &NirNode,
    field: &str,
    dims: &[u64],
    n: u64,
    readers: &[&NirNode],
) -> Result<Value, ImportError> {
    let image = Value {
        source: "input".into(),
        channels: 1,
        height: 1,
        width: n,
    };
    let flat = Value {
        channels: n,
        width: 1,
        ..image.clone()
    };
    let conv_channels = |r: &NirNode| match r.arrays.get("weight").map(Vec::as_slice) {
        Some([_, c, _, _]) if r.kind == "Conv2d" => Some(*c),
        _ => None,
    };
    match readers {
        [r] if matches!(r.kind.as_str(), "Affine" | "Linear") => Ok(flat),
        [r] if conv_channels(r) == Some(1) => Ok(image),
        [r] if conv_channels(r) == Some(n) => Ok(flat),
        _ => Err(ImportError::node(
            node,
            field,
            format!(
                "{dims:?} reads as a 1×1×{n} image or as {n} values behind batch and time axes of size 1, and what reads it does not tell which: export the input as [{n}] or as [C, H, W]"
            ),
        )),
    }
}
