//! The hardware components, each parameterised from the accelerator model. Contract
//! shared by all: a component handles the hops of a [`Route`] addressed to it by
//! reserving its port(s) in arrival order, accounts the bits and energy it moves, and
//! forwards the route (or completes it) — never at a cycle earlier than the message.

use super::SimError;
use super::kernel::{Component, Outbox};
use super::message::{ComponentId, Cycle, HopKind, Message, Route, StallCause};
use super::stats::{ComponentStats, Port, PortStats, TileBooks};
use crate::cost::{Component as Part, Ledger, Spend};
use crate::model::{BankLayout, Memory, Noc, PeArray};
use std::collections::BTreeMap;
use std::collections::HashMap;

/// A core's global SRAM: banks of `bank_size` bits, each with its own read and write
/// port of the per-bank bandwidth. A request covering an address range occupies the
/// ports of the banks it touches; requests to the same bank wait for each other (a
/// bank conflict), requests to different banks proceed in parallel.
pub struct GlobalSram {
    name: String,
    /// Which banks an access passes through (the rule the analytic half predicts by).
    layout: BankLayout,
    read_bw: u64,
    write_bw: u64,
    read_e: f64,
    write_e: f64,
    /// Per bank, created when first used: memory follows what is accessed, not the
    /// configured number of banks.
    reads: BTreeMap<u64, Port>,
    writes: BTreeMap<u64, Port>,
    ledger: Ledger,
    by_tile: TileBooks,
}

impl GlobalSram {
    pub fn new(core_name: &str, m: &Memory) -> Self {
        Self {
            name: format!("{core_name}.{}", m.name),
            layout: m.bank_layout(),
            read_bw: m.read_bw_bits_per_bank,
            write_bw: m.write_bw_bits_per_bank,
            read_e: m.read_energy_fj_per_bit,
            write_e: m.write_energy_fj_per_bit,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            ledger: Ledger::default(),
            by_tile: TileBooks::default(),
        }
    }
}

impl Component for GlobalSram {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        let route = Route::of(&self.name, msg)?;
        let (addr, write) = match route.hop().map(|h| h.kind) {
            Some(HopKind::SramRead { addr }) => (addr, false),
            Some(HopKind::SramWrite { addr }) => (addr, true),
            _ => return Err(route.wrong_hop(&self.name)),
        };
        let ready = now.max(route.flow_start);
        let (ports, bw) = if write {
            (&mut self.writes, self.write_bw)
        } else {
            (&mut self.reads, self.read_bw)
        };
        let (mut start, mut end, mut waited) = (Cycle::MAX, ready, 0);
        for (bank, bits) in self.layout.pieces(addr, route.bits_here()) {
            let port = ports.entry(bank).or_default();
            let (s, e, w) = port.reserve(ready, bits.div_ceil(bw), route.flow_end);
            start = start.min(s);
            end = end.max(e);
            waited = waited.max(w);
        }
        if start == Cycle::MAX {
            start = ready;
        }
        let e = route.bits_here() as f64 * if write { self.write_e } else { self.read_e };
        self.ledger
            .energy(Part::GlobalSram, Spend::Data(route.class), e);
        self.by_tile.at(route.tile).energy(Part::GlobalSram, e);
        let (at, to, next) = route.advance(start, end, waited, StallCause::BankConflict);
        out.send(at, to, next);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        let mut ports = Vec::new();
        let mut busy = 0;
        let mut waited = 0;
        // Banks never accessed have nothing to report.
        let used: std::collections::BTreeSet<u64> = self
            .reads
            .keys()
            .chain(self.writes.keys())
            .copied()
            .collect();
        let idle = Port::default();
        for i in used {
            let r = self.reads.get(&i).unwrap_or(&idle);
            let w = self.writes.get(&i).unwrap_or(&idle);
            ports.push(PortStats::of(&format!("bank{i}.read"), r));
            ports.push(PortStats::of(&format!("bank{i}.write"), w));
            busy = busy.max(r.busy).max(w.busy);
            waited += r.waited + w.waited;
        }
        let mut s = ComponentStats {
            name: self.name.clone(),
            busy_cycles: busy,
            ports,
            ledger: self.ledger.clone(),
            by_tile: self.by_tile.clone(),
            ..ComponentStats::default()
        };
        s.stall(StallCause::BankConflict, waited);
        s
    }
}

