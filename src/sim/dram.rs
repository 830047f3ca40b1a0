//! The off-chip DRAM component: the paper's single port, or the timing model's device
//! (`dram_timing`), behind one component that accounts bits and energy alike.

use super::SimError;
use super::dram_timing::{DramDevice, DramTimingStats, Served};
use super::kernel::{Component, Outbox};
use super::message::{Cycle, HopKind, Message, Route, StallCause};
use super::stats::{ComponentStats, Port, TileBooks};
use crate::cost::{Component as Part, Ledger, Spend};
use crate::model::Dram;
use crate::model::dram_timing::DramTiming;
use crate::schedule::dram_placement::LINE_BYTES;

/// The off-chip DRAM. Under the port model: one port for reads and writes, one
/// transfer at a time; a transfer holds the data bus for `ceil(bits / bandwidth)`
/// cycles, plus the turnaround when the direction changes, and completes `latency`
/// cycles after its burst (the access latency is pipelined with other transfers).
/// Under the timing model: the transfer's bursts go to the banks their addresses name
/// (`DramDevice`), and it completes with its last burst's data. Either way a write
/// cannot end before its data has arrived.
pub struct DramModel {
    name: String,
    params: Dram,
    port: Port,
    last_write: Option<bool>,
    device: Option<DramDevice>,
    ledger: Ledger,
    by_tile: TileBooks,
    /// The current transfer's burst addresses (a buffer kept between transfers).
    burst_addresses: Vec<u64>,
    /// Stall cycles by cause (the timing model splits what the port lumps).
    stalls: [Cycle; StallCause::COUNT],
    /// Every burst (bus start, bus end, bits), when recording.
    pub bursts: Option<Vec<(Cycle, Cycle, u64)>>,
    /// When the traced bandwidth counter should drop to 0, unless a burst follows.
    counter_zero_at: Option<Cycle>,
    /// Every line request (cycle, byte address, write), when writing a DRAM trace.
    pub requests: Option<DramRequests>,
}

/// The line requests a DRAM trace lists, bounded.
#[derive(Debug, Default)]
pub struct DramRequests {
    pub lines: Vec<(Cycle, u64, bool)>,
    /// More were issued than a trace holds (`MAX_DRAM_TRACE_REQUESTS`).
    pub overflow: bool,
}

/// The most line requests a DRAM trace holds (about 0.5 GB of text).
pub const MAX_DRAM_TRACE_REQUESTS: usize = 20_000_000;

/// The byte addresses of the `line_bytes` lines the current hop of `route` moves, in
/// order: one per line of each of its DRAM pieces, scaled to the bits this hop moves.
fn route_lines(route: &Route, line_bytes: u64) -> impl Iterator<Item = u64> + '_ {
    let scale = route.bits_here() as f64 / route.bits.max(1) as f64;
    route.dram_pieces.iter().flat_map(move |&(addr, bits)| {
        let bytes = ((bits as f64 * scale) / 8.0).ceil() as u64;
        let (lo, hi) = (addr / line_bytes, (addr + bytes.max(1) - 1) / line_bytes);
        (lo..=hi)
            .filter(move |_| bytes > 0)
            .map(move |l| l * line_bytes)
    })
}

impl DramRequests {
    /// The bursts the timing model's device issued (drained from `issued`), at
    /// their column commands.
    fn add_bursts(&mut self, issued: Option<&mut Vec<(u64, u64, bool)>>, t: &DramTiming) {
        let Some(issued) = issued else {
            return;
        };
        for (clock, addr, write) in issued.drain(..) {
            if self.lines.len() >= MAX_DRAM_TRACE_REQUESTS {
                self.overflow = true;
                return;
            }
            self.lines.push((t.to_cycles(clock), addr, write));
        }
    }

    /// The lines `route` moves over the bus from `first` on, at `bw_bits` per cycle.
    fn add(&mut self, route: &Route, first: Cycle, bw_bits: u64, write: bool) {
        let per_line = (LINE_BYTES * 8).div_ceil(bw_bits.max(1));
        for (k, line) in route_lines(route, LINE_BYTES).enumerate() {
            if self.lines.len() >= MAX_DRAM_TRACE_REQUESTS {
                self.overflow = true;
                return;
            }
            self.lines.push((first + k as u64 * per_line, line, write));
        }
    }
}

/// When a transfer holds the DRAM and moves data, in accelerator cycles.
struct Service {
    /// The bus starts moving its data.
    bus_start: Cycle,
    /// The bus is done with it.
    bus_end: Cycle,
    /// Its first data leaves the DRAM.
    flowing: Cycle,
    /// Its last data has left (or, for a write, landed).
    end: Cycle,
    /// Cycles it waited beyond an idle DRAM's service, by cause.
    waited: [(StallCause, Cycle); 3],
}

