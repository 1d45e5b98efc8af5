//! Metadata parameters to send with an output.

use std::ffi::c_char;

use dora_node_api::{Parameter, Parameters};
use dora_operator_api::abi::{DORA_INVALID, DORA_OK};

use crate::error;

/// Parameters to send with a message: keys to strings, integers, floats,
/// booleans or bytes. Made by `dora_params_new`, freed by
/// `dora_params_free`; sending copies them, so one set may be reused.
pub struct DoraParams {
    pub(crate) parameters: Parameters,
}

/// A new, empty set of parameters. Free it with `dora_params_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dora_params_new() -> *mut DoraParams {
    Box::into_raw(Box::new(DoraParams {
        parameters: Parameters::new(),
    }))
}

/// Frees parameters from `dora_params_new`. NULL is ignored.
///
/// # Safety
/// `params` is NULL or from `dora_params_new`, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_free(params: *mut DoraParams) {
    if !params.is_null() {
        // SAFETY: as the caller promises.
        drop(unsafe { Box::from_raw(params) });
    }
}

/// # Safety
/// `params` is NULL or valid; `key` is NULL or a NUL-terminated string.
unsafe fn set(params: *mut DoraParams, key: *const c_char, value: Parameter) -> i32 {
    if params.is_null() {
        return error::null("params", DORA_INVALID);
    }
    // SAFETY: as the caller promises.
    let Some(key) = (unsafe { error::text(key, "key") }) else {
        return DORA_INVALID;
    };
    // SAFETY: checked non-null; valid as the caller promises.
    unsafe { &mut *params }
        .parameters
        .insert(key.to_owned(), value);
    DORA_OK
}

/// Sets `key` to an integer. Returns `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// `params` from `dora_params_new`; `key` a NUL-terminated UTF-8 string
/// (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_set_int(
    params: *mut DoraParams,
    key: *const c_char,
    value: i64,
) -> i32 {
    // SAFETY: forwarded.
    unsafe { set(params, key, Parameter::Integer(value)) }
}

/// Sets `key` to a float. Returns `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// As `dora_params_set_int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_set_float(
    params: *mut DoraParams,
    key: *const c_char,
    value: f64,
) -> i32 {
    // SAFETY: forwarded.
    unsafe { set(params, key, Parameter::Float(value)) }
}

/// Sets `key` to a boolean. Returns `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// As `dora_params_set_int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_set_bool(
    params: *mut DoraParams,
    key: *const c_char,
    value: bool,
) -> i32 {
    // SAFETY: forwarded.
    unsafe { set(params, key, Parameter::Bool(value)) }
}

/// Sets `key` to a string (NUL-terminated UTF-8, copied). Returns
/// `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// As `dora_params_set_int`; `value` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_set_string(
    params: *mut DoraParams,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    // SAFETY: as the caller promises.
    let Some(value) = (unsafe { error::text(value, "value") }) else {
        return DORA_INVALID;
    };
    // SAFETY: forwarded.
    unsafe { set(params, key, Parameter::String(value.to_owned())) }
}

/// Sets `key` to `len` bytes at `value` (copied; NULL is allowed when
/// `len` is 0). Returns `DORA_OK` or `DORA_INVALID`.
///
/// # Safety
/// As `dora_params_set_int`; `value` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dora_params_set_bytes(
    params: *mut DoraParams,
    key: *const c_char,
    value: *const u8,
    len: usize,
) -> i32 {
    if value.is_null() && len > 0 {
        return error::null("value", DORA_INVALID);
    }
    let bytes = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts(value, len) }.to_vec()
    };
    // SAFETY: forwarded.
    unsafe { set(params, key, Parameter::Bytes(bytes)) }
}
