//! Durations as people write them in YAML: `5ms`, `1.5s`, `250us`, `2m`, or
//! a bare number of seconds (`1.5`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A span of time read from text such as `5ms`, `1.5s`, `250us`, `2m` or
/// `1h`: a number followed by one of the units `ns`, `us`, `ms`, `s`, `m`,
/// `h`.
///
/// ```
/// use dora_core::Duration;
///
/// let d: Duration = "1.5s".parse().unwrap();
/// assert_eq!(d.as_std(), std::time::Duration::from_millis(1500));
/// assert_eq!(d.to_string(), "1500ms");
/// assert!("5 parsecs".parse::<Duration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_millis(millis: u64) -> Self {
        Duration(std::time::Duration::from_millis(millis))
    }

    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

/// Text that is not a duration; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration; write a number and a unit (ns, us, ms, s, m or h), like `5ms` or `1.5s`")]
pub struct DurationError {
    text: String,
}

const UNITS: [(&str, f64); 7] = [
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || DurationError {
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number.parse().map_err(|_| error())?;
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit.trim())
            .map(|(_, scale)| *scale)
            .ok_or_else(error)?;
        std::time::Duration::try_from_secs_f64(number * scale)
            .map(Duration)
            .map_err(|_| error())
    }
}

/// Writes the largest unit that keeps the value whole, so that
/// `Duration::from_str(&d.to_string()) == Ok(d)`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        for (unit, size) in [
            ("h", 3_600_000_000_000u128),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ] {
            if nanos != 0 && nanos % size == 0 {
                return write!(f, "{}{unit}", nanos / size);
            }
        }
        write!(f, "{nanos}ns")
    }
}

/// In a file, a duration is text with a unit (`5ms`, `1.5s`) or a bare
/// number of seconds (`restart_delay: 1.5`), the form dataflows written for
/// dora-rs use.
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl de::Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `5ms` or `1.5s`, or a number of seconds")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                text.parse().map_err(|_| {
                    E::custom(format!("`{text}` is not a duration; write a number and a unit (ns, us, ms, s, m or h), like `5ms` or `1.5s`, or a bare number of seconds"))
                })
            }

            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(secs))
            }

            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
                self.visit_f64(secs as f64)
            }

            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
                if secs < 0.0 {
                    return Err(E::custom(format!(
                        "{secs} seconds is a negative duration; use 0 or more seconds"
                    )));
                }
                std::time::Duration::try_from_secs_f64(secs)
                    .map(Duration)
                    .map_err(|_| {
                        E::custom(format!("{secs} seconds is too long a duration; use a duration of at most a few days, like `1h`"))
                    })
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number and a unit (ns, us, ms, s, m, h), like `5ms` or `1.5s`, or a bare number of seconds.",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|m|h)\s*$"
                },
                { "type": "number", "minimum": 0 }
            ],
            "examples": ["5ms", "1.5s", "250us", 2]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        let ms = |n| Ok(Duration::from_millis(n));
        assert_eq!("5ms".parse(), ms(5));
        assert_eq!("2s".parse(), ms(2000));
        assert_eq!("0.5 s".parse(), ms(500));
        assert_eq!("1m".parse(), ms(60_000));
        assert_eq!("1h".parse(), ms(3_600_000));
        assert_eq!(
            "250us".parse::<Duration>().unwrap().as_std().as_micros(),
            250
        );
        assert_eq!("7ns".parse::<Duration>().unwrap().as_std().as_nanos(), 7);
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in ["", "5", "ms", "5 parsecs", "-1s", "1.2.3s"] {
            assert!(text.parse::<Duration>().is_err(), "{text:?} was accepted");
        }
    }

    fn from_yaml(text: &str) -> Result<Duration, String> {
        let document = crate::yaml::parse(text).unwrap();
        crate::yaml::from_value::<Duration>(&document[0]).map_err(|errors| {
            format!(
                "{}; {}",
                errors[0].message,
                errors[0].hint.clone().unwrap_or_default()
            )
        })
    }

    #[test]
    fn bare_numbers_in_a_file_are_seconds() {
        assert_eq!(from_yaml("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(from_yaml("2"), Ok(Duration::from_secs(2)));
        assert_eq!(from_yaml("0"), Ok(Duration::from_secs(0)));
        assert_eq!(from_yaml("250ms"), Ok(Duration::from_millis(250)));
        // A quoted number is text, and text needs a unit.
        let quoted = from_yaml("'2'").unwrap_err();
        assert!(quoted.contains("or a bare number of seconds"), "{quoted}");
    }

    #[test]
    fn bare_numbers_that_are_no_duration_are_refused() {
        assert!(from_yaml("-1").unwrap_err().contains("negative duration"));
        assert!(from_yaml("-0.5").unwrap_err().contains("negative duration"));
        assert!(from_yaml("1e300").unwrap_err().contains("too long"));
        assert!(from_yaml(".nan").unwrap_err().contains("is not a duration"));
    }

    #[test]
    fn display_reads_back() {
        for text in ["1h", "90s", "1500ms", "3us", "7ns", "0ns"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
        assert_eq!(Duration::from_millis(90_000).to_string(), "90s");
    }
}
