//! The log relay of a run (see `dora_core::relay`): a node of the run that
//! lives on a thread of the launcher and sends what nodes print and log as
//! messages, to the outputs named by `send_stdout_as` and `send_logs_as`
//! and to the inputs that read `dora/logs`.
//!
//! Its readers cannot ask for `backpressure` (`dora check` refuses it): a
//! reader that stopped would hold up its node's output and the end of the
//! run. They count their drops like any other input. Lines reach the
//! relay through a bounded channel; while it is full, the nodes it serves
//! are not read and wait on their pipes, and the other nodes' output goes
//! on being passed. Nothing is dropped on the way.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use dora_core::config::NodeConfig;
use dora_core::descriptor::{InputSource, LogsSource};
use dora_core::id::{DataId, NodeId};
use dora_core::log::LogLevel;
use dora_core::relay::Route;
use dora_node_api::{DoraNode, Parameters};

use super::logs::Entry;

/// How many lines may wait for the relay.
const QUEUE: usize = 4096;
/// How long a flush waits for the relay before the run goes on without it.
const FLUSH_PATIENCE: Duration = Duration::from_secs(5);

enum Item {
    Line {
        node: Arc<str>,
        entry: Entry,
    },
    /// Answered once every item sent before has been sent on.
    Flush(SyncSender<()>),
}

/// Where one node's lines go to reach the relay.
#[derive(Clone)]
pub struct RelayLine {
    node: Arc<str>,
    sender: SyncSender<Item>,
    /// Whether the node's printed lines go out (`send_stdout_as`): then
    /// all of them do, whatever its `min_log_level`, as in dora-rs.
    pub every_printed_line: bool,
}

impl RelayLine {
    /// Hands the relay one line, or gives it back when the relay has no
    /// room for it now: the caller tries again later, and meanwhile reads
    /// no more of the node's output. A relay that has ended (it failed to
    /// start) takes nothing more.
    pub fn try_send(&self, entry: Entry) -> Result<(), Entry> {
        let line = Item::Line {
            node: self.node.clone(),
            entry,
        };
        match self.sender.try_send(line) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => Ok(()),
            Err(TrySendError::Full(Item::Line { entry, .. })) => Err(entry),
            Err(TrySendError::Full(Item::Flush(_))) => Ok(()),
        }
    }
}

/// Where each of the relay's outputs sends.
enum Target {
    Printed(NodeId),
    Logged(NodeId),
    Logs { reader: NodeId, source: LogsSource },
}

/// The relay of a running dataflow.
pub struct Relay {
    sender: Option<SyncSender<Item>>,
    thread: Option<JoinHandle<()>>,
    /// Why the relay could not join the run, once it has failed.
    failed: Arc<Mutex<Option<String>>>,
    /// The nodes whose lines it needs: all of them once some node reads
    /// `dora/logs`.
    wanted: Option<Vec<NodeId>>,
    /// How many messages it sent, by the node whose line they carried.
    sent: Sent,
    /// The nodes with `send_stdout_as`.
    printing: Vec<NodeId>,
}

type Sent = Arc<Mutex<BTreeMap<String, u64>>>;

