//! Between Python values and dora's: metadata dictionaries and parameters,
//! and the bytes of any object with the buffer protocol.

use std::ffi::c_int;

use dora_node_api::{Parameter, Parameters};
use dora_operator_api::{ParameterList, ParameterValue};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyString};

/// Metadata to send: a dict of str to str, int, float, bool or bytes.
pub fn parameters(metadata: Option<&Bound<'_, PyDict>>) -> PyResult<Parameters> {
    let mut parameters = Parameters::new();
    let Some(metadata) = metadata else {
        return Ok(parameters);
    };
    for (key, value) in metadata.iter() {
        let key: String = key.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "metadata keys must be str, not {}",
                type_name(&key)
            ))
        })?;
        // bool before int: a bool is an int to Python.
        let parameter = if value.is_instance_of::<PyBool>() {
            Parameter::Bool(value.extract()?)
        } else if value.is_instance_of::<PyInt>() {
            Parameter::Integer(value.extract()?)
        } else if value.is_instance_of::<PyFloat>() {
            Parameter::Float(value.extract()?)
        } else if value.is_instance_of::<PyString>() {
            Parameter::String(value.extract()?)
        } else if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() {
            Parameter::Bytes(value.extract()?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "metadata value `{key}` must be str, int, float, bool or bytes, not {}",
                type_name(&value)
            )));
        };
        parameters.insert(key, parameter);
    }
    Ok(parameters)
}

/// Received parameters as a dict.
pub fn metadata<'py>(py: Python<'py>, parameters: &Parameters) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in parameters {
        match value {
            Parameter::String(s) => dict.set_item(key, s)?,
            Parameter::Integer(i) => dict.set_item(key, i)?,
            Parameter::Float(f) => dict.set_item(key, f)?,
            Parameter::Bool(b) => dict.set_item(key, b)?,
            Parameter::Bytes(b) => dict.set_item(key, PyBytes::new(py, b))?,
        }
    }
    Ok(dict)
}

/// Parameters to hand to an operator callback, borrowing `parameters`.
pub fn parameter_list(parameters: &Parameters) -> ParameterList<'_> {
    let mut list = ParameterList::new();
    for (key, value) in parameters {
        let value = match value {
            Parameter::String(s) => ParameterValue::String(s),
            Parameter::Integer(i) => ParameterValue::Integer(*i),
            Parameter::Float(f) => ParameterValue::Float(*f),
            Parameter::Bool(b) => ParameterValue::Bool(*b),
            Parameter::Bytes(b) => ParameterValue::Bytes(b),
        };
        list.set(key, value);
    }
    list
}

/// The parameters an operator received, as a dict.
pub fn operator_metadata<'py>(
    py: Python<'py>,
    parameters: dora_operator_api::Parameters<'_>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in parameters.iter() {
        match value {
            ParameterValue::String(s) => dict.set_item(key, s)?,
            ParameterValue::Integer(i) => dict.set_item(key, i)?,
            ParameterValue::Float(f) => dict.set_item(key, f)?,
            ParameterValue::Bool(b) => dict.set_item(key, b)?,
            ParameterValue::Bytes(b) => dict.set_item(key, PyBytes::new(py, b))?,
        }
    }
    Ok(dict)
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an unknown type".to_owned(), |n| n.to_string())
}

/// Calls `use_bytes` with the bytes of `data`, read in place through the
/// buffer protocol (bytes, bytearray, memoryview, numpy arrays, ...).
pub fn with_bytes<T>(
    data: &Bound<'_, PyAny>,
    use_bytes: impl FnOnce(&[u8]) -> PyResult<T>,
) -> PyResult<T> {
    // SAFETY: checks whether the object exports buffers.
    if unsafe { ffi::PyObject_CheckBuffer(data.as_ptr()) } == 0 {
        return Err(PyTypeError::new_err(format!(
            "data must be bytes, bytearray, memoryview or another object with the buffer protocol (a numpy array, say), not {}",
            type_name(data)
        )));
    }
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: asks for a contiguous, read-only view; on success it is
    // released below.
    let status = unsafe {
        ffi::PyObject_GetBuffer(data.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE as c_int)
    };
    if status != 0 {
        // Not contiguous, say; the exporter's error says why.
        return Err(PyErr::fetch(data.py()));
    }
    // SAFETY: initialised by the successful call above.
    let mut view = unsafe { view.assume_init() };
    let bytes: &[u8] = if view.buf.is_null() || view.len <= 0 {
        &[]
    } else {
        // SAFETY: a simple buffer is `len` contiguous bytes at `buf`, valid
        // until released.
        unsafe { std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize) }
    };
    let result = use_bytes(bytes);
    // SAFETY: releases the view obtained above, once.
    unsafe { ffi::PyBuffer_Release(&mut view) };
    result
}
