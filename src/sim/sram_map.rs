//! A core's global SRAM as its controller lays it out: which occupant — a data object
//! or a streaming tile's staging area — holds which address range, how full it is, and
//! where an access `offset` bits into an occupant's data falls.
//!
//! Contract: `occupy` never overlaps live ranges (it reports `Overlap` and changes
//! nothing, so the caller can wait for another lane's free) and never exceeds the
//! capacity; `vacate` releases exactly what the occupant holds.

use super::message::Cycle;
use crate::schedule::memory::{Extent, address_in};
use crate::tiling::graph::{ObjectId, TileId};
use std::collections::{BTreeMap, HashMap};

/// What holds an address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant {
    Object(ObjectId),
    /// The staging area of a streaming tile.
    Staging(TileId),
}

/// Why an occupancy change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The range is still held by someone else (wait for its free).
    Overlap,
    /// The SRAM would hold more than its capacity: `would_hold` bits.
    Overflow { would_hold: u64 },
    /// `vacate` of a range the occupant does not hold.
    NotHeld(Extent),
}

#[derive(Debug, Clone)]
pub struct SramMap {
    pub capacity: u64,
    used: u64,
    pub peak: u64,
    /// start → (len, occupant).
    live: BTreeMap<u64, (u64, Occupant)>,
    objects: HashMap<ObjectId, Vec<Extent>>,
    staging: HashMap<TileId, Vec<Extent>>,
    /// Occupancy over time: (cycle, bits) after each change.
    pub occupancy: Vec<(Cycle, u64)>,
}

impl SramMap {
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            used: 0,
            peak: 0,
            live: BTreeMap::new(),
            objects: HashMap::new(),
            staging: HashMap::new(),
            occupancy: vec![(0, 0)],
        }
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    /// Takes `extents` for `who` at cycle `now`.
    pub fn occupy(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        now: Cycle,
    ) -> Result<(), MapError> {
        for e in extents {
            if let Some((&start, &(len, _))) = self.live.range(..e.end()).next_back()
                && start + len > e.start
            {
                return Err(MapError::Overlap);
            }
        }
        let bits: u64 = extents.iter().map(|e| e.len).sum();
        if self.used + bits > self.capacity {
            return Err(MapError::Overflow {
                would_hold: self.used + bits,
            });
        }
        for e in extents {
            self.live.insert(e.start, (e.len, who));
        }
        match who {
            Occupant::Object(o) => self.objects.insert(o, extents.to_vec()),
            Occupant::Staging(t) => self.staging.insert(t, extents.to_vec()),
        };
        self.used += bits;
        self.peak = self.peak.max(self.used);
        self.sample(now);
        Ok(())
    }

    /// Releases `extents`, which `who` must hold.
    pub fn vacate(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        now: Cycle,
    ) -> Result<(), MapError> {
        for e in extents {
            match self.live.get(&e.start) {
                Some(&(len, o)) if len == e.len && o == who => {}
                _ => return Err(MapError::NotHeld(*e)),
            }
        }
        for e in extents {
            self.live.remove(&e.start);
            self.used -= e.len;
        }
        match who {
            Occupant::Object(o) => self.objects.remove(&o),
            Occupant::Staging(t) => self.staging.remove(&t),
        };
        self.sample(now);
        Ok(())
    }

    fn sample(&mut self, now: Cycle) {
        let used = self.used;
        match self.occupancy.last_mut() {
            Some(last) if last.0 == now => last.1 = used,
            _ => self.occupancy.push((now, used)),
        }
    }

    /// The tile whose staging area starts where `extents` start.
    pub fn staging_owner(&self, extents: &[Extent]) -> Option<TileId> {
        self.staging
            .iter()
            .find(|(_, ex)| ex.first() == extents.first())
            .map(|(t, _)| *t)
    }

    pub fn staging(&self, tile: TileId) -> Vec<Extent> {
        self.staging.get(&tile).cloned().unwrap_or_default()
    }

    /// The first range still held, if any.
    pub fn first_live(&self) -> Option<(u64, u64, Occupant)> {
        self.live.iter().next().map(|(&s, &(l, o))| (s, l, o))
    }

    /// Address of `offset` bits into the data of `objects` (their extents in order).
    pub fn address(&self, objects: &[ObjectId], offset: u64) -> u64 {
        let extents: Vec<Extent> = objects
            .iter()
            .filter_map(|o| self.objects.get(o))
            .flatten()
            .copied()
            .collect();
        address_in(&extents, offset)
    }

    /// Where an object's data starts (0 when it is not allocated).
    pub fn start_of(&self, object: ObjectId) -> u64 {
        self.objects
            .get(&object)
            .and_then(|e| e.first())
            .map_or(0, |e| e.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(start: u64, len: u64) -> Extent {
        Extent { start, len }
    }

    #[test]
    fn occupy_refuses_overlaps_and_overflow_and_vacate_only_what_is_held() {
        let mut m = SramMap::new(100);
        let a = Occupant::Object(1);
        m.occupy(a, &[ex(0, 40)], 5).expect("free");
        assert_eq!(
            m.occupy(Occupant::Staging(3), &[ex(30, 20)], 6),
            Err(MapError::Overlap)
        );
        assert_eq!(
            m.occupy(Occupant::Object(2), &[ex(40, 70)], 6),
            Err(MapError::Overflow { would_hold: 110 })
        );
        assert_eq!(
            m.vacate(Occupant::Object(2), &[ex(0, 40)], 7),
            Err(MapError::NotHeld(ex(0, 40)))
        );
        assert_eq!(m.used(), 40);
        m.vacate(a, &[ex(0, 40)], 8).expect("held");
        assert_eq!((m.used(), m.peak), (0, 40));
        assert_eq!(m.occupancy, vec![(0, 0), (5, 40), (8, 0)]);
    }

    #[test]
    fn addresses_run_through_scattered_extents_and_wrap() {
        let e = [ex(100, 10), ex(500, 5)];
        assert_eq!(address_in(&e, 3), 103);
        assert_eq!(address_in(&e, 12), 502);
        assert_eq!(address_in(&e, 15), 100);
        assert_eq!(address_in(&[], 7), 0);
    }
}
