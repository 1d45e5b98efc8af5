//! The edges of a dataflow: which input receives from which source.

use std::collections::BTreeMap;

use super::{Dataflow, Input, InputSource};
use crate::id::{DataId, NodeId, OperatorId};

/// The input that receives a connection: a node's own input, or the input
/// of one of its operators.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Receiver {
    pub node: NodeId,
    pub operator: Option<OperatorId>,
    pub input: DataId,
}

/// One edge of the dataflow graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection<'a> {
    pub source: &'a InputSource,
    pub receiver: Receiver,
    pub input: &'a Input,
}

impl Dataflow {
    /// The type an edge carries: its output's declared type, else the type
    /// its input expects (`dora check` refuses a pair that does not fit);
    /// `None` for an edge typed on neither end, which stays dynamic.
    pub fn edge_type(&self, connection: &Connection<'_>) -> Option<&super::TypeName> {
        let node_of = |id: &NodeId| self.nodes.iter().find(|n| n.id == *id);
        let output_type = match connection.source {
            InputSource::Output(output) => {
                let node = node_of(&output.node)?;
                match &output.operator {
                    Some(op) => node
                        .operators
                        .iter()
                        .find(|o| o.id == *op)
                        .and_then(|o| o.output_types.get(&output.output)),
                    None => node.output_types.get(&output.output),
                }
            }
            InputSource::Timer(_) | InputSource::Logs(_) => None,
        };
        output_type.or_else(|| {
            let receiver = &connection.receiver;
            let node = node_of(&receiver.node)?;
            match &receiver.operator {
                Some(op) => node
                    .operators
                    .iter()
                    .find(|o| o.id == *op)
                    .and_then(|o| o.input_types.get(&receiver.input)),
                None => node.input_types.get(&receiver.input),
            }
        })
    }

    /// Every connection of the dataflow, in node order, then input order.
    pub fn connections(&self) -> Vec<Connection<'_>> {
        let mut connections = Vec::new();
        for node in &self.nodes {
            add_inputs(&mut connections, &node.id, None, &node.inputs);
            for operator in &node.operators {
                add_inputs(
                    &mut connections,
                    &node.id,
                    Some(&operator.id),
                    &operator.inputs,
                );
            }
        }
        connections
    }
}

fn add_inputs<'a>(
    connections: &mut Vec<Connection<'a>>,
    node: &NodeId,
    operator: Option<&OperatorId>,
    inputs: &'a BTreeMap<DataId, Input>,
) {
    for (id, input) in inputs {
        connections.push(Connection {
            source: &input.source,
            receiver: Receiver {
                node: node.clone(),
                operator: operator.cloned(),
                input: id.clone(),
            },
            input,
        });
    }
}
