//! The table printed when a run ends: how each node ended, how often it
//! was restarted, and what it sent, received and dropped.

use std::io::Write;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use dora_core::id::NodeId;
use dora_node_api::stats::NodeStats;

/// How a node's process ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Still running when the grace period after `Stop` was over.
    Killed {
        grace: Duration,
    },
    /// Its status could not be read, or it could not be restarted.
    Lost(String),
}

impl Ended {
    pub fn failed(&self) -> bool {
        !matches!(self, Ended::Exited(status) if status.success())
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
            Ended::Lost(error) => format!("failed: {error}"),
        }
    }
}

/// One node's line of the summary.
pub struct Row<'a> {
    pub id: &'a NodeId,
    pub ended: Option<&'a Ended>,
    pub restarts: u32,
    pub stats: Option<NodeStats>,
    /// Inputs that missed messages their sender sent and no count covers:
    /// (input, sender, how many).
    pub lost: Vec<(String, String, u64)>,
}

/// Prints the summary to stderr; returns whether any node failed.
pub fn print(rows: &[Row], run_dir: &Path) -> bool {
    let width = rows
        .iter()
        .map(|r| r.id.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = anstream::stderr();
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
            count(|s| s.sent),
            count(|s| s.received),
            count(|s| s.dropped),
        );
        for (output, count) in row.stats.iter().flat_map(|s| &s.undelivered) {
            let _ = writeln!(out, "{:<width$}  output `{output}` could not deliver {count} messages (a receiver had ended)", "");
        }
        for (input, sender, lost) in &row.lost {
            failed = true;
            let _ = writeln!(
                out,
                "{:<width$}  input `{input}` missed {lost} messages that `{sender}` sent: they were never read (the sender ended before this node mapped their memory)",
                ""
            );
        }
        for (input, dropped) in row.stats.iter().flat_map(|s| &s.drops) {
            let _ = writeln!(out, "{:<width$}  input `{input}` dropped {dropped} messages (queue full, policy drop_oldest)", "");
        }
    }
    if rows.iter().any(|r| r.stats.is_none() && r.ended.is_some()) {
        let _ = writeln!(
            out,
            "(-: the node left no counts; it was killed or did not use the dora node API)"
        );
    }
    let _ = writeln!(out, "logs: {}", run_dir.display());
    failed
}
