//! The cycle-level discrete-event simulator: a Schedule lowered onto models of the
//! hardware, measuring what moves where and when.
//!
//! `kernel` delivers messages in (cycle, sequence) order; `components` are the DRAM,
//! global SRAMs, local buffers, mesh NoC and PE arrays; `controller` issues each core's
//! lowered commands; `program` lowers a tile's loop nest into passes. The measured
//! [`Report`] is assembled from what the components counted — never from the
//! Schedule's prediction.

pub mod components;
pub mod controller;
pub mod copies;
pub mod dram;
pub mod dram_timing;
pub mod kernel;
pub mod message;
pub mod program;
pub mod sram_map;
pub mod stats;
pub mod trace;
pub mod validity;

use crate::cost::{
    ByClass, Component as Part, Incidents, Ledger, Report, ReportHeader, ReportTiming, TileFigures,
    TileSpend,
};
use crate::output::AtomicFile;
use crate::schedule::Schedule;
use crate::tiling::graph::TileId;
use components::{GlobalSram, LocalBuffer, MeshNoc, PeArrayModel};
use controller::{Controller, Ids, TraceFilter};
use dram::DramModel;
use kernel::Kernel;
use message::{ComponentId, Cycle, Message, StallCause};
use serde::Serialize;
use stats::{Distribution, PortStats};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("deadlock at cycle {cycle}: no event is left but work is pending — {}", stuck.join(" | "))]
    Deadlock { cycle: Cycle, stuck: Vec<String> },
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The schedule cannot be executed as written, or is not sufficient.
    #[error("verification failed: {0}")]
    Verification(Box<validity::Violation>),
    #[error("internal simulator error: {0}")]
    Internal(String),
    /// Writing a trace failed (not a `source`: the message already says why, and an
    /// error chain would say it twice).
    #[error("the trace: {0}")]
    Trace(crate::output::OutputError),
    #[error(transparent)]
    Spikes(#[from] crate::spikes::SpikeError),
}

impl From<crate::output::OutputError> for SimError {
    fn from(e: crate::output::OutputError) -> Self {
        SimError::Trace(e)
    }
}

impl From<Box<validity::Violation>> for SimError {
    fn from(v: Box<validity::Violation>) -> Self {
        SimError::Verification(v)
    }
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub trace: Option<PathBuf>,
    /// Only spans overlapping these cycles go into the trace.
    pub trace_window: Option<Range<Cycle>>,
    /// Only tiles (and their transfers) of these layers go into the trace.
    pub trace_layers: Option<Vec<String>>,
    /// Keep the time series for pictures (`MeasuredReport::timelines`).
    pub record_timelines: bool,
    /// Write every DRAM line request here, as `0xADDRESS READ|WRITE CYCLE` (the trace
    /// DRAMsim3 replays), addresses from the schedule's `DramPlacement`.
    pub dram_trace: Option<PathBuf>,
    /// Track data validity and refuse schedules that cannot run or are not sufficient
    /// (on by default; off only to measure what verification costs).
    pub verify: bool,
    /// The spikes to execute where the hardware depends on them.
    pub spikes: SpikeSource,
}

/// Where a run's spikes come from.
#[derive(Debug, Clone)]
pub enum SpikeSource {
    /// Drawn at the workload's densities (only when some tensor is not dense).
    Generated(crate::spikes::SpikeOptions),
    /// Given (a recording).
    Given(Arc<crate::spikes::Spikes>),
}

impl Default for SpikeSource {
    fn default() -> Self {
        SpikeSource::Generated(crate::spikes::SpikeOptions::default())
    }
}

