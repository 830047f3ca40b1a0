//! Loading a saved schedule refuses one that does not hold together: every reference
//! in range, every tile's region, nest and unrolling legal for its layer and core, the
//! global SRAM's allocations consistent, and no field that states something the
//! simulator derives on its own (state flags, transfer sizes) contradicting it.

use super::memory::Extent;
use super::{Action, Location, Schedule, ScheduledTile, SpaceCut};
use crate::model::Problem;
use crate::tiling::graph::ObjectId;

/// Allocations live on one core: (start, len, occupant); `None` is a staging area.
type Live = Vec<(u64, u64, Option<ObjectId>)>;

impl Schedule {
    /// Every reference the schedule makes, checked.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = self.workload.check();
        problems.extend(self.accelerator.check());
        if !problems.is_empty() {
            return problems;
        }
        problems.extend(self.check_cuts());
        problems.extend(self.check_objects());
        problems.extend(self.dram_placement.problems(
            &self.objects,
            &self.workload,
            self.dram_stores_compressed(),
        ));
        if let Some(why) = self.dram_capacity_problem() {
            problems.push(Problem::new("dram_placement", why).field("base"));
        }
        if !problems.is_empty() {
            return problems;
        }
        let mut live: Vec<Live> = vec![Vec::new(); self.accelerator.cores.len()];
        for (i, st) in self.tiles.iter().enumerate() {
            let el = format!("tile {i}");
            if self.check_placement(i, st, &el, &mut problems)
                && self.check_region_and_nest(st, &el, &mut problems)
            {
                self.check_references(i, st, &el, &mut problems);
                self.check_actions(st, &el, &mut live, &mut problems);
            }
        }
        if self.tiles.is_empty() {
            problems.push(Problem::new("schedule", "has no tiles").field("tiles"));
        }
        if problems.is_empty() {
            problems.extend(crate::tiling::coverage::problems(
                &self.workload,
                self.tiles.iter().map(|t| (t.tile.layer, &t.tile.region)),
            ));
        }
        problems
    }

    /// One cut per block, each valid; stateless blocks that exist.
    fn check_cuts(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.cuts.len() != self.workload.num_blocks {
            problems.push(
                Problem::new(
                    "schedule",
                    format!(
                        "{} cuts for {} blocks",
                        self.cuts.len(),
                        self.workload.num_blocks
                    ),
                )
                .field("cuts"),
            );
        }
        if let Some(b) = self
            .stateless_blocks
            .iter()
            .find(|&&b| b >= self.workload.num_blocks)
        {
            problems.push(
                Problem::new("schedule", format!("stateless block {b} does not exist"))
                    .field("stateless_blocks"),
            );
        }
        for (b, cut) in self.cuts.iter().enumerate() {
            let tb = cut.time_batch(self.workload.timesteps);
            let lines_ok = match cut.space {
                SpaceCut::LayerByLayer => true,
                SpaceCut::Fused { lines } => lines >= 1,
            };
            if tb == 0 || tb > self.workload.timesteps || !lines_ok {
                problems.push(
                    Problem::new(
                        format!("cut of block {b}"),
                        format!("'{cut}' is not a valid cut"),
                    )
                    .field("cuts"),
                );
            }
        }
        problems
    }

    /// The tile's id, layer, core (one that runs the layer's operator) and block. False
    /// when the layer or core does not exist.
    fn check_placement(
        &self,
        i: usize,
        st: &ScheduledTile,
        el: &str,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let t = &st.tile;
        let (nl, nc) = (self.workload.layers.len(), self.accelerator.cores.len());
        if t.id != i {
            problems.push(Problem::new(el, format!("has id {}", t.id)).field("id"));
        }
        if t.layer >= nl {
            problems.push(
                Problem::new(el, format!("references layer {} of {nl}", t.layer)).field("layer"),
            );
            return false;
        }
        if t.core >= nc {
            problems.push(
                Problem::new(el, format!("references core {} of {nc}", t.core)).field("core"),
            );
            return false;
        }
        let layer = &self.workload.layers[t.layer];
        let core = &self.accelerator.cores[t.core];
        if !core.runs(layer.op) {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "runs {} ({}) on {}, which does not run {}",
                        layer.name,
                        layer.op.name(),
                        core.name,
                        layer.op.name()
                    ),
                )
                .field("core"),
            );
        }
        if t.block != layer.block {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "is in block {}, but layer '{}' is in block {}",
                        t.block, layer.name, layer.block
                    ),
                )
                .field("block"),
            );
        }
        if st.layer_name != layer.name {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "is named for layer '{}', but runs layer '{}'",
                        st.layer_name, layer.name
                    ),
                )
                .field("layer_name"),
            );
        }
        true
    }

    /// The staging budget, the region (inside the layer), the loop nest (it iterates
    /// exactly the tile's extents under an unrolling the array allows) and the memory
    /// boundaries. False when the tile is too malformed to check further.
    fn check_region_and_nest(
        &self,
        st: &ScheduledTile,
        el: &str,
        problems: &mut Vec<Problem>,
    ) -> bool {
        self.check_budget_and_boundaries(st, el, problems);
        if !self.region_in_layer(st, el, problems) {
            return false;
        }
        let Some(u) = self.nest_shape(st, el, problems) else {
            return false;
        };
        self.check_nest_sizes_and_levels(st, u, el, problems);
        true
    }

    /// The staging area fits the SRAM and every boundary lies within the nest.
    fn check_budget_and_boundaries(
        &self,
        st: &ScheduledTile,
        el: &str,
        problems: &mut Vec<Problem>,
    ) {
        let t = &st.tile;
        let capacity = self.accelerator.cores[t.core].global_sram().size_bits;
        if st.stream_budget_bits > capacity {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "streams through {} bits of a {capacity}-bit SRAM",
                        st.stream_budget_bits
                    ),
                )
                .field("stream_budget_bits"),
            );
        }
        if let Some(b) = st
            .boundaries
            .iter()
            .find(|b| b.loops_below > st.loop_nest.len())
        {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "a boundary lies below {} loops of a {}-loop nest",
                        b.loops_below,
                        st.loop_nest.len()
                    ),
                )
                .field("boundaries"),
            );
        }
    }

    /// The tile's region is non-empty and inside its layer.
    fn region_in_layer(&self, st: &ScheduledTile, el: &str, problems: &mut Vec<Problem>) -> bool {
        let t = &st.tile;
        let layer = &self.workload.layers[t.layer];
        let r = &t.region;
        let in_range = r.t.start < r.t.end
            && r.t.end <= self.workload.timesteps
            && r.k.start < r.k.end
            && r.k.end <= layer.dims.k
            && r.oy.start < r.oy.end
            && r.oy.end <= layer.dims.oy
            && r.ox.start < r.ox.end
            && r.ox.end <= layer.dims.ox;
        if !in_range {
            problems.push(
                Problem::new(
                    el,
                    format!("region {r:?} is empty or outside layer '{}'", layer.name),
                )
                .field("region"),
            );
            return false;
        }
        true
    }

    /// The reduction loops innermost with positive sizes, and an unrolling the core's
    /// array allows: the unrolling, or `None` after reporting why not.
    fn nest_shape(
        &self,
        st: &ScheduledTile,
        el: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<crate::model::Unroll> {
        let t = &st.tile;
        let n = st.loop_nest.len();
        let misplaced =
            st.reduction_loops > n
                || st.loop_nest.iter().enumerate().any(|(i, l)| {
                    l.size == 0 || (i >= n - st.reduction_loops) != l.dim.is_reduction()
                });
        if misplaced {
            problems.push(
                Problem::new(el, "malformed loop nest: the reduction loops (C, FY, FX) must be exactly the innermost `reduction_loops`, sizes positive")
                    .field("loop_nest"),
            );
            return None;
        }
        let core = &self.accelerator.cores[t.core];
        let u = st.unroll.unwrap_or_else(|| core.pe_array.unroll());
        if !core.pe_array.unrollings().contains(&u) {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "unrolls K {} × C {} × OY {} × OX {}, which core {}'s array does not allow",
                        u.k, u.c, u.oy, u.ox, core.name
                    ),
                )
                .field("unroll"),
            );
            return None;
        }
        Some(u)
    }

    /// The nest iterates each dimension as often as the tile needs under unrolling `u`,
    /// and its boundaries name the core's memories.
    fn check_nest_sizes_and_levels(
        &self,
        st: &ScheduledTile,
        u: crate::model::Unroll,
        el: &str,
        problems: &mut Vec<Problem>,
    ) {
        let t = &st.tile;
        let layer = &self.workload.layers[t.layer];
        // A matmul's nest is one head's.
        let shape = crate::tiling::CtShape::new(&self.workload, layer, &t.region).one_head();
        let expected = [
            (crate::mapping::Dim::K, shape.k.div_ceil(u.k)),
            (crate::mapping::Dim::C, shape.c.div_ceil(u.c)),
            (crate::mapping::Dim::OY, shape.oy.div_ceil(u.oy)),
            (crate::mapping::Dim::OX, shape.ox.div_ceil(u.ox)),
            (crate::mapping::Dim::FY, shape.fy),
            (crate::mapping::Dim::FX, shape.fx),
            (crate::mapping::Dim::T, shape.t),
        ];
        if shape.recurrent
            && let Some(why) = crate::mapping::nest::recurrence_order_problem(&st.loop_nest)
        {
            problems.push(Problem::new(el, why).field("loop_nest"));
        }
        let sizes = crate::mapping::nest::dim_products(&st.loop_nest);
        if let Some((d, n)) = expected.iter().find(|(d, n)| sizes[d.index()] != *n) {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "loop nest iterates {d} {} times, the tile needs {n}",
                        sizes[d.index()]
                    ),
                )
                .field("loop_nest"),
            );
        }
        let mems: Vec<&str> = self.accelerator.cores[t.core]
            .memories
            .iter()
            .map(|m| m.name.as_str())
            .chain(["pe", "dram"])
            .collect();
        for b in &st.boundaries {
            if !mems.contains(&b.level.as_str()) {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "boundary names memory '{}', which core {} does not have",
                            b.level, t.core
                        ),
                    )
                    .field("boundaries"),
                );
            }
        }
    }

    /// Dependencies on earlier tiles, objects in range, and the state flags as the
    /// tile's region implies them: the simulator derives a state read from the region
    /// (it continues a state unless it starts at the first timestep), so a flag that
    /// says otherwise would be a claim nothing checks.
    fn check_references(
        &self,
        i: usize,
        st: &ScheduledTile,
        el: &str,
        problems: &mut Vec<Problem>,
    ) {
        let t = &st.tile;
        let no = self.objects.len();
        for d in &t.deps {
            if *d >= i {
                problems.push(
                    Problem::new(
                        el,
                        format!("depends on tile {d}, which does not run before it"),
                    )
                    .field("deps"),
                );
            }
        }
        let objs = t
            .inputs
            .iter()
            .chain(t.weights.iter())
            .chain(std::iter::once(&t.output))
            .chain(t.state.iter());
        for o in objs {
            if *o >= no {
                problems.push(
                    Problem::new(el, format!("references object {o} of {no}")).field("objects"),
                );
            }
        }
        let timesteps = self.workload.timesteps;
        let flags = [
            ("reads_state", t.reads_state, t.region.t.start > 0),
            ("writes_state", t.writes_state, t.region.t.end < timesteps),
        ];
        for (field, stated, continues) in flags {
            let derived = t.state.is_some() && continues;
            if stated != derived {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "says {field} = {stated}, where {} and timesteps {}..{} of {timesteps} make it {derived}",
                            if t.state.is_some() { "its state object" } else { "no state object" },
                            t.region.t.start,
                            t.region.t.end,
                        ),
                    )
                    .field(field),
                );
            }
        }
    }

    /// The before and after actions: objects and cores in range, allocations that do
    /// not overlap live data and frees of what is held, transfers of the object's size.
    fn check_actions(
        &self,
        st: &ScheduledTile,
        el: &str,
        live: &mut [Live],
        problems: &mut Vec<Problem>,
    ) {
        let no = self.objects.len();
        for a in st.before.iter().chain(st.after.iter()) {
            match a {
                Action::Alloc {
                    core,
                    object,
                    extents,
                } => {
                    if *object >= no {
                        problems.push(
                            Problem::new(el, format!("allocates object {object} of {no}"))
                                .field("object"),
                        );
                        continue;
                    }
                    if self.check_extents(*core, extents, el, problems) {
                        occupy(
                            &mut live[*core],
                            *core,
                            extents,
                            Some(*object),
                            el,
                            problems,
                        );
                    }
                }
                Action::Stage { core, extents } => {
                    if self.check_extents(*core, extents, el, problems) {
                        occupy(&mut live[*core], *core, extents, None, el, problems);
                    }
                }
                Action::Free {
                    core,
                    object,
                    extents,
                } => {
                    if self.check_extents(*core, extents, el, problems) {
                        vacate(
                            &mut live[*core],
                            *core,
                            extents,
                            Some(*object),
                            el,
                            problems,
                        );
                    }
                }
                Action::Unstage { core, extents } => {
                    if self.check_extents(*core, extents, el, problems) {
                        vacate(&mut live[*core], *core, extents, None, el, problems);
                    }
                }
                Action::Transfer(tr) => self.check_transfer(tr, el, problems),
            }
        }
    }

    /// A transfer names an object and cores that exist and moves the object's size.
    fn check_transfer(&self, tr: &super::Transfer, el: &str, problems: &mut Vec<Problem>) {
        let (no, nc) = (self.objects.len(), self.accelerator.cores.len());
        if tr.object >= no {
            problems.push(
                Problem::new(el, format!("transfer of object {} of {no}", tr.object))
                    .field("object"),
            );
        }
        for loc in [tr.from, tr.to] {
            if let Location::Sram { core } = loc
                && core >= nc
            {
                problems.push(
                    Problem::new(el, format!("transfer names core {core} of {nc}")).field("to"),
                );
            }
        }
        // The simulator moves the object's own size; a transfer stating
        // another would be a claim nothing reads.
        if let Some(o) = self.objects.get(tr.object)
            && tr.bits != o.bits
        {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "moves {} bits of object {}, which holds {}",
                        tr.bits, tr.object, o.bits
                    ),
                )
                .field("bits"),
            );
        }
    }

    /// Every object describes data of the workload and names tiles that exist.
    fn check_objects(&self) -> Vec<Problem> {
        let nl = self.workload.layers.len();
        let nt = self.tiles.len();
        let mut problems = Vec::new();
        for (i, o) in self.objects.iter().enumerate() {
            let el = format!("object {i}");
            let layer = match &o.kind {
                crate::tiling::graph::ObjectKind::Weights { layer }
                | crate::tiling::graph::ObjectKind::State { layer, .. } => Some(*layer),
                crate::tiling::graph::ObjectKind::Features { layer, .. } => *layer,
            };
            if o.id != i {
                problems.push(Problem::new(&el, format!("has id {}", o.id)).field("id"));
            }
            if layer.is_some_and(|l| l >= nl) {
                problems.push(
                    Problem::new(
                        &el,
                        format!("describes layer {} of {nl}", layer.unwrap_or(0)),
                    )
                    .field("kind"),
                );
            }
            if let Some(r) = o
                .readers
                .iter()
                .chain(o.producer.iter())
                .find(|&&r| r >= nt)
            {
                problems
                    .push(Problem::new(&el, format!("names tile {r} of {nt}")).field("readers"));
            }
            if o.bits == 0
                || o.bits
                    > crate::model::limits::MAX_LAYER_BITS * crate::model::limits::MAX_TIMESTEPS
            {
                problems.push(Problem::new(&el, format!("holds {} bits", o.bits)).field("bits"));
            }
        }
        problems
    }

    fn check_extents(
        &self,
        core: usize,
        extents: &[Extent],
        el: &str,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let Some(c) = self.accelerator.cores.get(core) else {
            problems.push(
                Problem::new(el, format!("names core {core}, which does not exist")).field("core"),
            );
            return false;
        };
        let cap = c.global_sram().size_bits;
        let mut ok = true;
        for e in extents {
            if e.end() > cap {
                problems.push(
                    Problem::new(
                        el,
                        format!(
                            "extent {}..{} lies outside core {core}'s {cap}-bit global SRAM",
                            e.start,
                            e.start as u128 + e.len as u128
                        ),
                    )
                    .field("extents"),
                );
                ok = false;
            }
        }
        ok
    }
}

