//! What [`register_operator!`](crate::register_operator) exports: the C ABI
//! over a Rust [`Operator`], with every panic caught at the boundary (a
//! panic must not unwind into the runtime) and reported without stalling
//! it (see `panic.rs`).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::{
    DoraContext, DoraEvent, DORA_CONTINUE, DORA_ERROR, DORA_EVENT_INPUT, DORA_EVENT_INPUT_CLOSED,
    DORA_EVENT_STOP, DORA_INVALID, DORA_OK, DORA_PANIC, DORA_STOP, DORA_STOP_ALL,
};
use crate::context::Context;
use crate::operator::{Event, Operator, Status};
use crate::parameters::Parameters;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// `dora_init_operator` for `O`.
///
/// # Safety
/// `context` and `operator` are valid pointers from the runtime.
pub unsafe fn init<O: Operator>(context: *const DoraContext, operator: *mut *mut c_void) -> i32 {
    if context.is_null() || operator.is_null() {
        return DORA_INVALID;
    }
    crate::panic::install_hook();
    // SAFETY: checked non-null; the runtime keeps it and what it points to
    // valid for the call.
    let mut context = unsafe { Context::new(&*context) };
    let result = catch_unwind(AssertUnwindSafe(|| O::init(&mut context)));
    status(&context, result, |made| {
        // SAFETY: checked non-null.
        unsafe { *operator = Box::into_raw(Box::new(made)).cast() };
        DORA_OK
    })
}

/// The status code of a call's `result`: `ok` for a value, otherwise
/// `DORA_ERROR` or `DORA_PANIC`, with the message set in `context`.
fn status<T>(
    context: &Context<'_>,
    result: std::thread::Result<Result<T, String>>,
    ok: impl FnOnce(T) -> i32,
) -> i32 {
    match result {
        Ok(Ok(value)) => ok(value),
        Ok(Err(message)) => {
            context.set_error(&message);
            DORA_ERROR
        }
        Err(payload) => {
            context.set_error(&panic_message(&*payload));
            DORA_PANIC
        }
    }
}

/// `dora_on_event` for `O`.
///
/// # Safety
/// `operator` came from [`init`] for the same `O`; `event` and `context`
/// are valid pointers from the runtime.
pub unsafe fn on_event<O: Operator>(
    operator: *mut c_void,
    event: *const DoraEvent,
    context: *const DoraContext,
) -> i32 {
    if operator.is_null() || event.is_null() || context.is_null() {
        return DORA_INVALID;
    }
    // SAFETY: checked non-null; valid for the call.
    let (raw, context) = unsafe { (&*event, &*context) };
    // SAFETY: the runtime's context, valid for the call.
    let mut context = unsafe { Context::new(context) };
    // SAFETY: the runtime passes UTF-8 ids and data valid for the call.
    let (input, data) = unsafe { (raw.input.as_bytes(), raw.data.as_bytes()) };
    let Ok(id) = std::str::from_utf8(input) else {
        return DORA_INVALID;
    };
    let event = match raw.kind {
        DORA_EVENT_INPUT => Event::Input {
            id,
            data,
            timestamp_ns: raw.timestamp_ns,
            // SAFETY: the runtime passes parameters valid for the call.
            parameters: unsafe { Parameters::from_raw(raw.parameters, raw.parameters_len) },
            late: raw.late != 0,
        },
        DORA_EVENT_INPUT_CLOSED => Event::InputClosed { id },
        DORA_EVENT_STOP => Event::Stop,
        other => {
            context.set_error(&format!(
                "the runtime passed an event of unknown kind {other}; build the operator with the same dora version as the runtime"
            ));
            return DORA_INVALID;
        }
    };
    // SAFETY: `operator` is the `O` that `init` made.
    let operator = unsafe { &mut *operator.cast::<O>() };
    let result = catch_unwind(AssertUnwindSafe(|| operator.on_event(&event, &mut context)));
    status(&context, result, |status| match status {
        Status::Continue => DORA_CONTINUE,
        Status::Stop => DORA_STOP,
        Status::StopAll => DORA_STOP_ALL,
    })
}

/// `dora_drop_operator` for `O`. A panic in `Drop` is swallowed: the
/// operator is gone either way.
///
/// # Safety
/// `operator` came from [`init`] for the same `O` and is dropped once.
pub unsafe fn drop<O: Operator>(operator: *mut c_void) {
    if operator.is_null() {
        return;
    }
    // SAFETY: as the caller promises.
    let operator = unsafe { Box::from_raw(operator.cast::<O>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || std::mem::drop(operator)));
}

