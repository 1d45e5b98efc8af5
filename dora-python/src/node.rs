//! `dora.Node`: a Python node of a dataflow.

use std::ffi::c_int;
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, EventStream, OutputLoan};
use pyo3::exceptions::{PyBufferError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMemoryView};

use crate::event::Event;
use crate::{convert, SameThread};

/// How long a wait runs without the GIL before Python may handle a signal
/// (Ctrl-C raises KeyboardInterrupt at most this late).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// A node of the running dataflow that `dora run` started this process
/// for. `Node()` returns once every node is connected, so nothing sent
/// after it is lost.
///
/// Iterate over it for events (`for event in node:`), or call
/// `node.next(timeout=...)`. Waiting releases the GIL, and Ctrl-C raises
/// KeyboardInterrupt promptly.
#[pyclass(unsendable, module = "dora")]
pub struct Node {
    node: DoraNode,
    events: EventStream,
}

#[pymethods]
impl Node {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Node> {
        // Start-up may wait up to a minute for the other nodes: Ctrl-C
        // (or any signal handler that raises) ends it, as it ends `next()`.
        let mut raised: Option<PyErr> = None;
        let joined = {
            let raised = SameThread(&mut raised);
            py.detach(move || {
                let raised = raised;
                SameThread(DoraNode::init_from_env_unless(|| {
                    match Python::attach(|py| py.check_signals()) {
                        Ok(()) => false,
                        Err(error) => {
                            *raised.0 = Some(error);
                            true
                        }
                    }
                }))
            })
            .0
        };
        if let Some(error) = raised {
            return Err(error);
        }
        let (node, events) = joined.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        // `logging` reaches the launcher as records, unless the node set up
        // logging of its own.
        py.import("dora._log")?.call_method0("install")?;
        Ok(Node { node, events })
    }

    /// The next event: waits at most `timeout` seconds (for ever if None).
    /// None when none came in time or when the events have ended.
    #[pyo3(signature = (timeout=None))]
    fn next(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Event>> {
        let deadline = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => {
                Some(Instant::now() + Duration::from_secs_f64(t))
            }
            Some(t) if t < 0.0 || t.is_nan() => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "timeout must be a number of seconds, 0 or more, not {t}"
                )))
            }
            _ => None,
        };
        loop {
            // Messages Python released on other threads are freed here, on
            // the thread that received them.
            crate::event::free_orphans();
            let slice = deadline.map_or(SIGNAL_CHECK, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK)
            });
            let events = SameThread(&mut self.events);
            let event = py
                .detach(move || {
                    let events = events;
                    SameThread(events.0.recv_timeout(slice))
                })
                .0;
            if let Some(event) = event {
                return Event::from_node(py, event).map(Some);
            }
            py.check_signals()?;
            if self.events.is_ended() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Event>> {
        self.next(py, None)
    }

    /// Sends `data` on `output_id`, with `metadata` (a dict of str to str,
    /// int, float, bool or bytes). `data` is anything with the buffer
    /// protocol: bytes, bytearray, memoryview, a numpy array. One copy,
    /// into shared memory.
    #[pyo3(signature = (output_id, data, metadata=None))]
    fn send_output(
        &mut self,
        output_id: &str,
        data: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let parameters = convert::parameters(metadata)?;
        convert::with_bytes(data, |bytes| {
            self.node
                .send_output(output_id, parameters, bytes)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
    }

    /// A writable buffer of `length` bytes in shared memory for a message
    /// on `output_id`, for a `with` block:
    ///
    /// ```python
    /// with node.output_buffer("image", 640 * 480 * 3) as buffer:
    ///     numpy.frombuffer(buffer, numpy.uint8)[:] = frame.ravel()
    /// ```
    ///
    /// The message is sent, with no copy, when the block ends without an
    /// exception; with one, nothing is sent. The buffer is not cleared
    /// first, which would cost a pass over it: write every byte, since one
    /// left unwritten is sent as the memory held it (zero, or a byte of an
    /// earlier message on `output_id`).
    #[pyo3(signature = (output_id, length, metadata=None))]
    fn output_buffer(
        slf: Bound<'_, Self>,
        output_id: &str,
        length: usize,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<OutputBuffer> {
        let parameters = convert::parameters(metadata)?;
        let loan = slf
            .borrow_mut()
            .node
            .loan_output_uninit(output_id, length, parameters)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(OutputBuffer {
            node: slf.unbind(),
            loan: Some(loan),
            view: None,
            exported: false,
        })
    }

    fn __repr__(&self) -> String {
        "Node()".to_owned()
    }
}

/// A message being written in place; see `Node.output_buffer`.
#[pyclass(unsendable, module = "dora")]
pub struct OutputBuffer {
    node: Py<Node>,
    loan: Option<OutputLoan>,
    view: Option<Py<PyAny>>,
    /// Python was handed the buffer's address, and so may have written it.
    exported: bool,
}

#[pymethods]
impl OutputBuffer {
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let view = PyMemoryView::from(slf.as_any())?.into_any().unbind();
        slf.borrow_mut().view = Some(view.clone_ref(slf.py()));
        Ok(view)
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if let Some(view) = self.view.take() {
            // The memory is the receivers' once sent: no view may outlive
            // the block.
            if let Err(error) = view.call_method0(py, "release") {
                self.loan = None;
                return Err(PyBufferError::new_err(format!(
                    "the output buffer is still in use ({error}); drop the arrays made from it before the `with` block ends. Nothing was sent"
                )));
            }
        }
        let Some(mut loan) = self.loan.take() else {
            return Ok(false);
        };
        if exc_type.is_none() {
            if self.exported {
                let len = loan.remaining();
                // SAFETY: Python had the buffer's address to write it, as
                // `output_buffer` asks. Bytes it skipped hold what the
                // shared memory held, zeroes of a fresh page or an earlier
                // message: memory that foreign code had a pointer to has
                // some value, and `len` is what is left of the loan.
                unsafe { loan.advance(len) };
            } else {
                // Never handed to Python (`__exit__` without `__enter__`):
                // nothing wrote it, so it goes out zeroed.
                loan.data_mut();
            }
            self.node
                .borrow_mut(py)
                .node
                .send_loan(loan)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        }
        Ok(false)
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let (ptr, len) = {
            let mut this = slf.borrow_mut();
            let Some(loan) = this.loan.as_mut() else {
                return Err(PyBufferError::new_err(
                    "this output buffer was already sent or dropped",
                ));
            };
            (loan.as_mut_ptr(), loan.len())
        };
        // SAFETY: fills `view` for `len` writable bytes at `ptr`, owned by
        // the loan in `slf`, which the view holds a reference to.
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast(),
                len as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if status != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        slf.borrow_mut().exported = true;
        Ok(())
    }
}
