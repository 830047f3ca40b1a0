//! A core's global SRAM as a scratchpad: address ranges handed out first-fit and
//! returned on free. An allocation may be scattered over several extents, so a request
//! fails only when the free total is too small (never because of fragmentation).

use serde::{Deserialize, Serialize};

/// A contiguous address range in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
}

impl Extent {
    /// One past the last bit; saturates, so an extent read from a hand-written schedule
    /// that would wrap lies outside every SRAM instead.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// Address of `offset` bits into the data laid out over `extents` (wrapping around;
/// 0 when they are empty). Where a fill or write of the data at that offset starts, for
/// both halves.
pub fn address_in(extents: &[Extent], offset: u64) -> u64 {
    let total: u64 = extents.iter().map(|e| e.len).sum();
    if total == 0 {
        return 0;
    }
    let mut left = offset % total;
    for e in extents {
        if left < e.len {
            return e.start + left;
        }
        left -= e.len;
    }
    0
}

/// From how many extents a free merges them into the free list in one pass rather than
/// inserting them one by one (each insert shifts the rest of the list).
const MERGE_FROM: usize = 4;

#[derive(Debug, Clone)]
pub struct Scratchpad {
    pub capacity: u64,
    /// Free extents, sorted by address, coalesced.
    free: Vec<Extent>,
    /// The list a merging free builds the next free list in (the last one's).
    spare: Vec<Extent>,
    pub used: u64,
    pub peak: u64,
}

impl Scratchpad {
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            free: vec![Extent {
                start: 0,
                len: capacity,
            }],
            spare: Vec::new(),
            used: 0,
            peak: 0,
        }
    }

    pub fn free_bits(&self) -> u64 {
        self.capacity - self.used
    }

    /// First-fit: one extent when a free range is large enough, otherwise the lowest
    /// free ranges until the request is covered. `None` if it does not fit.
    pub fn alloc(&mut self, bits: u64) -> Option<Vec<Extent>> {
        let mut out = Vec::new();
        self.alloc_into(bits, &mut out).then_some(out)
    }

    /// [`Scratchpad::alloc`] into `out` (emptied first), so that a caller allocating
    /// often reuses one list; `false`, `out` empty, when it does not fit.
    pub fn alloc_into(&mut self, bits: u64, out: &mut Vec<Extent>) -> bool {
        out.clear();
        if bits > self.free_bits() {
            return false;
        }
        if bits == 0 {
            return true;
        }
        if let Some(i) = self.free.iter().position(|e| e.len >= bits) {
            let e = self.free[i];
            if e.len == bits {
                self.free.remove(i);
            } else {
                self.free[i] = Extent {
                    start: e.start + bits,
                    len: e.len - bits,
                };
            }
            self.account(bits);
            out.push(Extent {
                start: e.start,
                len: bits,
            });
            return true;
        }
        // The lowest free ranges, whole but for the last: dropped from the list at once
        // (one by one, each would shift the rest of it).
        let mut need = bits;
        let mut whole = 0;
        for e in &mut self.free {
            let take = e.len.min(need);
            out.push(Extent {
                start: e.start,
                len: take,
            });
            need -= take;
            if take == e.len {
                whole += 1;
            } else {
                e.start += take;
                e.len -= take;
            }
            if need == 0 {
                break;
            }
        }
        self.free.drain(..whole);
        self.account(bits);
        true
    }

    fn account(&mut self, bits: u64) {
        self.used += bits;
        self.peak = self.peak.max(self.used);
    }

    /// Returns an allocation of `bits` that `alloc` handed out as `extents`.
    pub fn free(&mut self, bits: u64, extents: &[Extent]) {
        debug_assert_eq!(extents.iter().map(|e| e.len).sum::<u64>(), bits);
        self.release(extents);
    }

    pub fn release(&mut self, extents: &[Extent]) {
        if extents.len() >= MERGE_FROM && extents.windows(2).all(|w| w[0].end() <= w[1].start) {
            self.release_sorted(extents);
            return;
        }
        for e in extents {
            self.used -= e.len;
            let i = self.free.partition_point(|f| f.start < e.start);
            // Coalesced with its neighbours in place: most frees touch one, and a
            // shift of the list is the dearest part of a free.
            let joins_before = i > 0 && self.free[i - 1].end() == e.start;
            let joins_after = i < self.free.len() && e.end() == self.free[i].start;
            match (joins_before, joins_after) {
                (true, true) => {
                    self.free[i - 1].len += e.len + self.free[i].len;
                    self.free.remove(i);
                }
                (true, false) => self.free[i - 1].len += e.len,
                (false, true) => {
                    self.free[i].start = e.start;
                    self.free[i].len += e.len;
                }
                (false, false) => self.free.insert(i, *e),
            }
        }
    }

    /// Frees extents sorted by address: merged with the free list, neighbours
    /// coalesced, in one pass.
    fn release_sorted(&mut self, extents: &[Extent]) {
        let mut merged = std::mem::take(&mut self.spare);
        merged.clear();
        merged.reserve(self.free.len() + extents.len());
        let (mut a, mut b) = (self.free.iter().peekable(), extents.iter().peekable());
        loop {
            let e = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x.start < y.start => {
                    a.next();
                    x
                }
                (_, Some(&&y)) => {
                    b.next();
                    self.used -= y.len;
                    y
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, None) => break,
            };
            match merged.last_mut() {
                Some(last) if last.end() == e.start => last.len += e.len,
                _ => merged.push(e),
            }
        }
        self.spare = std::mem::replace(&mut self.free, merged);
        // Kept for its capacity only: a checkpoint's copy of the pad copies no stale list.
        self.spare.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_first_fit_and_scatters_when_fragmented() {
        let mut s = Scratchpad::new(100);
        let a = s.alloc(30).expect("fits");
        let b = s.alloc(30).expect("fits");
        let _c = s.alloc(30).expect("fits");
        assert_eq!(a[0].start, 0);
        assert_eq!(b[0].start, 30);
        s.release(&a);
        assert_eq!(s.free_bits(), 40);
        // 40 free in two pieces (0..30 and 90..100): a 35-bit request scatters.
        let d = s.alloc(35).expect("fits scattered");
        assert_eq!(d.iter().map(|e| e.len).sum::<u64>(), 35);
        assert_eq!(d.len(), 2);
        assert!(s.alloc(6).is_none());
        assert_eq!(s.peak, 95);
        s.release(&d);
        s.release(&b);
        assert_eq!(s.used, 30);
    }

    #[test]
    fn freeing_many_extents_at_once_leaves_the_list_one_by_one_would() {
        // A fragmented pad: 40 allocations of 10, every other one freed, then a
        // scattered allocation over the holes, freed again at once and one by one.
        let build = || {
            let mut s = Scratchpad::new(400);
            let blocks: Vec<_> = (0..40).map(|_| s.alloc(10).expect("fits")).collect();
            for b in blocks.iter().step_by(2) {
                s.release(b);
            }
            let scattered = s.alloc(150).expect("fits scattered");
            assert!(scattered.len() >= MERGE_FROM);
            (s, scattered)
        };
        let (mut at_once, scattered) = build();
        at_once.release(&scattered);
        let (mut one_by_one, _) = build();
        for e in &scattered {
            one_by_one.release(std::slice::from_ref(e));
        }
        assert_eq!(at_once.free, one_by_one.free);
        assert_eq!(at_once.used, one_by_one.used);
        assert_eq!(at_once.used, 200);
    }
}
