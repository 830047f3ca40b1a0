//! The discrete-event kernel.
//!
//! Guarantees:
//! - Time advances only through the event queue: the kernel pops the earliest event
//!   and delivers it; nothing ticks per cycle.
//! - Events are ordered by (cycle, sequence number). The sequence number is the order
//!   in which events were scheduled, so events of the same cycle are delivered in the
//!   order they were sent — deterministic and independent of the host.
//! - A component can only schedule at the current cycle or later.
//! - Components never hold references to each other: they exchange [`Message`]s
//!   through the kernel, addressed by [`ComponentId`].

use super::message::{ComponentId, Cycle, Message};
use super::trace::TraceSink;
use super::validity::Validity;
use super::{SimError, stats::ComponentStats};
use priority_queue::PriorityQueue;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, Ordering};

/// The simulated cycle of the event being delivered, for log timestamps.
pub static CURRENT_CYCLE: AtomicU64 = AtomicU64::new(0);

/// A hardware model driven by messages.
pub trait Component {
    /// A stable, human-readable name (`core0.global_sram`).
    fn name(&self) -> &str;

    /// Handles one message delivered at `now`. Whatever it causes — replies,
    /// forwarded requests, completions — is sent through `out`, at `now` or later.
    fn handle(&mut self, now: Cycle, msg: Message, out: &mut Outbox) -> Result<(), SimError>;

    /// What the component did: busy time, stalls, queue delays, energy, bits.
    fn stats(&self) -> ComponentStats;

    /// For a component that drives work (a core controller): what it still waits for,
    /// or `None` when it has finished. Used to name the culprit of a deadlock.
    fn pending(&self) -> Option<String> {
        None
    }

    /// For reading a concrete component's records after a run.
    fn as_any(&self) -> &dyn std::any::Any;

    /// Called once when no event is left, at the last event's cycle: a chance to close
    /// what the trace shows (a counter back to 0, a final stall). It must not send.
    fn end(&mut self, _now: Cycle, _out: &mut Outbox) {}
}

struct Event {
    target: ComponentId,
    msg: Message,
}

/// The event queue: a priority queue of slots ordered by (cycle, sequence).
pub struct EventQueue {
    queue: PriorityQueue<(u64, usize), Reverse<(Cycle, u64)>>,
    slots: Vec<Option<Event>>,
    free: Vec<usize>,
    seq: u64,
}

impl Default for EventQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl EventQueue {
    pub fn new() -> Self {
        Self {
            queue: PriorityQueue::with_capacity(1024),
            slots: Vec::with_capacity(1024),
            free: Vec::new(),
            seq: 0,
        }
    }

    pub fn push(&mut self, at: Cycle, target: ComponentId, msg: Message) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(Event { target, msg });
                s
            }
            None => {
                self.slots.push(Some(Event { target, msg }));
                self.slots.len() - 1
            }
        };
        let seq = self.seq;
        self.seq += 1;
        self.queue.push((seq, slot), Reverse((at, seq)));
    }

    pub fn pop(&mut self) -> Option<(Cycle, ComponentId, Message)> {
        let ((_, slot), Reverse((at, _))) = self.queue.pop()?;
        let ev = self.slots[slot].take()?;
        self.free.push(slot);
        Some((at, ev.target, ev.msg))
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// What a component may do while handling a message.
pub struct Outbox<'a> {
    now: Cycle,
    queue: &'a mut EventQueue,
    pub trace: Option<&'a mut TraceSink>,
    /// The run's data-validity record, when the run is verified.
    pub validity: Option<&'a mut Validity>,
}

impl Outbox<'_> {
    /// Delivers `msg` to `to` at cycle `at` (not before now).
    pub fn send(&mut self, at: Cycle, to: ComponentId, msg: Message) {
        self.queue.push(at.max(self.now), to, msg);
    }

    pub fn now(&self) -> Cycle {
        self.now
    }
}

/// Owns the components and the queue; runs until the queue is empty.
pub struct Kernel {
    pub components: Vec<Box<dyn Component>>,
    pub queue: EventQueue,
    pub now: Cycle,
    pub events: u64,
    pub trace: Option<TraceSink>,
    /// Observes what the controllers do; like the trace, it is not a component and
    /// never sends messages, so verification does not change what is simulated.
    pub validity: Option<Validity>,
}

impl Kernel {
    pub fn new(trace: Option<TraceSink>) -> Self {
        Self {
            components: Vec::new(),
            queue: EventQueue::new(),
            now: 0,
            events: 0,
            trace,
            validity: None,
        }
    }

    pub fn add(&mut self, c: Box<dyn Component>) -> ComponentId {
        self.components.push(c);
        self.components.len() - 1
    }

    pub fn send(&mut self, at: Cycle, to: ComponentId, msg: Message) {
        self.queue.push(at, to, msg);
    }

    /// Delivers events until none are left. When the queue empties while a component
    /// still has work pending, the run stops with a deadlock error naming it.
    pub fn run(&mut self) -> Result<(), SimError> {
        while let Some((at, target, msg)) = self.queue.pop() {
            debug_assert!(at >= self.now, "time never goes backwards");
            self.now = at;
            self.events += 1;
            CURRENT_CYCLE.store(at, Ordering::Relaxed);
            let component = self.components.get_mut(target).ok_or_else(|| {
                SimError::Internal(format!("message to unknown component {target}"))
            })?;
            let mut out = Outbox {
                now: at,
                queue: &mut self.queue,
                trace: self.trace.as_mut(),
                validity: self.validity.as_mut(),
            };
            component.handle(at, msg, &mut out)?;
        }
        for component in &mut self.components {
            let mut out = Outbox {
                now: self.now,
                queue: &mut self.queue,
                trace: self.trace.as_mut(),
                validity: None,
            };
            component.end(self.now, &mut out);
        }
        let stuck: Vec<String> = self
            .components
            .iter()
            .filter_map(|c| c.pending().map(|p| format!("{}: {p}", c.name())))
            .collect();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(SimError::Deadlock {
                cycle: self.now,
                stuck,
            })
        }
    }
}
