//! `stems inspect`: what a workload or an accelerator holds, per layer and per block.

use super::table::Table;
use crate::model::units::{human_bits, thousands};
use crate::model::{Accelerator, Layer, Workload};
use serde::Serialize;

/// Per-timestep work and storage of a layer, a block or the whole network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    pub macs_per_timestep: u64,
    pub sops_per_timestep: u64,
    pub other_ops_per_timestep: u64,
    pub weights: u64,
    pub weight_bits: u64,
    pub states: u64,
    pub state_bits: u64,
    pub feature_bits_per_timestep: u64,
}

impl Footprint {
    pub fn of_layer(l: &Layer) -> Self {
        Self {
            macs_per_timestep: l.macs_per_timestep(),
            sops_per_timestep: l.sops_per_timestep(),
            other_ops_per_timestep: l.other_ops_per_timestep(),
            weights: l.weights(),
            weight_bits: l.weight_bits(),
            states: l.states(),
            state_bits: l.state_bits(),
            feature_bits_per_timestep: l.output_bits_per_timestep(),
        }
    }

    fn add(&mut self, o: &Footprint) {
        self.macs_per_timestep += o.macs_per_timestep;
        self.sops_per_timestep += o.sops_per_timestep;
        self.other_ops_per_timestep += o.other_ops_per_timestep;
        self.weights += o.weights;
        self.weight_bits += o.weight_bits;
        self.states += o.states;
        self.state_bits += o.state_bits;
        self.feature_bits_per_timestep += o.feature_bits_per_timestep;
    }

    fn ops(&self) -> u64 {
        self.macs_per_timestep + self.sops_per_timestep + self.other_ops_per_timestep
    }
}

