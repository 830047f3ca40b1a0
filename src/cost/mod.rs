//! The cost report of one schedule — the same type for the analytic prediction
//! (`stems evaluate`) and the simulator's measurement (`stems simulate`), so that the
//! two can be compared key by key.

use crate::model::{Operand, Workload};
use crate::tiling::graph::DataClass;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub mod by_name;
pub use by_name::{ByName, Names};

/// PE-array stall cycles by cause (`StallCause::name`).
pub type StallCycles = ByName<StallCause, u64, { StallCause::COUNT }>;
/// Energy (pJ) by what it is spent on (W, F, V, compute).
pub type EnergyBySpend = ByName<Spend, f64, { Spend::COUNT }>;
/// Energy (pJ) by component, then by what it is spent on: the stacked bars of the
/// paper's energy breakdowns.
pub type EnergyMatrix = ByName<Component, EnergyBySpend, { Component::ALL.len() }>;

/// Hardware components energy is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Component {
    Dram,
    GlobalSram,
    LocalBuffers,
    Pe,
    Noc,
}

impl Component {
    pub const ALL: [Component; 5] = [
        Component::Dram,
        Component::GlobalSram,
        Component::LocalBuffers,
        Component::Pe,
        Component::Noc,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl Names for Component {
    const NAMES: &'static [&'static str] = &["dram", "global_sram", "local_buffers", "pe", "noc"];
}

/// Why the PE array was not computing a reduction step: the same causes on both halves,
/// so that the latency gap between prediction and measurement can be attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StallCause {
    /// Waiting for the single DRAM port (or its transfer time); under the timing
    /// model, for the data bus and the column spacing behind other requests.
    DramPort,
    /// Timing model: waiting for rows to open (precharge and activate, tRRD, tFAW).
    DramRowMiss,
    /// Timing model: waiting for a refresh to end.
    DramRefresh,
    /// Waiting for a global-SRAM bank port another request holds (analytic: the
    /// global SRAM's ports cannot carry a tile's traffic in its compute time).
    BankConflict,
    /// Waiting for a mesh link.
    NocLink,
    /// A local buffer cannot deliver a cycle's operands (or fill in time).
    LocalBufferBandwidth,
    /// Waiting for other work: a producer tile, a transfer, the previous tile.
    Dependency,
    /// Filling and draining the systolic array (counted in busy cycles too).
    FillDrain,
    /// Under `skip`, the cycles folds last beyond their average lane because their
    /// busiest lane has more non-zero inputs (counted in busy cycles too).
    LaneImbalance,
}

impl StallCause {
    pub const COUNT: usize = 9;
    pub const ALL: [StallCause; Self::COUNT] = [
        StallCause::DramPort,
        StallCause::DramRowMiss,
        StallCause::DramRefresh,
        StallCause::BankConflict,
        StallCause::NocLink,
        StallCause::LocalBufferBandwidth,
        StallCause::Dependency,
        StallCause::FillDrain,
        StallCause::LaneImbalance,
    ];

    /// Causes whose cycles are the array's busy time, listed for attribution only (not
    /// idle time: they are not part of `busy + stalls = latency`).
    pub fn is_busy(self) -> bool {
        matches!(self, StallCause::FillDrain | StallCause::LaneImbalance)
    }

    /// Causes only the DRAM timing model has: tables leave them out when no run has
    /// any.
    pub fn is_dram_timing(self) -> bool {
        matches!(self, StallCause::DramRowMiss | StallCause::DramRefresh)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The key of this cause in a predicted-vs-measured comparison.
    pub fn metric(self) -> &'static str {
        match self {
            StallCause::DramPort => "stall_cycles.dram_port",
            StallCause::DramRowMiss => "stall_cycles.dram_row_miss",
            StallCause::DramRefresh => "stall_cycles.dram_refresh",
            StallCause::BankConflict => "stall_cycles.bank_conflict",
            StallCause::NocLink => "stall_cycles.noc_link",
            StallCause::LocalBufferBandwidth => "stall_cycles.local_buffer_bandwidth",
            StallCause::Dependency => "stall_cycles.dependency",
            StallCause::FillDrain => "stall_cycles.fill_drain",
            StallCause::LaneImbalance => "stall_cycles.lane_imbalance",
        }
    }
}