/// The spikes a run executes: none when no core depends on them (gating, skipping or
/// a compressed format) or, generated, when every tensor is dense.
fn run_spikes(
    schedule: &Schedule,
    source: &SpikeSource,
) -> Result<Option<Arc<crate::spikes::Spikes>>, SimError> {
    let acc = &schedule.accelerator;
    if !acc.cores.iter().any(|c| c.sees_activity(&acc.dram)) {
        return Ok(None);
    }
    Ok(match source {
        SpikeSource::Given(s) => Some(Arc::clone(s)),
        SpikeSource::Generated(_) if schedule.workload.densities.is_dense() => None,
        SpikeSource::Generated(o) => {
            Some(Arc::new(crate::spikes::generate(&schedule.workload, *o)?))
        }
    })
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            trace: None,
            trace_window: None,
            trace_layers: None,
            record_timelines: false,
            dram_trace: None,
            verify: true,
            spikes: SpikeSource::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyReport {
    pub tile: Distribution,
    pub transfer: Distribution,
    pub fill: Distribution,
    pub write: Distribution,
}

impl LatencyReport {
    fn of(l: &controller::Latencies) -> Self {
        Self {
            tile: Distribution::of(&l.tile),
            transfer: Distribution::of(&l.transfer),
            fill: Distribution::of(&l.fill),
            write: Distribution::of(&l.write),
        }
    }
}

/// Time series of a run, for pictures (not part of the JSON report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timelines {
    /// Per core: global-SRAM occupancy (cycle, bits) after each change.
    pub sram_bits: Vec<Vec<(Cycle, u64)>>,
    /// DRAM bursts: (start, end, bits).
    pub dram_bursts: Vec<(Cycle, Cycle, u64)>,
    /// DRAM port queue delays: (cycles, count).
    pub dram_queue_delays: Vec<(u64, u64)>,
    /// Per core: PE stall slices and computed tiles.
    pub cores: Vec<controller::CoreTimeline>,
}

/// What the verifier proved and what it measured of waste.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct VerificationReport {
    /// Every check passed (false only when verification was switched off).
    pub verified: bool,
    /// Checks made: operand validity per tile, transfer sources and destinations,
    /// allocations, frees, coverage and outputs.
    pub checks: u64,
    /// Loads of data already valid where they landed.
    pub redundant_load_bits: u64,
    /// DRAM writes (spills, write-backs, streamed outputs) whose data was never read
    /// back.
    pub dead_write_bits: u64,
    /// The floor: weights, network input and network output, each moved once.
    pub compulsory_dram_bits: u64,
    pub compulsory_dram_bits_by_operand: ByClass<u64>,
    /// Measured DRAM bits above the floor.
    pub excess_dram_bits: i64,
    pub excess_dram_bits_by_operand: ByClass<i64>,
}

impl VerificationReport {
    fn new(
        verified: bool,
        waste: validity::Waste,
        workload: &crate::model::Workload,
        ledger: &Ledger,
    ) -> Self {
        let floor = validity::compulsory_dram_bits(workload);
        let moved: [u64; 3] =
            std::array::from_fn(|i| ledger.dram_read_bits[i] + ledger.dram_write_bits[i]);
        let excess: [i64; 3] = std::array::from_fn(|i| moved[i] as i64 - floor[i] as i64);
        let by = |v: [u64; 3]| ByClass {
            W: v[0],
            F: v[1],
            V: v[2],
        };
        Self {
            verified,
            checks: waste.checks,
            redundant_load_bits: waste.redundant_load_bits,
            dead_write_bits: waste.dead_write_bits,
            compulsory_dram_bits: floor.iter().sum(),
            compulsory_dram_bits_by_operand: by(floor),
            excess_dram_bits: excess.iter().sum(),
            excess_dram_bits_by_operand: ByClass {
                W: excess[0],
                F: excess[1],
                V: excess[2],
            },
        }
    }
}

/// One component's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentReport {
    pub name: String,
    pub busy_cycles: u64,
    /// PE arrays and their controllers only: cycles the array did not compute, by the
    /// first cause that blocked it (see ARCHITECTURE.md); with its busy cycles they
    /// make up the run.
    pub stall_cycles: u64,
    pub stalls_by_cause: BTreeMap<&'static str, u64>,
    /// Memories, DRAM and links: the cycles requests waited for their ports, summed
    /// over requests (queueing, not stall: requests overlap, so it may exceed the run).
    pub queue_delay_cycles: u64,
    pub ports: Vec<PortStats>,
}

/// The DRAM timing model's figures of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DramDeviceReport {
    pub standard: String,
    #[serde(flatten)]
    pub counts: dram_timing::DramTimingStats,
    /// Bursts served from an open row, over all bursts.
    pub row_hit_rate: f64,
    /// Clocks the data buses moved data, over the run's clocks times the channels.
    pub bus_utilisation: f64,
}

