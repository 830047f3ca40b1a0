//! Chrome trace-event JSON (opens in Perfetto UI and chrome://tracing), in simulated
//! time: one process per hardware group (a core, the DRAM), one thread per track (its
//! tiles, passes, transfers), complete events ("X") for spans and counter events ("C")
//! for SRAM occupancy and DRAM bandwidth. Timestamps are cycles (shown as µs).
//!
//! The file is written as the simulation runs, so memory stays flat; a cycle window
//! bounds its size.

use super::message::Cycle;
use crate::output::{AtomicFile, OutputError};
use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::path::Path;

pub struct TraceSink {
    out: AtomicFile,
    window: Range<Cycle>,
    pids: HashMap<String, u32>,
    tids: HashMap<(u32, String), u32>,
    first: bool,
    pub events: u64,
    error: Option<std::io::Error>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl TraceSink {
    pub fn create(path: &Path, window: Range<Cycle>) -> Result<Self, OutputError> {
        let mut out = AtomicFile::create(path)?;
        let fail = |error| OutputError {
            path: path.to_path_buf(),
            error,
        };
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"otherData\":{\"time_unit\":\"1 us = 1 simulated cycle\"},\"traceEvents\":[\n")
            .map_err(fail)?;
        Ok(Self {
            out,
            window,
            pids: HashMap::new(),
            tids: HashMap::new(),
            first: true,
            events: 0,
            error: None,
        })
    }

    fn emit(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        let sep = if self.first { "" } else { ",\n" };
        self.first = false;
        if let Err(e) = self
            .out
            .write_all(sep.as_bytes())
            .and_then(|_| self.out.write_all(line.as_bytes()))
        {
            self.error = Some(e);
        }
        self.events += 1;
    }

    fn ids(&mut self, group: &str, track: &str) -> (u32, u32) {
        let n = self.pids.len() as u32;
        let pid = *self.pids.entry(group.to_string()).or_insert(n);
        if pid == n {
            self.emit(&format!(
                "{{\"ph\":\"M\",\"pid\":{pid},\"name\":\"process_name\",\"args\":{{\"name\":\"{}\"}}}}",
                escape(group)
            ));
        }
        let key = (pid, track.to_string());
        let m = self.tids.len() as u32;
        let tid = *self.tids.entry(key).or_insert(m);
        if tid == m {
            self.emit(&format!(
                "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":\"{}\"}}}}",
                escape(track)
            ));
        }
        (pid, tid)
    }

    pub fn wants(&self, start: Cycle, end: Cycle) -> bool {
        start < self.window.end && end >= self.window.start
    }

    /// A span on `group`/`track` from `start` to `end` cycles.
    pub fn span(
        &mut self,
        group: &str,
        track: &str,
        name: &str,
        start: Cycle,
        end: Cycle,
        bits: u64,
    ) {
        if !self.wants(start, end) {
            return;
        }
        let (pid, tid) = self.ids(group, track);
        self.emit(&format!(
            "{{\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":{start},\"dur\":{},\"name\":\"{}\",\"args\":{{\"bits\":{bits}}}}}",
            end.saturating_sub(start),
            escape(name)
        ));
    }

    /// A counter sample.
    pub fn counter(&mut self, group: &str, name: &str, at: Cycle, value: f64) {
        if !self.wants(at, at) {
            return;
        }
        let (pid, _) = self.ids(group, "counters");
        self.emit(&format!(
            "{{\"ph\":\"C\",\"pid\":{pid},\"ts\":{at},\"name\":\"{}\",\"args\":{{\"value\":{value}}}}}",
            escape(name)
        ));
    }

    /// Closes the JSON and moves the file into place.
    pub fn finish(mut self) -> Result<u64, OutputError> {
        let fail = |path: &Path, error| OutputError {
            path: path.to_path_buf(),
            error,
        };
        if let Some(e) = self.error.take() {
            return Err(fail(self.out.path(), e));
        }
        if let Err(e) = self.out.write_all(b"\n]}\n") {
            return Err(fail(self.out.path(), e));
        }
        self.out.commit()?;
        Ok(self.events)
    }
}