impl Names for StallCause {
    const NAMES: &'static [&'static str] = &[
        "dram_port",
        "dram_row_miss",
        "dram_refresh",
        "bank_conflict",
        "noc_link",
        "local_buffer_bandwidth",
        "dependency",
        "fill_drain",
        "lane_imbalance",
    ];
}

/// What energy is spent on: moving an operand class, or computing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Spend {
    Data(DataClass),
    Compute,
}

impl Spend {
    fn index(self) -> usize {
        match self {
            Spend::Data(c) => c.index(),
            Spend::Compute => 3,
        }
    }
    const COUNT: usize = 4;
}

impl Names for Spend {
    const NAMES: &'static [&'static str] = &["W", "F", "V", "compute"];
}

/// Running totals while a schedule is costed or simulated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// femtojoules, `[component][W, F, V, compute]`.
    pub energy_fj: [[f64; 4]; 5],
    pub dram_read_bits: [u64; 3],
    pub dram_write_bits: [u64; 3],
    /// Of the DRAM bits, those of attention operands (`Workload::is_attention_operand`).
    pub dram_attention_bits: u64,
    /// Bits carried by NoC links, summed over every link each transfer crosses.
    pub noc_bits: u64,
    /// DRAM row activations: the device's count in the simulator, the analytic
    /// half's estimate per transfer (`Dram::activates_estimate`); 0 under the port.
    pub dram_activates: u64,
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
}

/// What a schedule has cost when only its first tiles have run. Every figure only
/// grows as the rest run, so each is a lower bound on the whole schedule's (an
/// exploration drops a schedule whose bound cannot beat the best it keeps).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostSoFar {
    pub energy_pj: f64,
    pub dram_energy_pj: f64,
    pub dram_bits: u64,
    pub latency_cycles: u64,
    /// Blocks `0..blocks_done` have run every tile; no later block has run any.
    pub blocks_done: usize,
}

impl Ledger {
    /// The ledger's figures as a [`Report`] would state them, with the latency so far,
    /// after the first `blocks_done` blocks.
    pub fn so_far(&self, latency_cycles: u64, blocks_done: usize) -> CostSoFar {
        let pj = |fj: f64| fj / 1000.0;
        CostSoFar {
            energy_pj: pj(self.energy_fj.iter().flatten().sum()),
            dram_energy_pj: pj(self.energy_fj[Component::Dram as usize].iter().sum()),
            dram_bits: self.dram_read_bits.iter().sum::<u64>()
                + self.dram_write_bits.iter().sum::<u64>(),
            latency_cycles,
            blocks_done,
        }
    }

    pub fn energy(&mut self, component: Component, spend: Spend, fj: f64) {
        self.energy_fj[component as usize][spend.index()] += fj;
    }

    pub fn dram(&mut self, class: DataClass, read_bits: u64, write_bits: u64) {
        self.dram_read_bits[class.index()] += read_bits;
        self.dram_write_bits[class.index()] += write_bits;
    }

    /// Adds another ledger's figures (a component's, into the run's).
    pub fn add(&mut self, other: &Ledger) {
        for (row, other_row) in self.energy_fj.iter_mut().zip(&other.energy_fj) {
            for (fj, other_fj) in row.iter_mut().zip(other_row) {
                *fj += other_fj;
            }
        }
        for i in 0..3 {
            self.dram_read_bits[i] += other.dram_read_bits[i];
            self.dram_write_bits[i] += other.dram_write_bits[i];
        }
        self.dram_attention_bits += other.dram_attention_bits;
        self.noc_bits += other.noc_bits;
        self.dram_activates += other.dram_activates;
        self.macs += other.macs;
        self.sops += other.sops;
        self.other_ops += other.other_ops;
    }
}

/// What one tile spends, as both halves count it for the per-tile agreement: energy
/// by component, DRAM and NoC traffic, operations. A tile is charged for the transfers
/// among its own actions (before and after it) and for what it computes and streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TileSpend {
    /// femtojoules, by `Component`.
    pub energy_fj: [f64; 5],
    pub dram_read_bits: u64,
    pub dram_write_bits: u64,
    pub noc_bits: u64,
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
}

impl TileSpend {
    pub fn energy(&mut self, component: Component, fj: f64) {
        self.energy_fj[component as usize] += fj;
    }

    pub fn dram(&mut self, read_bits: u64, write_bits: u64) {
        self.dram_read_bits += read_bits;
        self.dram_write_bits += write_bits;
    }