impl DramDeviceReport {
    fn of(kernel: &Kernel, dram: ComponentId, params: &crate::model::Dram) -> Option<Self> {
        let timing = params.timed()?;
        let counts = kernel.components[dram]
            .as_any()
            .downcast_ref::<DramModel>()?
            .device_stats()?;
        Some(Self {
            standard: timing.standard.clone(),
            counts,
            row_hit_rate: counts.row_hit_rate(),
            bus_utilisation: counts.bus_busy_clocks as f64
                / (counts.span_clocks.max(1) * timing.channels) as f64,
        })
    }
}

/// The measured counterpart of the analytic report, plus what only a simulation sees.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeasuredReport {
    #[serde(flatten)]
    pub report: Report,
    pub events: u64,
    pub events_per_second: f64,
    pub wall_seconds: f64,
    pub components: Vec<ComponentReport>,
    pub peak_global_sram_bits_per_core: Vec<u64>,
    /// Latency distributions (all cores): tile compute, scheduled transfers, per-pass
    /// fills and writes.
    pub latency_cycles_distribution: LatencyReport,
    pub trace_events: Option<u64>,
    /// Line requests written to the DRAM trace, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dram_trace_requests: Option<u64>,
    /// What the DRAM timing model's device did (absent under the port model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dram_device: Option<DramDeviceReport>,
    pub verification: VerificationReport,
    #[serde(skip)]
    pub timelines: Option<Timelines>,
    /// Per tile of the schedule, the cycles the PE array was busy with it (for the
    /// per-tile agreement check).
    #[serde(skip)]
    pub tile_busy_cycles: Vec<Cycle>,
    /// Per tile of the schedule, what it spent (for the per-tile agreement check).
    #[serde(skip)]
    pub tile_spend: Vec<TileSpend>,
}

impl MeasuredReport {
    /// Each tile's measured figures, in schedule order.
    pub fn tiles(&self) -> Vec<TileFigures> {
        self.tile_busy_cycles
            .iter()
            .zip(&self.tile_spend)
            .map(|(&busy_cycles, &spend)| TileFigures {
                busy_cycles,
                spend: Some(spend),
            })
            .collect()
    }
}

/// Stall cycles by cause, without fill/drain (which the busy cycles hold).
fn by_cause(stalls: &[Cycle; StallCause::COUNT]) -> BTreeMap<&'static str, u64> {
    StallCause::ALL
        .iter()
        .filter(|c| !c.is_busy())
        .map(|c| (c.name(), stalls[c.index()]))
        .collect()
}

/// Each core's PE-array stall cycles by cause: what its controller counted, plus the
/// tail after its last pass — its own writes ending the run (the DRAM port), or waiting
/// for other cores (a dependency).
fn core_stalls(controllers: &[&Controller], latency: Cycle) -> Vec<[Cycle; StallCause::COUNT]> {
    controllers
        .iter()
        .map(|c| {
            let mut s = c.stalls();
            if !c.has_tiles() {
                return s; // an unused core does not wait for anything
            }
            let cause = if c.finish >= latency {
                StallCause::DramPort
            } else {
                StallCause::Dependency
            };
            s[cause.index()] += latency.saturating_sub(c.pe_free_at);
            s
        })
        .collect()
}

/// Which tiles write each object (the producer of a feature chunk, every tile that
/// updates a state chunk).
fn writers(schedule: &Schedule) -> Vec<Vec<TileId>> {
    let mut w = vec![Vec::new(); schedule.objects.len()];
    for st in &schedule.tiles {
        let t = &st.tile;
        w[t.output].push(t.id);
        if let Some(s) = t.state
            && t.writes_state
        {
            w[s].push(t.id);
        }
    }
    w
}

