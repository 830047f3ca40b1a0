//! The DRAM timing model's device and controller: per-bank state machines (activate,
//! read/write, precharge, refresh) under the standard's constraints, in DRAM clocks.
//!
//! A transfer arrives as a list of bursts (byte addresses). Each channel's controller
//! queues up to `queue_depth` of them: a burst enters its channel's queue when the one
//! `queue_depth` ahead of it there has issued its column command, and from then on its bank may precharge and
//! activate (ahead of the data bus, as controllers do). Column commands issue in queue
//! order under FCFS; under FR-FCFS, a burst to an open row goes before older bursts to
//! other rows of the queue. Every rank refreshes all its banks every tREFI (postponed
//! until its banks' current accesses are done), each refresh blocking it for tRFC.
//! Transfers are served in arrival order, as the port model serves them.

use crate::model::dram_timing::{AddressDecoder, DramAddress, DramTiming, PagePolicy, Scheduling};
use serde::Serialize;

/// A time in DRAM clocks.
pub type Clock = u64;

#[derive(Debug, Clone, Default)]
struct Bank {
    open: Option<u64>,
    act_ready: Clock,
    col_ready: Clock,
    pre_ready: Clock,
    /// Until when a refresh keeps it closed.
    refreshed_until: Clock,
}

#[derive(Debug, Clone, Default)]
struct Rank {
    /// The last four activates (tFAW), a ring: `acts[next_act]` is the oldest.
    acts: [Option<Clock>; 4],
    next_act: usize,
    last_act: Option<Clock>,
    last_act_in_group: Vec<Option<Clock>>,
    next_refresh: Clock,
    /// End of the last write's data and its bank group (tWTR).
    write_end: Option<(Clock, u64)>,
}

#[derive(Debug, Clone, Default)]
struct Channel {
    bus_free: Clock,
    /// Last column command: clock, rank, bank group, write.
    last_col: Option<(Clock, u64, u64, bool)>,
}

/// What the device did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DramTimingStats {
    pub bursts: u64,
    pub row_hits: u64,
    /// Activates into an idle (precharged) bank.
    pub row_misses: u64,
    /// Activates that first closed another open row of the bank.
    pub row_conflicts: u64,
    pub refreshes: u64,
    pub refresh_clocks: u64,
    /// Changes of direction on a channel's data bus.
    pub turnarounds: u64,
    /// Clocks data moved on the buses, summed over channels.
    pub bus_busy_clocks: u64,
    /// Clocks the run lasted in DRAM clocks (the span `bus_utilisation` is over).
    pub span_clocks: u64,
}

impl DramTimingStats {
    /// Bursts served from an open row, over all bursts.
    pub fn row_hit_rate(&self) -> f64 {
        self.row_hits as f64 / self.bursts.max(1) as f64
    }

    /// Row activations, each with its precharge: into idle banks and over open rows.
    pub fn activates(&self) -> u64 {
        self.row_misses + self.row_conflicts
    }
}

/// When a transfer's data moved, and what delayed it, in DRAM clocks. The delays are
/// the gaps on each channel's bus beyond back-to-back bursts (the first one counted
/// from an activate and CAS latency after arrival), each charged to what held its
/// burst's column command: its row opening, a refresh, or the rest (the queue, the
/// column spacing, a turnaround).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub first_data: Clock,
    pub last_data: Clock,
    /// Gap clocks while rows opened (precharge, activate, tRRD, tFAW).
    pub row_clocks: Clock,
    /// Gap clocks while a refresh blocked the bank.
    pub refresh_clocks: Clock,
    /// Other gap clocks.
    pub other_clocks: Clock,
    /// Clocks its bursts hold the busiest channel's bus it uses (an idle device's
    /// data time).
    pub bus_clocks: Clock,
}

impl Served {
    /// This transfer's service followed by `next`'s (the same transfer, continued).
    pub fn then(&self, next: &Served) -> Served {
        Served {
            first_data: self.first_data.min(next.first_data),
            last_data: self.last_data.max(next.last_data),
            row_clocks: self.row_clocks + next.row_clocks,
            refresh_clocks: self.refresh_clocks + next.refresh_clocks,
            other_clocks: self.other_clocks + next.other_clocks,
            bus_clocks: self.bus_clocks + next.bus_clocks,
        }
    }
}

/// One burst's column command, its data on the bus, and how long the command waited
/// for its row to open and (of that) for a refresh.
struct BurstTiming {
    col: Clock,
    start: Clock,
    end: Clock,
    row: Clock,
    refresh: Clock,
}

