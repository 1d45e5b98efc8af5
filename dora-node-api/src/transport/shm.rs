//! The iceoryx2 side of the transport: every run gets its own file prefix
//! and folder, so runs never see each other and a run's files can all be
//! removed by name once it has ended.
//!
//! Nothing outside `transport/` names an iceoryx2 type: the ports are
//! wrapped here ([`Sender`], [`Loan`], [`Receiver`], [`Received`],
//! [`Listener`], [`Notifier`], [`ControlSender`], [`ControlReceiver`]).

use std::mem::MaybeUninit;
use std::time::Duration;

use dora_core::config::ChannelSettings;
use iceoryx2::port::listener::ListenerWaitError;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::port::LoanError;
use iceoryx2::prelude::*;
use iceoryx2::service::Service;

use crate::error::{Cause, TransportError};

type Ipc = ipc::Service;
/// The service type whose ports may be used from any thread: the remote
/// transport wakes a node from zenoh's threads through it.
pub(crate) type ThreadSafe = ipc_threadsafe::Service;

/// Waits on `listener` for at most `timeout`, handing each activation to
/// `on_event`.
///
/// iceoryx2 waits with a socket receive timeout, and a timeout that rounds
/// to zero microseconds means "no timeout" to the kernel: the wait would
/// never end. Such a timeout only looks, without waiting.
fn wait_at_most<F: FnMut(EventActivation)>(
    listener: &iceoryx2::port::listener::Listener<Ipc>,
    on_event: F,
    timeout: Duration,
) -> Result<u64, iceoryx2::port::listener::ListenerWaitError> {
    if timeout < Duration::from_micros(1) {
        listener.try_wait(on_event)
    } else {
        listener.timed_wait(on_event, timeout)
    }
}

/// The fixed header in front of every message. The payload is followed by
/// `metadata_len` bytes of encoded parameters.
#[derive(Debug, Default, Clone, Copy, ZeroCopySend)]
#[repr(C)]
pub(crate) struct Header {
    pub timestamp_ns: u64,
    pub sequence: u64,
    pub metadata_len: u32,
    pub reserved: u32,
}

/// The sequence number of the empty message each sender sends during
/// start-up, so that receivers map its memory before any data flows.
pub(crate) const HELLO_SEQUENCE: u64 = u64::MAX;

/// How many samples of one input a node may hold at once. The event
/// stream keeps one of them free, and hands out copies while the node
/// holds the others (see `Data`), so that a receive never fails.
pub(crate) const MAX_HELD_PER_INPUT: usize = 4;
/// Ports of a process that died are released only when the launcher
/// cleans up after it, so a restarted node may meet its earlier ports:
/// every service has room for that many more.
const RESTART_MARGIN: usize = 1;
/// The listeners of one event channel: the node, and the thread of its
/// async stream when it has one (a restart adds [`RESTART_MARGIN`]).
const LISTENERS: usize = 2;
/// The first shared-memory segment of a sender holds messages of up to
/// this many bytes. A larger message makes the sender map a larger
/// segment (best fit), once; starting small keeps the memory of a
/// dataflow of many small outputs small.
const INITIAL_MAX_MESSAGE: usize = 4096;
/// Creating a service that another process is creating at the same moment
/// fails for a short while; it is tried again until this passes.
const OPEN_PATIENCE: Duration = Duration::from_secs(5);

/// Where a run keeps its files: iceoryx2's small files (one per service,
/// node and port) and the launcher's pid. In memory (tmpfs), since a
/// dataflow of hundreds of nodes creates thousands of them, and making
/// files on a disk file system was most of its start-up time.
const RUNS_FOLDER: &str = "/dev/shm";

fn root(dataflow_id: &str) -> String {
    format!("{RUNS_FOLDER}/dora-{dataflow_id}/")
}

fn prefix(dataflow_id: &str) -> String {
    format!("dora_{dataflow_id}_")
}

