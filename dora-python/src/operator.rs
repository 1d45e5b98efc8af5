//! Python operators: a file with `class Operator`, whose
//! `on_event(self, event, send_output)` handles one event (with a fourth
//! parameter, it also gets the runtime's stores: `context.state` and
//! `context.shared`). They are served to the runtime through the same ABI
//! as Rust and C operators, by the functions below; many share one
//! interpreter, one at a time.

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
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView, PyTuple};

use crate::event::{self, Event};
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

/// An operator instance, as `init` hands it to the runtime.
struct Instance {
    object: Py<PyAny>,
    /// Whether `on_event` takes the context too: operators written for
    /// three arguments keep working.
    wants_context: bool,
}

/// Whether `on_event` accepts a fourth argument (`context`), by its
/// signature; `false` when it cannot be told (a builtin, say).
fn wants_context(py: Python<'_>, operator: &Bound<'_, PyAny>) -> PyResult<bool> {
    let on_event = operator.getattr("on_event").map_err(|_| {
        PyTypeError::new_err(
            "the Operator class has no `on_event`; define `on_event(self, event, send_output)`, or `on_event(self, event, send_output, context)` to reach its state",
        )
    })?;
    let Ok(signature) = py.import("inspect")?.call_method1("signature", (on_event,)) else {
        return Ok(false);
    };
    let args = PyTuple::new(py, [py.None(), py.None(), py.None()])?;
    Ok(signature.call_method1("bind", args).is_ok())
}

fn load(py: Python<'_>, path: &Path) -> PyResult<Instance> {
    // The runtime has joined its dataflow: `logging` in operators reaches
    // the launcher as records (once per process; it adds one handler).
    py.import("dora._log")?.call_method0("install")?;
    let globals = py
        .import("runpy")?
        .call_method1("run_path", (path.to_string_lossy().as_ref(),))?;
    let class = globals.get_item("Operator").map_err(|_| {
        PyTypeError::new_err(format!(
            "{} defines no `class Operator`; a Python operator defines one, with `on_event(self, event, send_output)`",
            path.display()
        ))
    })?;
    let object = class.call0()?;
    let wants_context = wants_context(py, &object)?;
    Ok(Instance {
        object: object.unbind(),
        wants_context,
    })
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

/// The context an operator's `on_event(self, event, send_output, context)`
/// gets: its id, and the runtime's stores `state` and `shared`. Valid during
/// that call only, like `send_output`.
#[pyclass(unsendable, module = "dora")]
pub struct OperatorContext {
    context: *const DoraContext,
}

impl OperatorContext {
    fn raw(&self) -> PyResult<&DoraContext> {
        if self.context.is_null() {
            return Err(PyRuntimeError::new_err(
                "the context works only during the on_event call that received it; keep what you need in `context.state` during the call",
            ));
        }
        // SAFETY: non-null only during the call, while the context lives.
        Ok(unsafe { &*self.context })
    }
}

#[pymethods]
impl OperatorContext {
    /// The operator's id in the dataflow.
    #[getter]
    fn operator_id(&self) -> PyResult<String> {
        Ok(text(self.raw()?))
    }

    /// The operator's own store, kept by the runtime when the operator is
    /// restarted after an exception.
    #[getter]
    fn state(slf: Bound<'_, Self>) -> Store {
        Store {
            owner: slf.unbind(),
            shared: false,
        }
    }

    /// One store for every operator of the runtime node (Python, Rust and
    /// C ones alike).
    #[getter]
    fn shared(slf: Bound<'_, Self>) -> Store {
        Store {
            owner: slf.unbind(),
            shared: true,
        }
    }
}

/// A key-value store the runtime keeps: keys are str, values go in as
/// anything with the buffer protocol (bytes, bytearray, memoryview, a numpy
/// array) and come out as `bytes`, copies. `store[key]`, `store.get(key,
/// default=None)`, `store[key] = value` and `key in store`.
#[pyclass(unsendable, module = "dora")]
pub struct Store {
    owner: Py<OperatorContext>,
    shared: bool,
}

impl Store {
    fn read<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let owner = self.owner.borrow(py);
        let context = owner.raw()?;
        let get = if self.shared {
            context.shared_get
        } else {
            context.state_get
        };
        // SAFETY: the runtime's callback, valid for the call.
        let value = unsafe { get(context.runtime, DoraSlice::new(key.as_bytes())) };
        if value.ptr.is_null() {
            return Ok(None);
        }
        // SAFETY: a set value is valid until the key is next written;
        // copied at once.
        Ok(Some(PyBytes::new(py, unsafe { value.as_bytes() })))
    }
}

