//! Printing a cost report as tables for people (the report itself is
//! [`crate::cost::Report`], the domain's result).

use super::Table;
use crate::cost::Report;
use crate::model::units::{human_bits, human_energy_pj, thousands};

impl Report {
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "{} cost of {} on {} ({} global SRAM), schedule {}\n",
            self.source,
            self.workload,
            self.hardware,
            human_bits(self.global_sram_bits),
            self.schedule.join(",")
        );
        if !self.stateless_blocks.is_empty() {
            out.push_str(&format!("stateless blocks: {:?}\n", self.stateless_blocks));
        }
        let e = &self.energy_pj;
        out.push_str(&format!(
            "\nenergy per inference: {}   latency: {} cycles   peak global SRAM: {}   prefetch: {}\n\n",
            human_energy_pj(e.total),
            thousands(self.latency_cycles),
            human_bits(self.peak_global_sram_bits),
            if self.prefetch { "on" } else { "off" }
        ));
        if let Some(b) = self.latency_bounds {
            let (lo, hi) = b.percent_of(self.latency_cycles);
            out.push_str(&format!(
                "latency bounds: {} … {} cycles ({lo:+.1} … {hi:+.1} %), whatever order the shared ports serve in\n\n",
                thousands(b.floor_cycles),
                thousands(b.ceiling_cycles),
            ));
        }
        if e.dram_activate > 0.0 {
            out.push_str(&format!(
                "DRAM row activations: {} of it (activate and precharge, from the device's currents)\n\n",
                human_energy_pj(e.dram_activate)
            ));
        }
        if e.static_pj > 0.0 {
            out.push_str(&format!(
                "static energy: {} of it (static power over the latency); average power {:.3} mW\n\n",
                human_energy_pj(e.static_pj),
                self.average_power_mw
            ));
        }
        out.push_str(&self.render_energy());

        out.push_str(&self.render_dram());
        out.push_str(&format!(
            "\noperations: {} MACs, {} SOPs, {} other; {} tiles; PE busy {} cycles\n",
            thousands(self.ops.macs),
            thousands(self.ops.sops),
            thousands(self.ops.other),
            thousands(self.tiles),
            thousands(self.busy_cycles)
        ));
        out.push_str(&self.render_activity());
        out.push_str(&self.render_streamed_and_spills());
        out
    }

    /// Energy by component and operand, with each component's share.
    fn render_energy(&self) -> String {
        let e = &self.energy_pj;
        let mut t = Table::new(["component", "W", "F", "V", "compute", "total", "share %"]);
        for (name, row) in self.energy_matrix_pj.iter() {
            let sum: f64 = row.values().sum();
            if sum == 0.0 && name == "noc" {
                continue;
            }
            let cell = |k: &str| human_energy_pj(row[k]);
            t.row([
                name.to_string(),
                cell("W"),
                cell("F"),
                cell("V"),
                cell("compute"),
                human_energy_pj(sum),
                format!(
                    "{:.1}",
                    if e.total > 0.0 {
                        100.0 * sum / e.total
                    } else {
                        0.0
                    }
                ),
            ]);
        }
        t.rule();
        let o = &self.energy_by_operand_pj;
        t.row([
            "total".to_string(),
            human_energy_pj(o.W),
            human_energy_pj(o.F),
            human_energy_pj(o.V),
            human_energy_pj(o.compute),
            human_energy_pj(e.total),
            "100.0".into(),
        ]);
        t.render()
    }

    /// DRAM traffic by operand and direction.
    fn render_dram(&self) -> String {
        let mut out = String::new();
        let d = &self.dram_bits;
        out.push_str(&format!(
            "\nDRAM traffic: {} ({} bits)\n",
            human_bits(d.total),
            thousands(d.total)
        ));
        let mut t = Table::new(["operand", "read", "write", "total"]);
        for (name, rw) in [
            ("W", d.by_operand_direction.W),
            ("F", d.by_operand_direction.F),
            ("V", d.by_operand_direction.V),
        ] {
            t.row([
                name.to_string(),
                human_bits(rw.read),
                human_bits(rw.write),
                human_bits(rw.read + rw.write),
            ]);
        }
        out.push_str(&t.render());
        if d.attention > 0 {
            out.push_str(&format!(
                "of which attention operands (Q, K, V, scores: what a matmul reads): {}\n",
                human_bits(d.attention)
            ));
        }
        out
    }

    /// The tiles whose operands stream from DRAM, and the spills.
    fn render_streamed_and_spills(&self) -> String {
        let mut out = String::new();
        if self.streamed.is_empty() {
            out.push_str("every tile fits the global SRAM\n");
        } else {
            out.push_str("\ntiles too large for the global SRAM (operands streamed from DRAM)\n");
            let mut t = Table::new(["layer", "tiles", "streamed"]);
            for s in &self.streamed {
                let operands: Vec<&str> = s.operands.iter().map(|o| o.name()).collect();
                t.row([s.layer.clone(), thousands(s.tiles), operands.join(",")]);
            }
            out.push_str(&t.render());
        }
        if self.spills.is_empty() {
            out.push_str("no live data spilled to DRAM\n");
        } else {
            out.push_str("\nspills (live data evicted to DRAM and read back later)\n");
            let mut t = Table::new(["tensor", "operand", "spills", "bits", "reloads", "bits"]);
            for s in &self.spills {
                t.row([
                    s.tensor.clone(),
                    s.operand.clone(),
                    thousands(s.spills),
                    human_bits(s.bits),
                    thousands(s.reloads),
                    human_bits(s.reload_bits),
                ]);
            }
            out.push_str(&t.render());
        }
        out
    }

    /// Dense against performed operations, and each layer's input density (stated,
    /// and measured by the simulator), when activity matters.
    fn render_activity(&self) -> String {
        let (dense, performed) = (&self.operations.dense, &self.operations.performed);
        let mut out = String::new();
        if dense.total() != performed.total() && dense.total() > 0 {
            out.push_str(&format!(
                "performed {:.1} % of the dense operations ({} MACs, {} SOPs, {} other)\n",
                100.0 * performed.total() as f64 / dense.total() as f64,
                thousands(dense.macs),
                thousands(dense.sops),
                thousands(dense.other),
            ));
        }
        if self.activity.is_empty() {
            return out;
        }
        let measured = self.activity.iter().any(|a| a.measured.is_some());
        let mut header = vec!["layer", "input activity (stated)"];
        if measured {
            header.push("measured");
        }
        let mut t = Table::new(header);
        for a in &self.activity {
            let mut row = vec![a.layer.clone(), format!("{:.4}", a.stated)];
            if let Some(m) = a.measured {
                row.push(format!("{m:.4}"));
            }
            t.row(row);
        }
        out.push_str(&t.render());
        out
    }
}
