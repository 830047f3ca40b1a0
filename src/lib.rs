//! stems — spatial-temporal mapping of spiking neural networks onto neuromorphic
//! accelerators, with an analytic front-end and a cycle-level simulator that checks it.
//!
//! The module tree follows the data flow (see `ARCHITECTURE.md`):
//! `model` → `tiling` → `mapping` → `schedule` → `sim` → `validate` → `report`;
//! `cost` holds the result both halves build (the cost report), below the stages that
//! build it, so that no stage imports `report` (which only prints and draws).

pub mod cost;
pub mod explore;
pub mod hardware_sweep;
pub mod import;
pub mod mapping;
pub mod model;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod sim;
pub mod spikes;
pub mod tiling;
pub mod validate;