/// A local buffer (weights or inputs) between the global SRAM and the PE array. Fills
/// arrive through its write port at the write bandwidth, and a fill never exceeds its
/// capacity (an invariant); the array's reads are modelled by the PE array, which knows
/// the buffer's read bandwidth.
pub struct LocalBuffer {
    name: String,
    capacity: u64,
    write_bw: u64,
    write_e: f64,
    port: Port,
    ledger: Ledger,
    by_tile: TileBooks,
}

impl LocalBuffer {
    pub fn new(core_name: &str, m: &Memory) -> Self {
        Self {
            name: format!("{core_name}.{}", m.name),
            capacity: m.size_bits,
            write_bw: m.write_bw_bits(),
            write_e: m.write_energy_fj_per_bit,
            port: Port::default(),
            ledger: Ledger::default(),
            by_tile: TileBooks::default(),
        }
    }
}

impl Component for LocalBuffer {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        let route = Route::of(&self.name, msg)?;
        if route.hop().map(|h| h.kind) != Some(HopKind::BufferWrite) {
            return Err(route.wrong_hop(&self.name));
        }
        if route.chunk_bits > self.capacity {
            return Err(SimError::Invariant(format!(
                "{}: a fill of {} bits does not fit its {} bits",
                self.name, route.chunk_bits, self.capacity
            )));
        }
        let ready = now.max(route.flow_start);
        let (start, end, waited) = self.port.reserve(
            ready,
            route.bits_here().div_ceil(self.write_bw),
            route.flow_end,
        );
        let fj = route.bits_here() as f64 * self.write_e;
        self.ledger
            .energy(Part::LocalBuffers, Spend::Data(route.class), fj);
        self.by_tile.at(route.tile).energy(Part::LocalBuffers, fj);
        let (at, to, next) = route.advance(start, end, waited, StallCause::LocalBufferBandwidth);
        out.send(at, to, next);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        ComponentStats::single_port(
            &self.name,
            "write",
            &self.port,
            (&self.ledger, &self.by_tile),
            StallCause::LocalBufferBandwidth,
        )
    }
}

/// The mesh NoC with XY routing: a transfer crosses the X links then the Y links of its
/// path, each link carrying one transfer at a time at the link bandwidth, one hop
/// latency per link (cut-through). Transfers that share a link wait for each other.
pub struct MeshNoc {
    name: String,
    params: Noc,
    links: HashMap<([u32; 2], [u32; 2]), Port>,
    ledger: Ledger,
    by_tile: TileBooks,
}

impl MeshNoc {
    pub fn new(params: &Noc) -> Self {
        Self {
            name: "noc".into(),
            params: params.clone(),
            links: HashMap::new(),
            ledger: Ledger::default(),
            by_tile: TileBooks::default(),
        }
    }
}