/// One DRAM device (all its channels) and its controller.
pub struct DramDevice {
    t: DramTiming,
    decoder: AddressDecoder,
    channels: Vec<Channel>,
    ranks: Vec<Rank>,
    banks: Vec<Bank>,
    pub stats: DramTimingStats,
    /// Buffers reused from one transfer to the next.
    scratch: Scratch,
    /// Every burst's column command (clock, byte address, write), when asked for (a
    /// DRAM request trace); the caller drains it.
    pub issued: Option<Vec<(Clock, u64, bool)>>,
}

/// A transfer's working lists, kept between transfers so that serving one allocates
/// nothing once they have grown.
#[derive(Debug, Default)]
struct Scratch {
    addresses: Vec<DramAddress>,
    order: Vec<usize>,
    /// Per channel: its bursts in arrival order, then its issued column commands.
    by_channel: Vec<Vec<usize>>,
    issued: Vec<Vec<Clock>>,
    bus_end: Vec<Clock>,
    misses: Vec<usize>,
}

impl DramDevice {
    pub fn new(t: &DramTiming) -> Self {
        let ranks = (t.channels * t.ranks) as usize;
        let rank = Rank {
            last_act_in_group: vec![None; t.bank_groups as usize],
            next_refresh: t.trefi,
            ..Rank::default()
        };
        Self {
            t: t.clone(),
            decoder: t.decoder(),
            channels: vec![Channel::default(); t.channels as usize],
            ranks: vec![rank; ranks],
            banks: vec![Bank::default(); ranks * (t.bank_groups * t.banks_per_group) as usize],
            stats: DramTimingStats::default(),
            scratch: Scratch {
                by_channel: vec![Vec::new(); t.channels as usize],
                issued: vec![Vec::new(); t.channels as usize],
                ..Scratch::default()
            },
            issued: None,
        }
    }

    pub fn timing(&self) -> &DramTiming {
        &self.t
    }

    fn rank_index(&self, a: &DramAddress) -> usize {
        (a.channel * self.t.ranks + a.rank) as usize
    }

    fn bank_index(&self, a: &DramAddress) -> usize {
        let per_rank = self.t.bank_groups * self.t.banks_per_group;
        self.rank_index(a) * per_rank as usize
            + (a.bank_group * self.t.banks_per_group + a.bank) as usize
    }

    /// Serves one transfer's bursts (byte addresses, in order) arriving at `arrive`.
    pub fn serve(&mut self, arrive: Clock, bursts: &[u64], write: bool) -> Served {
        let mut sc = std::mem::take(&mut self.scratch);
        sc.addresses.clear();
        sc.addresses
            .extend(bursts.iter().map(|&b| self.decoder.decode(b)));
        self.issue_order(&mut sc);
        let depth = self.t.queue_depth as usize;
        let first = arrive + self.t.trcd + if write { self.t.cwl } else { self.t.cl };
        // Per channel, the last data end: each channel has its queue and its bus.
        let bus_end = &mut sc.bus_end;
        bus_end.clear();
        bus_end.resize(self.channels.len(), first);
        let mut served = Served {
            first_data: Clock::MAX,
            ..Served::default()
        };
        for queue in &mut sc.issued {
            queue.clear();
        }
        for &i in &sc.order {
            let a = sc.addresses[i];
            let ch = a.channel as usize;
            let queue = &mut sc.issued[ch];
            let entry = if queue.len() >= depth {
                arrive.max(queue[queue.len() - depth])
            } else {
                arrive
            };
            let b = self.burst(entry, &a, write);
            queue.push(b.col);
            if let Some(log) = self.issued.as_mut() {
                log.push((b.col, bursts[i], write));
            }
            let gap = b.start.saturating_sub(bus_end[ch]);
            let refresh = gap.min(b.refresh);
            let row = (gap - refresh).min(b.row);
            served.refresh_clocks += refresh;
            served.row_clocks += row;
            served.other_clocks += gap - refresh - row;
            bus_end[ch] = bus_end[ch].max(b.end);
            served.first_data = served.first_data.min(b.start);
            served.last_data = served.last_data.max(b.end);
        }
        let busiest = sc.issued.iter().map(Vec::len).max().unwrap_or(0) as u64;
        served.bus_clocks = busiest * self.t.burst_clocks();
        if served.first_data == Clock::MAX {
            served.first_data = arrive;
            served.last_data = arrive;
        }
        self.scratch = sc;
        served
    }

