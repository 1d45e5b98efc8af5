//! Sending: a node's outputs, each a shared-memory publisher that notifies
//! the nodes that read it on this machine, and a network publisher for
//! those that read it on other machines.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use dora_core::config::{NodeConfig, ReceiverLink};
use dora_core::id::DataId;
use dora_core::protocol::{Report, Signal, StartPhase};

use crate::error::{InitError, SendError, TransportError};
use crate::metadata::{self, Parameters};
use crate::start::StartWait;
use crate::stats::{kind, Counter, Counters, Liveness};
use crate::stream::EventStream;
use crate::transport::awake::AwakeFlag;
use crate::transport::remote;
use crate::transport::shm::{self, Header, LoanFailure, Notifier, Shm};

/// The largest message, metadata included: about 128 TiB on a 64-bit
/// machine, all the address space a process has on x86-64 and arm64.
/// Larger sizes are refused before the transport sees them, since its
/// size arithmetic would overflow.
const MAX_MESSAGE_LEN: usize = isize::MAX as usize >> 16;

struct Output {
    /// The readers on this machine, through shared memory; `None` when
    /// every reader is on another machine.
    local: Option<shm::Sender>,
    /// The readers on other machines, over the network.
    remote: Option<remote::Sender>,
    /// How many inputs on this machine read this output (one subscriber
    /// each).
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
    notifier: Notifier,
    awake: AwakeFlag,
}