fn occupant_name(o: Option<ObjectId>) -> String {
    match o {
        Some(o) => format!("object {o}"),
        None => "a staging area".to_string(),
    }
}

/// Records `extents` as held by `occupant`, reporting overlaps with live data.
fn occupy(
    live: &mut Vec<(u64, u64, Option<ObjectId>)>,
    core: usize,
    extents: &[Extent],
    occupant: Option<ObjectId>,
    el: &str,
    problems: &mut Vec<Problem>,
) {
    for e in extents {
        if let Some(&(_, _, other)) = live
            .iter()
            .find(|(s, l, _)| e.start < s + l && *s < e.end())
        {
            problems.push(
                Problem::new(
                    el,
                    format!(
                        "allocation of {} at {}..{} on core {core} overlaps {}",
                        occupant_name(occupant),
                        e.start,
                        e.end(),
                        occupant_name(other)
                    ),
                )
                .field("extents"),
            );
        }
        live.push((e.start, e.len, occupant));
    }
}

/// Releases `extents` held by `occupant`, reporting ranges it does not hold.
fn vacate(
    live: &mut Vec<(u64, u64, Option<ObjectId>)>,
    core: usize,
    extents: &[Extent],
    occupant: Option<ObjectId>,
    el: &str,
    problems: &mut Vec<Problem>,
) {
    for e in extents {
        match live
            .iter()
            .position(|&(s, l, o)| s == e.start && l == e.len && o == occupant)
        {
            Some(p) => {
                live.swap_remove(p);
            }
            None => problems.push(
                Problem::new(
                    el,
                    format!(
                        "frees {}..{} of {} on core {core}, which is not allocated there",
                        e.start,
                        e.end(),
                        occupant_name(occupant)
                    ),
                )
                .field("extents"),
            ),
        }
    }
}
