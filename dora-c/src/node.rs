//! Joining a dataflow, taking events and sending outputs.

use std::ffi::c_char;
use std::time::Duration;

use dora_node_api::{EventStream, OutputLoan, Parameters, SendError};
use dora_operator_api::abi::{DORA_ERROR, DORA_INVALID, DORA_OK};

use crate::error;
use crate::event::DoraNodeEvent;
use crate::params::DoraParams;
use crate::{DORA_NO_MEMORY, DORA_TOO_MANY_BUFFERS, DORA_UNDECLARED_OUTPUT};

/// A node of a running dataflow. Made by `dora_init_from_env`, freed by
/// `dora_free_node` (after every event and buffer it gave out).
pub struct DoraNode {
    /// Buffers from `dora_output_alloc` not yet sent or discarded; kept
    /// first, so they are dropped before the node's ports.
    loans: Vec<OutputLoan>,
    node: dora_node_api::DoraNode,
    events: EventStream,
}

/// Joins the dataflow that `dora run` started this process for. Returns
/// once every node of the dataflow is connected, so nothing sent after it
/// is lost. NULL on failure, with the reason in `dora_last_error()` (for
/// instance when the program was not started by `dora run`).
#[unsafe(no_mangle)]
pub extern "C" fn dora_init_from_env() -> *mut DoraNode {
    match dora_node_api::DoraNode::init_from_env() {
        Ok((node, events)) => Box::into_raw(Box::new(DoraNode {
            loans: Vec::new(),
            node,
            events,
        })),
        Err(e) => {
            error::set(e.to_string());
            std::ptr::null_mut()
        }
    }
}

/// Leaves the dataflow and frees the node. NULL is ignored. Free every
/// event first; buffers not yet sent are discarded.
///
/// # Safety
/// `node` is NULL or from `dora_init_from_env`, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_free_node(node: *mut DoraNode) {
    if !node.is_null() {
        // SAFETY: as the caller promises.
        drop(unsafe { Box::from_raw(node) });
    }
}

/// # Safety
/// `node` is NULL or a live node.
unsafe fn node<'a>(node: *mut DoraNode) -> Option<&'a mut DoraNode> {
    if node.is_null() {
        error::null("node", DORA_INVALID);
        None
    } else {
        // SAFETY: as the caller promises.
        Some(unsafe { &mut *node })
    }
}

/// Waits for the next event: at most `timeout_ms` milliseconds, or for
/// ever if it is negative. Returns the event, to free with
/// `dora_free_event`, or NULL when none came in time or the stream has
/// ended (`dora_is_ended` tells which).
///
/// A node may hold any number of events. Up to three messages of one input
/// are read in place in shared memory at a time; while the node holds
/// those, the next ones of that input are copies, so free events as soon
/// as they are handled to keep reading in place.
///
/// # Safety
/// `node` is from `dora_init_from_env`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_next_event(
    node: *mut DoraNode,
    timeout_ms: i64,
) -> *mut DoraNodeEvent {
    // SAFETY: as the caller promises.
    let Some(node) = (unsafe { self::node(node) }) else {
        return std::ptr::null_mut();
    };
    let event = match u64::try_from(timeout_ms) {
        Ok(ms) => node.events.recv_timeout(Duration::from_millis(ms)),
        Err(_) => node.events.next(),
    };
    match event {
        Some(event) => Box::into_raw(Box::new(DoraNodeEvent::new(event))),
        None => std::ptr::null_mut(),
    }
}

/// Whether the node's events have ended: `Stop` was taken, or every input
/// is closed. 0 for a NULL node.
///
/// # Safety
/// `node` is NULL or from `dora_init_from_env`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_is_ended(node: *const DoraNode) -> bool {
    // SAFETY: as the caller promises.
    unsafe { node.as_ref() }.is_some_and(|n| n.events.is_ended())
}

/// # Safety
/// `params` is NULL or from `dora_params_new`.
unsafe fn parameters(params: *const DoraParams) -> Parameters {
    // SAFETY: as the caller promises.
    unsafe { params.as_ref() }.map_or_else(Parameters::new, |p| p.parameters.clone())
}

