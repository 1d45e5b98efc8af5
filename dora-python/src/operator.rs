//! Python operators: a file with `class Operator`, whose
//! `on_event(self, event, send_output)` handles one event. They are served
//! to the runtime through the same ABI as Rust and C operators, by the
//! functions below; many share one interpreter, one at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};

use dora_core::config::OperatorConfig;
use dora_operator_api::abi::{
    DoraContext, DoraEvent, DoraSlice, DORA_CONTINUE, DORA_ERROR, DORA_EVENT_INPUT,
    DORA_EVENT_INPUT_CLOSED, DORA_INVALID, DORA_OK, DORA_PANIC, DORA_STOP, DORA_STOP_ALL,
};
use dora_operator_api::{OutputError, Parameters};
use dora_runtime::library::Library;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::event::Event;
use crate::{convert, SameThread};

thread_local! {
    /// The file of each Python operator, by operator id.
    static FILES: RefCell<HashMap<String, PathBuf>> = RefCell::new(HashMap::new());
}

/// Hosts the operators of the runtime node that `dora run` started this
/// process for: Python ones, and shared-library and C ones beside them.
/// Returns whether all went well. The GIL is released between calls.
#[pyfunction]
pub fn run_runtime(py: Python<'_>) -> PyResult<bool> {
    let mut serve = |operator: &OperatorConfig, path: &Path| {
        FILES.with(|f| {
            f.borrow_mut()
                .insert(operator.id.to_string(), path.to_owned())
        });
        Ok(Library::from_functions(path, init, on_event, drop_operator))
    };
    let serve = SameThread(&mut serve);
    py.detach(move || {
        let serve = serve;
        SameThread(dora_runtime::run_node_with(serve.0))
    })
    .0
    .map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))
}

fn text(context: &DoraContext) -> String {
    // SAFETY: the runtime passes the id as UTF-8, valid for the call.
    String::from_utf8_lossy(unsafe { context.operator_id.as_bytes() }).into_owned()
}

fn set_error(context: &DoraContext, message: &str) {
    // SAFETY: the runtime's callback, valid for the call; it copies.
    unsafe { (context.set_error)(context.runtime, DoraSlice::new(message.as_bytes())) }
}

/// The message of a Python exception, with its traceback printed.
fn describe(py: Python<'_>, error: PyErr) -> String {
    let message = error.to_string();
    error.print(py);
    message
}

fn load(py: Python<'_>, path: &Path) -> PyResult<Py<PyAny>> {
    let globals = py
        .import("runpy")?
        .call_method1("run_path", (path.to_string_lossy().as_ref(),))?;
    let class = globals.get_item("Operator").map_err(|_| {
        PyTypeError::new_err(format!(
            "{} defines no `class Operator`; a Python operator defines one, with `on_event(self, event, send_output)`",
            path.display()
        ))
    })?;
    Ok(class.call0()?.unbind())
}

unsafe extern "C" fn init(context: *const DoraContext, instance: *mut *mut c_void) -> i32 {
    if context.is_null() || instance.is_null() {
        return DORA_INVALID;
    }
    // SAFETY: the runtime passes valid pointers for the call.
    let context = unsafe { &*context };
    let id = text(context);
    let Some(path) = FILES.with(|f| f.borrow().get(&id).cloned()) else {
        set_error(context, "no file is known for this Python operator");
        return DORA_ERROR;
    };
    Python::attach(|py| match load(py, &path) {
        Ok(operator) => {
            // SAFETY: checked non-null.
            unsafe { *instance = Box::into_raw(Box::new(operator)).cast() };
            DORA_OK
        }
        Err(error) => {
            set_error(context, &describe(py, error));
            DORA_ERROR
        }
    })
}

/// `send_output(output_id, data, metadata=None)`, valid during one
/// `on_event` call.
#[pyclass(unsendable, module = "dora")]
pub struct SendOutput {
    context: *const DoraContext,
}