/// Runs a schedule to completion and measures it.
pub fn simulate(schedule: Schedule, options: &SimOptions) -> Result<MeasuredReport, SimError> {
    let spikes = run_spikes(&schedule, &options.spikes)?;
    // The event rate measures the simulation, not the drawing of spikes.
    let started = Instant::now();
    let schedule = Arc::new(schedule);
    let dram_trace = options
        .dram_trace
        .as_deref()
        .map(AtomicFile::create)
        .transpose()?;
    let (mut kernel, ids) = wire(&schedule, options, spikes.as_ref())?;
    kernel.run()?;
    // The verifier's verdict first: it names what is missing more precisely than the
    // controllers' end-of-run invariants.
    let waste = match kernel.validity.take() {
        Some(v) => v.finish(kernel.now)?,
        None => validity::Waste::default(),
    };
    let controllers = collect_controllers(&kernel, ids.controllers[0], ids.controllers.len());
    let mut latency = kernel.now;
    for c in &controllers {
        c.check_end()?;
        latency = latency.max(c.finish);
    }
    let per_core = core_stalls(&controllers, latency);
    let measured = Measured::collect(&kernel, &ids, &per_core, schedule.tiles.len());
    let records = Records::of(&controllers, schedule.tiles.len())?;
    let timelines = options
        .record_timelines
        .then(|| timelines(&kernel, &ids, &controllers));
    let verification =
        VerificationReport::new(options.verify, waste, &schedule.workload, &measured.ledger);
    let (trace_events, dram_trace_requests) = finish_traces(&mut kernel, ids.dram, dram_trace)?;
    let wall = started.elapsed().as_secs_f64();
    let measured_activity = spikes
        .as_ref()
        .map(|s| s.layer_input_densities(&schedule.workload));
    let stalls = total_stalls(&per_core);
    let acc = &schedule.accelerator;
    let report = Report::new(
        ReportHeader {
            source: "measured",
            workload: &schedule.workload,
            hardware: acc.label(),
            hardware_overrides: acc.overrides.clone(),
            global_sram_bits: acc.cores[0].global_sram().size_bits,
            schedule: schedule.schedule.clone(),
            prefetch: schedule.prefetch,
            measured_activity: measured_activity.as_deref(),
        },
        &measured.ledger,
        ReportTiming {
            static_pj: acc.static_energy_pj(latency),
            dram_activate_pj: acc.dram.activate_energy_pj(measured.ledger.dram_activates),
            clock_mhz: acc.clock_mhz,
            latency_cycles: latency,
            busy_cycles: measured.busy,
            stall_cycles: stalls,
            latency_bounds: None,
            peak_global_sram_bits: measured.peaks.iter().copied().max().unwrap_or(0),
            noc_busy_cycles: measured.noc_busy,
            tiles: schedule.tiles.len() as u64,
        },
        &records.incidents,
    );
    Ok(MeasuredReport {
        report,
        events: kernel.events,
        events_per_second: kernel.events as f64 / wall.max(1e-9),
        wall_seconds: wall,
        components: measured.components,
        peak_global_sram_bits_per_core: measured.peaks,
        latency_cycles_distribution: LatencyReport::of(&records.latencies),
        trace_events,
        dram_trace_requests,
        dram_device: DramDeviceReport::of(&kernel, ids.dram, &schedule.accelerator.dram),
        verification,
        timelines,
        tile_busy_cycles: records.tile_busy_cycles,
        tile_spend: measured.tile_spend,
    })
}

/// The hardware as components on a kernel: the DRAM, the mesh, per core its global
/// SRAM, local buffers, PE array and controller (the controllers last, each started).
fn wire(
    schedule: &Arc<Schedule>,
    options: &SimOptions,
    spikes: Option<&Arc<crate::spikes::Spikes>>,
) -> Result<(Kernel, Arc<Ids>), SimError> {
    let acc = &schedule.accelerator;
    let trace = match &options.trace {
        Some(path) => Some(trace::TraceSink::create(
            path,
            options.trace_window.clone().unwrap_or(0..Cycle::MAX),
        )?),
        None => None,
    };
    let filter = TraceFilter {
        layers: options.trace_layers.as_ref().map(|names| {
            schedule
                .workload
                .layers
                .iter()
                .filter(|l| names.contains(&l.name))
                .map(|l| l.id)
                .collect::<BTreeSet<usize>>()
        }),
    };
    let mut kernel = Kernel::new(trace);
    if options.verify {
        kernel.validity =
            Some(validity::Validity::new(Arc::clone(schedule))?.with_spikes(spikes.cloned()));
    }
    let mut ids = Ids {
        dram: kernel.add(Box::new({
            let dram = DramModel::new(&acc.dram);
            let dram = if options.record_timelines {
                dram.recording()
            } else {
                dram
            };
            if options.dram_trace.is_some() {
                dram.listing_requests()
            } else {
                dram
            }
        })),
        noc: kernel.add(Box::new(MeshNoc::new(&acc.noc))),
        ..Ids::default()
    };
    ids.formats.insert(ids.dram, acc.dram.feature_format);
    for core in &acc.cores {
        wire_core(&mut kernel, &mut ids, core);
    }
    let first_controller = kernel.components.len();
    ids.controllers = (0..acc.cores.len()).map(|c| first_controller + c).collect();
    let ids = Arc::new(ids);
    let writers = Arc::new(writers(schedule));
    let dram_addresses = options.dram_trace.is_some() || acc.dram.timed().is_some();
    for core in 0..acc.cores.len() {
        let id = kernel.add(Box::new(
            Controller::new(
                core,
                first_controller + core,
                Arc::clone(&ids),
                Arc::clone(schedule),
                Arc::clone(&writers),
                filter.clone(),
            )
            .recording(options.record_timelines)
            .with_dram_addresses(dram_addresses)
            .with_spikes(spikes.cloned()),
        ));
        kernel.send(0, id, Message::Start);
    }
    Ok((kernel, ids))
}

