//! One tile at a time, in schedule order: where its data goes (`place`), its mapping
//! and what it spends (`map_tile`), when it runs (`time`), what it leaves behind
//! (`settle`), and, when recording, the `ScheduledTile` (`record`). `finish` closes the
//! run and builds the predicted report.

use super::*;

/// Per core: the previous tile, when it started and ends, what it frees once the next
/// tile no longer overlaps it, and the staging area it streams through.
#[derive(Default, Clone)]
pub(super) struct CoreClock {
    prev: Option<TileId>,
    /// What the previous tile reads and writes, sorted ([`Engine::required`]): the
    /// next tile keeps it while prefetching.
    pub(super) prev_required: Objects,
    start: u64,
    free: u64,
    /// Of the previous tile's cycles, those it already waits on its buffers' fills and
    /// banks: data that holds the SRAM's ports then costs nothing more.
    hidden: u64,
    /// Whether the previous tile's passes write into the SRAM as they go (the pieces
    /// of what it streams in, landing in its staging area): then they wait for a port
    /// another landing holds. Its outputs alone do not hold up its passes.
    fills_through_sram: bool,
    pub(super) deferred: Vec<ObjectId>,
    /// Cycles its PE array computes, fill and drain included.
    busy: u64,
    /// Its bits and extents.
    staging: Option<(u64, Vec<Extent>)>,
}

/// Where a tile's data went before it runs.
pub(super) struct Placement<'g> {
    needs: Needs<'g>,
    /// [`Engine::required`] of the tile.
    required: Objects,
    streamed: [bool; 4],
    stream_budget_bits: u64,
    prefetching: bool,
    /// The actions before the tile runs (transfers, allocations, frees, staging).
    before: Vec<Action>,
    /// When those actions are all done: their lane waits at each free until the copy
    /// has been read out.
    lane_done: u64,
}

/// The run's clock and, when recording, its tiles.
pub(super) struct Walk {
    pub(super) cores: Vec<CoreClock>,
    pub(super) tile_end: Vec<u64>,
    pub(super) busy: u64,
    pub(super) stalls: [u64; StallCause::COUNT],
    pub(super) record: bool,
    pub(super) tiles: Vec<ScheduledTile>,
    /// Emptied action lists for reuse: a prediction keeps no actions, and allocating
    /// fresh lists for every tile was a large part of its time.
    spare: Vec<Vec<Action>>,
}

impl Walk {
    pub(super) fn new(cores: usize, tiles: usize, record: bool) -> Self {
        Self {
            cores: (0..cores).map(|_| CoreClock::default()).collect(),
            tile_end: vec![0; tiles],
            busy: 0,
            stalls: [0; StallCause::COUNT],
            record,
            tiles: Vec::with_capacity(if record { tiles } else { 0 }),
            spare: Vec::new(),
        }
    }

    /// An empty action list.
    fn actions(&mut self) -> Vec<Action> {
        self.spare.pop().unwrap_or_default()
    }

    /// Takes back a list whose actions are no longer needed.
    fn recycle(&mut self, mut actions: Vec<Action>) {
        actions.clear();
        self.spare.push(actions);
    }

    /// Actions that run after tile `p` (dropped when not recording). They only free
    /// and unstage: nothing they do is charged, so each tile's spend is what was
    /// charged while it was placed, mapped and settled.
    fn after(&mut self, p: Option<TileId>, actions: Vec<Action>) {
        if let Some(p) = p
            && self.record
        {
            self.tiles[p].after.extend(actions);
        } else {
            self.recycle(actions);
        }
    }
}

