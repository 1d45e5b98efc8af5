//! Python operators (to come).

use pyo3::prelude::*;

/// Hosts the operators of the runtime node that `dora run` started this
/// process for.
#[pyfunction]
pub fn run_runtime(_py: Python<'_>) -> PyResult<bool> {
    Err(pyo3::exceptions::PyNotImplementedError::new_err("not yet"))
}