impl Component for MeshNoc {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        let route = Route::of(&self.name, msg)?;
        let Some(HopKind::Noc { from, to }) = route.hop().map(|h| h.kind) else {
            return Err(route.wrong_hop(&self.name));
        };
        let path = self.params.xy_path(from, to);
        let mut ready = now.max(route.flow_start);
        let mut min_end = route.flow_end;
        let mut first_start = ready;
        let mut waited_total = 0;
        for (i, link) in path.iter().enumerate() {
            let duration = route
                .bits_here()
                .div_ceil(self.params.link_bw(link.0, link.1));
            let port = self.links.entry(*link).or_default();
            let (s, e, w) = port.reserve(ready, duration, min_end);
            if i == 0 {
                first_start = s;
            }
            waited_total += w;
            ready = s + self.params.hop_latency_cycles;
            min_end = e + self.params.hop_latency_cycles;
        }
        let hops = path.len() as f64;
        let (bits, fj) = (
            route.bits_here() * path.len() as u64,
            route.bits_here() as f64 * hops * self.params.energy_fj_per_bit_per_hop,
        );
        self.ledger.noc_bits += bits;
        self.ledger.energy(Part::Noc, Spend::Data(route.class), fj);
        let spend = self.by_tile.at(route.tile);
        spend.noc_bits += bits;
        spend.energy(Part::Noc, fj);
        let end = if path.is_empty() {
            min_end.max(ready)
        } else {
            min_end - self.params.hop_latency_cycles
        };
        let (at, to, next) = route.advance(first_start, end, waited_total, StallCause::NocLink);
        out.send(at, to, next);
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        let mut links: Vec<_> = self.links.iter().collect();
        links.sort_by_key(|(k, _)| **k);
        let mut s = ComponentStats {
            name: self.name.clone(),
            busy_cycles: links.iter().map(|(_, p)| p.busy).max().unwrap_or(0),
            ports: links
                .iter()
                .map(|((a, b), p)| PortStats::of(&format!("{a:?}->{b:?}"), p))
                .collect(),
            ledger: self.ledger.clone(),
            by_tile: self.by_tile.clone(),
            ..ComponentStats::default()
        };
        s.stall(
            StallCause::NocLink,
            links.iter().map(|(_, p)| p.waited).sum(),
        );
        s
    }
}

/// When a pass ran: its compute, its results' drain, when the array is done with it,
/// and its cycles of fill/drain (or waiting for a drain).
struct Occupancy {
    start: Cycle,
    computed: Cycle,
    drain: (Cycle, Cycle),
    done: Cycle,
    fill_drain: Cycle,
}

/// A core's output-stationary PE array. A pass (a fold: one output tile) computes for
/// its reduction cycles (the array reduces `inputs_per_pe` inputs per PE per cycle), or
/// longer when a memory feeding it (a local buffer, or the global SRAM for an operand
/// without one) cannot deliver the pass's operand bits at its read bandwidth. Its
/// results then drain out of the accumulator set it used, over the output path.
///
/// With one accumulator set the array does nothing else meanwhile: a pass occupies it
/// for its compute plus the systolic fill/drain skew, or plus the drain when that is
/// longer. With two, a pass computes in one set while the other drains; it waits when
/// its set has not drained yet, drains queue on the output path, and the tile's last
/// pass adds the skew and ends once its results are out. One pass at a time.
pub struct PeArrayModel {
    name: String,
    params: PeArray,
    /// Read bandwidth (bits/cycle) and energy (fJ/bit) of each local buffer feeding it.
    buffers: HashMap<ComponentId, (u64, f64, Part)>,
    port: Port,
    /// The path results drain over into the global SRAM.
    drain_path: Port,
    /// When each accumulator set has drained, and which set the next pass takes.
    drained_at: [Cycle; 2],
    next_set: usize,
    buffer_stall: Cycle,
    ledger: Ledger,
    by_tile: TileBooks,
}

impl PeArrayModel {
    pub fn new(
        core_name: &str,
        params: &PeArray,
        buffers: HashMap<ComponentId, (u64, f64, Part)>,
    ) -> Self {
        Self {
            name: format!("{core_name}.pe_array"),
            params: params.clone(),
            buffers,
            port: Port::default(),
            drain_path: Port::default(),
            drained_at: [0; 2],
            next_set: 0,
            buffer_stall: 0,
            ledger: Ledger::default(),
            by_tile: TileBooks::default(),
        }
    }

