//! The memory manager's choices: which resident object leaves the SRAM when a tile
//! needs room (`eviction_key` and `eviction_rank`, and the hold that keeps a reloaded
//! chunk for its fused stack), and which operands of a tile too large for the SRAM
//! stream from DRAM (`choose_streamed`, priced by `outside_bits` and `survives`).

use super::*;

impl Engine<'_> {
    /// Lower ranks are evicted first. Under the cost rule the first key is the DRAM
    /// energy per bit freed per tile of distance to the next use (scaled to an integer).
    pub(super) fn eviction_rank(&self, o: ObjectId) -> EvictionRank {
        let next = std::cmp::Reverse(self.next_use(o));
        let bits = std::cmp::Reverse(self.graph.objects[o].bits);
        (self.eviction_price(o), 0, next, bits, o)
    }

    /// The first key of [`Engine::eviction_rank`]: under the paper's rule the reads to
    /// come, under the cost rule the price.
    fn eviction_price(&self, o: ObjectId) -> u64 {
        let st = &self.objs[o];
        match self.eviction {
            Eviction::Paper => st.remaining as u64,
            // Dead data costs nothing to drop.
            Eviction::Cost if st.remaining == 0 => 0,
            Eviction::Cost => {
                let dram = &self.acc.dram;
                // fJ of DRAM traffic per bit freed.
                let price = if st.in_dram || st.copies.len() > 1 {
                    dram.read_energy_fj_per_bit
                } else {
                    dram.write_energy_fj_per_bit + dram.read_energy_fj_per_bit
                };
                // Through i64: one instruction each way (tile ids are far below 2^53).
                let distance = self.next_use(o).saturating_sub(self.now).max(1) as i64 as f64;
                round_half_up(price * 1e6 / distance)
            }
        }
    }

    /// Where `o` comes in the order of eviction, as far as one integer tells: data
    /// held for its fused stack last ([`Engine::is_held`]), then by price. Equal keys
    /// are ordered by [`Engine::eviction_rank`] ([`Engine::least_evictable`]): making
    /// room ranks every resident, and most differ here already.
    pub(super) fn eviction_key(&self, o: ObjectId) -> u64 {
        const PRICE_BITS: u64 = (1 << 63) - 1;
        u64::from(self.is_held(o)) << 63 | self.eviction_price(o).min(PRICE_BITS)
    }

    /// The index in `candidates` (object, its [`Engine::eviction_key`]) of the one to
    /// evict first, as if all were ordered by (held, [`Engine::eviction_rank`]).
    pub(super) fn least_evictable(&self, candidates: &[(u64, ObjectId)]) -> Option<usize> {
        let mut least = 0;
        for (i, &(key, o)) in candidates.iter().enumerate().skip(1) {
            let (least_key, least_o) = candidates[least];
            if key < least_key
                || key == least_key && self.eviction_rank(o) < self.eviction_rank(least_o)
            {
                least = i;
            }
        }
        (!candidates.is_empty()).then_some(least)
    }

    /// Whether `o` is held for the rest of its fused stack.
    pub(super) fn is_held(&self, o: ObjectId) -> bool {
        self.objs[o]
            .held_until
            .is_some_and(|until| until >= self.now)
    }

    /// The last reader of `o` still to come in the current tile's fused stack and
    /// timestep range: a halo line fetched for one line tile stays for the next
    /// instead of coming back twice. Only under the cost rule and for feature and
    /// state chunks (weights are re-read by every line tile anyway).
    pub(super) fn stack_hold(&self, o: ObjectId) -> Option<TileId> {
        let object = &self.graph.objects[o];
        if self.eviction != Eviction::Cost || object.class == DataClass::W {
            return None;
        }
        let now = &self.graph.tiles[self.now];
        let stack = self.stack_of_block[now.block]?;
        object
            .readers
            .iter()
            .copied()
            .filter(|&r| r > self.now)
            .filter(|&r| {
                let tile = &self.graph.tiles[r];
                self.stack_of_block[tile.block] == Some(stack) && tile.region.t == now.region.t
            })
            .max()
    }

    /// Which operands of a tile too large for the SRAM stream from DRAM. The paper's
    /// rule packs the smallest first. Pricing evictions, every split that fits is
    /// tried and the cheapest kept: the tile's own mapping (whose streamed traffic
    /// never grows with the staging area) plus the DRAM traffic the split causes
    /// outside it (see [`Engine::outside_bits`]), then the least DRAM traffic. Each
    /// term is non-increasing in the capacity, so more SRAM never picks a dearer split.
    ///
    /// Returns the split and the room it was chosen for: under the cost rule, the
    /// capacity less what is held for a fused stack ([`Engine::is_held`]) if some
    /// split fits beside it, else the whole capacity.
    pub(super) fn choose_streamed(
        &mut self,
        tile_id: TileId,
        needs: &Needs,
        capacity: u64,
        objective: Objective,
        mapper: &mut Mapper,
    ) -> ([bool; 4], u64) {
        if self.eviction == Eviction::Paper {
            return (pack(&needs.sizes, capacity), capacity);
        }
        let core = self.graph.tiles[tile_id].core;
        let required = Engine::required(needs);
        let held: u64 = self.resident[core]
            .iter()
            .filter(|&&o| self.is_held(o) && !required.contains(&o))
            .map(|&o| self.graph.objects[o].bits)
            .sum();
        let beside_held = capacity - held.min(capacity);
        if held > 0
            && let Some(split) = self.cheapest_split(tile_id, needs, beside_held, objective, mapper)
        {
            return (split, beside_held);
        }
        let split = self
            .cheapest_split(tile_id, needs, capacity, objective, mapper)
            .unwrap_or_else(|| pack(&needs.sizes, capacity));
        (split, capacity)
    }

    /// The cheapest split of the tile's operands into resident and streamed that fits
    /// `capacity` (see [`Engine::choose_streamed`]); `None` if none maps.
    pub(super) fn cheapest_split(
        &mut self,
        tile_id: TileId,
        needs: &Needs,
        capacity: u64,
        objective: Objective,
        mapper: &mut Mapper,
    ) -> Option<[bool; 4]> {
        let tile = &self.graph.tiles[tile_id];
        let (layer, core, region) = (tile.layer, tile.core, tile.region.clone());
        let dram = &self.acc.dram;
        let (read_fj, write_fj) = (dram.read_energy_fj_per_bit, dram.write_energy_fj_per_bit);
        let left = self.leaving(tile_id, needs);
        let split_key = super::tile_costs::SplitKey {
            layer,
            region: region.clone(),
            core,
            sizes: needs.sizes,
            capacity,
            objective,
        };
        let mut tried = self.costs.splits_at(tile_id, split_key);
        let mut best: Option<(f64, u64, [bool; 4])> = None;
        for mask in 1u8..16 {
            let streamed: [bool; 4] = std::array::from_fn(|i| mask & (1 << i) != 0);
            // An empty operand has nothing to stream: skip the duplicate splits.
            if (0..4).any(|i| streamed[i] && needs.sizes[i] == 0) {
                continue;
            }
            let resident: u64 = (0..4)
                .filter(|&i| !streamed[i])
                .map(|i| needs.sizes[i])
                .sum();
            if resident > capacity {
                continue;
            }
            let cost = tried.costs[usize::from(mask)].get_or_insert_with(|| {
                let key = super::tile_costs::TileKey {
                    layer,
                    region: region.clone(),
                    core,
                    residency: Residency { streamed },
                    stream_budget_bits: capacity - resident,
                    objective,
                };
                self.tile_cost(key, mapper).ok()
            });
            let Some(cost) = cost.clone() else {
                continue;
            };
            let (read, write) = self.outside_bits(tile_id, needs, streamed, (capacity, &left));
            let energy = cost.mapping.energy_pj.total
                + (read as f64 * read_fj + write as f64 * write_fj) / 1000.0;
            let bits = cost.dram_read.iter().sum::<u64>()
                + cost.dram_write.iter().sum::<u64>()
                + read
                + write;
            if best.is_none_or(|(e, b, _)| (energy, bits) < (e, b)) {
                best = Some((energy, bits, streamed));
            }
        }
        self.costs.keep_splits_at(tile_id, tried);
        best.map(|(_, _, s)| s)
    }

    /// What the tile leaves for later tiles (its output, and its state when it writes
    /// it), for [`Engine::outside_bits`] to price under every split.
    pub(super) fn leaving(&self, tile_id: TileId, needs: &Needs) -> SmallVec<[Left; 2]> {
        let tile = &self.graph.tiles[tile_id];
        let mut left = SmallVec::new();
        let mut leave = |o: ObjectId, op: Operand| {
            let later = (self.graph.objects[o].readers.iter().copied()).find(|&r| r > tile_id);
            left.push(Left {
                o,
                op,
                later,
                survives: std::cell::OnceCell::new(),
            });
        };
        leave(needs.output, Operand::O);
        if tile.writes_state
            && let Some(v) = needs.state
        {
            leave(v, Operand::V);
        }
        left
    }

    /// DRAM (read, write) bits a residency split costs outside the tile's mapping, in
    /// `capacity` with `left` ([`Engine::leaving`]) left behind:
    /// - resident operands not yet on the core are fetched;
    /// - streamed inputs and state must first be valid in DRAM (write-backs);
    /// - a streamed output or state left for a later tile is read back by it, and a
    ///   resident one is spilled and reloaded unless it survives until then
    ///   ([`Engine::survives`]); a resident network output is written out at the end.
    pub(super) fn outside_bits(
        &self,
        tile_id: TileId,
        needs: &Needs,
        streamed: [bool; 4],
        (capacity, left): (u64, &[Left]),
    ) -> (u64, u64) {
        let tile = &self.graph.tiles[tile_id];
        let core = tile.core;
        let bits = |o: ObjectId| self.graph.objects[o].bits;
        let (mut read, mut write) = (0u64, 0u64);
        let is = |op: Operand| streamed[op.index()];
        // Fetches of resident operands with data.
        let mut fetched = Objects::new();
        if !is(Operand::W) {
            fetched.extend(needs.weights.iter().copied());
        }
        if !is(Operand::I) {
            fetched.extend(needs.inputs.iter().copied());
        }
        if !is(Operand::V) && tile.reads_state {
            fetched.extend(needs.state);
        }
        fetched.sort_unstable();
        fetched.dedup();
        for o in fetched {
            if !self.is_resident(o, core) {
                read += bits(o);
            }
        }
        // Write-backs before streaming.
        if is(Operand::I) {
            write += needs
                .inputs
                .iter()
                .filter(|&&o| !self.objs[o].in_dram)
                .map(|&o| bits(o))
                .sum::<u64>();
        }
        if let Some(v) = needs.state
            && is(Operand::V)
            && tile.reads_state
            && !self.objs[v].in_dram
        {
            write += bits(v);
        }
        // What this tile leaves for later tiles.
        for l in left {
            let o = l.o;
            match (l.later, is(l.op)) {
                (Some(_), true) => read += bits(o),
                (Some(r), false)
                    if !*l
                        .survives
                        .get_or_init(|| self.survives(o, tile_id, r, capacity)) =>
                {
                    read += bits(o);
                    write += bits(o);
                }
                (None, false) if self.graph.objects[o].network_output => write += bits(o),
                _ => {}
            }
        }
        (read, write)
    }

    /// Whether `o`, left in the SRAM by `from`, can stay there until its reader `to`:
    /// every tile of the core in between needs, with `o` beside it, no more than the
    /// capacity. A tile that streams fills the SRAM with its staging area. Scans at
    /// most [`SURVIVAL_HORIZON`] tiles; beyond, `o` is assumed spilled.
    pub(super) fn survives(&self, o: ObjectId, from: TileId, to: TileId, capacity: u64) -> bool {
        let core = self.graph.tiles[from].core;
        let bits = self.graph.objects[o].bits;
        if to - from > SURVIVAL_HORIZON {
            return false;
        }
        ((from + 1)..=to)
            .filter(|&u| self.graph.tiles[u].core == core)
            .all(|u| {
                let n = self.needs(u);
                n.sizes.iter().sum::<u64>() + if n.holds(o) { 0 } else { bits } <= capacity
            })
    }
}

