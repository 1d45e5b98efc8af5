//! `dora.log` and the `logging` handler's way in: a record at a level, with
//! where it was logged from, written like every node's records (see
//! `dora_node_api::log`).

use dora_node_api::log::{self as node_log, LogLevel, LogRecord};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Logs `message` at `level` ("error", "warn", "info", "debug" or
/// "trace"), with the logger's name as `target`, and the file and line it
/// was logged from when known. `fields` is a JSON object of values that go
/// with the message. Under `dora run` the record is shown with its level,
/// filtered by the node's `min_log_level`, and sent where the dataflow
/// says; elsewhere it is a plain line on stderr.
#[pyfunction]
#[pyo3(signature = (level, message, target=None, file=None, line=None, fields=None))]
pub fn log(
    level: &str,
    message: String,
    target: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    fields: Option<&str>,
) -> PyResult<()> {
    let level: LogLevel = level
        .parse()
        .map_err(|e: dora_core::log::LogLevelError| PyValueError::new_err(e.to_string()))?;
    if !node_log::enabled(level) {
        return Ok(());
    }
    let mut record = LogRecord::new(level, message);
    record.target = target;
    record.file = file;
    record.line = line;
    if let Some(fields) = fields {
        record.fields = serde_json::from_str(fields)
            .map_err(|e| PyValueError::new_err(format!("`fields` is not a JSON object: {e}")))?;
    }
    node_log::write(&record);
    Ok(())
}

/// The node's `min_log_level` once it has joined its dataflow ("stdout"
/// when it has none), for the `logging` handler's level.
#[pyfunction]
pub fn min_log_level() -> &'static str {
    node_log::min_level().as_str()
}
