//! The table printed when a run ends: how each node ended, how often it
//! was restarted, what it sent, received and dropped, and every message
//! that did not reach its reader, with where and why.

use std::fmt::Write;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use dora_core::id::NodeId;
use dora_node_api::stats::{kind, NodeStats};

/// How a node's process ended.
#[derive(Debug, Clone)]
pub enum Ended {
    Exited(ExitStatus),
    /// Still running when the grace period after `Stop` was over.
    Killed {
        grace: Duration,
    },
    /// It took no event for `timeout` (its `health_check_timeout`) while
    /// not waiting for one, and was killed.
    Unresponsive {
        timeout: Duration,
    },
    /// Its status could not be read, or it could not be restarted.
    Lost(String),
    /// It ran on another machine of a spread run, which said so.
    Elsewhere {
        failed: bool,
        status: String,
    },
}

impl Ended {
    pub fn failed(&self) -> bool {
        match self {
            Ended::Exited(status) => !status.success(),
            Ended::Elsewhere { failed, .. } => *failed,
            _ => true,
        }
    }

    pub fn describe(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self {
            Ended::Exited(status) => match (status.code(), status.signal()) {
                (Some(0), _) => "ok".to_owned(),
                (Some(code), _) => format!("failed: exit code {code}"),
                (None, Some(signal)) => format!("failed: killed by signal {signal}"),
                (None, None) => format!("failed: {status}"),
            },
            Ended::Killed { grace } => format!(
                "killed: still running {:.1}s after Stop",
                grace.as_secs_f64()
            ),
            Ended::Unresponsive { timeout } => format!(
                "killed: took no event for {:.1}s (health_check_timeout)",
                timeout.as_secs_f64()
            ),
            Ended::Lost(error) => format!("failed: {error}"),
            Ended::Elsewhere { status, .. } => status.clone(),
        }
    }
}

/// Why messages sent to an input were never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossCause {
    /// They were in the input's queue when the node's process ended this
    /// way (not at `Stop`).
    InQueueAtExit(String),
    /// A runtime node had taken them for an operator (queued, or being
    /// handled) when its process ended this way.
    InRuntimeAtExit(String),
    /// They were sent while the node was restarting.
    WhileRestarting,
    /// The node ended on its own, successfully, with them unread, or they
    /// came after.
    AfterEnded,
    /// They came after the node had failed for good.
    AfterFailed,
    /// They were unread when the node ended at `Stop`, or came after.
    UnreadAtStop,
}

impl LossCause {
    /// Whether this is a loss that fails the run, rather than messages a
    /// node chose not to read.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            LossCause::InQueueAtExit(_)
                | LossCause::InRuntimeAtExit(_)
                | LossCause::WhileRestarting
                | LossCause::AfterFailed
        )
    }
}

/// Messages of one input that were never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub input: String,
    pub sender: String,
    pub count: u64,
    pub cause: LossCause,
}

impl Loss {
    fn describe(&self) -> String {
        let Loss {
            input,
            sender,
            count,
            ..
        } = self;
        let messages = plural(*count, "message");
        match &self.cause {
            LossCause::InQueueAtExit(how) => format!(
                "input `{input}` lost {messages} from `{sender}`, left in its queue when the node's process ended ({how})"
            ),
            LossCause::InRuntimeAtExit(how) => format!(
                "input `{input}` lost {messages} from `{sender}`, held by the runtime for the operator (queued, or being handled) when its process ended ({how})"
            ),
            LossCause::WhileRestarting => format!(
                "input `{input}` lost {messages} from `{sender}`, sent while the node was restarting"
            ),
            LossCause::AfterFailed => format!(
                "input `{input}` lost {messages} from `{sender}`, sent after the node had failed for good"
            ),
            LossCause::AfterEnded => format!(
                "input `{input}` did not read {messages} from `{sender}`: the node had ended on its own"
            ),
            LossCause::UnreadAtStop => format!(
                "input `{input}` did not read {messages} from `{sender}`, left unread at Stop"
            ),
        }
    }
}

/// An operator of a runtime node, for its lines of the summary.
pub struct OperatorRow {
    pub id: String,
    /// The restarts it gets after a panic.
    pub max_restarts: u32,
}

/// One node's line of the summary.
pub struct Row<'a> {
    pub id: &'a NodeId,
    pub ended: Option<&'a Ended>,
    pub restarts: u32,
    pub stats: Option<NodeStats>,
    pub losses: Vec<Loss>,
    pub operators: Vec<OperatorRow>,
    /// Messages the log relay sent of what the node printed or logged.
    pub relayed: u64,
}

/// `n thing` or `n things`.
fn plural(n: u64, thing: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {thing}{s}")
}

/// The lines under a node for its operators; whether one of them is a
/// failure.
fn operator_lines(row: &Row, stats: &NodeStats) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut failed = false;
    for operator in &row.operators {
        let id = &operator.id;
        let restarts = stats.get(kind::OPERATOR_RESTARTS, id);
        if restarts > 0 {
            lines.push(format!(
                "operator `{id}` was restarted {} of {} (in the process, its state kept)",
                plural(restarts, "time"),
                operator.max_restarts
            ));
        }
        if stats.get(kind::OPERATOR_FAILED, id) > 0 {
            failed = true;
            lines.push(format!(
                "operator `{id}` failed for good ({restarts} of {} restarts used)",
                operator.max_restarts
            ));
        }
        let errors = stats.get(kind::OPERATOR_ERRORS, id);
        if errors > 0 {
            failed = true;
            lines.push(format!(
                "operator `{id}` returned {}",
                plural(errors, "error")
            ));
        }
    }
    let input_lines: [(&str, bool, &str); 4] = [
        (
            kind::OPERATOR_LOST_PANIC,
            true,
            "lost {} to panics (each the message being handled when the operator panicked)",
        ),
        (
            kind::OPERATOR_LOST_ENDED,
            true,
            "lost {}, queued when the operator failed for good or sent after",
        ),
        (
            kind::OPERATOR_UNREAD,
            false,
            "did not read {}: the operator had stopped, or Stop came",
        ),
        (
            kind::OPERATOR_DROPPED,
            false,
            "dropped {} (queue full, policy drop_oldest)",
        ),
    ];
    for (counted, is_failure, text) in input_lines {
        for (input, n) in stats.of_kind(counted).filter(|(_, n)| *n > 0) {
            failed |= is_failure;
            lines.push(format!(
                "operator input `{input}` {}",
                text.replace("{}", &plural(n, "message"))
            ));
        }
    }
    (lines, failed)
}

