//! The event ids on a node's wake-up channel, shared by nodes and the
//! launcher. One channel carries data wake-ups and control signals, so a
//! node waits on exactly one thing.

/// An input of the node has data.
pub const DATA: usize = 0;
/// The launcher asks the node to stop.
pub const STOP: usize = 1;
/// Start-up barrier: every node's ports exist; connect them.
pub const CONNECT: usize = 2;
/// Start-up barrier: every node is connected; start.
pub const START: usize = 3;
/// `INPUT_CLOSED + i`: node number `i` of the dataflow (in config order)
/// has ended, so the inputs it fed are closed.
pub const INPUT_CLOSED: usize = 4;
/// The largest event id; bounds the number of nodes of a dataflow.
pub const MAX_EVENT_ID: usize = 4095;

/// Event ids on the launcher's channel: node `i` reports `2 * i` when its
/// ports exist and `2 * i + 1` when they are connected.
pub fn ports_created(node_index: usize) -> usize {
    2 * node_index
}

/// See [`ports_created`].
pub fn connected(node_index: usize) -> usize {
    2 * node_index + 1
}

/// The largest number of nodes whose signals fit in the event ids.
pub const MAX_NODES: usize = (MAX_EVENT_ID - INPUT_CLOSED) / 2;