/// One core's memories and PE array. The array reads from its local buffers, and from
/// the global SRAM for an operand no local buffer holds.
fn wire_core(kernel: &mut Kernel, ids: &mut Ids, core: &crate::model::Core) {
    let global = core.global_index();
    let sram = kernel.add(Box::new(GlobalSram::new(&core.name, core.global_sram())));
    ids.sram.push(sram);
    ids.formats.insert(sram, core.global_sram().feature_format);
    let mut buffers = HashMap::new();
    let mut read_params = HashMap::new();
    for (m, mem) in core.memories.iter().enumerate() {
        let (id, part) = if m == global {
            (sram, Part::GlobalSram)
        } else {
            let id = kernel.add(Box::new(LocalBuffer::new(&core.name, mem)));
            ids.formats.insert(id, mem.feature_format);
            (id, Part::LocalBuffers)
        };
        buffers.insert(m, id);
        read_params.insert(id, (mem.read_bw_bits(), mem.read_energy_fj_per_bit, part));
    }
    ids.buffers.push(buffers);
    ids.pe.push(kernel.add(Box::new(PeArrayModel::new(
        &core.name,
        &core.pe_array,
        read_params,
    ))));
}

/// What the components measured, gathered.
struct Measured {
    ledger: Ledger,
    components: Vec<ComponentReport>,
    /// Peak occupancy of each global SRAM.
    peaks: Vec<u64>,
    /// The PE arrays' busy cycles, summed.
    busy: Cycle,
    noc_busy: Cycle,
    tile_spend: Vec<TileSpend>,
}

impl Measured {
    fn collect(
        kernel: &Kernel,
        ids: &Ids,
        per_core: &[[Cycle; StallCause::COUNT]],
        tiles: usize,
    ) -> Self {
        let mut m = Measured {
            ledger: Ledger::default(),
            components: Vec::new(),
            peaks: Vec::new(),
            busy: 0,
            noc_busy: 0,
            tile_spend: vec![TileSpend::default(); tiles],
        };
        for (index, c) in kernel.components.iter().enumerate() {
            let s = c.stats();
            for (&tile, spend) in s.by_tile.iter() {
                if let Some(t) = m.tile_spend.get_mut(tile) {
                    t.add(spend);
                }
            }
            if index == ids.noc {
                m.noc_busy = s.busy_cycles;
            }
            m.ledger.add(&s.ledger);
            if let Some(p) = s.peak_bits {
                m.peaks.push(p);
                m.busy += s.busy_cycles;
            }
            // A PE array and its controller report the array's stalls; everything else
            // reports queueing at its ports.
            let core = ids
                .pe
                .iter()
                .position(|&p| p == index)
                .or_else(|| ids.controllers.iter().position(|&p| p == index));
            let (stall, queue) = match core {
                Some(k) => (per_core[k], 0),
                None => ([0; StallCause::COUNT], s.stall_cycles.iter().sum()),
            };
            let by = by_cause(&stall);
            m.components.push(ComponentReport {
                name: s.name.clone(),
                busy_cycles: s.busy_cycles,
                stall_cycles: by.values().sum(),
                stalls_by_cause: by,
                queue_delay_cycles: queue,
                ports: s.ports,
            });
        }
        m
    }
}

/// The controllers' own records: incidents, latency histograms, busy cycles by tile.
struct Records {
    incidents: Incidents,
    latencies: controller::Latencies,
    tile_busy_cycles: Vec<Cycle>,
}

