//! What an operator can do during a call: send, and keep state.

use crate::abi::{
    DoraContext, DoraSlice, DORA_BAD_PARAMETER, DORA_CANNOT_SEND_NOW, DORA_NO_MEMORY, DORA_OK,
    DORA_UNDECLARED_OUTPUT, DORA_UNKNOWN_BUFFER,
};
use crate::parameters::Parameters;

/// Why an output could not be sent. Each variant is one status code of
/// the ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputError {
    /// The operator does not declare this output (`DORA_UNDECLARED_OUTPUT`).
    Undeclared(String),
    /// The runtime could not give a buffer of this many bytes.
    NoBuffer(usize),
    /// The runtime could not get the memory for the message
    /// (`DORA_NO_MEMORY`).
    NoMemory(String),
    /// A parameter is not valid (`DORA_BAD_PARAMETER`).
    BadParameter(String),
    /// Sending is not possible in `init` (`DORA_CANNOT_SEND_NOW`).
    NotNow(String),
    /// The runtime did not know the buffer (`DORA_UNKNOWN_BUFFER`).
    UnknownBuffer(String),
    /// Any other status the runtime returned.
    Status { output: String, status: i32 },
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Undeclared(output) => write!(
                f,
                "`{output}` is not an output of this operator; declare it under the operator's `outputs:`"
            ),
            OutputError::NoBuffer(len) => write!(f, "the runtime cannot give a buffer of {len} bytes"),
            OutputError::NoMemory(output) => write!(
                f,
                "cannot send on `{output}`: the runtime is out of memory for the message"
            ),
            OutputError::BadParameter(output) => write!(
                f,
                "cannot send on `{output}`: a parameter has an unknown kind or text that is not UTF-8"
            ),
            OutputError::NotNow(output) => write!(
                f,
                "cannot send on `{output}` during init: the dataflow is not running yet; send from on_event"
            ),
            OutputError::UnknownBuffer(output) => write!(
                f,
                "cannot send on `{output}`: the runtime does not know the buffer (sent or freed already?)"
            ),
            OutputError::Status { output, status } => write!(
                f,
                "cannot send on `{output}`: the runtime returned status {status}"
            ),
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
    ///
    /// # Safety
    /// `raw` must come from the runtime for the call in progress: its
    /// `runtime` pointer, callbacks and `operator_id` are used as they are,
    /// so they must be valid for as long as the `Context` lives (the
    /// call). Operators get a `Context` from `register_operator!` and never
    /// make one.
    pub(crate) unsafe fn new(raw: &'a DoraContext) -> Context<'a> {
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
        self.send_output_params(output, Parameters::EMPTY, data)
    }

    /// Sends `data` on `output` with `parameters`, for instance those of
    /// the input being handled (see [`ParameterList`](crate::ParameterList)
    /// to change them).
    pub fn send_output_params(
        &mut self,
        output: &str,
        parameters: Parameters<'_>,
        data: &[u8],
    ) -> Result<(), OutputError> {
        let parameters = parameters.as_raw();
        // SAFETY: the callback and pointer come from the runtime, valid for
        // the call; the slices and the array outlive it.
        let status = unsafe {
            (self.raw.send_output)(
                self.raw.runtime,
                DoraSlice::new(output.as_bytes()),
                DoraSlice::new(data),
                parameters.as_ptr(),
                parameters.len(),
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
        self.send_output_with_params(output, Parameters::EMPTY, len, fill)
    }

    /// [`send_output_with`](Self::send_output_with), with `parameters`.
    pub fn send_output_with_params(
        &mut self,
        output: &str,
        parameters: Parameters<'_>,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), OutputError> {
        // SAFETY: as in `send_output_params`.
        let buffer = unsafe { (self.raw.alloc_buffer)(self.raw.runtime, len) };
        if buffer.is_null() {
            return Err(OutputError::NoBuffer(len));
        }
        // SAFETY: the runtime gave `len` writable, initialised bytes that
        // stay ours until sent or freed.
        fill(unsafe { std::slice::from_raw_parts_mut(buffer, len) });
        let parameters = parameters.as_raw();
        // SAFETY: `buffer` came from `alloc_buffer` and is sent once.
        let status = unsafe {
            (self.raw.send_buffer)(
                self.raw.runtime,
                DoraSlice::new(output.as_bytes()),
                buffer,
                parameters.as_ptr(),
                parameters.len(),
            )
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
    match OutputError::from_status(status, output) {
        None => Ok(()),
        Some(error) => Err(error),
    }
}

impl OutputError {
    /// The error that the status of a send on `output` stands for; `None`
    /// for `DORA_OK`. For code that calls the ABI's callbacks itself.
    pub fn from_status(status: i32, output: &str) -> Option<OutputError> {
        let output = output.to_owned();
        Some(match status {
            DORA_OK => return None,
            DORA_UNDECLARED_OUTPUT => OutputError::Undeclared(output),
            DORA_NO_MEMORY => OutputError::NoMemory(output),
            DORA_BAD_PARAMETER => OutputError::BadParameter(output),
            DORA_CANNOT_SEND_NOW => OutputError::NotNow(output),
            DORA_UNKNOWN_BUFFER => OutputError::UnknownBuffer(output),
            status => OutputError::Status { output, status },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::DORA_INVALID;

    #[test]
    fn each_status_is_reported_as_its_own_cause() {
        assert_eq!(check(DORA_OK, "out"), Ok(()));
        let cases = [
            (DORA_UNDECLARED_OUTPUT, "is not an output of this operator"),
            (DORA_NO_MEMORY, "out of memory"),
            (DORA_BAD_PARAMETER, "a parameter has an unknown kind"),
            (DORA_CANNOT_SEND_NOW, "during init"),
            (DORA_UNKNOWN_BUFFER, "does not know the buffer"),
            (DORA_INVALID, "returned status -3"),
        ];
        for (status, cause) in cases {
            let error = check(status, "out").unwrap_err().to_string();
            assert!(error.contains(cause), "{status}: {error}");
        }
    }
}