/// Sends `len` bytes at `data` on `output` (NUL-terminated), with
/// `params` (NULL for none): one copy, into shared memory. `data`,
/// `output` and `params` stay the caller's. Returns `DORA_OK`,
/// `DORA_INVALID` (a NULL argument), `DORA_UNDECLARED_OUTPUT`,
/// `DORA_NO_MEMORY` or `DORA_ERROR`.
///
/// # Safety
/// `node` from `dora_init_from_env`; `data` points to `len` readable bytes
/// (or is NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_send_output(
    node: *mut DoraNode,
    output: *const c_char,
    data: *const u8,
    len: usize,
    params: *const DoraParams,
) -> i32 {
    // SAFETY: as the caller promises.
    let (Some(node), Some(output)) = (unsafe { self::node(node) }, unsafe {
        error::text(output, "output")
    }) else {
        return DORA_INVALID;
    };
    if data.is_null() && len > 0 {
        return error::null("data", DORA_INVALID);
    }
    let data = if len == 0 {
        &[][..]
    } else {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    // SAFETY: as the caller promises.
    let parameters = unsafe { parameters(params) };
    match node.node.send_output(output, parameters, data) {
        Ok(()) => DORA_OK,
        Err(e) => send_failed(e),
    }
}

/// Records why sending failed and returns its code.
fn send_failed(e: SendError) -> i32 {
    let code = match e {
        SendError::UndeclaredOutput { .. } => DORA_UNDECLARED_OUTPUT,
        SendError::OutOfMemory { .. } => DORA_NO_MEMORY,
        SendError::TooManyLoans { .. } => DORA_TOO_MANY_BUFFERS,
        SendError::MetadataTooLarge { .. } => DORA_INVALID,
        _ => DORA_ERROR,
    };
    error::set(e.to_string());
    code
}

/// Makes a writable buffer of `len` bytes in shared memory for a message
/// on `output`, sent with `params` (NULL for none; copied now), and stores
/// its address in `*buffer`. Write all `len` bytes, then send it with
/// `dora_output_send` (no copy) or give it back with
/// `dora_output_discard`; it belongs to the node until then.
///
/// The buffer is not cleared first, which would cost a pass over it: a
/// byte left unwritten is sent as the memory held it, zero or a byte of
/// an earlier message on `output`.
///
/// Returns `DORA_OK`, or (with `*buffer` set to NULL and the reason in
/// `dora_last_error()`):
/// - `DORA_INVALID`: a NULL argument;
/// - `DORA_UNDECLARED_OUTPUT`: `output` is not declared for this node;
/// - `DORA_NO_MEMORY`: no shared memory for `len` bytes;
/// - `DORA_TOO_MANY_BUFFERS`: the node already holds two unsent buffers
///   of `output`;
/// - `DORA_ERROR`: the transport failed.
///
/// # Safety
/// `node` from `dora_init_from_env`; `output` a NUL-terminated string;
/// `buffer` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_output_alloc(
    node: *mut DoraNode,
    output: *const c_char,
    len: usize,
    params: *const DoraParams,
    buffer: *mut *mut u8,
) -> i32 {
    // SAFETY: as the caller promises.
    let Some(buffer) = (unsafe { buffer.as_mut() }) else {
        return error::null("buffer", DORA_INVALID);
    };
    *buffer = std::ptr::null_mut();
    // SAFETY: as the caller promises.
    let (Some(node), Some(output)) = (unsafe { self::node(node) }, unsafe {
        error::text(output, "output")
    }) else {
        return DORA_INVALID;
    };
    // SAFETY: as the caller promises.
    let parameters = unsafe { parameters(params) };
    match node.node.loan_output_uninit(output, len, parameters) {
        Ok(mut loan) => {
            *buffer = loan.as_mut_ptr();
            node.loans.push(loan);
            DORA_OK
        }
        Err(e) => send_failed(e),
    }
}

/// Takes back the loan of `buffer`.
fn take_loan(node: &mut DoraNode, buffer: *mut u8) -> Option<OutputLoan> {
    if buffer.is_null() {
        error::null("buffer", DORA_INVALID);
        return None;
    }
    let index = node
        .loans
        .iter_mut()
        .position(|loan| loan.as_mut_ptr() == buffer);
    match index {
        Some(index) => Some(node.loans.swap_remove(index)),
        None => {
            error::set(
                "`buffer` did not come from `dora_output_alloc` of this node, or was already sent",
            );
            None
        }
    }
}

/// Sends a buffer from `dora_output_alloc`: the receivers read it where it
/// is. The buffer is no longer the caller's, whatever the result.
/// Returns `DORA_OK`, `DORA_INVALID` (not a buffer of this node) or
/// `DORA_ERROR`.
///
/// # Safety
/// `node` from `dora_init_from_env`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_output_send(node: *mut DoraNode, buffer: *mut u8) -> i32 {
    // SAFETY: as the caller promises.
    let Some(node) = (unsafe { self::node(node) }) else {
        return DORA_INVALID;
    };
    let Some(mut loan) = take_loan(node, buffer) else {
        return DORA_INVALID;
    };
    let len = loan.remaining();
    // SAFETY: the caller wrote the buffer, as `dora_output_alloc` asks.
    // Bytes it skipped hold what the shared memory held, zeroes of a fresh
    // page or an earlier message: memory that foreign code had a pointer
    // to has some value, and `len` is what is left of the loan.
    unsafe { loan.advance(len) };
    match node.node.send_loan(loan) {
        Ok(()) => DORA_OK,
        Err(e) => send_failed(e),
    }
}

/// Gives back a buffer from `dora_output_alloc` without sending it.
/// Returns `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// `node` from `dora_init_from_env`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_output_discard(node: *mut DoraNode, buffer: *mut u8) -> i32 {
    // SAFETY: as the caller promises.
    let Some(node) = (unsafe { self::node(node) }) else {
        return DORA_INVALID;
    };
    match take_loan(node, buffer) {
        Some(_) => DORA_OK,
        None => DORA_INVALID,
    }
}
