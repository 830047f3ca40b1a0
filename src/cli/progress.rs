//! Progress of long runs: a bar on a terminal, otherwise (CI, `nohup`, a log file) a
//! line every few seconds (`STEMS_PROGRESS_SECONDS`, default 5) with done/total, rate
//! and time left.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seconds between progress lines when stderr is not a terminal.
fn log_every() -> Duration {
    let seconds = std::env::var("STEMS_PROGRESS_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(5.0);
    Duration::from_secs_f64(seconds.min(3600.0))
}

pub struct Progress {
    what: &'static str,
    total: AtomicU64,
    done: AtomicU64,
    started: Instant,
    bar: Option<indicatif::ProgressBar>,
    last_log: Mutex<Instant>,
    every: Duration,
    /// The best result so far (lowest value) and how to show it.
    best: Mutex<Option<(f64, String)>>,
}

impl Progress {
    pub fn new(total: u64, what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{bar:30}} {{pos}}/{{len}} {what}  {{per_sec}}  eta {{eta}}  {{msg}}"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            what,
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            started: Instant::now(),
            bar,
            last_log: Mutex::new(Instant::now()),
            every: log_every(),
            best: Mutex::new(None),
        }
    }

    /// The number of points, when it is known only after the start (a resumed run).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// A finished point's figure (lower is better); `show` describes it, and is called
    /// only when it is the best so far.
    pub fn offer(&self, value: f64, show: impl FnOnce() -> String) {
        let Ok(mut best) = self.best.lock() else {
            return;
        };
        if best.as_ref().is_some_and(|(b, _)| *b <= value) {
            return;
        }
        let text = show();
        if let Some(bar) = &self.bar {
            bar.set_message(format!("best {text}"));
        }
        *best = Some((value, text));
    }

    /// One more done (from any thread).
    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            return;
        }
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        let total = self.total.load(Ordering::Relaxed);
        if last.elapsed() < self.every || done >= total {
            return;
        }
        *last = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds.max(1e-9);
        let left = (total - done) as f64 / rate.max(1e-9);
        let best = match self.best.lock().as_deref() {
            Ok(Some((_, text))) => format!("; best so far {text}"),
            _ => String::new(),
        };
        eprintln!(
            "{done}/{total} {} ({rate:.1}/s, about {left:.0} s left{best})",
            self.what
        );
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Seconds above which a run's estimate asks for `--yes` (`STEMS_LONG_RUN_SECONDS`,
/// default an hour).
fn long_run_seconds() -> f64 {
    std::env::var("STEMS_LONG_RUN_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(3600.0)
}

/// Refuses a run estimated at more than `long_run_seconds` unless `yes`, suggesting
/// how to split it.
pub fn confirm_long_run(estimate_seconds: f64, yes: bool) -> anyhow::Result<()> {
    confirm(
        estimate_seconds,
        yes,
        ", or split it with --shard K/N over several machines and `stems merge` the results",
    )
}

/// [`confirm_long_run`] for a run that cannot be split (a search): a smaller budget is
/// the way to shorten it.
pub fn confirm_long_search(estimate_seconds: f64, yes: bool) -> anyhow::Result<()> {
    confirm(estimate_seconds, yes, ", or lower --budget")
}

fn confirm(estimate_seconds: f64, yes: bool, otherwise: &str) -> anyhow::Result<()> {
    if estimate_seconds > long_run_seconds() && !yes {
        anyhow::bail!(super::UsageError(format!(
            "this run would take about {:.1} h; pass --yes to go ahead{otherwise}",
            estimate_seconds / 3600.0
        )));
    }
    Ok(())
}
