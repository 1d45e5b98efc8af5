//! Where a run tells what happens: the terminal, for `dora run`; or a
//! channel that a machine's daemon forwards to the coordinator, for a
//! dataflow run on a cluster. Everything else about a run is the same.

use std::sync::mpsc::SyncSender;

use dora_core::protocol::cluster::DataflowReport;

use super::process::{self, prefixed_line, Stream};
use super::supervisor::RunEvent;

/// The destination of a run's output, events and summary.
#[derive(Clone)]
pub enum Out {
    /// `dora run`: nodes' lines with their coloured id in front, on the
    /// launcher's own stdout and stderr.
    Terminal,
    /// A daemon: every line and event as a report. The channel is bounded:
    /// when the coordinator is slow to take them, nodes wait on their
    /// pipes rather than lines being dropped.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Forward(SyncSender<DataflowReport>),
}

impl Out {
    /// A line node `node` printed, with `prefix` in front on a terminal.
    pub(super) fn line(&self, node: &str, prefix: &str, to: Stream, colours: bool, text: &str) {
        match self {
            Out::Terminal => {
                let _ = to.write_line(&prefixed_line(prefix, text, colours));
            }
            Out::Forward(reports) => {
                let _ = reports.send(DataflowReport::Line {
                    node: node.to_owned(),
                    stderr: matches!(to, Stream::Stderr),
                    text: text.to_owned(),
                });
            }
        }
    }

    /// Something the launcher says: a build, a restart, a warning.
    pub fn say(&self, text: &str) {
        match self {
            Out::Terminal if Stream::Stderr.colours() => process::say(text),
            Out::Terminal => process::say(&anstream::adapter::strip_str(text).to_string()),
            Out::Forward(reports) => {
                let _ = reports.send(DataflowReport::Said {
                    text: anstream::adapter::strip_str(text).to_string(),
                });
            }
        }
    }

    /// A decision of the supervisor: a line on a terminal, a typed report
    /// for a coordinator.
    pub(super) fn event(&self, event: &RunEvent) {
        match self {
            Out::Terminal => self.say(&event.describe()),
            Out::Forward(reports) => {
                let _ = reports.send(event.report());
            }
        }
    }

    /// A report that only a cluster wants (a terminal shows the same in
    /// other ways).
    pub fn report(&self, report: DataflowReport) {
        if let Out::Forward(reports) = self {
            let _ = reports.send(report);
        }
    }

    /// Whether lines to `to` get colours.
    pub(super) fn colours(&self, to: Stream) -> bool {
        match self {
            Out::Terminal => to.colours(),
            Out::Forward(_) => false,
        }
    }
}