    /// The order column commands issue in (`sc.order`), channel by channel (the
    /// channels work independently): arrival order under FCFS; under FR-FCFS, within
    /// each queue's worth of a channel's bursts, those to a row already open (or
    /// opened by an earlier burst of the window) before the others, each group oldest
    /// first.
    fn issue_order(&self, sc: &mut Scratch) {
        for list in &mut sc.by_channel {
            list.clear();
        }
        for (i, a) in sc.addresses.iter().enumerate() {
            sc.by_channel[a.channel as usize].push(i);
        }
        let reorder =
            self.t.scheduling == Scheduling::FrFcfs && self.t.page_policy == PagePolicy::Open;
        let depth = self.t.queue_depth as usize;
        sc.order.clear();
        for list in &sc.by_channel {
            if !reorder {
                sc.order.extend_from_slice(list);
                continue;
            }
            for window in list.chunks(depth) {
                self.open_row_first(window, &sc.addresses, (&mut sc.order, &mut sc.misses));
            }
        }
    }

    /// Appends a window of bursts to `order`: first those whose row is open when their
    /// turn comes (as the bank stands, or as an earlier burst of the window opens it),
    /// then the rest (gathered in `misses`), each in arrival order.
    fn open_row_first(
        &self,
        window: &[usize],
        addresses: &[DramAddress],
        (order, misses): (&mut Vec<usize>, &mut Vec<usize>),
    ) {
        // A window is at most `queue_depth` (≤ 256) bursts: a short list of banks.
        let mut open: Vec<(usize, u64)> = Vec::new();
        misses.clear();
        for &i in window {
            let bank = self.bank_index(&addresses[i]);
            let row = addresses[i].row;
            let r = match open.iter().find(|(b, _)| *b == bank) {
                Some(&(_, r)) => r,
                None => {
                    let r = self.banks[bank].open.unwrap_or(row);
                    open.push((bank, r));
                    r
                }
            };
            if r == row {
                order.push(i);
            } else {
                misses.push(i);
            }
        }
        order.extend_from_slice(misses);
    }

    /// One burst that entered the queue at `entry`.
    fn burst(&mut self, entry: Clock, a: &DramAddress, write: bool) -> BurstTiming {
        let (r, b) = (self.rank_index(a), self.bank_index(a));
        self.refresh_until(r, entry);
        self.stats.bursts += 1;
        let opened = self.open_row(entry, r, b, a);
        let t = &self.t;
        let ch = &self.channels[a.channel as usize];
        let mut ready = entry;
        if let Some((at, rank, group, _)) = ch.last_col {
            let same_group = rank == a.rank && group == a.bank_group;
            ready = ready.max(at + if same_group { t.tccd_l } else { t.tccd_s });
        }
        if !write && let Some((end, group)) = self.ranks[r].write_end {
            ready = ready.max(
                end + if group == a.bank_group {
                    t.twtr_l
                } else {
                    t.twtr_s
                },
            );
        }
        let latency = if write { t.cwl } else { t.cl };
        let turning = ch.last_col.is_some_and(|(_, _, _, w)| w != write);
        let gap = if turning && write {
            crate::model::dram_timing::READ_TO_WRITE_GAP
        } else {
            0
        };
        let bus_ready = (ch.bus_free + gap).saturating_sub(latency);
        let unblocked = ready.max(bus_ready);
        let bank = &self.banks[b];
        let col = unblocked.max(bank.col_ready);
        let waited_row = col - unblocked;
        let waited_refresh = if opened {
            bank.refreshed_until.saturating_sub(entry).min(waited_row)
        } else {
            0
        };
        let start = col + latency;
        let end = start + t.burst_clocks();
        self.finish_column(b, a, (col, end), write, turning);
        BurstTiming {
            col,
            start,
            end,
            row: waited_row - waited_refresh,
            refresh: waited_refresh,
        }
    }

    /// Precharges and activates bank `b` for the burst's row unless it is open;
    /// whether it had to.
    fn open_row(&mut self, entry: Clock, r: usize, b: usize, a: &DramAddress) -> bool {
        let t = &self.t;
        let bank = &self.banks[b];
        if bank.open == Some(a.row) {
            self.stats.row_hits += 1;
            return false;
        }
        let mut act = entry.max(bank.act_ready);
        if bank.open.is_some() {
            self.stats.row_conflicts += 1;
            act = act.max(entry.max(bank.pre_ready) + t.trp);
        } else {
            self.stats.row_misses += 1;
        }
        let rank = &mut self.ranks[r];
        if let Some(last) = rank.last_act {
            act = act.max(last + t.trrd_s);
        }
        if let Some(last) = rank.last_act_in_group[a.bank_group as usize] {
            act = act.max(last + t.trrd_l);
        }
        if let Some(oldest) = rank.acts[rank.next_act] {
            act = act.max(oldest + t.tfaw);
        }
        rank.acts[rank.next_act] = Some(act);
        rank.next_act = (rank.next_act + 1) % 4;
        rank.last_act = Some(rank.last_act.map_or(act, |l| l.max(act)));
        rank.last_act_in_group[a.bank_group as usize] = Some(act);
        let bank = &mut self.banks[b];
        bank.open = Some(a.row);
        bank.col_ready = act + t.trcd;
        bank.pre_ready = act + t.tras;
        bank.act_ready = act + t.trc;
        true
    }

