//! Whether the analytic half ranks schedules as the simulator does — what exploration
//! relies on, since it ranks by the analytic half alone. Per metric (latency, energy,
//! energy-delay product): Kendall's τ-b between predicted and measured values, whether
//! the analytic best is the measured best, and the regret — how much worse (measured)
//! the analytic best is than the measured best, in percent.

use super::row::{Figures, Row};
use serde::Serialize;
use std::collections::BTreeMap;

/// How one metric's ranking agrees.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct RankAgreement {
    /// Runs ranked (measured ones).
    pub runs: usize,
    /// Kendall's τ-b in −1..=1; none with fewer than two runs or all values tied.
    pub kendall_tau: Option<f64>,
    /// The schedule predicted best is (one of) the measured best.
    pub top1_match: bool,
    /// (measured value of the predicted best − measured best) / measured best, percent.
    pub regret_percent: f64,
}

/// The three metrics.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct RankAgreements {
    pub latency: RankAgreement,
    pub energy: RankAgreement,
    pub edp: RankAgreement,
}

/// Over every run, and per configuration (a size, an experiment).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankSummary {
    pub overall: Option<RankAgreements>,
    pub by_config: BTreeMap<String, RankAgreements>,
}

impl RankSummary {
    pub fn new(rows: &[Row]) -> Self {
        let mut configs: Vec<&str> = rows.iter().map(|r| r.config.as_str()).collect();
        configs.sort_unstable();
        configs.dedup();
        let by_config = configs
            .into_iter()
            .filter_map(|c| {
                let of: Vec<&Row> = rows.iter().filter(|r| r.config == c).collect();
                RankAgreements::of(&of).map(|a| (c.to_string(), a))
            })
            .collect();
        Self {
            overall: RankAgreements::of(&rows.iter().collect::<Vec<_>>()),
            by_config,
        }
    }
}

impl RankAgreements {
    /// The agreements over `rows` (measured ones only); none when no run was measured.
    pub fn of(rows: &[&Row]) -> Option<Self> {
        // (predicted, measured) per metric.
        let pairs = |f: &dyn Fn(&Figures) -> f64| -> Vec<(f64, f64)> {
            rows.iter()
                .filter_map(|r| Some((f(&r.predicted), f(r.measured.as_ref()?))))
                .collect()
        };
        let latency = pairs(&|x| x.latency_cycles as f64);
        if latency.is_empty() {
            return None;
        }
        Some(Self {
            latency: RankAgreement::of(&latency),
            energy: RankAgreement::of(&pairs(&|x| x.energy_pj)),
            edp: RankAgreement::of(&pairs(&|x| x.energy_pj * x.latency_cycles as f64)),
        })
    }
}

impl RankAgreement {
    /// From (predicted, measured) pairs, lower is better; `pairs` is not empty.
    pub fn of(pairs: &[(f64, f64)]) -> Self {
        let measured_best = pairs.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        // The predicted best; among tied predictions, the one exploration would pick
        // first (the earliest).
        let picked = pairs
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(measured_best, |p| p.1);
        Self {
            runs: pairs.len(),
            kendall_tau: kendall_tau_b(pairs),
            top1_match: picked <= measured_best,
            regret_percent: if measured_best > 0.0 {
                (picked - measured_best) / measured_best * 100.0
            } else {
                0.0
            },
        }
    }
}

/// `τ 0.915, best matches, regret 0.00 %`.
impl std::fmt::Display for RankAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kendall_tau {
            Some(t) => write!(f, "τ {t:.3}")?,
            None => write!(f, "τ -")?,
        }
        let best = if self.top1_match {
            "best matches"
        } else {
            "best differs"
        };
        write!(f, ", {best}, regret {:.2} %", self.regret_percent)
    }
}

/// `latency τ …; energy τ …; EDP τ …`.
impl std::fmt::Display for RankAgreements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "latency {}; energy {}; EDP {}",
            self.latency, self.energy, self.edp
        )
    }
}

/// Kendall's τ-b (ties counted on either side); none with fewer than two pairs or when
/// one side is all ties. Quadratic: validate runs at most a few thousand runs.
pub fn kendall_tau_b(pairs: &[(f64, f64)]) -> Option<f64> {
    let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            let dx = a.0.total_cmp(&b.0) as i64;
            let dy = a.1.total_cmp(&b.1) as i64;
            match (dx, dy) {
                (0, 0) => {}
                (0, _) => tied_x += 1,
                (_, 0) => tied_y += 1,
                _ if dx == dy => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n0 = (concordant + discordant) as f64;
    let denominator = ((n0 + tied_x as f64) * (n0 + tied_y as f64)).sqrt();
    (denominator > 0.0).then(|| (concordant - discordant) as f64 / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_tau_by_hand() {
        // The same order: 1; reversed: −1.
        let same = [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)];
        assert_eq!(kendall_tau_b(&same), Some(1.0));
        let reversed = [(1.0, 30.0), (2.0, 20.0), (3.0, 10.0)];
        assert_eq!(kendall_tau_b(&reversed), Some(-1.0));
        // One swapped pair of 4 (6 pairs): (5 − 1) / 6.
        let one_swap = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (4.0, 4.0)];
        assert!((kendall_tau_b(&one_swap).unwrap() - 4.0 / 6.0).abs() < 1e-12);
        // τ-b with a tie on x: pairs (1,2) tied in x; C = 2, D = 0, n0 = 2,
        // tied_x = 1, tied_y = 0: 2 / sqrt(3 · 2).
        let tie = [(1.0, 1.0), (1.0, 2.0), (2.0, 3.0)];
        assert!((kendall_tau_b(&tie).unwrap() - 2.0 / 6f64.sqrt()).abs() < 1e-12);
        assert_eq!(kendall_tau_b(&[(1.0, 1.0)]), None);
        assert_eq!(kendall_tau_b(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn regret_is_what_the_predicted_best_costs_more() {
        // Predicted best is the second run (90), measured 110 where the best measured
        // is 100: 10 % regret, no top-1 match.
        let a = RankAgreement::of(&[(100.0, 100.0), (90.0, 110.0), (120.0, 130.0)]);
        assert!(!a.top1_match);
        assert!((a.regret_percent - 10.0).abs() < 1e-12);
        let b = RankAgreement::of(&[(100.0, 100.0), (110.0, 105.0)]);
        assert!(b.top1_match && b.regret_percent == 0.0);
    }
}