/// A node of a running dataflow: it sends on its outputs. Its inputs come
/// through the [`EventStream`] that [`DoraNode::init_from_env`] returns.
pub struct DoraNode {
    config: NodeConfig,
    outputs: BTreeMap<DataId, Output>,
    wakeups: Vec<Wakeup>,
    counters: std::sync::Arc<Counters>,
    /// When the node last sent, for a launcher that watches it.
    liveness: Option<Liveness>,
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
        // The relay runs inside the launcher, whose own logging stays its own.
        if config.node_id.as_str() != dora_core::relay::RELAY_NODE {
            crate::log::configure(config.min_log_level);
        }
        let shm = Rc::new(Shm::open(&config.dataflow_id, config.node_id.as_str())?);
        let session = config
            .remote
            .as_ref()
            .map(remote::Session::open)
            .transpose()?;
        let counters = Counters::for_this_process();
        let mut events = EventStream::new(shm.clone(), &config, &counters, session.as_ref())?;
        let mut channels: Vec<&str> = Vec::new();
        let mut wakeups = Vec::new();
        let mut outputs = BTreeMap::new();
        for (id, output) in &config.outputs {
            let mut wake = Vec::new();
            let mut far = Vec::new();
            for receiver in &output.receivers {
                let wakeup = match &receiver.link {
                    ReceiverLink::Local { wakeup } => wakeup,
                    ReceiverLink::Remote { .. } => {
                        far.push((receiver.node.as_str(), receiver.input.as_str()));
                        continue;
                    }
                };
                let index = match channels.iter().position(|c| *c == wakeup) {
                    Some(index) => index,
                    None => {
                        channels.push(wakeup);
                        wakeups.push(Wakeup {
                            notifier: shm.notifier(wakeup, Signal::MAX_ID, config.nodes.len())?,
                            awake: AwakeFlag::open(&config.dataflow_id, wakeup)?,
                        });
                        wakeups.len() - 1
                    }
                };
                if !wake.contains(&index) {
                    wake.push(index);
                }
            }
            let remote = match (&session, far.is_empty()) {
                (_, true) => None,
                (Some(session), false) => Some(remote::Sender::new(
                    session,
                    &output.channel,
                    &far,
                    output.settings.backpressure,
                )?),
                (None, false) => {
                    return Err(InitError::BadConfig(format!(
                        "output `{id}` has readers on other machines, and the node has no network settings (`remote`)"
                    )))
                }
            };
            let readers = output.receivers.len() - far.len();
            // An output nobody reads keeps its shared-memory channel, as on
            // one machine.
            let local = if readers > 0 || remote.is_none() {
                Some(shm.sender(&output.channel, output.settings)?)
            } else {
                None
            };
            outputs.insert(
                id.clone(),
                Output {
                    local,
                    remote,
                    readers,
                    wake,
                    sent: counters.counter(kind::SENT, id.as_str()),
                    undelivered: 0,
                },
            );
        }
        let node = DoraNode {
            liveness: Liveness::watched(&counters, config.health_check),
            config,
            outputs,
            wakeups,
            counters,
            _shm: shm.clone(),
        };
        node.start_barrier(&shm, &mut events, &mut StartWait::new(interrupted))?;
        // Connected: from now on a watched node must keep taking its events.
        events.mark_active();
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
            launcher.notify(report.id(index), || {
                "cannot report to the launcher".to_owned()
            })
        };
        report(StartPhase::Connect.report())?;
        events.wait_for_start_signal(StartPhase::Connect, wait)?;
        events.connect()?;
        for sender in self.outputs.values().filter_map(|o| o.local.as_ref()) {
            sender.connect()?;
            // A receiver maps a sender's memory when it first reads from
            // it; if the sender ends before, its last messages are lost.
            // An empty hello, read during start-up, maps it early.
            sender.greet()?;
        }
        // A restarted node joins senders that greeted long ago.
        if !events.restarted() {
            events.take_hellos(wait)?;
        }
        // Readers on other machines: each says it reads once it does.
        for sender in self.outputs.values().filter_map(|o| o.remote.as_ref()) {
            sender.wait_for_readers(wait)?;
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
        let mut loan = self.loan_output_uninit(output, data.len(), parameters)?;
        // The loan is as long as `data`: all of it fits.
        loan.write_some(data);
        self.send_loan(loan)
    }

    /// Sends `len` bytes on `output`, written by `fill` straight into the
    /// shared memory the receivers read: no copy. The buffer starts zeroed;
    /// for large payloads, [`loan_output_uninit`](Self::loan_output_uninit)
    /// saves that pass over the memory.
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
    /// `output`, to fill through [`OutputLoan::data_mut`] and then send
    /// with [`send_loan`](Self::send_loan): no copy. Dropping the loan
    /// sends nothing.
    pub fn loan_output(
        &mut self,
        output: &str,
        len: usize,
        parameters: Parameters,
    ) -> Result<OutputLoan, SendError> {
        let mut loan = self.loan_output_uninit(output, len, parameters)?;
        loan.zero_rest();
        Ok(loan)
    }

    /// A buffer of `len` bytes in shared memory for a message on `output`,
    /// with nothing written yet: no pass over the memory before the caller
    /// writes it, which matters for large payloads. Write it from the
    /// start with [`OutputLoan::extend_from_slice`], `std::io::Write`, or
    /// [`OutputLoan::spare_mut`] and [`OutputLoan::advance`];
    /// [`send_loan`](Self::send_loan) refuses it until all `len` bytes are
    /// written. Dropping the loan sends nothing.
    pub fn loan_output_uninit(
        &mut self,
        output: &str,
        len: usize,
        parameters: Parameters,
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
        let metadata_len = metadata::encoded_len(&parameters);
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
        let buffer = match &port.local {
            Some(local) => Buffer::Shared(local.loan(total).map_err(|e| match e {
                LoanFailure::OutOfMemory(detail) => SendError::OutOfMemory {
                    output: output.to_owned(),
                    len,
                    detail,
                },
                LoanFailure::TooManyLoans(max) => SendError::TooManyLoans {
                    output: output.to_owned(),
                    max,
                },
                LoanFailure::Transport(source) => SendError::Transport {
                    output: output.to_owned(),
                    source,
                },
            })?),
            // Read only on other machines: the network takes the buffer
            // as it is.
            None => {
                let mut bytes = Vec::new();
                bytes
                    .try_reserve_exact(total)
                    .map_err(|e| SendError::OutOfMemory {
                        output: output.to_owned(),
                        len,
                        detail: e.to_string(),
                    })?;
                // SAFETY: the capacity is there, and `MaybeUninit` bytes
                // need no initialising.
                unsafe { bytes.set_len(total) };
                Buffer::Heap(bytes)
            }
        };
        Ok(OutputLoan::new(
            id.clone(),
            buffer,
            len,
            &parameters,
            header_len,
        ))
    }

    /// Sends a message written in place (see [`loan_output`](Self::loan_output)
    /// and [`loan_output_uninit`](Self::loan_output_uninit)). A loan whose
    /// payload is not all written is refused with [`SendError::Unwritten`],
    /// and nothing is sent.
    pub fn send_loan(&mut self, loan: OutputLoan) -> Result<(), SendError> {
        let (output, buffer, len, metadata_len) = loan.into_parts()?;
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
        // The timestamp is taken last, so latency measures the transport
        // and not the time spent filling the buffer.
        let header = Header {
            timestamp_ns: now_ns(),
            sequence: port.sent.get(),
            metadata_len,
            reserved: 0,
        };
        match buffer {
            Buffer::Shared(loan) => {
                // The network's copy is taken before the sample goes.
                let far = port.remote.as_ref().map(|_| {
                    // SAFETY: the loan is all written (`into_parts`).
                    let bytes = unsafe { assume_init(loan.payload()) };
                    (bytes[..len].to_vec(), bytes[len..].to_vec())
                });
                // SAFETY: the loan is all written (`into_parts`).
                let delivered = unsafe { loan.send(header) }.map_err(transport)?;
                port.undelivered += port.readers.saturating_sub(delivered) as u64;
                for &index in &port.wake {
                    let wakeup = &self.wakeups[index];
                    if wakeup.awake.needs_notify() {
                        wakeup
                            .notifier
                            .notify(Signal::Data.id(), || "cannot wake a receiver".to_owned())
                            .map_err(transport)?;
                    }
                }
                if let (Some(remote), Some((payload, metadata))) = (&port.remote, far) {
                    remote
                        .send(payload, &header, &metadata)
                        .map_err(transport)?;
                }
            }
            Buffer::Heap(bytes) => {
                // SAFETY: the loan is all written (`into_parts`), and
                // `MaybeUninit<u8>` has the layout of `u8`.
                let mut bytes = unsafe { init_vec(bytes) };
                let metadata = bytes.split_off(len);
                if let Some(remote) = &port.remote {
                    remote.send(bytes, &header, &metadata).map_err(transport)?;
                }
            }
        }
        port.sent.add(1);
        if let Some(liveness) = &self.liveness {
            liveness.active();
        }
        Ok(())
    }
}