fn config(dataflow_id: &str) -> Result<Config, TransportError> {
    let mut config = Config::default();
    config.global.prefix = FileName::new(prefix(dataflow_id).as_bytes()).map_err(|e| {
        TransportError::new(
            format!("the run id `{dataflow_id}` cannot name shared memory"),
            e,
        )
    })?;
    let root = Path::new(root(dataflow_id).as_bytes()).map_err(|e| {
        TransportError::new(
            format!("the run id `{dataflow_id}` cannot name a folder"),
            e,
        )
    })?;
    config.global.set_root_path(&root);
    // By default every process looks for dead processes of the run, and
    // cleans up after them, whenever it creates its node or opens a
    // channel: it reads the state of every node, so a start-up of n nodes
    // cost n² reads (most of the start of 200 nodes). The launcher does it
    // instead, once, whenever one of its node processes has ended.
    config.global.node.cleanup_dead_nodes_on_creation = false;
    config.global.node.cleanup_dead_nodes_on_destruction = false;
    config.global.service.cleanup_dead_nodes_on_open = false;
    Ok(config)
}

/// Removes every file a run left in `/dev/shm` and its folder: iceoryx2
/// keeps a small management segment by design, a process killed with
/// SIGKILL leaves its ports behind, and nodes' awake flags stay. Call it when no process of the run is
/// alive.
pub fn remove_run_files(dataflow_id: &str) -> std::io::Result<usize> {
    let prefixes = [prefix(dataflow_id), super::awake::file_prefix(dataflow_id)];
    let mut removed = 0;
    for entry in std::fs::read_dir("/dev/shm")? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    match std::fs::remove_dir_all(root(dataflow_id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    Ok(removed)
}

/// The file in a run's folder that names the process that launched it.
const LAUNCHER_PID: &str = "launcher.pid";

/// Records that this process launches run `dataflow_id`, so that a later
/// run can tell whether it was abandoned (see [`remove_abandoned_runs`]).
pub fn claim_run(dataflow_id: &str) -> std::io::Result<()> {
    let root = root(dataflow_id);
    std::fs::create_dir_all(&root)?;
    std::fs::write(
        format!("{root}{LAUNCHER_PID}"),
        std::process::id().to_string(),
    )
}

/// Removes the files of every run whose launcher is gone: one killed with
/// SIGKILL could not clean up. Returns the ids of those runs. Runs of live
/// launchers, and folders that no launcher claimed, are left alone.
pub fn remove_abandoned_runs() -> std::io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(RUNS_FOLDER)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix("dora-")) else {
            continue;
        };
        let Ok(pid) = std::fs::read_to_string(format!("{}{LAUNCHER_PID}", root(id))) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<libc::pid_t>() else {
            continue;
        };
        if !is_alive(pid) {
            remove_run_files(id)?;
            removed.push(id.to_owned());
        }
    }
    Ok(removed)
}

fn is_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// One process's handle on the run's shared memory.
pub(crate) struct Shm {
    node: Node<Ipc>,
    /// A second handle, of the thread-safe kind, made when first needed
    /// (by a node with inputs from other machines).
    thread_safe: std::cell::OnceCell<Node<ThreadSafe>>,
    dataflow_id: String,
    name: NodeName,
}

