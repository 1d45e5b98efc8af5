//! A message's parameters, held once and lent to every operator that
//! reads the message.
//!
//! A message without parameters carries `None`: nothing is allocated for
//! it. A message with some holds them in an `Rc`, so a message that goes
//! to several operators shares one copy, like its bytes.

use dora_node_api::{Parameter, Parameters};
use dora_operator_api::abi::{
    DoraParameter, DoraSlice, DORA_PARAMETER_BOOL, DORA_PARAMETER_BYTES, DORA_PARAMETER_FLOAT,
    DORA_PARAMETER_INTEGER, DORA_PARAMETER_STRING,
};

/// Parameters, with the array that the ABI hands to operators.
pub struct MessageParameters {
    /// Points into `values`: into the heap buffers of its keys and
    /// values, which stay where they are while `values` is not changed
    /// (it never is after `new`), even when the map itself moves.
    raw: Vec<DoraParameter>,
    values: Parameters,
}

impl MessageParameters {
    /// `None` for no parameters, so that such messages allocate nothing.
    pub fn new(values: Parameters) -> Option<MessageParameters> {
        if values.is_empty() {
            return None;
        }
        let raw = values.iter().map(|(key, value)| raw(key, value)).collect();
        Some(MessageParameters { raw, values })
    }

    /// Parameters an operator sent, copied out of its array.
    ///
    /// # Safety
    /// `ptr` is null with `len` 0, or points to `len` parameters whose
    /// slices are valid for the call.
    pub unsafe fn copy_from(
        ptr: *const DoraParameter,
        len: usize,
    ) -> Result<Option<MessageParameters>, BadParameter> {
        if ptr.is_null() || len == 0 {
            return Ok(None);
        }
        // SAFETY: as the caller promises.
        let array = unsafe { std::slice::from_raw_parts(ptr, len) };
        let mut values = Parameters::new();
        for parameter in array {
            // SAFETY: as the caller promises.
            let (key, bytes) = unsafe { (parameter.key.as_bytes(), parameter.bytes.as_bytes()) };
            let key = std::str::from_utf8(key).map_err(|_| BadParameter)?;
            let text = || std::str::from_utf8(bytes).map_err(|_| BadParameter);
            let value = match parameter.kind {
                DORA_PARAMETER_STRING => Parameter::String(text()?.to_owned()),
                DORA_PARAMETER_INTEGER => Parameter::Integer(parameter.integer),
                DORA_PARAMETER_FLOAT => Parameter::Float(parameter.floating),
                DORA_PARAMETER_BOOL => Parameter::Bool(parameter.integer != 0),
                DORA_PARAMETER_BYTES => Parameter::Bytes(bytes.to_vec()),
                _ => return Err(BadParameter),
            };
            // The last value of a repeated key wins.
            values.insert(key.to_owned(), value);
        }
        Ok(MessageParameters::new(values))
    }

    /// The array for `DoraEvent`, valid while `self` lives.
    pub fn raw(&self) -> &[DoraParameter] {
        &self.raw
    }

    /// The parameters, as the node API sends them.
    pub fn values(&self) -> &Parameters {
        &self.values
    }
}

/// An operator sent a parameter of an unknown kind, or text that is not
/// UTF-8.
#[derive(Debug)]
pub struct BadParameter;

fn raw(key: &str, value: &Parameter) -> DoraParameter {
    let key = DoraSlice::new(key.as_bytes());
    let mut parameter = DoraParameter::empty(key, DORA_PARAMETER_STRING);
    match value {
        Parameter::String(text) => parameter.bytes = DoraSlice::new(text.as_bytes()),
        Parameter::Integer(integer) => {
            parameter.kind = DORA_PARAMETER_INTEGER;
            parameter.integer = *integer;
        }
        Parameter::Float(floating) => {
            parameter.kind = DORA_PARAMETER_FLOAT;
            parameter.floating = *floating;
        }
        Parameter::Bool(flag) => {
            parameter.kind = DORA_PARAMETER_BOOL;
            parameter.integer = i64::from(*flag);
        }
        Parameter::Bytes(bytes) => {
            parameter.kind = DORA_PARAMETER_BYTES;
            parameter.bytes = DoraSlice::new(bytes);
        }
    }
    parameter
}

#[cfg(test)]
mod tests {
    use dora_operator_api::{ParameterValue, Parameters as View};

    use super::*;

    #[test]
    fn what_an_operator_sent_reads_back_after_the_map_has_moved() {
        let sent = [
            DoraParameter {
                integer: 7,
                ..DoraParameter::empty(DoraSlice::new(b"seq"), DORA_PARAMETER_INTEGER)
            },
            DoraParameter {
                bytes: DoraSlice::new(b"left"),
                ..DoraParameter::empty(DoraSlice::new(b"side"), DORA_PARAMETER_STRING)
            },
            // A repeated key: the last value wins.
            DoraParameter {
                integer: 8,
                ..DoraParameter::empty(DoraSlice::new(b"seq"), DORA_PARAMETER_INTEGER)
            },
        ];
        // SAFETY: the array lives through the call.
        let held = unsafe { MessageParameters::copy_from(sent.as_ptr(), sent.len()) }
            .unwrap()
            .unwrap();
        let moved = Box::new(held);
        // SAFETY: `moved` outlives the view.
        let view = unsafe { View::from_raw(moved.raw().as_ptr(), moved.raw().len()) };
        assert_eq!(view.get_int("seq"), Some(8));
        assert_eq!(view.get("side"), Some(ParameterValue::String("left")));
        assert_eq!(moved.values().len(), 2);
    }

    #[test]
    fn no_parameters_hold_nothing_and_bad_ones_are_refused() {
        assert!(MessageParameters::new(Parameters::new()).is_none());
        // SAFETY: null with length 0.
        assert!(matches!(
            unsafe { MessageParameters::copy_from(std::ptr::null(), 0) },
            Ok(None)
        ));
        let bad = [
            DoraParameter::empty(DoraSlice::new(b"k"), 42),
            DoraParameter {
                bytes: DoraSlice::new(&[0xff]),
                ..DoraParameter::empty(DoraSlice::new(b"k"), DORA_PARAMETER_STRING)
            },
            DoraParameter::empty(DoraSlice::new(&[0xc3]), DORA_PARAMETER_BOOL),
        ];
        for parameter in &bad {
            // SAFETY: one parameter that lives through the call.
            let result = unsafe { MessageParameters::copy_from(parameter, 1) };
            assert!(matches!(result, Err(BadParameter)));
        }
    }
}
