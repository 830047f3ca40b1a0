//! A controller's lanes: the before and after actions of its tiles — allocations,
//! frees, staging areas and transfers — run in order, each waiting for what it needs.

use super::*;

impl Controller {
    /// Runs a lane's actions until one has to wait. Transfers are issued without
    /// waiting (they queue on the ports in order); the lane is done when its last
    /// action has run and its transfers have landed. Returns true if anything moved.
    pub(super) fn run_lane(
        &mut self,
        kind: LaneKind,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<bool, SimError> {
        let mut progressed = false;
        loop {
            let lane = match kind {
                LaneKind::Before => &self.before,
                LaneKind::After => &self.after,
            };
            let Some(local) = lane.tile else {
                return Ok(progressed);
            };
            let tile_id = self.tiles[local];
            let st = &self.schedule.tiles[tile_id];
            let actions = match kind {
                LaneKind::Before => &st.before,
                LaneKind::After => &st.after,
            };
            let index = lane.action;
            if index >= actions.len() {
                if lane.in_flight == 0 {
                    self.finish_lane(kind, local, now);
                    return Ok(true);
                }
                return Ok(progressed);
            }
            let action = actions[index].clone();
            let outcome = self.execute(kind, tile_id, &action, now, out)?;
            let lane = match kind {
                LaneKind::Before => &mut self.before,
                LaneKind::After => &mut self.after,
            };
            lane.waiting = outcome;
            if outcome != Waiting::No {
                return Ok(progressed);
            }
            lane.action += 1;
            progressed = true;
        }
    }

    pub(super) fn finish_lane(&mut self, kind: LaneKind, local: usize, now: Cycle) {
        match kind {
            LaneKind::Before => {
                self.before_done[local] = true;
                self.before_done_at[local] = now;
                self.before_over_noc[local] = self.before.last_over_noc;
                self.before.tile = None;
                self.next_before += 1;
            }
            LaneKind::After => {
                self.after_done[local] = true;
                self.after.tile = None;
                self.next_after += 1;
                self.finish = self.finish.max(now);
            }
        }
    }

    pub(super) fn execute(
        &mut self,
        kind: LaneKind,
        tile_id: TileId,
        action: &Action,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        match action {
            Action::Alloc {
                core,
                object,
                extents,
            } => {
                self.check_core(*core, tile_id, "allocates")?;
                let waiting = self.occupy(Occupant::Object(*object), extents, tile_id, now, out)?;
                if waiting == Waiting::No
                    && let Some(v) = out.validity.as_deref_mut()
                {
                    let bits = extents.iter().map(|e| e.len).sum();
                    v.alloc(now, tile_id, *core, *object, bits)?;
                }
                Ok(waiting)
            }
            Action::Stage { core, extents } => {
                self.check_core(*core, tile_id, "stages")?;
                let waiting =
                    self.occupy(Occupant::Staging(tile_id), extents, tile_id, now, out)?;
                if waiting == Waiting::No
                    && let Some(v) = out.validity.as_deref_mut()
                {
                    v.stage(tile_id, extents.iter().map(|e| e.len).sum());
                }
                Ok(waiting)
            }
            Action::Free {
                core,
                object,
                extents,
            } => {
                if self.object_in_flight.get(object).copied().unwrap_or(0) > 0 {
                    return Ok(Waiting::ObjectBusy);
                }
                // A copy stays for its reads scheduled before the free: readers on
                // this core, and other cores' transfers out of it (`Handoffs`). The after actions
                // of a core's last tile stand for the end of the schedule: their frees
                // wait for every read.
                let limit = match kind {
                    LaneKind::Before => tile_id,
                    LaneKind::After if self.tiles.last() == Some(&tile_id) => TileId::MAX,
                    LaneKind::After => tile_id + 1,
                };
                if self
                    .handoffs
                    .copy_pending(&self.schedule, self.core, *object, limit, &self.done)
                {
                    return Ok(Waiting::Writers);
                }
                self.check_core(*core, tile_id, "frees")?;
                if let Some(v) = out.validity.as_deref_mut() {
                    v.free(now, tile_id, *core, *object)?;
                }
                self.vacate(Occupant::Object(*object), extents, tile_id, now, out)?;
                Ok(Waiting::No)
            }
            Action::Unstage { core, extents } => {
                self.check_core(*core, tile_id, "unstages")?;
                let owner = self.mem.staging_owner(extents).unwrap_or(tile_id);
                self.vacate(Occupant::Staging(owner), extents, tile_id, now, out)?;
                if let Some(v) = out.validity.as_deref_mut() {
                    v.unstage(owner);
                }
                Ok(Waiting::No)
            }
            Action::Transfer(t) => self.start_transfer(kind, tile_id, t, now, out),
        }
    }

    /// Tells the cores that may wait on a landed transfer: the core whose copy it read,
    /// and every core (this one included) that the data's arrival concerns.
    pub(super) fn hand_off(&mut self, lt: LaneTransfer, now: Cycle, out: &mut Outbox) {
        let (tile, object, to) = (lt.tile, lt.object, lt.to);
        if let Some(from) = lt.remote_source {
            let ctl = self.ids.controllers[from];
            out.send(now, ctl, Message::CopyRead { tile, object });
        }
        self.handoffs.landed(tile, object, to);
        for (core, &ctl) in self.ids.controllers.iter().enumerate() {
            if core != self.core {
                out.send(now, ctl, Message::Landed { tile, object, to });
            }
        }
    }

    pub(super) fn check_core(
        &self,
        core: usize,
        tile_id: TileId,
        what: &str,
    ) -> Result<(), SimError> {
        if core == self.core {
            Ok(())
        } else {
            Err(SimError::Invariant(format!(
                "{}: tile {tile_id} {what} on core {core}",
                self.name
            )))
        }
    }

    /// Takes `extents` for `who`, or waits while another lane has yet to free them.
    pub(super) fn occupy(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        tile_id: TileId,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        match self.mem.occupy(who, extents, now) {
            Ok(()) => {
                self.occupancy_counter(now, out);
                Ok(Waiting::No)
            }
            Err(MapError::Overlap) => Ok(Waiting::Overlap),
            Err(e) => Err(self.map_error(e, who, tile_id)),
        }
    }

    /// Releases `extents`, which `who` must hold.
    pub(super) fn vacate(
        &mut self,
        who: Occupant,
        extents: &[Extent],
        tile_id: TileId,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<(), SimError> {
        self.mem
            .vacate(who, extents, now)
            .map_err(|e| self.map_error(e, who, tile_id))?;
        self.occupancy_counter(now, out);
        Ok(())
    }

    pub(super) fn map_error(&self, e: MapError, who: Occupant, tile_id: TileId) -> SimError {
        let what = self.occupant_name(who);
        SimError::Invariant(match e {
            MapError::Overflow { would_hold } => format!(
                "{}: allocating {what} before tile {tile_id} would put {would_hold} bits in a {}-bit SRAM",
                self.name, self.mem.capacity
            ),
            MapError::NotHeld(x) => format!(
                "{}: tile {tile_id} frees {}..{} of {what}, which is not allocated there",
                self.name,
                x.start,
                x.end()
            ),
            MapError::Overlap => format!("{}: {what} overlaps live data", self.name),
        })
    }

    pub(super) fn occupant_name(&self, who: Occupant) -> String {
        match who {
            Occupant::Object(o) => format!("object {o} ({})", object_name(&self.schedule, o)),
            Occupant::Staging(t) => format!("the staging area of tile {t}"),
        }
    }

    pub(super) fn occupancy_counter(&self, now: Cycle, out: &mut Outbox) {
        if let Some(t) = out.trace.as_deref_mut() {
            let name = format!("core{}", self.core);
            t.counter(&name, "global_sram_bits", now, self.mem.used() as f64);
        }
    }

    /// Whether what `t` reads was put there first: data leaving an SRAM written by
    /// the tiles before (for an `After` lane, the tile itself included), data read from
    /// DRAM or another core's SRAM put there by any core.
    fn source_ready(&self, kind: LaneKind, tile_id: TileId, t: &Transfer) -> bool {
        // Data leaving an SRAM must have been written first.
        if let Location::Sram { .. } = t.from {
            let limit = match kind {
                LaneKind::Before => tile_id,
                LaneKind::After => tile_id + 1,
            };
            let writers = &self.writers[t.object];
            if writers.iter().any(|&w| w < limit && !self.done[w]) {
                return false;
            }
        }
        // Data read from DRAM or another core's SRAM must have been put there first
        // (by any core).
        self.handoffs.source_ready(t, tile_id, &self.done)
    }

    /// The components a transfer passes, in order; `None` for DRAM to DRAM (nothing
    /// moves).
    fn transfer_hops(&self, t: &Transfer) -> Option<Vec<Hop>> {
        let at = |c: &Self, core: usize, write: bool| {
            let addr = c.mem.start_of(t.object);
            c.sram(
                core,
                if write {
                    HopKind::SramWrite { addr }
                } else {
                    HopKind::SramRead { addr }
                },
            )
        };
        Some(match (t.from, t.to) {
            (Location::Dram, Location::Sram { core }) => {
                [self.dram(core, false), vec![at(self, core, true)]].concat()
            }
            (Location::Sram { core }, Location::Dram) => {
                [vec![at(self, core, false)], self.dram(core, true)].concat()
            }
            (Location::Sram { core: a }, Location::Sram { core: b }) => {
                let pa = self.schedule.accelerator.cores[a].position;
                let pb = self.schedule.accelerator.cores[b].position;
                vec![
                    at(self, a, false),
                    Hop {
                        component: self.ids.noc,
                        kind: HopKind::Noc { from: pa, to: pb },
                    },
                    at(self, b, true),
                ]
            }
            (Location::Dram, Location::Dram) => return None,
        })
    }

    pub(super) fn start_transfer(
        &mut self,
        kind: LaneKind,
        tile_id: TileId,
        t: &Transfer,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<Waiting, SimError> {
        if !self.source_ready(kind, tile_id, t) {
            return Ok(Waiting::Writers);
        }
        let class = self.schedule.objects[t.object].class;
        let Some(hops) = self.transfer_hops(t) else {
            return Ok(Waiting::No);
        };
        if t.reason == Reason::Spill {
            self.incidents
                .spill(object_name(&self.schedule, t.object), class, t.bits);
            self.spilled.insert(t.object);
        }
        if t.reason == Reason::Reload && self.spilled.contains(&t.object) {
            self.incidents
                .reload(object_name(&self.schedule, t.object), class, t.bits);
        }
        let bits = self.schedule.objects[t.object].bits;
        let label = (out.trace.is_some() && self.traced(tile_id))
            .then(|| format!("{:?} {}", t.reason, object_name(&self.schedule, t.object)));
        tracing::debug!(
            core = self.core,
            tile = tile_id,
            reason = ?t.reason,
            object = %object_name(&self.schedule, t.object),
            bits,
            "transfer issued"
        );
        let owner = Owner::Lane(LaneTransfer {
            kind,
            tile: tile_id,
            object: t.object,
            remote_source: match t.from {
                Location::Sram { core } if core != self.core => Some(core),
                _ => None,
            },
            move_between_cores: matches!(
                (t.from, t.to),
                (Location::Sram { core: a }, Location::Sram { core: b }) if a != b
            ),
            to: t.to,
        });
        let payload = self.object_payload(t.object);
        let carries = self.object_carries(t.object);
        let whole = [t.object];
        let tag = self.issue_features(
            out,
            (owner, tile_id),
            (bits, bits),
            carries,
            (hops, Some((&whole, 0))),
            payload,
        );
        if let Some(label) = label {
            self.trace_labels.insert(tag, (label, bits));
        }
        if let Some(v) = out.validity.as_deref_mut() {
            v.transfer_issued(now, tile_id, tag, t, bits)?;
            if let Some(p) = payload {
                v.payload_carried(now, tile_id, t, p.nonzeros)?;
            }
        }
        *self.object_in_flight.entry(t.object).or_default() += 1;
        match kind {
            LaneKind::Before => self.before.in_flight += 1,
            LaneKind::After => self.after.in_flight += 1,
        }
        Ok(Waiting::No)
    }

    /// The features an object carries, counted from the spikes over the region the
    /// schedule's object table gives it (none for weights and state, or dense runs).
    fn object_payload(&self, o: ObjectId) -> Option<Payload> {
        let spikes = self.spikes.as_ref()?;
        let obj = &self.schedule.objects[o];
        let ObjectKind::Features { layer, t, ox } = &obj.kind else {
            return None;
        };
        let source = layer.map_or(Source::NetworkInput, Source::Layer);
        let tensor = spikes.tensor(source);
        let shape = self.schedule.workload.source_shape(source);
        let nonzeros = t
            .clone()
            .map(|t| tensor.count_box(t, 0..shape.height, ox.clone()))
            .sum();
        let columns = ox.end.min(shape.width).saturating_sub(ox.start);
        let timesteps = t.end.min(tensor.shape.timesteps).saturating_sub(t.start) as u64;
        Some(Payload {
            elements: shape.channels * shape.height * columns * timesteps,
            nonzeros,
            value_bits: shape.bits,
            address_bits: address_bits(shape.channels * shape.height * shape.width),
        })
    }
}
