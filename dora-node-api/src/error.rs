//! What can go wrong in a node, one error type per operation.

use dora_core::config::NodeConfigError;

/// Why [`DoraNode::init_from_env`](crate::DoraNode::init_from_env) failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] NodeConfigError),
    #[error("the node configuration is inconsistent: {0}; start the node with `dora run`")]
    BadConfig(String),
    #[error("cannot set up shared memory: {0}")]
    Transport(#[from] TransportError),
    #[error("the dataflow was stopped before this node finished starting")]
    StoppedDuringStart,
    #[error("the other nodes did not get ready within {0:?}; check the output of `dora run` for a node that failed to start")]
    StartTimeout(std::time::Duration),
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

/// A failure of the shared-memory transport, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct TransportError {
    pub action: String,
    pub detail: String,
}

impl TransportError {
    pub(crate) fn new(action: impl Into<String>, detail: impl std::fmt::Debug) -> Self {
        TransportError {
            action: action.into(),
            detail: format!("{detail:?}"),
        }
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
}
