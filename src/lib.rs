//! stems — spatial-temporal mapping of spiking neural networks onto neuromorphic
//! accelerators, with an analytic front-end and a cycle-level simulator that checks it.
//!
//! The module tree follows the data flow (see `ARCHITECTURE.md`), and imports point
//! down it only (`tests/layering.rs`): `model` (with `output` and `rundir` beside it)
//! → `tiling` → `cost` (the cost report both halves build) → `mapping` → `schedule`
//! → `sim` → `validate` → `explore` → `hardware_sweep` → `scenario` → `report`, which
//! only prints and draws and which no stage imports.

pub mod cost;
pub mod explore;
pub mod hardware_sweep;
pub mod import;
pub mod mapping;
pub mod model;
pub mod output;
pub mod report;
pub mod rundir;
pub mod scenario;
pub mod schedule;
pub mod sim;
pub mod spikes;
pub mod tiling;
pub mod validate;