    /// Books a column command at `col` whose data ends at `end`.
    fn finish_column(
        &mut self,
        b: usize,
        a: &DramAddress,
        (col, end): (Clock, Clock),
        write: bool,
        turning: bool,
    ) {
        let t = &self.t;
        let ch = &mut self.channels[a.channel as usize];
        ch.bus_free = end;
        ch.last_col = Some((col, a.rank, a.bank_group, write));
        self.stats.bus_busy_clocks += t.burst_clocks();
        self.stats.span_clocks = self.stats.span_clocks.max(end);
        if turning {
            self.stats.turnarounds += 1;
        }
        let r = self.rank_index(a);
        if write {
            self.ranks[r].write_end = Some((end, a.bank_group));
        }
        let bank = &mut self.banks[b];
        let after = if write { end + t.twr } else { col + t.trtp };
        bank.pre_ready = bank.pre_ready.max(after);
        if t.page_policy == PagePolicy::Closed {
            bank.open = None;
            bank.act_ready = bank.act_ready.max(bank.pre_ready + t.trp);
        }
    }

    /// Runs every refresh of rank `r` due by `now`: each waits for the banks' current
    /// accesses, closes every row and blocks the rank for tRFC.
    fn refresh_until(&mut self, r: usize, now: Clock) {
        let (trefi, trfc, trp) = (self.t.trefi, self.t.trfc, self.t.trp);
        let per_rank = (self.t.bank_groups * self.t.banks_per_group) as usize;
        while self.ranks[r].next_refresh <= now {
            let due = self.ranks[r].next_refresh;
            let banks = &mut self.banks[r * per_rank..(r + 1) * per_rank];
            let open = banks.iter().any(|b| b.open.is_some());
            let busy = banks.iter().map(|b| b.pre_ready).max().unwrap_or(0);
            let start = due.max(busy) + if open { trp } else { 0 };
            for bank in banks.iter_mut() {
                bank.open = None;
                bank.act_ready = bank.act_ready.max(start + trfc);
                bank.refreshed_until = start + trfc;
            }
            self.ranks[r].next_refresh = due + trefi;
            self.stats.refreshes += 1;
            self.stats.refresh_clocks += trfc;
        }
    }

