//! Streaming tiles sharing the DRAM bus.
//!
//! A streaming tile fetches its pieces throughout its run, using a share of the bus:
//! its bus cycles over its run. When tiles of several cores stream at once, the
//! hardware serves their pieces first come, first served, so each gets what the others
//! leave. The analytic half books in schedule order and cannot slow a tile it has
//! already booked, so a tile booked later runs at its own pace where the bus has room
//! for it, and at the rate the bus has left where it has not: what the tiles streaming
//! on other cores use (their bus cycles spread evenly over their runs) and the
//! transfers already booked (each holds the whole bus).

/// Per core, its streaming tiles: (start, end, bus cycles), in time order and disjoint
/// (a core runs one tile at a time).
#[derive(Debug, Default, Clone)]
pub(super) struct Streams {
    /// How many cores stream (one: none has another's streams to share the bus with).
    cores: usize,
    by_core: Vec<Vec<(u64, u64, u64)>>,
}

/// Where a bus is at a cycle: whether it is taken, and the next cycle that may change.
pub(super) type BusAt<'a> = &'a dyn Fn(u64) -> (bool, Option<u64>);

impl Streams {
    pub fn new(cores: usize) -> Self {
        Self {
            cores,
            by_core: Vec::new(),
        }
    }

    /// Books a tile on `core` streaming from `start` that would run `natural` cycles on
    /// a bus of its own and needs `cycles` of it; returns when it ends. `hard` tells
    /// where the bus is taken by booked transfers.
    pub fn book(
        &mut self,
        core: usize,
        start: u64,
        (natural, cycles): (u64, u64),
        hard: BusAt,
    ) -> u64 {
        let end = self.end(core, start, (natural, cycles), hard);
        // Only other cores' tiles read it: on one core, nothing is kept.
        if self.cores > 1 {
            if self.by_core.len() <= core {
                self.by_core.resize_with(core + 1, Vec::new);
            }
            self.by_core[core].push((start, end, cycles));
        }
        end
    }

    /// Walks the run from `start`: in each stretch where nothing changes, the tile
    /// goes at its own pace or, where the bus has less room than that, slower.
    fn end(&self, core: usize, start: u64, (natural, cycles): (u64, u64), hard: BusAt) -> u64 {
        if cycles == 0 || natural == 0 {
            return start + natural;
        }
        let pace = (cycles as f64 / natural as f64).min(1.0);
        // Of its run on a bus of its own, what is left to go.
        let (mut t, mut left) = (start, natural as f64);
        loop {
            let (taken, mut next) = hard(t);
            let mut others = 0.0;
            for (c, streams) in self.by_core.iter().enumerate() {
                let i = streams.partition_point(|&(_, e, _)| e <= t);
                let Some(&(s, e, n)) = streams.get(i).filter(|_| c != core) else {
                    continue;
                };
                let change = if s <= t {
                    others += n as f64 / (e - s).max(1) as f64;
                    e
                } else {
                    s
                };
                next = Some(next.map_or(change, |x| x.min(change)));
            }
            let room = if taken { 0.0 } else { (1.0 - others).max(0.0) };
            // The share of its own pace it keeps.
            let speed = (room / pace).min(1.0);
            match next {
                Some(n) if speed * ((n - t) as f64) < left => {
                    left -= speed * (n - t) as f64;
                    t = n;
                }
                _ if speed >= 1.0 => return t + left.ceil() as u64,
                _ if speed > 0.0 => return t + (left / speed).ceil() as u64,
                // No room and nothing ahead to change that: cannot happen, every
                // booking ends; run on as if alone.
                _ => return t + left.ceil() as u64,
            }
        }
    }

    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        let stream = std::mem::size_of::<(u64, u64, u64)>();
        self.by_core
            .iter()
            .map(|s| s.len() * stream + std::mem::size_of::<Vec<()>>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_bus(_: u64) -> (bool, Option<u64>) {
        (false, None)
    }

    #[test]
    fn a_tile_alone_on_the_bus_runs_at_its_own_pace() {
        let mut s = Streams::new(2);
        assert_eq!(s.book(0, 50, (1_000, 600), &free_bus), 1_050);
        // The same core's next tile comes after it and is not slowed by it.
        assert_eq!(s.book(0, 1_050, (1_000, 600), &free_bus), 2_050);
    }

    #[test]
    fn two_cores_streaming_at_once_share_the_bus() {
        let mut s = Streams::new(2);
        // Core 0 uses 600 of the bus's 1,000 cycles over its run, leaving 400: core 1,
        // which needs 600 over 1,000 too, gets 400 by then and the 200 it still needs
        // at its own pace after: 200 / 0.6 = 333.3 cycles more.
        assert_eq!(s.book(0, 0, (1_000, 600), &free_bus), 1_000);
        assert_eq!(s.book(1, 0, (1_000, 600), &free_bus), 1_334);
        // Where the two together need no more than the bus has, neither slows.
        let mut s = Streams::new(2);
        s.book(0, 0, (1_000, 400), &free_bus);
        assert_eq!(s.book(1, 0, (1_000, 600), &free_bus), 1_000);
    }

    #[test]
    fn a_transfer_booked_before_holds_the_whole_bus() {
        // A transfer holds the bus over 100..200: a tile streaming 1,000 cycles from 0
        // goes nowhere meanwhile and ends 100 cycles later.
        let transfer = |t: u64| match t {
            0..100 => (false, Some(100)),
            100..200 => (true, Some(200)),
            _ => (false, None),
        };
        let mut s = Streams::new(2);
        assert_eq!(s.book(0, 0, (1_000, 1_000), &transfer), 1_100);
    }
}
