//! Bounds on a run's latency that hold whatever order the hardware serves its shared
//! ports in: where the analytic half's queueing is an estimate, how far off it may be.
//!
//! *Floor.* No resource finishes before it has done its work: each core's PE array its
//! passes (the busy cycles, which both halves count alike), the DRAM bus every bit at
//! its peak rate, the busiest NoC link its traffic.
//!
//! *Ceiling.* Trace a run back from its last cycle along what held each step up: every
//! cycle is either service of that chain (a pass, a transfer's own cycles, an access
//! latency) or a wait while a port serves something else. The prediction books every
//! pass and every transfer's own cycles, and adds its estimate of the waits, so the
//! chain's service is at most the prediction plus the access latencies it overlapped
//! and the hardware may not (one per DRAM access of a transfer; one per
//! `LOOKAHEAD_PASSES` passes of a streaming tile, whose controller keeps that many
//! passes' accesses in flight). The chain waits at different times, so a port holds it
//! up at most as long as the port is busy at all. Hence the latency is at most the
//! prediction plus those latencies plus every cycle the DRAM bus, the NoC links and the
//! global SRAMs' bank ports are busy ([`Occupancy`]: transfers and the tiles' own fills
//! and results alike, since a tile's passes may wait on each other's banks). It is wide where a schedule leans on those ports, by
//! design: it is what the analytic half can promise without knowing the order the
//! hardware serves them in. `validate` checks that every measured latency lies inside.
//!
//! [`Occupancy`]: super::ports::Occupancy

use super::ports::Ports;
use crate::cost::{LatencyBounds, Ledger};
use crate::model::Accelerator;
use crate::model::accelerator::LOOKAHEAD_PASSES;

/// The bounds of a run the prediction puts at `latency` cycles, with `busy_by_core`
/// PE-array cycles per core and what `ledger` and `ports` booked.
pub(super) fn latency_bounds(
    acc: &Accelerator,
    latency: u64,
    busy_by_core: impl Iterator<Item = u64>,
    ledger: &Ledger,
    ports: &Ports,
) -> LatencyBounds {
    let dram_bits: u64 =
        ledger.dram_read_bits.iter().sum::<u64>() + ledger.dram_write_bits.iter().sum::<u64>();
    let floor = busy_by_core
        .max()
        .unwrap_or(0)
        .max(dram_bits.div_ceil(acc.dram.stream_bits_per_cycle().max(1)))
        .max(ports.busiest_link_cycles());
    let o = &ports.occupancy;
    let access_latency = acc
        .dram
        .access_latency(false)
        .max(acc.dram.access_latency(true));
    let exposed_latencies = o.dram_accesses + o.streamed_accesses.div_ceil(LOOKAHEAD_PASSES);
    let ceiling = latency
        .saturating_add(o.dram_cycles)
        .saturating_add(exposed_latencies.saturating_mul(access_latency))
        .saturating_add(ports.link_cycles())
        .saturating_add(o.sram_transfer_cycles)
        .saturating_add(o.sram_tile_cycles);
    LatencyBounds {
        floor_cycles: floor,
        ceiling_cycles: ceiling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_adds_what_the_ports_were_busy_with_and_the_floor_is_the_busiest() {
        // The bundled chip: 64 bits per DRAM cycle, 100 cycles of access latency,
        // 128-bit bank ports of 128 KiB banks.
        let acc = Accelerator::load(
            std::path::Path::new("models/hardware/meta_proto.toml"),
            Default::default(),
        )
        .expect("bundled accelerator");
        let mut ports = Ports::default();
        // Two loads of 6,400 bits: 100 bus cycles and one access latency each.
        ports.dram(&acc, 6_400, false, 0);
        ports.dram(&acc, 6_400, false, 0);
        // A streaming tile's 20 passes: 3 windows of 8, one latency each.
        ports.occupancy.streamed_accesses = 20;
        // 1,280 bits into the SRAM and out again: 10 cycles each, plus one for the
        // bank boundary each may straddle.
        let sram = acc.cores[0].global_sram();
        ports.occupancy.sram_transfer_cycles =
            sram.port_cycles(1_280, true) + sram.port_cycles(1_280, false);
        let mut ledger = Ledger::default();
        ledger.dram(crate::tiling::graph::DataClass::W, 12_800, 0);
        let b = latency_bounds(&acc, 1_000, [700, 900].into_iter(), &ledger, &ports);
        // 1,000 + 200 bus cycles + (2 + 3) latencies + 22 bank-port cycles.
        assert_eq!(b.ceiling_cycles, 1_000 + 200 + 500 + 22);
        // The busier core's 900 cycles over the DRAM's 12,800 / 64 = 200.
        assert_eq!(b.floor_cycles, 900);
        // A prediction below what the DRAM must do anyway is not raised to it: the
        // floor says it is wrong.
        let b = latency_bounds(&acc, 150, [100].into_iter(), &ledger, &ports);
        assert_eq!(b.floor_cycles, 200);
    }
}
