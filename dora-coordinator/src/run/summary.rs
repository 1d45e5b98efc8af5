//! The table printed when a run ends: how each node ended.

use std::io::Write;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use dora_core::id::NodeId;

/// How a node's process ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Still running when the grace period after `Stop` was over.
    Killed {
        grace: Duration,
    },
    /// Its status could not be read.
    Lost(String),
}

impl Ended {
    fn failed(&self) -> bool {
        !matches!(self, Ended::Exited(status) if status.success())
    }

    fn describe(&self) -> String {
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
            Ended::Lost(error) => format!("unknown: {error}"),
        }
    }
}

/// Prints the summary to stderr; returns whether any node failed.
pub fn print(nodes: &[(&NodeId, Option<&Ended>)], run_dir: &Path) -> bool {
    let width = nodes
        .iter()
        .map(|(id, _)| id.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = anstream::stderr();
    let bold = anstyle::Style::new().bold();
    let _ = writeln!(out, "\n{bold}{:<width$}  status{bold:#}", "node");
    let mut failed = false;
    for (id, ended) in nodes {
        let text = ended.map_or_else(|| "not started".to_owned(), Ended::describe);
        failed |= ended.is_none_or(|e| e.failed());
        let _ = writeln!(out, "{:<width$}  {text}", id.as_str());
    }
    let _ = writeln!(out, "logs: {}", run_dir.display());
    failed
}
