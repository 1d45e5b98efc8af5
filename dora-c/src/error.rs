//! The last error of the calling thread, for `dora_last_error`.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as the calling thread's last error.
pub(crate) fn set(message: impl Into<String>) {
    let message = message.into().replace('\0', " ");
    let message = CString::new(message).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Records that argument `name` was NULL and returns `code`.
pub(crate) fn null(name: &str, code: i32) -> i32 {
    set(format!("argument `{name}` is NULL"));
    code
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Option<&'a str> {
    if ptr.is_null() {
        set(format!("argument `{name}` is NULL"));
        return None;
    }
    // SAFETY: as the caller promises.
    match unsafe { std::ffi::CStr::from_ptr(ptr) }.to_str() {
        Ok(text) => Some(text),
        Err(_) => {
            set(format!("argument `{name}` is not valid UTF-8"));
            None
        }
    }
}

/// The message of the last call that failed on this thread, or "" if none
/// did. Owned by libdora: valid until the next libdora call on this
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn dora_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}
