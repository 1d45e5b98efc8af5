//! What a node receives: inputs, closed inputs, and the request to stop.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dora_core::id::DataId;

use crate::error::RecvError;
use crate::metadata::Metadata;
use crate::transport::Received;

/// One event of a node's [`EventStream`](crate::EventStream). More kinds
/// of event may come in later versions: match the ones the node needs and
/// let the others pass (`_ => {}`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A message on one of the node's inputs (timers included).
    Input {
        id: DataId,
        metadata: Metadata,
        data: Data,
    },
    /// The node that fed this input has ended, so no more messages will
    /// come; or the input got none for its `input_timeout`, and is closed
    /// until one comes again ([`InputRecovered`](Event::InputRecovered)).
    InputClosed { id: DataId },
    /// An input closed by its `input_timeout` has a message again, which is
    /// the next event.
    InputRecovered { id: DataId },
    /// The dataflow is stopping: finish up and return.
    Stop,
    /// Something went wrong receiving; the stream goes on. Each one is
    /// counted in the run summary.
    Error(RecvError),
}

/// The bytes of an input, read in place: in shared memory from a sender on
/// this machine, or where the network delivered them from a sender on
/// another machine. No copy is made, and shared memory returns to the
/// sender when this is dropped.
///
/// The transport lets a node hold only a few messages of one input in
/// place at once. A node that holds more gets the next ones as copies, so
/// receiving never fails and nothing is lost; each one held in place is
/// counted until it is dropped, on any thread.
pub struct Data {
    inner: Inner,
}

enum Inner {
    Empty,
    /// Fields drop in order: the sample returns to the sender before the
    /// count of held samples goes down.
    Sample {
        sample: Received,
        _held: Option<Held>,
    },
    Copy(Box<[u8]>),
}

/// One sample of an input held in place, counted in the input's shared
/// count while it lives.
struct Held(Arc<AtomicUsize>);

impl Held {
    fn new(count: &Arc<AtomicUsize>) -> Held {
        count.fetch_add(1, Ordering::Relaxed);
        Held(count.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Release: the sample was returned before; the stream's Acquire
        // load that sees this count may take a sample in its place.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Data {
    pub(crate) fn empty() -> Data {
        Data {
            inner: Inner::Empty,
        }
    }

    /// The data of `sample`, read in place; counted in `held`, when given,
    /// until dropped.
    pub(crate) fn sample(sample: Received, held: Option<&Arc<AtomicUsize>>) -> Data {
        Data {
            inner: Inner::Sample {
                sample,
                _held: held.map(Held::new),
            },
        }
    }

    /// A copy of `bytes` on the heap.
    pub(crate) fn copy(bytes: &[u8]) -> Data {
        Data {
            inner: Inner::Copy(bytes.into()),
        }
    }

    /// Whether the bytes were copied out of shared memory (because the
    /// node held as many messages of this input in place as it may).
    pub fn is_copy(&self) -> bool {
        matches!(self.inner, Inner::Copy(_))
    }
}

impl Deref for Data {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Empty => &[],
            Inner::Sample { sample, .. } => sample.data(),
            Inner::Copy(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.len())
    }
}
