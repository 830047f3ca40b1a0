//! The analytic model of the shared ports a transfer occupies: the DRAM's single port
//! and the mesh NoC's links.
//!
//! The scheduler books transfers in schedule order, but the hardware serves them in
//! time order: a transfer a later tile books may run in a gap an earlier booking left
//! (another core's loads while this core computes). So each port is a `Calendar` of
//! busy intervals, and a booking takes the first gap that fits at or after its earliest
//! cycle. On one core bookings arrive almost in time order and this is the old
//! in-order port.
//!
//! Timing follows the simulator's contract (`sim::components`): the DRAM holds its bus
//! for ⌈bits / bw⌉ cycles and data flows after the access latency; a NoC transfer is
//! cut-through, each link of its XY path busy for ⌈bits / link bw⌉ cycles from one hop
//! latency after the link before it started, and never finishing before it did.

use super::streams::Streams;
use crate::model::{Accelerator, Noc};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

/// Busy intervals of one port: (start, end exclusive), sorted, disjoint and not
/// touching. Bookings mostly arrive at the end, so it is a vector with fast paths
/// there.
#[derive(Debug, Default, Clone)]
pub(super) struct Calendar {
    busy: Vec<(u64, u64)>,
}

impl Calendar {
    /// The first cycle at or after `earliest` from which the port is free for `len`.
    pub fn first_fit(&self, earliest: u64, len: u64) -> u64 {
        if self.busy_until() <= earliest {
            return earliest;
        }
        // The first interval that ends after `earliest`.
        let from = self.busy.partition_point(|&(_, end)| end <= earliest);
        let mut t = earliest;
        for &(start, end) in &self.busy[from..] {
            if start >= t + len {
                break;
            }
            t = t.max(end);
        }
        t
    }

    /// Marks `start..end` busy (merging with what it overlaps or touches).
    pub fn block(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        match self.busy.last_mut() {
            Some(last) if last.1 < start => self.busy.push((start, end)),
            Some(last) if last.0 <= start => last.1 = last.1.max(end),
            None => self.busy.push((start, end)),
            Some(_) => {
                // Somewhere before the last interval: merge the run it overlaps.
                let lo = self.busy.partition_point(|&(_, e)| e < start);
                let hi = self.busy.partition_point(|&(s, _)| s <= end);
                let (mut s, mut e) = (start, end);
                if lo < hi {
                    s = s.min(self.busy[lo].0);
                    e = e.max(self.busy[hi - 1].1);
                }
                self.busy.splice(lo..hi, [(s, e)]);
            }
        }
    }

    /// Whether the port is busy at `t`, and the next cycle that may change (`None`:
    /// free from `t` on).
    pub fn at(&self, t: u64) -> (bool, Option<u64>) {
        let i = self.busy.partition_point(|&(_, end)| end <= t);
        match self.busy.get(i) {
            Some(&(start, end)) if start <= t => (true, Some(end)),
            Some(&(start, _)) => (false, Some(start)),
            None => (false, None),
        }
    }

    /// A copy with room for as many bookings again: a copy of exact size would be
    /// copied once more by the first booking after it.
    fn clone_to_grow(&self) -> Self {
        let mut busy = Vec::with_capacity(2 * self.busy.len());
        busy.extend_from_slice(&self.busy);
        Self { busy }
    }

    /// The end of the last busy interval (0 if never used).
    pub fn busy_until(&self) -> u64 {
        self.busy.last().map_or(0, |&(_, end)| end)
    }
}

/// A directed mesh link: from node, to node.
type Link = ([u32; 2], [u32; 2]);

/// The DRAM port and the NoC links, as the analytic model books them.
#[derive(Debug, Default, Clone)]
pub(super) struct Ports {
    dram: Calendar,
    /// Direction of the last DRAM booking (read/write turnaround).
    dram_last_write: Option<bool>,
    /// Streaming tiles' share of the DRAM bus.
    streams: Streams,
    links: FxHashMap<Link, Calendar>,
    /// Cycles each link is occupied, summed over its bookings.
    link_busy: FxHashMap<Link, u64>,
    /// Transfers into a core's global SRAM booked since the last `take_sram_holds`.
    sram_holds: Vec<SramHold>,
    /// Per core, until when the running tile's first fills hold its SRAM's bank read
    /// ports: (bank, cycle).
    bank_reads: Vec<SmallVec<[(u64, u64); 8]>>,
    /// What the DRAM and the SRAMs' banks are busy with, whatever the order.
    pub occupancy: Occupancy,
}

