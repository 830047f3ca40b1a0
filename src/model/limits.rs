//! The ranges stems accepts for sizes, counts and rates. Each is far beyond any chip or
//! network the paper studies, and small enough that every product stems forms from them
//! stays within 64 bits and the simulator's memory and time stay bounded. A value
//! outside its range is an error naming the field and the limit (models/FORMAT.md
//! lists them).

/// Largest memory size: 1 TiB.
pub const MAX_SIZE_BITS: u64 = 1 << 43;
/// Smallest memory (and bank): 32 bytes. Smaller memories would make the simulator move
/// data in pieces of a few bits.
pub const MIN_MEMORY_BITS: u64 = 256;
/// Most banks one memory may have.
pub const MAX_BANKS: u64 = 1 << 20;
/// Largest bandwidth of a port or link, bits per cycle.
pub const MAX_BW_BITS: u64 = 1 << 24;
/// Largest PE-array side, and inputs reduced per PE per cycle.
pub const MAX_ARRAY_SIDE: u64 = 1 << 12;
/// Most read or write ports of a memory.
pub const MAX_PORTS: u64 = 64;
/// Longest latency or turnaround, cycles.
pub const MAX_LATENCY_CYCLES: u64 = 1 << 32;
/// Largest mesh side.
pub const MAX_MESH_SIDE: u64 = 64;
/// Widest value: precisions and accumulators, bits.
pub const MAX_PRECISION_BITS: u64 = 64;
/// Most timesteps per inference.
pub const MAX_TIMESTEPS: u64 = 1 << 12;
/// Most layers in a workload.
pub const MAX_LAYERS: usize = 10_000;
/// Largest loop dimension, channel count, height or width.
pub const MAX_DIM: u64 = 1 << 20;
/// Largest stride or padding.
pub const MAX_STRIDE: u64 = 1 << 10;
/// Most bits of one layer's weights, of its output in one timestep, or of its state.
pub const MAX_LAYER_BITS: u64 = 1 << 40;
/// Most computation tiles one schedule may cut a network into (each costs a few KiB
/// in the Schedule and the simulator).
pub const MAX_TILES: u64 = 250_000;
/// Most worker threads.
pub const MAX_JOBS: usize = 1024;
