//! Writing an exploration's results: `summary.json`, the heatmaps of a hybrid space,
//! the energy breakdown of the baseline and the best, and the sorted CSV.

use super::{Table, WriteError, plot};
use crate::cost::Report;
use crate::explore::store::{CSV, RunHeader};
use crate::explore::{Outcome, Rank, Skipped, Space, best, write_csv_rows};
use crate::model::units::{human_bits, human_energy_pj, thousands};
use serde::Serialize;
use std::path::Path;

/// What `summary.json` holds: the same for a run, a resumed run and merged shards.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub workload: &'a str,
    pub global_sram_bits: u64,
    pub space: Space,
    pub rank_by: Rank,
    pub schedules: usize,
    pub best: Option<&'a Outcome>,
    pub baseline: Option<&'a Outcome>,
    /// With `--best K`: the schedules dropped as unable to be among the K best.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<u64>,
    /// Schedules of the space that cannot run (a recurrence they cut), not costed.
    #[serde(skip_serializing_if = "skipped_none")]
    pub skipped: &'a Skipped,
}

fn skipped_none(s: &&Skipped) -> bool {
    s.count == 0
}

/// What `--best K` keeps beside its K outcomes: the baseline (costed whole, among the
/// K or not), and how many schedules were dropped.
#[derive(Debug, Clone, Copy)]
pub struct Kept<'a> {
    pub baseline: Option<&'a Outcome>,
    pub pruned: u64,
}

/// The prefix sharing of a run in one line; `items` are schedules or evaluations.
pub fn sharing_line(sharing: &crate::explore::workers::Sharing, items: &str) -> String {
    let walked_from_start =
        100.0 * sharing.tiles_walked_from_start as f64 / sharing.tiles_walked.max(1) as f64;
    format!(
        "prefix sharing: {} of {} {items} ({:.0} %) continued from a checkpoint of their first blocks, {} tiles not scheduled again; {} tiles walked, {} ({walked_from_start:.0} %) by the {} {items} that continued from none",
        thousands(sharing.continued),
        thousands(sharing.schedules),
        sharing.hit_percent(),
        thousands(sharing.tiles_skipped),
        thousands(sharing.tiles_walked),
        thousands(sharing.tiles_walked_from_start),
        thousands(sharing.schedules - sharing.continued),
    )
}

/// Writes `summary.json` (atomically), the heatmaps (hybrid spaces), the energy
/// breakdown of the baseline and the best, and — when `csv` — `explore.csv` sorted by
/// point. `outcomes` are in index order; `kept`, what `--best` kept beside them.
/// Returns the file names.
pub fn write_results(
    dir: &Path,
    header: &RunHeader,
    outcomes: &[Outcome],
    csv: bool,
    kept: Option<Kept>,
    skipped: &Skipped,
) -> Result<Vec<String>, WriteError> {
    let mut written = Vec::new();
    if csv {
        let mut file = crate::output::AtomicFile::create(&dir.join(CSV))?;
        write_csv_rows(&mut file, outcomes, true)?;
        file.commit()?;
    }
    written.push(CSV.to_string());
    let best_index = best(outcomes, header.rank_by);
    let baseline = kept
        .as_ref()
        .map_or_else(|| crate::explore::baseline(outcomes), |k| k.baseline);
    let gb = crate::model::units::human_bits(header.global_sram_bits);
    written.extend(heatmaps(dir, header, outcomes)?);
    let mut bars: Vec<(String, &Report)> = Vec::new();
    if let Some(b) = baseline {
        bars.push(("ST-LBL".into(), &b.report));
    }
    if let Some(b) = best_index
        && baseline.is_none_or(|base| base.index != outcomes[b].index)
    {
        let spec = outcomes[b].point.spec.to_string();
        bars.push((
            format!("best: {}", crate::schedule::spec::compact(&spec)),
            &outcomes[b].report,
        ));
    }
    plot::breakdown(
        &dir.join("breakdown.svg"),
        &format!("{} on {gb}: energy per inference", header.workload),
        &bars,
    )?;
    written.push("breakdown.svg".into());
    let summary = Summary {
        workload: &header.workload,
        global_sram_bits: header.global_sram_bits,
        space: header.space,
        rank_by: header.rank_by,
        schedules: outcomes.len(),
        best: best_index.map(|i| &outcomes[i]),
        baseline,
        pruned: kept.map(|k| k.pruned),
        skipped,
    };
    let json = serde_json::to_string_pretty(&summary)?;
    crate::output::write(&dir.join("summary.json"), json.as_bytes())?;
    written.push("summary.json".into());
    if skipped.count > 0 {
        let json = serde_json::to_string_pretty(skipped)?;
        crate::output::write(&dir.join(crate::explore::store::SKIPPED), json.as_bytes())?;
        written.push(crate::explore::store::SKIPPED.into());
    }
    Ok(written)
}

