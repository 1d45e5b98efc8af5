//! One call into an operator: the context it gets, and the callbacks
//! behind it. What the operator sends is collected here and routed by the
//! runtime once the call has returned.

use std::collections::HashMap;
use std::ffi::c_void;
use std::rc::Rc;

use dora_core::id::DataId;
use dora_operator_api::abi::{
    DoraContext, DoraParameter, DoraSlice, DORA_BAD_PARAMETER, DORA_CANNOT_SEND_NOW,
    DORA_NO_MEMORY, DORA_OK, DORA_UNDECLARED_OUTPUT, DORA_UNKNOWN_BUFFER,
};

use crate::parameters::MessageParameters;
use crate::payload::Payload;

/// A key-value store the runtime keeps.
pub type Store = HashMap<Box<[u8]>, Vec<u8>>;

/// A message an operator sent during a call, routed once it returns.
pub struct Sent {
    /// The index of the operator's output.
    pub output: usize,
    pub payload: Payload,
    pub parameters: Option<Rc<MessageParameters>>,
    pub timestamp_ns: u64,
}

/// What one call may touch, behind `DoraContext::runtime`.
pub struct Call<'a> {
    /// `None` during init, when nothing can be sent yet.
    pub outputs: Option<&'a [DataId]>,
    pub outbox: Vec<Sent>,
    pub state: &'a mut Store,
    pub shared: &'a mut Store,
    /// Buffers handed out by `alloc_buffer` and not yet sent.
    pub buffers: Vec<Vec<u8>>,
    pub error: Option<String>,
    /// The message being handled, dropped when the call ends unless an
    /// operator served in this process takes it (see [`hold_input`]).
    pub input: Option<Payload>,
}

impl<'a> Call<'a> {
    /// A call that may send on `outputs`; `None` for init, which may not
    /// send.
    pub fn new(
        outputs: Option<&'a [DataId]>,
        state: &'a mut Store,
        shared: &'a mut Store,
    ) -> Call<'a> {
        Call {
            outputs,
            outbox: Vec::new(),
            state,
            shared,
            buffers: Vec::new(),
            error: None,
            input: None,
        }
    }

    /// The context for this call; valid while `self` is neither moved nor
    /// dropped.
    pub fn context(&mut self, operator_id: &str) -> DoraContext {
        DoraContext {
            runtime: (self as *mut Call<'a>).cast::<c_void>(),
            operator_id: DoraSlice::new(operator_id.as_bytes()),
            send_output,
            alloc_buffer,
            send_buffer,
            free_buffer,
            state_get,
            state_set,
            shared_get,
            shared_set,
            set_error,
        }
    }

    /// The index of `output`, or the status that says why it cannot be
    /// sent on.
    fn output_index(&self, output: DoraSlice) -> Result<usize, i32> {
        let outputs = self.outputs.ok_or(DORA_CANNOT_SEND_NOW)?;
        // SAFETY: the operator passes a slice valid for the call.
        let name = unsafe { output.as_bytes() };
        outputs
            .iter()
            .position(|o| o.as_str().as_bytes() == name)
            .ok_or(DORA_UNDECLARED_OUTPUT)
    }

    /// Queues a message for routing.
    ///
    /// # Safety
    /// As [`MessageParameters::copy_from`].
    unsafe fn send(
        &mut self,
        output: usize,
        payload: Payload,
        parameters: *const DoraParameter,
        parameters_len: usize,
    ) -> i32 {
        // SAFETY: as the caller promises.
        let parameters = match unsafe { MessageParameters::copy_from(parameters, parameters_len) } {
            Ok(parameters) => parameters.map(Rc::new),
            Err(_) => return DORA_BAD_PARAMETER,
        };
        self.outbox.push(Sent {
            output,
            payload,
            parameters,
            timestamp_ns: dora_node_api::now_ns(),
        });
        DORA_OK
    }
}

/// The message an operator is handling, kept past the call for as long as
/// this lives: the same bytes the call's `DoraEvent::data` pointed at, in
/// another node's shared memory or in this process, not a copy.
///
/// A message from another node held here counts against that input's
/// limit of messages held in place, exactly as a node's own
/// `dora_node_api::Data` does: while the operator holds as many as the
/// transport allows, the next ones of that input arrive as copies, so
/// holding never blocks or fails the runtime.
///
/// Not `Send`: messages between operators are shared with the runtime's
/// thread by reference count, so this must be dropped on the thread that
/// took it.
pub struct HeldInput(Payload);

