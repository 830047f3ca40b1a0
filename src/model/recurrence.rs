//! What a recurrent layer's feedback means for its tiles: the one rule the tile graph,
//! the cut check and the verifier share.
//!
//! A recurrent layer's neurons at timestep t read the spikes its neurons fired at t−1,
//! through the layer's own kernel (all neurons for an fc, the kernel's neighbourhood
//! for a conv). Tiles split a layer by columns and timestep groups, so a tile of
//! timesteps t0..t1 and columns ox reads the columns around ox at t0−1 from earlier
//! tiles, and inside itself needs, at each later timestep, its neighbourhood's spikes
//! of the timestep before: which it has only if the neighbourhood lies within its own
//! columns. A time-batched, layer-fused cut across a spatial recurrence therefore
//! cannot run (the paper's point on recurrent models and time batching).

use super::workload::{Layer, OpKind};
use std::ops::Range;

impl Layer {
    /// The columns of its own output a tile of columns `ox` reads each timestep.
    fn recurrent_columns(&self, ox: &Range<u64>) -> Range<u64> {
        if self.op == OpKind::Fc {
            0..self.dims.ox
        } else {
            self.input_range(1, ox.start, ox.end, self.dims.ox)
        }
    }

    /// The own output (timesteps, columns) a tile of timesteps `t` and columns `ox`
    /// reads from earlier tiles: the timestep before its first, around its columns.
    pub fn recurrent_read(
        &self,
        t: &Range<u32>,
        ox: &Range<u64>,
    ) -> Option<(Range<u32>, Range<u64>)> {
        (self.recurrent && t.start > 0).then(|| (t.start - 1..t.start, self.recurrent_columns(ox)))
    }

    /// Why a tile of timesteps `t` and columns `ox` cannot run, if it cannot: after its
    /// first timestep it needs spikes of columns other tiles of the same timesteps
    /// compute.
    pub fn recurrence_breaks(&self, t: &Range<u32>, ox: &Range<u64>) -> Option<String> {
        let reach = self.recurrent_columns(ox);
        let outside = reach.start < ox.start || reach.end > ox.end;
        (self.recurrent && t.end - t.start > 1 && outside).then(|| {
            format!(
                "layer '{}' is recurrent: a tile of timesteps {}..{} and columns {}..{} needs, from its second timestep on, the spikes of columns {}..{} at the timestep before, which other tiles of the same timesteps compute (time batching and layer fusion cannot both cut a spatial recurrence)",
                self.name, t.start, t.end, ox.start, ox.end, reach.start, reach.end
            )
        })
    }
}