/// A block's share of the network, each in [0, 1].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Share {
    pub ops: f64,
    pub weight_bits: f64,
    pub state_bits: f64,
    pub feature_bits: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerEntry {
    pub name: String,
    pub op: &'static str,
    pub block: usize,
    pub stateful: bool,
    /// Reads its own spikes of the timestep before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recurrent: bool,
    /// A matmul's heads and whether it reads its right source transposed.
    #[serde(skip_serializing_if = "is_one")]
    pub heads: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transpose_right: bool,
    /// The density of its input (1 when dense).
    pub activity: f64,
    #[serde(flatten)]
    pub footprint: Footprint,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockEntry {
    pub block: usize,
    pub layers: usize,
    pub layer_names: Vec<String>,
    #[serde(flatten)]
    pub footprint: Footprint,
    pub share: Share,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub layers: usize,
    #[serde(flatten)]
    pub footprint: Footprint,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadInspection {
    pub kind: &'static str,
    pub name: String,
    pub timesteps: u32,
    pub stateless_blocks: Vec<usize>,
    pub input_bits_per_timestep: u64,
    pub layers: Vec<LayerEntry>,
    pub blocks: Vec<BlockEntry>,
    pub totals: Totals,
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl WorkloadInspection {
    pub fn new(w: &Workload, stateless_blocks: &[usize]) -> Self {
        let layers: Vec<LayerEntry> = w
            .layers
            .iter()
            .map(|l| LayerEntry {
                name: l.name.clone(),
                op: l.op.name(),
                block: l.block,
                stateful: l.stateful,
                recurrent: l.recurrent,
                heads: l.heads,
                transpose_right: l.transpose_right,
                activity: w.input_density(l.id, 0..w.timesteps),
                footprint: Footprint::of_layer(l),
            })
            .collect();
        let mut total = Footprint::default();
        for l in &layers {
            total.add(&l.footprint);
        }
        let blocks = (0..w.num_blocks)
            .map(|b| {
                let mut fp = Footprint::default();
                let mut names = Vec::new();
                for l in layers.iter().filter(|l| l.block == b) {
                    fp.add(&l.footprint);
                    names.push(l.name.clone());
                }
                BlockEntry {
                    block: b,
                    layers: names.len(),
                    layer_names: names,
                    share: Share {
                        ops: ratio(fp.ops(), total.ops()),
                        weight_bits: ratio(fp.weight_bits, total.weight_bits),
                        state_bits: ratio(fp.state_bits, total.state_bits),
                        feature_bits: ratio(
                            fp.feature_bits_per_timestep,
                            total.feature_bits_per_timestep,
                        ),
                    },
                    footprint: fp,
                }
            })
            .collect();
        let mut stateless: Vec<usize> = stateless_blocks.to_vec();
        stateless.sort_unstable();
        stateless.dedup();
        Self {
            kind: "workload",
            name: w.name.clone(),
            timesteps: w.timesteps,
            stateless_blocks: stateless,
            input_bits_per_timestep: w.input.bits_per_timestep(),
            layers,
            blocks,
            totals: Totals {
                layers: w.layers.len(),
                footprint: total,
            },
        }
    }

    pub fn render_table(&self) -> String {
        let mut out = format!(
            "workload {} — {} timesteps, {} layers, {} blocks, input {} per timestep\n",
            self.name,
            self.timesteps,
            self.totals.layers,
            self.blocks.len(),
            human_bits(self.input_bits_per_timestep)
        );
        if !self.stateless_blocks.is_empty() {
            out.push_str(&format!(
                "stateless blocks (neuron state removed): {:?}\n",
                self.stateless_blocks
            ));
        }
        out.push_str("\nper layer (operations and features per timestep)\n");
        out.push_str(&self.layer_table());
        out.push_str("\nper block (the % columns are the block's share of the network)\n");
        out.push_str(&self.block_table());
        out
    }

    fn layer_table(&self) -> String {
        let header = [
            "layer",
            "op",
            "block",
            "state",
            "activity",
            "MACs",
            "SOPs",
            "other ops",
            "weights",
            "weight bits",
            "states",
            "state bits",
            "feature bits",
        ];
        let mut t = Table::new(header);
        for l in &self.layers {
            let f = &l.footprint;
            t.row([
                l.name.clone(),
                // A matmul: `matmulᵀ ×12` reads its right source transposed, in 12 heads.
                format!(
                    "{}{}{}",
                    l.op,
                    if l.transpose_right { "ᵀ" } else { "" },
                    if l.heads > 1 {
                        format!(" ×{}", l.heads)
                    } else {
                        String::new()
                    }
                ),
                l.block.to_string(),
                match (l.stateful, l.recurrent) {
                    (true, true) => "LIF+rec",
                    (true, false) => "LIF",
                    (false, _) => "-",
                }
                .to_string(),
                format!("{:.2}", l.activity),
                thousands(f.macs_per_timestep),
                thousands(f.sops_per_timestep),
                thousands(f.other_ops_per_timestep),
                thousands(f.weights),
                human_bits(f.weight_bits),
                thousands(f.states),
                human_bits(f.state_bits),
                human_bits(f.feature_bits_per_timestep),
            ]);
        }
        t.render()
    }

    fn block_table(&self) -> String {
        let mut t = Table::new([
            "block",
            "layers",
            "MACs",
            "SOPs",
            "other ops",
            "weights",
            "weight bits",
            "states",
            "state bits",
            "feature bits",
            "ops %",
            "weights %",
            "states %",
            "features %",
        ]);
        let pct = |x: f64| format!("{:.1}", 100.0 * x);
        for b in &self.blocks {
            let f = &b.footprint;
            t.row([
                b.block.to_string(),
                b.layers.to_string(),
                thousands(f.macs_per_timestep),
                thousands(f.sops_per_timestep),
                thousands(f.other_ops_per_timestep),
                thousands(f.weights),
                human_bits(f.weight_bits),
                thousands(f.states),
                human_bits(f.state_bits),
                human_bits(f.feature_bits_per_timestep),
                pct(b.share.ops),
                pct(b.share.weight_bits),
                pct(b.share.state_bits),
                pct(b.share.feature_bits),
            ]);
        }
        t.rule();
        let f = &self.totals.footprint;
        t.row([
            "total".to_string(),
            self.totals.layers.to_string(),
            thousands(f.macs_per_timestep),
            thousands(f.sops_per_timestep),
            thousands(f.other_ops_per_timestep),
            thousands(f.weights),
            human_bits(f.weight_bits),
            thousands(f.states),
            human_bits(f.state_bits),
            human_bits(f.feature_bits_per_timestep),
            "100.0".into(),
            "100.0".into(),
            "100.0".into(),
            "100.0".into(),
        ]);
        t.render()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceleratorInspection<'a> {
    pub kind: &'static str,
    #[serde(flatten)]
    pub accelerator: &'a Accelerator,
    pub resolved: Vec<ResolvedCore>,
}

/// Derived figures a user wants next to the raw parameters.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedCore {
    pub core: String,
    pub pes: u64,
    pub unroll: crate::model::Unroll,
    pub memories: Vec<ResolvedMemory>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedMemory {
    pub name: String,
    pub size_bits: u64,
    pub size: String,
    pub banks: u64,
    pub read_bw_bits: u64,
    pub write_bw_bits: u64,
}

fn join(axes: &[crate::model::AxisUnroll]) -> String {
    let names: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
    names.join(" or ")
}

impl<'a> AcceleratorInspection<'a> {
    pub fn new(acc: &'a Accelerator) -> Self {
        let resolved = acc
            .cores
            .iter()
            .map(|c| ResolvedCore {
                core: c.name.clone(),
                pes: c.pe_array.pes(),
                unroll: c.pe_array.unroll(),
                memories: c
                    .memories
                    .iter()
                    .map(|m| ResolvedMemory {
                        name: m.name.clone(),
                        size_bits: m.size_bits,
                        size: human_bits(m.size_bits),
                        banks: m.banks,
                        read_bw_bits: m.read_bw_bits(),
                        write_bw_bits: m.write_bw_bits(),
                    })
                    .collect(),
            })
            .collect();
        Self {
            kind: "accelerator",
            accelerator: acc,
            resolved,
        }
    }

    pub fn render_table(&self) -> String {
        let acc = self.accelerator;
        let mut out = format!("accelerator {}\n", acc.name);
        for core in &acc.cores {
            let pe = &core.pe_array;
            let u = pe.unroll();
            out.push_str(&format!(
                "\ncore {} at mesh {:?}: {}×{} PE array ({} PEs), rows unroll {}, cols unroll {}, {} {:?} inputs reduced per PE per cycle\n  unrolling K {} × C {} × {}; {}-bit accumulators; MAC {} fJ, SOP {} fJ, other op {} fJ, registers {} fJ/bit\n",
                core.name, core.position, pe.rows, pe.cols, pe.pes(), join(&pe.row_dims), join(&pe.col_dims),
                pe.inputs_per_pe, pe.reduction_dim, u.k, u.c, u.pixels_label(), pe.accumulator_bits,
                pe.mac_energy_fj, pe.sop_energy_fj, pe.other_op_energy_fj, pe.register_energy_fj_per_bit
            ));
            if core.operators.len() < crate::model::OpKind::ALL.len() {
                let ops: Vec<&str> = core.operators.iter().map(|o| o.name()).collect();
                out.push_str(&format!("  runs only: {}\n", ops.join(", ")));
            }
            let mut t = Table::new([
                "memory",
                "operands",
                "size",
                "banks",
                "read bw (b/cycle)",
                "write bw (b/cycle)",
                "read fJ/bit",
                "write fJ/bit",
                "ports r/w",
                "latency",
            ]);
            for m in &core.memories {
                let ops: Vec<&str> = m.operands.iter().map(|o| o.name()).collect();
                t.row([
                    m.name.clone(),
                    ops.join(","),
                    human_bits(m.size_bits),
                    m.banks.to_string(),
                    thousands(m.read_bw_bits()),
                    thousands(m.write_bw_bits()),
                    format!("{}", m.read_energy_fj_per_bit),
                    format!("{}", m.write_energy_fj_per_bit),
                    format!("{}/{}", m.read_ports, m.write_ports),
                    format!("{} cycles", m.latency_cycles),
                ]);
            }
            out.push_str(&t.render());
        }
        let n = &acc.noc;
        out.push_str(&format!(
            "\nNoC: {}×{} mesh, {} b/cycle links, {} cycles per hop, {} fJ/bit/hop\n",
            n.mesh[0], n.mesh[1], n.link_bw_bits, n.hop_latency_cycles, n.energy_fj_per_bit_per_hop
        ));
        for l in &n.links {
            out.push_str(&format!(
                "  link {:?} ↔ {:?}: {} b/cycle\n",
                l.between[0], l.between[1], l.bw_bits
            ));
        }
        out.push_str(&dram_line(&acc.dram));
        let static_uw = acc.static_power_uw();
        if static_uw > 0.0 {
            out.push_str(&format!(
                "static power {:.3} mW at {} MHz\n",
                static_uw / 1000.0,
                acc.clock_mhz
            ));
        }
        out
    }
}

/// The DRAM as `inspect` describes it: the port, or the timing model's device.
fn dram_line(d: &crate::model::Dram) -> String {
    match d.timed() {
        None => format!(
            "DRAM at mesh {:?}: single port, {} b/cycle, {} cycles latency, {} cycles read/write turnaround, read {} fJ/bit, write {} fJ/bit\n",
            d.position,
            d.bw_bits,
            d.latency_cycles,
            d.turnaround_cycles,
            d.read_energy_fj_per_bit,
            d.write_energy_fj_per_bit
        ),
        Some(t) => format!(
            "DRAM at mesh {:?}: {} timing model{}, {} channel(s) × {} rank(s) × {} bank group(s) × {} banks, {}-B bursts, {}-B rows, tCK {} ps, CL-tRCD-tRP {}-{}-{}, peak {:.1} b/cycle, read {} + {:.0} fJ/bit, write {} + {:.0} fJ/bit (stated + the device's bursts), {:.0} pJ per row activation, background {:.1} mW\n",
            d.position,
            t.standard,
            t.preset
                .as_deref()
                .map_or(String::new(), |p| format!(" ({p})")),
            t.channels,
            t.ranks,
            t.bank_groups,
            t.banks_per_group,
            t.burst_bytes(),
            t.row_bytes(),
            t.tck_ps,
            t.cl,
            t.trcd,
            t.trp,
            t.peak_bits_per_cycle(),
            d.read_energy_fj_per_bit,
            t.burst_energy_fj_per_bit(false),
            d.write_energy_fj_per_bit,
            t.burst_energy_fj_per_bit(true),
            t.activate_energy_pj(),
            t.background_power_uw() / 1000.0
        ),
    }
}
