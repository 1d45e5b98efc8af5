//! The names of the channels a running dataflow uses.
//!
//! Every name starts with `dora/<dataflow instance>/<node>`, so that two runs
//! of one dataflow never share a channel and everything of a run can be
//! found (and cleaned up) by its prefix. The same name serves as the
//! shared-memory service name on one machine and as the zenoh key across
//! machines.
//!
//! ```
//! use dora_core::channel;
//!
//! let name = channel::output("run-1", &"camera".into(), &"image".into());
//! assert_eq!(name, "dora/run-1/camera/out/image");
//! assert_eq!(channel::wakeup("run-1", &"camera".into()), "dora/run-1/camera/wakeup");
//! ```

use crate::id::{DataId, NodeId};

fn node_prefix(dataflow: &str, node: &NodeId) -> String {
    format!("dora/{dataflow}/{node}")
}

/// The publish-subscribe channel of one output. The output of an operator
/// is named `operator/output`.
pub fn output(dataflow: &str, node: &NodeId, output: &DataId) -> String {
    format!("{}/out/{output}", node_prefix(dataflow, node))
}

/// The event channel that wakes a node up when one of its inputs has data.
pub fn wakeup(dataflow: &str, node: &NodeId) -> String {
    format!("{}/wakeup", node_prefix(dataflow, node))
}

/// The channel on which the launcher tells a node to stop.
pub fn control(dataflow: &str, node: &NodeId) -> String {
    format!("{}/control", node_prefix(dataflow, node))
}

/// The channel on which nodes report start-up progress to the launcher.
pub fn launcher(dataflow: &str) -> String {
    format!("dora/{dataflow}/launcher")
}