#[pymethods]
impl SendOutput {
    /// Sends `data` (anything with the buffer protocol) on `output_id`,
    /// with `metadata` (a dict of str to str, int, float, bool or bytes;
    /// pass on `event.metadata` to forward what came in).
    #[pyo3(signature = (output_id, data, metadata=None))]
    fn __call__(
        &self,
        output_id: &str,
        data: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        if self.context.is_null() {
            return Err(PyRuntimeError::new_err(
                "send_output works only during the on_event call that received it",
            ));
        }
        // SAFETY: non-null only during the call, while the context lives.
        let context = unsafe { &*self.context };
        let values = convert::parameters(metadata)?;
        let list = convert::parameter_list(&values);
        let parameters = list.parameters().as_raw();
        convert::with_bytes(data, |bytes| {
            // SAFETY: the runtime's callback with slices and an array
            // valid for the call.
            let status = unsafe {
                (context.send_output)(
                    context.runtime,
                    DoraSlice::new(output_id.as_bytes()),
                    DoraSlice::new(bytes),
                    parameters.as_ptr(),
                    parameters.len(),
                )
            };
            match OutputError::from_status(status, output_id) {
                None => Ok(()),
                Some(error) => Err(PyRuntimeError::new_err(error.to_string())),
            }
        })
    }
}

unsafe extern "C" fn on_event(
    instance: *mut c_void,
    event: *const DoraEvent,
    context: *const DoraContext,
) -> i32 {
    if instance.is_null() || event.is_null() || context.is_null() {
        return DORA_INVALID;
    }
    // SAFETY: valid for the call; `instance` is a `Py<PyAny>` from `init`.
    let (operator, event, context) =
        unsafe { (&*instance.cast::<Py<PyAny>>(), &*event, &*context) };
    // SAFETY: the runtime passes slices valid for the call.
    let (input, data) = unsafe { (event.input.as_bytes(), event.data.as_bytes()) };
    // SAFETY: the runtime passes parameters valid for the call.
    let parameters = unsafe { Parameters::from_raw(event.parameters, event.parameters_len) };
    Python::attach(|py| {
        let (kind, id, data, timestamp) = match event.kind {
            DORA_EVENT_INPUT => (
                "INPUT",
                Some(String::from_utf8_lossy(input).into_owned()),
                // A copy: the runtime reuses the memory after the call.
                Some(PyBytes::new(py, data).into_any().unbind()),
                Some(event.timestamp_ns),
            ),
            DORA_EVENT_INPUT_CLOSED => (
                "INPUT_CLOSED",
                Some(String::from_utf8_lossy(input).into_owned()),
                None,
                None,
            ),
            _ => ("STOP", None, None, None),
        };
        let call = || -> PyResult<i32> {
            // Copied, like the data.
            let metadata = convert::operator_metadata(py, parameters)?.unbind();
            let event = Bound::new(py, Event::for_operator(kind, id, data, metadata, timestamp))?;
            let send = Bound::new(py, SendOutput { context })?;
            let result = operator.call_method1(py, "on_event", (event, send.clone()));
            send.borrow_mut().context = std::ptr::null();
            let result = result?;
            if result.is_none(py) {
                return Ok(DORA_CONTINUE);
            }
            match result.extract::<i32>(py) {
                Ok(status @ (DORA_CONTINUE | DORA_STOP | DORA_STOP_ALL)) => Ok(status),
                _ => Err(PyTypeError::new_err(
                    "on_event must return None or a dora.Status (CONTINUE, STOP or STOP_ALL)",
                )),
            }
        };
        match call() {
            Ok(status) => status,
            Err(error) => {
                // Like a panic: the runtime restarts the operator as the
                // node's restart policy says.
                set_error(context, &describe(py, error));
                DORA_PANIC
            }
        }
    })
}

unsafe extern "C" fn drop_operator(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: a `Py<PyAny>` from `init`, dropped once.
    let operator = unsafe { Box::from_raw(instance.cast::<Py<PyAny>>()) };
    Python::attach(|_| drop(operator));
}