impl Drop for DoraNode {
    /// Tells the readers on other machines how many messages this process
    /// sent, so that they count the last ones lost too.
    fn drop(&mut self) {
        for (id, output) in &self.outputs {
            if let Some(remote) = &output.remote {
                if let Err(error) = remote.end(output.sent.get()) {
                    log::error!("output `{id}`: {error}");
                }
            }
        }
    }
}

/// The bytes, once all are written.
///
/// # Safety
/// Every byte is initialised.
unsafe fn assume_init(bytes: &[MaybeUninit<u8>]) -> &[u8] {
    // SAFETY: the caller vouches for the bytes; the layouts are the same.
    unsafe { &*(bytes as *const [MaybeUninit<u8>] as *const [u8]) }
}

/// The bytes, once all are written, without a copy.
///
/// # Safety
/// Every byte is initialised.
unsafe fn init_vec(bytes: Vec<MaybeUninit<u8>>) -> Vec<u8> {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let (ptr, len, capacity) = (bytes.as_mut_ptr(), bytes.len(), bytes.capacity());
    // SAFETY: the same allocation, of a type of the same size and
    // alignment, all of it initialised.
    unsafe { Vec::from_raw_parts(ptr.cast::<u8>(), len, capacity) }
}

/// Where a message is written: shared memory when a reader on this
/// machine will read it in place, else a buffer the network takes as it is.
enum Buffer {
    Shared(shm::Loan),
    Heap(Vec<MaybeUninit<u8>>),
}

