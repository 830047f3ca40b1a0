//! Component harnesses: one component alone, requests issued by a probe, the cycle each
//! completes checked against the component's formula.

use std::path::Path;
use stems::model::{Accelerator, HardwareOverrides};
use stems::sim::SimError;
use stems::sim::components::{GlobalSram, MeshNoc, PeArrayModel};
use stems::sim::dram::DramModel;
use stems::sim::kernel::{Component, EventQueue, Kernel, Outbox};
use stems::sim::message::{ComponentId, Cycle, Hop, HopKind, Message, Pass, Route};
use stems::sim::stats::ComponentStats;
use stems::tiling::graph::DataClass;

/// Records the cycle at which each of its requests completes.
#[derive(Default)]
struct Probe {
    done: Vec<(u64, Cycle)>,
    stalls: Vec<(u64, Cycle)>,
    fill_drain: Vec<(u64, Cycle)>,
}

impl Component for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn handle(&mut self, now: Cycle, msg: Message, _out: &mut Outbox) -> Result<(), SimError> {
        match msg {
            Message::RouteDone { tag, .. } => self.done.push((tag, now)),
            Message::PassDone {
                tag,
                buffer_stall,
                fill_drain,
            } => {
                self.done.push((tag, now));
                self.stalls.push((tag, buffer_stall));
                self.fill_drain.push((tag, fill_drain));
            }
            other => panic!("probe got {other:?}"),
        }
        Ok(())
    }
    fn stats(&self) -> ComponentStats {
        ComponentStats::default()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn meta_proto() -> Accelerator {
    Accelerator::load(
        Path::new("models/hardware/meta_proto.toml"),
        HardwareOverrides {
            global_sram: Some("256KiB".parse().expect("size")),
        },
    )
    .expect("bundled accelerator")
}

/// (tag, cycle) pairs, sorted by tag.
type Completions = Vec<(u64, Cycle)>;

/// Runs `requests` (issue cycle, target, message) and returns the probe's completions
/// and the PE's buffer stalls, in tag order.
fn run(
    components: Vec<Box<dyn Component>>,
    requests: Vec<(Cycle, ComponentId, Message)>,
) -> (Completions, Completions) {
    let (done, stalls, _) = run_passes(components, requests);
    (done, stalls)
}

/// Like [`run`], with the fill/drain cycles each pass reported as well.
fn run_passes(
    components: Vec<Box<dyn Component>>,
    requests: Vec<(Cycle, ComponentId, Message)>,
) -> (Completions, Completions, Completions) {
    let mut kernel = Kernel::new(None);
    for c in components {
        kernel.add(c);
    }
    for (at, to, msg) in requests {
        kernel.send(at, to, msg);
    }
    kernel.run().expect("no deadlock");
    let probe = kernel.components[0]
        .as_any()
        .downcast_ref::<Probe>()
        .expect("component 0 is the probe");
    let mut done = probe.done.clone();
    done.sort();
    let mut stalls = probe.stalls.clone();
    stalls.sort();
    let mut fill_drain = probe.fill_drain.clone();
    fill_drain.sort();
    (done, stalls, fill_drain)
}

fn route(tag: u64, bits: u64, hops: Vec<Hop>) -> Message {
    Message::Route(Box::new(Route::new(
        (tag, 0),
        0,
        bits,
        (DataClass::F, false),
        hops,
    )))
}

#[test]
fn dram_serialises_transfers_on_its_single_port() {
    let mut acc = meta_proto();
    acc.dram.turnaround_cycles = 5;
    let d = &acc.dram;
    let (bw, lat) = (d.bw_bits, d.latency_cycles);
    let dram = 1;
    let read = |tag| {
        route(
            tag,
            10 * bw,
            vec![Hop {
                component: dram,
                kind: HopKind::DramRead,
            }],
        )
    };
    let write = |tag| {
        route(
            tag,
            10 * bw,
            vec![Hop {
                component: dram,
                kind: HopKind::DramWrite,
            }],
        )
    };
    let (done, _) = run(
        vec![Box::new(Probe::default()), Box::new(DramModel::new(d))],
        vec![(0, dram, read(1)), (0, dram, read(2)), (0, dram, write(3))],
    );
    // Each burst holds the bus 10 cycles; the access latency follows the burst; the
    // write waits for the bus and pays the read-to-write turnaround.
    assert_eq!(
        done,
        vec![(1, 10 + lat), (2, 20 + lat), (3, 20 + 5 + 10 + lat)]
    );
}

#[test]
fn one_bank_serialises_two_requests_two_banks_do_not() {
    let acc = meta_proto();
    let g = acc.cores[0].global_sram().clone();
    assert_eq!(g.banks, 2);
    let bank_bits = g.size_bits / 2;
    let bw = g.read_bw_bits_per_bank;
    let sram = 1;
    let read = |tag, addr| {
        route(
            tag,
            10 * bw,
            vec![Hop {
                component: sram,
                kind: HopKind::SramRead { addr },
            }],
        )
    };
    let same = run(
        vec![
            Box::new(Probe::default()),
            Box::new(GlobalSram::new("core0", &g)),
        ],
        vec![(0, sram, read(1, 0)), (0, sram, read(2, 4096))],
    )
    .0;
    assert_eq!(same, vec![(1, 10), (2, 20)], "bank conflict");
    let split = run(
        vec![
            Box::new(Probe::default()),
            Box::new(GlobalSram::new("core0", &g)),
        ],
        vec![(0, sram, read(1, 0)), (0, sram, read(2, bank_bits))],
    )
    .0;
    assert_eq!(split, vec![(1, 10), (2, 10)], "different banks in parallel");
    // A read and a write to one bank use its two ports in parallel.
    let write = route(
        3,
        10 * bw,
        vec![Hop {
            component: sram,
            kind: HopKind::SramWrite { addr: 0 },
        }],
    );
    let rw = run(
        vec![
            Box::new(Probe::default()),
            Box::new(GlobalSram::new("core0", &g)),
        ],
        vec![(0, sram, read(1, 0)), (0, sram, write)],
    )
    .0;
    assert_eq!(rw, vec![(1, 10), (3, 10)]);
}

#[test]
fn noc_transfers_sharing_a_link_wait_for_each_other() {
    let mut acc = meta_proto();
    acc.noc.mesh = [3, 1];
    let n = &acc.noc;
    let (bw, hop) = (n.link_bw_bits, n.hop_latency_cycles);
    let noc = 1;
    let xfer = |tag, from, to| {
        route(
            tag,
            10 * bw,
            vec![Hop {
                component: noc,
                kind: HopKind::Noc { from, to },
            }],
        )
    };
    let (done, _) = run(
        vec![Box::new(Probe::default()), Box::new(MeshNoc::new(n))],
        vec![
            (0, noc, xfer(1, [0, 0], [2, 0])),
            (0, noc, xfer(2, [1, 0], [2, 0])),
        ],
    );
    // A crosses (0,0)->(1,0) then (1,0)->(2,0), cut-through: 10 cycles on each link,
    // one hop latency apart. B needs (1,0)->(2,0), busy with A until then.
    let a_end = 10 + hop;
    assert_eq!(done, vec![(1, a_end), (2, a_end + 10)]);
    let alone = run(
        vec![Box::new(Probe::default()), Box::new(MeshNoc::new(n))],
        vec![(0, noc, xfer(2, [1, 0], [2, 0]))],
    )
    .0;
    assert_eq!(alone, vec![(2, 10)]);
    // Two equal flows over one link: the second ends at twice the time of one alone.
    let shared = run(
        vec![Box::new(Probe::default()), Box::new(MeshNoc::new(n))],
        vec![
            (0, noc, xfer(1, [1, 0], [2, 0])),
            (0, noc, xfer(2, [1, 0], [2, 0])),
        ],
    )
    .0;
    assert_eq!(shared, vec![(1, 10), (2, 2 * 10)]);
}

/// A PE array of meta_proto with `sets` accumulator sets, fed by the input buffer
/// (component 7), and a pass maker: (tag, reduction cycles, buffer bits, drain, last).
fn pe_array(sets: u64) -> (Box<PeArrayModel>, u64, stems::model::PeArray) {
    let acc = meta_proto();
    let mut pe = acc.cores[0].pe_array.clone();
    pe.accumulator_buffers = sets;
    let input_lb = acc.cores[0]
        .local_buffer(stems::model::Operand::I)
        .expect("input buffer")
        .1;
    let bw = input_lb.read_bw_bits();
    let mut buffers = std::collections::HashMap::new();
    buffers.insert(
        7,
        (
            bw,
            input_lb.read_energy_fj_per_bit,
            stems::cost::Component::LocalBuffers,
        ),
    );
    (Box::new(PeArrayModel::new("core0", &pe, buffers)), bw, pe)
}

fn pass(tag: u64, cycles: Cycle, bits: u64, drain: Cycle, last: bool) -> Message {
    Message::Pass(Box::new(Pass {
        tag,
        reply_to: 0,
        cycles,
        drain,
        last,
        buffer_reads: vec![(7, bits, DataClass::F)],
        macs: 0,
        sops: 1,
        other_ops: 0,
        tile: 0,
        traced: false,
    }))
}

#[test]
fn with_one_accumulator_set_a_pass_takes_its_reduction_then_fills_and_drains() {
    let (array, bw, pe) = pe_array(1);
    let skew = pe.fill_drain_cycles();
    // 100 cycles needing exactly the buffer's bandwidth: no stall, then the skew (the
    // 16-cycle drain hides in it).
    let (done, stalls, fd) = run_passes(
        vec![Box::new(Probe::default()), array],
        vec![(0, 1, pass(1, 100, 100 * bw, 16, true))],
    );
    assert_eq!(done, vec![(1, 100 + skew)]);
    assert_eq!((stalls, fd), (vec![(1, 0)], vec![(1, skew)]));
    // Twice the bandwidth needed: the pass stretches to 200 cycles; a second pass
    // queues behind it; a drain longer than the skew holds the array for the drain.
    let (array, ..) = pe_array(1);
    let (done, stalls, fd) = run_passes(
        vec![Box::new(Probe::default()), array],
        vec![
            (0, 1, pass(1, 100, 200 * bw, 16, false)),
            (0, 1, pass(2, 50, 0, skew + 10, true)),
        ],
    );
    assert_eq!(done, vec![(1, 200 + skew), (2, 250 + skew + skew + 10)]);
    assert_eq!(stalls, vec![(1, 100), (2, 0)]);
    assert_eq!(fd, vec![(1, skew), (2, skew + 10)]);
}

#[test]
fn with_two_accumulator_sets_draining_overlaps_the_next_pass_until_the_drain_bounds_it() {
    let (array, _, pe) = pe_array(2);
    let skew = pe.fill_drain_cycles();
    // Passes of 2 cycles draining 16 each, sent as the previous one completes: the
    // third waits for set 0 to drain (cycle 18), the fourth for set 1 (cycle 34), and
    // the last ends once the skew has passed and its results are out.
    let (done, _, fd) = run_passes(
        vec![Box::new(Probe::default()), array],
        vec![
            (0, 1, pass(1, 2, 0, 16, false)),
            (2, 1, pass(2, 2, 0, 16, false)),
            (4, 1, pass(3, 2, 0, 16, false)),
            (20, 1, pass(4, 2, 0, 16, true)),
        ],
    );
    assert_eq!(done, vec![(1, 2), (2, 4), (3, 20), (4, 36 + skew)]);
    assert_eq!(fd, vec![(1, 0), (2, 0), (3, 14), (4, 14 + skew)]);
    // Four folds of 2 cycles take at least four drains of 16: drain-bound.
    assert!(36 + skew >= 4 * 16);
    // A long reduction hides the drain completely.
    let (array, ..) = pe_array(2);
    let (done, _, fd) = run_passes(
        vec![Box::new(Probe::default()), array],
        vec![
            (0, 1, pass(1, 100, 0, 16, false)),
            (100, 1, pass(2, 100, 0, 16, true)),
        ],
    );
    assert_eq!(done, vec![(1, 100), (2, 200 + skew)]);
    assert_eq!(fd, vec![(1, 0), (2, skew)]);
}

#[test]
fn same_cycle_events_are_delivered_in_the_order_they_were_sent() {
    let mut q = EventQueue::new();
    for tag in 0..100u64 {
        let at = if tag % 2 == 0 { 5 } else { 3 };
        q.push(at, tag as usize, Message::TileDone { tile: tag as usize });
    }
    let mut order = Vec::new();
    while let Some((at, to, _)) = q.pop() {
        order.push((at, to));
    }
    let odd: Vec<usize> = (0..100).filter(|t| t % 2 == 1).collect();
    let even: Vec<usize> = (0..100).filter(|t| t % 2 == 0).collect();
    assert!(order[..50].iter().map(|(_, t)| *t).eq(odd.iter().copied()));
    assert!(order[50..].iter().map(|(_, t)| *t).eq(even.iter().copied()));
}
