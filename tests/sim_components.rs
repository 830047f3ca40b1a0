//! Component harnesses: one component alone, requests issued by a probe, the cycle each
//! completes checked against the component's formula.

use std::path::Path;
use stems::model::{Accelerator, HardwareOverrides};
use stems::sim::SimError;
use stems::sim::components::{DramModel, GlobalSram, MeshNoc, PeArrayModel};
use stems::sim::kernel::{Component, EventQueue, Kernel, Outbox};
use stems::sim::message::{ComponentId, Cycle, Hop, HopKind, Message, Pass, Route};
use stems::sim::stats::ComponentStats;
use stems::tiling::graph::DataClass;

/// Records the cycle at which each of its requests completes.
#[derive(Default)]
struct Probe {
    done: Vec<(u64, Cycle)>,
    stalls: Vec<(u64, Cycle)>,
}

impl Component for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn handle(&mut self, now: Cycle, msg: Message, _out: &mut Outbox) -> Result<(), SimError> {
        match msg {
            Message::RouteDone { tag, .. } => self.done.push((tag, now)),
            Message::PassDone { tag, buffer_stall } => {
                self.done.push((tag, now));
                self.stalls.push((tag, buffer_stall));
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
    (done, stalls)
}

fn route(tag: u64, bits: u64, hops: Vec<Hop>) -> Message {
    Message::Route(Box::new(Route::new(tag, 0, bits, DataClass::F, hops)))
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
}

#[test]
fn a_pass_takes_its_reduction_cycles_unless_a_buffer_cannot_keep_up() {
    let acc = meta_proto();
    let pe = &acc.cores[0].pe_array;
    let input_lb = acc.cores[0]
        .local_buffer(stems::model::Operand::I)
        .expect("input buffer")
        .1;
    let bw = input_lb.read_bw_bits();
    let buffer: ComponentId = 7; // any id; the PE only looks up its parameters
    let mk = || {
        let mut buffers = std::collections::HashMap::new();
        buffers.insert(
            buffer,
            (
                bw,
                input_lb.read_energy_fj_per_bit,
                stems::report::cost::Component::LocalBuffers,
            ),
        );
        Box::new(PeArrayModel::new("core0", pe, buffers))
    };
    let pass = |tag, cycles, bits, fill_drain| {
        Message::Pass(Box::new(Pass {
            tag,
            reply_to: 0,
            cycles,
            fill_drain,
            buffer_reads: vec![(buffer, bits, DataClass::F)],
            macs: 0,
            sops: 1,
            other_ops: 0,
            tile: 0,
        }))
    };
    // 100 cycles needing exactly the buffer's bandwidth: no stall.
    let (done, stalls) = run(
        vec![Box::new(Probe::default()), mk()],
        vec![(0, 1, pass(1, 100, 100 * bw, 0))],
    );
    assert_eq!((done, stalls), (vec![(1, 100)], vec![(1, 0)]));
    // Twice the bandwidth needed: the pass stretches to 200 cycles; then a second pass
    // queues behind it and adds the systolic fill/drain.
    let fd = pe.fill_drain_cycles();
    let (done, stalls) = run(
        vec![Box::new(Probe::default()), mk()],
        vec![
            (0, 1, pass(1, 100, 200 * bw, 0)),
            (0, 1, pass(2, 50, 0, fd)),
        ],
    );
    assert_eq!(done, vec![(1, 200), (2, 250 + fd)]);
    assert_eq!(stalls, vec![(1, 100), (2, 0)]);
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
