//! What can go wrong in a node, one error type per operation.

use dora_core::config::NodeConfigError;

/// Why [`DoraNode::init_from_env`](crate::DoraNode::init_from_env) failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] NodeConfigError),
    #[error("the node configuration is inconsistent: {0}; start the node with `dora run`")]
    BadConfig(String),
    #[error("cannot set up the transport: {0}")]
    Transport(#[from] TransportError),
    #[error("the dataflow was stopped before this node finished starting")]
    StoppedDuringStart,
    #[error("start-up was interrupted before every node was ready")]
    Interrupted,
    #[error("the other nodes did not get ready within {0:?}; check the output of `dora run` for a node that failed to start")]
    StartTimeout(std::time::Duration),
    #[error("the readers of `{channel}` on other machines were not reachable within {timeout:?}: {missing} never said they read it; check that their machines are up, that the network lets this machine reach where they listen, and the readers' own output")]
    ReadersMissing {
        channel: String,
        missing: String,
        timeout: std::time::Duration,
    },
}

/// Why an output could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("`{output}` is not an output of this node; its outputs are: {declared}. Declare it under `outputs:` in the dataflow")]
    UndeclaredOutput { output: String, declared: String },
    #[error("the metadata of output `{output}` is {len} bytes, more than the {max} bytes a message may carry")]
    MetadataTooLarge {
        output: String,
        len: usize,
        max: usize,
    },
    /// The shared memory of the output cannot hold a message this large
    /// now, or at all.
    #[error("no shared memory for a message of {len} bytes on output `{output}` ({detail}); send less, or free memory on this machine")]
    OutOfMemory {
        output: String,
        len: usize,
        detail: String,
    },
    /// The node holds as many unsent messages of this output as it may.
    #[error("output `{output}` already has {max} messages being written and not sent; send or discard one first")]
    TooManyLoans { output: String, max: usize },
    /// A loan was sent before its whole payload was written; nothing was
    /// sent.
    #[error("the message on output `{output}` has {written} of its {len} bytes written; write them all before sending")]
    Unwritten {
        output: String,
        written: usize,
        len: usize,
    },
    #[error("cannot send on output `{output}`: {source}")]
    Transport {
        output: String,
        source: TransportError,
    },
}

/// A failure of the shared-memory transport: what was being done, what
/// kind of failure it is (to act on), and the transport's own error as the
/// [`source`](std::error::Error::source).
///
/// ```
/// # fn f(error: dora_node_api::TransportError) {
/// use dora_node_api::TransportErrorKind;
///
/// match error.kind() {
///     TransportErrorKind::OutOfMemory => { /* send less, or later */ }
///     TransportErrorKind::PeerGone => { /* the other process ended */ }
///     _ => eprintln!("{error}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{action}: {kind} ({source})")]
pub struct TransportError {
    action: String,
    kind: TransportErrorKind,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TransportError {
    pub(crate) fn new(action: impl Into<String>, cause: impl Cause) -> Self {
        TransportError {
            action: action.into(),
            kind: cause.kind(),
            source: Box::new(cause),
        }
    }

    /// What was being done, such as "cannot connect input `image`".
    pub fn action(&self) -> &str {
        &self.action
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

/// The kinds of [`TransportError`] a program may act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The shared memory is used up, for now or for a message this large.
    #[error("out of shared memory")]
    OutOfMemory,
    /// A limit the channel was made with is reached: messages held or
    /// loaned at once, ports, processes.
    #[error("a limit of the channel is reached")]
    LimitReached,
    /// The receivers' queues stayed full (an output with backpressure).
    #[error("the receivers' queues are full")]
    QueueFull,
    /// The process on the other side has ended, or its memory is gone.
    #[error("the other side is gone")]
    PeerGone,
    /// A name (of a run, node or channel) the transport cannot use.
    #[error("a name the transport cannot use")]
    BadName,
    /// A wait was cut short by a signal (Ctrl-C, say).
    #[error("interrupted by a signal")]
    Interrupted,
    /// The network between machines failed, or a network session could
    /// not be set up.
    #[error("the network failed")]
    Network,
    /// Anything else; the source says what.
    #[error("the transport failed")]
    Other,
}

/// An error of the transport that a [`TransportError`] carries as its
/// source, and how it classifies.
pub(crate) trait Cause: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> TransportErrorKind {
        TransportErrorKind::Other
    }
}

/// Why waiting for the next event failed.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    #[error("receiving input `{input}` failed: {source}")]
    Transport {
        input: String,
        source: TransportError,
    },
    #[error("waiting for events failed: {0}")]
    Wait(TransportError),
    /// A message whose metadata this node cannot read; the message is
    /// lost (and counted).
    #[error("a message on input `{input}` carries metadata this node cannot read; is every node built with the same dora version?")]
    BadMetadata { input: String },
}
