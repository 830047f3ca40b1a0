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

/// Writes a CSV file whole or not at all: `header`, then one record per row.
fn write_csv_file<R>(
    path: &std::path::Path,
    header: &[&str],
    rows: impl IntoIterator<Item = R>,
) -> Result<(), WriteError>
where
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut file = crate::output::AtomicFile::create(path)?;
    {
        let mut w = csv::Writer::from_writer(&mut file);
        w.write_record(header)?;
        for row in rows {
            w.write_record(row)?;
        }
        w.flush().map_err(|error| crate::output::OutputError {
            path: path.to_path_buf(),
            error,
        })?;
    }
    file.commit()?;
    Ok(())
}

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
