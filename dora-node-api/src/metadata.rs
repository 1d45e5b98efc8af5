//! The metadata that travels with every message: when it was sent, and
//! parameters chosen by the sender.
//!
//! Parameters are encoded after the payload, in the same shared-memory
//! sample, so a message is still one sample and one notification.

use std::collections::BTreeMap;

/// A parameter value a sender attaches to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// Parameters by name.
pub type Parameters = BTreeMap<String, Parameter>;

/// What a receiver learns about a message besides its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// When the sender finished writing the message, in nanoseconds since
    /// the Unix epoch.
    pub timestamp_ns: u64,
    /// The sender's sequence number on this output, from 0. It goes on
    /// across restarts of the sender, so a gap always means messages this
    /// receiver did not get.
    pub sequence: u64,
    pub parameters: Parameters,
}

const STRING: u8 = 0;
const INTEGER: u8 = 1;
const FLOAT: u8 = 2;
const BOOL: u8 = 3;
const BYTES: u8 = 4;

/// The encoded size of `parameters`, so that the sample can be loaned
/// with room for them.
pub(crate) fn encoded_len(parameters: &Parameters) -> usize {
    parameters
        .iter()
        .map(|(key, value)| {
            4 + key.len()
                + 1
                + match value {
                    Parameter::String(s) => 4 + s.len(),
                    Parameter::Bytes(b) => 4 + b.len(),
                    Parameter::Integer(_) | Parameter::Float(_) => 8,
                    Parameter::Bool(_) => 1,
                }
        })
        .sum()
}

/// Writes `parameters` into `out`, which is exactly `encoded_len` long.
pub(crate) fn encode(parameters: &Parameters, out: &mut [u8]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    for (key, value) in parameters {
        put(&(key.len() as u32).to_le_bytes());
        put(key.as_bytes());
        match value {
            Parameter::String(s) => {
                put(&[STRING]);
                put(&(s.len() as u32).to_le_bytes());
                put(s.as_bytes());
            }
            Parameter::Bytes(b) => {
                put(&[BYTES]);
                put(&(b.len() as u32).to_le_bytes());
                put(b);
            }
            Parameter::Integer(i) => {
                put(&[INTEGER]);
                put(&i.to_le_bytes());
            }
            Parameter::Float(f) => {
                put(&[FLOAT]);
                put(&f.to_le_bytes());
            }
            Parameter::Bool(b) => {
                put(&[BOOL]);
                put(&[u8::from(*b)]);
            }
        }
    }
}

/// Reads parameters written by [`encode`]; `None` if the bytes are not a
/// valid encoding (a sender of another version, or corrupted memory).
pub(crate) fn decode(mut bytes: &[u8]) -> Option<Parameters> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    fn len(bytes: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?) as usize)
    }
    let mut parameters = Parameters::new();
    while !bytes.is_empty() {
        let key_len = len(&mut bytes)?;
        let key = String::from_utf8(take(&mut bytes, key_len)?.to_vec()).ok()?;
        let tag = take(&mut bytes, 1)?[0];
        let value = match tag {
            STRING => {
                let n = len(&mut bytes)?;
                Parameter::String(String::from_utf8(take(&mut bytes, n)?.to_vec()).ok()?)
            }
            BYTES => {
                let n = len(&mut bytes)?;
                Parameter::Bytes(take(&mut bytes, n)?.to_vec())
            }
            INTEGER => {
                Parameter::Integer(i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?))
            }
            FLOAT => Parameter::Float(f64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?)),
            BOOL => Parameter::Bool(take(&mut bytes, 1)?[0] != 0),
            _ => return None,
        };
        parameters.insert(key, value);
    }
    Some(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_parameter_round_trips() {
        let parameters = Parameters::from([
            ("name".to_owned(), Parameter::String("left".to_owned())),
            ("count".to_owned(), Parameter::Integer(-3)),
            ("gain".to_owned(), Parameter::Float(0.5)),
            ("ok".to_owned(), Parameter::Bool(true)),
            ("raw".to_owned(), Parameter::Bytes(vec![0, 255])),
        ]);
        let mut buffer = vec![0; encoded_len(&parameters)];
        encode(&parameters, &mut buffer);
        assert_eq!(decode(&buffer), Some(parameters));
    }

    #[test]
    fn garbage_is_refused_not_misread() {
        assert_eq!(decode(&[9, 0, 0, 0, b'a']), None);
        assert_eq!(decode(&[1, 0, 0, 0, b'a', 77]), None);
        assert_eq!(decode(&[]), Some(Parameters::new()));
    }
}
