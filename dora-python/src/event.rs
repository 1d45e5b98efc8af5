//! What a Python node or operator receives: `Event`, whose `data` is a
//! read-only `memoryview` over the message where it lies, not a copy.

use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::sync::Mutex;
use std::thread::ThreadId;

use dora_node_api::{Data, Event as NodeEvent};
use dora_runtime::HeldInput;
use pyo3::exceptions::{PyBufferError, PyKeyError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMemoryView};

use crate::convert;

/// The bytes of one input, exported read-only through the buffer
/// protocol. A memoryview over it keeps it, and the memory it lies in,
/// alive; Python may read and release it on any thread.
#[pyclass(frozen, module = "dora")]
pub struct InputData {
    data: ThreadBound,
}

/// An [`Owner`] that must be dropped on the thread that made it (a
/// shared-memory sample, a message shared by reference count with the
/// runtime's thread). Released on another thread, it waits in
/// [`ORPHANS`] until its own thread frees it ([`free_orphans`]).
struct ThreadBound {
    thread: ThreadId,
    owner: ManuallyDrop<Owner>,
}

// SAFETY: from other threads the owner is only read, and what it reads is
// immutable bytes that live as long as it does; it is dropped only on its
// own thread (see `Drop`).
unsafe impl Send for ThreadBound {}
// SAFETY: as for `Send`: shared, it only gives out immutable bytes.
unsafe impl Sync for ThreadBound {}

impl Drop for ThreadBound {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let owner = unsafe { ManuallyDrop::take(&mut self.owner) };
        if std::thread::current().id() == self.thread {
            drop(owner);
        } else if let Ok(mut orphans) = ORPHANS.lock() {
            orphans.push(Orphan {
                thread: self.thread,
                _owner: owner,
            });
        } else {
            // The lock is poisoned: keeping the message forever is safe,
            // freeing it here is not.
            std::mem::forget(owner);
        }
    }
}

/// An owner released on another thread than its own, kept only to be
/// dropped on its own thread.
struct Orphan {
    thread: ThreadId,
    _owner: Owner,
}

// SAFETY: an orphan is only moved until its own thread drops it.
unsafe impl Send for Orphan {}

static ORPHANS: Mutex<Vec<Orphan>> = Mutex::new(Vec::new());

/// Frees the messages that Python released on other threads and that
/// belong to this one: a node calls it when it asks for its next event,
/// the runtime's Python glue before each operator call.
pub fn free_orphans() {
    let here = std::thread::current().id();
    let mine: Vec<Orphan> = {
        let Ok(mut orphans) = ORPHANS.lock() else {
            return;
        };
        if orphans.is_empty() {
            return;
        }
        let (mine, others) = std::mem::take(&mut *orphans)
            .into_iter()
            .partition(|o| o.thread == here);
        *orphans = others;
        mine
    };
    // Dropped outside the lock, on their own thread.
    drop(mine);
}

/// What keeps the bytes alive: a node's message, or the message a runtime
/// lent to a Python operator.
enum Owner {
    Node(Data),
    Operator(HeldInput),
}

impl Owner {
    fn bytes(&self) -> &[u8] {
        match self {
            Owner::Node(data) => data,
            Owner::Operator(held) => held,
        }
    }

    fn is_copy(&self) -> bool {
        match self {
            Owner::Node(data) => data.is_copy(),
            Owner::Operator(held) => held.is_copy(),
        }
    }
}

#[pymethods]
impl InputData {
    /// Whether the bytes are read where the sender wrote them (shared
    /// memory, or the buffer another operator sent), rather than a copy:
    /// a node that holds as many messages of one input as the transport
    /// lets it gets the next ones as copies. `event.data.obj.in_place`.
    #[getter]
    fn in_place(&self) -> bool {
        !self.data.owner.is_copy()
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err(
                "an input's data is read-only; copy it (bytearray(data), numpy.array(...)) to change it",
            ));
        }
        let (ptr, len) = {
            let this = slf.get();
            let bytes = this.data.owner.bytes();
            (bytes.as_ptr(), bytes.len())
        };
        // SAFETY: fills `view` for `len` read-only bytes at `ptr`, which
        // live as long as `slf`, which the view holds a reference to.
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast_mut().cast(),
                len as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if status != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// A read-only memoryview over `data`, in place.
pub fn memoryview<'py>(py: Python<'py>, data: Data) -> PyResult<Bound<'py, PyAny>> {
    view(py, Owner::Node(data))
}

