//! What an operator can do during a call: send, and keep state.

use crate::abi::{DoraContext, DoraSlice, DORA_OK};

/// Why an output could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputError {
    /// The operator does not declare this output.
    Undeclared(String),
    /// The runtime could not give a buffer of this many bytes.
    NoBuffer(usize),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Undeclared(output) => write!(
                f,
                "`{output}` is not an output of this operator; declare it under the operator's `outputs:`"
            ),
            OutputError::NoBuffer(len) => write!(f, "the runtime cannot give a buffer of {len} bytes"),
        }
    }
}

impl std::error::Error for OutputError {}

/// The runtime's side of a call, borrowed for the call.
pub struct Context<'a> {
    raw: &'a DoraContext,
}

impl<'a> Context<'a> {
    /// Wraps the context the runtime passed in.
    pub fn new(raw: &'a DoraContext) -> Context<'a> {
        Context { raw }
    }

    /// The operator's id in the dataflow.
    pub fn operator_id(&self) -> &str {
        // SAFETY: the runtime passes the id as UTF-8, valid for the call.
        std::str::from_utf8(unsafe { self.raw.operator_id.as_bytes() }).unwrap_or("")
    }

    /// Sends `data` on `output` (one copy). Operators of the same runtime
    /// get the message in-process; other nodes through shared memory.
    pub fn send_output(&mut self, output: &str, data: &[u8]) -> Result<(), OutputError> {
        // SAFETY: the callback and pointer come from the runtime, valid for
        // the call; the slices outlive it.
        let status = unsafe {
            (self.raw.send_output)(
                self.raw.runtime,
                DoraSlice::new(output.as_bytes()),
                DoraSlice::new(data),
            )
        };
        check(status, output)
    }

    /// Sends `len` bytes that `fill` writes into a buffer of the runtime:
    /// operators of the same runtime get that very buffer, with no copy.
    pub fn send_output_with(
        &mut self,
        output: &str,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), OutputError> {
        // SAFETY: as in `send_output`.
        let buffer = unsafe { (self.raw.alloc_buffer)(self.raw.runtime, len) };
        if buffer.is_null() {
            return Err(OutputError::NoBuffer(len));
        }
        // SAFETY: the runtime gave `len` writable, initialised bytes that
        // stay ours until sent or freed.
        fill(unsafe { std::slice::from_raw_parts_mut(buffer, len) });
        // SAFETY: `buffer` came from `alloc_buffer` and is sent once.
        let status = unsafe {
            (self.raw.send_buffer)(self.raw.runtime, DoraSlice::new(output.as_bytes()), buffer)
        };
        check(status, output)
    }

    /// A value of the operator's own store, kept by the runtime across
    /// restarts of the operator.
    pub fn state(&self, key: &str) -> Option<&[u8]> {
        // SAFETY: the value is valid until the key is next written, which
        // takes `&mut self`.
        unsafe { get(self.raw.state_get, self.raw, key) }
    }

    /// Sets a value of the operator's own store.
    pub fn set_state(&mut self, key: &str, value: &[u8]) {
        // SAFETY: the runtime copies key and value.
        unsafe {
            (self.raw.state_set)(
                self.raw.runtime,
                DoraSlice::new(key.as_bytes()),
                DoraSlice::new(value),
            );
        }
    }

    /// A value of the store that every operator of the runtime shares.
    pub fn shared(&self, key: &str) -> Option<&[u8]> {
        // SAFETY: as in `state`.
        unsafe { get(self.raw.shared_get, self.raw, key) }
    }

    /// Sets a value of the shared store.
    pub fn set_shared(&mut self, key: &str, value: &[u8]) {
        // SAFETY: the runtime copies key and value.
        unsafe {
            (self.raw.shared_set)(
                self.raw.runtime,
                DoraSlice::new(key.as_bytes()),
                DoraSlice::new(value),
            );
        }
    }

    pub(crate) fn set_error(&self, message: &str) {
        // SAFETY: the runtime copies the message.
        unsafe { (self.raw.set_error)(self.raw.runtime, DoraSlice::new(message.as_bytes())) }
    }
}

/// # Safety
/// `getter` and `raw` come from the runtime, valid for the call.
unsafe fn get<'c>(
    getter: crate::abi::DoraStateGet,
    raw: &'c DoraContext,
    key: &str,
) -> Option<&'c [u8]> {
    // SAFETY: as the caller promises.
    let value = unsafe { getter(raw.runtime, DoraSlice::new(key.as_bytes())) };
    // SAFETY: a non-null value is valid until the key is next written.
    (!value.ptr.is_null()).then(|| unsafe { value.as_bytes() })
}

fn check(status: i32, output: &str) -> Result<(), OutputError> {
    if status == DORA_OK {
        Ok(())
    } else {
        Err(OutputError::Undeclared(output.to_owned()))
    }
}
