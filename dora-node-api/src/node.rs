//! Sending: a node's outputs, each a shared-memory publisher that notifies
//! the nodes that read it.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use dora_core::config::NodeConfig;
use dora_core::id::DataId;
use dora_core::protocol::{Report, Signal, StartPhase};
use iceoryx2::port::LoanError;
use iceoryx2::prelude::*;
use iceoryx2::sample_mut::SampleMut;

use crate::error::{InitError, SendError, TransportError};
use crate::metadata::{self, Parameters};
use crate::start::StartWait;
use crate::stats::{kind, Counter, Counters};
use crate::stream::EventStream;
use crate::transport::awake::AwakeFlag;
use crate::transport::shm::{Header, Ipc, OutputPublisher, Shm, WakeupNotifier, HELLO_SEQUENCE};

/// The largest message, metadata included: about 128 TiB on a 64-bit
/// machine, all the address space a process has on x86-64 and arm64.
/// Larger sizes are refused before the transport sees them, since its
/// size arithmetic would overflow.
const MAX_MESSAGE_LEN: usize = isize::MAX as usize >> 16;

struct Output {
    publisher: OutputPublisher,
    /// How many inputs read this output (one subscriber each).
    readers: usize,
    /// The receiving nodes' wake-up notifiers, indices into
    /// `DoraNode::wakeups`, each node once.
    wake: Vec<usize>,
    /// The next sequence number: messages sent on this output by every
    /// process of this node so far, so that sequences go on across
    /// restarts and a receiver never mistakes a restart for drops.
    sent: Counter,
    /// Deliveries that did not reach a receiver that should have got them
    /// (in this process; the run summary accounts for them at the readers).
    undelivered: u64,
}

/// How a sender wakes one receiving node.
struct Wakeup {
    notifier: WakeupNotifier,
    awake: AwakeFlag,
}

/// A node of a running dataflow: it sends on its outputs. Its inputs come
/// through the [`EventStream`] that [`DoraNode::init_from_env`] returns.
pub struct DoraNode {
    config: NodeConfig,
    outputs: BTreeMap<DataId, Output>,
    wakeups: Vec<Wakeup>,
    counters: std::sync::Arc<Counters>,
    // Kept last: dropped after the ports above.
    _shm: Rc<Shm>,
}