impl Records {
    fn of(controllers: &[&Controller], tiles: usize) -> Result<Self, SimError> {
        let mut r = Records {
            incidents: Incidents::default(),
            latencies: controller::Latencies::default(),
            tile_busy_cycles: vec![0; tiles],
        };
        for c in controllers {
            r.incidents.merge(&c.incidents);
            let l = &c.latency;
            for (into, from) in [
                (&mut r.latencies.tile, &l.tile),
                (&mut r.latencies.transfer, &l.transfer),
                (&mut r.latencies.fill, &l.fill),
                (&mut r.latencies.write, &l.write),
            ] {
                into.add(from)
                    .map_err(|e| SimError::Internal(format!("merging latency histograms: {e}")))?;
            }
            for (tile, busy) in c.busy_by_tile() {
                r.tile_busy_cycles[tile] += busy;
            }
        }
        Ok(r)
    }
}

/// Stall cycles by cause, summed over the cores.
fn total_stalls(per_core: &[[u64; StallCause::COUNT]]) -> [u64; StallCause::COUNT] {
    let mut stalls = [0u64; StallCause::COUNT];
    for s in per_core {
        for (total, v) in stalls.iter_mut().zip(s) {
            *total += v;
        }
    }
    stalls
}

/// Closes the Chrome trace and writes the DRAM trace, if asked for: their events and
/// requests.
fn finish_traces(
    kernel: &mut Kernel,
    dram: usize,
    dram_trace: Option<AtomicFile>,
) -> Result<(Option<u64>, Option<u64>), SimError> {
    let events = match kernel.trace.take() {
        Some(t) => Some(t.finish()?),
        None => None,
    };
    let requests = dram_trace
        .map(|file| write_dram_trace(kernel, dram, file))
        .transpose()?;
    Ok((events, requests))
}

/// Writes the DRAM's line requests in time order, one per line:
/// `0xADDRESS READ|WRITE CYCLE`. Returns how many.
fn write_dram_trace(kernel: &Kernel, dram: usize, mut file: AtomicFile) -> Result<u64, SimError> {
    use std::io::Write;
    let requests = kernel.components[dram]
        .as_any()
        .downcast_ref::<DramModel>()
        .and_then(|d| d.requests.as_ref())
        .ok_or_else(|| SimError::Internal("the DRAM kept no requests".into()))?;
    if requests.overflow {
        return Err(SimError::Invariant(format!(
            "the DRAM trace would hold more than {} requests; trace a smaller run",
            dram::MAX_DRAM_TRACE_REQUESTS
        )));
    }
    // In time order, without copying what may be millions of requests.
    let mut lines: Vec<&(Cycle, u64, bool)> = requests.lines.iter().collect();
    lines.sort_unstable();
    let path = file.path().to_path_buf();
    let fail = |error| crate::output::OutputError {
        path: path.clone(),
        error,
    };
    for (cycle, addr, write) in &lines {
        let op = if *write { "WRITE" } else { "READ" };
        writeln!(file, "0x{addr:X} {op} {cycle}").map_err(fail)?;
    }
    file.commit()?;
    Ok(lines.len() as u64)
}

/// The run's timelines, for plots: SRAM occupancy, DRAM bursts and queue delays, and
/// each core's tiles and stalls.
fn timelines(kernel: &Kernel, ids: &Ids, controllers: &[&Controller]) -> Timelines {
    let dram = kernel.components[ids.dram]
        .as_any()
        .downcast_ref::<DramModel>();
    Timelines {
        sram_bits: controllers
            .iter()
            .map(|c| c.mem.occupancy.clone())
            .collect(),
        dram_bursts: dram.and_then(|d| d.bursts.clone()).unwrap_or_default(),
        dram_queue_delays: dram.map(DramModel::queue_delays).unwrap_or_default(),
        cores: controllers
            .iter()
            .map(|c| c.timeline.clone().unwrap_or_default())
            .collect(),
    }
}

/// The controllers (the last components added, one per core), for their end-of-run
/// checks and records.
fn collect_controllers(kernel: &Kernel, first: usize, n: usize) -> Vec<&Controller> {
    (first..first + n)
        .filter_map(|i| kernel.components[i].as_any().downcast_ref::<Controller>())
        .collect()
}
