//! The parameters that travel with a message: read those of an input,
//! and send your own.
//!
//! ```
//! use dora_operator_api::{ParameterList, ParameterValue, Parameters};
//!
//! let mut list = ParameterList::new();
//! list.set("seq", ParameterValue::Integer(7))
//!     .set("source", ParameterValue::String("camera"));
//! let parameters: Parameters<'_> = list.parameters();
//! assert_eq!(parameters.get_int("seq"), Some(7));
//! assert_eq!(parameters.get_str("source"), Some("camera"));
//!
//! // Forwarding what came in, plus one of our own:
//! let mut forwarded = ParameterList::from(parameters);
//! forwarded.set("hops", ParameterValue::Integer(1));
//! assert_eq!(forwarded.parameters().len(), 3);
//! ```

use std::marker::PhantomData;

use crate::abi::{
    DoraParameter, DoraSlice, DORA_PARAMETER_BOOL, DORA_PARAMETER_BYTES, DORA_PARAMETER_FLOAT,
    DORA_PARAMETER_INTEGER, DORA_PARAMETER_STRING,
};

/// The value of one parameter, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParameterValue<'a> {
    String(&'a str),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Bytes(&'a [u8]),
}

/// The parameters of a message: a view of the runtime's array, valid for
/// the call. Reading them allocates nothing.
#[derive(Clone, Copy, Default)]
pub struct Parameters<'a> {
    raw: &'a [DoraParameter],
}

impl<'a> Parameters<'a> {
    /// No parameters.
    pub const EMPTY: Parameters<'static> = Parameters { raw: &[] };

    /// A view of `len` parameters at `ptr`.
    ///
    /// # Safety
    /// `ptr` is null with `len` 0, or points to `len` parameters whose
    /// slices stay valid for `'a`.
    pub unsafe fn from_raw(ptr: *const DoraParameter, len: usize) -> Parameters<'a> {
        if ptr.is_null() || len == 0 {
            return Parameters::default();
        }
        // SAFETY: as the caller promises.
        Parameters {
            raw: unsafe { std::slice::from_raw_parts(ptr, len) },
        }
    }

    /// The array, as the ABI passes it.
    pub fn as_raw(&self) -> &'a [DoraParameter] {
        self.raw
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Every parameter, in the order the sender gave them. An entry that
    /// is not valid (an unknown kind, text that is not UTF-8) is skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, ParameterValue<'a>)> + 'a {
        self.raw.iter().filter_map(decode)
    }

    /// The value of `key`; when the key repeats, the last one.
    pub fn get(&self, key: &str) -> Option<ParameterValue<'a>> {
        self.raw
            .iter()
            .rev()
            .filter(|p| {
                // SAFETY: valid for 'a, as `from_raw` was promised.
                let name = unsafe { p.key.as_bytes() };
                name == key.as_bytes()
            })
            .find_map(decode)
            .map(|(_, value)| value)
    }

    /// `key` as an integer; `None` if missing or of another kind.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            ParameterValue::Integer(value) => Some(value),
            _ => None,
        }
    }

    /// `key` as a float; `None` if missing or of another kind.
    pub fn get_float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            ParameterValue::Float(value) => Some(value),
            _ => None,
        }
    }

    /// `key` as a boolean; `None` if missing or of another kind.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            ParameterValue::Bool(value) => Some(value),
            _ => None,
        }
    }

    /// `key` as text; `None` if missing or of another kind.
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        match self.get(key)? {
            ParameterValue::String(value) => Some(value),
            _ => None,
        }
    }

    /// `key` as bytes; `None` if missing or of another kind.
    pub fn get_bytes(&self, key: &str) -> Option<&'a [u8]> {
        match self.get(key)? {
            ParameterValue::Bytes(value) => Some(value),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Parameters<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn decode<'a>(raw: &'a DoraParameter) -> Option<(&'a str, ParameterValue<'a>)> {
    // SAFETY: the slices are valid for 'a, as `from_raw` was promised.
    let (key, bytes) = unsafe { (raw.key.as_bytes(), raw.bytes.as_bytes()) };
    let key = std::str::from_utf8(key).ok()?;
    let value = match raw.kind {
        DORA_PARAMETER_STRING => ParameterValue::String(std::str::from_utf8(bytes).ok()?),
        DORA_PARAMETER_INTEGER => ParameterValue::Integer(raw.integer),
        DORA_PARAMETER_FLOAT => ParameterValue::Float(raw.floating),
        DORA_PARAMETER_BOOL => ParameterValue::Bool(raw.integer != 0),
        DORA_PARAMETER_BYTES => ParameterValue::Bytes(bytes),
        _ => return None,
    };
    Some((key, value))
}

