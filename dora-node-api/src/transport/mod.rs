//! How messages move. On one machine: iceoryx2 shared memory, one
//! publish-subscribe service per output and one event service per node
//! for its wake-ups and control signals (`shm`). Across machines: zenoh,
//! node to node (`remote`). Nothing outside this folder names a type of
//! either; the rest of the crate sees the ports below, which pick the
//! transport by a `match`, never by a dynamic call.

pub(crate) mod awake;
mod cause;
pub(crate) mod remote;
pub(crate) mod shm;

pub use remote::{zenoh_config, LinkMode, LinkTls, NODE_LEASE_MS};
pub use shm::{claim_run, remove_abandoned_runs, remove_run_files};

use crate::error::TransportError;

/// One input's end of its channel.
pub(crate) enum InputPort {
    /// From a sender on this machine, through shared memory.
    Local(shm::Receiver),
    /// From a sender on another machine, over the network.
    Remote(remote::Receiver),
}

/// What an input found when it looked.
pub(crate) enum Arrival {
    Message(Received),
    /// A sender process on another machine ended after sending `sent`
    /// messages in all.
    End {
        sent: u64,
    },
    /// Something that is not a dora message came on the channel.
    Malformed,
}

/// A message, read in place.
pub(crate) enum Received {
    Local(shm::Received),
    Remote(remote::Received),
}

impl Received {
    pub(crate) fn header(&self) -> &shm::Header {
        match self {
            Received::Local(r) => r.header(),
            Received::Remote(r) => r.header(),
        }
    }

    pub(crate) fn data(&self) -> &[u8] {
        match self {
            Received::Local(r) => r.data(),
            Received::Remote(r) => r.data(),
        }
    }

    pub(crate) fn metadata(&self) -> &[u8] {
        match self {
            Received::Local(r) => r.metadata(),
            Received::Remote(r) => r.metadata(),
        }
    }
}

impl InputPort {
    /// The next arrival, if one is waiting. A local sender's start-up
    /// hello has done its work once it is read, and is skipped.
    pub(crate) fn receive(&self) -> Result<Option<Arrival>, TransportError> {
        match self {
            InputPort::Local(receiver) => loop {
                match receiver.receive()? {
                    Some(r) if r.header().sequence == shm::HELLO_SEQUENCE => continue,
                    received => return Ok(received.map(|r| Arrival::Message(Received::Local(r)))),
                }
            },
            InputPort::Remote(receiver) => Ok(receiver.receive().map(|arrival| match arrival {
                remote::Arrival::Message(r) => Arrival::Message(Received::Remote(r)),
                remote::Arrival::End { sent } => Arrival::End { sent },
                remote::Arrival::Malformed => Arrival::Malformed,
            })),
        }
    }

    /// Whether messages are read from memory the node may hold only a
    /// few of at once (see `Data`).
    pub(crate) fn holds_shared_memory(&self) -> bool {
        matches!(self, InputPort::Local(_))
    }
}
