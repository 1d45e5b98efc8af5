//! A message's bytes, wherever they live.

use std::rc::Rc;

/// The bytes of a message for an operator.
pub enum Payload {
    /// Read in place in another node's shared memory.
    Node(dora_node_api::Data),
    /// Sent by an operator of this runtime, shared by every operator that
    /// reads it: no copy.
    Shared(Rc<Vec<u8>>),
}

impl Payload {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Node(data) => data,
            Payload::Shared(bytes) => bytes,
        }
    }
}
