//! Accelerators: cores (PE array + memory hierarchy), a mesh NoC and one single-port
//! DRAM, read from TOML like workloads (serde → validate → resolved types).
//!
//! Conventions: sizes and bandwidths are in bits and bits per cycle, energies in
//! femtojoules per bit or per operation. A core's memories are listed innermost first;
//! the outermost one is the core's global SRAM (the scratchpad the scheduler manages),
//! and it must hold every operand.

use super::activity::{FeatureFormat, Sparsity};
use super::diag::{Collector, ModelError, Problem, SourceText, check_range};
use super::dram_timing::{DramKind, DramTiming};
use super::limits::*;
use super::overrides::FieldSet;
use super::units::Size;
use super::workload::{OpKind, Operand};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

/// Loop dimensions an array axis can unroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LoopDim {
    K,
    C,
    OY,
    OX,
}

impl LoopDim {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "K" => Some(LoopDim::K),
            "C" => Some(LoopDim::C),
            "OY" => Some(LoopDim::OY),
            "OX" => Some(LoopDim::OX),
            _ => None,
        }
    }
}

/// What one array axis may unroll: an output dimension, or the output pixels (`OYOX`:
/// the axis's PEs take consecutive pixels of the output in raster order, as a
/// flattened pixel index, the way SCALE-Sim unrolls them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AxisUnroll {
    K,
    OY,
    OX,
    OYOX,
}

impl AxisUnroll {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "K" => Some(AxisUnroll::K),
            "OY" => Some(AxisUnroll::OY),
            "OX" => Some(AxisUnroll::OX),
            "OYOX" => Some(AxisUnroll::OYOX),
            _ => None,
        }
    }

    /// The (K, OY, OX, flattened) factors an axis of `n` PEs can unroll. `OYOX`
    /// flattens the output pixels: its `n` PEs take `n` consecutive pixels in raster
    /// order (the OX factor counts pixels, and a chunk may wrap rows).
    fn splits(self, n: u64) -> [u64; 4] {
        match self {
            AxisUnroll::K => [n, 1, 1, 0],
            AxisUnroll::OY => [1, n, 1, 0],
            AxisUnroll::OX => [1, 1, n, 0],
            AxisUnroll::OYOX => [1, 1, n, 1],
        }
    }

    /// The loop dimensions it unrolls.
    fn dims(self) -> &'static [LoopDim] {
        match self {
            AxisUnroll::K => &[LoopDim::K],
            AxisUnroll::OY => &[LoopDim::OY],
            AxisUnroll::OX => &[LoopDim::OX],
            AxisUnroll::OYOX => &[LoopDim::OY, LoopDim::OX],
        }
    }
}

impl std::fmt::Display for AxisUnroll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// An axis's choices in a saved schedule: a list, or (files from before the choice
/// existed) one name.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<AxisUnroll>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(AxisUnroll),
        Many(Vec<AxisUnroll>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    })
}

