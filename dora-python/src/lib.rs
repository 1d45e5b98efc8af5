//! The `dora` Python package's native module, `dora._dora`: the node API
//! (`node.rs`, `event.rs`), logs (`log.rs`), conversions (`convert.rs`), Python operators
//! (`operator.rs`) and the `dora` command.

use pyo3::prelude::*;

mod convert;
mod event;
mod log;
mod node;
mod operator;

/// A value that crosses into a closure run without the GIL, on the same
/// thread: `Python::detach` asks for `Send`, which the node's handles are
/// not, though they never leave the thread.
pub(crate) struct SameThread<T>(pub T);

// SAFETY: `Python::detach` runs its closure on the calling thread, so the
// value is only ever used there.
unsafe impl<T> Send for SameThread<T> {}

/// Runs the `dora` command with `args` (the program name first); returns
/// its exit code. The GIL is released while it runs.
#[pyfunction]
fn run_cli(py: Python<'_>, args: Vec<String>) -> u8 {
    py.detach(|| dora_coordinator::main_with_args(args))
}

#[pymodule]
fn _dora(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<node::Node>()?;
    m.add_class::<node::OutputBuffer>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<operator::OperatorContext>()?;
    m.add_class::<operator::Store>()?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(log::log, m)?)?;
    m.add_function(wrap_pyfunction!(log::min_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(operator::run_runtime, m)?)?;
    Ok(())
}
