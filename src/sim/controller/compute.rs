//! A controller's compute stage: a tile starts when its before actions, its
//! dependencies and the previous tile allow; its passes go to the PE array with their
//! buffer fills prepared ahead; its results are written as the passes finish.

use super::*;

impl Controller {
    /// Whether the schedule gives this core any tile.
    pub fn has_tiles(&self) -> bool {
        !self.tiles.is_empty()
    }

    /// Books the cycles the array idled before this tile (or the start): first for
    /// the tiles it depends on (other cores' producers), then for this tile's transfers
    /// when they landed last (a NoC move or the DRAM), otherwise for other work.
    fn account_idle(
        &mut self,
        st: &crate::schedule::ScheduledTile,
        local: usize,
        now: Cycle,
        out: &mut Outbox,
    ) {
        let tile_id = self.tiles[local];
        let idle = now.saturating_sub(self.pe_free_at);
        if idle == 0 {
            return;
        }
        let deps_at = st.tile.deps.iter().map(|&d| self.done_at[d]).max();
        let waiting_deps = deps_at
            .unwrap_or(0)
            .saturating_sub(self.pe_free_at)
            .min(idle);
        let rest_cause = if self.before_done_at[local] >= now && !st.before.is_empty() {
            if self.before_over_noc[local] {
                StallCause::NocLink
            } else {
                StallCause::DramPort
            }
        } else {
            StallCause::Dependency
        };
        let split = self.pe_free_at + waiting_deps;
        for (cause, from, to) in [
            (StallCause::Dependency, self.pe_free_at, split),
            (rest_cause, split, now),
        ] {
            if to > from {
                self.stalls[cause.index()] += to - from;
                self.trace_stall(tile_id, cause, from, to, out);
            }
        }
    }

    pub(super) fn try_start_compute(
        &mut self,
        now: Cycle,
        out: &mut Outbox,
    ) -> Result<bool, SimError> {
        if self.computing.is_some() || self.next_compute >= self.tiles.len() {
            return Ok(false);
        }
        let local = self.next_compute;
        if !self.before_done[local] || (local > 0 && !self.compute_done[local - 1]) {
            return Ok(false);
        }
        let tile_id = self.tiles[local];
        let schedule = Arc::clone(&self.schedule);
        let st = &schedule.tiles[tile_id];
        if st.tile.deps.iter().any(|&d| !self.done[d])
            || !self.handoffs.streams_ready(&schedule, tile_id, &self.done)
        {
            return Ok(false);
        }
        self.account_idle(st, local, now, out);
        if let Some(v) = out.validity.as_deref_mut() {
            v.tile_start(now, tile_id, self.core)?;
        }
        let w = &self.schedule.workload;
        let layer = &w.layers[st.tile.layer];
        let shape = CtShape::new(w, layer, &st.tile.region);
        let core = &self.schedule.accelerator.cores[self.core];
        let drain = core.drain_cycles(shape.precision.o as u64);
        let spikes = self
            .spikes
            .as_ref()
            .map(|sp| TileSpikes::of(sp, w, st.tile.layer, &st.tile.region));
        let dram_compressed = !self.schedule.accelerator.dram.feature_format.is_dense();
        let program =
            TileProgram::new(shape, core, st, w.timesteps, spikes).dram_compressed(dram_compressed);
        let mut streamed = [false; 4];
        for op in &st.streamed {
            streamed[op.index()] = true;
        }
        if !st.streamed.is_empty() {
            self.incidents
                .streamed(st.tile.layer, st.streamed.iter().copied());
        }
        tracing::debug!(core = self.core, tile = tile_id, layer = %st.layer_name, "tile starts");
        self.compute_started[local] = true;
        self.computing = Some(Computing {
            local,
            tile: tile_id,
            program,
            prepared: Default::default(),
            next_seq: 0,
            running: None,
            pass_started: now,
            writes: 0,
            start: now,
            cursor: [0; 4],
            streamed,
            staging: self.mem.staging(tile_id),
            drain,
        });
        self.prepare_next(out)?;
        Ok(true)
    }

