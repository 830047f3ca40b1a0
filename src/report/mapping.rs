//! Printing an intra-layer mapping for people: the loop nest with its memory
//! boundaries, the accesses per operand and level, cycles and energy.

use super::Table;
use crate::mapping::Mapping;
use crate::mapping::alone::MappedTile;
use crate::model::units::{human_bits, human_energy_pj, thousands};

impl Mapping {
    /// The nest as nested `for` loops with the memory boundaries drawn between them.
    pub fn render_nest(&self) -> String {
        let n = self.loop_nest.len();
        let mut out = String::new();
        if self.heads > 1 {
            out.push_str(&format!(
                "for each of {} heads (its own channel slices; the figures below are all heads')\n",
                self.heads
            ));
        }
        let boundary_line = |b: usize, depth: usize, out: &mut String| {
            let mut by_level: Vec<(String, Vec<&str>, u64)> = Vec::new();
            for bd in self.boundaries.iter().filter(|bd| bd.loops_below == b) {
                match by_level.iter_mut().find(|(l, _, _)| *l == bd.level) {
                    Some((_, ops, bits)) => {
                        ops.push(bd.operand.name());
                        *bits += bd.tile_bits;
                    }
                    None => {
                        by_level.push((bd.level.clone(), vec![bd.operand.name()], bd.tile_bits))
                    }
                }
            }
            for (level, ops, bits) in by_level {
                out.push_str(&format!(
                    "{}── {level} holds {} below ({})\n",
                    "  ".repeat(depth),
                    ops.join(" "),
                    human_bits(bits)
                ));
            }
        };
        for (i, l) in self.loop_nest.iter().enumerate() {
            boundary_line(n - i, i, &mut out);
            let note = if i >= n - self.reduction_loops {
                "   (reduction)"
            } else {
                ""
            };
            out.push_str(&format!(
                "{}for {} in 0..{}{note}\n",
                "  ".repeat(i),
                l.dim,
                l.size
            ));
        }
        boundary_line(0, n, &mut out);
        out.push_str(&format!(
            "{}parallel K {} × {} × C {} on the PE array\n",
            "  ".repeat(n),
            self.spatial.k,
            self.spatial.unroll().pixels_label(),
            self.spatial.c
        ));
        out
    }

    pub fn render_table(&self) -> String {
        let mut out = String::new();
        out.push_str("loop nest (outermost first; a level holds the data used below its line)\n");
        out.push_str(&self.render_nest());
        if !self.streamed.is_empty() {
            let s: Vec<&str> = self.streamed.iter().map(|o| o.name()).collect();
            out.push_str(&format!(
                "streamed from DRAM (does not fit the global SRAM): {}\n",
                s.join(", ")
            ));
        }
        out.push_str("\naccesses\n");
        let mut t = Table::new(["operand", "level", "read bits", "write bits"]);
        for (op, levels) in &self.accesses {
            for (level, rw) in levels {
                t.row([
                    op.to_string(),
                    level.clone(),
                    thousands(rw.read_bits),
                    thousands(rw.write_bits),
                ]);
            }
        }
        out.push_str(&t.render());
        out.push_str(&format!(
            "\noperations: {} MACs, {} SOPs, {} other\n",
            thousands(self.macs),
            thousands(self.sops),
            thousands(self.other_ops)
        ));
        let c = &self.cycles;
        out.push_str(&format!(
            "cycles: {} compute + {} fill/drain + {} drain-bound + {} stall = {} total over {} folds\n",
            thousands(c.compute),
            thousands(c.fill_drain),
            thousands(c.drain_bound),
            thousands(c.stall),
            thousands(c.total),
            thousands(c.folds)
        ));
        out.push_str(&format!(
            "utilisation: spatial {:.1}% (PEs mapped), temporal {:.1}% (compute / total)\n",
            100.0 * c.spatial_utilization,
            100.0 * c.temporal_utilization
        ));
        for l in &c.levels {
            out.push_str(&format!(
                "  {:<12} needs {:>14} cycles: {}-bound\n",
                l.level,
                thousands(l.cycles),
                l.bound
            ));
        }
        let e = &self.energy_pj;
        out.push_str(&format!("\nenergy: {}\n", human_energy_pj(e.total)));
        let mut t = Table::new(["part", "energy", "share %"]);
        let pct = |x: f64| {
            format!(
                "{:.1}",
                if e.total > 0.0 {
                    100.0 * x / e.total
                } else {
                    0.0
                }
            )
        };
        t.row([
            "compute".to_string(),
            human_energy_pj(e.compute),
            pct(e.compute),
        ]);
        for (level, pj) in &e.by_level {
            t.row([format!("level {level}"), human_energy_pj(*pj), pct(*pj)]);
        }
        t.rule();
        for (op, pj) in &e.by_operand {
            t.row([format!("operand {op}"), human_energy_pj(*pj), pct(*pj)]);
        }
        out.push_str(&t.render());
        out
    }
}

impl MappedTile {
    /// What was mapped, on what, for what; then the mapping's table.
    pub fn render_table(&self) -> String {
        format!(
            "{} layer {} ({}), timesteps {}..{}, output lines {}..{} of {}, on {} with {} global SRAM, objective {}\n{}\n",
            self.workload,
            self.layer,
            self.op,
            self.region.t.start,
            self.region.t.end,
            self.region.ox.start,
            self.region.ox.end,
            self.layer_lines,
            self.core,
            human_bits(self.global_sram_bits),
            self.objective,
            self.mapping.render_table().trim_end()
        )
    }
}