fn encode(key: &str, value: ParameterValue<'_>) -> DoraParameter {
    let key = DoraSlice::new(key.as_bytes());
    match value {
        ParameterValue::String(text) => DoraParameter {
            bytes: DoraSlice::new(text.as_bytes()),
            ..DoraParameter::empty(key, DORA_PARAMETER_STRING)
        },
        ParameterValue::Integer(integer) => DoraParameter {
            integer,
            ..DoraParameter::empty(key, DORA_PARAMETER_INTEGER)
        },
        ParameterValue::Float(floating) => DoraParameter {
            floating,
            ..DoraParameter::empty(key, DORA_PARAMETER_FLOAT)
        },
        ParameterValue::Bool(flag) => DoraParameter {
            integer: i64::from(flag),
            ..DoraParameter::empty(key, DORA_PARAMETER_BOOL)
        },
        ParameterValue::Bytes(bytes) => DoraParameter {
            bytes: DoraSlice::new(bytes),
            ..DoraParameter::empty(key, DORA_PARAMETER_BYTES)
        },
    }
}

/// Parameters to send, borrowing their keys and values: build one, then
/// pass [`parameters`](Self::parameters) to
/// [`Context::send_output_params`](crate::Context::send_output_params).
/// The runtime copies them when they are sent.
#[derive(Clone, Default)]
pub struct ParameterList<'a> {
    raw: Vec<DoraParameter>,
    _borrowed: PhantomData<&'a [u8]>,
}

impl<'a> ParameterList<'a> {
    pub fn new() -> ParameterList<'a> {
        ParameterList::default()
    }

    /// Sets `key`, replacing its value if it is already set.
    pub fn set(&mut self, key: &'a str, value: ParameterValue<'a>) -> &mut ParameterList<'a> {
        let parameter = encode(key, value);
        let existing = self.raw.iter_mut().find(|p| {
            // SAFETY: every key here borrows a `&'a str`.
            let name = unsafe { p.key.as_bytes() };
            name == key.as_bytes()
        });
        match existing {
            Some(slot) => *slot = parameter,
            None => self.raw.push(parameter),
        }
        self
    }

    /// Removes `key`, if it is set.
    pub fn remove(&mut self, key: &str) -> &mut ParameterList<'a> {
        self.raw.retain(|p| {
            // SAFETY: every key here borrows a `&'a str`.
            let name = unsafe { p.key.as_bytes() };
            name != key.as_bytes()
        });
        self
    }

    /// The parameters, to send.
    pub fn parameters(&self) -> Parameters<'_> {
        Parameters { raw: &self.raw }
    }
}

impl<'a> From<Parameters<'a>> for ParameterList<'a> {
    /// The parameters of a message, to send on with changes: a copy of
    /// the array only; keys and values stay borrowed.
    fn from(parameters: Parameters<'a>) -> ParameterList<'a> {
        let mut list = ParameterList::new();
        for (key, value) in parameters.iter() {
            list.set(key, value);
        }
        list
    }
}

impl std::fmt::Debug for ParameterList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.parameters().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_it_was_set() {
        let mut list = ParameterList::new();
        list.set("s", ParameterValue::String("text"))
            .set("i", ParameterValue::Integer(-5))
            .set("f", ParameterValue::Float(0.25))
            .set("b", ParameterValue::Bool(true))
            .set("x", ParameterValue::Bytes(&[0, 255]));
        let p = list.parameters();
        assert_eq!(p.get_str("s"), Some("text"));
        assert_eq!(p.get_int("i"), Some(-5));
        assert_eq!(p.get_float("f"), Some(0.25));
        assert_eq!(p.get_bool("b"), Some(true));
        assert_eq!(p.get_bytes("x"), Some(&[0u8, 255][..]));
        // Another kind, or no such key.
        assert_eq!(p.get_int("s"), None);
        assert_eq!(p.get_str("missing"), None);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["s", "i", "f", "b", "x"]);
    }

    #[test]
    fn setting_a_key_again_replaces_it() {
        let mut list = ParameterList::new();
        list.set("n", ParameterValue::Integer(1))
            .set("n", ParameterValue::Integer(2));
        assert_eq!(list.parameters().len(), 1);
        assert_eq!(list.parameters().get_int("n"), Some(2));
        list.remove("n");
        assert!(list.parameters().is_empty());
    }

    #[test]
    fn entries_that_are_not_valid_are_skipped_not_misread() {
        let bad_utf8 = [0xff, 0xfe];
        let raw = [
            DoraParameter::empty(DoraSlice::new(b"kind"), 99),
            DoraParameter {
                bytes: DoraSlice::new(&bad_utf8),
                ..DoraParameter::empty(DoraSlice::new(b"text"), DORA_PARAMETER_STRING)
            },
            DoraParameter::empty(DoraSlice::new(&bad_utf8), DORA_PARAMETER_INTEGER),
            DoraParameter {
                integer: 3,
                ..DoraParameter::empty(DoraSlice::new(b"ok"), DORA_PARAMETER_INTEGER)
            },
        ];
        // SAFETY: the array and what it points to live through the test.
        let p = unsafe { Parameters::from_raw(raw.as_ptr(), raw.len()) };
        assert_eq!(p.get("kind"), None);
        assert_eq!(p.get_str("text"), None);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [("ok", ParameterValue::Integer(3))]
        );
        // SAFETY: null with length 0 is allowed.
        assert!(unsafe { Parameters::from_raw(std::ptr::null(), 5) }.is_empty());
    }
}