    /// Takes passes from the program, up to the look-ahead depth, and issues their fills.
    pub(super) fn prepare_next(&mut self, out: &mut Outbox) -> Result<(), SimError> {
        let Some(mut c) = self.computing.take() else {
            return Ok(());
        };
        while c.prepared.len() < LOOKAHEAD_PASSES {
            let Some(work) = c.program.next_pass() else {
                break;
            };
            let seq = c.next_seq;
            c.next_seq += 1;
            let schedule = Arc::clone(&self.schedule);
            let st = &schedule.tiles[c.tile];
            let mut waiting = 0;
            for f in &work.fills {
                let class = self.carries(c.tile, f.operand);
                let objects = operand_objects(&self.schedule, c.tile, f.operand);
                let oi = f.operand.index();
                let now = out.now();
                if f.staged
                    && let Some(v) = out.validity.as_deref_mut()
                    && let Err(violation) = v.stream_fill(now, c.tile, f.operand, f.bits)
                {
                    self.computing = Some(c);
                    return Err(violation.into());
                }
                let hops = match f.target {
                    FillTarget::StreamArea => {
                        let addr = c.staging_address(oi);
                        let mut hops = self.dram(self.core, false);
                        hops.push(self.sram(self.core, HopKind::SramWrite { addr }));
                        hops
                    }
                    FillTarget::Buffer(m) => {
                        let addr = if c.streamed[oi] {
                            c.staging_address(oi)
                        } else {
                            self.address(&objects, c.cursor[oi])
                        };
                        vec![
                            self.sram(self.core, HopKind::SramRead { addr }),
                            Hop {
                                component: self.ids.buffers[self.core][&m],
                                kind: HopKind::BufferWrite,
                            },
                        ]
                    }
                };
                let at = c.cursor[oi];
                c.cursor[oi] += f.bits;
                self.issue_features(
                    out,
                    (Owner::Fill(seq), c.tile),
                    (f.bits, f.chunk_bits),
                    class,
                    (hops, Some((&objects, at))),
                    f.payload,
                );
                waiting += 1;
            }
            if work.v_load_bits > 0 {
                let hops = self.state_route(&c, st.tile.state, false);
                self.issue(
                    out,
                    (Owner::Fill(seq), c.tile),
                    (work.v_load_bits, work.v_load_bits),
                    (DataClass::V, false),
                    hops,
                    Some((st.tile.state.as_slice(), c.cursor[Operand::V.index()])),
                );
                waiting += 1;
            }
            c.prepared.push_back(Prepared {
                seq,
                work,
                waiting,
                cause: StallCause::Dependency,
            });
        }
        self.computing = Some(c);
        Ok(())
    }

    /// Route of a state load (`store` = false) or store, resident or streamed.
    pub(super) fn state_route(
        &self,
        c: &Computing,
        state: Option<ObjectId>,
        store: bool,
    ) -> Vec<Hop> {
        let vi = Operand::V.index();
        if c.streamed[vi] {
            let addr = c.staging_address(vi);
            if store {
                self.staged_to_dram(addr)
            } else {
                let mut hops = self.dram(self.core, false);
                hops.push(self.sram(self.core, HopKind::SramWrite { addr }));
                hops.push(self.sram(self.core, HopKind::SramRead { addr }));
                hops
            }
        } else {
            let addr = self.address(&state.into_iter().collect::<Vec<_>>(), c.cursor[vi]);
            vec![self.sram(
                self.core,
                if store {
                    HopKind::SramWrite { addr }
                } else {
                    HopKind::SramRead { addr }
                },
            )]
        }
    }

    /// Sends the prepared pass to the PE array when the array is free and its fills
    /// have landed.
    pub(super) fn try_run_pass(&mut self, now: Cycle, out: &mut Outbox) -> Result<bool, SimError> {
        let Some(c) = self.computing.as_mut() else {
            return Ok(false);
        };
        if c.running.is_some() {
            return Ok(false);
        }
        let ready = c.prepared.front().is_some_and(|p| p.waiting == 0);
        if !ready {
            return Ok(false);
        }
        let Some(p) = c.prepared.pop_front() else {
            return Ok(false);
        };
        // Time the array waited for this pass's data.
        let idle = now.saturating_sub(self.pe_free_at.max(c.start));
        let tile = c.tile;
        let drain = c.drain;
        if idle > 0 {
            self.stalls[p.cause.index()] += idle;
            self.trace_stall(tile, p.cause, now - idle, now, out);
        }
        let kind = self.schedule.workload.layers[self.schedule.tiles[tile].tile.layer].op;
        let buffer_reads = p
            .work
            .buffer_reads
            .iter()
            .map(|&(m, op, bits)| {
                (
                    self.ids.buffers[self.core][&m],
                    bits,
                    DataClass::of(kind, op),
                )
            })
            .collect();
        let pass = Pass {
            tag: 0,
            reply_to: self.me,
            cycles: p.work.cycles,
            drain,
            last: p.work.last,
            buffer_reads,
            macs: p.work.macs,
            sops: p.work.sops,
            other_ops: p.work.other_ops,
            tile,
            traced: self.traced(tile),
        };
        out.send(now, self.ids.pe[self.core], Message::Pass(Box::new(pass)));
        if let Some(c) = self.computing.as_mut() {
            c.running = Some(p.work);
            c.pass_started = now;
        }
        self.prepare_next(out)?;
        Ok(true)
    }

