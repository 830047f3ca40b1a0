//! Writing an exploration's results: `summary.json`, the heatmaps of a hybrid space,
//! the energy breakdown of the baseline and the best, and the sorted CSV.

use super::{WriteError, plot};
use crate::cost::Report;
use crate::explore::store::{CSV, RunHeader};
use crate::explore::{Outcome, Rank, Space, best, write_csv_rows};
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
}

/// Writes `summary.json` (atomically), the heatmaps (hybrid spaces), the energy
/// breakdown of the baseline and the best, and — when `csv` — `explore.csv` sorted by
/// point. `outcomes` are in index order. Returns the file names.
pub fn write_results(
    dir: &Path,
    header: &RunHeader,
    outcomes: &[Outcome],
    csv: bool,
) -> Result<Vec<String>, WriteError> {
    let mut written = Vec::new();
    if csv {
        let mut file = crate::output::AtomicFile::create(&dir.join(CSV))?;
        write_csv_rows(&mut file, outcomes, true)?;
        file.commit()?;
    }
    written.push(CSV.to_string());
    let best_index = best(outcomes, header.rank_by);
    let baseline = outcomes
        .iter()
        .position(|o| o.point.batched == 0 && o.point.fused == 0);
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
                pick.map(|i| (outcomes[i].point.batched, outcomes[i].point.fused)),
            )?;
            written.push(file.to_string());
        }
    }
    let mut bars: Vec<(String, &Report)> = Vec::new();
    if let Some(b) = baseline {
        bars.push(("ST-LBL".into(), &outcomes[b].report));
    }
    if let Some(b) = best_index
        && Some(b) != baseline
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
        baseline: baseline.map(|i| &outcomes[i]),
    };
    let json = serde_json::to_string_pretty(&summary)?;
    crate::output::write(&dir.join("summary.json"), json.as_bytes())?;
    written.push("summary.json".into());
    Ok(written)
}
