//! Structured logs from C: `dora_log(DORA_LOG_WARN, "battery low")`. Under
//! `dora run` the record is shown with its level, filtered by the node's
//! `min_log_level`, kept in its log and sent where the dataflow says; see
//! `dora_node_api::log`.

use std::ffi::{c_char, CStr};

use dora_node_api::log::{self, LogLevel, LogRecord};

use crate::error;
use dora_operator_api::abi::{DORA_INVALID, DORA_OK};

/// The most severe level: the node cannot do its work.
pub const DORA_LOG_ERROR: i32 = 0;
/// Something is wrong, and the node goes on.
pub const DORA_LOG_WARN: i32 = 1;
pub const DORA_LOG_INFO: i32 = 2;
pub const DORA_LOG_DEBUG: i32 = 3;
/// The most verbose level.
pub const DORA_LOG_TRACE: i32 = 4;

/// Logs `message` (NUL-terminated; invalid UTF-8 is replaced, not
/// refused) at `level`, one of `DORA_LOG_ERROR` to `DORA_LOG_TRACE`, from
/// `target` (NUL-terminated, such as the file or module; NULL for none).
/// Works before `dora_init_from_env` too, as a plain line on stderr.
/// Returns `DORA_OK`, or `DORA_INVALID` for an unknown level or a NULL
/// message.
///
/// # Safety
/// `message` and `target` are NULL or point to NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_log(
    level: i32,
    target: *const c_char,
    message: *const c_char,
) -> i32 {
    let level = match level {
        DORA_LOG_ERROR => LogLevel::Error,
        DORA_LOG_WARN => LogLevel::Warn,
        DORA_LOG_INFO => LogLevel::Info,
        DORA_LOG_DEBUG => LogLevel::Debug,
        DORA_LOG_TRACE => LogLevel::Trace,
        other => {
            error::set(format!(
                "{other} is not a log level; use DORA_LOG_ERROR, DORA_LOG_WARN, DORA_LOG_INFO, DORA_LOG_DEBUG or DORA_LOG_TRACE"
            ));
            return DORA_INVALID;
        }
    };
    if message.is_null() {
        return error::null("message", DORA_INVALID);
    }
    if !log::enabled(level) {
        return DORA_OK;
    }
    // SAFETY: as the caller promises.
    let text = |ptr| {
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    };
    let mut record = LogRecord::new(level, text(message));
    if !target.is_null() {
        record.target = Some(text(target));
    }
    log::write(&record);
    DORA_OK
}