/// A read-only memoryview over the message an operator is handling, in
/// place; it keeps the message for as long as Python refers to it.
pub fn operator_memoryview<'py>(py: Python<'py>, held: HeldInput) -> PyResult<Bound<'py, PyAny>> {
    view(py, Owner::Operator(held))
}

fn view<'py>(py: Python<'py>, data: Owner) -> PyResult<Bound<'py, PyAny>> {
    let data = ThreadBound {
        thread: std::thread::current().id(),
        owner: ManuallyDrop::new(data),
    };
    let owner = Bound::new(py, InputData { data })?;
    Ok(PyMemoryView::from(&owner.into_any())?.into_any())
}

/// One event of a node.
///
/// - `type`: `"INPUT"`, `"INPUT_CLOSED"`, `"STOP"` or `"ERROR"`;
/// - `id`: the input (inputs and closed inputs), else None;
/// - `data`: a read-only memoryview over the message, in place in shared
///   memory: `numpy.frombuffer(event.data, dtype)` copies nothing. Valid
///   as long as it is referenced; a node may hold only a few messages of
///   one input at once, so drop what is done with;
/// - `metadata`: the parameters the sender attached (a dict);
/// - `timestamp_ns`: when it was sent, in nanoseconds since the epoch;
/// - `error`: what went wrong (errors only).
///
/// `event["type"]`, `event["id"]`, `event["value"]` (the data) and
/// `event["metadata"]` work too.
#[pyclass(unsendable, module = "dora", get_all)]
pub struct Event {
    r#type: &'static str,
    id: Option<String>,
    data: Option<Py<PyAny>>,
    metadata: Py<PyDict>,
    timestamp_ns: Option<u64>,
    error: Option<String>,
}

impl Event {
    pub fn from_node(py: Python<'_>, event: NodeEvent) -> PyResult<Event> {
        let empty = PyDict::new(py).unbind();
        Ok(match event {
            NodeEvent::Input { id, metadata, data } => Event {
                r#type: "INPUT",
                id: Some(id.to_string()),
                data: Some(memoryview(py, data)?.unbind()),
                metadata: convert::metadata(py, &metadata.parameters)?.unbind(),
                timestamp_ns: Some(metadata.timestamp_ns),
                error: None,
            },
            NodeEvent::InputClosed { id } => Event {
                r#type: "INPUT_CLOSED",
                id: Some(id.to_string()),
                data: None,
                metadata: empty,
                timestamp_ns: None,
                error: None,
            },
            NodeEvent::InputRecovered { id } => Event {
                r#type: "INPUT_RECOVERED",
                id: Some(id.to_string()),
                data: None,
                metadata: empty,
                timestamp_ns: None,
                error: None,
            },
            NodeEvent::Stop => Event {
                r#type: "STOP",
                id: None,
                data: None,
                metadata: empty,
                timestamp_ns: None,
                error: None,
            },
            NodeEvent::Error(message) => Event {
                r#type: "ERROR",
                id: None,
                data: None,
                metadata: empty,
                timestamp_ns: None,
                error: Some(message.to_string()),
            },
            other => Event {
                r#type: "ERROR",
                id: None,
                data: None,
                metadata: empty,
                timestamp_ns: None,
                error: Some(format!(
                    "an event this version of the dora package does not know: {other:?}"
                )),
            },
        })
    }

    /// An operator's event, whose data is `data`.
    pub fn for_operator(
        r#type: &'static str,
        id: Option<String>,
        data: Option<Py<PyAny>>,
        metadata: Py<PyDict>,
        timestamp_ns: Option<u64>,
    ) -> Event {
        Event {
            r#type,
            id,
            data,
            metadata,
            timestamp_ns,
            error: None,
        }
    }
}

#[pymethods]
impl Event {
    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let value = match key {
            "type" => self.r#type.into_pyobject(py)?.into_any().unbind(),
            "id" => self.id.clone().into_pyobject(py)?.into_any().unbind(),
            "value" | "data" => match &self.data {
                Some(data) => data.clone_ref(py),
                None => py.None(),
            },
            "metadata" => self.metadata.clone_ref(py).into_any(),
            "error" => self.error.clone().into_pyobject(py)?.into_any().unbind(),
            _ => {
                return Err(PyKeyError::new_err(format!(
                    "`{key}`; an event has type, id, value (or data), metadata and error"
                )))
            }
        };
        Ok(value)
    }

    fn __repr__(&self) -> String {
        match (&self.id, &self.error) {
            (Some(id), _) => format!("Event(type={:?}, id={id:?})", self.r#type),
            (_, Some(error)) => format!("Event(type={:?}, error={error:?})", self.r#type),
            _ => format!("Event(type={:?})", self.r#type),
        }
    }
}