    /// Runs the refreshes due by `now` on every rank (the end of a run: an idle DRAM
    /// still refreshes).
    pub fn settle(&mut self, now: Clock) {
        for r in 0..self.ranks.len() {
            self.refresh_until(r, now);
        }
        self.stats.span_clocks = self.stats.span_clocks.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One channel, one rank, one bank group of two banks, 16 bursts of 64 B per row,
    /// round timing values so that the expected clocks read off the constraints.
    fn small() -> DramTiming {
        toml::from_str(
            r#"
            standard = "test"
            channels = 1
            ranks = 1
            bank_groups = 1
            banks_per_group = 2
            rows = 1024
            columns = 128
            device_width_bits = 64
            bus_width_bits = 64
            burst_length = 8
            tck_ps = 1000
            cl = 10
            cwl = 8
            trcd = 10
            trp = 10
            tras = 20
            trc = 30
            trrd_s = 2
            trrd_l = 2
            tfaw = 40
            twtr_s = 3
            twtr_l = 6
            twr = 12
            trtp = 4
            tccd_s = 4
            tccd_l = 4
            trfc = 100
            trefi = 100000
            address_mapping = "ro,ba,co"
            page_policy = "open"
            scheduling = "fcfs"
            queue_depth = 1
            "#,
        )
        .expect("test timing")
    }

    fn lines(from: u64, n: u64) -> Vec<u64> {
        (0..n).map(|i| from + 64 * i).collect()
    }

    #[test]
    fn a_row_hit_stream_reaches_the_burst_rate() {
        let mut d = DramDevice::new(&small());
        let s = d.serve(0, &lines(0, 16), false);
        // Activate at 0, first read at tRCD = 10, data at +CL; then one burst per
        // tCCD = 4 clocks (the burst itself is 4 clocks): 16 bursts, 64 clocks of data.
        assert_eq!(s.first_data, 20);
        assert_eq!(s.last_data, 20 + 16 * 4);
        assert_eq!((d.stats.row_hits, d.stats.row_misses), (15, 1));
        assert_eq!(d.stats.bus_busy_clocks, 64);
    }

    #[test]
    fn alternating_rows_of_one_bank_pay_precharge_and_activate() {
        let mut d = DramDevice::new(&small());
        let row = 128 * 64 / 8 * 2; // one row of both banks: the next row of bank 0
        let bursts = [0, row, 0, row];
        let s = d.serve(0, &bursts, false);
        assert_eq!(d.stats.row_conflicts, 3);
        // Each conflict waits for tRAS/tRTP, then tRP + tRCD: the act-to-act spacing is
        // tRC = 30 (tRAS 20 + tRP 10), each read tRCD after its activate.
        assert_eq!(s.first_data, 20);
        assert_eq!(s.last_data, 3 * 30 + 10 + 10 + 4);
        assert!(s.row_clocks >= 3 * (10 + 10));
    }

    #[test]
    fn a_read_after_a_write_waits_for_twtr() {
        let mut d = DramDevice::new(&small());
        let w = d.serve(0, &lines(0, 1), true);
        // The write's data: tRCD + CWL = 18 to 22.
        assert_eq!((w.first_data, w.last_data), (18, 22));
        let r = d.serve(0, &lines(64, 1), false);
        // Same bank group: read command at 22 + tWTR_L = 28, data at +CL.
        assert_eq!(r.first_data, 28 + 10);
        assert_eq!(d.stats.turnarounds, 1);
    }

    #[test]
    fn an_idle_dram_still_refreshes() {
        let mut t = small();
        t.trefi = 1000;
        let mut d = DramDevice::new(&t);
        d.settle(10_500);
        assert_eq!(d.stats.refreshes, 10);
        // A read landing in a refresh (due at 11,000) waits for its tRFC.
        let s = d.serve(11_000, &lines(0, 1), false);
        assert_eq!(s.first_data, 11_000 + 100 + 10 + 10);
        assert_eq!(s.refresh_clocks, 100);
    }

    #[test]
    fn a_fifth_activate_inside_tfaw_waits() {
        let mut t = small();
        t.banks_per_group = 8;
        t.address_mapping = "ro,ba,co".parse().expect("mapping");
        t.queue_depth = 8;
        let mut d = DramDevice::new(&t);
        // One burst to each of five banks: activates at 0, 2, 4, 6, then tFAW = 40.
        let row = 128 * 64 / 8;
        let bursts: Vec<u64> = (0..5).map(|b| b * row).collect();
        let s = d.serve(0, &bursts, false);
        assert_eq!(s.last_data, 40 + 10 + 10 + 4);
        assert_eq!(d.stats.row_misses, 5);
    }

    #[test]
    fn fr_fcfs_serves_open_rows_first() {
        let mut t = small();
        t.queue_depth = 4;
        let row = 128 * 64 / 8 * 2;
        let bursts = [0, row, 64, row + 64];
        let mut fcfs = DramDevice::new(&t);
        let a = fcfs.serve(0, &bursts, false);
        t.scheduling = Scheduling::FrFcfs;
        let mut fr = DramDevice::new(&t);
        let b = fr.serve(0, &bursts, false);
        assert_eq!((fcfs.stats.row_conflicts, fr.stats.row_conflicts), (3, 1));
        assert!(b.last_data < a.last_data);
    }

    /// The analytic estimate (`DramTiming::stream_cycles`) of a sequential read
    /// against the device serving it, for every preset and a range of sizes: within
    /// 5 % plus the refresh share tRFC / tREFI (the estimate spreads refresh evenly
    /// over any stream; a short one on the device may meet none or a whole one).
    #[test]
    fn the_analytic_stream_estimate_tracks_the_device() {
        for (name, text) in crate::model::dram_timing::PRESETS {
            let t: DramTiming = toml::from_str(text).expect("preset");
            for kib in [4u64, 64, 1024, 16384] {
                let bytes = kib * 1024;
                let mut d = DramDevice::new(&t);
                let bursts: Vec<u64> = (0..bytes / t.burst_bytes())
                    .map(|i| i * t.burst_bytes())
                    .collect();
                let served = d.serve(0, &bursts, false);
                let measured = t.to_cycles(served.last_data) as f64;
                let estimate = t.stream_cycles(bytes * 8, false) as f64;
                let off = (estimate - measured) / measured;
                let bound = 0.05 + t.trfc as f64 / t.trefi as f64;
                assert!(
                    off.abs() < bound,
                    "{name} {kib} KiB: device {measured}, estimate {estimate}"
                );
            }
        }
    }
}
