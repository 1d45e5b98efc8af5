//! Reading an event: its type, input id, data (in place in shared
//! memory), timestamp and parameters.

use std::ffi::{c_char, CString};

use dora_node_api::{Event, Parameter};
use dora_operator_api::abi::{DORA_INVALID, DORA_OK};

use crate::error;
use crate::{DORA_NOT_FOUND, DORA_WRONG_TYPE};

/// The type of a node event.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoraNodeEventType {
    /// A message on an input: `dora_event_id`, `dora_event_data`,
    /// `dora_event_timestamp_ns` and the parameters apply.
    DoraNodeEventInput = 0,
    /// The input `dora_event_id` gets no more messages: its source ended,
    /// or it got none for its `input_timeout` (until
    /// `DoraNodeEventInputRecovered`).
    DoraNodeEventInputClosed = 1,
    /// The dataflow is stopping: finish and free the node.
    DoraNodeEventStop = 2,
    /// Receiving failed; `dora_event_error` says why. The node goes on.
    DoraNodeEventError = 3,
    /// The input `dora_event_id`, closed by its `input_timeout`, has a
    /// message again: the next event.
    DoraNodeEventInputRecovered = 4,
    /// The event pointer was NULL.
    DoraNodeEventInvalid = -1,
}

/// One event of a node, from `dora_next_event`; free it with
/// `dora_free_event`. What its accessors return is owned by the event and
/// valid until it is freed.
pub struct DoraNodeEvent {
    event: Event,
    /// The input id, NUL-terminated.
    id: CString,
    /// The error message, NUL-terminated.
    error: CString,
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

impl DoraNodeEvent {
    pub(crate) fn new(event: Event) -> DoraNodeEvent {
        let (id, error) = match &event {
            Event::Input { id, .. } | Event::InputClosed { id } | Event::InputRecovered { id } => {
                (c_string(id.as_str()), CString::default())
            }
            Event::Error(message) => (CString::default(), c_string(&message.to_string())),
            _ => (CString::default(), CString::default()),
        };
        DoraNodeEvent { event, id, error }
    }
}

/// Frees an event. NULL is ignored. Its data returns to the sender.
///
/// # Safety
/// `event` is NULL or from `dora_next_event`, freed once, before its node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_free_event(event: *mut DoraNodeEvent) {
    if !event.is_null() {
        // SAFETY: as the caller promises.
        drop(unsafe { Box::from_raw(event) });
    }
}

/// # Safety
/// `event` is NULL or a live event.
unsafe fn event<'a>(event: *const DoraNodeEvent) -> Option<&'a DoraNodeEvent> {
    if event.is_null() {
        error::null("event", DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    unsafe { event.as_ref() }
}

/// The type of `event`; `DoraNodeEventInvalid` for NULL.
///
/// # Safety
/// `event` is NULL or from `dora_next_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_type(event: *const DoraNodeEvent) -> DoraNodeEventType {
    // SAFETY: as the caller promises.
    match unsafe { self::event(event) }.map(|e| &e.event) {
        Some(Event::Input { .. }) => DoraNodeEventType::DoraNodeEventInput,
        Some(Event::InputClosed { .. }) => DoraNodeEventType::DoraNodeEventInputClosed,
        Some(Event::InputRecovered { .. }) => DoraNodeEventType::DoraNodeEventInputRecovered,
        Some(Event::Stop) => DoraNodeEventType::DoraNodeEventStop,
        Some(Event::Error(_)) => DoraNodeEventType::DoraNodeEventError,
        // A kind of event this library does not know yet.
        Some(_) | None => DoraNodeEventType::DoraNodeEventInvalid,
    }
}

/// The input id of an input, closed-input or recovered-input event (NUL-terminated), ""
/// for other events, NULL for a NULL event. Owned by the event.
///
/// # Safety
/// `event` is NULL or from `dora_next_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_id(event: *const DoraNodeEvent) -> *const c_char {
    // SAFETY: as the caller promises.
    unsafe { self::event(event) }.map_or(std::ptr::null(), |e| e.id.as_ptr())
}

/// The message of an error event (NUL-terminated), "" for other events,
/// NULL for a NULL event. Owned by the event.
///
/// # Safety
/// `event` is NULL or from `dora_next_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_error(event: *const DoraNodeEvent) -> *const c_char {
    // SAFETY: as the caller promises.
    unsafe { self::event(event) }.map_or(std::ptr::null(), |e| e.error.as_ptr())
}

/// Sets `*data` and `*len` to the message of an input event, read in place
/// in shared memory (no copy; owned by the event, read-only). Returns
/// `DORA_OK`, or `DORA_INVALID` for NULL arguments or an event that is no
/// input.
///
/// # Safety
/// `event` from `dora_next_event`; `data` and `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_data(
    event: *const DoraNodeEvent,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    if data.is_null() || len.is_null() {
        return error::null(if data.is_null() { "data" } else { "len" }, DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    let Some(Event::Input { data: bytes, .. }) = (unsafe { self::event(event) }).map(|e| &e.event)
    else {
        error::set("the event is not an input");
        return DORA_INVALID;
    };
    // SAFETY: checked non-null; writable as the caller promises.
    unsafe {
        *data = bytes.as_ptr();
        *len = bytes.len();
    }
    DORA_OK
}

/// When an input's message was sent, in nanoseconds since the Unix epoch;
/// 0 for other events.
///
/// # Safety
/// `event` is NULL or from `dora_next_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_timestamp_ns(event: *const DoraNodeEvent) -> u64 {
    // SAFETY: as the caller promises.
    match unsafe { self::event(event) }.map(|e| &e.event) {
        Some(Event::Input { metadata, .. }) => metadata.timestamp_ns,
        _ => 0,
    }
}

