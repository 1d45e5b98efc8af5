//! The zenoh side of the transport: edges between nodes on different
//! machines, node to node, with no daemon between them.
//!
//! A node opens a zenoh session only when its configuration has remote
//! edges. A node that reads from other machines listens where its
//! configuration says; a node that sends to other machines connects there.
//! Multicast scouting and gossip are off: peers reach only the endpoints
//! they are given. Links use TLS with mutual authentication when the
//! configuration names the certificates.
//!
//! Each message carries its sequence number, so that a receiver counts
//! every message lost on the way (a queue that dropped its oldest, a link
//! that was cut) from the gaps. Senders send reliably with blocking
//! congestion control; a `backpressure` reader whose queue is full stalls
//! the link, and so the sender, and nothing is lost.
//!
//! Start-up: a reader declares a liveliness token once its subscriber is
//! declared, and a sender waits, during start-up, for the tokens of all
//! its readers on other machines. Both declarations travel the same link
//! in order, so a sender that sees the token reaches the subscriber. The
//! sender keeps watching the tokens: a token goes when its link breaks,
//! and comes back with the link.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dora_core::config::RemoteConfig;
use dora_core::protocol::Signal;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::sample::SampleKind;
use zenoh::Wait as _;

use super::awake::AwakeFlag;
use super::shm::{Header, Notifier, ThreadSafe};
use crate::error::{Cause, InitError, TransportError, TransportErrorKind};
use crate::start::StartWait;

/// A zenoh error, as the source of a [`TransportError`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ZenohError(zenoh::Error);

impl Cause for ZenohError {
    fn kind(&self) -> TransportErrorKind {
        TransportErrorKind::Network
    }
}

fn failed(what: impl Into<String>) -> impl FnOnce(zenoh::Error) -> TransportError {
    let what = what.into();
    move |e| TransportError::new(what, ZenohError(e))
}

/// What a zenoh session is to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Routes for clients: the coordinator.
    Router,
    /// Connects to a router only: a machine's daemon.
    Client,
    /// Connects to its peers directly: a node with remote edges.
    Peer,
}

/// The TLS files of one side of a link.
#[derive(Debug, Clone, Copy)]
pub struct LinkTls<'a> {
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
    /// Check that the certificate of the side connected to names the
    /// endpoint's host. Links between nodes reach machines by address,
    /// and a machine's certificate names the machine: there, both sides
    /// prove only that the cluster's CA signed them.
    pub verify_name: bool,
}

/// A zenoh configuration that reaches only `listen` and `connect`: no
/// multicast scouting, no gossip. With `tls`, links are TLS with mutual
/// authentication by certificates of `tls.ca`; without, plain TCP.
/// `lease_ms` is how long a silent link lives (keep-alives go four times
/// as often).
pub fn zenoh_config(
    mode: LinkMode,
    listen: &[String],
    connect: &[String],
    tls: Option<LinkTls<'_>>,
    lease_ms: u64,
) -> Result<zenoh::Config, TransportError> {
    let mut config = zenoh::Config::default();
    let mut set = |key: &str, value: serde_json::Value| {
        config
            .insert_json5(key, &value.to_string())
            .map_err(|e| failed(format!("zenoh setting `{key}` = {value}"))(e))
    };
    use serde_json::json;
    let mode = match mode {
        LinkMode::Router => "router",
        LinkMode::Client => "client",
        LinkMode::Peer => "peer",
    };
    set("mode", json!(mode))?;
    set("scouting/multicast/enabled", json!(false))?;
    set("scouting/gossip/enabled", json!(false))?;
    set("listen/endpoints", json!(listen))?;
    set("connect/endpoints", json!(connect))?;
    // A node that connects before its reader listens (they start at
    // once on their machines) tries again soon: zenoh's first retry comes
    // after 1 s, which alone made a spread dataflow take a second to
    // start. Later retries back off to 1 s, which also bounds how long a
    // link takes to come back after a cut.
    set(
        "connect/retry",
        json!({
            "period_init_ms": CONNECT_RETRY_FIRST_MS,
            "period_max_ms": CONNECT_RETRY_MAX_MS,
            "period_increase_factor": 2,
        }),
    )?;
    set("transport/link/tx/lease", json!(lease_ms))?;
    set("transport/link/tx/keep_alive", json!(4))?;
    if mode == "peer" {
        // A send that waits for room closes the link after this long
        // (5 s by default): a short cut of the network, or a reader with
        // `backpressure` that takes its time, must not lose what is queued.
        set(
            "transport/link/tx/queue/congestion_control/block/wait_before_close",
            json!(BLOCKED_SEND_PATIENCE_US),
        )?;
    }
    match tls {
        Some(tls) => {
            let path = |p: &Path| p.display().to_string();
            set("transport/link/protocols", json!(["tls"]))?;
            set(
                "transport/link/tls/root_ca_certificate",
                json!(path(tls.ca)),
            )?;
            set(
                "transport/link/tls/listen_certificate",
                json!(path(tls.cert)),
            )?;
            set(
                "transport/link/tls/listen_private_key",
                json!(path(tls.key)),
            )?;
            set(
                "transport/link/tls/connect_certificate",
                json!(path(tls.cert)),
            )?;
            set(
                "transport/link/tls/connect_private_key",
                json!(path(tls.key)),
            )?;
            set("transport/link/tls/enable_mtls", json!(true))?;
            set(
                "transport/link/tls/verify_name_on_connect",
                json!(tls.verify_name),
            )?;
        }
        None => set("transport/link/protocols", json!(["tcp"]))?,
    }
    Ok(config)
}

