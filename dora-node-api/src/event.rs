//! What a node receives: inputs, closed inputs, and the request to stop.

use std::ops::Deref;

use dora_core::id::DataId;

use crate::metadata::Metadata;
use crate::transport::shm::{Header, Ipc};

/// One event of a node's [`EventStream`](crate::EventStream).
#[derive(Debug)]
pub enum Event {
    /// A message on one of the node's inputs (timers included).
    Input {
        id: DataId,
        metadata: Metadata,
        data: Data,
    },
    /// The node that fed this input has ended; no more messages will come.
    InputClosed { id: DataId },
    /// The dataflow is stopping: finish up and return.
    Stop,
    /// Something went wrong receiving; the stream goes on.
    Error(String),
}

/// The bytes of an input, read in place in shared memory: no copy is made,
/// and the memory returns to the sender when this is dropped.
pub struct Data {
    inner: Inner,
}

enum Inner {
    Empty,
    Sample {
        sample: iceoryx2::sample::Sample<Ipc, [u8], Header>,
        len: usize,
    },
}

impl Data {
    pub(crate) fn empty() -> Data {
        Data {
            inner: Inner::Empty,
        }
    }

    pub(crate) fn sample(sample: iceoryx2::sample::Sample<Ipc, [u8], Header>, len: usize) -> Data {
        Data {
            inner: Inner::Sample { sample, len },
        }
    }
}

impl Deref for Data {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Empty => &[],
            Inner::Sample { sample, len } => &sample.payload()[..*len],
        }
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.len())
    }
}
