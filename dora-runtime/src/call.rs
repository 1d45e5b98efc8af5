//! One call into an operator: the context it gets, and the callbacks
//! behind it. What the operator sends is collected here and routed by the
//! runtime once the call has returned.

use std::collections::HashMap;
use std::ffi::c_void;
use std::rc::Rc;

use dora_core::id::DataId;
use dora_operator_api::abi::{DoraContext, DoraSlice, DORA_INVALID, DORA_OK};

use crate::payload::Payload;

/// A key-value store the runtime keeps.
pub type Store = HashMap<Box<[u8]>, Vec<u8>>;

/// What one call may touch, behind `DoraContext::runtime`.
pub struct Call<'a> {
    pub outputs: &'a [DataId],
    /// Sent messages: output index, payload, send time.
    pub outbox: Vec<(usize, Payload, u64)>,
    pub state: &'a mut Store,
    pub shared: &'a mut Store,
    /// Buffers handed out by `alloc_buffer` and not yet sent.
    pub buffers: Vec<Vec<u8>>,
    pub error: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(outputs: &'a [DataId], state: &'a mut Store, shared: &'a mut Store) -> Call<'a> {
        Call {
            outputs,
            outbox: Vec::new(),
            state,
            shared,
            buffers: Vec::new(),
            error: None,
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

    fn output_index(&self, output: DoraSlice) -> Option<usize> {
        // SAFETY: the operator passes a slice valid for the call.
        let name = unsafe { output.as_bytes() };
        self.outputs
            .iter()
            .position(|o| o.as_str().as_bytes() == name)
    }
}

/// # Safety
/// `runtime` is the pointer of a live `Call`'s context.
unsafe fn call<'c>(runtime: *mut c_void) -> &'c mut Call<'c> {
    // SAFETY: as the caller promises.
    unsafe { &mut *runtime.cast::<Call<'c>>() }
}

unsafe extern "C" fn send_output(runtime: *mut c_void, output: DoraSlice, data: DoraSlice) -> i32 {
    // SAFETY: the runtime made this context; the slices are valid.
    let call = unsafe { call(runtime) };
    let Some(index) = call.output_index(output) else {
        return DORA_INVALID;
    };
    // SAFETY: valid for the call.
    let bytes = unsafe { data.as_bytes() }.to_vec();
    call.outbox.push((
        index,
        Payload::Shared(Rc::new(bytes)),
        dora_node_api::now_ns(),
    ));
    DORA_OK
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

unsafe extern "C" fn send_buffer(runtime: *mut c_void, output: DoraSlice, buffer: *mut u8) -> i32 {
    // SAFETY: the runtime made this context.
    let call = unsafe { call(runtime) };
    let Some(buffer) = take_buffer(call, buffer) else {
        return DORA_INVALID;
    };
    let Some(index) = call.output_index(output) else {
        return DORA_INVALID;
    };
    call.outbox.push((
        index,
        Payload::Shared(Rc::new(buffer)),
        dora_node_api::now_ns(),
    ));
    DORA_OK
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
