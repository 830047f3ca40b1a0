//! Messages components exchange through the kernel.

use crate::tiling::graph::{DataClass, TileId};

pub type Cycle = u64;
pub type ComponentId = usize;

pub use crate::cost::StallCause;

/// One step of a data movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopKind {
    DramRead,
    DramWrite,
    SramRead { addr: u64 },
    SramWrite { addr: u64 },
    BufferWrite,
    Noc { from: [u32; 2], to: [u32; 2] },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub component: ComponentId,
    pub kind: HopKind,
}

/// Data moving along a chain of hops, cut-through: each hop may start when the one
/// before it starts delivering, and cannot finish before it has finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Unique per run: the requester's handle and the no-loss/no-duplicate check.
    pub tag: u64,
    /// The tile whose action or computation the route serves (charged for it).
    pub tile: TileId,
    pub reply_to: ComponentId,
    pub bits: u64,
    /// The largest piece moved at once (a buffer refilled piece by piece); `bits`
    /// unless set.
    pub chunk_bits: u64,
    pub class: DataClass,
    /// It carries attention operands (`Workload::is_attention_operand`).
    pub attention: bool,
    pub hops: Vec<Hop>,
    /// Bits at each hop when levels store the data in different formats (compressed
    /// features); empty: `bits` everywhere.
    pub hop_bits: Vec<u64>,
    /// Where its data lies in DRAM, as (byte address, bits) pieces (the schedule's
    /// `DramPlacement`); filled under the DRAM timing model and for a DRAM trace.
    pub dram_pieces: Vec<(u64, u64)>,
    pub next: usize,
    /// When the upstream hop starts and finishes delivering (0 for the first hop).
    pub flow_start: Cycle,
    pub flow_end: Cycle,
    /// The longest wait for a port along the way, and where.
    pub wait: Cycle,
    pub cause: StallCause,
    /// The hop that took longest, for routes that never waited.
    pub slowest: Cycle,
    pub slowest_cause: StallCause,
}

impl Route {
    /// The route a data-moving component `name` was sent; anything else is a wiring
    /// error.
    pub fn of(name: &str, msg: Message) -> Result<Box<Route>, super::SimError> {
        match msg {
            Message::Route(route) => Ok(route),
            other => Err(super::SimError::Internal(format!("{name} got {other:?}"))),
        }
    }

    /// The error for a hop component `name` does not serve.
    pub fn wrong_hop(&self, name: &str) -> super::SimError {
        super::SimError::Internal(format!(
            "{name} received hop {:?} of route {}",
            self.hop(),
            self.tag
        ))
    }

    pub fn new(
        (tag, tile): (u64, TileId),
        reply_to: ComponentId,
        bits: u64,
        (class, attention): (DataClass, bool),
        hops: Vec<Hop>,
    ) -> Self {
        Self {
            tag,
            tile,
            reply_to,
            bits,
            chunk_bits: bits,
            attention,
            class,
            hops,
            hop_bits: Vec::new(),
            dram_pieces: Vec::new(),
            next: 0,
            flow_start: 0,
            flow_end: 0,
            wait: 0,
            cause: StallCause::Dependency,
            slowest: 0,
            slowest_cause: StallCause::Dependency,
        }
    }

    pub fn hop(&self) -> Option<Hop> {
        self.hops.get(self.next).copied()
    }

    /// The bits the current hop moves.
    pub fn bits_here(&self) -> u64 {
        self.hop_bits.get(self.next).copied().unwrap_or(self.bits)
    }

    /// Records this hop's timing; returns where the route goes next (or the completion
    /// back to whoever asked for it): the cycle, the recipient and the message.
    pub fn advance(
        mut self: Box<Self>,
        start: Cycle,
        end: Cycle,
        waited: Cycle,
        cause: StallCause,
    ) -> (Cycle, ComponentId, Message) {
        if waited > self.wait {
            self.wait = waited;
            self.cause = cause;
        }
        if end - start > self.slowest {
            self.slowest = end - start;
            // Time spent moving data (not waiting): the bandwidth of the slowest part.
            self.slowest_cause = match cause {
                StallCause::BankConflict => StallCause::LocalBufferBandwidth,
                other => other,
            };
        }
        self.flow_start = start;
        self.flow_end = end;
        self.next += 1;
        match self.hop() {
            Some(h) => (start, h.component, Message::Route(self)),
            None => (
                end,
                self.reply_to,
                Message::RouteDone {
                    tag: self.tag,
                    bits: self.bits,
                    wait: self.wait,
                    cause: if self.wait > 0 {
                        self.cause
                    } else {
                        self.slowest_cause
                    },
                },
            ),
        }
    }
}

/// A compute pass: one output tile of the PE array through its whole reduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub tag: u64,
    pub reply_to: ComponentId,
    /// Reduction iterations (one per cycle when operands keep up).
    pub cycles: Cycle,
    /// Cycles the pass's results take to leave the accumulators.
    pub drain: Cycle,
    /// The tile's last pass: with two accumulator sets, the systolic fill/drain is paid
    /// here, and the pass ends when its results are out.
    pub last: bool,
    /// Operand bits the array reads from each local buffer during the pass:
    /// (buffer component, bits, operand class).
    pub buffer_reads: Vec<(ComponentId, u64, DataClass)>,
    pub macs: u64,
    pub sops: u64,
    pub other_ops: u64,
    /// Tile id, for traces.
    pub tile: TileId,
    /// Whether the trace shows this tile (`--trace-layers`).
    pub traced: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Kick-off for drivers.
    Start,
    Route(Box<Route>),
    RouteDone {
        tag: u64,
        bits: u64,
        wait: Cycle,
        cause: StallCause,
    },
    Pass(Box<Pass>),
    PassDone {
        tag: u64,
        /// Cycles the pass took beyond its reduction because a local buffer could not
        /// keep up.
        buffer_stall: Cycle,
        /// Cycles the array spent filling and draining, or waiting for accumulators to
        /// drain, on top of its reduction.
        fill_drain: Cycle,
    },
    /// A tile finished computing (sent to the other cores' controllers).
    TileDone {
        tile: TileId,
    },
    /// A transfer of `object` out of the receiving core's SRAM, in `tile`'s actions, has
    /// landed (sent by the issuing core to the source core's controller).
    CopyRead {
        tile: TileId,
        object: crate::tiling::graph::ObjectId,
    },
    /// A transfer of `object` to `to`, in `tile`'s actions, has landed (sent to every
    /// other core's controller).
    Landed {
        tile: TileId,
        object: crate::tiling::graph::ObjectId,
        to: crate::schedule::Location,
    },
}