impl<'a> Engine<'a> {
    /// Chooses what the tile keeps resident and what it streams, decides whether its
    /// transfers overlap the previous tile (prefetch), brings in what it reads, reserves
    /// room for what it writes and reserves its staging area.
    pub(super) fn place(
        &mut self,
        w: &mut Walk,
        tile_id: TileId,
        options: SchedulerOptions,
        mapper: &mut Mapper,
    ) -> Placement<'a> {
        let tile = &self.graph.tiles[tile_id];
        let core = tile.core;
        // The lane starts with the frees of copies other cores have read.
        self.lane_free = std::mem::take(&mut self.remote_free_at[core]);
        let capacity = self.pads[core].capacity;
        let needs = self.needs(tile_id);
        let total: u64 = needs.sizes.iter().sum();
        // `room`: the SRAM a streaming tile may use (data held for a fused stack stays).
        let (streamed, room) = if total <= capacity {
            ([false; 4], capacity)
        } else {
            self.choose_streamed(tile_id, &needs, capacity, options.objective, mapper)
        };
        let resident_ops = resident_objects(&needs, streamed);
        let any_streamed = streamed.iter().any(|&s| s);
        let required = if any_streamed {
            Engine::required(&needs)
        } else {
            resident_ops.clone()
        };
        let (prefetching, pinned, earliest) =
            self.prefetch(w, core, &resident_ops, any_streamed, options.prefetch);
        self.vacancies[core].forget_until(earliest);
        // Copies this core holds for readers elsewhere that have finished.
        let mut before = w.actions();
        before.append(&mut self.remote_frees[core]);
        let mut after_prev = w.actions();
        if !prefetching {
            // The previous tile's frees happen first; their space is reused.
            self.release_previous(w, core, &mut after_prev);
        }
        self.bring_in(
            tile_id,
            &needs,
            &resident_ops,
            &pinned,
            earliest,
            &mut before,
        );
        self.write_back_streamed(tile_id, &needs, streamed, earliest, &mut before);
        // The staging area: what the resident operands leave of the SRAM.
        let resident_bits: u64 = (0..4)
            .filter(|&i| !streamed[i])
            .map(|i| needs.sizes[i])
            .sum();
        let stream_budget_bits = if any_streamed {
            room.saturating_sub(resident_bits)
        } else {
            0
        };
        if stream_budget_bits > 0 {
            self.reserve_staging(
                w,
                core,
                stream_budget_bits,
                (&pinned, earliest),
                &mut before,
            );
        }
        let lane_done = self.lane_free;
        if prefetching {
            self.release_previous(w, core, &mut after_prev);
        }
        let prev = w.cores[core].prev;
        w.after(prev, after_prev);
        self.sram_contention(w);
        Placement {
            needs,
            required,
            streamed,
            stream_budget_bits,
            prefetching,
            before,
            lane_done,
        }
    }

    /// Data landing in a core's global SRAM while its previous tile runs holds the
    /// write ports of the banks it passes through until it is all in. A tile whose
    /// passes write into the SRAM (the pieces it streams in, landing piece by piece all
    /// over its staging area) waits at those that go to one of those banks: it lasts
    /// as much longer as that share of the rest of the landing from its start, beyond
    /// the cycles it waits on its buffers anyway. A tile whose outputs or state go to
    /// one of them computes on and ends once they are in: no earlier than the landing.
    fn sram_contention(&mut self, w: &mut Walk) {
        let holds: SmallVec<[ports::SramHold; 4]> = self.ports.take_sram_holds().collect();
        for hold in holds {
            let clock = &w.cores[hold.core];
            let Some(prev) = clock.prev.filter(|_| hold.start < clock.free) else {
                continue;
            };
            let layout = self.acc.cores[hold.core].global_sram().bank_layout();
            let held: SmallVec<[u64; 8]> = layout
                .pieces(hold.addr, hold.bits)
                .map(|(b, _)| b)
                .collect();
            // Of `extents`' bits, those in a held bank.
            let in_held = |extents: &[Extent]| -> u64 {
                extents
                    .iter()
                    .flat_map(|e| layout.pieces(e.start, e.len))
                    .filter(|(b, _)| held.contains(b))
                    .map(|(_, bits)| bits)
                    .sum()
            };
            let staging = clock
                .staging
                .as_ref()
                .map_or(&[][..], |(_, e)| e.as_slice());
            let staged_held = in_held(staging);
            let staged_bits: u64 = staging.iter().map(|e| e.len).sum();
            let t = &self.graph.tiles[prev];
            let state = t.state.filter(|_| t.writes_state);
            let end_waits = [Some(t.output), state]
                .into_iter()
                .flatten()
                .any(|o| in_held(self.extents_of(o, hold.core)) > 0);
            let clock = &mut w.cores[hold.core];
            let mut extra = 0;
            if clock.fills_through_sram && staged_held > 0 {
                // The overlap runs to the landing's end, not the tile's planned one.
                let whole = hold.end.saturating_sub(hold.start.max(clock.start));
                let overlap = (u128::from(whole) * u128::from(staged_held)
                    / u128::from(staged_bits.max(1))) as u64;
                let hidden = overlap.min(clock.hidden);
                clock.hidden -= hidden;
                extra = overlap - hidden;
            }
            if end_waits {
                extra = extra.max(hold.end.saturating_sub(clock.free));
            }
            clock.free += extra;
            w.tile_end[prev] += extra;
            w.stalls[StallCause::BankConflict.index()] += extra;
            if let Some(kept) = w.tiles.iter_mut().rev().find(|t| t.tile.id == prev) {
                kept.predicted.end_cycle += extra;
            }
        }
    }

    /// Whether the tile's transfers overlap the previous tile on `core`: when its
    /// data fits beside the previous tile's and neither streams. Returns that, the
    /// objects its evictions must keep (sorted, for binary search) and the cycle its
    /// transfers may start.
    fn prefetch(
        &self,
        w: &Walk,
        core: usize,
        resident_ops: &Objects,
        any_streamed: bool,
        allowed: bool,
    ) -> (bool, Objects, u64) {
        let capacity = self.pads[core].capacity;
        let clock = &w.cores[core];
        let mut union = resident_ops.clone();
        union.extend(
            clock
                .prev_required
                .iter()
                .copied()
                .filter(|&o| self.is_resident(o, core)),
        );
        union.sort_unstable();
        union.dedup();
        let union_bits: u64 = union.iter().map(|&o| self.graph.objects[o].bits).sum();
        // A streaming tile writes streamed inputs or state back and drops them, and
        // reserves the rest of the SRAM as its staging area: neither may race the
        // previous tile, nor may anything overlap a staging area the previous tile holds.
        let prefetching = allowed
            && clock.prev.is_some()
            && union_bits <= capacity
            && !any_streamed
            && clock.staging.is_none();
        if prefetching {
            (true, union, clock.start)
        } else {
            (false, resident_ops.clone(), clock.free)
        }
    }

    /// Makes room for and reserves a streaming tile's staging area on `core`.
    fn reserve_staging(
        &mut self,
        w: &mut Walk,
        core: usize,
        bits: u64,
        (pinned, earliest): (&Objects, u64),
        before: &mut Vec<Action>,
    ) {
        self.make_room(core, bits, pinned, earliest, before);
        if let Some(extents) = self.alloc_extents(core, bits) {
            if self.record_actions {
                before.push(Action::Stage {
                    core,
                    extents: extents.clone(),
                });
            }
            w.cores[core].staging = Some((bits, extents));
        }
    }

    /// Frees the previous tile's finished data and releases its staging area.
    fn release_previous(&mut self, w: &mut Walk, core: usize, actions: &mut Vec<Action>) {
        let clock = &mut w.cores[core];
        let ended = clock.free;
        self.release(
            (core, ended),
            &mut clock.deferred,
            &mut clock.staging,
            actions,
        );
    }

    /// Fetches what the tile reads and allocates what it writes.
    fn bring_in(
        &mut self,
        tile_id: TileId,
        needs: &Needs,
        resident_ops: &[ObjectId],
        pinned: &[ObjectId],
        earliest: u64,
        before: &mut Vec<Action>,
    ) {
        let tile = &self.graph.tiles[tile_id];
        let core = tile.core;
        for &o in resident_ops {
            if self.is_resident(o, core) {
                continue;
            }
            let has_data = !self.objs[o].copies.is_empty() || self.objs[o].in_dram;
            let is_new = o == needs.output || (Some(o) == needs.state && !tile.reads_state);
            if is_new || !has_data {
                self.allocate(o, core, pinned, earliest, before);
            } else {
                self.fetch(o, core, pinned, earliest, before);
            }
        }
    }

    /// Streamed operands are read from DRAM: make sure it holds them; streamed state
    /// leaves the SRAM.
    fn write_back_streamed(
        &mut self,
        tile_id: TileId,
        needs: &Needs,
        streamed: [bool; 4],
        earliest: u64,
        before: &mut Vec<Action>,
    ) {
        let tile = &self.graph.tiles[tile_id];
        if streamed[Operand::I.index()] {
            for &o in needs.inputs {
                self.write_back(o, earliest, before);
            }
        }
        if streamed[Operand::V.index()]
            && let Some(s) = needs.state
        {
            if tile.reads_state {
                self.write_back(s, earliest, before);
            }
            self.free_everywhere(s, (tile.core, FreeIn::Lane), before);
        }
    }

    /// The tile's mapping for its residency and staging area, with what it spends
    /// entered in the ledger.
    pub(super) fn map_tile(
        &mut self,
        tile_id: TileId,
        placed: &Placement,
        objective: Objective,
        mapper: &mut Mapper,
    ) -> Result<Arc<TileCost>, ScheduleError> {
        let tile = &self.graph.tiles[tile_id];
        let residency = Residency {
            streamed: placed.streamed,
        };
        let by_tile = tile_costs::TileKey {
            layer: tile.layer,
            region: tile.region.clone(),
            core: tile.core,
            residency,
            stream_budget_bits: placed.stream_budget_bits,
            objective,
        };
        let cost = match self.costs.at_position(tile_id, &by_tile) {
            Some(cost) => cost.clone(),
            None => {
                let cost = self.tile_cost(by_tile.clone(), mapper).map_err(|reason| {
                    ScheduleError::Unmappable {
                        tile: tile_id,
                        layer: self.workload.layers[tile.layer].name.clone(),
                        reason,
                    }
                })?;
                self.costs.keep_at(tile_id, by_tile, cost.clone());
                cost
            }
        };
        let m = &cost.mapping;
        for (ci, row) in cost.energy_fj.iter().enumerate() {
            for (si, fj) in row.iter().enumerate() {
                self.ledger.energy_fj[ci][si] += fj;
            }
        }
        for c in DataClass::ALL {
            self.ledger
                .dram(c, cost.dram_read[c.index()], cost.dram_write[c.index()]);
        }
        let dram = &self.acc.dram;
        self.ledger.dram_activates += dram.activates_estimate(cost.dram_read.iter().sum())
            + dram.activates_estimate(cost.dram_write.iter().sum());
        for op in Operand::ALL {
            if self
                .workload
                .is_attention_operand(&self.attention_tensors, tile.layer, op)
            {
                self.ledger.dram_attention_bits += cost.dram_by_operand[op.index()];
            }
        }
        self.ledger.noc_bits += cost.noc_bits;
        self.ledger.macs += m.macs;
        self.ledger.sops += m.sops;
        self.ledger.other_ops += m.other_ops;
        for (component, row) in Component::ALL.into_iter().zip(&cost.energy_fj) {
            self.spend.energy(component, row.iter().sum());
        }
        self.spend
            .dram(cost.dram_read.iter().sum(), cost.dram_write.iter().sum());
        self.spend.noc_bits += cost.noc_bits;
        self.spend.macs += m.macs;
        self.spend.sops += m.sops;
        self.spend.other_ops += m.other_ops;
        if residency.any_streamed() {
            let has_state = placed.needs.state.is_some();
            self.incidents.streamed(
                tile.layer,
                Operand::ALL
                    .into_iter()
                    .filter(|&op| residency.is_streamed(op) && (op != Operand::V || has_state)),
            );
        }
        Ok(cost)
    }

    /// The cost of the tile `by_tile` describes: kept by tile, else by its mapping key.
    pub(super) fn tile_cost(
        &mut self,
        by_tile: tile_costs::TileKey,
        mapper: &mut Mapper,
    ) -> Result<Arc<TileCost>, NoMapping> {
        if let Some(cost) = self.costs.of_tile(&by_tile) {
            return Ok(cost.clone());
        }
        let layer = &self.workload.layers[by_tile.layer];
        let key = MapKey {
            shape: CtShape::new(self.workload, layer, &by_tile.region),
            core: by_tile.core,
            residency: by_tile.residency,
            stream_budget_bits: by_tile.stream_budget_bits,
            objective: by_tile.objective,
        };
        let cost = self.cost(key, by_tile.core, mapper)?;
        self.costs.insert_tile(by_tile, cost.clone());
        Ok(cost)
    }

    /// When the tile runs: after its core is free, its producers have finished and its
    /// transfers are done; the idle time before it is charged to the later of the last
    /// two. Returns (start, end).
    /// A streaming tile's DRAM traffic crosses the mesh when its core is away from the
    /// DRAM's node: its reads hold the links from the DRAM at the DRAM's rate, its
    /// writes the links towards it at a bank port's rate, as the simulator's fills and
    /// stores do (booked from the tile's start, as one stretch per link).
    fn stream_over_noc(&mut self, core: usize, cost: &TileCost, start: u64) {
        let (dram_at, core_at) = (self.acc.dram.position, self.acc.cores[core].position);
        if dram_at == core_at {
            return;
        }
        let read: u64 = cost.dram_read.iter().sum();
        let write: u64 = cost.dram_write.iter().sum();
        let bank = self.acc.cores[core].global_sram().read_bw_bits_per_bank;
        let noc = &self.acc.noc;
        let dram_bw = self.acc.dram.stream_bits_per_cycle();
        self.ports
            .occupy_links(noc, (dram_at, core_at), read, dram_bw, start);
        self.ports
            .occupy_links(noc, (core_at, dram_at), write, bank, start);
    }

    pub(super) fn time(
        &mut self,
        w: &mut Walk,
        tile_id: TileId,
        placed: &Placement,
        cost: &TileCost,
    ) -> (u64, u64) {
        let tile = &self.graph.tiles[tile_id];
        let core = tile.core;
        let last_transfer = placed
            .before
            .iter()
            .filter_map(|a| match a {
                Action::Transfer(t) => Some((t.predicted_end, t.reason == Reason::Move)),
                _ => None,
            })
            .max();
        let transfers_done = last_transfer
            .map_or(0, |(end, _)| end)
            .max(placed.lane_done);
        let deps_done = tile.deps.iter().map(|&d| w.tile_end[d]).max().unwrap_or(0);
        let free = w.cores[core].free;
        let start = free.max(transfers_done).max(deps_done);
        // Idle first for the producers, then for the transfers that landed last.
        if start > free {
            let waiting_deps = deps_done.saturating_sub(free).min(start - free);
            w.stalls[StallCause::Dependency.index()] += waiting_deps;
            let cause = match last_transfer {
                Some((_, true)) => StallCause::NocLink,
                Some((_, false)) => StallCause::DramPort,
                None => StallCause::Dependency,
            };
            w.stalls[cause.index()] += start - free - waiting_deps;
        }
        for (total, s) in w.stalls.iter_mut().zip(cost.stalls) {
            *total += s;
        }
        let c = &cost.mapping.cycles;
        let lookahead::Window {
            wait: window,
            bank_reads,
        } = self.first_fills(tile_id, placed, cost);
        self.ports
            .hold_bank_reads(core, bank_reads.iter().map(|&(b, c)| (b, start + c)));
        w.stalls[StallCause::BankConflict.index()] += window;
        let mut end = start + c.total + window;
        let busy = c.compute + c.fill_drain + c.drain_bound;
        w.busy += busy;
        w.cores[core].busy += busy;
        self.ports.occupancy.sram_tile_cycles += cost.sram_bank_cycles;
        if placed.streamed.iter().any(|&s| s) {
            let bus_cycles = self.occupy_streamed_dram(cost);
            let shared = self
                .ports
                .stream_dram(core, start, (end - start, bus_cycles));
            w.stalls[StallCause::DramPort.index()] += shared.saturating_sub(end);
            end = shared;
            self.stream_over_noc(core, cost, start);
        }
        w.tile_end[tile_id] = end;
        w.cores[core].start = start;
        w.cores[core].free = end;
        w.cores[core].fills_through_sram = [Operand::W, Operand::I, Operand::V]
            .iter()
            .any(|op| placed.streamed[op.index()]);
        w.cores[core].hidden = cost.stalls[StallCause::LocalBufferBandwidth.index()]
            + cost.stalls[StallCause::BankConflict.index()]
            + window;
        (start, end)
    }

    /// The DRAM accesses of a streaming tile's passes: one per pass and operand.
    /// Returns the bus cycles of their data.
    fn occupy_streamed_dram(&mut self, cost: &TileCost) -> u64 {
        let d = &self.acc.dram;
        let reads: u64 = cost.dram_read.iter().sum();
        let writes: u64 = cost.dram_write.iter().sum();
        let operands = cost.dram_by_operand.iter().filter(|&&b| b > 0).count() as u64;
        let accesses = cost.mapping.cycles.folds.max(1) * operands;
        let data = d.occupancy_rw_cycles(reads, writes);
        let o = &mut self.ports.occupancy;
        o.dram_cycles += data + accesses * d.turnaround(true, false).max(d.turnaround(false, true));
        o.streamed_accesses += accesses;
        data
    }

    /// The tile's first fills, from where its resident W and I lie (`lookahead`).
    fn first_fills(
        &self,
        tile_id: TileId,
        placed: &Placement,
        cost: &TileCost,
    ) -> lookahead::Window {
        let tile = &self.graph.tiles[tile_id];
        let core = &self.acc.cores[tile.core];
        let global = core.global_sram();
        let mut feeds: SmallVec<[lookahead::Feed; 2]> = SmallVec::new();
        for (op, &fills) in [Operand::W, Operand::I].iter().zip(&cost.fills) {
            let Some((_, buffer)) = core.local_buffer(*op).filter(|_| fills.bits > 0) else {
                continue;
            };
            if placed.streamed[op.index()] {
                continue;
            }
            let objects = if *op == Operand::W {
                &tile.weights
            } else {
                &tile.inputs
            };
            // The window reads the data up to its last fill only; a tile may read
            // dozens of chunks, each in several extents.
            let last_fill = fills.last_in_window(cost.mapping.cycles.folds);
            let mut extents: SmallVec<[Extent; 8]> = SmallVec::new();
            let mut total = 0u64;
            for &o in objects {
                for e in self.extents_of(o, tile.core) {
                    if total <= last_fill {
                        extents.push(*e);
                    }
                    total += e.len;
                }
            }
            // As the mapper's bank rate has it (`busiest_bank_cycles`).
            let span = global.banks_spanned(total).unwrap_or(global.banks);
            feeds.push(lookahead::Feed {
                extents,
                fills,
                buffer_bw: buffer.write_bw_bits(),
                span,
            });
        }
        let c = &cost.mapping.cycles;
        let banks = lookahead::Banks {
            layout: global.bank_layout(),
            read_bw: global.read_bw_bits_per_bank,
        };
        let pass_cycles = (c.compute + c.fill_drain + c.drain_bound) / c.folds.max(1);
        lookahead::window(banks, &feeds, c.folds, pass_cycles)
    }

    /// After the tile: consumed data loses a use, its output and state settle, a
    /// network output goes to DRAM. Returns the actions after the tile.
    pub(super) fn settle(
        &mut self,
        w: &mut Walk,
        tile_id: TileId,
        placed: &Placement,
        end: u64,
    ) -> Vec<Action> {
        // The after lane is a lane of its own.
        self.lane_free = 0;
        let tile = &self.graph.tiles[tile_id];
        let core = tile.core;
        let needs = &placed.needs;
        let streamed = placed.streamed;
        let mut after = w.actions();
        let deferred = &mut w.cores[core].deferred;
        let consumed = needs
            .weights
            .iter()
            .chain(needs.inputs.iter())
            .chain(needs.state.iter().filter(|_| tile.reads_state));
        for &o in consumed {
            self.objs[o].read(&self.graph.objects[o].readers);
            if self.objs[o].remaining == 0 {
                deferred.push(o);
            }
        }
        if let Some(s) = needs.state
            && tile.writes_state
        {
            let st = &mut self.objs[s];
            st.in_dram = streamed[Operand::V.index()];
            st.ready_at = end;
        }
        let out = needs.output;
        self.objs[out].ready_at = end;
        self.objs[out].in_dram = streamed[Operand::O.index()];
        self.objs[out].fetched = true;
        if self.graph.objects[out].network_output {
            if !streamed[Operand::O.index()] {
                let t = self.transfer(
                    out,
                    Location::Sram { core },
                    Location::Dram,
                    Reason::Output,
                    end,
                );
                after.push(Action::Transfer(t));
                self.objs[out].in_dram = true;
            }
            w.cores[core].deferred.push(out);
        } else if self.objs[out].remaining == 0 {
            w.cores[core].deferred.push(out);
        }
        w.cores[core].prev = Some(tile_id);
        w.cores[core].prev_required.clone_from(&placed.required);
        after
    }

    /// Keeps the tile with its nest, actions and prediction (when recording).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &mut self,
        w: &mut Walk,
        tile_id: TileId,
        placed: Placement,
        cost: &TileCost,
        (start, end): (u64, u64),
        after: Vec<Action>,
    ) {
        let spend = std::mem::take(&mut self.spend);
        if !w.record {
            w.recycle(placed.before);
            w.recycle(after);
            return;
        }
        let tile = &self.graph.tiles[tile_id];
        let m = &cost.mapping;
        w.tiles.push(ScheduledTile {
            tile: tile.clone(),
            layer_name: self.workload.layers[tile.layer].name.clone(),
            streamed: Operand::ALL
                .into_iter()
                .filter(|&op| placed.streamed[op.index()])
                .collect(),
            stream_budget_bits: placed.stream_budget_bits,
            loop_nest: m.loop_nest.clone(),
            reduction_loops: m.reduction_loops,
            unroll: Some(m.spatial.unroll()),
            boundaries: m.boundaries.clone(),
            prefetched: placed.prefetching,
            before: placed.before,
            after,
            predicted: TilePrediction {
                start_cycle: start,
                end_cycle: end,
                cycles: m.cycles.total,
                energy_pj: m.energy_pj.total,
                array: crate::schedule::ArrayCycles {
                    folds: m.cycles.folds,
                    compute: m.cycles.compute,
                    fill_drain: m.cycles.fill_drain,
                    drain_bound: m.cycles.drain_bound,
                    spatial_utilization: m.cycles.spatial_utilization,
                },
                spend: Some(spend),
            },
        });
    }

    /// Enters the spills and reloads in the incidents, summed per tensor before naming
    /// it: a run may spill thousands of its chunks.
    fn name_spills(&mut self) {
        let mut by_tensor: std::collections::BTreeMap<_, [u64; 4]> = Default::default();
        let add = |total: &mut [u64; 4], counts: [u64; 4]| {
            for (t, n) in total.iter_mut().zip(counts) {
                *t += n;
            }
        };
        // Summed over each run of one tensor's chunks (their ids are consecutive) before
        // the map: thousands of chunks spill in a schedule, a handful of tensors.
        let mut run: Option<((crate::tiling::graph::Tensor, DataClass), [u64; 4])> = None;
        for (o, &counts) in self.spills.iter().enumerate() {
            if counts[0] > 0 {
                let object = &self.graph.objects[o];
                let name = (object.kind.tensor(), object.class);
                match &mut run {
                    Some((now, total)) if *now == name => add(total, counts),
                    _ => {
                        if let Some((name, total)) = run.replace((name, counts)) {
                            add(by_tensor.entry(name).or_default(), total);
                        }
                    }
                }
            }
        }
        if let Some((name, total)) = run {
            add(by_tensor.entry(name).or_default(), total);
        }
        for ((tensor, class), counts) in by_tensor {
            let name = tensor.describe(self.workload);
            self.incidents.spills_and_reloads(name, class, counts);
        }
    }

    /// The last frees, the waits after each core's last tile, spills by name, and the
    /// predicted report.
    pub(super) fn finish(
        &mut self,
        w: &mut Walk,
        spec: &ScheduleSpec,
        options: SchedulerOptions,
    ) -> Report {
        for core in 0..w.cores.len() {
            let mut acts = Vec::new();
            self.release_previous(w, core, &mut acts);
            let prev = w.cores[core].prev;
            w.after(prev, acts);
        }
        // Copies kept for readers on other cores, now all finished.
        for core in 0..w.cores.len() {
            let remote = std::mem::take(&mut self.remote_frees[core]);
            let prev = w.cores[core].prev;
            w.after(prev, remote);
        }
        let latency = w
            .tile_end
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(self.ports.dram_busy_until());
        // After its last tile an array waits for the run to end: for its own writes to
        // DRAM when it finished last, otherwise for the other cores.
        let last_free = w.cores.iter().map(|c| c.free).max().unwrap_or(0);
        for clock in &w.cores {
            if clock.prev.is_some() {
                let cause = if clock.free == last_free {
                    StallCause::DramPort
                } else {
                    StallCause::Dependency
                };
                w.stalls[cause.index()] += latency - clock.free;
            }
        }
        self.name_spills();
        let peak = self.pads.iter().map(|p| p.peak).max().unwrap_or(0);
        Report::new(
            ReportHeader {
                source: "predicted",
                workload: self.workload,
                hardware: self.acc.label(),
                hardware_overrides: self.acc.overrides.clone(),
                global_sram_bits: self.acc.cores[0].global_sram().size_bits,
                schedule: spec.entries(),
                prefetch: options.prefetch,
                measured_activity: None,
            },
            &self.ledger,
            ReportTiming {
                static_pj: self.acc.static_energy_pj(latency),
                dram_activate_pj: self.acc.dram.activate_energy_pj(self.ledger.dram_activates),
                clock_mhz: self.acc.clock_mhz,
                latency_cycles: latency,
                busy_cycles: w.busy,
                stall_cycles: w.stalls,
                latency_bounds: Some(bounds::latency_bounds(
                    self.acc,
                    latency,
                    w.cores.iter().map(|c| c.busy),
                    &self.ledger,
                    &self.ports,
                )),
                peak_global_sram_bits: peak,
                noc_busy_cycles: self.ports.busiest_link_cycles(),
                tiles: self.graph.tiles.len() as u64,
            },
            &self.incidents,
        )
    }
}

/// The objects of the operands that stay resident, sorted.
fn resident_objects(needs: &Needs, streamed: [bool; 4]) -> Objects {
    let mut v = Objects::new();
    if !streamed[Operand::W.index()] {
        v.extend(needs.weights.iter().copied());
    }
    if !streamed[Operand::V.index()] {
        v.extend(needs.state);
    }
    if !streamed[Operand::I.index()] {
        v.extend(needs.inputs.iter().copied());
    }
    if !streamed[Operand::O.index()] {
        v.push(needs.output);
    }
    v.sort_unstable();
    v.dedup();
    v
}