/// The first and the longest wait before a connection is tried again, in
/// milliseconds.
const CONNECT_RETRY_FIRST_MS: u64 = 20;
const CONNECT_RETRY_MAX_MS: u64 = 1000;

/// How long a node's send may wait for room on its link before the link is
/// given up, in microseconds.
const BLOCKED_SEND_PATIENCE_US: u64 = 60_000_000;

/// How long a silent link between two nodes lives: longer than a short
/// cut of the network, during which a sender with backpressure waits and
/// one without counts its losses, and the link goes on afterwards.
pub const NODE_LEASE_MS: u64 = 30_000;

/// A node's zenoh session, closed (its queues sent out first) when the
/// node and its event stream have both let go of it.
pub(crate) struct Session(zenoh::Session);

impl Session {
    pub(crate) fn open(config: &RemoteConfig) -> Result<Arc<Session>, TransportError> {
        let tls = config.tls.as_ref().map(|tls| LinkTls {
            ca: &tls.ca,
            cert: &tls.cert,
            key: &tls.key,
            verify_name: false,
        });
        let zenoh_config = zenoh_config(
            LinkMode::Peer,
            &config.listen,
            &config.connect,
            tls,
            NODE_LEASE_MS,
        )?;
        let session = zenoh::open(zenoh_config).wait().map_err(failed(format!(
            "cannot open the network session (listening on {:?})",
            config.listen
        )))?;
        Ok(Arc::new(Session(session)))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing sends what is queued first.
        let _ = self.0.close().wait();
    }
}

/// The kinds of message on a remote edge, first byte of the attachment.
const DATA: u8 = 0;
/// A sender process ends: its sequence number is how many it sent, so
/// that a receiver counts the last messages lost too.
const END: u8 = 1;
/// Kind, timestamp, sequence; the encoded metadata follows.
const ATTACHMENT_HEADER: usize = 17;

fn attachment(kind: u8, header: &Header, metadata: &[u8]) -> ZBytes {
    let mut bytes = Vec::with_capacity(ATTACHMENT_HEADER + metadata.len());
    bytes.push(kind);
    bytes.extend_from_slice(&header.timestamp_ns.to_le_bytes());
    bytes.extend_from_slice(&header.sequence.to_le_bytes());
    bytes.extend_from_slice(metadata);
    ZBytes::from(bytes)
}

/// The liveliness key by which input `input` of node `node` says it reads
/// `channel`.
fn reader_key(channel: &str, node: &str, input: &str) -> String {
    format!("{channel}/reader/{node}/{input}")
}

/// How long a sender process that ends waits for a reader that is out of
/// reach to come back, so that its end (and so the count of what it
/// sent) reaches it. Short: at `Stop`, the readers of other machines stop
/// at the same time and are gone, and the sender's grace is counting.
const END_PATIENCE: Duration = Duration::from_secs(1);