/// The wall-clock time in nanoseconds since the Unix epoch: the clock of
/// message timestamps.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl DoraNode {
    /// Joins the dataflow that started this process (`dora run` hands the
    /// configuration over in the environment).
    ///
    /// Returns once every node of the dataflow has created and connected
    /// its channels, so that nothing sent after `init` returns is lost.
    pub fn init_from_env() -> Result<(DoraNode, EventStream), InitError> {
        DoraNode::init(NodeConfig::from_env()?)
    }

    /// Like [`init_from_env`](Self::init_from_env), for a caller that must
    /// react to something else while start-up waits for the other nodes
    /// (Python's Ctrl-C, say): `interrupted` is asked about every 50 ms,
    /// and when it returns true, start-up ends with
    /// [`InitError::Interrupted`].
    pub fn init_from_env_unless(
        mut interrupted: impl FnMut() -> bool,
    ) -> Result<(DoraNode, EventStream), InitError> {
        DoraNode::init_with(NodeConfig::from_env()?, &mut interrupted)
    }

    /// Joins the dataflow that `config` describes.
    pub fn init(config: NodeConfig) -> Result<(DoraNode, EventStream), InitError> {
        DoraNode::init_with(config, &mut || false)
    }

    fn init_with(
        config: NodeConfig,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<(DoraNode, EventStream), InitError> {
        let shm = Rc::new(Shm::open(&config.dataflow_id, config.node_id.as_str())?);
        let counters = Counters::for_this_process();
        let mut events = EventStream::new(shm.clone(), &config, &counters)?;
        let mut channels: Vec<&str> = Vec::new();
        let mut wakeups = Vec::new();
        let mut outputs = BTreeMap::new();
        for (id, output) in &config.outputs {
            let mut wake = Vec::new();
            for receiver in &output.receivers {
                let index = match channels.iter().position(|c| *c == receiver.wakeup) {
                    Some(index) => index,
                    None => {
                        channels.push(&receiver.wakeup);
                        wakeups.push(Wakeup {
                            notifier: shm.notifier(
                                &receiver.wakeup,
                                Signal::MAX_ID,
                                config.nodes.len(),
                            )?,
                            awake: AwakeFlag::open(&config.dataflow_id, &receiver.wakeup)?,
                        });
                        wakeups.len() - 1
                    }
                };
                if !wake.contains(&index) {
                    wake.push(index);
                }
            }
            outputs.insert(
                id.clone(),
                Output {
                    publisher: shm.publisher(&output.channel, output.settings)?,
                    readers: output.receivers.len(),
                    wake,
                    sent: counters.counter(kind::SENT, id.as_str()),
                    undelivered: 0,
                },
            );
        }
        let node = DoraNode {
            config,
            outputs,
            wakeups,
            counters,
            _shm: shm.clone(),
        };
        node.start_barrier(&shm, &mut events, &mut StartWait::new(interrupted))?;
        Ok((node, events))
    }

    /// Tells the launcher this node's ports exist, connects once all nodes'
    /// ports exist, and starts once all nodes are connected.
    fn start_barrier(
        &self,
        shm: &Shm,
        events: &mut EventStream,
        wait: &mut StartWait<'_>,
    ) -> Result<(), InitError> {
        let index = self
            .config
            .nodes
            .iter()
            .position(|n| *n == self.config.node_id)
            .ok_or_else(|| {
                InitError::BadConfig(format!(
                    "node `{}` is not among the dataflow's nodes",
                    self.config.node_id
                ))
            })?;
        let launcher = shm.notifier(
            &dora_core::channel::launcher(&self.config.dataflow_id),
            Report::max_id(self.config.nodes.len()),
            self.config.nodes.len(),
        )?;
        let report = |report: Report| {
            launcher
                .notify_with_custom_event_id(EventId::new(report.id(index)))
                .map_err(|e| TransportError::new("cannot report to the launcher", e))
        };
        report(StartPhase::Connect.report())?;
        events.wait_for_start_signal(StartPhase::Connect, wait)?;
        events.connect()?;
        for output in self.outputs.values() {
            use iceoryx2::port::update_connections::UpdateConnections;
            output
                .publisher
                .update_connections()
                .map_err(|e| TransportError::new("cannot connect an output", e))?;
            // A receiver maps a sender's memory when it first reads from
            // it; if the sender ends before, its last messages are lost.
            // An empty hello, read during start-up, maps it early.
            let hello = output
                .publisher
                .loan_slice_uninit(0)
                .map_err(|e| TransportError::new("cannot greet the receivers", e))?;
            // SAFETY: a slice of zero bytes has nothing to initialise.
            let mut hello = unsafe { hello.assume_init() };
            *hello.user_header_mut() = Header {
                sequence: HELLO_SEQUENCE,
                ..Header::default()
            };
            hello
                .send()
                .map_err(|e| TransportError::new("cannot greet the receivers", e))?;
        }
        // A restarted node joins senders that greeted long ago.
        if !events.restarted() {
            events.take_hellos(wait)?;
        }
        report(StartPhase::Start.report())?;
        events.wait_for_start_signal(StartPhase::Start, wait)?;
        Ok(())
    }

    /// This node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// How many deliveries on `output` did not reach a receiver (a receiver
    /// that has ended, or one whose queue was not ready).
    pub fn undelivered(&self, output: &str) -> Option<u64> {
        self.outputs.get(output).map(|o| o.undelivered)
    }

    /// How many messages were sent on `output` so far, by this node's
    /// processes together (a restarted node goes on counting).
    pub fn sent(&self, output: &str) -> Option<u64> {
        self.outputs.get(output).map(|o| o.sent.get())
    }

    /// The counts this node keeps for the run summary; a runtime adds its
    /// operators' counts here.
    pub fn counters(&self) -> &std::sync::Arc<Counters> {
        &self.counters
    }

    /// Sends `data` on `output`: one copy, into shared memory.
    pub fn send_output(
        &mut self,
        output: &str,
        parameters: Parameters,
        data: &[u8],
    ) -> Result<(), SendError> {
        let loan = self.loan(output, data.len(), &parameters, |buffer| {
            // SAFETY: `buffer` is `data.len()` bytes long, and a sample
            // never overlaps a slice the caller holds.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    buffer.as_mut_ptr().cast::<u8>(),
                    data.len(),
                )
            };
        })?;
        self.send_loan(loan)
    }

    /// Sends `len` bytes on `output`, written by `fill` straight into the
    /// shared memory the receivers read: no copy. The buffer starts zeroed.
    pub fn send_output_with(
        &mut self,
        output: &str,
        len: usize,
        parameters: Parameters,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), SendError> {
        let mut loan = self.loan_output(output, len, parameters)?;
        fill(loan.data_mut());
        self.send_loan(loan)
    }

    /// A zeroed buffer of `len` bytes in shared memory for a message on
    /// `output`, to fill and then send with [`send_loan`](Self::send_loan):
    /// no copy. Dropping the loan sends nothing.
    pub fn loan_output(
        &mut self,
        output: &str,
        len: usize,
        parameters: Parameters,
    ) -> Result<OutputLoan, SendError> {
        self.loan(output, len, &parameters, |buffer| {
            // SAFETY: writing zeroes to memory we own initialises it.
            unsafe { std::ptr::write_bytes(buffer.as_mut_ptr(), 0, buffer.len()) };
        })
    }

    /// Loans a sample of `len` payload bytes plus the encoded parameters
    /// and lets `init` initialise every byte of the payload.
    fn loan(
        &mut self,
        output: &str,
        len: usize,
        parameters: &Parameters,
        init: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]),
    ) -> Result<OutputLoan, SendError> {
        let Some((id, port)) = self.outputs.get_key_value(output) else {
            let declared: Vec<String> = self.outputs.keys().map(|k| format!("`{k}`")).collect();
            return Err(SendError::UndeclaredOutput {
                output: output.to_owned(),
                declared: if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                },
            });
        };
        let metadata_len = metadata::encoded_len(parameters);
        let header_len = u32::try_from(metadata_len).map_err(|_| SendError::MetadataTooLarge {
            output: output.to_owned(),
            len: metadata_len,
            max: u32::MAX as usize,
        })?;
        let total = len
            .checked_add(metadata_len)
            .filter(|&total| total <= MAX_MESSAGE_LEN)
            .ok_or_else(|| SendError::OutOfMemory {
                output: output.to_owned(),
                len,
                detail: format!("a message holds at most {MAX_MESSAGE_LEN} bytes"),
            })?;
        let mut sample = port
            .publisher
            .loan_slice_uninit(total)
            .map_err(|e| match e {
                LoanError::OutOfMemory | LoanError::ExceedsMaxLoanSize => SendError::OutOfMemory {
                    output: output.to_owned(),
                    len,
                    detail: format!("{e:?}"),
                },
                LoanError::ExceedsMaxLoans => SendError::TooManyLoans {
                    output: output.to_owned(),
                    max: port.publisher.max_loaned_samples(),
                },
                e => SendError::Transport {
                    output: output.to_owned(),
                    source: TransportError::new("cannot get shared memory", e),
                },
            })?;
        let (payload, encoded) = sample.payload_mut().split_at_mut(len);
        init(payload);
        // SAFETY: zeroing initialises the metadata bytes before encoding.
        unsafe { std::ptr::write_bytes(encoded.as_mut_ptr(), 0, encoded.len()) };
        // SAFETY: `init` initialised the payload and the metadata bytes
        // were zeroed: every byte of the sample is initialised.
        let mut sample = unsafe { sample.assume_init() };
        metadata::encode(parameters, &mut sample.payload_mut()[len..]);
        sample.user_header_mut().metadata_len = header_len;
        Ok(OutputLoan {
            output: id.clone(),
            sample,
            len,
        })
    }

    /// Sends a message filled in place (see [`loan_output`](Self::loan_output)).
    pub fn send_loan(&mut self, loan: OutputLoan) -> Result<(), SendError> {
        let OutputLoan {
            output, mut sample, ..
        } = loan;
        let Some(port) = self.outputs.get_mut(&output) else {
            return Err(SendError::UndeclaredOutput {
                output: output.to_string(),
                declared: "those of the node that made the loan".to_owned(),
            });
        };
        let transport = |source: TransportError| SendError::Transport {
            output: output.to_string(),
            source,
        };
        // The timestamp is written last, so latency measures the transport
        // and not the time spent filling the buffer.
        let header = sample.user_header_mut();
        header.sequence = port.sent.get();
        header.timestamp_ns = now_ns();
        let delivered = sample
            .send()
            .map_err(|e| transport(TransportError::new("cannot send", e)))?;
        port.undelivered += port.readers.saturating_sub(delivered) as u64;
        port.sent.add(1);
        for &index in &port.wake {
            let wakeup = &self.wakeups[index];
            if wakeup.awake.needs_notify() {
                wakeup
                    .notifier
                    .notify_with_custom_event_id(EventId::new(Signal::Data.id()))
                    .map_err(|e| transport(TransportError::new("cannot wake a receiver", e)))?;
            }
        }
        Ok(())
    }
}

/// A message being written in place in shared memory; see
/// [`DoraNode::loan_output`].
pub struct OutputLoan {
    output: DataId,
    sample: SampleMut<Ipc, [u8], Header>,
    len: usize,
}

impl OutputLoan {
    /// The payload, to fill before sending.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.sample.payload_mut()[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use dora_core::descriptor::Dataflow;

    use super::*;

    #[test]
    fn a_node_missing_from_its_dataflow_fails_to_start_with_the_reason() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:\n  - id: lonely\n    path: lonely\n    outputs: [out]\n",
        )
        .unwrap();
        let run = format!("missing{}", std::process::id());
        let mut config = NodeConfig::for_dataflow(&dataflow, &run)
            .remove("lonely")
            .unwrap();
        config.nodes = vec!["someone-else".into()];
        let error = DoraNode::init(config).err().unwrap();
        crate::transport::remove_run_files(&run).unwrap();
        assert!(
            matches!(&error, InitError::BadConfig(reason) if reason == "node `lonely` is not among the dataflow's nodes"),
            "{error}"
        );
    }
}