impl std::ops::Deref for HeldInput {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.bytes()
    }
}

impl HeldInput {
    /// Whether the bytes are a copy: the message came from another node
    /// while this input already held as many messages in place as it may.
    pub fn is_copy(&self) -> bool {
        match &self.0 {
            Payload::Node(data) => data.is_copy(),
            Payload::Shared(_) => false,
        }
    }
}

/// Takes the message of the `on_event` call in progress, for an operator
/// that keeps it past the call (Python operators hand it to Python as a
/// memoryview). `None` when the event has no message, or it was taken
/// already. Once taken, the event's `data` lives as long as the returned
/// value, no longer.
///
/// # Safety
/// `context` must be the one this runtime passed to the call in progress:
/// operator kinds served by functions of this process
/// ([`Library::from_functions`](crate::library::Library::from_functions))
/// get exactly that. A context from elsewhere is not a `Call`.
pub unsafe fn hold_input(context: &DoraContext) -> Option<HeldInput> {
    // SAFETY: as the caller promises.
    let call = unsafe { call(context.runtime) };
    call.input.take().map(HeldInput)
}

/// # Safety
/// `runtime` is the pointer of a live `Call`'s context.
unsafe fn call<'c>(runtime: *mut c_void) -> &'c mut Call<'c> {
    // SAFETY: as the caller promises.
    unsafe { &mut *runtime.cast::<Call<'c>>() }
}

unsafe extern "C" fn send_output(
    runtime: *mut c_void,
    output: DoraSlice,
    data: DoraSlice,
    parameters: *const DoraParameter,
    parameters_len: usize,
) -> i32 {
    // SAFETY: the runtime made this context; the slices are valid.
    let call = unsafe { call(runtime) };
    let index = match call.output_index(output) {
        Ok(index) => index,
        Err(status) => return status,
    };
    // SAFETY: valid for the call.
    let data = unsafe { data.as_bytes() };
    let mut bytes = Vec::new();
    if bytes.try_reserve_exact(data.len()).is_err() {
        return DORA_NO_MEMORY;
    }
    bytes.extend_from_slice(data);
    // SAFETY: the operator passes parameters valid for the call.
    unsafe {
        call.send(
            index,
            Payload::Shared(Rc::new(bytes)),
            parameters,
            parameters_len,
        )
    }
}

unsafe extern "C" fn alloc_buffer(runtime: *mut c_void, len: usize) -> *mut u8 {
    // SAFETY: the runtime made this context.
    let call = unsafe { call(runtime) };
    let mut buffer = Vec::new();
    if buffer.try_reserve_exact(len).is_err() {
        return std::ptr::null_mut();
    }
    buffer.resize(len, 0);
    let ptr = buffer.as_mut_ptr();
    call.buffers.push(buffer);
    ptr
}

/// Takes back a buffer from `alloc_buffer`, by its address.
fn take_buffer(call: &mut Call<'_>, buffer: *mut u8) -> Option<Vec<u8>> {
    let index = call
        .buffers
        .iter()
        .position(|b| b.as_ptr() == buffer.cast_const())?;
    Some(call.buffers.swap_remove(index))
}

unsafe extern "C" fn send_buffer(
    runtime: *mut c_void,
    output: DoraSlice,
    buffer: *mut u8,
    parameters: *const DoraParameter,
    parameters_len: usize,
) -> i32 {
    // SAFETY: the runtime made this context.
    let call = unsafe { call(runtime) };
    let Some(buffer) = take_buffer(call, buffer) else {
        return DORA_UNKNOWN_BUFFER;
    };
    let index = match call.output_index(output) {
        Ok(index) => index,
        Err(status) => return status,
    };
    // SAFETY: the operator passes parameters valid for the call.
    unsafe {
        call.send(
            index,
            Payload::Shared(Rc::new(buffer)),
            parameters,
            parameters_len,
        )
    }
}

unsafe extern "C" fn free_buffer(runtime: *mut c_void, buffer: *mut u8) {
    // SAFETY: the runtime made this context.
    let call = unsafe { call(runtime) };
    take_buffer(call, buffer);
}

fn get(store: &Store, key: DoraSlice) -> DoraSlice {
    // SAFETY: the operator passes a key valid for the call.
    let key = unsafe { key.as_bytes() };
    store.get(key).map_or(DoraSlice::EMPTY, |value| DoraSlice {
        // Non-null even when empty: null means "not set".
        ptr: if value.is_empty() {
            std::ptr::NonNull::<u8>::dangling().as_ptr()
        } else {
            value.as_ptr()
        },
        len: value.len(),
    })
}

