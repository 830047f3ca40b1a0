//! Where the data objects live in DRAM, as the simulator's DRAM requests name them
//! (`stems simulate --dram-trace`): one region per object, in object order (weights,
//! feature chunks, network-input slices, state chunks), each starting on a 64-byte
//! line. A region holds its object's dense size, twice that when the DRAM stores
//! features compressed (a compressed chunk of dense data can outgrow its dense size).
//! Regions never overlap and are never reused, so two objects never share an address.

use crate::tiling::graph::{DataObject, ObjectId};

/// The DRAM request size: one 64-byte line (a DDR4 x64 burst of 8).
pub const LINE_BYTES: u64 = 64;

#[derive(Debug, Clone)]
pub struct DramLayout {
    /// Byte address of each object's region.
    base: Vec<u64>,
    /// Dense bits of each object (the offsets pieces are counted in).
    bits: Vec<u64>,
}

impl DramLayout {
    pub fn of(objects: &[DataObject], compressed_features: bool) -> Self {
        let mut at = 0u64;
        let mut base = Vec::with_capacity(objects.len());
        for o in objects {
            base.push(at);
            let factor = if compressed_features && o.feature_tensor().is_some() {
                2
            } else {
                1
            };
            let bytes = (o.bits * factor).div_ceil(8);
            at = at.saturating_add(bytes.div_ceil(LINE_BYTES).max(1) * LINE_BYTES);
        }
        Self {
            base,
            bits: objects.iter().map(|o| o.bits).collect(),
        }
    }

    /// The (byte address, bits) pieces holding bits `offset..offset + bits` of
    /// `objects` laid end to end; bits beyond their end continue the last region.
    pub fn pieces(&self, objects: &[ObjectId], offset: u64, bits: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let (mut skip, mut left) = (offset, bits);
        for &o in objects {
            let size = self.bits.get(o).copied().unwrap_or(0);
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

    #[test]
    fn regions_start_on_lines_and_pieces_cross_objects() {
        // 100 bytes and 8 bytes: the second region starts on the next line (128).
        let layout = DramLayout::of(&[weights(0, 800), weights(1, 64)], false);
        assert_eq!(layout.pieces(&[1], 0, 64), vec![(128, 64)]);
        // Bits 792..856 of the two laid end to end: 8 of the first, 56 of the second.
        assert_eq!(layout.pieces(&[0, 1], 792, 64), vec![(99, 8), (128, 56)]);
    }
}