#[pymethods]
impl Store {
    /// The value of `key` (bytes); KeyError when it was never set.
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyBytes>> {
        self.read(py, key)?
            .ok_or_else(|| PyKeyError::new_err(key.to_owned()))
    }

    /// The value of `key` (bytes), or `default` when it was never set.
    #[pyo3(signature = (key, default=None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        Ok(match self.read(py, key)? {
            Some(value) => value.into_any().unbind(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    /// Sets `key` to a copy of `value`'s bytes.
    fn __setitem__(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let owner = self.owner.borrow(py);
        let context = owner.raw()?;
        let set = if self.shared {
            context.shared_set
        } else {
            context.state_set
        };
        convert::with_bytes(value, |bytes| {
            // SAFETY: the runtime's callback, valid for the call; it
            // copies key and value.
            let status = unsafe {
                set(
                    context.runtime,
                    DoraSlice::new(key.as_bytes()),
                    DoraSlice::new(bytes),
                )
            };
            if status == DORA_OK {
                Ok(())
            } else {
                Err(PyRuntimeError::new_err(format!(
                    "cannot set `{key}`: the runtime returned status {status}"
                )))
            }
        })
    }

    fn __contains__(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        Ok(self.read(py, key)?.is_some())
    }

    fn __repr__(&self) -> &'static str {
        if self.shared {
            "<dora shared store>"
        } else {
            "<dora operator state>"
        }
    }
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
    // SAFETY: valid for the call; `instance` is an `Instance` from `init`.
    let (operator, event, context) = unsafe { (&*instance.cast::<Instance>(), &*event, &*context) };
    // Messages Python released on other threads are freed on this one,
    // the runtime's.
    event::free_orphans();
    // SAFETY: the runtime passes slices valid for the call.
    let (input, data) = unsafe { (event.input.as_bytes(), event.data.as_bytes()) };
    // SAFETY: the runtime passes parameters valid for the call.
    let parameters = unsafe { Parameters::from_raw(event.parameters, event.parameters_len) };
    Python::attach(|py| {
        let (kind, id, data, timestamp) = match event.kind {
            DORA_EVENT_INPUT => (
                "INPUT",
                Some(String::from_utf8_lossy(input).into_owned()),
                Some(input_data(py, context, data)),
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
            let data = data.transpose()?;
            // A copy: a dict of a few values.
            let metadata = convert::operator_metadata(py, parameters)?.unbind();
            let event = Bound::new(py, Event::for_operator(kind, id, data, metadata, timestamp))?;
            let send = Bound::new(py, SendOutput { context })?;
            let result = if operator.wants_context {
                let extra = Bound::new(py, OperatorContext { context })?;
                let result = operator.object.call_method1(
                    py,
                    "on_event",
                    (event, send.clone(), extra.clone()),
                );
                extra.borrow_mut().context = std::ptr::null();
                result
            } else {
                operator
                    .object
                    .call_method1(py, "on_event", (event, send.clone()))
            };
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

/// The message of an input event as a read-only memoryview over the bytes
/// the runtime passed, which Python may keep past the call: the runtime
/// lends the message itself (`hold_input`) and it lives as long as the
/// view.
fn input_data(py: Python<'_>, context: &DoraContext, data: &[u8]) -> PyResult<Py<PyAny>> {
    // SAFETY: `context` is the one this runtime passed to the call in
    // progress: Python operators are served only by `run_runtime`.
    let view = match unsafe { dora_runtime::hold_input(context) } {
        Some(held) => event::operator_memoryview(py, held)?,
        // Every input event has its message; should one not, a copy keeps
        // the type the same.
        None => PyMemoryView::from(PyBytes::new(py, data).as_any())?.into_any(),
    };
    Ok(view.unbind())
}

unsafe extern "C" fn drop_operator(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: an `Instance` from `init`, dropped once.
    let operator = unsafe { Box::from_raw(instance.cast::<Instance>()) };
    Python::attach(|_| drop(operator));
}
