//! Logs as data: the levels, the record a node logs, and how a record
//! travels from a node to its launcher.
//!
//! A node writes each record to its stderr as one line that starts with
//! the ASCII record separator (0x1E) and holds the record as JSON, as in
//! JSON text sequences (RFC 7464). The launcher reads it apart from what
//! the node prints: a printed line that happens to be JSON is never taken
//! for a record, and records keep their order with the node's stderr.
//!
//! ```
//! use dora_core::log::{LogLevel, LogRecord};
//!
//! let record = LogRecord::new(LogLevel::Warn, "battery at 9%");
//! let line = record.encode();
//! assert_eq!(line[0], 0x1E);
//! let back = LogRecord::decode(&line[..line.len() - 1]).unwrap().unwrap();
//! assert_eq!(back, record);
//! assert!(LogRecord::decode(b"{\"level\":\"warn\"}").is_none());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The byte a record's line starts with.
pub const RECORD_START: u8 = 0x1E;

/// How much a message says, from the most severe to the most verbose.
/// `stdout` is a line the node printed rather than logged: the most
/// verbose of all, so that a filter at `info` hides printed lines, and a
/// filter at `stdout` (the default) shows everything.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
    Stdout,
}

impl LogLevel {
    /// Every level, from the most severe.
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
        LogLevel::Stdout,
    ];

    /// Whether a message of this level passes a filter set at `filter`.
    ///
    /// ```
    /// use dora_core::log::LogLevel::*;
    /// assert!(Error.passes(Info));
    /// assert!(!Debug.passes(Info));
    /// assert!(!Stdout.passes(Info));
    /// assert!(Debug.passes(Stdout));
    /// ```
    pub fn passes(self, filter: LogLevel) -> bool {
        self <= filter
    }

    /// The level's name as written in a dataflow (`warn`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
            LogLevel::Stdout => "stdout",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a log level; use one of error, warn, info, debug, trace, stdout")]
pub struct LogLevelError(pub String);

impl FromStr for LogLevel {
    type Err = LogLevelError;

    /// Case does not matter; `warning` is `warn`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            "stdout" => Ok(LogLevel::Stdout),
            _ => Err(LogLevelError(text.to_owned())),
        }
    }
}

/// One message a node logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
    /// Where it was logged from: a Rust module path, a Python logger's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Structured values that came with the message.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// When it was logged, in milliseconds since the Unix epoch; 0 when
    /// not known.
    #[serde(default)]
    pub time_ms: u64,
}

impl LogRecord {
    /// A record of `message` at `level`, logged now.
    pub fn new(level: LogLevel, message: impl Into<String>) -> LogRecord {
        LogRecord {
            level,
            message: message.into(),
            target: None,
            file: None,
            line: None,
            fields: BTreeMap::new(),
            time_ms: now_ms(),
        }
    }

    /// The record as the line a node writes: [`RECORD_START`], the JSON,
    /// and a newline, in one buffer so that it is written at once.
    pub fn encode(&self) -> Vec<u8> {
        let mut line = vec![RECORD_START];
        // A record holds strings, numbers and JSON values only: writing it
        // to memory cannot fail.
        serde_json::to_writer(&mut line, self).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// The record a line holds (without its newline), or `None` when the
    /// line is not a record: a line the node printed.
    pub fn decode(line: &[u8]) -> Option<Result<LogRecord, serde_json::Error>> {
        let json = line.strip_prefix(&[RECORD_START])?;
        Some(serde_json::from_slice(json))
    }
}

/// A log message as nodes receive it (from `dora/logs`, or an output named
/// by `send_logs_as`): the record, and which node it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMessage {
    pub node: String,
    #[serde(flatten)]
    pub record: LogRecord,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_from_severe_to_verbose() {
        let mut sorted = LogLevel::ALL;
        sorted.sort();
        assert_eq!(sorted, LogLevel::ALL);
        for level in LogLevel::ALL {
            assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
            assert!(level.passes(LogLevel::Stdout));
            assert!(LogLevel::Error.passes(level));
        }
        assert_eq!("WARNING".parse::<LogLevel>(), Ok(LogLevel::Warn));
        let error = "loud".parse::<LogLevel>().unwrap_err().to_string();
        assert!(
            error.contains("`loud`") && error.contains("debug"),
            "{error}"
        );
    }

    #[test]
    fn a_record_with_fields_survives_its_line() {
        let mut record = LogRecord::new(LogLevel::Debug, "line\nbreak \u{1e} and all");
        record.target = Some("camera::driver".into());
        record.file = Some("src/main.rs".into());
        record.line = Some(42);
        record.fields.insert("fps".into(), serde_json::json!(29.97));
        let line = record.encode();
        // One line: the newline inside the message is escaped.
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let back = LogRecord::decode(&line[..line.len() - 1]).unwrap().unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_damaged_record_is_an_error_and_a_plain_line_is_not_a_record() {
        assert!(LogRecord::decode(b"\x1e{not json").unwrap().is_err());
        assert!(LogRecord::decode(b"hello").is_none());
        assert!(LogRecord::decode(b"").is_none());
    }

    #[test]
    fn a_message_names_its_node_beside_the_record() {
        let message = LogMessage {
            node: "camera".into(),
            record: LogRecord::new(LogLevel::Error, "lost"),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["node"], "camera");
        assert_eq!(json["level"], "error");
        assert_eq!(json["message"], "lost");
    }
}
