//! When freed SRAM space is free in time.
//!
//! The scheduler's scratchpad frees space in schedule order, but a core's lanes free a
//! copy only when they reach the free: the previous tile's after lane once that tile
//! has run, and never before the transfers out of the copy (moves to other cores,
//! write-backs) have landed, which other cores may issue late. An allocation into the
//! space waits until then, as the hardware's lane waits at an occupied extent.

use crate::schedule::Extent;

/// Per core: ranges of its SRAM freed at a cycle the lanes have not yet passed.
#[derive(Debug, Default, Clone)]
pub(super) struct Vacancies {
    /// (start, end exclusive, cycle it is free).
    freed: Vec<(u64, u64, u64)>,
}

impl Vacancies {
    /// `extents` are free from cycle `at` on.
    pub fn free_at(&mut self, extents: &[Extent], at: u64) {
        self.freed
            .extend(extents.iter().map(|e| (e.start, e.end(), at)));
    }

    /// The cycle from which all of `extents` is free (0 if it was never held late).
    pub fn free_from(&self, extents: &[Extent]) -> u64 {
        self.freed
            .iter()
            .filter(|&&(start, end, _)| extents.iter().any(|e| e.start < end && start < e.end()))
            .map(|&(_, _, at)| at)
            .max()
            .unwrap_or(0)
    }

    /// Forgets what is free by `cycle`, where the core's lanes have got to.
    pub fn forget_until(&mut self, cycle: u64) {
        self.freed.retain(|&(_, _, at)| at > cycle);
    }

    pub fn is_empty(&self) -> bool {
        self.freed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(start: u64, len: u64) -> Extent {
        Extent { start, len }
    }

    #[test]
    fn an_allocation_waits_for_the_latest_free_it_overlaps() {
        let mut v = Vacancies::default();
        v.free_at(&[extent(0, 100)], 50);
        v.free_at(&[extent(100, 100), extent(400, 10)], 80);
        assert_eq!(v.free_from(&[extent(90, 5)]), 50);
        assert_eq!(v.free_from(&[extent(90, 20)]), 80);
        assert_eq!(v.free_from(&[extent(200, 200)]), 0);
        assert_eq!(v.free_from(&[extent(300, 101)]), 80);
        v.forget_until(50);
        assert_eq!(v.free_from(&[extent(0, 100)]), 0);
        assert_eq!(v.free_from(&[extent(400, 1)]), 80);
        v.forget_until(80);
        assert!(v.is_empty());
    }
}