/// The energy and DRAM energy over a hybrid grid (none for other spaces). Returns
/// the file names.
fn heatmaps(
    dir: &Path,
    header: &RunHeader,
    outcomes: &[Outcome],
) -> Result<Vec<String>, WriteError> {
    let mut written = Vec::new();
    let gb = crate::model::units::human_bits(header.global_sram_bits);
    if let Space::Hybrid {
        batch_from,
        fuse_from,
    } = header.space
    {
        for (file, what, dram, pick) in [
            (
                "dram_energy.svg",
                "DRAM energy",
                true,
                best(outcomes, Rank::DramEnergy),
            ),
            ("energy.svg", "energy", false, best(outcomes, Rank::Energy)),
        ] {
            let pj = |o: &Outcome| {
                let e = &o.report.energy_pj;
                if dram { e.dram } else { e.total }
            };
            let (per, unit) = plot::energy_unit(outcomes.iter().map(pj).fold(0.0, f64::max));
            let what = format!("{what} ({unit})");
            let cells: Vec<plot::Cell> = outcomes
                .iter()
                .map(|o| {
                    let v = pj(o) / per;
                    plot::Cell {
                        x: o.point.batched,
                        y: o.point.fused,
                        value: v,
                        label: format!("{v:.2}"),
                    }
                })
                .collect();
            let counts: Vec<String> = (0..=header.blocks).map(|b| b.to_string()).collect();
            plot::heatmap(
                &dir.join(file),
                &format!("{} on {gb}: {what} per inference", header.workload),
                &format!("blocks time-batched (from the {batch_from})"),
                &format!("blocks layer-fused (from the {fuse_from})"),
                &counts,
                &counts,
                &cells,
                (
                    pick.map(|i| (outcomes[i].point.batched, outcomes[i].point.fused)),
                    "cannot run",
                ),
            )?;
            written.push(file.to_string());
        }
    }
    Ok(written)
}

/// An exploration to print: its run header, every outcome (in index order), how many
/// points this process costed and in how long.
pub struct Explored<'a> {
    pub header: &'a RunHeader,
    pub outcomes: &'a [Outcome],
    pub costed: usize,
    pub seconds: f64,
    /// With `--best K`: what was kept beside the K best (the outcomes).
    pub kept: Option<Kept<'a>>,
    pub skipped: &'a Skipped,
}

