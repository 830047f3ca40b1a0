//! Where the data objects live in DRAM: one region per object, in object order
//! (weights, feature chunks, network-input slices, state chunks), each starting on a
//! 64-byte line. A region holds its object's dense size, twice that when the DRAM
//! stores features compressed (a compressed chunk of dense data can outgrow its dense
//! size). The scheduler places them and the Schedule carries the placement; loading a
//! schedule refuses one where two objects share a byte. The simulator's DRAM requests
//! (the timing model's bursts, `stems simulate --dram-trace`) go to these addresses.

use crate::model::{Problem, Workload};
use crate::tiling::graph::{DataObject, ObjectId};
use serde::{Deserialize, Serialize};

pub use crate::model::dram_timing::LINE_BYTES;

/// Byte address of each object's region (absent in older files: placed on load).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DramPlacement {
    pub base: Vec<u64>,
}

/// The bytes object `o`'s region spans.
fn region_bytes(o: &DataObject, compressed_features: bool) -> u64 {
    let factor = if compressed_features && o.feature_tensor().is_some() {
        2
    } else {
        1
    };
    (o.bits.saturating_mul(factor))
        .div_ceil(8)
        .div_ceil(LINE_BYTES)
        .max(1)
        .saturating_mul(LINE_BYTES)
}

impl DramPlacement {
    /// The objects end to end, in order.
    pub fn of(objects: &[DataObject], compressed_features: bool) -> Self {
        let mut at = 0u64;
        let mut base = Vec::with_capacity(objects.len());
        for o in objects {
            base.push(at);
            at = at.saturating_add(region_bytes(o, compressed_features));
        }
        Self { base }
    }

    /// The first byte after the last region.
    pub fn end_bytes(&self, objects: &[DataObject], compressed_features: bool) -> u64 {
        objects
            .iter()
            .zip(&self.base)
            .map(|(o, &b)| b.saturating_add(region_bytes(o, compressed_features)))
            .max()
            .unwrap_or(0)
    }

    /// Why the placement cannot hold `objects`: a region per object, each on a line,
    /// no two sharing a byte.
    pub fn problems(
        &self,
        objects: &[DataObject],
        workload: &Workload,
        compressed_features: bool,
    ) -> Vec<Problem> {
        let el = "dram_placement";
        if self.base.len() != objects.len() {
            return vec![
                Problem::new(
                    el,
                    format!("{} regions for {} objects", self.base.len(), objects.len()),
                )
                .field("base"),
            ];
        }
        let mut problems = Vec::new();
        let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(objects.len());
        for (o, &b) in objects.iter().zip(&self.base) {
            if !b.is_multiple_of(LINE_BYTES) {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "object {} starts at 0x{b:X}, not on a {LINE_BYTES}-byte line",
                            o.id
                        ),
                    )
                    .field(format!("base[{}]", o.id)),
                );
            }
            spans.push((
                b,
                b.saturating_add(region_bytes(o, compressed_features)),
                o.id,
            ));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            let ((_, a1, a), (b0, _, b)) = (w[0], w[1]);
            if b0 < a1 {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "objects {a} ({}) and {b} ({}) share DRAM bytes 0x{b0:X}..0x{a1:X}: one would overwrite the other",
                            objects[a].describe(workload),
                            objects[b].describe(workload)
                        ),
                    )
                    .field(format!("base[{b}]")),
                );
            }
        }
        problems
    }

    /// The (byte address, bits) pieces holding bits `offset..offset + bits` of
    /// `objects` (ids into `all`) laid end to end; bits beyond their end continue the
    /// last region.
    pub fn pieces(
        &self,
        all: &[DataObject],
        objects: &[ObjectId],
        offset: u64,
        bits: u64,
    ) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let (mut skip, mut left) = (offset, bits);
        for &o in objects {
            let size = all.get(o).map_or(0, |x| x.bits);
            if skip >= size {
                skip -= size;
                continue;
            }
            let take = (size - skip).min(left);
            out.push((self.base[o] + skip / 8, take));
            left -= take;
            skip = 0;
            if left == 0 {
                return out;
            }
        }
        match (out.last_mut(), objects.last()) {
            (Some(last), _) => last.1 += left,
            (None, Some(&o)) if o < self.base.len() => out.push((self.base[o] + skip / 8, left)),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiling::graph::{DataClass, ObjectKind};

    fn weights(id: usize, bits: u64) -> DataObject {
        DataObject {
            id,
            kind: ObjectKind::Weights { layer: id },
            class: DataClass::W,
            bits,
            readers: Default::default(),
            producer: None,
            network_output: false,
        }
    }

    fn workload() -> Workload {
        Workload::load(std::path::Path::new("models/workloads/tiny_fused.toml"))
            .expect("bundled workload")
    }

    #[test]
    fn regions_start_on_lines_and_pieces_cross_objects() {
        // 100 bytes and 8 bytes: the second region starts on the next line (128).
        let objects = [weights(0, 800), weights(1, 64)];
        let placed = DramPlacement::of(&objects, false);
        let w = workload();
        assert!(placed.problems(&objects, &w, false).is_empty());
        assert_eq!(placed.pieces(&objects, &[1], 0, 64), vec![(128, 64)]);
        // Bits 792..856 of the two laid end to end: 8 of the first, 56 of the second.
        assert_eq!(
            placed.pieces(&objects, &[0, 1], 792, 64),
            vec![(99, 8), (128, 56)]
        );
    }

    #[test]
    fn overlapping_or_unaligned_regions_are_named() {
        let objects = [weights(0, 800), weights(1, 64)];
        let overlap = DramPlacement { base: vec![0, 64] };
        let w = workload();
        let p = overlap.problems(&objects, &w, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message.contains("share DRAM bytes 0x40..0x80"),
            "{}",
            p[0].message
        );
        let short = DramPlacement { base: vec![0] };
        assert!(
            short.problems(&objects, &w, false)[0]
                .message
                .contains("1 regions for 2 objects")
        );
        let unaligned = DramPlacement { base: vec![0, 130] };
        assert!(
            unaligned.problems(&objects, &w, false)[0]
                .message
                .contains("not on a 64-byte line")
        );
    }
}