    pub fn add(&mut self, other: &TileSpend) {
        for (a, b) in self.energy_fj.iter_mut().zip(other.energy_fj) {
            *a += b;
        }
        self.dram(other.dram_read_bits, other.dram_write_bits);
        self.noc_bits += other.noc_bits;
        self.macs += other.macs;
        self.sops += other.sops;
        self.other_ops += other.other_ops;
    }

    /// Each quantity by name, with its value (energies in pJ), in a fixed order.
    pub fn quantities(&self) -> [(&'static str, f64); 11] {
        let e = |c: Component| self.energy_fj[c as usize] / 1000.0;
        [
            ("ops.macs", self.macs as f64),
            ("ops.sops", self.sops as f64),
            ("ops.other", self.other_ops as f64),
            ("dram_bits.read", self.dram_read_bits as f64),
            ("dram_bits.write", self.dram_write_bits as f64),
            ("noc_bits", self.noc_bits as f64),
            ("energy_pj.dram", e(Component::Dram)),
            ("energy_pj.global_sram", e(Component::GlobalSram)),
            ("energy_pj.local_buffers", e(Component::LocalBuffers)),
            ("energy_pj.pe", e(Component::Pe)),
            ("energy_pj.noc", e(Component::Noc)),
        ]
    }
}

/// One tile as one half counts it, for the per-tile agreement: the PE array's busy
/// cycles and what the tile spends (absent from schedules saved before it was kept).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TileFigures {
    pub busy_cycles: u64,
    pub spend: Option<TileSpend>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnergyByComponent {
    /// Everything: what data movement and operations spent, plus `static`.
    pub total: f64,
    pub dram: f64,
    pub global_sram: f64,
    pub local_buffers: f64,
    pub pe: f64,
    pub noc: f64,
    /// What the DRAM's row activations and precharges cost (timing model with the
    /// currents that price them; else 0): the device's count in the simulator, an
    /// estimate in the analytic half. Not part of `dram`, which is per bit.
    #[serde(default)]
    pub dram_activate: f64,
    /// What the chip's and the DRAM's static power cost over the run's latency (0
    /// unless the accelerator states a static power).
    #[serde(rename = "static", default)]
    pub static_pj: f64,
}

impl EnergyByComponent {
    /// What data movement and operations spent (the total less static energy).
    pub fn dynamic(&self) -> f64 {
        self.total - self.static_pj
    }

