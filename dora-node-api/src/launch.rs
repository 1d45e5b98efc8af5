//! The launcher's side of a run: the start-up barrier, and the signals that
//! stop nodes and close their inputs. `dora run` drives it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dora_core::channel;
use dora_core::id::NodeId;
use dora_core::protocol::{Report, Signal, StartPhase};

use crate::error::TransportError;
use crate::transport::shm::{ControlSender, Listener, Notifier, Shm, Wait};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("node `{node}` ended before the dataflow started: {reason}")]
    NodeEnded { node: NodeId, reason: String },
    #[error("the run was stopped (Ctrl-C or SIGTERM) while nodes were starting")]
    Stopped,
    #[error("nodes {waiting} did not start within {timeout:?}; does each call `DoraNode::init_from_env()`?")]
    Timeout { waiting: String, timeout: Duration },
}

/// How often the start-up barrier asks whether to give up (a node
/// exited, Ctrl-C): a failed start is reported at most this late.
const ABORT_CHECK: Duration = Duration::from_millis(50);

/// The channels between the launcher and the nodes of one run.
pub struct RunChannels {
    dataflow_id: String,
    nodes: Vec<NodeId>,
    listener: Listener,
    /// Per node: a line to its wake-up channel, opened when first used.
    notifiers: RefCell<Vec<Option<Notifier>>>,
    /// Per node: the channel that says which nodes feeding it have ended,
    /// opened when first used.
    controls: RefCell<Vec<Option<ControlSender>>>,
    shm: Shm,
}

impl RunChannels {
    /// Opens the launcher's channel. Call it before starting the nodes.
    ///
    /// The lines to each node are opened when first used: every channel
    /// maps memory into the launcher, and a launcher with hundreds of them
    /// mapped forks its node processes several times slower.
    pub fn open(dataflow_id: &str, nodes: &[NodeId]) -> Result<RunChannels, StartError> {
        let shm = Shm::open(dataflow_id, "launcher")?;
        let listener = shm.listener(
            &channel::launcher(dataflow_id),
            Report::max_id(nodes.len()),
            nodes.len(),
        )?;
        Ok(RunChannels {
            dataflow_id: dataflow_id.to_owned(),
            nodes: nodes.to_vec(),
            listener,
            notifiers: RefCell::new(nodes.iter().map(|_| None).collect()),
            controls: RefCell::new(nodes.iter().map(|_| None).collect()),
            shm,
        })
    }

    /// Runs the start-up barrier for the nodes numbered `nodes` (all of
    /// them at first, one when it is restarted): waits until each has
    /// created its ports, tells them to connect, waits until each is
    /// connected, and tells them to start. `abort` is asked now and then
    /// whether to give up: a node process has exited, or the run was
    /// stopped.
    pub fn start(
        &self,
        nodes: &[usize],
        restart: bool,
        timeout: Duration,
        mut abort: impl FnMut() -> Option<StartError>,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        for phase in StartPhase::ALL {
            let report = phase.report();
            let mut waiting: BTreeSet<usize> = nodes.iter().copied().collect();
            while !waiting.is_empty() {
                if let Some(error) = abort() {
                    return Err(error);
                }
                let now = Instant::now();
                if now >= deadline {
                    let names: Vec<String> = waiting
                        .iter()
                        .map(|i| format!("`{}`", self.nodes[*i]))
                        .collect();
                    return Err(StartError::Timeout {
                        waiting: names.join(", "),
                        timeout,
                    });
                }
                let wait = (deadline - now).min(ABORT_CHECK);
                // A signal (Ctrl-C) ends the wait: `abort` says whether it
                // stops the run.
                self.listener.wait(Wait::For(wait), |id| {
                    waiting.retain(|i| report.id(*i) != id);
                })?;
            }
            for &index in nodes {
                self.signal(index, phase.signal(restart))?;
            }
        }
        Ok(())
    }

    /// Releases the ports of node processes that died without closing
    /// them (SIGKILL, a crash), so that nobody waits for them; returns how
    /// many processes were cleaned up after.
    pub fn clean_up_dead_nodes(&self) -> u64 {
        self.shm.clean_up_dead_nodes()
    }

    /// Asks node number `index` to stop.
    pub fn stop(&self, index: usize) -> Result<(), TransportError> {
        self.signal(index, Signal::Stop)
    }

    /// Tells node number `receiver` that node number `ended` has ended, so
    /// the inputs it fed close once their queues are empty.
    pub fn close_inputs_from(&self, receiver: usize, ended: usize) -> Result<(), TransportError> {
        let Some(node) = self.nodes.get(receiver) else {
            return Ok(());
        };
        let mut controls = self.controls.borrow_mut();
        let control = match &mut controls[receiver] {
            Some(control) => control,
            slot => slot.insert(
                self.shm
                    .control_sender(&channel::control(&self.dataflow_id, node), self.nodes.len())?,
            ),
        };
        control.send(ended as u64, || {
            format!("cannot tell node `{node}` which node ended")
        })?;
        drop(controls);
        self.signal(receiver, Signal::InputClosed)
    }

    fn signal(&self, index: usize, signal: Signal) -> Result<(), TransportError> {
        let Some(node) = self.nodes.get(index) else {
            return Ok(());
        };
        let mut notifiers = self.notifiers.borrow_mut();
        let notifier = match &mut notifiers[index] {
            Some(notifier) => notifier,
            slot => slot.insert(self.shm.notifier(
                &channel::wakeup(&self.dataflow_id, node),
                Signal::MAX_ID,
                self.nodes.len(),
            )?),
        };
        notifier.notify(signal.id(), || {
            format!("cannot signal node `{}`", self.nodes[index])
        })
    }
}