/// Exports `$operator` (a type that implements
/// [`Operator`](crate::Operator)) as the operator of this `cdylib`: the
/// three functions of the C ABI that `dora-runtime` loads.
#[macro_export]
macro_rules! register_operator {
    ($operator:ty) => {
        /// # Safety
        /// Called by the dora runtime with valid pointers.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dora_init_operator(
            context: *const $crate::abi::DoraContext,
            operator: *mut *mut ::std::ffi::c_void,
        ) -> i32 {
            // SAFETY: forwarded as received.
            unsafe { $crate::ffi::init::<$operator>(context, operator) }
        }

        /// # Safety
        /// Called by the dora runtime with valid pointers.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dora_on_event(
            operator: *mut ::std::ffi::c_void,
            event: *const $crate::abi::DoraEvent,
            context: *const $crate::abi::DoraContext,
        ) -> i32 {
            // SAFETY: forwarded as received.
            unsafe { $crate::ffi::on_event::<$operator>(operator, event, context) }
        }

        /// # Safety
        /// Called by the dora runtime with a pointer from `dora_init_operator`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dora_drop_operator(operator: *mut ::std::ffi::c_void) {
            // SAFETY: forwarded as received.
            unsafe { $crate::ffi::drop::<$operator>(operator) }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::abi::{DoraParameter, DoraSlice};
    use crate::operator::Status;

    struct Counter(u32);

    impl Operator for Counter {
        fn init(_: &mut Context<'_>) -> Result<Self, String> {
            Ok(Counter(0))
        }

        fn on_event(&mut self, _: &Event<'_>, _: &mut Context<'_>) -> Result<Status, String> {
            self.0 += 1;
            Ok(Status::Continue)
        }
    }

    thread_local! {
        static ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    unsafe extern "C" fn send(
        _: *mut c_void,
        _: DoraSlice,
        _: DoraSlice,
        _: *const DoraParameter,
        _: usize,
    ) -> i32 {
        DORA_INVALID
    }
    unsafe extern "C" fn alloc(_: *mut c_void, _: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    unsafe extern "C" fn send_buffer(
        _: *mut c_void,
        _: DoraSlice,
        _: *mut u8,
        _: *const DoraParameter,
        _: usize,
    ) -> i32 {
        DORA_INVALID
    }
    unsafe extern "C" fn free(_: *mut c_void, _: *mut u8) {}
    unsafe extern "C" fn get(_: *mut c_void, _: DoraSlice) -> DoraSlice {
        DoraSlice::EMPTY
    }
    unsafe extern "C" fn set(_: *mut c_void, _: DoraSlice, _: DoraSlice) -> i32 {
        DORA_OK
    }
    unsafe extern "C" fn set_error(_: *mut c_void, message: DoraSlice) {
        // SAFETY: the message is valid for the call.
        let text = String::from_utf8_lossy(unsafe { message.as_bytes() }).into_owned();
        ERROR.with(|e| *e.borrow_mut() = Some(text));
    }

    #[test]
    fn an_event_of_unknown_kind_is_an_error_not_a_stop() {
        let context = DoraContext {
            runtime: std::ptr::null_mut(),
            operator_id: DoraSlice::new(b"op"),
            send_output: send,
            alloc_buffer: alloc,
            send_buffer,
            free_buffer: free,
            state_get: get,
            state_set: set,
            shared_get: get,
            shared_set: set,
            set_error,
        };
        let mut operator = std::ptr::null_mut();
        // SAFETY: valid pointers for the calls.
        assert_eq!(unsafe { init::<Counter>(&context, &mut operator) }, DORA_OK);
        let event = DoraEvent {
            kind: 99,
            late: 0,
            input: DoraSlice::EMPTY,
            data: DoraSlice::EMPTY,
            timestamp_ns: 0,
            parameters: std::ptr::null(),
            parameters_len: 0,
        };
        // SAFETY: the operator `init` made, and valid pointers.
        let status = unsafe { on_event::<Counter>(operator, &event, &context) };
        assert_eq!(status, DORA_INVALID);
        let error = ERROR.with(|e| e.borrow_mut().take()).unwrap_or_default();
        assert!(error.contains("unknown kind 99"), "{error}");
        // SAFETY: `operator` came from `init` and is dropped once.
        unsafe { drop::<Counter>(operator) };
    }
}
