//! The dataflow as a drawable graph: vertices (nodes, operators, timers),
//! groups (runtime nodes around their operators) and labelled edges.

use std::collections::BTreeMap;

use dora_core::descriptor::{Dataflow, InputSource};

/// What a vertex stands for; each kind is drawn in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VertexKind {
    /// A custom node (a process).
    Node,
    /// An operator inside a runtime node.
    Operator,
    /// One of dora's own sources: a timer, ticking inside the nodes that
    /// read it, or `dora/logs`.
    Timer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    /// Unique and safe in Mermaid, Graphviz and HTML ids: letters, digits, `_`.
    pub key: String,
    /// What people read: the node id, the operator id, or the timer source.
    pub label: String,
    pub kind: VertexKind,
    /// The group (runtime node) that holds this vertex, by index.
    pub group: Option<usize>,
    /// A line of detail: the description or the program.
    pub detail: Option<String>,
}

/// A runtime node drawn as a box around its operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub label: String,
}

/// A connection from an output to an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// `output` when the input has the same name, else `output → input`.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    pub vertices: Vec<Vertex>,
    pub groups: Vec<Group>,
    pub edges: Vec<Edge>,
}

/// Makes a key safe for every output format: ids may hold `-` and `.`.
fn key(parts: &[&str]) -> String {
    let joined = parts.join("__");
    let safe: String = joined
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("v_{safe}")
}

impl Graph {
    /// The graph of a valid dataflow.
    pub fn from_dataflow(dataflow: &Dataflow) -> Graph {
        let mut graph = Graph::default();
        // (node, operator) -> vertex index.
        let mut index: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
        for node in &dataflow.nodes {
            let id = node.id.as_str();
            if node.is_runtime() {
                let group = graph.groups.len();
                graph.groups.push(Group {
                    key: key(&["group", id]),
                    label: id.to_owned(),
                });
                for operator in &node.operators {
                    let op = operator.id.as_str();
                    index.insert((id.to_owned(), Some(op.to_owned())), graph.vertices.len());
                    graph.vertices.push(Vertex {
                        key: key(&[id, op]),
                        label: op.to_owned(),
                        kind: VertexKind::Operator,
                        group: Some(group),
                        detail: operator
                            .description
                            .clone()
                            .or_else(|| operator.source().map(|s| s.path().to_owned())),
                    });
                }
            } else {
                index.insert((id.to_owned(), None), graph.vertices.len());
                graph.vertices.push(Vertex {
                    key: key(&[id]),
                    label: id.to_owned(),
                    kind: VertexKind::Node,
                    group: None,
                    detail: node
                        .description
                        .clone()
                        .or_else(|| node.path.clone())
                        .or_else(|| node.image.clone()),
                });
            }
        }
        let mut timers: BTreeMap<String, usize> = BTreeMap::new();
        for connection in dataflow.connections() {
            let receiver = &connection.receiver;
            let Some(&to) = index.get(&(
                receiver.node.to_string(),
                receiver.operator.as_ref().map(ToString::to_string),
            )) else {
                continue;
            };
            let (from, output) = match connection.source {
                // dora's own sources: drawn once each, however many read them.
                InputSource::Timer(_) | InputSource::Logs(_) => {
                    let name = connection.source.to_string();
                    let from = *timers.entry(name.clone()).or_insert_with(|| {
                        graph.vertices.push(Vertex {
                            key: key(&[&name]),
                            label: name.clone(),
                            kind: VertexKind::Timer,
                            group: None,
                            detail: None,
                        });
                        graph.vertices.len() - 1
                    });
                    let output = match connection.source {
                        InputSource::Timer(_) => "tick",
                        _ => "logs",
                    };
                    (from, output.to_owned())
                }
                InputSource::Output(output) => {
                    let source = (
                        output.node.to_string(),
                        output.operator.as_ref().map(ToString::to_string),
                    );
                    let Some(&from) = index.get(&source) else {
                        continue;
                    };
                    (from, output.output.to_string())
                }
            };
            let input = receiver.input.as_str();
            let mut label = if output == input {
                output
            } else {
                format!("{output} → {input}")
            };
            if let Some(type_name) = dataflow.edge_type(&connection) {
                label = format!("{label}: {type_name}");
            }
            graph.edges.push(Edge { from, to, label });
        }
        graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_edges_show_their_type_and_dynamic_ones_do_not() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:
  - id: cam
    path: cam
    outputs: [image, depth]
    output_types: { image: std/media/v1/Image }
  - id: view
    path: view
    inputs: { image: cam/image, depth: cam/depth, frame: cam/image }
    input_types: { depth: std/media/v1/Image }
",
        )
        .unwrap();
        let graph = Graph::from_dataflow(&dataflow);
        let labels: Vec<&str> = graph.edges.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "depth: std/media/v1/Image",
                "image → frame: std/media/v1/Image",
                "image: std/media/v1/Image",
            ]
        );
        let dynamic = Dataflow::from_yaml_str(
            "nodes:\n  - id: a\n    path: a\n    outputs: [x]\n  - id: b\n    path: b\n    inputs: { x: a/x }\n",
        )
        .unwrap();
        assert_eq!(Graph::from_dataflow(&dynamic).edges[0].label, "x");
    }

    #[test]
    fn runtime_nodes_group_their_operators_and_timers_are_shared() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:
  - id: cam
    path: cam
    inputs: { tick: dora/timer/millis/10 }
    outputs: [image]
  - id: rt
    operators:
      - id: det
        python: det.py
        inputs: { image: cam/image, tick: dora/timer/millis/10 }
        outputs: [boxes]
  - id: sink
    path: sink
    inputs: { detections: rt/det/boxes }
",
        )
        .unwrap();
        let graph = Graph::from_dataflow(&dataflow);
        let labels: Vec<&str> = graph.vertices.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels, ["cam", "det", "sink", "dora/timer/millis/10"]);
        assert_eq!(graph.groups.len(), 1);
        assert_eq!(graph.vertices[1].group, Some(0));
        let edges: Vec<(usize, usize, &str)> = graph
            .edges
            .iter()
            .map(|e| (e.from, e.to, e.label.as_str()))
            .collect();
        assert_eq!(
            edges,
            [
                (3, 0, "tick"),
                (0, 1, "image"),
                (3, 1, "tick"),
                (1, 2, "boxes → detections")
            ]
        );
    }
}
