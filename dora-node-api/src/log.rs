//! Structured logging for nodes: [`log`](fn@log) and [`write()`] here, the
//! `log` crate's macros once the node has joined its dataflow, `dora_log`
//! in C and a `logging` handler in Python all end in [`write()`].
//!
//! Under `dora run` a record goes to the node's stderr as one line that the
//! launcher reads apart from printed lines (see [`dora_core::log`]): it
//! shows its level in colour, filters it by the node's `min_log_level`,
//! writes it to the node's log, and sends it where the dataflow says
//! (`send_logs_as`, `dora/logs`). Outside dora it is a plain line on
//! stderr. Nothing here is on the message path.
//!
//! ```no_run
//! use dora_node_api::log::{self, LogLevel, LogRecord};
//!
//! let (node, events) = dora_node_api::DoraNode::init_from_env()?;
//! log::log(LogLevel::Info, "camera opened");
//! ::log::warn!("frame dropped"); // the `log` crate, bridged
//! let mut record = LogRecord::new(LogLevel::Debug, "exposure");
//! record.fields.insert("ms".into(), 8.5.into());
//! log::write(&record);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub use dora_core::log::{LogLevel, LogMessage, LogRecord};

/// Records less severe than this are not written (the node's
/// `min_log_level`); everything, until the node joins a dataflow.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Stdout as u8);
/// Whether records go to a launcher as structured lines.
static STRUCTURED: AtomicBool = AtomicBool::new(false);

/// The least severe level written: the node's `min_log_level`, or
/// `stdout` (everything) when it has none or has not joined a dataflow.
pub fn min_level() -> LogLevel {
    let index = MIN_LEVEL.load(Ordering::Relaxed) as usize;
    LogLevel::ALL
        .get(index)
        .copied()
        .unwrap_or(LogLevel::Stdout)
}

/// Whether a record of `level` would be written: callers can skip
/// building a costly message.
pub fn enabled(level: LogLevel) -> bool {
    level.passes(min_level())
}

/// Logs `message` at `level`.
pub fn log(level: LogLevel, message: &str) {
    if enabled(level) {
        write(&LogRecord::new(level, message));
    }
}

/// Writes `record` to stderr: structured for the launcher when the node
/// runs under dora, a plain line otherwise. A record below the node's
/// `min_log_level` is left out. A failed write (stderr closed) is not the
/// node's failure, and is ignored like a failed `eprintln`.
pub fn write(record: &LogRecord) {
    if !enabled(record.level) {
        return;
    }
    let line = if STRUCTURED.load(Ordering::Relaxed) {
        record.encode()
    } else {
        let mut line = match &record.target {
            Some(target) => format!("{} {target}: {}", record.level, record.message),
            None => format!("{} {}", record.level, record.message),
        };
        for (key, value) in &record.fields {
            line.push_str(&format!(" {key}={value}"));
        }
        line.push('\n');
        line.into_bytes()
    };
    // One write of the whole line, under the lock: it is not interleaved
    // with what other threads print through Rust's stderr.
    let _ = std::io::stderr().lock().write_all(&line);
}

/// Sets up logging for a node that joined its dataflow: records become
/// structured, filtered at `min_level`, and the `log` crate's records are
/// bridged here unless the node installed a logger of its own.
pub(crate) fn configure(min_level: Option<LogLevel>) {
    let min_level = min_level.unwrap_or(LogLevel::Stdout);
    MIN_LEVEL.store(min_level as u8, Ordering::Relaxed);
    STRUCTURED.store(true, Ordering::Relaxed);
    if ::log::set_logger(&BRIDGE).is_ok() {
        ::log::set_max_level(bridged_filter(min_level));
    }
}

/// How verbose the `log` crate may be: the node's `min_log_level`, except
/// that without one (or with `stdout`) it stops at `info`, so that the
/// debug records of every library the node links are not all formatted.
/// `RUST_LOG` set to a level name overrides it.
fn bridged_filter(min_level: LogLevel) -> ::log::LevelFilter {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| text.parse::<::log::LevelFilter>().ok());
    from_env.unwrap_or(match min_level {
        LogLevel::Error => ::log::LevelFilter::Error,
        LogLevel::Warn => ::log::LevelFilter::Warn,
        LogLevel::Info | LogLevel::Stdout => ::log::LevelFilter::Info,
        LogLevel::Debug => ::log::LevelFilter::Debug,
        LogLevel::Trace => ::log::LevelFilter::Trace,
    })
}

/// The `log` crate's logger for a node.
struct Bridge;

static BRIDGE: Bridge = Bridge;

fn level_of(level: ::log::Level) -> LogLevel {
    match level {
        ::log::Level::Error => LogLevel::Error,
        ::log::Level::Warn => LogLevel::Warn,
        ::log::Level::Info => LogLevel::Info,
        ::log::Level::Debug => LogLevel::Debug,
        ::log::Level::Trace => LogLevel::Trace,
    }
}

impl ::log::Log for Bridge {
    fn enabled(&self, metadata: &::log::Metadata) -> bool {
        enabled(level_of(metadata.level()))
    }

    fn log(&self, record: &::log::Record) {
        let level = level_of(record.level());
        if !enabled(level) {
            return;
        }
        let mut ours = LogRecord::new(level, record.args().to_string());
        ours.target = Some(record.target().to_owned());
        ours.file = record.file().map(str::to_owned);
        ours.line = record.line();
        write(&ours);
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bridge_keeps_every_level_and_rust_log_overrides_the_filter() {
        assert_eq!(level_of(::log::Level::Warn), LogLevel::Warn);
        assert_eq!(level_of(::log::Level::Trace), LogLevel::Trace);
        // Without RUST_LOG (the test runner does not set it here).
        if std::env::var_os("RUST_LOG").is_none() {
            assert_eq!(bridged_filter(LogLevel::Stdout), ::log::LevelFilter::Info);
            assert_eq!(bridged_filter(LogLevel::Debug), ::log::LevelFilter::Debug);
            assert_eq!(bridged_filter(LogLevel::Error), ::log::LevelFilter::Error);
        }
    }
}