impl Explored<'_> {
    /// The `top` schedules ranked, with their gains over the baseline, and for a hybrid
    /// space the DRAM energy of every point as a grid.
    pub fn render_table(&self, top: usize) -> String {
        let (h, outcomes) = (self.header, self.outcomes);
        let mut out = format!(
            "{} schedules of {} on {} global SRAM in {:.2} s ({:.0} schedules/s), ranked by {}\n",
            self.costed,
            h.workload,
            human_bits(h.global_sram_bits),
            self.seconds,
            self.costed as f64 / self.seconds.max(1e-9),
            h.rank_by
        );
        if let Some(kept) = self.kept {
            out.push_str(&format!(
                "{} schedules dropped as unable to rank among the best {}\n",
                thousands(kept.pruned),
                outcomes.len()
            ));
        }
        if let Some(why) = &self.skipped.example {
            out.push_str(&format!(
                "{} schedules skipped: they cannot run (first: {why})\n",
                thousands(self.skipped.count as u64)
            ));
        }
        let baseline = self
            .kept
            .map_or_else(|| crate::explore::baseline(outcomes), |k| k.baseline)
            .map(|o| &o.report);
        let ranked = crate::explore::ranked(outcomes, h.rank_by);
        let mut t = Table::new([
            "rank",
            "schedule",
            "energy",
            "DRAM energy",
            "DRAM traffic",
            "latency",
            "bounds",
            "DRAM ×",
            "energy ×",
        ]);
        for (k, &i) in ranked.iter().take(top).enumerate() {
            let r = &outcomes[i].report;
            t.row([
                (k + 1).to_string(),
                outcomes[i].point.spec.to_string(),
                human_energy_pj(r.energy_pj.total),
                human_energy_pj(r.energy_pj.dram),
                human_bits(r.dram_bits.total),
                thousands(r.latency_cycles),
                r.latency_bounds.map_or("-".into(), |b| {
                    let (lo, hi) = b.percent_of(r.latency_cycles);
                    format!("{lo:+.0} … {hi:+.0} %")
                }),
                baseline.map_or("-".into(), |b| {
                    format!(
                        "{:.2}",
                        b.dram_bits.total as f64 / r.dram_bits.total.max(1) as f64
                    )
                }),
                baseline.map_or("-".into(), |b| {
                    format!("{:.2}", b.energy_pj.total / r.energy_pj.total)
                }),
            ]);
        }
        out.push_str(&t.render());
        if let Some(slower) = crate::explore::certainly_slower(outcomes, &ranked) {
            out.push_str(&format!(
                "bounds: {slower} of {} schedules are certainly slower than the fastest \
                 predicted (their latency floor lies above its ceiling)\n",
                outcomes.len()
            ));
        }
        out.push_str(&self.render_grid());
        out
    }

    /// A hybrid space's DRAM energy per point: blocks fused by blocks time-batched.
    fn render_grid(&self) -> String {
        let Space::Hybrid {
            batch_from,
            fuse_from,
        } = self.header.space
        else {
            return String::new();
        };
        let n = self.header.blocks;
        let mut out = format!(
            "\nDRAM energy per inference (µJ); columns: blocks time-batched from the {batch_from}, rows: blocks fused from the {fuse_from}\n"
        );
        let mut header = vec!["fused \\ batched".to_string()];
        header.extend((0..=n).map(|b| b.to_string()));
        let mut t = Table::new(header);
        for fused in 0..=n {
            let mut row = vec![fused.to_string()];
            for batched in 0..=n {
                let v = self
                    .outcomes
                    .iter()
                    .find(|o| o.point.batched == batched && o.point.fused == fused)
                    .map_or("—".to_string(), |o| {
                        format!("{:.1}", o.report.energy_pj.dram / 1e6)
                    });
                row.push(v);
            }
            t.row(row);
        }
        out.push_str(&t.render());
        if self.skipped.count > 0 {
            out.push_str("— : the schedule cannot run (skipped)\n");
        }
        out
    }

    /// What `stems explore --format json` prints.
    pub fn json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Out<'a> {
            space: Space,
            rank_by: Rank,
            seconds: f64,
            best: Option<usize>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pruned: Option<u64>,
            #[serde(skip_serializing_if = "skipped_none")]
            skipped: &'a Skipped,
            outcomes: &'a [Outcome],
        }
        serde_json::to_string_pretty(&Out {
            space: self.header.space,
            rank_by: self.header.rank_by,
            seconds: self.seconds,
            best: best(self.outcomes, self.header.rank_by),
            pruned: self.kept.map(|k| k.pruned),
            skipped: self.skipped,
            outcomes: self.outcomes,
        })
    }
}
