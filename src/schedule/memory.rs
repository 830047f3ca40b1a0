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

#[derive(Debug, Clone)]
pub struct Scratchpad {
    pub capacity: u64,
    /// Free extents, sorted by address, coalesced.
    free: Vec<Extent>,
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
        let mut need = bits;
        while need > 0 {
            let e = self.free[0];
            let take = e.len.min(need);
            out.push(Extent {
                start: e.start,
                len: take,
            });
            if take == e.len {
                self.free.remove(0);
            } else {
                self.free[0] = Extent {
                    start: e.start + take,
                    len: e.len - take,
                };
            }
            need -= take;
        }
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
}