/// Spatial unrolling factors of a PE array: how many K, C, OY, OX iterations run in
/// parallel each cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unroll {
    pub k: u64,
    pub c: u64,
    pub oy: u64,
    pub ox: u64,
    /// The OX factor counts flattened output pixels in raster order (`OYOX`); OY is 1.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flat: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Unroll {
    /// The output pixels the array covers at once, as people read it: `OY16·OX1`, or
    /// `OYOX16` when flattened.
    pub fn pixels_label(&self) -> String {
        if self.flat {
            format!("OYOX{}", self.ox)
        } else {
            format!("OY{}·OX{}", self.oy, self.ox)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeArray {
    pub rows: u64,
    pub cols: u64,
    /// What the rows may unroll; the mapper picks per tile (one entry: no choice).
    #[serde(alias = "row_dim", deserialize_with = "one_or_many")]
    pub row_dims: Vec<AxisUnroll>,
    /// What the columns may unroll.
    #[serde(alias = "col_dim", deserialize_with = "one_or_many")]
    pub col_dims: Vec<AxisUnroll>,
    /// The reduction dimension each PE reduces `inputs_per_pe` of per cycle.
    pub reduction_dim: LoopDim,
    pub inputs_per_pe: u64,
    pub accumulator_bits: u32,
    /// Accumulator sets per PE: with one, a fold's results must leave the array before
    /// the next fold starts; with two, draining one set overlaps computing in the other.
    #[serde(default = "one_u64")]
    pub accumulator_buffers: u64,
    /// Rows of results leaving the array per cycle when a fold drains.
    #[serde(default = "one_u64")]
    pub drain_rows_per_cycle: u64,
    pub mac_energy_fj: f64,
    pub sop_energy_fj: f64,
    pub other_op_energy_fj: f64,
    /// Energy per bit read or written in the PE registers (weight register, accumulator).
    pub register_energy_fj_per_bit: f64,
    /// How the array exploits zero inputs (absent: it does not).
    #[serde(default, skip_serializing_if = "Sparsity::is_none")]
    pub sparsity: Sparsity,
    /// Power the array draws whether it computes or not (leakage, clock tree), µW.
    #[serde(default)]
    pub static_power_uw: f64,
}

impl PeArray {
    /// Every unrolling the axes allow, in the order they are listed (rows first); an
    /// axis pair that would unroll one dimension twice is left out.
    pub fn unrollings(&self) -> Vec<Unroll> {
        let reduction = |d: LoopDim| {
            if self.reduction_dim == d {
                self.inputs_per_pe
            } else {
                1
            }
        };
        let mut out = Vec::new();
        for &r in &self.row_dims {
            for &c in &self.col_dims {
                if r.dims().iter().any(|d| c.dims().contains(d)) {
                    continue;
                }
                let (rs, cs) = (r.splits(self.rows), c.splits(self.cols));
                let u = Unroll {
                    k: rs[0] * cs[0] * reduction(LoopDim::K),
                    c: reduction(LoopDim::C),
                    oy: rs[1] * cs[1] * reduction(LoopDim::OY),
                    ox: rs[2] * cs[2] * reduction(LoopDim::OX),
                    flat: rs[3] + cs[3] > 0,
                };
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out
    }

    /// The first unrolling allowed (the only one when each axis lists one dimension).
    pub fn unroll(&self) -> Unroll {
        self.unrollings().first().copied().unwrap_or(Unroll {
            k: 1,
            c: self.inputs_per_pe,
            oy: 1,
            ox: 1,
            flat: false,
        })
    }

    pub fn pes(&self) -> u64 {
        self.rows * self.cols
    }

    /// Systolic skew: cycles for operands to reach the far corner, and for results to
    /// leave it.
    pub fn fill_drain_cycles(&self) -> u64 {
        self.rows + self.cols - 2
    }

    /// Cycles to move one fold's results out of the accumulators: the rows leave
    /// `drain_rows_per_cycle` at a time, and no faster than the output path
    /// (`path_bits_per_cycle`) carries rows × cols results of `result_bits` each.
    pub fn drain_cycles(&self, result_bits: u64, path_bits_per_cycle: u64) -> u64 {
        let rows = self.rows.div_ceil(self.drain_rows_per_cycle.max(1));
        let path = (self.pes() * result_bits).div_ceil(path_bits_per_cycle.max(1));
        rows.max(path)
    }
}

fn one_u64() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub name: String,
    pub operands: Vec<Operand>,
    pub size_bits: u64,
    pub banks: u64,
    /// When set, the bank count and bandwidth follow the size (one bank per
    /// `bank_size_bits`, each with the per-bank bandwidth).
    pub bank_size_bits: Option<u64>,
    pub read_bw_bits_per_bank: u64,
    pub write_bw_bits_per_bank: u64,
    pub read_energy_fj_per_bit: f64,
    pub write_energy_fj_per_bit: f64,
    pub read_ports: u32,
    pub write_ports: u32,
    pub latency_cycles: u64,
    /// How the level stores feature tensors (absent: dense).
    #[serde(default, skip_serializing_if = "FeatureFormat::is_dense")]
    pub feature_format: FeatureFormat,
    /// Power the memory draws whether accessed or not, µW, plus leakage per bit it
    /// holds (so a larger SRAM leaks more), pW per bit.
    #[serde(default)]
    pub static_power_uw: f64,
    #[serde(default)]
    pub leakage_pw_per_bit: f64,
}

impl Memory {
    /// The memory's static power, µW.
    pub fn static_power_uw(&self) -> f64 {
        self.static_power_uw + self.leakage_pw_per_bit * self.size_bits as f64 / 1e6
    }

    pub fn holds(&self, op: Operand) -> bool {
        self.operands.contains(&op)
    }
    pub fn read_bw_bits(&self) -> u64 {
        self.read_bw_bits_per_bank * self.banks
    }
    pub fn write_bw_bits(&self) -> u64 {
        self.write_bw_bits_per_bank * self.banks
    }

    /// Cycles bank ports are busy moving `bits` in (`write`) or out, summed over the
    /// banks the data passes through (each piece rounds up to a whole cycle).
    pub fn port_cycles(&self, bits: u64, write: bool) -> u64 {
        let bw = if write {
            self.write_bw_bits_per_bank
        } else {
            self.read_bw_bits_per_bank
        };
        let layout = self.bank_layout();
        let pieces = (bits / layout.bank_bits + 2).min(layout.banks);
        bits.div_ceil(bw.max(1)) + pieces.saturating_sub(1)
    }

    /// How many banks data of `bits` spans when the bank count follows the size (the
    /// bank ports that serve it); `None` when the memory is not banked so.
    pub fn banks_spanned(&self, bits: u64) -> Option<u64> {
        let bank = self.bank_size_bits.filter(|_| self.banks > 1)?;
        Some(bits.div_ceil(bank).clamp(1, self.banks))
    }

    /// Cycles `bits` take to land through the write ports of the banks they span (all
    /// of them when the bank count does not follow the size): streamed or fetched data
    /// is in no sooner, however fast it comes.
    pub fn landing_cycles(&self, bits: u64) -> u64 {
        let banks = self.banks_spanned(bits).unwrap_or(self.banks).max(1);
        bits.div_ceil((self.write_bw_bits_per_bank * banks).max(1))
    }

    /// How its addresses map to its banks.
    pub fn bank_layout(&self) -> BankLayout {
        let banks = self.banks.max(1);
        BankLayout {
            banks,
            bank_bits: self.size_bits.div_ceil(banks).max(1),
            capacity: self.size_bits.max(1),
        }
    }

    fn resize(&mut self, size_bits: u64) {
        self.size_bits = size_bits;
        if let Some(bank) = self.bank_size_bits {
            self.banks = size_bits.div_ceil(bank).max(1);
        }
    }
}

/// How a banked memory's addresses map to its banks: consecutive ranges of
/// `bank_bits` (the last bank may be shorter). An access of `bits` from `addr` passes
/// through the banks from there on, wrapping at the end of the memory; one at least as
/// large as the memory spreads evenly over every bank. The simulator reserves bank
/// ports by this rule and the analytic half predicts bank conflicts by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankLayout {
    pub banks: u64,
    pub bank_bits: u64,
    pub capacity: u64,
}

impl BankLayout {
    /// The banks an access passes through, in order, with the bits it moves in each.
    pub fn pieces(self, addr: u64, bits: u64) -> BankPieces {
        BankPieces {
            layout: self,
            at: addr % self.capacity,
            left: bits,
            spread: (bits >= self.capacity).then(|| bits.div_ceil(self.banks)),
            next_bank: 0,
        }
    }
}

/// See [`BankLayout::pieces`].
#[derive(Debug, Clone)]
pub struct BankPieces {
    layout: BankLayout,
    at: u64,
    left: u64,
    /// Bits per bank of an access spread over every bank.
    spread: Option<u64>,
    next_bank: u64,
}

impl Iterator for BankPieces {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let l = self.layout;
        if let Some(per_bank) = self.spread {
            let bank = self.next_bank;
            self.next_bank += 1;
            return (bank < l.banks).then_some((bank, per_bank));
        }
        if self.left == 0 {
            return None;
        }
        let in_bank = (l.bank_bits - self.at % l.bank_bits).min(self.left);
        let bank = (self.at / l.bank_bits).min(l.banks - 1);
        self.left -= in_bank;
        self.at = (self.at + in_bank) % l.capacity;
        Some((bank, in_bank))
    }
}

/// Passes whose fills a core's controller issues ahead of the PE array (a DMA
/// queue's depth): when a fill takes longer to arrive than this many passes compute,
/// the array waits for the rest.
pub const LOOKAHEAD_PASSES: u64 = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Core {
    pub id: usize,
    pub name: String,
    pub position: [u32; 2],
    /// The operators its array runs (a pooling or SIMD core runs only some).
    #[serde(default = "all_operators")]
    pub operators: Vec<OpKind>,
    pub pe_array: PeArray,
    /// Innermost first; the last is the global SRAM.
    pub memories: Vec<Memory>,
}

fn all_operators() -> Vec<OpKind> {
    OpKind::ALL.to_vec()
}

impl Core {
    /// Whether the core's array runs `op`.
    pub fn runs(&self, op: OpKind) -> bool {
        self.operators.contains(&op)
    }

    pub fn global_sram(&self) -> &Memory {
        &self.memories[self.memories.len() - 1]
    }

    /// Cycles one fold of `result_bits`-bit results takes to drain: the array's results
    /// go to the global SRAM through one bank's write port.
    pub fn drain_cycles(&self, result_bits: u64) -> u64 {
        self.pe_array
            .drain_cycles(result_bits, self.global_sram().write_bw_bits_per_bank)
    }

    /// Whether anything on the core (or the DRAM it reads) depends on how dense its
    /// features are: an array that gates or skips zeros, or a compressed format.
    pub fn sees_activity(&self, dram: &Dram) -> bool {
        !self.pe_array.sparsity.is_none()
            || !dram.feature_format.is_dense()
            || self.memories.iter().any(|m| !m.feature_format.is_dense())
    }

    /// Index in `memories` of the global SRAM.
    pub fn global_index(&self) -> usize {
        self.memories.len() - 1
    }

    /// The memories that hold `op`, innermost first (always ending with the global SRAM).
    pub fn hierarchy(&self, op: Operand) -> impl Iterator<Item = (usize, &Memory)> {
        self.memories
            .iter()
            .enumerate()
            .filter(move |(_, m)| m.holds(op))
    }

    /// The innermost memory level below the global SRAM that holds `op`, if any
    /// (the local buffer that feeds the PE array).
    pub fn local_buffer(&self, op: Operand) -> Option<(usize, &Memory)> {
        self.hierarchy(op).find(|(i, _)| *i != self.global_index())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noc {
    pub mesh: [u32; 2],
    pub link_bw_bits: u64,
    pub hop_latency_cycles: u64,
    pub energy_fj_per_bit_per_hop: f64,
    /// Links with their own bandwidth.
    #[serde(default)]
    pub links: Vec<NocLink>,
}

/// A mesh link with its own bandwidth (both directions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NocLink {
    pub between: [[u32; 2]; 2],
    pub bw_bits: u64,
}

impl NocLink {
    fn joins(&self, a: [u32; 2], b: [u32; 2]) -> bool {
        self.between == [a, b] || self.between == [b, a]
    }
}

impl Noc {
    /// The directed links of the XY route from node `a` to node `b`: along X first, then
    /// along Y (empty when `a == b`).
    pub fn xy_path(&self, a: [u32; 2], b: [u32; 2]) -> Vec<([u32; 2], [u32; 2])> {
        let mut links = Vec::new();
        let mut at = a;
        while at[0] != b[0] {
            let next = [if b[0] > at[0] { at[0] + 1 } else { at[0] - 1 }, at[1]];
            links.push((at, next));
            at = next;
        }
        while at[1] != b[1] {
            let next = [at[0], if b[1] > at[1] { at[1] + 1 } else { at[1] - 1 }];
            links.push((at, next));
            at = next;
        }
        links
    }

    /// Bits per cycle of the link from node `a` to its neighbour `b`.
    pub fn link_bw(&self, a: [u32; 2], b: [u32; 2]) -> u64 {
        self.links
            .iter()
            .find(|l| l.joins(a, b))
            .map_or(self.link_bw_bits, |l| l.bw_bits)
    }

    /// Hops of the XY route from `a` to `b`.
    pub fn hops(a: [u32; 2], b: [u32; 2]) -> u64 {
        (a[0].abs_diff(b[0]) + a[1].abs_diff(b[1])) as u64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dram {
    /// Mesh node the DRAM controller attaches to.
    pub position: [u32; 2],
    pub bw_bits: u64,
    pub latency_cycles: u64,
    pub read_energy_fj_per_bit: f64,
    pub write_energy_fj_per_bit: f64,
    /// Extra cycles when the single port switches between reading and writing.
    pub turnaround_cycles: u64,
    /// How feature tensors are stored off chip (absent: dense).
    #[serde(default, skip_serializing_if = "FeatureFormat::is_dense")]
    pub feature_format: FeatureFormat,
    /// Which model times transfers: the port above, or `timing`.
    #[serde(default, skip_serializing_if = "DramKind::is_port")]
    pub model: DramKind,
    /// The device under `model = "timing"` (read and checked under either model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<DramTiming>,
    /// Background power under the port model, µW (the timing model derives its own
    /// from the standard's currents).
    #[serde(default)]
    pub static_power_uw: f64,
}

impl Dram {
    /// The timing model's device, when it times transfers.
    pub fn timed(&self) -> Option<&DramTiming> {
        match self.model {
            DramKind::Timing => self.timing.as_ref(),
            DramKind::Port => None,
        }
    }

    /// Cycles from a request to its first data: the port's fixed latency, or the
    /// timing model's activate and CAS latency.
    pub fn access_latency(&self, write: bool) -> u64 {
        match self.timed() {
            Some(t) => t.to_cycles(t.trcd + if write { t.cwl } else { t.cl }),
            None => self.latency_cycles,
        }
    }

    /// Cycles the DRAM is busy moving `bits` in one sequential transfer on an idle
    /// device (what other transfers wait behind): the port's burst, or the timing
    /// model's estimate less its access latency. With [`Dram::access_latency`], the
    /// analytic half's one rule for a DRAM transfer.
    pub fn occupancy_cycles(&self, bits: u64, write: bool) -> u64 {
        match self.timed() {
            Some(t) => t
                .stream_cycles(bits, write)
                .saturating_sub(self.access_latency(write)),
            None => bits.div_ceil(self.bw_bits),
        }
    }

    /// Energy per bit read (`write` false) or written, fJ, as both halves charge it:
    /// the stated per-bit energy (moving the bit between chip and DRAM), plus under the
    /// timing model the device's burst energy from its currents.
    pub fn energy_fj_per_bit(&self, write: bool) -> f64 {
        let stated = if write {
            self.write_energy_fj_per_bit
        } else {
            self.read_energy_fj_per_bit
        };
        stated
            + self
                .timed()
                .map_or(0.0, |t| t.burst_energy_fj_per_bit(write))
    }

    /// Row activations the analytic half expects of one sequential transfer of `bits`
    /// (none under the port model, which has no rows).
    pub fn activates_estimate(&self, bits: u64) -> u64 {
        self.timed().map_or(0, |t| t.stream_activates(bits))
    }

    /// What `activates` row activations (with their precharges) cost, pJ: 0 under the
    /// port model or without the currents that price them.
    pub fn activate_energy_pj(&self, activates: u64) -> f64 {
        self.timed()
            .map_or(0.0, |t| t.activate_energy_pj() * activates as f64)
    }

    /// Power drawn whatever the DRAM does, µW: the port model's `static_power_uw`, or
    /// the timing model's standby and refresh power.
    pub fn background_power_uw(&self) -> f64 {
        match self.timed() {
            Some(t) => t.background_power_uw(),
            None => self.static_power_uw,
        }
    }

    /// Bytes one request of a DRAM trace moves: a 64-byte line under the port model,
    /// a burst under the timing model.
    pub fn trace_request_bytes(&self) -> u64 {
        self.timed()
            .map_or(super::dram_timing::LINE_BYTES, |t| t.burst_bytes())
    }

    /// Bits per cycle a long stream moves: the port's bandwidth, or the timing
    /// model's peak over its channels (at least one).
    pub fn stream_bits_per_cycle(&self) -> u64 {
        match self.timed() {
            Some(t) => (t.peak_bits_per_cycle() as u64).max(1),
            None => self.bw_bits,
        }
    }

    /// Cycles the DRAM is busy with a tile's `reads` and `writes` bits: one burst of
    /// both on the port, each its own sequential transfer under the timing model.
    pub fn occupancy_rw_cycles(&self, reads: u64, writes: u64) -> u64 {
        match self.timed() {
            Some(_) => self.occupancy_cycles(reads, false) + self.occupancy_cycles(writes, true),
            None => (reads + writes).div_ceil(self.bw_bits),
        }
    }

    /// Extra cycles when the bus turns from the last transfer's direction to `write`:
    /// the port's turnaround, or tWTR_L after a write and the bus gap after a read.
    pub fn turnaround(&self, last_write: bool, write: bool) -> u64 {
        if last_write == write {
            return 0;
        }
        match self.timed() {
            Some(t) if last_write => t.to_cycles(t.twtr_l),
            Some(t) => t.to_cycles(super::dram_timing::READ_TO_WRITE_GAP),
            None => self.turnaround_cycles,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accelerator {
    pub name: String,
    pub description: Option<String>,
    pub cores: Vec<Core>,
    pub noc: Noc,
    pub dram: Dram,
    /// The clock stems' cycles count, MHz: what turns power into energy per cycle
    /// and the DRAM standard's clock into cycles (1 GHz unless stated).
    #[serde(default = "default_clock_mhz")]
    pub clock_mhz: u64,
    /// Fields set over the file (`dram.bw_bits=32`), in the order applied.
    #[serde(default)]
    pub overrides: Vec<String>,
}

fn default_clock_mhz() -> u64 {
    super::dram_timing::DEFAULT_CLOCK_MHZ
}

/// Overrides applied on top of an accelerator file (presets plus overrides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardwareOverrides {
    /// New size of every core's global SRAM; banks and bandwidth follow.
    pub global_sram: Option<Size>,
}

impl Accelerator {
    /// Power drawn whatever the chip does, µW: every core's PE array and memories,
    /// and the DRAM's background. Static energy is this over the run's latency.
    pub fn static_power_uw(&self) -> f64 {
        let cores: f64 = self
            .cores
            .iter()
            .map(|c| {
                c.pe_array.static_power_uw
                    + c.memories.iter().map(Memory::static_power_uw).sum::<f64>()
            })
            .sum();
        cores + self.dram.background_power_uw()
    }

    /// Picojoules the static power costs over `cycles` of the accelerator's clock
    /// (µW × µs): the one rule both halves charge static energy by.
    pub fn static_energy_pj(&self, cycles: u64) -> f64 {
        self.static_power_uw() * cycles as f64 / self.clock_mhz as f64
    }

    pub fn load(path: &Path, overrides: HardwareOverrides) -> Result<Self, ModelError> {
        Self::load_with(path, &[], overrides)
    }

    /// Loads the file, sets fields by path over it (`sets`), and applies `overrides`.
    /// The file is validated as written first (so its own problems keep their lines),
    /// then again with the fields set.
    pub fn load_with(
        path: &Path,
        sets: &[FieldSet],
        overrides: HardwareOverrides,
    ) -> Result<Self, ModelError> {
        let source = SourceText::read(path)?;
        let mut acc = Self::parse(&source)?;
        if !sets.is_empty() {
            acc = Self::with_sets(&source, sets)?;
        }
        acc.apply(overrides)
            .map_err(|p| ModelError::single(source.display_path(), p))?;
        Ok(acc)
    }

    fn with_sets(source: &SourceText, sets: &[FieldSet]) -> Result<Self, ModelError> {
        let origin = format!(
            "{} with {}",
            source.display_path(),
            sets.iter()
                .map(|s| format!("--set {s}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut doc: toml::Table = source.text.parse().map_err(|e: toml::de::Error| {
            ModelError::single(
                &origin,
                Problem::new("accelerator", e.message().to_string()),
            )
        })?;
        for s in sets {
            super::overrides::apply(&mut doc, s).map_err(|p| ModelError::single(&origin, p))?;
        }
        let text = toml::to_string(&doc)
            .map_err(|e| ModelError::single(&origin, Problem::new("accelerator", e.to_string())))?;
        let mut acc = Self::parse(&SourceText::new(&origin, text)).map_err(|mut e| {
            // Lines would point into the rewritten document, not the file.
            for p in &mut e.problems {
                p.line = None;
            }
            e
        })?;
        acc.overrides = sets.iter().map(ToString::to_string).collect();
        Ok(acc)
    }

    /// The name a report gives this hardware: with its overrides, if any.
    pub fn label(&self) -> String {
        super::overrides::label(&self.name, &self.overrides)
    }

    /// Applies the overrides, refusing a global SRAM size the models cannot hold.
    pub fn apply(&mut self, overrides: HardwareOverrides) -> Result<(), Problem> {
        if let Some(size) = overrides.global_sram {
            if size.bits() < MIN_MEMORY_BITS {
                return Err(Problem::new(
                    "global SRAM override",
                    format!(
                        "{size} is smaller than the smallest memory stems models ({})",
                        Size::from_bits(MIN_MEMORY_BITS)
                    ),
                )
                .field("gb"));
            }
            for core in &mut self.cores {
                let g = core.global_index();
                let m = &mut core.memories[g];
                m.resize(size.bits());
                if m.banks > MAX_BANKS {
                    return Err(Problem::new(
                        format!("memory '{}' of core '{}'", m.name, core.name),
                        format!(
                            "{size} in banks of {} makes {} banks (limit {})",
                            Size::from_bits(m.bank_size_bits.unwrap_or(m.size_bits)),
                            crate::model::units::thousands(m.banks),
                            crate::model::units::thousands(MAX_BANKS)
                        ),
                    )
                    .field("gb"));
                }
            }
        }
        Ok(())
    }

    /// Checks a resolved accelerator that did not come from TOML (e.g. embedded in a
    /// saved Schedule): every size, bandwidth and count lies within `limits`, and the
    /// last memory of each core holds every operand.
    pub fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        self.check_core_identities(&mut p);
        self.check_dram_and_noc(&mut p);
        for c in &self.cores {
            self.check_core(c, &mut p);
        }
        self.check_placement(&mut p);
        p
    }

    /// What the file loader refuses between cores, for a replayed schedule's copy:
    /// names valid and distinct, one core per mesh node.
    fn check_core_identities(&self, p: &mut Vec<Problem>) {
        let mut names = HashSet::new();
        let mut positions = HashSet::new();
        for c in &self.cores {
            let el = format!("core '{}'", c.name);
            if let Some(why) = core_name_problem(&c.name) {
                p.push(Problem::new(&el, why).field("name"));
            }
            if !names.insert(c.name.as_str()) {
                p.push(Problem::new(&el, "duplicate core name").field("name"));
            }
            if !positions.insert(c.position) {
                p.push(
                    Problem::new(
                        &el,
                        format!("another core already sits at {:?}", c.position),
                    )
                    .field("position"),
                );
            }
        }
    }

    /// The DRAM's and the mesh's bandwidths, latencies and size, and the core count.
    fn check_dram_and_noc(&self, p: &mut Vec<Problem>) {
        check_range(p, "dram", "bw_bits", self.dram.bw_bits, BANDWIDTH);
        if let Some(t) = &self.dram.timing {
            p.extend(t.problems("dram.timing"));
            if t.accelerator_clock_mhz != self.clock_mhz {
                p.push(
                    Problem::new(
                        "dram.timing",
                        format!(
                            "counts an accelerator clock of {} MHz, but the accelerator's clock_mhz is {}",
                            t.accelerator_clock_mhz, self.clock_mhz
                        ),
                    )
                    .field("accelerator_clock_mhz"),
                );
            }
        }
        check_range(p, "accelerator", "clock_mhz", self.clock_mhz, CLOCK_MHZ);
        if self.dram.model == DramKind::Timing && self.dram.timing.is_none() {
            p.push(
                Problem::new("dram", "model = \"timing\" needs a [dram.timing] table")
                    .field("model"),
            );
        }
        check_range(
            p,
            "dram",
            "latency_cycles",
            self.dram.latency_cycles,
            LATENCY,
        );
        check_range(
            p,
            "dram",
            "turnaround_cycles",
            self.dram.turnaround_cycles,
            LATENCY,
        );
        check_range(p, "noc", "link_bw_bits", self.noc.link_bw_bits, BANDWIDTH);
        check_range(
            p,
            "noc",
            "hop_latency_cycles",
            self.noc.hop_latency_cycles,
            LATENCY,
        );
        for side in self.noc.mesh {
            check_range(p, "noc", "mesh", side as u64, (1, MAX_MESH_SIDE));
        }
        check_range(
            p,
            "accelerator",
            "cores",
            self.cores.len() as u64,
            (1, MAX_MESH_SIDE * MAX_MESH_SIDE),
        );
    }

    /// One core's PE array, memories and position.
    fn check_core(&self, c: &Core, p: &mut Vec<Problem>) {
        let el = format!("core '{}'", c.name);
        let pe = &c.pe_array;
        check_range(p, &el, "rows", pe.rows, ARRAY_SIDE);
        check_range(p, &el, "cols", pe.cols, ARRAY_SIDE);
        check_range(p, &el, "inputs_per_pe", pe.inputs_per_pe, ARRAY_SIDE);
        check_range(
            p,
            &el,
            "accumulator_buffers",
            pe.accumulator_buffers,
            (1, 2),
        );
        check_range(
            p,
            &el,
            "drain_rows_per_cycle",
            pe.drain_rows_per_cycle,
            ARRAY_SIDE,
        );
        check_range(
            p,
            &el,
            "accumulator_bits",
            pe.accumulator_bits as u64,
            (1, MAX_PRECISION_BITS),
        );
        check_range(p, &el, "memories", c.memories.len() as u64, (1, 64));
        for (axis, &v) in c.position.iter().enumerate() {
            check_range(
                p,
                &el,
                "position",
                v as u64,
                (0, self.noc.mesh[axis].max(1) as u64 - 1),
            );
        }
        for m in &c.memories {
            let el = format!("memory '{}' of core '{}'", m.name, c.name);
            check_range(
                p,
                &el,
                "size",
                m.size_bits,
                (MIN_MEMORY_BITS, MAX_SIZE_BITS),
            );
            check_range(p, &el, "banks", m.banks, (1, MAX_BANKS));
            check_range(p, &el, "read_bw_bits", m.read_bw_bits_per_bank, BANDWIDTH);
            check_range(p, &el, "write_bw_bits", m.write_bw_bits_per_bank, BANDWIDTH);
            check_range(p, &el, "read_ports", m.read_ports as u64, (1, MAX_PORTS));
            check_range(p, &el, "write_ports", m.write_ports as u64, (1, MAX_PORTS));
            check_range(p, &el, "latency_cycles", m.latency_cycles, LATENCY);
        }
    }

    /// The DRAM sits on the mesh, and every core's global SRAM holds every operand.
    fn check_placement(&self, p: &mut Vec<Problem>) {
        for (axis, &v) in self.dram.position.iter().enumerate() {
            check_range(
                p,
                "dram",
                "position",
                v as u64,
                (0, self.noc.mesh[axis].max(1) as u64 - 1),
            );
        }
        for c in &self.cores {
            if let Some(top) = c.memories.last()
                && Operand::ALL.iter().any(|op| !top.holds(*op))
            {
                p.push(
                    Problem::new(
                        format!("memory '{}' of core '{}'", top.name, c.name),
                        "the global SRAM must hold W, I, O and V",
                    )
                    .field("operands"),
                );
            }
        }
    }

    pub fn core_by_name(&self, name: &str) -> Option<&Core> {
        self.cores.iter().find(|c| c.name == name)
    }

    pub fn parse(source: &SourceText) -> Result<Self, ModelError> {
        let mut diag = Collector::new(source);
        let Some(raw) = diag.document::<RawAccelerator>("accelerator") else {
            return Err(diag.into_error());
        };
        let acc = resolve(raw, &mut diag);
        diag.finish()?;
        acc.ok_or_else(|| {
            ModelError::single(
                source.display_path(),
                Problem::new("accelerator", "could not be resolved"),
            )
        })
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccelerator {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "default_clock_i64")]
    clock_mhz: i64,
    core: Vec<toml::Spanned<RawCore>>,
    noc: toml::Spanned<RawNoc>,
    dram: toml::Spanned<RawDram>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCore {
    name: String,
    #[serde(default)]
    position: [i64; 2],
    /// Operator names the core's array runs; absent: all of them.
    operators: Option<Vec<String>>,
    pe_array: toml::Spanned<toml::Table>,
    memory: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeArray {
    rows: i64,
    cols: i64,
    row_dim: Option<String>,
    row_dims: Option<RawAxes>,
    col_dim: Option<String>,
    col_dims: Option<RawAxes>,
    reduction_dim: String,
    inputs_per_pe: i64,
    accumulator_bits: i64,
    #[serde(default = "one")]
    accumulator_buffers: i64,
    #[serde(default = "one")]
    drain_rows_per_cycle: i64,
    mac_energy_fj: f64,
    sop_energy_fj: f64,
    other_op_energy_fj: f64,
    #[serde(default)]
    register_energy_fj_per_bit: f64,
    sparsity: Option<String>,
    #[serde(default)]
    static_power_uw: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    name: String,
    operands: Vec<String>,
    size: SizeText,
    #[serde(default)]
    bank_size: Option<SizeText>,
    #[serde(default)]
    banks: Option<i64>,
    read_bw_bits: i64,
    write_bw_bits: i64,
    read_energy_fj_per_bit: f64,
    write_energy_fj_per_bit: f64,
    #[serde(default = "one")]
    read_ports: i64,
    #[serde(default = "one")]
    write_ports: i64,
    #[serde(default = "one")]
    latency_cycles: i64,
    feature_format: Option<String>,
    #[serde(default)]
    static_power_uw: f64,
    #[serde(default)]
    leakage_pw_per_bit: f64,
}

/// A size as written (`"128KiB"` or a byte count), parsed during validation so that a
/// bad size is reported with its field and line.
enum SizeText {
    Text(String),
    Bytes(i64),
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SizeText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a size: a string with a unit such as \"128KiB\", or a whole number of bytes",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeText, E> {
                Ok(SizeText::Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeText, E> {
                Ok(SizeText::Bytes(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeText, E> {
                Ok(SizeText::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn size_field(
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
    field: &str,
    v: &SizeText,
) -> Size {
    let parsed = match v {
        SizeText::Text(s) => s.parse::<Size>(),
        SizeText::Bytes(b) => Size::checked_from_bytes(*b),
    }
    .and_then(|size| {
        if size.bits() < MIN_MEMORY_BITS {
            Err(format!(
                "{size} is smaller than the smallest memory stems models ({})",
                Size::from_bits(MIN_MEMORY_BITS)
            ))
        } else {
            Ok(size)
        }
    });
    parsed.unwrap_or_else(|msg| {
        diag.at(span, el, field, msg);
        Size::from_bits(1)
    })
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoc {
    mesh: [i64; 2],
    link_bw_bits: i64,
    hop_latency_cycles: i64,
    energy_fj_per_bit_per_hop: f64,
    /// Links whose bandwidth differs from `link_bw_bits` (both directions).
    #[serde(default)]
    link: Vec<RawLink>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    between: [[i64; 2]; 2],
    bw_bits: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDram {
    #[serde(default)]
    position: [i64; 2],
    bw_bits: i64,
    latency_cycles: i64,
    read_energy_fj_per_bit: f64,
    write_energy_fj_per_bit: f64,
    #[serde(default)]
    turnaround_cycles: i64,
    #[serde(default = "one")]
    ports: i64,
    feature_format: Option<String>,
    model: Option<String>,
    timing: Option<toml::Spanned<toml::Table>>,
    #[serde(default)]
    static_power_uw: f64,
}

/// `v` within `lo..=hi` (see `limits`), or a problem naming the field and the range.
fn bounded(
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
    field: &str,
    v: i64,
    (lo, hi): (u64, u64),
) -> u64 {
    if v < lo as i64 || v as u64 > hi {
        diag.at(
            span,
            el,
            field,
            format!(
                "must be between {lo} and {}, got {v}",
                crate::model::units::thousands(hi)
            ),
        );
        lo
    } else {
        v as u64
    }
}

const COUNT: u64 = 1;
const CLOCK_MHZ: (u64, u64) = (1, 100_000);
const BANDWIDTH: (u64, u64) = (1, MAX_BW_BITS);
const LATENCY: (u64, u64) = (0, MAX_LATENCY_CYCLES);
const ARRAY_SIDE: (u64, u64) = (COUNT, MAX_ARRAY_SIDE);

fn energy(diag: &mut Collector, span: &Range<usize>, el: &str, field: &str, v: f64) -> f64 {
    if !(v.is_finite() && v >= 0.0) {
        diag.at(
            span,
            el,
            field,
            format!("energy must be a finite non-negative number, got {v}"),
        );
        0.0
    } else {
        v
    }
}

fn default_clock_i64() -> i64 {
    default_clock_mhz() as i64
}

/// A power in µW or pW per bit: finite, non-negative, at most a kilowatt's worth.
fn power(diag: &mut Collector, span: &Range<usize>, el: &str, field: &str, v: f64) -> f64 {
    if !(v.is_finite() && (0.0..=1e9).contains(&v)) {
        diag.at(
            span,
            el,
            field,
            format!("power must be a number from 0 to 1e9, got {v}"),
        );
        0.0
    } else {
        v
    }
}

fn resolve(raw: RawAccelerator, diag: &mut Collector) -> Option<Accelerator> {
    let noc = resolve_noc(raw.noc, diag);
    let clock_mhz = bounded(
        diag,
        &(0..0),
        "accelerator",
        "clock_mhz",
        raw.clock_mhz,
        CLOCK_MHZ,
    );
    let dram = resolve_dram(raw.dram, diag, (noc.mesh, clock_mhz));
    if raw.core.is_empty() {
        diag.at(&(0..0), "accelerator", "core", "has no [[core]] tables");
    }
    let mut cores = Vec::new();
    let mut taken = (HashSet::new(), HashSet::new());
    for core in raw.core {
        if let Some(c) = resolve_core(core, cores.len(), noc.mesh, &mut taken, diag) {
            cores.push(c);
        }
    }
    if !diag.problems.is_empty() {
        return None;
    }
    Some(Accelerator {
        name: raw.name,
        description: raw.description,
        cores,
        noc,
        dram,
        clock_mhz,
        overrides: Vec::new(),
    })
}

/// The mesh, its default link and the links that differ from it.
fn resolve_noc(raw: toml::Spanned<RawNoc>, diag: &mut Collector) -> Noc {
    let noc_span = raw.span();
    let rn = raw.into_inner();
    let el = "noc";
    let mesh = [
        bounded(diag, &noc_span, el, "mesh", rn.mesh[0], (1, MAX_MESH_SIDE)) as u32,
        bounded(diag, &noc_span, el, "mesh", rn.mesh[1], (1, MAX_MESH_SIDE)) as u32,
    ];
    let mut noc = Noc {
        mesh,
        link_bw_bits: bounded(
            diag,
            &noc_span,
            el,
            "link_bw_bits",
            rn.link_bw_bits,
            BANDWIDTH,
        ),
        hop_latency_cycles: bounded(
            diag,
            &noc_span,
            el,
            "hop_latency_cycles",
            rn.hop_latency_cycles,
            LATENCY,
        ),
        energy_fj_per_bit_per_hop: energy(
            diag,
            &noc_span,
            el,
            "energy_fj_per_bit_per_hop",
            rn.energy_fj_per_bit_per_hop,
        ),
        links: Vec::new(),
    };
    for (i, l) in rn.link.iter().enumerate() {
        let el = format!("noc.link #{}", i + 1);
        let bw_bits = bounded(diag, &noc_span, &el, "bw_bits", l.bw_bits, BANDWIDTH);
        let inside = |p: [i64; 2]| {
            (0..mesh[0] as i64).contains(&p[0]) && (0..mesh[1] as i64).contains(&p[1])
        };
        if let Some(p) = l.between.into_iter().find(|&p| !inside(p)) {
            let m = format!("{p:?} lies outside the {}×{} mesh", mesh[0], mesh[1]);
            diag.at(&noc_span, &el, "between", m);
            continue;
        }
        let [a, b] = l.between.map(|p| [p[0] as u32, p[1] as u32]);
        if Noc::hops(a, b) != 1 {
            let m = format!("{a:?} and {b:?} are not neighbours on the mesh");
            diag.at(&noc_span, &el, "between", m);
        }
        if noc.links.iter().any(|x| x.joins(a, b)) {
            diag.at(&noc_span, &el, "between", "this link is listed twice");
        }
        noc.links.push(NocLink {
            between: [a, b],
            bw_bits,
        });
    }
    noc
}

/// The DRAM: one port, its place on the mesh, bandwidth, latency, energy and format.
fn resolve_dram(
    raw: toml::Spanned<RawDram>,
    diag: &mut Collector,
    (mesh, clock_mhz): ([u32; 2], u64),
) -> Dram {
    let dram_span = raw.span();
    let mut rd = raw.into_inner();
    let el = "dram";
    let timing_table = rd.timing.take().map(|t| {
        let span = t.span();
        (t.into_inner(), span)
    });
    let (model, timing) = super::dram_timing::resolve(
        rd.model.as_deref(),
        timing_table,
        diag,
        (&dram_span, clock_mhz),
    );
    if rd.ports != 1 {
        diag.at(
            &dram_span,
            el,
            "ports",
            format!(
                "the DRAM model has a single port (one transfer at a time), got {}",
                rd.ports
            ),
        );
    }
    Dram {
        position: position(diag, &dram_span, el, rd.position, mesh),
        bw_bits: bounded(diag, &dram_span, el, "bw_bits", rd.bw_bits, BANDWIDTH),
        latency_cycles: bounded(
            diag,
            &dram_span,
            el,
            "latency_cycles",
            rd.latency_cycles,
            LATENCY,
        ),
        read_energy_fj_per_bit: energy(
            diag,
            &dram_span,
            el,
            "read_energy_fj_per_bit",
            rd.read_energy_fj_per_bit,
        ),
        write_energy_fj_per_bit: energy(
            diag,
            &dram_span,
            el,
            "write_energy_fj_per_bit",
            rd.write_energy_fj_per_bit,
        ),
        turnaround_cycles: bounded(
            diag,
            &dram_span,
            el,
            "turnaround_cycles",
            rd.turnaround_cycles,
            LATENCY,
        ),
        feature_format: feature_format(diag, &dram_span, el, rd.feature_format.as_deref()),
        model,
        timing,
        static_power_uw: power(diag, &dram_span, el, "static_power_uw", rd.static_power_uw),
    }
}

/// One core: a unique, writable name and mesh position (`taken`: the names and
/// positions of the cores before it), its operators, PE array and memory hierarchy.
/// `None` when a part of it could not be read.
fn resolve_core(
    core: toml::Spanned<RawCore>,
    id: usize,
    mesh: [u32; 2],
    (names, positions): &mut (HashSet<String>, HashSet<[u32; 2]>),
    diag: &mut Collector,
) -> Option<Core> {
    let span = core.span();
    let rc = core.into_inner();
    let el = format!("core '{}'", rc.name);
    if !names.insert(rc.name.clone()) {
        diag.at(&span, &el, "name", "duplicate core name");
    }
    if let Some(why) = core_name_problem(&rc.name) {
        diag.at(&span, &el, "name", why);
    }
    let pos = position(diag, &span, &el, rc.position, mesh);
    if !positions.insert(pos) {
        diag.at(
            &span,
            &el,
            "position",
            format!("another core already sits at {pos:?}"),
        );
    }
    let operators = resolve_operators(diag, &span, &el, rc.operators);
    let pe_span = rc.pe_array.span();
    let pe_el = format!("pe_array of {el}");
    let pe_array = match diag.table::<RawPeArray>(rc.pe_array.into_inner(), &pe_el, &pe_span) {
        Some(raw_pe) => resolve_pe_array(raw_pe, diag, &pe_span, &pe_el),
        None => return None,
    };
    let memories = resolve_hierarchy(rc.memory, diag, &span, &el)?;
    Some(Core {
        id,
        name: rc.name,
        position: pos,
        operators,
        pe_array,
        memories,
    })
}

/// A core's memory levels, innermost first, and the shape of the hierarchy: local
/// buffers hold only W and I, and the last level (the global SRAM) holds every
/// operand. `None` when a level could not be read or there is none.
fn resolve_hierarchy(
    tables: Vec<toml::Spanned<toml::Table>>,
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
) -> Option<Vec<Memory>> {
    let mut memories = Vec::new();
    let mut unparsed = 0;
    for (mi, mtable) in tables.into_iter().enumerate() {
        let mspan = mtable.span();
        let mtable = mtable.into_inner();
        let mel = match mtable.get("name").and_then(|v| v.as_str()) {
            Some(n) => format!("memory '{n}' of {el}"),
            None => format!("memory #{} of {el}", mi + 1),
        };
        match diag
            .table::<RawMemory>(mtable, &mel, &mspan)
            .and_then(|rm| resolve_memory(rm, diag, &mspan, &mel))
        {
            Some(m) => memories.push((m, mspan, mel)),
            None => unparsed += 1,
        }
    }
    // The hierarchy's shape is judged only when every memory of it is known.
    if unparsed > 0 {
        return None;
    }
    if memories.is_empty() {
        diag.at(span, el, "memory", "has no [[core.memory]] tables");
        return None;
    }
    let mut seen = HashSet::new();
    for (m, mspan, mel) in &memories {
        if !seen.insert(m.name.clone()) {
            diag.at(mspan, mel, "name", "duplicate memory name in this core");
        }
    }
    // Outputs and state go from the PE accumulators to the global SRAM; local
    // buffers feed weights and inputs to the array.
    for (m, mspan, mel) in &memories[..memories.len() - 1] {
        if m.holds(Operand::O) || m.holds(Operand::V) {
            diag.at(
                mspan,
                mel,
                "operands",
                "a local buffer holds only W and I; O and V live in the PE accumulators and the global SRAM (the last memory)",
            );
        }
    }
    let (top, top_span, top_el) = &memories[memories.len() - 1];
    let missing: Vec<&str> = Operand::ALL
        .iter()
        .filter(|op| !top.holds(**op))
        .map(|op| op.name())
        .collect();
    if !missing.is_empty() {
        diag.at(
            top_span,
            top_el,
            "operands",
            format!(
                "the outermost memory is the core's global SRAM and must hold W, I, O and V; missing {}",
                missing.join(", ")
            ),
        );
    }
    Some(memories.into_iter().map(|(m, _, _)| m).collect())
}

/// Why a core name cannot be used: names are written back in `--allocate` lists and
/// `--set` paths.
fn core_name_problem(name: &str) -> Option<&'static str> {
    let unwritable =
        |c: char| matches!(c, ',' | '=' | '.' | '*' | ':') || c.is_whitespace() || c.is_control();
    (name.is_empty() || name.chars().any(unwritable)).then_some(
        "must be non-empty, without spaces or any of , = . * : (it is written in --allocate and --set)",
    )
}

/// A core's `operators`: known names, no duplicates, not empty; absent means all.
fn resolve_operators(
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
    names: Option<Vec<String>>,
) -> Vec<OpKind> {
    let Some(names) = names else {
        return OpKind::ALL.to_vec();
    };
    if names.is_empty() {
        diag.at(
            span,
            el,
            "operators",
            "lists no operator (leave it out for all)",
        );
    }
    let mut ops = Vec::new();
    for n in &names {
        match OpKind::parse(n) {
            Some(op) if ops.contains(&op) => {
                diag.at(span, el, "operators", format!("'{n}' is listed twice"))
            }
            Some(op) => ops.push(op),
            None => diag.at(
                span,
                el,
                "operators",
                format!(
                    "'{n}' is not one of {}",
                    OpKind::ALL.map(OpKind::name).join(", ")
                ),
            ),
        }
    }
    ops
}

fn position(
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
    p: [i64; 2],
    mesh: [u32; 2],
) -> [u32; 2] {
    if p[0] < 0 || p[1] < 0 || p[0] >= mesh[0] as i64 || p[1] >= mesh[1] as i64 {
        diag.at(
            span,
            el,
            "position",
            format!("{p:?} lies outside the {}×{} mesh", mesh[0], mesh[1]),
        );
        return [0, 0];
    }
    [p[0] as u32, p[1] as u32]
}

/// An axis's choices as written: one name (`--set …row_dims=OYOX`) or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawAxes {
    One(String),
    Many(Vec<String>),
}

/// One axis's choices, from `NAME_dim` (one) or `NAME_dims` (a list), not both; `None`
/// after reporting a problem.
fn resolve_axis(
    name: &str,
    one: Option<String>,
    many: Option<RawAxes>,
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
) -> Option<Vec<AxisUnroll>> {
    let (field, names) = match (one, many) {
        (Some(_), Some(_)) => {
            diag.at(
                span,
                el,
                &format!("{name}_dims"),
                format!("give {name}_dims or the single {name}_dim, not both"),
            );
            return None;
        }
        (Some(d), None) => (format!("{name}_dim"), vec![d]),
        (None, Some(RawAxes::One(d))) => (format!("{name}_dims"), vec![d]),
        (None, Some(RawAxes::Many(v))) => (format!("{name}_dims"), v),
        (None, None) => {
            diag.at(
                span,
                el,
                &format!("{name}_dims"),
                format!("missing: what the {name}s unroll, e.g. {name}_dims = [\"OY\"]"),
            );
            return None;
        }
    };
    if names.is_empty() {
        diag.at(span, el, &field, "lists nothing to unroll");
        return None;
    }
    let mut axes = Vec::new();
    let mut ok = true;
    for n in &names {
        match AxisUnroll::parse(n) {
            Some(a) if axes.contains(&a) => {
                diag.at(span, el, &field, format!("lists '{n}' twice"));
                ok = false;
            }
            Some(a) => axes.push(a),
            None => {
                diag.at(
                    span,
                    el,
                    &field,
                    format!("'{n}' is not one of K, OY, OX, OYOX"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(axes)
}

fn resolve_pe_array(r: RawPeArray, diag: &mut Collector, span: &Range<usize>, el: &str) -> PeArray {
    let mut dim = |field: &str, s: &str, allowed: &[LoopDim]| -> LoopDim {
        match LoopDim::parse(s) {
            Some(d) if allowed.contains(&d) => d,
            _ => {
                let names: Vec<String> = allowed.iter().map(|d| format!("{d:?}")).collect();
                diag.at(
                    span,
                    el,
                    field,
                    format!("'{s}' is not one of {}", names.join(", ")),
                );
                allowed[0]
            }
        }
    };
    // Output-stationary: the two array axes unroll output dimensions, each PE reduces
    // along an input dimension.
    let reduction_dim = dim("reduction_dim", &r.reduction_dim, &[LoopDim::C]);
    let row_dims = resolve_axis("row", r.row_dim, r.row_dims, diag, span, el);
    let col_dims = resolve_axis("col", r.col_dim, r.col_dims, diag, span, el);
    // Judged only when both axes parsed, so one mistake is reported once.
    if let (Some(rows), Some(cols)) = (&row_dims, &col_dims)
        && !rows.iter().any(|&r| {
            cols.iter()
                .any(|&c| r.dims().iter().all(|d| !c.dims().contains(d)))
        })
    {
        diag.at(
            span,
            el,
            "col_dims",
            "rows and columns must be able to unroll different dimensions",
        );
    }
    let accumulator_bits = bounded(
        diag,
        span,
        el,
        "accumulator_bits",
        r.accumulator_bits,
        (1, MAX_PRECISION_BITS),
    );
    PeArray {
        rows: bounded(diag, span, el, "rows", r.rows, ARRAY_SIDE),
        cols: bounded(diag, span, el, "cols", r.cols, ARRAY_SIDE),
        row_dims: row_dims.unwrap_or_else(|| vec![AxisUnroll::OY]),
        col_dims: col_dims.unwrap_or_else(|| vec![AxisUnroll::K]),
        reduction_dim,
        inputs_per_pe: bounded(diag, span, el, "inputs_per_pe", r.inputs_per_pe, ARRAY_SIDE),
        accumulator_bits: accumulator_bits as u32,
        accumulator_buffers: bounded(
            diag,
            span,
            el,
            "accumulator_buffers",
            r.accumulator_buffers,
            (1, 2),
        ),
        drain_rows_per_cycle: bounded(
            diag,
            span,
            el,
            "drain_rows_per_cycle",
            r.drain_rows_per_cycle,
            ARRAY_SIDE,
        ),
        mac_energy_fj: energy(diag, span, el, "mac_energy_fj", r.mac_energy_fj),
        sop_energy_fj: energy(diag, span, el, "sop_energy_fj", r.sop_energy_fj),
        other_op_energy_fj: energy(diag, span, el, "other_op_energy_fj", r.other_op_energy_fj),
        register_energy_fj_per_bit: energy(
            diag,
            span,
            el,
            "register_energy_fj_per_bit",
            r.register_energy_fj_per_bit,
        ),
        sparsity: sparsity(diag, span, el, r.sparsity.as_deref()),
        static_power_uw: power(diag, span, el, "static_power_uw", r.static_power_uw),
    }
}

fn sparsity(diag: &mut Collector, span: &Range<usize>, el: &str, name: Option<&str>) -> Sparsity {
    name.map_or(Sparsity::None, |s| {
        Sparsity::parse(s).unwrap_or_else(|| {
            diag.at(span, el, "sparsity", unknown_name(s, &Sparsity::NAMES));
            Sparsity::None
        })
    })
}

/// "'x' is not one of a, b, c" for a field with named values.
fn unknown_name<T>(s: &str, names: &[(&str, T)]) -> String {
    let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    format!("'{s}' is not one of {}", list.join(", "))
}

/// A `feature_format` value.
fn feature_format(
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
    value: Option<&str>,
) -> FeatureFormat {
    value.map_or(FeatureFormat::Dense, |s| {
        FeatureFormat::parse(s).unwrap_or_else(|| {
            diag.at(
                span,
                el,
                "feature_format",
                unknown_name(s, &FeatureFormat::NAMES),
            );
            FeatureFormat::Dense
        })
    })
}

/// The operands a memory level holds, each name checked.
fn memory_operands(
    names: &[String],
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
) -> Vec<Operand> {
    let mut operands = Vec::new();
    for s in names {
        match s.as_str() {
            "W" => operands.push(Operand::W),
            "I" => operands.push(Operand::I),
            "O" => operands.push(Operand::O),
            "V" => operands.push(Operand::V),
            other => diag.at(
                span,
                el,
                "operands",
                format!("unknown operand '{other}' (expected W, I, O or V)"),
            ),
        }
    }
    if names.is_empty() {
        diag.at(
            span,
            el,
            "operands",
            "no operand uses this memory level; remove it or list its operands",
        );
    }
    operands
}

/// A memory level's size, its bank count and bank size: `banks`, or `bank_size` (the
/// banks follow from the sizes), not both.
fn memory_banks(
    r: &RawMemory,
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
) -> (Size, u64, Option<Size>) {
    if r.bank_size.is_some() && r.banks.is_some() {
        diag.at(
            span,
            el,
            "banks",
            "give either banks or bank_size (then banks follow the size), not both",
        );
    }
    let sizes_before = diag.problems.len();
    let size = size_field(diag, span, el, "size", &r.size);
    let bank_size = r
        .bank_size
        .as_ref()
        .map(|b| size_field(diag, span, el, "bank_size", b));
    // Banks follow from the sizes only when both are valid (no consequential errors).
    let sizes_ok = diag.problems.len() == sizes_before;
    let banks = match (bank_size, r.banks) {
        (Some(_), _) if !sizes_ok => 1,
        (Some(b), _) => {
            let banks = size.bits().div_ceil(b.bits()).max(1);
            if b > size {
                diag.at(
                    span,
                    el,
                    "bank_size",
                    format!("{b} is larger than the memory ({size})"),
                );
            } else if banks > MAX_BANKS {
                diag.at(
                    span,
                    el,
                    "bank_size",
                    format!(
                        "{size} in banks of {b} makes {} banks (limit {})",
                        crate::model::units::thousands(banks),
                        crate::model::units::thousands(MAX_BANKS)
                    ),
                );
            }
            banks
        }
        (None, Some(n)) => bounded(diag, span, el, "banks", n, (1, MAX_BANKS)),
        (None, None) => 1,
    };
    (size, banks, bank_size)
}

fn resolve_memory(
    r: RawMemory,
    diag: &mut Collector,
    span: &Range<usize>,
    el: &str,
) -> Option<Memory> {
    let before = diag.problems.len();
    let operands = memory_operands(&r.operands, diag, span, el);
    let (size, banks, bank_size) = memory_banks(&r, diag, span, el);
    let m = Memory {
        name: r.name,
        operands,
        size_bits: size.bits(),
        banks,
        bank_size_bits: bank_size.map(Size::bits),
        read_bw_bits_per_bank: bounded(diag, span, el, "read_bw_bits", r.read_bw_bits, BANDWIDTH),
        write_bw_bits_per_bank: bounded(
            diag,
            span,
            el,
            "write_bw_bits",
            r.write_bw_bits,
            BANDWIDTH,
        ),
        read_energy_fj_per_bit: energy(
            diag,
            span,
            el,
            "read_energy_fj_per_bit",
            r.read_energy_fj_per_bit,
        ),
        write_energy_fj_per_bit: energy(
            diag,
            span,
            el,
            "write_energy_fj_per_bit",
            r.write_energy_fj_per_bit,
        ),
        read_ports: bounded(diag, span, el, "read_ports", r.read_ports, (1, MAX_PORTS)) as u32,
        write_ports: bounded(diag, span, el, "write_ports", r.write_ports, (1, MAX_PORTS)) as u32,
        latency_cycles: bounded(diag, span, el, "latency_cycles", r.latency_cycles, LATENCY),
        feature_format: feature_format(diag, span, el, r.feature_format.as_deref()),
        static_power_uw: power(diag, span, el, "static_power_uw", r.static_power_uw),
        leakage_pw_per_bit: power(diag, span, el, "leakage_pw_per_bit", r.leakage_pw_per_bit),
    };
    if r.feature_format.is_some() && !(m.holds(Operand::I) || m.holds(Operand::O)) {
        diag.at(
            span,
            el,
            "feature_format",
            "this level holds no features (I or O); the format applies to feature tensors",
        );
    }
    if diag.problems.len() == before {
        Some(m)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::BankLayout;

    /// Four banks of 1,000 bits.
    const LAYOUT: BankLayout = BankLayout {
        banks: 4,
        bank_bits: 1000,
        capacity: 4000,
    };

    #[test]
    fn an_access_passes_through_the_banks_from_its_address_on_and_wraps() {
        let pieces = |addr, bits| LAYOUT.pieces(addr, bits).collect::<Vec<_>>();
        assert_eq!(pieces(900, 300), [(0, 100), (1, 200)]);
        assert_eq!(pieces(3900, 300), [(3, 100), (0, 200)]);
        // As large as the memory: evenly over every bank.
        assert_eq!(
            pieces(123, 4000),
            [(0, 1000), (1, 1000), (2, 1000), (3, 1000)]
        );
        assert_eq!(pieces(0, 0), []);
    }
}
