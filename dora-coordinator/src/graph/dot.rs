//! The dataflow in Graphviz's DOT language, for `dot -Tsvg`.

use std::fmt::Write;

use super::model::{Graph, Vertex, VertexKind};

/// DOT strings are double-quoted; backslashes and quotes are escaped, and
/// line breaks become DOT's own.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn vertex_line(vertex: &Vertex) -> String {
    let mut label = escape(&vertex.label);
    if let Some(detail) = &vertex.detail {
        let _ = write!(label, "\\n{}", escape(detail));
    }
    let shape = match vertex.kind {
        VertexKind::Node => "shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\"",
        VertexKind::Operator => "shape=box, style=filled, fillcolor=\"#fef7e0\"",
        VertexKind::Timer => "shape=oval, style=filled, fillcolor=\"#e6f4ea\"",
    };
    format!("{} [label=\"{label}\", {shape}];", vertex.key)
}

/// Renders `graph` as a Graphviz `digraph`.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph dataflow {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for vertex in graph.vertices.iter().filter(|v| v.group.is_none()) {
        let _ = writeln!(out, "  {}", vertex_line(vertex));
    }
    for (index, group) in graph.groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{} {{\n    label=\"{}\";\n    style=dashed;",
            group.key,
            escape(&group.label)
        );
        for vertex in graph.vertices.iter().filter(|v| v.group == Some(index)) {
            let _ = writeln!(out, "    {}", vertex_line(vertex));
        }
        let _ = writeln!(out, "  }}");
    }
    for edge in &graph.edges {
        let (from, to) = (&graph.vertices[edge.from].key, &graph.vertices[edge.to].key);
        let _ = writeln!(out, "  {from} -> {to} [label=\"{}\"];", escape(&edge.label));
    }
    out.push_str("}\n");
    out
}
