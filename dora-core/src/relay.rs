//! The log relay: the launcher's own node, which sends what nodes print
//! and log as messages. It exists in a run only when the dataflow asks for
//! it (`send_stdout_as`, `send_logs_as`, a `dora/logs` input), so other
//! dataflows pay nothing for it.
//!
//! It is an ordinary node of the run, named `dora` (an id no user node may
//! take), that the launcher runs in its own process: it takes part in the
//! start-up barrier, so that nothing it sends after start is lost, and it
//! publishes on the channels that the receivers read. An output named by
//! `send_stdout_as` keeps its channel and its readers; only its sender
//! changes from the node to the relay.
//!
//! ```
//! use dora_core::config::NodeConfig;
//! use dora_core::descriptor::Dataflow;
//! use dora_core::relay::{Route, RELAY_NODE};
//!
//! let dataflow = Dataflow::from_yaml_str(
//!     "nodes:
//!   - id: legacy
//!     path: legacy.py
//!     send_stdout_as: lines
//!     outputs: [lines]
//!   - id: viewer
//!     path: viewer.py
//!     inputs: { lines: legacy/lines, logs: dora/logs/warn }
//! ",
//! )
//! .unwrap();
//! let configs = NodeConfig::for_dataflow(&dataflow, "run-1");
//! // The node no longer sends `lines` itself: the relay does.
//! assert!(configs["legacy"].outputs.is_empty());
//! let relay = &configs[RELAY_NODE];
//! let routes: Vec<Route> = relay.outputs.keys().filter_map(Route::of).collect();
//! assert_eq!(routes.len(), 2);
//! assert_eq!(relay.outputs[&Route::Printed("legacy".into()).output()].channel,
//!            configs["viewer"].inputs["lines"].channel.clone().unwrap());
//! ```

use crate::descriptor::{Dataflow, Node};
use crate::id::{DataId, NodeId};

/// The id of the relay node in a run.
pub const RELAY_NODE: &str = "dora";

/// What one output of the relay carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The lines that node prints (its `send_stdout_as`).
    Printed(NodeId),
    /// The records that node logs, as JSON (its `send_logs_as`).
    Logged(NodeId),
    /// What the input `input` of node `reader` reads from `dora/logs...`:
    /// every other node's lines and records, filtered by the source.
    Logs { reader: NodeId, input: DataId },
}

impl Route {
    /// The id of the relay's output for this route.
    pub fn output(&self) -> DataId {
        match self {
            Route::Printed(node) => format!("printed/{node}").into(),
            Route::Logged(node) => format!("logged/{node}").into(),
            Route::Logs { reader, input } => format!("logs/{reader}/{input}").into(),
        }
    }

    /// The route an output of the relay carries.
    pub fn of(output: &DataId) -> Option<Route> {
        let (kind, rest) = output.as_str().split_once('/')?;
        match kind {
            "printed" => Some(Route::Printed(rest.into())),
            "logged" => Some(Route::Logged(rest.into())),
            "logs" => {
                let (reader, input) = rest.split_once('/')?;
                Some(Route::Logs {
                    reader: reader.into(),
                    input: input.into(),
                })
            }
            _ => None,
        }
    }
}

/// Whether a run of `dataflow` needs the relay.
pub fn needed(dataflow: &Dataflow) -> bool {
    dataflow.nodes.iter().any(|node| {
        printed_output(node).is_some()
            || node.send_logs_as.is_some()
            || node
                .inputs
                .values()
                .any(|i| matches!(i.source, crate::descriptor::InputSource::Logs(_)))
    })
}

/// The id, among the node's outputs, of the output its printed lines go
/// to: its `send_stdout_as` (qualified by the operator of a node with one
/// operator), or that of the operator that has one.
pub fn printed_output(node: &Node) -> Option<DataId> {
    match &node.send_stdout_as {
        Some(output) => qualified(node, output),
        None => node.operators.iter().find_map(|operator| {
            let output = operator.send_stdout_as.as_ref()?;
            Some(DataId::qualified(Some(&operator.id), output))
        }),
    }
}

/// Like [`printed_output`], for `send_logs_as`.
pub fn logged_output(node: &Node) -> Option<DataId> {
    qualified(node, node.send_logs_as.as_ref()?)
}

fn qualified(node: &Node, output: &DataId) -> Option<DataId> {
    match node.operators.as_slice() {
        [] => Some(output.clone()),
        [operator] => Some(DataId::qualified(Some(&operator.id), output)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_read_back_from_its_output_id() {
        for route in [
            Route::Printed("camera".into()),
            Route::Logged("camera".into()),
            Route::Logs {
                reader: "viewer".into(),
                input: "warnings".into(),
            },
        ] {
            assert_eq!(Route::of(&route.output()), Some(route));
        }
        assert_eq!(Route::of(&"other/x".into()), None);
        assert_eq!(Route::of(&"logs/only-reader".into()), None);
    }

    #[test]
    fn only_dataflows_that_ask_for_it_get_a_relay() {
        let plain = Dataflow::from_yaml_str("nodes: [{id: a, path: a}]").unwrap();
        assert!(!needed(&plain));
        let reader =
            Dataflow::from_yaml_str("nodes: [{id: a, path: a, inputs: {l: dora/logs}}]").unwrap();
        assert!(needed(&reader));
    }
}