impl Buffer {
    fn payload(&self) -> &[MaybeUninit<u8>] {
        match self {
            Buffer::Shared(loan) => loan.payload(),
            Buffer::Heap(bytes) => bytes,
        }
    }

    fn payload_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        match self {
            Buffer::Shared(loan) => loan.payload_mut(),
            Buffer::Heap(bytes) => bytes,
        }
    }
}

/// A message being written in place (in shared memory when it is read on
/// this machine); see [`DoraNode::loan_output`] and
/// [`DoraNode::loan_output_uninit`].
///
/// The payload is written from the start: the loan counts how many bytes,
/// from the first, are written, and [`DoraNode::send_loan`] sends it only
/// once all of them are. Bytes not yet written are never readable through
/// it, so safe code cannot send, or read, memory it did not write.
pub struct OutputLoan {
    output: DataId,
    /// The payload, then `metadata_len` bytes of encoded parameters
    /// (initialised when the loan is made).
    buffer: Buffer,
    len: usize,
    metadata_len: u32,
    /// The first `written` bytes of the payload are initialised.
    written: usize,
}

/// Bytes that do not fit in what is left of an [`OutputLoan`]; nothing of
/// them was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{attempted} bytes do not fit in the {remaining} bytes left of the output buffer")]
pub struct LoanFull {
    pub attempted: usize,
    pub remaining: usize,
}

impl OutputLoan {
    fn new(
        output: DataId,
        mut buffer: Buffer,
        len: usize,
        parameters: &Parameters,
        metadata_len: u32,
    ) -> OutputLoan {
        let encoded = &mut buffer.payload_mut()[len..];
        // SAFETY: zeroing initialises the metadata bytes before encoding.
        unsafe { std::ptr::write_bytes(encoded.as_mut_ptr(), 0, encoded.len()) };
        // SAFETY: the bytes were just initialised, and `u8` has the layout
        // of `MaybeUninit<u8>`.
        let encoded = unsafe { &mut *(encoded as *mut [MaybeUninit<u8>] as *mut [u8]) };
        metadata::encode(parameters, encoded);
        OutputLoan {
            output,
            buffer,
            len,
            metadata_len,
            written: 0,
        }
    }

    /// The length of the payload, as loaned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty (there is nothing to write).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes, from the start, are written.
    pub fn written(&self) -> usize {
        self.written
    }

    /// How many bytes are left to write.
    pub fn remaining(&self) -> usize {
        self.len - self.written
    }

    /// The bytes written so far.
    pub fn filled(&self) -> &[u8] {
        let written = &self.buffer.payload()[..self.written];
        // SAFETY: the first `written` bytes are initialised.
        unsafe { &*(written as *const [MaybeUninit<u8>] as *const [u8]) }
    }

    /// The bytes written so far, to change in place.
    pub fn filled_mut(&mut self) -> &mut [u8] {
        let written = self.written;
        let written = &mut self.buffer.payload_mut()[..written];
        // SAFETY: the first `written` bytes are initialised.
        unsafe { &mut *(written as *mut [MaybeUninit<u8>] as *mut [u8]) }
    }