impl DramModel {
    pub fn new(params: &Dram) -> Self {
        Self {
            name: "dram".into(),
            params: params.clone(),
            port: Port::default(),
            last_write: None,
            device: params.timed().map(DramDevice::new),
            ledger: Ledger::default(),
            by_tile: TileBooks::default(),
            burst_addresses: Vec::new(),
            stalls: [0; StallCause::COUNT],
            bursts: None,
            counter_zero_at: None,
            requests: None,
        }
    }

    /// Keeps every request, for a DRAM trace: each 64-byte line under the port model,
    /// each burst at its column command under the timing model.
    pub fn listing_requests(mut self) -> Self {
        self.requests = Some(DramRequests::default());
        if let Some(d) = self.device.as_mut() {
            d.issued = Some(Vec::new());
        }
        self
    }

    /// Records every burst, for bandwidth-over-time pictures.
    pub fn recording(mut self) -> Self {
        self.bursts = Some(Vec::new());
        self
    }

    /// The port's queue-delay distribution: (delay in cycles, count) per recorded value.
    pub fn queue_delays(&self) -> Vec<(u64, u64)> {
        self.port
            .delays
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// What the timing model's device did (none under the port model).
    pub fn device_stats(&self) -> Option<DramTimingStats> {
        self.device.as_ref().map(|d| d.stats)
    }

    /// The port model: the bus in arrival order, a turnaround on a change of direction.
    fn serve_port(&mut self, ready: Cycle, route: &Route, write: bool) -> Service {
        let p = &self.params;
        let turnaround = self.last_write.map_or(0, |last| p.turnaround(last, write));
        self.last_write = Some(write);
        let burst = route.bits_here().div_ceil(p.bw_bits);
        let (start, bus_end, waited) = self.port.reserve(ready, turnaround + burst, 0);
        let bus_start = start + turnaround;
        Service {
            bus_start,
            bus_end,
            flowing: bus_start + p.latency_cycles,
            end: (bus_end + p.latency_cycles).max(route.flow_end),
            waited: [
                (StallCause::DramPort, waited),
                (StallCause::DramRowMiss, 0),
                (StallCause::DramRefresh, 0),
            ],
        }
    }

    /// Charges the route's bits and energy to the DRAM and to its tile.
    fn account(&mut self, route: &Route, write: bool) {
        let p = &self.params;
        let bits = route.bits_here();
        let (energy, r, w) = if write {
            (bits as f64 * p.energy_fj_per_bit(true), 0, bits)
        } else {
            (bits as f64 * p.energy_fj_per_bit(false), bits, 0)
        };
        self.ledger
            .energy(Part::Dram, Spend::Data(route.class), energy);
        self.ledger.dram(route.class, r, w);
        if route.attention {
            self.ledger.dram_attention_bits += r + w;
        }
        let spend = self.by_tile.at(route.tile);
        spend.energy(Part::Dram, energy);
        spend.dram(r, w);
    }

    /// The bursts and the bandwidth counter, on the trace.
    fn trace(&mut self, out: &mut Outbox, s: &Service, bits: u64, write: bool) {
        let Some(t) = out.trace.as_deref_mut() else {
            return;
        };
        // The bus moves the data (never overlapping on one port); the access latency
        // that follows overlaps later bursts, so it has its own track.
        let kind = if write { "write" } else { "read" };
        t.span("dram", "port (bursts)", kind, s.bus_start, s.bus_end, bits);
        if s.end > s.bus_end {
            t.span("dram", "access latency", kind, s.bus_end, s.end, bits);
        }
        // Bits per cycle while the bus is held; back to 0 only when it goes idle.
        if let Some(idle_from) = self.counter_zero_at.take()
            && idle_from < s.bus_start
        {
            t.counter("dram", "bandwidth_bits_per_cycle", idle_from, 0.0);
        }
        t.counter(
            "dram",
            "bandwidth_bits_per_cycle",
            s.bus_start,
            bits as f64 / (s.bus_end - s.bus_start).max(1) as f64,
        );
        self.counter_zero_at = Some(s.bus_end);
    }
}

impl Component for DramModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        let route = Route::of(&self.name, msg)?;
        let write = match route.hop().map(|h| h.kind) {
            Some(HopKind::DramRead) => false,
            Some(HopKind::DramWrite) => true,
            _ => return Err(route.wrong_hop(&self.name)),
        };
        let ready = now.max(route.flow_start);
        let s = match (self.device.as_mut(), self.params.timed()) {
            (Some(device), Some(t)) => {
                let mut bursts = std::mem::take(&mut self.burst_addresses);
                let s = serve_timed(
                    (device, t),
                    &mut self.port,
                    ready,
                    (&route, &mut bursts),
                    write,
                );
                self.burst_addresses = bursts;
                s
            }
            _ => self.serve_port(ready, &route, write),
        };
        let bits = route.bits_here();
        if let Some(b) = self.bursts.as_mut() {
            b.push((s.bus_start, s.bus_end, bits));
        }
        if let Some(r) = self.requests.as_mut() {
            match (self.device.as_mut(), self.params.timed()) {
                (Some(d), Some(t)) => r.add_bursts(d.issued.as_mut(), t),
                _ => r.add(&route, s.bus_start, self.params.bw_bits, write),
            }
        }
        self.account(&route, write);
        self.trace(out, &s, bits, write);
        for (cause, cycles) in s.waited {
            self.stalls[cause.index()] += cycles;
        }
        let (cause, waited) = s
            .waited
            .iter()
            .copied()
            .max_by_key(|&(c, w)| (w, std::cmp::Reverse(c.index())))
            .unwrap_or((StallCause::DramPort, 0));
        let (at, to, next) = route.advance(s.flowing, s.end, waited, cause);
        out.send(at, to, next);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        let mut s = ComponentStats::single_port(
            &self.name,
            "port",
            &self.port,
            (&self.ledger, &self.by_tile),
            StallCause::DramPort,
        );
        s.stall_cycles = self.stalls;
        if let Some(d) = &self.device {
            let t = d.timing();
            s.busy_cycles = t.to_cycles(d.stats.bus_busy_clocks / t.channels);
            s.ledger.dram_activates = d.stats.activates();
        }
        s
    }

    fn end(&mut self, now: Cycle, out: &mut Outbox) {
        if let Some(d) = self.device.as_mut() {
            let clocks = d.timing().to_clocks(now);
            d.settle(clocks);
        }
        if let (Some(at), Some(t)) = (self.counter_zero_at.take(), out.trace.as_deref_mut()) {
            t.counter("dram", "bandwidth_bits_per_cycle", at, 0.0);
        }
    }
}

