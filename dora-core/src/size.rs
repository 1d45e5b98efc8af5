//! A number of bytes read from text such as `50MB`, `1.5K` or `4096`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes. Units are powers of 1024 (`K`/`KB`, `M`/`MB`,
/// `G`/`GB`, any case); a bare number is bytes.
///
/// ```
/// use dora_core::ByteSize;
/// assert_eq!("50MB".parse::<ByteSize>().unwrap().bytes(), 50 * 1024 * 1024);
/// assert_eq!("1.5k".parse::<ByteSize>().unwrap().bytes(), 1536);
/// assert_eq!("4096".parse::<ByteSize>().unwrap().bytes(), 4096);
/// assert!("-1KB".parse::<ByteSize>().is_err());
/// assert!("20000000000GB".parse::<ByteSize>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    pub const fn from_bytes(bytes: u64) -> ByteSize {
        ByteSize(bytes)
    }

    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// Text that is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a size; write a number of bytes, or a number and a unit (K, M or G, powers of 1024), like `50MB`")]
pub struct ByteSizeError(String);

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ByteSizeError(text.to_owned());
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            _ => return Err(error()),
        };
        let number = number.trim();
        if let Ok(whole) = number.parse::<u64>() {
            return whole
                .checked_mul(multiplier)
                .map(ByteSize)
                .ok_or_else(error);
        }
        let value: f64 = number.parse().map_err(|_| error())?;
        let bytes = value * multiplier as f64;
        // Also refuses NaN, infinities and negatives, which `as` would
        // quietly turn into 0 or the largest size.
        if !(0.0..u64::MAX as f64).contains(&bytes) {
            return Err(error());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")];
        match units
            .iter()
            .find(|(size, _)| self.0 >= *size && self.0 % size == 0)
        {
            Some((size, unit)) => write!(f, "{}{unit}", self.0 / size),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as `50MB`, or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                u64::try_from(bytes)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{bytes} is a negative size; use 0 or more")))
            }

            fn visit_f64<E: de::Error>(self, bytes: f64) -> Result<ByteSize, E> {
                self.visit_str(&bytes.to_string())
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of bytes, or a number and a unit (K, M, G, KB, MB, GB; powers of 1024), like `50MB`.",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*([kKmMgG]([iI]?[bB])?|[bB])?\\s*$" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_powers_of_1024_and_case_does_not_matter() {
        let cases = [
            ("0", 0),
            ("1b", 1),
            ("1K", 1024),
            ("2 kb", 2048),
            ("1MiB", 1 << 20),
            ("0.5M", 512 * 1024),
            ("1g", 1 << 30),
            (" 3 GB ", 3 << 30),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_size_is_refused_rather_than_clamped() {
        for text in [
            "", "MB", "1TB", "1.2.3K", "-1", "nanM", "infK", "1e300G", "ten",
        ] {
            let error = text.parse::<ByteSize>().unwrap_err().to_string();
            assert!(error.contains("like `50MB`"), "{text}: {error}");
        }
    }

    #[test]
    fn a_size_is_written_back_the_way_it_reads() {
        for text in ["50MB", "1GB", "3KB", "1000"] {
            let size: ByteSize = text.parse().unwrap();
            assert_eq!(size.to_string(), text);
        }
    }
}
