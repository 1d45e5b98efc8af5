//! The event ids on a node's wake-up channel, shared by nodes and the
//! launcher. One channel carries data wake-ups and control signals, so a
//! node waits on exactly one thing.
//!
//! The id range is kept tiny on purpose: a listener's cost per wake-up
//! grows with it (a range of 4096 ids doubled the one-way latency).

/// An input of the node has data.
pub const DATA: usize = 0;
/// The launcher asks the node to stop.
pub const STOP: usize = 1;
/// Start-up barrier: every node's ports exist; connect them.
pub const CONNECT: usize = 2;
/// Start-up barrier: every node is connected; start.
pub const START: usize = 3;
/// Nodes that fed this one have ended: their indices wait on the node's
/// control channel, and the inputs they fed close once drained.
pub const INPUT_CLOSED: usize = 4;
/// Like `CONNECT`, for a node that was restarted: the nodes it joins are
/// running, and greeted it long ago.
pub const CONNECT_RESTARTED: usize = 5;
/// The largest event id of a wake-up channel.
pub const MAX_EVENT_ID: usize = 7;

/// Event ids on the launcher's channel: node `i` reports `2 * i` when its
/// ports exist and `2 * i + 1` when they are connected.
pub fn ports_created(node_index: usize) -> usize {
    2 * node_index
}

/// See [`ports_created`].
pub fn connected(node_index: usize) -> usize {
    2 * node_index + 1
}

/// The largest event id of the launcher's channel for `nodes` nodes.
pub fn launcher_max_event_id(nodes: usize) -> usize {
    connected(nodes.max(1))
}
