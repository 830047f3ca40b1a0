//! What components measure: busy time, stalls by cause, queue delays (hdrhistogram),
//! and the energy and bits they account for.

use super::message::{Cycle, StallCause};
use crate::cost::{Ledger, TileSpend};
use hdrhistogram::Histogram;
use serde::Serialize;

/// A resource used by one request at a time (a DRAM port, a bank port, a link, a PE
/// array): requests are served in arrival order, each occupying it for its duration.
#[derive(Debug, Clone)]
pub struct Port {
    pub free_at: Cycle,
    pub busy: Cycle,
    pub requests: u64,
    pub waited: Cycle,
    pub delays: Histogram<u64>,
}

impl Default for Port {
    fn default() -> Self {
        Self {
            free_at: 0,
            busy: 0,
            requests: 0,
            waited: 0,
            delays: histogram(),
        }
    }
}

impl Port {
    /// Occupies the port for `duration` cycles from the first free cycle at or after
    /// `ready`; it cannot finish before `min_end` (data still arriving). Returns
    /// (start, end, cycles waited for the port).
    pub fn reserve(
        &mut self,
        ready: Cycle,
        duration: Cycle,
        min_end: Cycle,
    ) -> (Cycle, Cycle, Cycle) {
        let start = ready.max(self.free_at);
        let end = (start + duration).max(min_end);
        let waited = start - ready;
        self.free_at = end;
        self.busy += end - start;
        self.requests += 1;
        self.waited += waited;
        let _ = self.delays.record(waited);
        (start, end, waited)
    }
}

impl Port {
    /// Records a request another model timed: it held the resource over
    /// `start..end` after waiting `waited` cycles.
    pub fn note(&mut self, start: Cycle, end: Cycle, waited: Cycle) {
        self.free_at = self.free_at.max(end);
        self.busy += end - start;
        self.requests += 1;
        self.waited += waited;
        let _ = self.delays.record(waited);
    }
}

/// Queue-delay percentiles of one port.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Delays {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Delays {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// A latency distribution in the report.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Distribution {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// A histogram of cycle counts (two significant figures, auto-resizing).
pub fn histogram() -> Histogram<u64> {
    Histogram::new(2).expect("2 significant figures is a valid precision")
}

/// One port's figures in the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortStats {
    pub port: String,
    pub requests: u64,
    pub busy_cycles: u64,
    pub queue_delay_cycles: Delays,
}

impl PortStats {
    pub fn of(name: &str, p: &Port) -> Self {
        Self {
            port: name.to_string(),
            requests: p.requests,
            busy_cycles: p.busy,
            queue_delay_cycles: Delays::of(&p.delays),
        }
    }
}

/// What a component spent, tile by tile: each route and pass is charged to the tile
/// whose action or computation it serves.
#[derive(Debug, Clone, Default)]
pub struct TileBooks(rustc_hash::FxHashMap<crate::tiling::graph::TileId, TileSpend>);

impl TileBooks {
    pub fn at(&mut self, tile: crate::tiling::graph::TileId) -> &mut TileSpend {
        self.0.entry(tile).or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&crate::tiling::graph::TileId, &TileSpend)> {
        self.0.iter()
    }
}

/// Everything a component reports at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct ComponentStats {
    pub name: String,
    pub busy_cycles: Cycle,
    /// Cycles work waited on this component, or (for a core) the PE array idled, by cause.
    pub stall_cycles: [Cycle; StallCause::COUNT],
    pub ports: Vec<PortStats>,
    pub ledger: Ledger,
    /// What the component spent for each tile (the per-tile side of `ledger`).
    pub by_tile: TileBooks,
    /// Peak occupancy of a global SRAM, in bits.
    pub peak_bits: Option<u64>,
}

impl ComponentStats {
    /// The figures of a component with one port, whose waits are all of one cause.
    pub fn single_port(
        name: &str,
        port_name: &str,
        port: &Port,
        (ledger, by_tile): (&Ledger, &TileBooks),
        cause: StallCause,
    ) -> Self {
        let mut s = ComponentStats {
            name: name.to_string(),
            busy_cycles: port.busy,
            ports: vec![PortStats::of(port_name, port)],
            ledger: ledger.clone(),
            by_tile: by_tile.clone(),
            ..ComponentStats::default()
        };
        s.stall(cause, port.waited);
        s
    }

    pub fn stall(&mut self, cause: StallCause, cycles: Cycle) {
        self.stall_cycles[cause.index()] += cycles;
    }
}