/// How long a send with `backpressure` waits for a reader out of reach
/// before it goes on without it: longer than a short cut of the network,
/// and as long as the coordinator waits before it reports a machine lost.
/// A reader that ended for good (or whose machine is gone) must not hold
/// its sender for ever.
const READER_PATIENCE: Duration = Duration::from_secs(10);

/// Which readers of an output are within reach: the live liveliness
/// tokens of each, counted, since a restarted reader's new token may come
/// before its old one goes.
struct Presence {
    tokens: Mutex<BTreeMap<String, usize>>,
    changed: Condvar,
    /// The readers a send with `backpressure` waited for in vain, and no
    /// longer waits for until they are back.
    given_up: Mutex<BTreeSet<String>>,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, usize>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn missing(tokens: &BTreeMap<String, usize>) -> Vec<&str> {
        tokens
            .iter()
            .filter(|(_, live)| **live == 0)
            .map(|(key, _)| key.as_str())
            .collect()
    }

    /// Waits, before a send with `backpressure`, for the readers out of
    /// reach, up to [`READER_PATIENCE`] for each; says once which it goes
    /// on without.
    fn hold(&self, channel: &str) {
        let mut given_up = self.given_up.lock().unwrap_or_else(PoisonError::into_inner);
        // Those back are waited for again.
        let tokens = self.lock();
        given_up.retain(|key| tokens.get(key).is_some_and(|live| *live == 0));
        let waiting = Presence::missing(&tokens)
            .into_iter()
            .any(|key| !given_up.contains(key));
        drop(tokens);
        if !waiting {
            return;
        }
        let missing = self.wait(Some(READER_PATIENCE), &given_up);
        let new: Vec<String> = missing
            .into_iter()
            .filter(|key| given_up.insert(key.clone()))
            .collect();
        if !new.is_empty() {
            eprintln!(
                "warning: {} of `{channel}` out of reach for {READER_PATIENCE:?}; sending on without them: what they miss is counted if they come back",
                new.join(", ")
            );
        }
    }

