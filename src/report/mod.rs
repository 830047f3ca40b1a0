//! The report stage: what stems prints, as tables for people and JSON for programs.

pub mod allocation;
pub mod array;
pub mod comparison;
pub mod cost;
pub mod explore;
pub mod inspect;
pub mod mapping;
pub mod plot;
pub mod scenario;
pub mod search;
pub mod simulation;
pub mod sweep;
pub mod table;
pub mod validation;

pub use table::Table;

/// Writing a run's outputs (CSV, summary, plots) failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the summary: {0}")]
    Json(#[from] serde_json::Error),
}
