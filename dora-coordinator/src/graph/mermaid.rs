//! The dataflow as a Mermaid flowchart, for Markdown files and docs sites.

use std::fmt::Write;

use super::model::{Graph, Vertex, VertexKind};

/// Mermaid labels are quoted strings; quotes and angle brackets are written
/// as entities so that any id or path shows as written.
fn escape(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn vertex_line(vertex: &Vertex) -> String {
    let mut label = escape(&vertex.label);
    if let Some(detail) = &vertex.detail {
        let _ = write!(label, "<br/><small>{}</small>", escape(detail));
    }
    match vertex.kind {
        VertexKind::Node => format!("{}[\"{label}\"]", vertex.key),
        VertexKind::Operator => format!("{}[/\"{label}\"/]", vertex.key),
        VertexKind::Timer => format!("{}([\"{label}\"])", vertex.key),
    }
}

/// Renders `graph` as a Mermaid `flowchart`.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart TB\n");
    for vertex in graph.vertices.iter().filter(|v| v.group.is_none()) {
        let _ = writeln!(out, "  {}", vertex_line(vertex));
    }
    for (index, group) in graph.groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph {}[\"{}\"]",
            group.key,
            escape(&group.label)
        );
        for vertex in graph.vertices.iter().filter(|v| v.group == Some(index)) {
            let _ = writeln!(out, "    {}", vertex_line(vertex));
        }
        let _ = writeln!(out, "  end");
    }
    for edge in &graph.edges {
        let (from, to) = (&graph.vertices[edge.from].key, &graph.vertices[edge.to].key);
        let _ = writeln!(out, "  {from} -- \"{}\" --> {to}", escape(&edge.label));
    }
    out
}
