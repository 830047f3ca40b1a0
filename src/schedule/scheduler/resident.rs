//! The objects resident in one core's global SRAM, as a set with constant-time insert,
//! remove and membership (the scheduler updates it for every copy it makes or frees).
//! Iteration order is unspecified: every choice made over it ranks objects by a key
//! that ends in the object id, so no decision depends on the order.

use crate::tiling::graph::ObjectId;

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(super) struct ResidentSet {
    members: Vec<ObjectId>,
    /// Per object: its index in `members`, or `ABSENT`.
    slot: Vec<u32>,
}

impl ResidentSet {
    /// An empty set over objects `0..objects`.
    pub(super) fn new(objects: usize) -> Self {
        Self {
            members: Vec::new(),
            slot: vec![ABSENT; objects],
        }
    }

    pub(super) fn insert(&mut self, o: ObjectId) {
        if self.slot[o] == ABSENT {
            self.slot[o] = self.members.len() as u32;
            self.members.push(o);
        }
    }

    pub(super) fn remove(&mut self, o: ObjectId) {
        let at = self.slot[o];
        if at == ABSENT {
            return;
        }
        self.members.swap_remove(at as usize);
        if let Some(&moved) = self.members.get(at as usize) {
            self.slot[moved] = at;
        }
        self.slot[o] = ABSENT;
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &ObjectId> + '_ {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_removes_and_iterates_members_once() {
        let mut s = ResidentSet::new(6);
        for o in [4, 1, 3, 1] {
            s.insert(o);
        }
        s.remove(4);
        s.remove(2);
        s.insert(5);
        let mut m: Vec<_> = s.iter().copied().collect();
        m.sort_unstable();
        assert_eq!(m, vec![1, 3, 5]);
        s.remove(1);
        s.remove(5);
        s.remove(3);
        assert_eq!(s.iter().count(), 0);
    }
}