/// Tries `open` until it succeeds or [`OPEN_PATIENCE`] has passed.
fn patiently<T, E: Cause>(
    what: &str,
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, TransportError> {
    let start = std::time::Instant::now();
    loop {
        match open() {
            Ok(value) => return Ok(value),
            Err(error) if start.elapsed() > OPEN_PATIENCE => {
                return Err(TransportError::new(what, error))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn create_node<S: Service>(dataflow_id: &str, name: &NodeName) -> Result<Node<S>, TransportError> {
    NodeBuilder::new()
        .name(name)
        .config(&config(dataflow_id)?)
        // Ctrl-C and SIGTERM must keep their usual meaning in user code.
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<S>()
        .map_err(|e| TransportError::new("cannot create the shared-memory node", e))
}

fn service_name(channel: &str) -> Result<ServiceName, TransportError> {
    ServiceName::new(channel)
        .map_err(|e| TransportError::new(format!("`{channel}` cannot name a channel"), e))
}

/// An event channel (a node's wake-up channel, or the launcher's) of a
/// dataflow of `nodes` nodes: any of them, and the launcher, may notify
/// on it.
fn event_service<S: Service>(
    node: &Node<S>,
    channel: &str,
    max_event_id: usize,
    nodes: usize,
) -> Result<iceoryx2::service::port_factory::event::PortFactory<S>, TransportError> {
    let name = service_name(channel)?;
    let notifiers = nodes + 1 + RESTART_MARGIN;
    patiently(&format!("cannot open the channel `{channel}`"), || {
        node.service_builder(&name)
            .event()
            .event_id_max_value(max_event_id)
            .max_notifiers(notifiers)
            .max_listeners(LISTENERS + RESTART_MARGIN)
            .max_nodes(notifiers + LISTENERS + RESTART_MARGIN)
            .open_or_create()
    })
}

impl Shm {
    pub(crate) fn open(dataflow_id: &str, name: &str) -> Result<Shm, TransportError> {
        let name = NodeName::new(name)
            .map_err(|e| TransportError::new(format!("`{name}` cannot name a node"), e))?;
        Ok(Shm {
            node: create_node(dataflow_id, &name)?,
            thread_safe: std::cell::OnceCell::new(),
            dataflow_id: dataflow_id.to_owned(),
            name,
        })
    }

    /// Releases what crashed processes of the run left: their ports stay
    /// registered until someone cleans up, and a sender waiting for room
    /// in a dead receiver's queue (backpressure) would wait forever.
    pub(crate) fn clean_up_dead_nodes(&self) -> u64 {
        self.node.try_cleanup_dead_nodes().cleanups
    }

    fn data_service(
        &self,
        channel: &str,
        settings: ChannelSettings,
    ) -> Result<
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<Ipc, [u8], Header>,
        TransportError,
    > {
        let name = service_name(channel)?;
        patiently(&format!("cannot open the channel `{channel}`"), || {
            self.node
                .service_builder(&name)
                .publish_subscribe::<[u8]>()
                .user_header::<Header>()
                .enable_safe_overflow(!settings.backpressure)
                .subscriber_max_buffer_size(settings.queue_size.max(1))
                .subscriber_max_borrowed_samples(MAX_HELD_PER_INPUT)
                .history_size(0)
                // Sized from the dataflow, which knows every reader: the
                // defaults (8 readers, 20 processes) are far too few.
                .max_subscribers(settings.receivers.max(1) + RESTART_MARGIN)
                .max_publishers(1 + RESTART_MARGIN)
                .max_nodes(settings.receivers.max(1) + 1 + 2 * RESTART_MARGIN)
                .open_or_create()
        })
    }

    pub(crate) fn sender(
        &self,
        channel: &str,
        settings: ChannelSettings,
    ) -> Result<Sender, TransportError> {
        let service = self.data_service(channel, settings)?;
        let strategy = if settings.backpressure {
            BackpressureStrategy::RetryUntilDelivered
        } else {
            BackpressureStrategy::DiscardData
        };
        service
            .publisher_builder()
            .initial_max_slice_len(INITIAL_MAX_MESSAGE)
            .allocation_strategy(AllocationStrategy::BestFit)
            .backpressure_strategy(strategy)
            .create()
            .map(Sender)
            .map_err(|e| TransportError::new(format!("cannot create the sender of `{channel}`"), e))
    }

    pub(crate) fn receiver(
        &self,
        channel: &str,
        settings: ChannelSettings,
        queue_size: usize,
    ) -> Result<Receiver, TransportError> {
        let service = self.data_service(channel, settings)?;
        service
            .subscriber_builder()
            .buffer_size(queue_size.max(1))
            .create()
            .map(Receiver)
            .map_err(|e| {
                TransportError::new(format!("cannot create the receiver of `{channel}`"), e)
            })
    }

    /// The channel that tells a node which nodes feeding it have ended: one
    /// node index per message, never more than `nodes` waiting.
    fn control_service(
        &self,
        channel: &str,
        nodes: usize,
    ) -> Result<
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<Ipc, u64, ()>,
        TransportError,
    > {
        let name = service_name(channel)?;
        patiently(&format!("cannot open the channel `{channel}`"), || {
            self.node
                .service_builder(&name)
                .publish_subscribe::<u64>()
                .subscriber_max_buffer_size(nodes.max(1))
                .history_size(0)
                .max_subscribers(1 + RESTART_MARGIN)
                .max_publishers(1)
                .max_nodes(2 + RESTART_MARGIN)
                .open_or_create()
        })
    }

    pub(crate) fn control_sender(
        &self,
        channel: &str,
        nodes: usize,
    ) -> Result<ControlSender, TransportError> {
        self.control_service(channel, nodes)?
            .publisher_builder()
            .create()
            .map(ControlSender)
            .map_err(|e| TransportError::new(format!("cannot create the sender of `{channel}`"), e))
    }

    pub(crate) fn control_receiver(
        &self,
        channel: &str,
        nodes: usize,
    ) -> Result<ControlReceiver, TransportError> {
        self.control_service(channel, nodes)?
            .subscriber_builder()
            .create()
            .map(ControlReceiver)
            .map_err(|e| {
                TransportError::new(format!("cannot create the receiver of `{channel}`"), e)
            })
    }

    /// Listens on an event channel whose ids go up to `max_event_id`, of a
    /// dataflow of `nodes` nodes.
    pub(crate) fn listener(
        &self,
        channel: &str,
        max_event_id: usize,
        nodes: usize,
    ) -> Result<Listener, TransportError> {
        event_service(&self.node, channel, max_event_id, nodes)?
            .listener_builder()
            .create()
            .map(Listener)
            .map_err(|e| TransportError::new(format!("cannot listen on `{channel}`"), e))
    }

    /// Notifies on an event channel whose ids go up to `max_event_id`, of a
    /// dataflow of `nodes` nodes.
    pub(crate) fn notifier(
        &self,
        channel: &str,
        max_event_id: usize,
        nodes: usize,
    ) -> Result<Notifier, TransportError> {
        event_service(&self.node, channel, max_event_id, nodes)?
            .notifier_builder()
            .create()
            .map(Notifier)
            .map_err(|e| TransportError::new(format!("cannot notify on `{channel}`"), e))
    }

    /// Like [`notifier`](Self::notifier), for use from any thread.
    pub(crate) fn thread_safe_notifier(
        &self,
        channel: &str,
        max_event_id: usize,
        nodes: usize,
    ) -> Result<Notifier<ThreadSafe>, TransportError> {
        let node = match self.thread_safe.get() {
            Some(node) => node,
            None => {
                let node = create_node::<ThreadSafe>(&self.dataflow_id, &self.name)?;
                self.thread_safe.get_or_init(|| node)
            }
        };
        event_service(node, channel, max_event_id, nodes)?
            .notifier_builder()
            .create()
            .map(Notifier)
            .map_err(|e| TransportError::new(format!("cannot notify on `{channel}`"), e))
    }
}

/// The sending end of an output's channel.
pub(crate) struct Sender(iceoryx2::port::publisher::Publisher<Ipc, [u8], Header>);

/// Why no buffer could be loaned.
pub(crate) enum LoanFailure {
    /// No shared memory for a message this large; the detail says why.
    OutOfMemory(String),
    /// This many loans are out already.
    TooManyLoans(usize),
    Transport(TransportError),
}

impl Sender {
    /// A buffer of `len` bytes, nothing written yet.
    pub(crate) fn loan(&self, len: usize) -> Result<Loan, LoanFailure> {
        self.0
            .loan_slice_uninit(len)
            .map(Loan)
            .map_err(|e| match e {
                LoanError::OutOfMemory | LoanError::ExceedsMaxLoanSize => {
                    LoanFailure::OutOfMemory(format!("{e:?}"))
                }
                LoanError::ExceedsMaxLoans => {
                    LoanFailure::TooManyLoans(self.0.max_loaned_samples())
                }
                e => LoanFailure::Transport(TransportError::new("cannot get shared memory", e)),
            })
    }

    /// Connects to the receivers that exist by now.
    pub(crate) fn connect(&self) -> Result<(), TransportError> {
        self.0
            .update_connections()
            .map_err(|e| TransportError::new("cannot connect an output", e))
    }

    /// Sends the empty hello of start-up (see [`HELLO_SEQUENCE`]).
    pub(crate) fn greet(&self) -> Result<(), TransportError> {
        let mut hello = self
            .0
            .loan_slice_uninit(0)
            .map_err(|e| TransportError::new("cannot greet the receivers", e))?;
        *hello.user_header_mut() = Header {
            sequence: HELLO_SEQUENCE,
            ..Header::default()
        };
        // SAFETY: a slice of zero bytes has nothing to initialise.
        let hello = unsafe { hello.assume_init() };
        hello
            .send()
            .map(|_| ())
            .map_err(|e| TransportError::new("cannot greet the receivers", e))
    }
}

/// A buffer in shared memory being written, to send once it is.
pub(crate) struct Loan(
    iceoryx2::sample_mut_uninit::SampleMutUninit<Ipc, [MaybeUninit<u8>], Header>,
);

impl Loan {
    pub(crate) fn payload(&self) -> &[MaybeUninit<u8>] {
        self.0.payload()
    }

    pub(crate) fn payload_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        self.0.payload_mut()
    }

    /// Sends the buffer with `header`; says to how many receivers.
    ///
    /// # Safety
    /// Every byte of the payload is initialised.
    pub(crate) unsafe fn send(mut self, header: Header) -> Result<usize, TransportError> {
        *self.0.user_header_mut() = header;
        // SAFETY: the caller vouches for the payload.
        let sample = unsafe { self.0.assume_init() };
        sample
            .send()
            .map_err(|e| TransportError::new("cannot send", e))
    }
}

/// The receiving end of an output's channel, for one input.
pub(crate) struct Receiver(iceoryx2::port::subscriber::Subscriber<Ipc, [u8], Header>);

impl Receiver {
    /// The next message, if one is waiting.
    pub(crate) fn receive(&self) -> Result<Option<Received>, TransportError> {
        self.0
            .receive()
            .map(|sample| sample.map(Received))
            .map_err(|e| TransportError::new("cannot take the next message", e))
    }

    /// Connects to the sender, which exists by now.
    pub(crate) fn connect(&self) -> Result<(), TransportError> {
        self.0
            .update_connections()
            .map_err(|e| TransportError::new("cannot connect an input", e))
    }
}

/// A message read in place; the memory returns to the sender when it is
/// dropped.
pub(crate) struct Received(iceoryx2::sample::Sample<Ipc, [u8], Header>);

impl Received {
    pub(crate) fn header(&self) -> &Header {
        self.0.user_header()
    }

    /// The payload and the encoded metadata after it.
    fn bytes(&self) -> &[u8] {
        self.0.payload()
    }

    pub(crate) fn data(&self) -> &[u8] {
        let bytes = self.bytes();
        &bytes[..bytes
            .len()
            .saturating_sub(self.header().metadata_len as usize)]
    }

    pub(crate) fn metadata(&self) -> &[u8] {
        let bytes = self.bytes();
        &bytes[bytes
            .len()
            .saturating_sub(self.header().metadata_len as usize)..]
    }
}

/// How a [`Listener`] waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    No,
    For(Duration),
    Forever,
}

/// The listening end of an event channel: a node's wake-up channel, or
/// the launcher's.
pub(crate) struct Listener(iceoryx2::port::listener::Listener<Ipc>);

impl Listener {
    /// Hands each event id that came to `on_id`, waiting for the first as
    /// `how` says. A signal handler that ran (Ctrl-C) ends the wait early,
    /// without error: the caller looks again, and may act on the signal.
    pub(crate) fn wait(
        &self,
        how: Wait,
        mut on_id: impl FnMut(usize),
    ) -> Result<(), TransportError> {
        let collect = |activation: EventActivation| on_id(activation.id.as_value());
        let result = match how {
            Wait::No => self.0.try_wait(collect),
            Wait::For(timeout) => wait_at_most(&self.0, collect, timeout),
            Wait::Forever => self.0.blocking_wait(collect),
        };
        match result {
            Ok(_) | Err(ListenerWaitError::InterruptSignal) => Ok(()),
            Err(e) => Err(TransportError::new("cannot wait for events", e)),
        }
    }
}

/// The notifying end of an event channel.
pub(crate) struct Notifier<S: Service = Ipc>(iceoryx2::port::notifier::Notifier<S>);

impl<S: Service> Notifier<S> {
    /// Sends event `id`; `what` says what failed, if it does.
    pub(crate) fn notify(
        &self,
        id: usize,
        what: impl FnOnce() -> String,
    ) -> Result<(), TransportError> {
        self.0
            .notify_with_custom_event_id(EventId::new(id))
            .map(|_| ())
            .map_err(|e| TransportError::new(what(), e))
    }
}

/// Tells a node which nodes feeding it have ended.
pub(crate) struct ControlSender(iceoryx2::port::publisher::Publisher<Ipc, u64, ()>);

impl ControlSender {
    pub(crate) fn send(
        &self,
        ended: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), TransportError> {
        self.0
            .send_copy(ended)
            .map(|_| ())
            .map_err(|e| TransportError::new(what(), e))
    }
}

/// Where a node learns which nodes feeding it have ended.
pub(crate) struct ControlReceiver(iceoryx2::port::subscriber::Subscriber<Ipc, u64, ()>);

impl ControlReceiver {
    /// The index of the next node that ended, if one is waiting.
    pub(crate) fn receive(&self) -> Option<u64> {
        self.0.receive().ok().flatten().map(|ended| *ended)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_wait_shorter_than_a_microsecond_returns_at_once() {
        let run = format!("waittest{}", std::process::id());
        {
            let shm = Shm::open(&run, "test").unwrap();
            let listener = shm.listener("dora/test/wakeup", 7, 1).unwrap();
            let start = Instant::now();
            for wait in [
                Duration::from_nanos(300),
                Duration::ZERO,
                Duration::from_millis(5),
            ] {
                listener.wait(Wait::For(wait), |_| {}).unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "waited {:?}",
                start.elapsed()
            );
        }
        remove_run_files(&run).unwrap();
    }

    #[test]
    fn a_transport_error_says_its_kind_and_keeps_its_cause() {
        use crate::error::TransportErrorKind;
        use std::error::Error;

        let run = format!("kindtest{}", std::process::id());
        let shm = Shm::open(&run, "test").unwrap();
        let Err(error) = shm.listener("dora/test/\0wakeup", 7, 1) else {
            panic!("a name with a NUL byte was accepted");
        };
        assert_eq!(error.kind(), TransportErrorKind::BadName, "{error}");
        assert!(error.source().is_some(), "{error}");
        assert!(error.to_string().starts_with("`dora/test/"), "{error}");
        drop(shm);
        remove_run_files(&run).unwrap();
    }
}