/// The most bursts handed to the device at once (8 MiB of addresses).
const BURSTS_AT_ONCE: usize = 1 << 20;

/// The timing model: the route's bursts through the device. What it waited beyond an
/// idle device's service (activate, CAS latency, its bursts back to back on the
/// channels it uses) is split into rows opening, refresh, and the rest (the bus and
/// column spacing behind other transfers); `port` keeps the figures a port reports.
fn serve_timed(
    (device, t): (&mut DramDevice, &DramTiming),
    port: &mut Port,
    ready: Cycle,
    (route, bursts): (&Route, &mut Vec<u64>),
    write: bool,
) -> Service {
    let bb = t.burst_bytes();
    let mut lines: Box<dyn Iterator<Item = u64>> = if route.dram_pieces.is_empty() {
        // No placement (a route built without one): a sequential run.
        let n = route.bits_here().div_ceil(bb * 8);
        Box::new((0..n).map(move |i| i * bb))
    } else {
        Box::new(route_lines(route, bb))
    };
    let arrive = t.to_clocks(ready);
    // Served a bounded number of bursts at a time, so that a huge transfer needs no
    // huge list; the queue carries on across the pieces through the device's state.
    let mut served: Option<Served> = None;
    loop {
        bursts.clear();
        bursts.extend(lines.by_ref().take(BURSTS_AT_ONCE));
        if bursts.is_empty() && served.is_some() {
            break;
        }
        let part = device.serve(arrive, bursts, write);
        served = Some(served.map_or(part, |s| s.then(&part)));
        if bursts.len() < BURSTS_AT_ONCE {
            break;
        }
    }
    let served = served.unwrap_or_default();
    let ideal = t.trcd + if write { t.cwl } else { t.cl } + served.bus_clocks;
    let extra = (served.last_data - arrive).saturating_sub(ideal);
    // The bus gaps add up to `extra` on one channel and exceed it over several: the
    // causes share `extra` as they share the gaps.
    let gaps = served.row_clocks + served.refresh_clocks + served.other_clocks;
    let share = |c: u64| (extra as u128 * c as u128 / gaps.max(1) as u128) as u64;
    let (row, refresh) = (share(served.row_clocks), share(served.refresh_clocks));
    let bus_start = t.to_cycles(served.first_data).max(ready);
    let bus_end = t.to_cycles(served.last_data).max(bus_start);
    port.note(bus_start, bus_end, t.to_cycles(extra));
    Service {
        bus_start,
        bus_end,
        flowing: bus_start,
        end: bus_end.max(route.flow_end),
        waited: [
            (StallCause::DramPort, t.to_cycles(extra - row - refresh)),
            (StallCause::DramRowMiss, t.to_cycles(row)),
            (StallCause::DramRefresh, t.to_cycles(refresh)),
        ],
    }
}
