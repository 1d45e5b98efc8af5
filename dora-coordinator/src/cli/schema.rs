//! `dora schema`: the JSON Schema of dora's files.

use std::io::Write;
use std::process::ExitCode;

/// The files dora has a schema for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// A dataflow file (`nodes:`).
    Dataflow,
    /// A cluster resource (`apiVersion: v1`, `kind`, `metadata`, `spec`).
    Resource,
}

pub fn run(which: Which) -> eyre::Result<ExitCode> {
    let schema = match which {
        Which::Dataflow => dora_core::schema::dataflow(),
        Which::Resource => dora_core::schema::resource(),
    };
    let text = serde_json::to_string_pretty(&schema)?;
    writeln!(std::io::stdout(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}