    pub(super) fn pass_done(
        &mut self,
        now: Cycle,
        buffer_stall: Cycle,
        out: &mut Outbox,
    ) -> Result<(), SimError> {
        let Some(mut c) = self.computing.take() else {
            return Err(SimError::Internal(format!(
                "{}: pass done with no tile",
                self.name
            )));
        };
        let Some(work) = c.running.take() else {
            return Err(SimError::Internal(format!(
                "{}: unexpected pass done",
                self.name
            )));
        };
        // The array computed for the pass minus the cycles it starved for operands.
        let busy = (now - c.pass_started).saturating_sub(buffer_stall);
        self.busy += busy;
        self.tile_busy[c.local] += busy;
        self.stalls[StallCause::LaneImbalance.index()] += work.lane_imbalance;
        self.stalls[StallCause::LocalBufferBandwidth.index()] += buffer_stall;
        if buffer_stall > 0 {
            // The starved cycles stretch the pass; drawn at its end.
            self.trace_stall(
                c.tile,
                StallCause::LocalBufferBandwidth,
                now - buffer_stall.min(now - c.pass_started),
                now,
                out,
            );
        }
        self.pe_free_at = now;
        let schedule = Arc::clone(&self.schedule);
        let st = &schedule.tiles[c.tile];
        let oi = Operand::O.index();
        if work.o_bits > 0 {
            let hops = if c.streamed[oi] {
                self.staged_to_dram(c.staging_address(oi))
            } else {
                let addr = self.address(&[st.tile.output], c.cursor[oi]);
                vec![self.sram(self.core, HopKind::SramWrite { addr })]
            };
            let at = c.cursor[oi];
            c.cursor[oi] += work.o_bits;
            self.issue_features(
                out,
                (Owner::Write, c.tile),
                (work.o_bits, work.o_bits),
                self.carries(c.tile, Operand::O),
                (hops, Some((&[st.tile.output], at))),
                work.o_payload,
            );
            c.writes += 1;
        }
        if work.v_store_bits > 0 {
            let hops = self.state_route(&c, st.tile.state, true);
            let at = c.cursor[Operand::V.index()];
            c.cursor[Operand::V.index()] += work.v_store_bits;
            self.issue(
                out,
                (Owner::Write, c.tile),
                (work.v_store_bits, work.v_store_bits),
                (DataClass::V, false),
                hops,
                Some((st.tile.state.as_slice(), at)),
            );
            c.writes += 1;
        }
        self.computing = Some(c);
        Ok(())
    }

    pub(super) fn try_finish_compute(&mut self, now: Cycle, out: &mut Outbox) -> bool {
        let finished = self
            .computing
            .as_ref()
            .is_some_and(|c| c.running.is_none() && c.prepared.is_empty() && c.writes == 0);
        if !finished {
            return false;
        }
        let Some(c) = self.computing.take() else {
            return false;
        };
        // Auto-resizing histograms only fail on values beyond u64 range.
        let _ = self.latency.tile.record(now - c.start);
        self.compute_done[c.local] = true;
        self.done[c.tile] = true;
        self.done_at[c.tile] = now;
        if let Some(t) = self.timeline.as_mut() {
            t.tiles
                .push((c.start, now, self.schedule.tiles[c.tile].tile.layer));
        }
        if let Some(v) = out.validity.as_deref_mut() {
            v.tile_done(c.tile, self.core);
        }
        self.next_compute += 1;
        if out.trace.is_some() && self.traced(c.tile) {
            let st = &self.schedule.tiles[c.tile];
            let label = format!(
                "{} t{}..{} ox{}..{}",
                st.layer_name,
                st.tile.region.t.start,
                st.tile.region.t.end,
                st.tile.region.ox.start,
                st.tile.region.ox.end
            );
            let group = format!("core{}", self.core);
            if let Some(t) = out.trace.as_deref_mut() {
                t.span(&group, "tiles", &label, c.start, now, 0);
            }
        }
        tracing::debug!(
            core = self.core,
            tile = c.tile,
            layer = %self.schedule.tiles[c.tile].layer_name,
            started = c.start,
            "tile computed"
        );
        for (core, &ctl) in self.ids.controllers.iter().enumerate() {
            if core != self.core {
                out.send(now, ctl, Message::TileDone { tile: c.tile });
            }
        }
        true
    }

    /// Results leaving the array for DRAM through the staging area at `addr`: written
    /// there, read back, and sent to the DRAM.
    fn staged_to_dram(&self, addr: u64) -> Vec<Hop> {
        let mut hops = vec![
            self.sram(self.core, HopKind::SramWrite { addr }),
            self.sram(self.core, HopKind::SramRead { addr }),
        ];
        hops.extend(self.dram(self.core, true));
        hops
    }
}