    /// The bytes not yet written, to write from the first, then count
    /// with [`advance`](Self::advance).
    pub fn spare_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        let (written, len) = (self.written, self.len);
        &mut self.buffer.payload_mut()[written..len]
    }

    /// Counts the first `n` bytes of [`spare_mut`](Self::spare_mut) as
    /// written.
    ///
    /// # Safety
    /// Those `n` bytes are initialised, and `n` is at most
    /// [`remaining`](Self::remaining).
    pub unsafe fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.remaining(), "advanced past the end of the loan");
        self.written = self.written.saturating_add(n).min(self.len);
    }

    /// Writes `bytes` after those written so far, or nothing if they do not
    /// fit.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), LoanFull> {
        if bytes.len() > self.remaining() {
            return Err(LoanFull {
                attempted: bytes.len(),
                remaining: self.remaining(),
            });
        }
        self.write_some(bytes);
        Ok(())
    }

    /// Writes `count` bytes of `value` after those written so far, or
    /// nothing if they do not fit.
    pub fn put_bytes(&mut self, value: u8, count: usize) -> Result<(), LoanFull> {
        if count > self.remaining() {
            return Err(LoanFull {
                attempted: count,
                remaining: self.remaining(),
            });
        }
        let spare = self.spare_mut();
        // SAFETY: `count` bytes fit in `spare`, which is ours to write.
        unsafe { std::ptr::write_bytes(spare.as_mut_ptr(), value, count) };
        // SAFETY: the `count` bytes were just written.
        unsafe { self.advance(count) };
        Ok(())
    }

    /// Writes as much of `bytes` as fits after those written so far, and
    /// says how much.
    fn write_some(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare_mut();
        let n = bytes.len().min(spare.len());
        // SAFETY: `n` bytes fit in `spare`, which is ours to write, and a
        // loaned sample never overlaps a slice the caller holds.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), spare.as_mut_ptr().cast(), n) };
        // SAFETY: the `n` bytes were just written.
        unsafe { self.advance(n) };
        n
    }

    /// Zeroes the bytes not yet written, so that all are.
    fn zero_rest(&mut self) {
        let spare = self.spare_mut();
        let n = spare.len();
        // SAFETY: zeroing the spare bytes, which are ours, initialises them.
        unsafe { std::ptr::write_bytes(spare.as_mut_ptr(), 0, n) };
        // SAFETY: the `n` remaining bytes were just written.
        unsafe { self.advance(n) };
    }

    /// The whole payload, to write in any order. Bytes not written yet are
    /// zeroed first (a pass over them; none for a loan from
    /// [`DoraNode::loan_output`], which starts zeroed).
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.zero_rest();
        self.filled_mut()
    }

    /// Where the payload starts. It tells loans apart, and lets foreign
    /// code write the payload; see [`advance`](Self::advance).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buffer.payload_mut().as_mut_ptr().cast()
    }

    /// The buffer, the payload's length and the metadata's, once the
    /// payload is all written: then every byte of the buffer is, since
    /// the metadata after the payload was written when the loan was made.
    fn into_parts(self) -> Result<(DataId, Buffer, usize, u32), SendError> {
        if self.written < self.len {
            return Err(SendError::Unwritten {
                output: self.output.to_string(),
                written: self.written,
                len: self.len,
            });
        }
        Ok((self.output, self.buffer, self.len, self.metadata_len))
    }
}

/// Writes after the bytes written so far; a write that does not fit
/// writes what does, and one into a full loan writes nothing (so
/// `write_all` fails with `WriteZero`).
impl std::io::Write for OutputLoan {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        Ok(self.write_some(bytes))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