    /// Waits at most `patience` (for ever with `None`) until every reader
    /// but those of `besides` is within reach; the readers still missing
    /// then.
    fn wait(&self, patience: Option<Duration>, besides: &BTreeSet<String>) -> Vec<String> {
        let deadline = patience.map(|p| Instant::now() + p);
        let mut tokens = self.lock();
        loop {
            let missing: Vec<&str> = Presence::missing(&tokens)
                .into_iter()
                .filter(|key| !besides.contains(*key))
                .collect();
            if missing.is_empty() {
                return Vec::new();
            }
            let left = match deadline {
                None => Duration::from_secs(1),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return missing.into_iter().map(str::to_owned).collect(),
                },
            };
            tokens = self
                .changed
                .wait_timeout(tokens, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The sending end of an output's readers on other machines.
pub(crate) struct Sender {
    publisher: zenoh::pubsub::Publisher<'static>,
    channel: String,
    presence: Arc<Presence>,
    /// A reader asks for `backpressure`: while one is out of reach, a send
    /// waits a while for it to come back rather than send into nothing.
    backpressure: bool,
    _tokens: zenoh::pubsub::Subscriber<()>,
    /// Kept open while the output is: a publisher does not keep it.
    _session: Arc<Session>,
}

impl Sender {
    /// Publishes `channel` for `readers`, (node, input) pairs on other
    /// machines.
    ///
    /// The network drops nothing: a send waits while the link's queue is
    /// full. A reader's queue policy applies at the reader, as on one
    /// machine: `drop_oldest` drops there, and counts; `backpressure`
    /// stops taking from the link, which makes the sender wait. (A link
    /// that may drop would drop the newest instead, and a large message,
    /// which fills the link's queue by itself, nearly always.) While a
    /// reader is out of reach (its link broke, its machine is gone), what
    /// is sent does not reach it: with `backpressure` the send waits for
    /// it (up to [`READER_PATIENCE`]), else the reader counts the gap when
    /// messages come again.
    pub(crate) fn new(
        session: &Arc<Session>,
        channel: &str,
        readers: &[(&str, &str)],
        backpressure: bool,
    ) -> Result<Sender, TransportError> {
        let publisher = session
            .0
            .declare_publisher(channel.to_owned())
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(failed(format!("cannot publish `{channel}`")))?;
        let presence = Arc::new(Presence {
            tokens: Mutex::new(
                readers
                    .iter()
                    .map(|(node, input)| (reader_key(channel, node, input), 0))
                    .collect(),
            ),
            changed: Condvar::new(),
            given_up: Mutex::new(BTreeSet::new()),
        });
        let seen = presence.clone();
        let tokens = session
            .0
            .liveliness()
            .declare_subscriber(format!("{channel}/reader/**"))
            .history(true)
            .callback(move |token| {
                let mut tokens = seen.lock();
                if let Some(live) = tokens.get_mut(token.key_expr().as_str()) {
                    match token.kind() {
                        SampleKind::Put => *live += 1,
                        SampleKind::Delete => *live = live.saturating_sub(1),
                    }
                    seen.changed.notify_all();
                }
            })
            .wait()
            .map_err(failed(format!(
                "cannot look for the readers of `{channel}`"
            )))?;
        Ok(Sender {
            publisher,
            channel: channel.to_owned(),
            presence,
            backpressure,
            _tokens: tokens,
            _session: session.clone(),
        })
    }

    /// Sends `payload` with `header` and the encoded `metadata`.
    pub(crate) fn send(
        &self,
        payload: Vec<u8>,
        header: &Header,
        metadata: &[u8],
    ) -> Result<(), TransportError> {
        if self.backpressure {
            self.presence.hold(&self.channel);
        }
        self.publisher
            .put(payload)
            .attachment(attachment(DATA, header, metadata))
            .wait()
            .map_err(failed("cannot send over the network"))
    }

    /// Tells the readers that this process sent `sent` messages in all and
    /// sends no more; waits a while for readers out of reach, and for
    /// room, so that it arrives.
    pub(crate) fn end(&self, sent: u64) -> Result<(), TransportError> {
        let missing = self.presence.wait(Some(END_PATIENCE), &BTreeSet::new());
        if !missing.is_empty() {
            log::warn!(
                "{} stayed out of reach for {END_PATIENCE:?}: they cannot count what of the {sent} messages of `{}` they missed at the end",
                missing.join(", "),
                self.channel
            );
        }
        let header = Header {
            sequence: sent,
            ..Header::default()
        };
        // Through the same publisher as the messages, so that it comes
        // after all of them.
        self.publisher
            .put(ZBytes::new())
            .attachment(attachment(END, &header, &[]))
            .wait()
            .map_err(failed("cannot end the output"))
    }

    /// Start-up: waits until every reader on another machine is connected
    /// and subscribed.
    pub(crate) fn wait_for_readers(&self, wait: &mut StartWait<'_>) -> Result<(), InitError> {
        loop {
            let missing = self.presence.wait(Some(wait.slice()), &BTreeSet::new());
            if missing.is_empty() {
                return Ok(());
            }
            if let Err(error) = wait.check() {
                return Err(match error {
                    InitError::StartTimeout(timeout) => InitError::ReadersMissing {
                        channel: self.channel.clone(),
                        missing: missing
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        timeout,
                    },
                    other => other,
                });
            }
        }
    }
}

/// What came on a remote input: unlike [`super::Arrival`], only what
/// zenoh's threads may hand over.
pub(crate) enum Arrival {
    Message(Received),
    /// A sender process ended after sending `sent` messages in all.
    End {
        sent: u64,
    },
    /// Something that is not a dora message was published on the channel.
    Malformed,
}

/// A message from another machine, read in place where zenoh delivered it
/// in one piece.
pub(crate) struct Received {
    header: Header,
    payload: Payload,
    metadata: Vec<u8>,
}

enum Payload {
    /// One contiguous piece: read in place.
    InPlace(ZBytes),
    /// Delivered in pieces, joined once.
    Joined(Box<[u8]>),
}

impl Received {
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    pub(crate) fn data(&self) -> &[u8] {
        match &self.payload {
            Payload::InPlace(bytes) => bytes.slices().next().unwrap_or(&[]),
            Payload::Joined(bytes) => bytes,
        }
    }

    pub(crate) fn metadata(&self) -> &[u8] {
        &self.metadata
    }
}

fn arrival(sample: zenoh::sample::Sample) -> Arrival {
    let Some(attachment) = sample.attachment().map(ZBytes::to_bytes) else {
        return Arrival::Malformed;
    };
    if attachment.len() < ATTACHMENT_HEADER {
        return Arrival::Malformed;
    }
    let word = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&attachment[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let header = Header {
        timestamp_ns: word(1),
        sequence: word(9),
        metadata_len: (attachment.len() - ATTACHMENT_HEADER) as u32,
        reserved: 0,
    };
    match attachment[0] {
        END => Arrival::End {
            sent: header.sequence,
        },
        DATA => {
            let metadata = attachment[ATTACHMENT_HEADER..].to_vec();
            let payload = sample.payload();
            let payload = if payload.slices().nth(1).is_none() {
                Payload::InPlace(payload.clone())
            } else {
                Payload::Joined(payload.to_bytes().into())
            };
            Arrival::Message(Received {
                header,
                payload,
                metadata,
            })
        }
        _ => Arrival::Malformed,
    }
}

/// How zenoh's threads wake the node when a remote message comes.
pub(crate) struct Wake {
    notifier: Notifier<ThreadSafe>,
    awake: AwakeFlag,
}

impl Wake {
    pub(crate) fn new(notifier: Notifier<ThreadSafe>, awake: AwakeFlag) -> Wake {
        Wake { notifier, awake }
    }

    fn wake(&self) {
        if self.awake.needs_notify() {
            if let Err(error) = self.notifier.notify(Signal::Data.id(), || {
                "cannot wake the node for a message from another machine".to_owned()
            }) {
                log::error!("{error}");
            }
        }
    }
}

/// The messages of one remote input that the node has not taken yet.
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when the node takes a message (backpressure).
    room: Condvar,
    capacity: usize,
    backpressure: bool,
    wake: Arc<Wake>,
}

struct QueueState {
    arrivals: VecDeque<Arrival>,
    /// The node has let go of the input: nothing more is kept.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// On zenoh's thread: keeps `arrival`, waiting for room with
    /// backpressure (which stalls the link, and so the sender), else
    /// dropping the oldest message (counted by the node from the gap).
    fn push(&self, arrival: Arrival) {
        let mut state = self.lock();
        if self.backpressure {
            while state.arrivals.len() >= self.capacity && !state.closed {
                state = self
                    .room
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        if state.closed {
            return;
        }
        if state.arrivals.len() >= self.capacity {
            state.arrivals.pop_front();
        }
        state.arrivals.push_back(arrival);
        drop(state);
        self.wake.wake();
    }

    fn pop(&self) -> Option<Arrival> {
        let arrival = self.lock().arrivals.pop_front();
        if arrival.is_some() && self.backpressure {
            self.room.notify_one();
        }
        arrival
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.arrivals.clear();
        drop(state);
        self.room.notify_all();
    }
}

/// One input's end of a channel from another machine.
pub(crate) struct Receiver {
    queue: Arc<Queue>,
    // Dropped after the queue is closed (see `Drop`), so that a callback
    // waiting for room returns and the subscriber can go.
    _subscriber: zenoh::pubsub::Subscriber<()>,
    _token: zenoh::liveliness::LivelinessToken,
    _session: Arc<Session>,
}

impl Receiver {
    /// Subscribes input `input` of node `node` to `channel`, keeping at
    /// most `capacity` messages; then says so to the sender.
    pub(crate) fn new(
        session: &Arc<Session>,
        channel: &str,
        (node, input): (&str, &str),
        capacity: usize,
        backpressure: bool,
        wake: Arc<Wake>,
    ) -> Result<Receiver, TransportError> {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                arrivals: VecDeque::new(),
                closed: false,
            }),
            room: Condvar::new(),
            capacity: capacity.max(1),
            backpressure,
            wake,
        });
        let fill = queue.clone();
        let subscriber = session
            .0
            .declare_subscriber(channel.to_owned())
            .callback(move |sample| fill.push(arrival(sample)))
            .wait()
            .map_err(failed(format!("cannot subscribe to `{channel}`")))?;
        let token = session
            .0
            .liveliness()
            .declare_token(reader_key(channel, node, input))
            .wait()
            .map_err(failed(format!("cannot announce the reader of `{channel}`")))?;
        Ok(Receiver {
            queue,
            _subscriber: subscriber,
            _token: token,
            _session: session.clone(),
        })
    }

    /// The next arrival, if one is waiting.
    pub(crate) fn receive(&self) -> Option<Arrival> {
        self.queue.pop()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.queue.close();
    }
}
