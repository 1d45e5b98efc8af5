//! The C ABI between the runtime and an operator library. Rust operators
//! get it from [`register_operator!`](crate::register_operator); C
//! operators implement it by hand (see `dora.h`). One loader serves both.
//!
//! A library exports three functions:
//!
//! - `dora_init_operator(context, &mut operator) -> status`: makes an
//!   operator and stores a pointer to it; `DORA_OK` on success.
//! - `dora_on_event(operator, event, context) -> status`: handles one event.
//! - `dora_drop_operator(operator)`: frees it.
//!
//! Everything the runtime passes in (event, context, the bytes they point
//! to) is valid only during the call. An operator sends and reaches its
//! state through the callbacks in [`DoraContext`].

use std::ffi::c_void;

/// Bytes, or UTF-8 text, that the other side owns: valid during the call
/// that hands them over.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DoraSlice {
    pub ptr: *const u8,
    pub len: usize,
}

impl DoraSlice {
    pub const EMPTY: DoraSlice = DoraSlice {
        ptr: std::ptr::null(),
        len: 0,
    };

    pub fn new(bytes: &[u8]) -> DoraSlice {
        DoraSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a` (or be
    /// null with `len` 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: as the caller promises.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// `DoraParameter::kind`: UTF-8 text in `bytes`.
pub const DORA_PARAMETER_STRING: u32 = 0;
/// `DoraParameter::kind`: a signed integer in `integer`.
pub const DORA_PARAMETER_INTEGER: u32 = 1;
/// `DoraParameter::kind`: a float in `floating`.
pub const DORA_PARAMETER_FLOAT: u32 = 2;
/// `DoraParameter::kind`: a boolean in `integer` (0 or 1).
pub const DORA_PARAMETER_BOOL: u32 = 3;
/// `DoraParameter::kind`: bytes in `bytes`.
pub const DORA_PARAMETER_BYTES: u32 = 4;

/// One parameter of a message: a key and a value that the sender chose
/// (the same values as the node API's parameters). Only the field that
/// `kind` names is read; the others are 0 or empty.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DoraParameter {
    /// The name (UTF-8).
    pub key: DoraSlice,
    /// One of the `DORA_PARAMETER_*` constants.
    pub kind: u32,
    /// The value of an integer, or of a boolean (0 or 1).
    pub integer: i64,
    /// The value of a float.
    pub floating: f64,
    /// The value of a string (UTF-8) or of bytes.
    pub bytes: DoraSlice,
}

impl DoraParameter {
    /// A parameter with every value field empty.
    pub const fn empty(key: DoraSlice, kind: u32) -> DoraParameter {
        DoraParameter {
            key,
            kind,
            integer: 0,
            floating: 0.0,
            bytes: DoraSlice::EMPTY,
        }
    }
}

/// `DoraEvent::kind`: an input has a message.
pub const DORA_EVENT_INPUT: u32 = 0;
/// `DoraEvent::kind`: an input will get no more messages.
pub const DORA_EVENT_INPUT_CLOSED: u32 = 1;
/// `DoraEvent::kind`: the dataflow is stopping; end soon.
pub const DORA_EVENT_STOP: u32 = 2;

/// One event for an operator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DoraEvent {
    /// One of the `DORA_EVENT_*` constants.
    pub kind: u32,
    /// 1 when the input has a deadline and the message waited longer.
    pub late: u32,
    /// The operator's id for the input (inputs and closed inputs).
    pub input: DoraSlice,
    /// The message (inputs only).
    pub data: DoraSlice,
    /// When the message was sent, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// The parameters the sender attached (inputs only): `parameters_len`
    /// entries, each key once. NULL when there are none.
    pub parameters: *const DoraParameter,
    pub parameters_len: usize,
}

/// Status codes. Non-negative codes come from an operator's `on_event`.
pub const DORA_OK: i32 = 0;
/// Keep going (the same value as `DORA_OK`).
pub const DORA_CONTINUE: i32 = 0;
/// This operator is done: it gets no more events.
pub const DORA_STOP: i32 = 1;
/// Stop every operator of the runtime.
pub const DORA_STOP_ALL: i32 = 2;
/// The call failed; the message went to `DoraContext::set_error`.
pub const DORA_ERROR: i32 = -1;
/// The operator panicked; the message went to `DoraContext::set_error`.
pub const DORA_PANIC: i32 = -2;
/// An argument was invalid (a null pointer, bad UTF-8).
pub const DORA_INVALID: i32 = -3;
// The codes below are shared by operators and the C node API (`dora.h`
// includes this header): each failure has one code wherever it happens.
/// The item was not there (a parameter key, say).
pub const DORA_NOT_FOUND: i32 = -4;
/// The item has another type than the one asked for.
pub const DORA_WRONG_TYPE: i32 = -5;
/// The output is not one the node or operator declares under `outputs:`
/// in the dataflow.
pub const DORA_UNDECLARED_OUTPUT: i32 = -6;
/// There is no memory for a message this large: the size is beyond what
/// the machine can map, or its memory is used up.
pub const DORA_NO_MEMORY: i32 = -7;
/// The node already holds as many buffers of this output, written and not
/// yet sent, as it may; send or discard one first.
pub const DORA_TOO_MANY_BUFFERS: i32 = -8;
/// The buffer did not come from `alloc_buffer` in this call, or was
/// already sent or freed.
pub const DORA_UNKNOWN_BUFFER: i32 = -9;
/// A parameter has an unknown kind, or a key or string that is not UTF-8.
pub const DORA_BAD_PARAMETER: i32 = -10;
/// Nothing can be sent now: `dora_init_operator` runs before the dataflow
/// does, so an operator sends from `dora_on_event` only.
pub const DORA_CANNOT_SEND_NOW: i32 = -11;

/// Sends `data` on `output` (the operator's id for it) with
/// `parameters_len` parameters (`parameters` may be NULL when there are
/// none; when a key repeats, the last value wins). The runtime copies
/// everything. Returns `DORA_OK`, `DORA_UNDECLARED_OUTPUT`,
/// `DORA_BAD_PARAMETER`, `DORA_NO_MEMORY` or `DORA_CANNOT_SEND_NOW`.
pub type DoraSendOutput = unsafe extern "C" fn(
    runtime: *mut c_void,
    output: DoraSlice,
    data: DoraSlice,
    parameters: *const DoraParameter,
    parameters_len: usize,
) -> i32;
/// A writable buffer of `len` bytes for [`DoraSendBuffer`], which sends it
/// without a copy. NULL if it cannot be had. A buffer must be sent or
/// given back with [`DoraFreeBuffer`].
pub type DoraAllocBuffer = unsafe extern "C" fn(runtime: *mut c_void, len: usize) -> *mut u8;
/// Sends a buffer from [`DoraAllocBuffer`] on `output`, with parameters as
/// in [`DoraSendOutput`], and takes it back, whatever the result. Returns
/// `DORA_OK`, `DORA_UNKNOWN_BUFFER`, `DORA_UNDECLARED_OUTPUT`,
/// `DORA_BAD_PARAMETER`, `DORA_NO_MEMORY` or `DORA_CANNOT_SEND_NOW`.
pub type DoraSendBuffer = unsafe extern "C" fn(
    runtime: *mut c_void,
    output: DoraSlice,
    buffer: *mut u8,
    parameters: *const DoraParameter,
    parameters_len: usize,
) -> i32;
/// Gives back a buffer that will not be sent.
pub type DoraFreeBuffer = unsafe extern "C" fn(runtime: *mut c_void, buffer: *mut u8);
/// Reads a key of a key-value store that the runtime keeps (see
/// [`DoraContext`]); the value stays valid until the call returns or the
/// key is next written. `ptr` is NULL when the key is not set.
pub type DoraStateGet = unsafe extern "C" fn(runtime: *mut c_void, key: DoraSlice) -> DoraSlice;
/// Sets a key of a key-value store; the runtime copies key and value.
pub type DoraStateSet =
    unsafe extern "C" fn(runtime: *mut c_void, key: DoraSlice, value: DoraSlice) -> i32;
/// Says why the call fails (UTF-8); the runtime copies it.
pub type DoraSetError = unsafe extern "C" fn(runtime: *mut c_void, message: DoraSlice);

/// What an operator can do during a call.
///
/// `state_*` is the operator's own store: it survives the operator being
/// restarted after a panic. `shared_*` is one store for every operator of
/// the runtime.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DoraContext {
    pub runtime: *mut c_void,
    /// The operator's id in the dataflow (UTF-8).
    pub operator_id: DoraSlice,
    pub send_output: DoraSendOutput,
    pub alloc_buffer: DoraAllocBuffer,
    pub send_buffer: DoraSendBuffer,
    pub free_buffer: DoraFreeBuffer,
    pub state_get: DoraStateGet,
    pub state_set: DoraStateSet,
    pub shared_get: DoraStateGet,
    pub shared_set: DoraStateSet,
    pub set_error: DoraSetError,
}

/// `dora_init_operator`.
pub type DoraInitOperator =
    unsafe extern "C" fn(context: *const DoraContext, instance: *mut *mut c_void) -> i32;
/// `dora_on_event`.
pub type DoraOnEvent = unsafe extern "C" fn(
    instance: *mut c_void,
    event: *const DoraEvent,
    context: *const DoraContext,
) -> i32;
/// `dora_drop_operator`.
pub type DoraDropOperator = unsafe extern "C" fn(instance: *mut c_void);

/// The symbols every operator library exports.
pub const INIT_SYMBOL: &str = "dora_init_operator";
pub const ON_EVENT_SYMBOL: &str = "dora_on_event";
pub const DROP_SYMBOL: &str = "dora_drop_operator";
