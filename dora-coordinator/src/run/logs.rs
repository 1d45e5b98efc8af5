//! What a node prints and logs, line by line: a line is either printed
//! text or a structured record (see `dora_core::log`). Each passes the
//! node's `min_log_level`, is shown with its level, written to the node's
//! log file (rotated at `max_log_size`), and handed to the log relay when
//! the dataflow sends it on as data.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use dora_core::descriptor::Node;
use dora_core::log::{LogLevel, LogMessage, LogRecord};

use super::relay::RelayLine;

/// How many rotated log files are kept when the node does not say.
const DEFAULT_ROTATED_FILES: u32 = 5;

/// One line of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Text the node printed.
    Printed { text: String, stderr: bool },
    /// A record the node logged.
    Logged(LogRecord),
}

impl Entry {
    /// The entry a line (without its newline) holds. A damaged record is
    /// kept as printed text, so that it is still seen.
    pub fn read(line: &[u8], stderr: bool) -> Entry {
        match LogRecord::decode(line) {
            Some(Ok(record)) => Entry::Logged(record),
            Some(Err(_)) => Entry::Printed {
                text: String::from_utf8_lossy(&line[1..]).into_owned(),
                stderr,
            },
            None => Entry::Printed {
                text: String::from_utf8_lossy(line).into_owned(),
                stderr,
            },
        }
    }

    pub fn level(&self) -> LogLevel {
        match self {
            Entry::Printed { .. } => LogLevel::Stdout,
            Entry::Logged(record) => record.level,
        }
    }

    /// Whether the entry passes a `min_log_level` of `min`. Text printed
    /// on stderr always does: it is how programs say they fail (a panic,
    /// a traceback), and hiding it would hide why a node died.
    pub fn passes(&self, min: LogLevel) -> bool {
        matches!(self, Entry::Printed { stderr: true, .. }) || self.level().passes(min)
    }

    /// The line as a person reads it, the level in colour when `colours`.
    pub fn render(&self, colours: bool) -> String {
        let record = match self {
            Entry::Printed { text, .. } => return text.clone(),
            Entry::Logged(record) => record,
        };
        let style = match record.level {
            LogLevel::Error => anstyle::AnsiColor::Red.on_default().bold(),
            LogLevel::Warn => anstyle::AnsiColor::Yellow.on_default().bold(),
            LogLevel::Info => anstyle::AnsiColor::Green.on_default(),
            LogLevel::Debug => anstyle::AnsiColor::Blue.on_default(),
            LogLevel::Trace | LogLevel::Stdout => anstyle::Style::new().dimmed(),
        };
        let label = record.level.as_str().to_ascii_uppercase();
        let mut line = if colours {
            format!("{style}{label:<5}{style:#}")
        } else {
            format!("{label:<5}")
        };
        if let Some(target) = &record.target {
            line.push_str(&format!(" {target}:"));
        }
        line.push(' ');
        line.push_str(&record.message);
        for (key, value) in &record.fields {
            line.push_str(&format!(" {key}={value}"));
        }
        line
    }

    /// The entry as a message of node `node` (for `dora/logs`): a printed
    /// line becomes a record at level `stdout`, timed when it was read.
    pub fn message(&self, node: &str) -> LogMessage {
        let record = match self {
            Entry::Logged(record) => record.clone(),
            Entry::Printed { text, .. } => LogRecord::new(LogLevel::Stdout, text.clone()),
        };
        LogMessage {
            node: node.to_owned(),
            record,
        }
    }
}

/// What a launcher does with one node's lines.
pub struct NodeLog {
    pub min_level: LogLevel,
    pub file: LogFile,
    /// Where lines go to be sent on as data, when the dataflow wants them.
    pub relay: Option<RelayLine>,
    /// Whether a failure to write the file has been said.
    file_failed: bool,
}

impl NodeLog {
    pub fn new(node: &Node, path: PathBuf, relay: Option<RelayLine>) -> std::io::Result<NodeLog> {
        Ok(NodeLog {
            min_level: node.min_log_level.unwrap_or(LogLevel::Stdout),
            file: LogFile::open(
                path,
                node.max_log_size.map(|s| s.bytes()),
                node.max_rotated_files.unwrap_or(DEFAULT_ROTATED_FILES),
            )?,
            relay,
            file_failed: false,
        })
    }

    /// Says, once per node process, that its log file cannot be written;
    /// its lines are still shown.
    pub fn file_failed(&mut self, node: &str, error: &std::io::Error) {
        if !std::mem::replace(&mut self.file_failed, true) {
            super::process::say(&format!(
                "warning: cannot write the log file of node `{node}`: {error}; its lines are shown but not kept"
            ));
        }
    }
}

/// A node's log file, rotated when it reaches its size limit: `node.log`
/// becomes `node.1.log`, the older ones move up by one, and the oldest
/// beyond the limit is removed.
pub struct LogFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_size: Option<u64>,
    keep: u32,
}

impl LogFile {
    /// Opens `path` for appending: a restarted node's output follows its
    /// earlier output.
    pub fn open(path: PathBuf, max_size: Option<u64>, keep: u32) -> std::io::Result<LogFile> {
        let file = append_to(&path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            path,
            file,
            written,
            max_size,
            keep,
        })
    }

    /// Appends one line. A file that cannot be written or rotated (a full
    /// disk) is reported by the caller's terminal output, which still has
    /// the line; it does not stop the node.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.max_size.is_some_and(|max| self.written >= max) {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.written += line.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_file(rotated(&self.path, self.keep));
        for n in (1..self.keep).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = append_to(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn append_to(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `node.N.log` beside `node.log`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.{n}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_shown_with_its_level_target_and_fields() {
        let mut record = LogRecord::new(LogLevel::Warn, "slow frame");
        record.target = Some("camera".into());
        record.fields.insert("ms".into(), serde_json::json!(41));
        let entry = Entry::read(&record.encode()[..record.encode().len() - 1], true);
        assert_eq!(entry, Entry::Logged(record));
        assert_eq!(entry.render(false), "WARN  camera: slow frame ms=41");
        assert!(entry.render(true).contains("\u{1b}["));
    }

    #[test]
    fn min_log_level_filters_records_and_printed_stdout_but_never_stderr() {
        let info = Entry::Logged(LogRecord::new(LogLevel::Info, "x"));
        let debug = Entry::Logged(LogRecord::new(LogLevel::Debug, "x"));
        let printed = Entry::read(b"hello", false);
        let panic = Entry::read(b"thread 'main' panicked", true);
        assert!(info.passes(LogLevel::Info) && !debug.passes(LogLevel::Info));
        assert!(!printed.passes(LogLevel::Info) && printed.passes(LogLevel::Stdout));
        assert!(panic.passes(LogLevel::Error));
        let damaged = Entry::read(b"\x1e{\"level\":", true);
        assert_eq!(damaged.render(false), "{\"level\":");
    }

    #[test]
    fn the_log_file_rotates_and_keeps_as_many_files_as_asked() {
        let dir = std::env::temp_dir().join(format!("dora-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.log");
        let mut file = LogFile::open(path.clone(), Some(10), 2).unwrap();
        for line in ["line-0000", "line-0001", "line-0002", "line-0003"] {
            file.append(line).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "line-0003\n");
        assert_eq!(read(&dir.join("node.1.log")), "line-0002\n");
        assert_eq!(read(&dir.join("node.2.log")), "line-0001\n");
        assert!(!dir.join("node.3.log").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