/// Looks up parameter `key` of an input event.
///
/// # Safety
/// `event` is NULL or live; `key` is NULL or a NUL-terminated string.
unsafe fn parameter<'a>(
    event: *const DoraNodeEvent,
    key: *const c_char,
) -> Result<&'a Parameter, i32> {
    // SAFETY: as the caller promises.
    let event = unsafe { self::event(event) }.ok_or(DORA_INVALID)?;
    // SAFETY: as the caller promises.
    let key = unsafe { error::text(key, "key") }.ok_or(DORA_INVALID)?;
    let Event::Input { metadata, .. } = &event.event else {
        error::set("the event is not an input");
        return Err(DORA_INVALID);
    };
    metadata.parameters.get(key).ok_or_else(|| {
        error::set(format!("the message has no parameter `{key}`"));
        DORA_NOT_FOUND
    })
}

fn wrong_type(expected: &str) -> i32 {
    error::set(format!("the parameter is not {expected}"));
    DORA_WRONG_TYPE
}

/// Reads parameter `key` into `*value` if it is an integer. Returns
/// `DORA_OK`, `DORA_NOT_FOUND`, `DORA_WRONG_TYPE` or `DORA_INVALID`.
///
/// # Safety
/// `event` from `dora_next_event`; `key` NUL-terminated; `value` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_param_int(
    event: *const DoraNodeEvent,
    key: *const c_char,
    value: *mut i64,
) -> i32 {
    if value.is_null() {
        return error::null("value", DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    match unsafe { parameter(event, key) } {
        // SAFETY: checked non-null.
        Ok(Parameter::Integer(v)) => unsafe {
            *value = *v;
            DORA_OK
        },
        Ok(_) => wrong_type("an integer"),
        Err(code) => code,
    }
}

/// Reads parameter `key` into `*value` if it is a float. Returns as
/// `dora_event_param_int`.
///
/// # Safety
/// As `dora_event_param_int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_param_float(
    event: *const DoraNodeEvent,
    key: *const c_char,
    value: *mut f64,
) -> i32 {
    if value.is_null() {
        return error::null("value", DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    match unsafe { parameter(event, key) } {
        // SAFETY: checked non-null.
        Ok(Parameter::Float(v)) => unsafe {
            *value = *v;
            DORA_OK
        },
        Ok(_) => wrong_type("a float"),
        Err(code) => code,
    }
}

/// Reads parameter `key` into `*value` if it is a boolean. Returns as
/// `dora_event_param_int`.
///
/// # Safety
/// As `dora_event_param_int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_param_bool(
    event: *const DoraNodeEvent,
    key: *const c_char,
    value: *mut bool,
) -> i32 {
    if value.is_null() {
        return error::null("value", DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    match unsafe { parameter(event, key) } {
        // SAFETY: checked non-null.
        Ok(Parameter::Bool(v)) => unsafe {
            *value = *v;
            DORA_OK
        },
        Ok(_) => wrong_type("a boolean"),
        Err(code) => code,
    }
}

/// Points `*value`/`*len` at parameter `key` if it is a string (UTF-8,
/// not NUL-terminated, owned by the event). Returns as
/// `dora_event_param_int`.
///
/// # Safety
/// As `dora_event_param_int`; `value` and `len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_param_string(
    event: *const DoraNodeEvent,
    key: *const c_char,
    value: *mut *const c_char,
    len: *mut usize,
) -> i32 {
    if value.is_null() || len.is_null() {
        return error::null(if value.is_null() { "value" } else { "len" }, DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    match unsafe { parameter(event, key) } {
        // SAFETY: checked non-null.
        Ok(Parameter::String(s)) => unsafe {
            *value = s.as_ptr().cast();
            *len = s.len();
            DORA_OK
        },
        Ok(_) => wrong_type("a string"),
        Err(code) => code,
    }
}

/// Points `*value`/`*len` at parameter `key` if it is bytes (owned by the
/// event). Returns as `dora_event_param_int`.
///
/// # Safety
/// As `dora_event_param_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_event_param_bytes(
    event: *const DoraNodeEvent,
    key: *const c_char,
    value: *mut *const u8,
    len: *mut usize,
) -> i32 {
    if value.is_null() || len.is_null() {
        return error::null(if value.is_null() { "value" } else { "len" }, DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    match unsafe { parameter(event, key) } {
        // SAFETY: checked non-null.
        Ok(Parameter::Bytes(b)) => unsafe {
            *value = b.as_ptr();
            *len = b.len();
            DORA_OK
        },
        Ok(_) => wrong_type("bytes"),
        Err(code) => code,
    }
}