/// The lines for errors the node's event stream reported to it, and for
/// messages that reached no operator; whether there are any (each one is a
/// failure: something was not delivered as sent).
fn error_lines(stats: &NodeStats) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    for (input, n) in stats.of_kind(kind::RECEIVE_ERRORS).filter(|(_, n)| *n > 0) {
        let errors = plural(n, "receive error");
        lines.push(if input.is_empty() {
            format!("waiting for events gave {errors} (each given to the node as an error event; see its log)")
        } else {
            format!("input `{input}` gave {errors} (each given to the node as an error event; see its log)")
        });
    }
    for (input, n) in stats
        .of_kind(kind::OPERATOR_UNROUTED)
        .filter(|(_, n)| *n > 0)
    {
        lines.push(format!(
            "input `{input}` lost {}: no operator reads it",
            plural(n, "message")
        ));
    }
    let failed = !lines.is_empty();
    (lines, failed)
}

/// The summary, with bold headings; and whether the run failed: a node
/// failed, or messages were lost.
pub fn render(rows: &[Row], run_dir: &Path) -> (String, bool) {
    let width = rows
        .iter()
        .map(|r| r.id.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let bold = anstyle::Style::new().bold();
    let _ = writeln!(
        out,
        "\n{bold}{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  status{bold:#}",
        "node", "restarts", "sent", "received", "dropped"
    );
    let mut failed = false;
    for row in rows {
        let status = row
            .ended
            .map_or_else(|| "not started".to_owned(), Ended::describe);
        failed |= row.ended.is_none_or(|e| e.failed());
        let count = |f: fn(&NodeStats) -> u64| {
            row.stats
                .as_ref()
                .map_or("-".to_owned(), |s| f(s).to_string())
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {status}",
            row.id.as_str(),
            row.restarts,
            count(NodeStats::sent),
            count(NodeStats::received),
            count(NodeStats::dropped),
        );
        let mut notes = Vec::new();
        for loss in &row.losses {
            failed |= loss.cause.is_failure();
            notes.push(loss.describe());
        }
        if let Some(stats) = &row.stats {
            for (input, lost) in stats.of_kind(kind::TYPE_MISMATCHES).filter(|(_, n)| *n > 0) {
                failed = true;
                notes.push(format!(
                    "input `{input}` lost {}: their bytes do not fit the type of its edge (`dora graph` shows it), so they were not delivered",
                    plural(lost, "message")
                ));
            }
            for (input, times) in stats.of_kind(kind::INPUT_TIMEOUTS).filter(|(_, n)| *n > 0) {
                notes.push(format!(
                    "input `{input}` timed out {} (no message for its `input_timeout`; the node was told `InputClosed`, then `InputRecovered` when messages came back)",
                    plural(times, "time")
                ));
            }
            for (input, dropped) in stats.of_kind(kind::DROPPED).filter(|(_, n)| *n > 0) {
                notes.push(format!(
                    "input `{input}` dropped {} (queue full, policy drop_oldest)",
                    plural(dropped, "message")
                ));
            }
            let (lines, errors) = error_lines(stats);
            failed |= errors;
            notes.extend(lines);
            let (lines, operators_failed) = operator_lines(row, stats);
            failed |= operators_failed;
            notes.extend(lines);
        }
        if row.relayed > 0 {
            notes.push(format!(
                "{} of what it printed or logged went out through the log relay (`send_stdout_as`, `send_logs_as`, `dora/logs`)",
                plural(row.relayed, "message")
            ));
        }
        for note in notes {
            let _ = writeln!(out, "{:<width$}  {note}", "");
        }
    }
    if rows.iter().any(|r| r.stats.is_none() && r.ended.is_some()) {
        let _ = writeln!(
            out,
            "(-: the node left no counts; it did not use the dora node API)"
        );
    }
    let _ = writeln!(out, "logs: {}", run_dir.display());
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora_node_api::stats::Counters;

    #[test]
    fn receive_errors_and_messages_no_operator_reads_are_shown_and_fail_the_run() {
        let path = std::env::temp_dir().join(format!("dora-summary-{}", std::process::id()));
        let counters = std::sync::Arc::new(Counters::open(&path).unwrap());
        let read = || dora_node_api::stats::read(&path).unwrap();
        assert_eq!(error_lines(&read()), (vec![], false));

        counters.counter(kind::RECEIVE_ERRORS, "image").add(2);
        counters.counter(kind::RECEIVE_ERRORS, "").add(1);
        counters.counter(kind::OPERATOR_UNROUTED, "op/in").add(3);
        let (lines, failed) = error_lines(&read());
        assert!(failed);
        assert_eq!(
            lines,
            [
                "waiting for events gave 1 receive error (each given to the node as an error event; see its log)",
                "input `image` gave 2 receive errors (each given to the node as an error event; see its log)",
                "input `op/in` lost 3 messages: no operator reads it",
            ]
        );
        drop(counters);
        std::fs::remove_file(&path).unwrap();
    }
}