    /// Occupies the array for a pass that computes `need` cycles from `now`.
    fn occupy(&mut self, now: Cycle, need: Cycle, pass: &crate::sim::message::Pass) -> Occupancy {
        let skew = self.params.fill_drain_cycles();
        if self.params.accumulator_buffers < 2 {
            let overhead = skew.max(pass.drain);
            let (start, end, _) = self.port.reserve(now, need + overhead, 0);
            return Occupancy {
                start,
                computed: start + need,
                drain: (end - pass.drain.min(overhead), end),
                done: end,
                fill_drain: overhead,
            };
        }
        let set = self.next_set;
        self.next_set ^= 1;
        // Waiting for the set to drain, once the array itself is free.
        let ready = now.max(self.port.free_at);
        let start = ready.max(self.drained_at[set]);
        let (_, computed, _) = self.port.reserve(start, need, 0);
        let (drain_start, drained, _) = self.drain_path.reserve(computed, pass.drain, 0);
        self.drained_at[set] = drained;
        let done = if pass.last {
            (computed + skew).max(drained)
        } else {
            computed
        };
        // The array is held until `done` on the last pass.
        self.port.busy += done - computed;
        self.port.free_at = self.port.free_at.max(done);
        Occupancy {
            start,
            computed,
            drain: (drain_start, drained),
            done,
            fill_drain: (start - ready) + (done - computed),
        }
    }
}

impl Component for PeArrayModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError> {
        let Message::Pass(pass) = msg else {
            return Err(SimError::Internal(format!("{} got {msg:?}", self.name)));
        };
        // Operands read from the same memory share its read bandwidth.
        let mut per_memory: Vec<(ComponentId, u64)> = Vec::new();
        for (buffer, bits, class) in &pass.buffer_reads {
            let (_, e, part) = self.buffers.get(buffer).copied().ok_or_else(|| {
                SimError::Internal(format!("{}: no local buffer {buffer}", self.name))
            })?;
            self.ledger
                .energy(part, Spend::Data(*class), *bits as f64 * e);
            self.by_tile.at(pass.tile).energy(part, *bits as f64 * e);
            match per_memory.iter_mut().find(|(b, _)| b == buffer) {
                Some((_, total)) => *total += bits,
                None => per_memory.push((*buffer, *bits)),
            }
        }
        let mut need = pass.cycles;
        for (buffer, bits) in per_memory {
            let bw = self.buffers.get(&buffer).map_or(1, |p| p.0.max(1));
            need = need.max(bits.div_ceil(bw));
        }
        let stall = need - pass.cycles;
        self.buffer_stall += stall;
        let o = self.occupy(now, need, &pass);
        let (end, fill_drain) = (o.done, o.fill_drain);
        if pass.traced
            && let Some(t) = out.trace.as_deref_mut()
        {
            // Folds on one track, the accumulators draining into the global SRAM on
            // another (with two sets they overlap the next fold).
            let core = self.name.trim_end_matches(".pe_array");
            t.span(core, "PE folds", "fold", o.start, o.computed, 0);
            t.span(core, "accumulator drain", "drain", o.drain.0, o.drain.1, 0);
        }
        let p = &self.params;
        let fj = pass.macs as f64 * p.mac_energy_fj
            + pass.sops as f64 * p.sop_energy_fj
            + pass.other_ops as f64 * p.other_op_energy_fj;
        self.ledger.energy(Part::Pe, Spend::Compute, fj);
        self.ledger.macs += pass.macs;
        self.ledger.sops += pass.sops;
        self.ledger.other_ops += pass.other_ops;
        let spend = self.by_tile.at(pass.tile);
        spend.energy(Part::Pe, fj);
        spend.macs += pass.macs;
        spend.sops += pass.sops;
        spend.other_ops += pass.other_ops;
        out.send(
            end,
            pass.reply_to,
            Message::PassDone {
                tag: pass.tag,
                buffer_stall: stall,
                fill_drain,
            },
        );
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stats(&self) -> ComponentStats {
        let mut s = ComponentStats {
            name: self.name.clone(),
            busy_cycles: self.port.busy,
            ports: vec![PortStats::of("array", &self.port)],
            ledger: self.ledger.clone(),
            by_tile: self.by_tile.clone(),
            ..ComponentStats::default()
        };
        s.stall(StallCause::LocalBufferBandwidth, self.buffer_stall);
        s
    }
}