impl Relay {
    /// Starts the relay of `config` on a thread; it joins the run through
    /// the start-up barrier like any node. `configs` are the other nodes'.
    pub fn start(config: NodeConfig, configs: &BTreeMap<NodeId, NodeConfig>) -> Relay {
        let mut targets = Vec::new();
        let mut wanted = Some(Vec::new());
        for output in config.outputs.keys() {
            let target = match Route::of(output) {
                Some(Route::Printed(node)) => Target::Printed(node),
                Some(Route::Logged(node)) => Target::Logged(node),
                Some(Route::Logs { reader, input }) => {
                    let source = configs
                        .get(&reader)
                        .and_then(|c| c.inputs.get(&input))
                        .and_then(|i| match &i.source {
                            InputSource::Logs(source) => Some(source.clone()),
                            _ => None,
                        });
                    let Some(source) = source else { continue };
                    Target::Logs { reader, source }
                }
                None => continue,
            };
            match (&target, &mut wanted) {
                (Target::Logs { .. }, _) => wanted = None,
                (Target::Printed(node) | Target::Logged(node), Some(wanted)) => {
                    wanted.push(node.clone())
                }
                _ => {}
            }
            targets.push((output.clone(), target));
        }
        let printing = targets
            .iter()
            .filter_map(|(_, t)| match t {
                Target::Printed(node) => Some(node.clone()),
                _ => None,
            })
            .collect();
        // A printed line below its node's `min_log_level` still goes out
        // on `send_stdout_as`, and nowhere else.
        let min_levels: BTreeMap<String, LogLevel> = configs
            .iter()
            .filter_map(|(id, c)| Some((id.to_string(), c.min_log_level?)))
            .collect();
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let failed_in_thread = failed.clone();
        let sent = Sent::default();
        let sent_in_thread = sent.clone();
        let thread = std::thread::Builder::new()
            .name("dora-log-relay".to_owned())
            .spawn(move || {
                let filter = |node: &str, entry: &Entry| {
                    entry.passes(min_levels.get(node).copied().unwrap_or(LogLevel::Stdout))
                };
                if let Err(reason) = relay(config, &targets, &receiver, &sent_in_thread, &filter) {
                    *failed_in_thread
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(reason);
                }
            });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(error) => {
                *failed.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(format!("cannot start its thread: {error}"));
                None
            }
        };
        Relay {
            sender: Some(sender),
            thread,
            failed,
            wanted,
            sent,
            printing,
        }
    }

    /// How many messages it has sent, by the node whose lines they
    /// carried, once what was handed to it is sent.
    pub fn sent(&self) -> BTreeMap<String, u64> {
        self.flush();
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Where node `node` hands its lines, when the relay needs them.
    pub fn line_for(&self, node: &NodeId) -> Option<RelayLine> {
        let wanted = self.wanted.as_ref().is_none_or(|w| w.contains(node));
        Some(RelayLine {
            node: node.as_str().into(),
            sender: self.sender.clone().filter(|_| wanted)?,
            every_printed_line: self.printing.contains(node),
        })
    }

    /// Why the relay failed, if it has.
    pub fn failed(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until every line handed over so far has been sent on, so that
    /// a node's readers get its last lines before they learn it ended.
    /// Waits at most the flush's patience, however the relay is held up.
    pub fn flush(&self) {
        let Some(sender) = &self.sender else { return };
        let deadline = std::time::Instant::now() + FLUSH_PATIENCE;
        let (done, wait) = mpsc::sync_channel(1);
        let mut flush = Item::Flush(done);
        loop {
            match sender.try_send(flush) {
                Ok(()) => break,
                Err(TrySendError::Full(item)) if std::time::Instant::now() < deadline => {
                    flush = item;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = wait.recv_timeout(left);
    }
}

impl Drop for Relay {
    /// Sends on what is left and leaves the run, before the run's shared
    /// memory is removed. Nodes' lines that are still being passed on hold
    /// handles of their own: the relay ends once the last is gone. A child
    /// a node left behind may hold its pipes open; the relay is waited for
    /// at most the flush's patience then.
    fn drop(&mut self) {
        self.flush();
        self.sender = None;
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + FLUSH_PATIENCE;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// The relay's thread: joins the run, then sends each line where it goes
/// until every sender is gone.
fn relay(
    config: NodeConfig,
    targets: &[(DataId, Target)],
    receiver: &Receiver<Item>,
    sent: &Sent,
    passes: &dyn Fn(&str, &Entry) -> bool,
) -> Result<(), String> {
    let (mut node, _events) = DoraNode::init(config).map_err(|e| e.to_string())?;
    let mut failures = 0u64;
    while let Ok(item) = receiver.recv() {
        let (origin, entry) = match item {
            Item::Line { node, entry } => (node, entry),
            Item::Flush(done) => {
                let _ = done.try_send(());
                continue;
            }
        };
        let passed = passes(&origin, &entry);
        let mut json: Option<Vec<u8>> = None;
        let mut as_json = || {
            json.get_or_insert_with(|| {
                serde_json::to_vec(&entry.message(&origin)).unwrap_or_default()
            })
            .clone()
        };
        for (output, target) in targets {
            let payload = match target {
                Target::Printed(node) if node.as_str() == &*origin => match &entry {
                    Entry::Printed { text, .. } => text.as_bytes().to_vec(),
                    Entry::Logged(_) => continue,
                },
                _ if !passed => continue,
                Target::Logged(node) if node.as_str() == &*origin => match &entry {
                    Entry::Logged(_) => as_json(),
                    Entry::Printed { .. } => continue,
                },
                Target::Logs { reader, source }
                    if reader.as_str() != &*origin && source.wants(entry.level(), &origin) =>
                {
                    as_json()
                }
                _ => continue,
            };
            match node.send_output(output.as_str(), Parameters::default(), &payload) {
                Ok(()) => {
                    *sent
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(origin.to_string())
                        .or_default() += 1;
                }
                // Said on the launcher's stderr, not as a log line of its
                // own, which would come back here.
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        super::process::say(&format!(
                            "warning: the log relay cannot send on `{output}`: {error}"
                        ));
                    }
                }
            }
        }
    }
    if failures > 1 {
        super::process::say(&format!(
            "warning: the log relay failed to send {failures} messages"
        ));
    }
    Ok(())
}