/// `x.round() as u64` for `0 <= x < 2^53`, without the call `round` is on x86-64's
/// baseline (every resident is ranked whenever room is made). Exact: the fraction
/// `x - trunc(x)` is representable.
fn round_half_up(x: f64) -> u64 {
    let whole = x as i64;
    (if x - whole as f64 >= 0.5 {
        whole + 1
    } else {
        whole
    }) as u64
}

/// An eviction candidate's rank (lowest goes first): price, uses, next use (latest
/// first), bits (largest first), and the object itself.
pub(super) type EvictionRank = (
    u64,
    u64,
    std::cmp::Reverse<TileId>,
    std::cmp::Reverse<u64>,
    ObjectId,
);

/// Per block, the first block of its run of consecutive layer-fused blocks.
pub(super) fn fused_stacks(cuts: &[crate::tiling::Cut]) -> Vec<Option<usize>> {
    let mut stacks = Vec::with_capacity(cuts.len());
    for (b, cut) in cuts.iter().enumerate() {
        let stack = match (cut.lines, b.checked_sub(1).and_then(|p| stacks[p])) {
            (None, _) => None,
            (Some(_), Some(first)) => Some(first),
            (Some(_), None) => Some(b),
        };
        stacks.push(stack);
    }
    stacks
}

/// Something a tile leaves for later tiles ([`Engine::leaving`]): the object, as which
/// operand, its next reader, and whether it survives resident until then (worked out
/// once for every split that keeps it).
pub(super) struct Left {
    o: ObjectId,
    op: Operand,
    later: Option<TileId>,
    survives: std::cell::OnceCell<bool>,
}

/// How far ahead [`Engine::survives`] looks: bounds the cost of a residency choice.
const SURVIVAL_HORIZON: usize = 256;

/// Packs operand sizes into `capacity` smallest first; true = streamed.
fn pack(sizes: &[u64; 4], capacity: u64) -> [bool; 4] {
    let mut order: Vec<usize> = (0..4).collect();
    order.sort_by_key(|&i| (sizes[i], i));
    let mut used = 0;
    let mut streamed = [false; 4];
    for i in order {
        if used + sizes[i] <= capacity {
            used += sizes[i];
        } else {
            streamed[i] = true;
        }
    }
    streamed
}

#[cfg(test)]
mod tests {
    use super::round_half_up;

    proptest::proptest! {
        #[test]
        fn round_half_up_is_round(x in 0.0f64..1e15) {
            proptest::prop_assert_eq!(round_half_up(x), x.round() as u64);
        }
    }

    #[test]
    fn round_half_up_at_the_halves() {
        for x in [0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370495.5] {
            assert_eq!(round_half_up(x), x.round() as u64, "{x}");
        }
    }
}
