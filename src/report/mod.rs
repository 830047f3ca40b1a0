//! The report stage: what stems prints, as tables for people and JSON for programs.

pub mod array;
pub mod cost;
pub mod inspect;
pub mod output;
pub mod plot;
pub mod table;

pub use table::Table;