/// How long the shared ports are busy over a run, summed whatever order they serve in
/// (the links' is `link_busy`): what the latency bounds allow a run to wait.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Occupancy {
    /// DRAM bus cycles, each access with the longest turnaround.
    pub dram_cycles: u64,
    /// DRAM accesses of transfers (each delivers its data an access latency after its
    /// turn).
    pub dram_accesses: u64,
    /// DRAM accesses of streaming tiles' passes.
    pub streamed_accesses: u64,
    /// Global SRAM bank-port cycles of transfers (in from DRAM or another core, out to
    /// DRAM or another core), summed over banks, ports and cores.
    pub sram_transfer_cycles: u64,
    /// Global SRAM bank-port cycles of tiles' own accesses (their passes' fills and
    /// results), summed likewise.
    pub sram_tile_cycles: u64,
}

/// Data flowing into a core's global SRAM: `bits` from `addr` on hold the write ports
/// of the banks they pass through (`BankLayout::pieces`) over `start..end`.
#[derive(Debug, Clone, Copy)]
pub(super) struct SramHold {
    pub core: usize,
    pub start: u64,
    pub end: u64,
    pub addr: u64,
    pub bits: u64,
}

/// When a booked movement's data flows: it starts delivering at `start` and has all
/// arrived at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flow {
    pub start: u64,
    pub end: u64,
}

impl Ports {
    /// A copy to go on booking in (a checkpoint's, restored): the DRAM calendar, which
    /// grows with every transfer, with room to grow.
    pub fn clone_to_grow(&self) -> Self {
        Self {
            dram: self.dram.clone_to_grow(),
            dram_last_write: self.dram_last_write,
            streams: self.streams.clone(),
            links: self.links.clone(),
            link_busy: self.link_busy.clone(),
            sram_holds: self.sram_holds.clone(),
            bank_reads: self.bank_reads.clone(),
            occupancy: self.occupancy,
        }
    }

    /// The ports of an accelerator with `cores` cores.
    pub fn new(cores: usize) -> Self {
        Self {
            streams: Streams::new(cores),
            ..Self::default()
        }
    }

    /// One DRAM access of `bits`, not before `earliest`; returns its flow (from the end
    /// of the access latency to the last bit).
    pub fn dram(&mut self, acc: &Accelerator, bits: u64, write: bool, earliest: u64) -> Flow {
        let d = &acc.dram;
        let turnaround = self
            .dram_last_write
            .map_or(0, |last| d.turnaround(last, write));
        let burst = d.occupancy_cycles(bits, write);
        let latency = d.access_latency(write);
        self.occupancy.dram_cycles += burst + d.turnaround(!write, write);
        self.occupancy.dram_accesses += 1;
        let start = self.dram.first_fit(earliest, turnaround + burst);
        // The bus is held for the burst; the access latency overlaps the next one.
        self.dram.block(start, start + turnaround + burst);
        self.dram_last_write = Some(write);
        Flow {
            start: start + turnaround + latency,
            end: start + turnaround + burst + latency,
        }
    }

    /// Books data flowing into a core's global SRAM.
    pub fn hold_sram(&mut self, hold: SramHold) {
        self.sram_holds.push(hold);
    }

    /// The running tile on `core` reads its first fills out of these banks until
    /// these cycles (replacing its previous tile's).
    pub fn hold_bank_reads(&mut self, core: usize, until: impl Iterator<Item = (u64, u64)>) {
        if self.bank_reads.len() <= core {
            self.bank_reads.resize_with(core + 1, SmallVec::new);
        }
        self.bank_reads[core].clear();
        self.bank_reads[core].extend(until);
    }

    /// When a read of `bits` from `addr` out of `core`'s SRAM, ready at `earliest`, gets
    /// its banks' read ports: after the fills queued there before it.
    pub fn bank_read_start(
        &self,
        core: usize,
        layout: crate::model::BankLayout,
        (addr, bits): (u64, u64),
        earliest: u64,
    ) -> u64 {
        let Some(held) = self.bank_reads.get(core).filter(|h| !h.is_empty()) else {
            return earliest;
        };
        layout
            .pieces(addr, bits)
            .filter_map(|(bank, _)| held.iter().find(|(b, _)| *b == bank).map(|h| h.1))
            .fold(earliest, u64::max)
    }