    #[test]
    fn an_edge_to_another_machine_without_network_settings_is_refused_with_the_reason() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:\n  - id: source\n    path: source\n    outputs: [out]\n  - id: sink\n    path: sink\n    inputs:\n      in: source/out\n",
        )
        .unwrap();
        let run = format!("remote{}", std::process::id());
        let mut configs = NodeConfig::for_dataflow(&dataflow, &run);
        let mut source = configs.remove("source").unwrap();
        source.outputs.get_mut("out").unwrap().receivers[0].link = ReceiverLink::Remote {
            machine: "robot-2".into(),
        };
        let error = DoraNode::init(source).err().unwrap().to_string();
        assert!(
            error.contains(
                "output `out` has readers on other machines, and the node has no network settings"
            ),
            "{error}"
        );
        let mut sink = configs.remove("sink").unwrap();
        sink.inputs.get_mut("in").unwrap().from = dora_core::config::SourceLink::Remote {
            machine: "robot-1".into(),
        };
        let error = DoraNode::init(sink).err().unwrap().to_string();
        crate::transport::remove_run_files(&run).unwrap();
        assert!(
            error.contains("input `in` reads `source/out` from machine `robot-1`, and the node has no network settings"),
            "{error}"
        );
    }

    /// A source and a sink, each a node on its own thread, with the
    /// launcher's start-up on this one.
    #[test]
    fn a_loan_is_sent_only_once_all_of_its_payload_is_written() {
        use std::io::Write;
        use std::time::Duration;

        use crate::{Event, Parameter};

        let dataflow = Dataflow::from_yaml_str(
            "nodes:\n  - id: source\n    path: source\n    outputs: [out]\n  - id: sink\n    path: sink\n    inputs:\n      in: source/out\n",
        )
        .unwrap();
        let run = format!("loan{}", std::process::id());
        let mut configs = NodeConfig::for_dataflow(&dataflow, &run);
        let ids: Vec<_> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
        let channels = crate::launch::RunChannels::open(&run, &ids).unwrap();
        let (source, sink) = (
            configs.remove("source").unwrap(),
            configs.remove("sink").unwrap(),
        );
        let (done, sink_done) = std::sync::mpsc::channel();
        let sink = std::thread::spawn(move || {
            let (_node, mut events) = DoraNode::init(sink).unwrap();
            let mut received = Vec::new();
            while received.len() < 2 {
                match events.recv_timeout(Duration::from_secs(10)) {
                    Some(Event::Input { data, metadata, .. }) => {
                        received.push((data.to_vec(), metadata.parameters))
                    }
                    other => panic!("expected a message, got {other:?}"),
                }
            }
            done.send(()).unwrap();
            received
        });
        let source = std::thread::spawn(move || {
            let (mut node, _events) = DoraNode::init(source).unwrap();
            let mut partial = node
                .loan_output_uninit("out", 8, Parameters::new())
                .unwrap();
            partial.extend_from_slice(b"abc").unwrap();
            let refused = node.send_loan(partial);

            let parameters = Parameters::from([("n".to_owned(), Parameter::Integer(7))]);
            let mut loan = node.loan_output_uninit("out", 8, parameters).unwrap();
            assert_eq!(
                loan.extend_from_slice(b"123456789"),
                Err(LoanFull {
                    attempted: 9,
                    remaining: 8
                }),
                "too much is refused whole"
            );
            assert_eq!(loan.written(), 0);
            loan.extend_from_slice(b"abc").unwrap();
            loan.write_all(b"de").unwrap();
            loan.spare_mut()[0].write(b'f');
            // SAFETY: the first spare byte was just written.
            unsafe { loan.advance(1) };
            loan.put_bytes(b'g', 2).unwrap();
            assert_eq!((loan.filled(), loan.remaining()), (&b"abcdefgg"[..], 0));
            assert_eq!(
                loan.write_all(b"h").unwrap_err().kind(),
                std::io::ErrorKind::WriteZero
            );
            node.send_loan(loan).unwrap();

            // `data_mut` zeroes what was not written.
            let mut zeroed = node
                .loan_output_uninit("out", 4, Parameters::new())
                .unwrap();
            zeroed.extend_from_slice(b"ab").unwrap();
            assert_eq!(zeroed.data_mut(), b"ab\0\0");
            node.send_loan(zeroed).unwrap();
            // The sink must read before the source's memory goes.
            sink_done.recv_timeout(Duration::from_secs(10)).unwrap();
            refused
        });
        let started = channels.start(&[0, 1], false, Duration::from_secs(10), || None);
        let (refused, received) = (source.join(), sink.join());
        drop(channels);
        crate::transport::remove_run_files(&run).unwrap();
        started.unwrap();
        let received = received.unwrap();
        assert!(
            matches!(
                refused.unwrap(),
                Err(SendError::Unwritten { ref output, written: 3, len: 8 }) if output == "out"
            ),
            "a partly written loan is refused"
        );
        assert_eq!(received.len(), 2, "the refused loan was not sent");
        assert_eq!(received[0].0, b"abcdefgg");
        assert_eq!(received[0].1.get("n"), Some(&Parameter::Integer(7)));
        assert_eq!(received[1].0, b"ab\0\0");
    }
}
