//! Printing a predicted-vs-measured comparison for people, metric by metric.

use super::Table;
use crate::model::units::thousands;
use crate::validate::Comparison;

pub fn render(rows: &[Comparison]) -> String {
    let mut t = Table::new(["metric", "predicted", "measured", "delta %"]);
    let fmt = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e18 {
            thousands(v as u64)
        } else {
            format!("{v:.1}")
        }
    };
    for r in rows {
        t.row([
            r.metric.to_string(),
            fmt(r.predicted),
            fmt(r.measured),
            if r.predicted == 0.0 && r.measured != 0.0 {
                "none predicted".to_string()
            } else {
                format!("{:+.3}", r.delta_percent)
            },
        ]);
    }
    t.render()
}
