//! Where a run tells what happens: the terminal, for `dora run`; or a
//! channel that a machine's daemon forwards to the coordinator, for a
//! dataflow run on a cluster. Everything else about a run is the same.

use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};

use dora_core::protocol::cluster::{DataflowReport, NumberedReport};

use super::process::{self, prefixed_line, Stream};
use super::supervisor::RunEvent;

/// The destination of a run's output, events and summary.
#[derive(Clone)]
pub enum Out {
    /// `dora run`: nodes' lines with their coloured id in front, on the
    /// launcher's own stdout and stderr.
    Terminal,
    /// A daemon: every line and event as a numbered report.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Forward(Arc<Mutex<Reports>>),
}

/// The reports of one run, numbered in the order they are sent, so that
/// the coordinator can count any it did not get.
pub struct Reports {
    next: u64,
    /// Bounded: when the coordinator is slow to take them, nodes wait on
    /// their pipes rather than lines being dropped.
    sender: SyncSender<NumberedReport>,
}

impl Out {
    /// An `Out` whose reports go to `sender`, numbered from 0.
    #[cfg(feature = "cluster")]
    pub fn forward(sender: SyncSender<NumberedReport>) -> Out {
        Out::Forward(Arc::new(Mutex::new(Reports { next: 0, sender })))
    }

    /// A line node `node` printed, with `prefix` in front on a terminal.
    pub(super) fn line(&self, node: &str, prefix: &str, to: Stream, colours: bool, text: &str) {
        match self {
            Out::Terminal => {
                let _ = to.write_line(&prefixed_line(prefix, text, colours));
            }
            Out::Forward(_) => {
                self.report(DataflowReport::Line {
                    node: node.to_owned(),
                    stderr: matches!(to, Stream::Stderr),
                    text: text.to_owned(),
                });
            }
        }
    }

    /// Something the launcher says: a build, a warning.
    pub fn say(&self, text: &str) {
        match self {
            Out::Terminal if Stream::Stderr.colours() => process::say(text),
            Out::Terminal => process::say(&anstream::adapter::strip_str(text).to_string()),
            Out::Forward(_) => {
                self.report(DataflowReport::Said {
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
            Out::Forward(_) => {
                self.report(event.report());
            }
        }
    }

    /// Sends a report that only a cluster wants (a terminal shows the same
    /// in other ways); the report as numbered, once sent.
    pub fn report(&self, report: DataflowReport) -> Option<NumberedReport> {
        let Out::Forward(reports) = self else {
            return None;
        };
        // Numbered and queued under one lock: reports from several threads
        // reach the channel in the order of their numbers.
        let mut reports = reports.lock().unwrap_or_else(PoisonError::into_inner);
        let numbered = NumberedReport {
            seq: reports.next,
            report,
        };
        reports.next += 1;
        reports.sender.send(numbered.clone()).ok()?;
        Some(numbered)
    }

    /// Whether lines to `to` get colours.
    pub(super) fn colours(&self, to: Stream) -> bool {
        match self {
            Out::Terminal => to.colours(),
            Out::Forward(_) => false,
        }
    }
}