    /// The holds booked since the last call.
    pub fn take_sram_holds(&mut self) -> std::vec::Drain<'_, SramHold> {
        self.sram_holds.drain(..)
    }

    /// A tile on `core` streaming from DRAM from `start` on, which would run `natural`
    /// cycles on a bus of its own and needs `bus_cycles` of it: when it ends, sharing the
    /// bus with the transfers booked and other cores' streams (`streams.rs`).
    pub fn stream_dram(
        &mut self,
        core: usize,
        start: u64,
        (natural, bus_cycles): (u64, u64),
    ) -> u64 {
        let dram = &self.dram;
        self.streams
            .book(core, start, (natural, bus_cycles), &|t| dram.at(t))
    }

    /// About how many bytes its calendars hold (for caches that keep copies).
    pub fn bytes(&self) -> usize {
        let interval = std::mem::size_of::<(u64, u64)>();
        self.dram.busy.len() * interval
            + self.streams.bytes()
            + self
                .links
                .values()
                .map(|c| c.busy.len() * interval + 64)
                .sum::<usize>()
            + self.link_busy.len() * 32
            + self
                .bank_reads
                .iter()
                .map(|b| b.len() * 16 + 8)
                .sum::<usize>()
    }

    /// When the DRAM bus is last busy.
    pub fn dram_busy_until(&self) -> u64 {
        self.dram.busy_until()
    }

    /// Occupies each link of the XY path from `from` to `to` for `bits` at `rate`
    /// (or the link's bandwidth if lower), from its first gap at or after `start`.
    pub fn occupy_links(
        &mut self,
        noc: &Noc,
        (from, to): ([u32; 2], [u32; 2]),
        bits: u64,
        rate: u64,
        start: u64,
    ) {
        if bits == 0 {
            return;
        }
        for link in noc.xy_path(from, to) {
            let duration = bits.div_ceil(rate.min(noc.link_bw(link.0, link.1)).max(1));
            let cal = self.links.entry(link).or_default();
            let at = cal.first_fit(start, duration);
            cal.block(at, at + duration);
            *self.link_busy.entry(link).or_default() += duration;
        }
    }

    /// Cycles the busiest link is occupied.
    pub fn busiest_link_cycles(&self) -> u64 {
        self.link_busy.values().copied().max().unwrap_or(0)
    }

    /// Cycles the links are occupied, summed over links.
    pub fn link_cycles(&self) -> u64 {
        self.link_busy.values().sum()
    }

    /// `bits` over the XY path from `from` to `to`, entering the first link no earlier
    /// than `ready` and finishing no earlier than `min_end` (data still arriving from
    /// upstream). Returns the flow out of the last link; an empty path passes the
    /// upstream flow through.
    pub fn noc(
        &mut self,
        noc: &Noc,
        (from, to): ([u32; 2], [u32; 2]),
        bits: u64,
        upstream: Flow,
    ) -> Flow {
        let mut ready = upstream.start;
        let mut min_end = upstream.end;
        let mut first = None;
        for link in noc.xy_path(from, to) {
            let duration = bits.div_ceil(noc.link_bw(link.0, link.1));
            let cal = self.links.entry(link).or_default();
            // Held until the upstream data has all passed (at least `duration`).
            let start = cal.first_fit(ready, duration.max(min_end.saturating_sub(ready)));
            let end = (start + duration).max(min_end);
            cal.block(start, end);
            *self.link_busy.entry(link).or_default() += end - start;
            first.get_or_insert(start);
            ready = start + noc.hop_latency_cycles;
            min_end = end + noc.hop_latency_cycles;
        }
        match first {
            Some(start) => Flow {
                start,
                end: min_end - noc.hop_latency_cycles,
            },
            None => upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_takes_the_first_gap_that_fits() {
        let mut c = Calendar::default();
        c.block(10, 20);
        c.block(30, 40);
        assert_eq!(c.first_fit(0, 10), 0);
        assert_eq!(c.first_fit(0, 11), 40);
        assert_eq!(c.first_fit(15, 10), 20);
        assert_eq!(c.first_fit(15, 11), 40);
        assert_eq!(c.first_fit(45, 5), 45);
        c.block(20, 30);
        assert_eq!(c.busy, vec![(10, 40)]);
        c.block(5, 50);
        assert_eq!(c.busy, vec![(5, 50)]);
        assert_eq!(c.busy_until(), 50);
        // Out of order, between intervals, touching both.
        let mut c = Calendar::default();
        for (s, e) in [(0, 5), (20, 25), (40, 45), (10, 12), (12, 20), (30, 31)] {
            c.block(s, e);
        }
        assert_eq!(c.busy, vec![(0, 5), (10, 25), (30, 31), (40, 45)]);
        assert_eq!(c.first_fit(3, 5), 5);
        assert_eq!(c.first_fit(3, 6), 31);
        assert_eq!(c.first_fit(26, 4), 26);
        assert_eq!(c.first_fit(26, 5), 31);
    }

    #[test]
    fn two_prefetches_queue_on_the_dram_port() {
        // The bundled chip: 64 bits per cycle, 100 cycles of access latency, reads only
        // (no turnaround).
        let acc = crate::model::Accelerator::load(
            std::path::Path::new("models/hardware/meta_proto.toml"),
            Default::default(),
        )
        .expect("bundled accelerator");
        let mut ports = Ports::default();
        // Two loads requested at cycle 1,000: 6,400 bits hold the port 100 cycles, and
        // the data flows after the access latency, 1,100 to 1,200.
        let first = ports.dram(&acc, 6_400, false, 1_000);
        assert_eq!((first.start, first.end), (1_100, 1_200));
        // The second, 12,800 bits, waits for the port until 1,100 and flows from
        // 1,100 + 100 to 1,100 + 200 + 100.
        let second = ports.dram(&acc, 12_800, false, 1_000);
        assert_eq!((second.start, second.end), (1_200, 1_400));
        // A third requested earlier, at 0, fits the gap before them (100 cycles from
        // 0 to 100: it arrived first, so the hardware serves it first too).
        let third = ports.dram(&acc, 6_400, false, 0);
        assert_eq!((third.start, third.end), (100, 200));
        assert_eq!(ports.dram_busy_until(), 1_300);
    }

    fn noc() -> Noc {
        Noc {
            mesh: [3, 1],
            link_bw_bits: 64,
            hop_latency_cycles: 1,
            energy_fj_per_bit_per_hop: 0.0,
            links: Vec::new(),
        }
    }

    #[test]
    fn two_flows_sharing_a_link_take_twice_as_long_as_one() {
        let noc = noc();
        let at0 = Flow { start: 0, end: 0 };
        let link = ([1, 0], [2, 0]);
        let alone = Ports::default().noc(&noc, link, 640, at0);
        assert_eq!(alone, Flow { start: 0, end: 10 });
        let mut ports = Ports::default();
        let first = ports.noc(&noc, link, 640, at0);
        let second = ports.noc(&noc, link, 640, at0);
        assert_eq!(first.end, 10);
        assert_eq!(second.end, 2 * alone.end);
        // A flow over another link does not wait.
        let other = ports.noc(&noc, ([0, 0], [1, 0]), 640, at0);
        assert_eq!(other.end, 10);
    }

    #[test]
    fn a_flow_is_cut_through_and_waits_for_a_busy_link_downstream() {
        // As in the simulator's harness: A crosses two links, B only the second.
        let noc = noc();
        let at0 = Flow { start: 0, end: 0 };
        let mut ports = Ports::default();
        let a = ports.noc(&noc, ([0, 0], [2, 0]), 640, at0);
        let b = ports.noc(&noc, ([1, 0], [2, 0]), 640, at0);
        assert_eq!(a.end, 10 + 1);
        assert_eq!(b.end, a.end + 10);
    }

    #[test]
    fn a_read_out_of_the_sram_waits_only_at_banks_the_first_fills_hold() {
        let layout = crate::model::BankLayout {
            banks: 4,
            bank_bits: 1000,
            capacity: 4000,
        };
        let mut p = Ports::default();
        p.hold_bank_reads(0, [(1, 500)].into_iter());
        // In bank 1: after the fills; in bank 2, or on another core: at once.
        assert_eq!(p.bank_read_start(0, layout, (1200, 100), 100), 500);
        assert_eq!(p.bank_read_start(0, layout, (2200, 100), 100), 100);
        assert_eq!(p.bank_read_start(1, layout, (1200, 100), 100), 100);
        // Across banks 0 and 1: the later.
        assert_eq!(p.bank_read_start(0, layout, (900, 200), 100), 500);
    }
}