fn set(store: &mut Store, key: DoraSlice, value: DoraSlice) -> i32 {
    // SAFETY: the operator passes slices valid for the call.
    let (key, value) = unsafe { (key.as_bytes(), value.as_bytes()) };
    store.insert(key.into(), value.to_vec());
    DORA_OK
}

unsafe extern "C" fn state_get(runtime: *mut c_void, key: DoraSlice) -> DoraSlice {
    // SAFETY: the runtime made this context.
    get(unsafe { call(runtime) }.state, key)
}

unsafe extern "C" fn state_set(runtime: *mut c_void, key: DoraSlice, value: DoraSlice) -> i32 {
    // SAFETY: the runtime made this context.
    set(unsafe { call(runtime) }.state, key, value)
}

unsafe extern "C" fn shared_get(runtime: *mut c_void, key: DoraSlice) -> DoraSlice {
    // SAFETY: the runtime made this context.
    get(unsafe { call(runtime) }.shared, key)
}

unsafe extern "C" fn shared_set(runtime: *mut c_void, key: DoraSlice, value: DoraSlice) -> i32 {
    // SAFETY: the runtime made this context.
    set(unsafe { call(runtime) }.shared, key, value)
}

unsafe extern "C" fn set_error(runtime: *mut c_void, message: DoraSlice) {
    // SAFETY: the runtime made this context; the message is valid.
    let call = unsafe { call(runtime) };
    let message = unsafe { message.as_bytes() };
    call.error = Some(String::from_utf8_lossy(message).into_owned());
}

#[cfg(test)]
mod tests {
    use dora_operator_api::abi::{DORA_PARAMETER_INTEGER, DORA_PARAMETER_STRING};

    use super::*;

    fn text(s: &str) -> DoraSlice {
        DoraSlice::new(s.as_bytes())
    }

    #[test]
    fn each_failed_send_returns_its_own_status() {
        let outputs = [DataId::from("out")];
        let (mut state, mut shared) = (Store::new(), Store::new());
        let mut call = Call::new(Some(&outputs), &mut state, &mut shared);
        let context = call.context("op");
        let seq = DoraParameter {
            integer: 1,
            ..DoraParameter::empty(text("seq"), DORA_PARAMETER_INTEGER)
        };
        let not_utf8 = DoraParameter {
            bytes: DoraSlice::new(&[0xff]),
            ..DoraParameter::empty(text("name"), DORA_PARAMETER_STRING)
        };
        // SAFETY: the context of a live call, with slices that outlive it.
        unsafe {
            let send = |output, parameter: &DoraParameter| {
                (context.send_output)(context.runtime, text(output), text("x"), parameter, 1)
            };
            assert_eq!(send("out", &seq), DORA_OK);
            assert_eq!(send("nowhere", &seq), DORA_UNDECLARED_OUTPUT);
            assert_eq!(send("out", &not_utf8), DORA_BAD_PARAMETER);
            let mut stray = 0u8;
            let status = (context.send_buffer)(
                context.runtime,
                text("out"),
                &mut stray,
                std::ptr::null(),
                0,
            );
            assert_eq!(status, DORA_UNKNOWN_BUFFER);
            let buffer = (context.alloc_buffer)(context.runtime, 4);
            let status =
                (context.send_buffer)(context.runtime, text("out"), buffer, std::ptr::null(), 0);
            assert_eq!(status, DORA_OK);
            // Sent, so no longer the operator's.
            let status =
                (context.send_buffer)(context.runtime, text("out"), buffer, std::ptr::null(), 0);
            assert_eq!(status, DORA_UNKNOWN_BUFFER);
        }
        let sent: Vec<(usize, bool)> = call
            .outbox
            .iter()
            .map(|s| (s.output, s.parameters.is_some()))
            .collect();
        assert_eq!(sent, [(0, true), (0, false)]);
    }

    #[test]
    fn nothing_can_be_sent_during_init() {
        let (mut state, mut shared) = (Store::new(), Store::new());
        let mut call = Call::new(None, &mut state, &mut shared);
        let context = call.context("op");
        // SAFETY: the context of a live call, with slices that outlive it.
        let status = unsafe {
            (context.send_output)(context.runtime, text("out"), text("x"), std::ptr::null(), 0)
        };
        assert_eq!(status, DORA_CANNOT_SEND_NOW);
        assert!(call.outbox.is_empty());
    }
}