    /// What was spent per bit moved and per operation (the total less static energy
    /// and DRAM row activations, which depend on how the run unfolds): the part both
    /// halves count exactly alike.
    pub fn per_access(&self) -> f64 {
        self.dynamic() - self.dram_activate
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[allow(non_snake_case)]
pub struct EnergyByOperand {
    pub W: f64,
    pub F: f64,
    pub V: f64,
    /// PE operations (MACs, SOPs, element-wise and pooling).
    pub compute: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ReadWriteBits {
    pub read: u64,
    pub write: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[allow(non_snake_case)]
pub struct ByClass<T> {
    pub W: T,
    pub F: T,
    pub V: T,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DramBits {
    pub total: u64,
    pub read: u64,
    pub write: u64,
    pub by_operand: ByClass<u64>,
    pub by_operand_direction: ByClass<ReadWriteBits>,
    /// Of the traffic, that of attention operands (Q, K, V and scores: the tensors a
    /// matmul reads, moved by transfers or streamed by the tiles that make or read
    /// them); absent when the network has none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attention: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Live data that had to leave the global SRAM and come back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpillEntry {
    pub tensor: String,
    pub operand: String,
    pub spills: u64,
    pub bits: u64,
    /// Fetches from DRAM of chunks this tensor had spilled, and their bits.
    #[serde(default)]
    pub reloads: u64,
    #[serde(default)]
    pub reload_bits: u64,
}

/// Tiles too large for the global SRAM, which stream some operands from DRAM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamedEntry {
    pub layer: String,
    pub tiles: u64,
    pub operands: Vec<Operand>,
}

/// Spills and streaming tiles as a run meets them, for the report's lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Incidents {
    /// (tensor, class) → [spills, bits, reloads, reload bits].
    spills: BTreeMap<(String, DataClass), [u64; 4]>,
    /// layer → (tiles, streamed operands).
    streamed: BTreeMap<usize, (u64, BTreeSet<Operand>)>,
}

impl Incidents {
    pub fn spill(&mut self, tensor: String, class: DataClass, bits: u64) {
        self.spills(tensor, class, 1, bits);
    }

    /// `count` spills of `tensor` moving `bits` in all.
    pub fn spills(&mut self, tensor: String, class: DataClass, count: u64, bits: u64) {
        self.spills_and_reloads(tensor, class, [count, bits, 0, 0]);
    }

    /// A fetch of a chunk `tensor` had spilled.
    pub fn reload(&mut self, tensor: String, class: DataClass, bits: u64) {
        self.spills_and_reloads(tensor, class, [0, 0, 1, bits]);
    }

    /// Adds [spills, bits, reloads, reload bits] to `tensor`'s entry.
    pub fn spills_and_reloads(&mut self, tensor: String, class: DataClass, counts: [u64; 4]) {
        let e = self.spills.entry((tensor, class)).or_default();
        for (total, n) in e.iter_mut().zip(counts) {
            *total += n;
        }
    }

    pub fn streamed(&mut self, layer: usize, operands: impl IntoIterator<Item = Operand>) {
        let e = self.streamed.entry(layer).or_default();
        e.0 += 1;
        e.1.extend(operands);
    }

    pub fn merge(&mut self, other: &Incidents) {
        for ((tensor, class), counts) in &other.spills {
            self.spills_and_reloads(tensor.clone(), *class, *counts);
        }
        for (l, (n, ops)) in &other.streamed {
            let e = self.streamed.entry(*l).or_default();
            e.0 += n;
            e.1.extend(ops.iter().copied());
        }
    }

    /// The spills, in natural order of the tensors' names (conv5 before conv13).
    fn spill_entries(&self) -> Vec<SpillEntry> {
        let mut entries: Vec<_> = self.spills.iter().collect();
        entries.sort_by(|a, b| natural_order(&a.0.0, &b.0.0).then(a.0.1.cmp(&b.0.1)));
        entries
            .into_iter()
            .map(
                |((tensor, class), [spills, bits, reloads, reload_bits])| SpillEntry {
                    tensor: tensor.clone(),
                    operand: class.name().to_string(),
                    spills: *spills,
                    bits: *bits,
                    reloads: *reloads,
                    reload_bits: *reload_bits,
                },
            )
            .collect()
    }

    fn streamed_entries(&self, workload: &Workload) -> Vec<StreamedEntry> {
        self.streamed
            .iter()
            .map(|(l, (tiles, ops))| StreamedEntry {
                layer: workload.layers[*l].name.clone(),
                tiles: *tiles,
                operands: ops.iter().copied().collect(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct OpCounts {
    pub macs: u64,
    pub sops: u64,
    pub other: u64,
}

impl OpCounts {
    /// Every operation of the network, as if every input were non-zero.
    pub fn dense(workload: &Workload) -> Self {
        let t = workload.timesteps as u64;
        let sum = |f: fn(&crate::model::Layer) -> u64| -> u64 {
            workload.layers.iter().map(|l| f(l) * t).sum()
        };
        OpCounts {
            macs: sum(|l| l.macs_per_timestep()),
            sops: sum(|l| l.sops_per_timestep()),
            other: sum(|l| l.other_ops_per_timestep()),
        }
    }

    pub fn total(&self) -> u64 {
        self.macs + self.sops + self.other
    }
}

/// What the network would do densely and what the hardware performed (fewer when its
/// array gates or skips zero inputs).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Operations {
    pub dense: OpCounts,
    pub performed: OpCounts,
}

/// A layer's input density: as stated (or taken from a recording) for the analytic
/// half, and as the simulator's spikes measured it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerActivity {
    pub layer: String,
    pub stated: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
}

impl LayerActivity {
    /// Every layer's stated input density (none when the whole network is dense and
    /// nothing was measured).
    pub fn stated(workload: &Workload, measured: Option<&[f64]>) -> Vec<LayerActivity> {
        if workload.densities.is_dense() && measured.is_none() {
            return Vec::new();
        }
        workload
            .layers
            .iter()
            .map(|l| LayerActivity {
                layer: l.name.clone(),
                stated: workload.input_density(l.id, 0..workload.timesteps),
                measured: measured.and_then(|m| m.get(l.id).copied()),
            })
            .collect()
    }
}

/// One schedule's cost. JSON key paths are kept stable (see README).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// "predicted" (analytic) or "measured" (simulated).
    pub source: String,
    pub workload: String,
    /// The accelerator's name, with its overrides (`meta_proto[dram.bw_bits=32]`).
    pub hardware: String,
    /// Fields set over the accelerator file.
    #[serde(default)]
    pub hardware_overrides: Vec<String>,
    pub global_sram_bits: u64,
    pub stateless_blocks: Vec<usize>,
    pub schedule: Vec<String>,
    pub prefetch: bool,
    pub energy_pj: EnergyByComponent,
    pub energy_by_operand_pj: EnergyByOperand,
    /// component → operand (W, F, V, compute) → pJ: the stacked bars of the paper's
    /// energy breakdowns.
    pub energy_matrix_pj: EnergyMatrix,
    pub dram_bits: DramBits,
    /// Bits the NoC's links carried: each transfer's bits times the links it crossed.
    #[serde(default)]
    pub noc_bits: u64,
    /// Cycles the busiest NoC link was occupied.
    #[serde(default)]
    pub noc_busy_cycles: u64,
    pub latency_cycles: u64,
    /// Energy over time: the total over the latency at the accelerator's clock.
    #[serde(default)]
    pub average_power_mw: f64,
    /// Cycles the PE arrays spend computing (passes, including fill/drain).
    pub busy_cycles: u64,
    /// PE-array cycles lost, by cause (all cores): idle while work was pending, plus
    /// fill/drain (which busy_cycles also counts).
    #[serde(default)]
    pub stall_cycles_by_cause: StallCycles,
    /// How far the latency may lie from a prediction (absent from measurements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_bounds: Option<LatencyBounds>,
    pub peak_global_sram_bits: u64,
    /// The operations performed (`operations.performed`, kept under its old key).
    pub ops: OpCounts,
    #[serde(default)]
    pub operations: Operations,
    /// Per layer, its input's density (absent when everything is dense).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<LayerActivity>,
    pub tiles: u64,
    pub streamed: Vec<StreamedEntry>,
    pub spills: Vec<SpillEntry>,
}

pub struct ReportHeader<'a> {
    pub source: &'static str,
    pub workload: &'a Workload,
    pub hardware: String,
    pub hardware_overrides: Vec<String>,
    pub global_sram_bits: u64,
    pub schedule: Vec<String>,
    pub prefetch: bool,
    /// Each layer's input density as the simulator's spikes had it (measured reports).
    pub measured_activity: Option<&'a [f64]>,
}

pub struct ReportTiming {
    /// The run's static energy (`Accelerator::static_energy_pj` over its latency).
    pub static_pj: f64,
    /// Its DRAM row activations' energy (`Dram::activate_energy_pj` of the ledger's).
    pub dram_activate_pj: f64,
    /// The accelerator's clock, for average power.
    pub clock_mhz: u64,
    pub latency_cycles: u64,
    pub busy_cycles: u64,
    pub stall_cycles: [u64; StallCause::COUNT],
    pub latency_bounds: Option<LatencyBounds>,
    pub peak_global_sram_bits: u64,
    pub noc_busy_cycles: u64,
    pub tiles: u64,
}

/// The cycles a run's latency cannot fall below or exceed, whatever order the
/// hardware serves its shared ports in: where the analytic half cannot be exact, how
/// far off it may be (`schedule::scheduler::bounds` derives them).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LatencyBounds {
    pub floor_cycles: u64,
    pub ceiling_cycles: u64,
}

impl LatencyBounds {
    /// Whether `latency_cycles` lies inside.
    pub fn contain(&self, latency_cycles: u64) -> bool {
        (self.floor_cycles..=self.ceiling_cycles).contains(&latency_cycles)
    }

    /// The bounds as percentages of `latency_cycles` (a prediction): below, above.
    pub fn percent_of(&self, latency_cycles: u64) -> (f64, f64) {
        let p = latency_cycles.max(1) as f64;
        (
            (self.floor_cycles as f64 - p) / p * 100.0,
            (self.ceiling_cycles as f64 - p) / p * 100.0,
        )
    }
}

impl DramBits {
    /// The DRAM traffic a ledger booked, by direction and operand.
    fn of(ledger: &Ledger) -> Self {
        let rw = |c: DataClass| ReadWriteBits {
            read: ledger.dram_read_bits[c.index()],
            write: ledger.dram_write_bits[c.index()],
        };
        let read: u64 = ledger.dram_read_bits.iter().sum();
        let write: u64 = ledger.dram_write_bits.iter().sum();
        DramBits {
            total: read + write,
            read,
            write,
            by_operand: ByClass {
                W: rw(DataClass::W).read + rw(DataClass::W).write,
                F: rw(DataClass::F).read + rw(DataClass::F).write,
                V: rw(DataClass::V).read + rw(DataClass::V).write,
            },
            by_operand_direction: ByClass {
                W: rw(DataClass::W),
                F: rw(DataClass::F),
                V: rw(DataClass::V),
            },
            attention: ledger.dram_attention_bits,
        }
    }
}

impl Report {
    pub fn new(
        header: ReportHeader,
        ledger: &Ledger,
        timing: ReportTiming,
        incidents: &Incidents,
    ) -> Self {
        let pj = |fj: f64| fj / 1000.0;
        let comp = |c: Component| pj(ledger.energy_fj[c as usize].iter().sum());
        let class = |i: usize| pj(ledger.energy_fj.iter().map(|row| row[i]).sum());
        let total = pj(ledger.energy_fj.iter().flatten().sum())
            + timing.dram_activate_pj
            + timing.static_pj;
        let matrix = EnergyMatrix::new(ledger.energy_fj.map(|row| EnergyBySpend::new(row.map(pj))));
        let performed = OpCounts {
            macs: ledger.macs,
            sops: ledger.sops,
            other: ledger.other_ops,
        };
        Report {
            source: header.source.to_string(),
            workload: header.workload.name.clone(),
            hardware: header.hardware,
            hardware_overrides: header.hardware_overrides,
            global_sram_bits: header.global_sram_bits,
            stateless_blocks: header.workload.stateless_blocks.clone(),
            schedule: header.schedule,
            prefetch: header.prefetch,
            energy_pj: EnergyByComponent {
                total,
                dram: comp(Component::Dram),
                global_sram: comp(Component::GlobalSram),
                local_buffers: comp(Component::LocalBuffers),
                pe: comp(Component::Pe),
                noc: comp(Component::Noc),
                dram_activate: timing.dram_activate_pj,
                static_pj: timing.static_pj,
            },
            energy_by_operand_pj: EnergyByOperand {
                W: class(0),
                F: class(1),
                V: class(2),
                compute: class(3),
            },
            energy_matrix_pj: matrix,
            dram_bits: DramBits::of(ledger),
            noc_bits: ledger.noc_bits,
            noc_busy_cycles: timing.noc_busy_cycles,
            latency_cycles: timing.latency_cycles,
            // pJ over µs is µW.
            average_power_mw: total * timing.clock_mhz as f64
                / timing.latency_cycles.max(1) as f64
                / 1000.0,
            busy_cycles: timing.busy_cycles,
            stall_cycles_by_cause: StallCycles::new(timing.stall_cycles),
            latency_bounds: timing.latency_bounds,
            peak_global_sram_bits: timing.peak_global_sram_bits,
            ops: performed,
            operations: Operations {
                dense: OpCounts::dense(header.workload),
                performed,
            },
            activity: LayerActivity::stated(header.workload, header.measured_activity),
            tiles: timing.tiles,
            streamed: incidents.streamed_entries(header.workload),
            spills: incidents.spill_entries(),
        }
    }
}

/// Orders names with their digit runs as numbers: `conv5` before `conv13`.
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<(u8, u128, String)> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                let (d, r) = rest.split_at(digits);
                out.push((0, d.parse().unwrap_or(u128::MAX), String::new()));
                rest = r;
            } else {
                let text =
                    rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
                let (t, r) = rest.split_at(text);
                out.push((1, 0, t.to_string()));
                rest = r;
            }
        }
        out
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_sort_with_their_numbers() {
        let mut v = vec![
            "conv13 output",
            "conv5 output",
            "conv5 state",
            "add4 output",
            "conv10 output",
        ];
        v.sort_by(|a, b| super::natural_order(a, b));
        assert_eq!(
            v,
            [
                "add4 output",
                "conv5 output",
                "conv5 state",
                "conv10 output",
                "conv13 output"
            ]
        );
    }
}
