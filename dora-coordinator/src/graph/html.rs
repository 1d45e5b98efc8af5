//! The dataflow as one self-contained HTML page: an inline SVG drawing of
//! the [`layout`](super::layout), with its style and a few lines of script
//! inline, so the file works offline, opened straight from disk.
//!
//! The page references nothing outside itself: no stylesheet, script, font
//! or image is loaded, and the only URI in it is the SVG namespace. Every
//! piece of text from the dataflow is escaped, as it ends up in both element
//! content and attribute values. The drawing is complete without script;
//! the script only highlights the edges of the vertex under the pointer.

use std::fmt::{self, Write};

use super::layout::{
    detail_line, layout, Layout, Point, Rect, DETAIL_FONT_SIZE, EDGE_FONT_SIZE, GROUP_FONT_SIZE,
    GROUP_LABEL_HEIGHT, LABEL_FONT_SIZE,
};
use super::model::{Graph, Vertex, VertexKind};

const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

/// Inline so that the page needs no other file. Colours are soft tints
/// with a darker stroke of the same hue, one hue per kind of vertex.
const STYLE: &str = r#"
:root { color-scheme: light; }
body {
  margin: 0;
  padding: 24px 32px 32px;
  background: #f5f6f8;
  color: #1f2933;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
.summary { margin: 0 0 14px; color: #52606d; font-size: 14px; }
.legend {
  display: flex; flex-wrap: wrap; gap: 8px 20px;
  margin: 0 0 16px; padding: 0; list-style: none;
  color: #3e4c59; font-size: 13px;
}
.legend li { display: flex; align-items: center; gap: 7px; }
.swatch { display: inline-block; box-sizing: border-box; width: 28px; height: 16px; border: 1.5px solid; }
.swatch.node { background: #e6effa; border-color: #4a78b5; border-radius: 5px; }
.swatch.operator { background: #e7f4ea; border-color: #4c9a61; border-radius: 2px; }
.swatch.group { background: #fafbfc; border: 1.5px dashed #9aa5b1; border-radius: 4px; }
.swatch.timer { background: #fff2dc; border-color: #c98a2c; border-radius: 8px; }
.swatch.feedback { height: 0; border: 0; border-top: 2px dashed #c2562e; }
.canvas {
  padding: 12px; overflow-x: auto;
  background: #fff; border: 1px solid #e4e7eb; border-radius: 10px;
}
svg.dataflow { display: block; width: 100%; height: auto; margin: 0 auto; font-family: inherit; }
.vertex rect { stroke-width: 1.5; }
.vertex.node rect { fill: #e6effa; stroke: #4a78b5; }
.vertex.operator rect { fill: #e7f4ea; stroke: #4c9a61; }
.vertex.timer rect { fill: #fff2dc; stroke: #c98a2c; }
.vertex .label { fill: #1f2933; font-weight: 600; }
.vertex .detail { fill: #7b8794; }
.vertex.hl rect { stroke-width: 2.5; }
.group rect { fill: #fafbfc; stroke: #9aa5b1; stroke-width: 1.2; stroke-dasharray: 6 4; }
.group text { fill: #616e7c; font-weight: 600; }
.edge path { fill: none; stroke: #8796a8; stroke-width: 1.5; }
.edge.back path { stroke: #c2562e; stroke-dasharray: 6 4; }
.edge-label rect { fill: #fff; stroke: #e4e7eb; }
.edge-label text { fill: #52606d; }
svg.focus .edge:not(.hl), svg.focus .edge-label:not(.hl) { opacity: 0.2; }
.edge.hl path { stroke: #2563eb; stroke-width: 2.2; marker-end: url(#dora-arrow-hl); }
.edge-label.hl text { fill: #1d4ed8; }
"#;

/// Highlights the edges of the vertex under the pointer; ids and data
/// attributes are compared as strings, so no key is ever parsed as CSS.
const SCRIPT: &str = r#"
(function () {
  var svg = document.querySelector("svg.dataflow");
  if (!svg) { return; }
  var edges = svg.querySelectorAll("[data-from]");
  svg.querySelectorAll(".vertex").forEach(function (vertex) {
    function mark(on) {
      svg.classList.toggle("focus", on);
      vertex.classList.toggle("hl", on);
      edges.forEach(function (edge) {
        var near = edge.getAttribute("data-from") === vertex.id || edge.getAttribute("data-to") === vertex.id;
        edge.classList.toggle("hl", on && near);
      });
    }
    vertex.addEventListener("mouseenter", function () { mark(true); });
    vertex.addEventListener("mouseleave", function () { mark(false); });
  });
})();
"#;

/// The page for `graph`, headed by `title`.
pub fn html(graph: &Graph, title: &str) -> String {
    let drawing = layout(graph);
    let mut page = String::new();
    // Writing into a `String` cannot fail: the result carries nothing.
    let _ = write_page(&mut page, graph, &drawing, title);
    page
}

/// `text` safe in element content and in quoted attribute values alike.
/// Control characters, which XML forbids, become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' => escaped.push(c),
            c if c.is_control() => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A coordinate, to a tenth of a pixel; never `NaN` in the page.
fn num(value: f64) -> String {
    if value.is_finite() {
        format!("{}", (value * 10.0).round() / 10.0)
    } else {
        "0".to_owned()
    }
}

fn write_page(out: &mut String, graph: &Graph, drawing: &Layout, title: &str) -> fmt::Result {
    let title = escape(title);
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{title}</title>")?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;
    writeln!(out, "<h1>{title}</h1>")?;
    writeln!(out, "<p class=\"summary\">{}</p>", escape(&summary(graph)))?;
    write_legend(out, drawing)?;
    writeln!(out, "<div class=\"canvas\">")?;
    write_svg(out, graph, drawing, &title)?;
    writeln!(out, "</div>")?;
    writeln!(out, "<script>{SCRIPT}</script>")?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")
}

fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// One line of counts, such as `2 nodes · 3 operators in 1 runtime node`.
fn summary(graph: &Graph) -> String {
    let kinds = |kind: VertexKind| graph.vertices.iter().filter(|v| v.kind == kind).count();
    let mut parts = vec![counted(kinds(VertexKind::Node), "node", "nodes")];
    let operators = kinds(VertexKind::Operator);
    if operators > 0 || !graph.groups.is_empty() {
        parts.push(format!(
            "{} in {}",
            counted(operators, "operator", "operators"),
            counted(graph.groups.len(), "runtime node", "runtime nodes")
        ));
    }
    let timers = kinds(VertexKind::Timer);
    if timers > 0 {
        parts.push(counted(timers, "timer", "timers"));
    }
    parts.push(counted(graph.edges.len(), "connection", "connections"));
    parts.join(" · ")
}

fn write_legend(out: &mut String, drawing: &Layout) -> fmt::Result {
    writeln!(out, "<ul class=\"legend\">")?;
    let mut entries = vec![
        ("node", "Node"),
        ("operator", "Operator"),
        ("group", "Runtime node"),
        ("timer", "Timer"),
    ];
    if drawing.edges.iter().any(|route| route.back) {
        entries.push(("feedback", "Feedback edge"));
    }
    for (class, name) in entries {
        writeln!(out, "<li><span class=\"swatch {class}\"></span>{name}</li>")?;
    }
    writeln!(out, "</ul>")
}

fn write_svg(out: &mut String, graph: &Graph, drawing: &Layout, title: &str) -> fmt::Result {
    let (width, height) = (num(drawing.width), num(drawing.height));
    // 100% wide to shrink into narrow windows, but never blown up past
    // its natural size, where text would grow huge.
    writeln!(
        out,
        "<svg class=\"dataflow\" xmlns=\"{SVG_NAMESPACE}\" viewBox=\"0 0 {width} {height}\" \
         width=\"100%\" style=\"max-width: {width}px\" role=\"img\" aria-label=\"{title}\">"
    )?;
    write_markers(out)?;
    write_groups(out, graph, drawing)?;
    write_edges(out, graph, drawing)?;
    write_vertices(out, graph, drawing)?;
    write_edge_labels(out, graph, drawing)?;
    writeln!(out, "</svg>")
}

fn write_markers(out: &mut String) -> fmt::Result {
    writeln!(out, "<defs>")?;
    for (id, colour) in [
        ("dora-arrow", "#8796a8"),
        ("dora-arrow-back", "#c2562e"),
        ("dora-arrow-hl", "#2563eb"),
    ] {
        writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerUnits=\"userSpaceOnUse\" \
             markerWidth=\"10\" markerHeight=\"10\" orient=\"auto\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"{colour}\"/></marker>"
        )?;
    }
    writeln!(out, "</defs>")
}

fn write_groups(out: &mut String, graph: &Graph, drawing: &Layout) -> fmt::Result {
    for (group, rect) in graph.groups.iter().zip(&drawing.groups) {
        let Some(rect) = rect else { continue };
        let label = escape(&group.label);
        writeln!(out, "<g class=\"group\" id=\"{}\">", escape(&group.key))?;
        writeln!(out, "<title>Runtime node {label}</title>")?;
        writeln!(out, "{}", rect_element(rect, 10.0))?;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{GROUP_FONT_SIZE}\">{label}</text>",
            num(rect.x + 12.0),
            num(rect.y + GROUP_LABEL_HEIGHT / 2.0 + GROUP_FONT_SIZE * 0.35 + 2.0)
        )?;
        writeln!(out, "</g>")?;
    }
    Ok(())
}

fn rect_element(rect: &Rect, radius: f64) -> String {
    format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\"/>",
        num(rect.x),
        num(rect.y),
        num(rect.width),
        num(rect.height),
        num(radius)
    )
}

/// The SVG path through `points`: each step a cubic with vertical
/// tangents, as the layout assumes when it places labels.
fn write_path_data(out: &mut String, points: &[Point]) -> fmt::Result {
    let Some((first, rest)) = points.split_first() else {
        return Ok(());
    };
    write!(out, "M {} {}", num(first.x), num(first.y))?;
    let mut previous = first;
    for point in rest {
        let mid = num((previous.y + point.y) / 2.0);
        let (x0, x1, y1) = (num(previous.x), num(point.x), num(point.y));
        write!(out, " C {x0} {mid} {x1} {mid} {x1} {y1}")?;
        previous = point;
    }
    Ok(())
}

/// The key of the vertex at `index`, for the edge's data attributes.
fn key_of(graph: &Graph, index: usize) -> String {
    graph
        .vertices
        .get(index)
        .map_or_else(String::new, |v| escape(&v.key))
}

fn label_of(graph: &Graph, index: usize) -> String {
    graph
        .vertices
        .get(index)
        .map_or_else(String::new, |v| escape(&v.label))
}

fn write_edges(out: &mut String, graph: &Graph, drawing: &Layout) -> fmt::Result {
    for (edge, route) in graph.edges.iter().zip(&drawing.edges) {
        if route.points.len() < 2 {
            continue;
        }
        let (class, marker) = if route.back {
            ("edge back", "dora-arrow-back")
        } else {
            ("edge", "dora-arrow")
        };
        writeln!(
            out,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\">",
            key_of(graph, edge.from),
            key_of(graph, edge.to)
        )?;
        writeln!(
            out,
            "<title>{} → {}: {}</title>",
            label_of(graph, edge.from),
            label_of(graph, edge.to),
            escape(&edge.label)
        )?;
        write!(out, "<path d=\"")?;
        write_path_data(out, &route.points)?;
        writeln!(out, "\" marker-end=\"url(#{marker})\"/>")?;
        writeln!(out, "</g>")?;
    }
    Ok(())
}

fn write_edge_labels(out: &mut String, graph: &Graph, drawing: &Layout) -> fmt::Result {
    for (edge, route) in graph.edges.iter().zip(&drawing.edges) {
        if edge.label.is_empty() || route.points.len() < 2 {
            continue;
        }
        let rect = &route.label;
        let center = rect.center();
        writeln!(
            out,
            "<g class=\"edge-label\" data-from=\"{}\" data-to=\"{}\">",
            key_of(graph, edge.from),
            key_of(graph, edge.to)
        )?;
        writeln!(out, "{}", rect_element(rect, 3.0))?;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{EDGE_FONT_SIZE}\" text-anchor=\"middle\">{}</text>",
            num(center.x),
            num(center.y + EDGE_FONT_SIZE * 0.35),
            escape(&edge.label)
        )?;
        writeln!(out, "</g>")?;
    }
    Ok(())
}

fn kind_name(kind: VertexKind) -> (&'static str, &'static str) {
    match kind {
        VertexKind::Node => ("node", "Node"),
        VertexKind::Operator => ("operator", "Operator"),
        VertexKind::Timer => ("timer", "Timer"),
    }
}

/// The tooltip: kind, label, runtime node and the full detail.
fn tooltip(graph: &Graph, vertex: &Vertex) -> String {
    let (_, kind) = kind_name(vertex.kind);
    let group = vertex.group.and_then(|g| graph.groups.get(g));
    let group = group.map_or_else(String::new, |g| format!(" in runtime node {}", g.label));
    let detail = vertex.detail.as_deref().filter(|d| !d.is_empty());
    let detail = detail.map_or_else(String::new, |d| format!("\n{d}"));
    escape(&format!("{kind} {}{group}{detail}", vertex.label))
}

fn write_vertices(out: &mut String, graph: &Graph, drawing: &Layout) -> fmt::Result {
    for (vertex, rect) in graph.vertices.iter().zip(&drawing.vertices) {
        let (class, _) = kind_name(vertex.kind);
        let radius = match vertex.kind {
            VertexKind::Node => 9.0,
            VertexKind::Operator => 3.0,
            VertexKind::Timer => rect.height / 2.0,
        };
        writeln!(
            out,
            "<g class=\"vertex {class}\" id=\"{}\">",
            escape(&vertex.key)
        )?;
        writeln!(out, "<title>{}</title>", tooltip(graph, vertex))?;
        writeln!(out, "{}", rect_element(rect, radius))?;
        let center = num(rect.center().x);
        let detail = detail_line(vertex);
        // Baselines: one line centred, or two lines sharing the height.
        let label_y = match detail {
            Some(_) => rect.y + rect.height / 2.0 - 3.0,
            None => rect.y + rect.height / 2.0 + LABEL_FONT_SIZE * 0.35,
        };
        writeln!(
            out,
            "<text class=\"label\" x=\"{center}\" y=\"{}\" font-size=\"{LABEL_FONT_SIZE}\" \
             text-anchor=\"middle\">{}</text>",
            num(label_y),
            escape(&vertex.label)
        )?;
        if let Some(detail) = detail {
            writeln!(
                out,
                "<text class=\"detail\" x=\"{center}\" y=\"{}\" font-size=\"{DETAIL_FONT_SIZE}\" \
                 text-anchor=\"middle\">{}</text>",
                num(rect.y + rect.height / 2.0 + DETAIL_FONT_SIZE + 1.0),
                escape(&detail)
            )?;
        }
        writeln!(out, "</g>")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::model::{Edge, Group};
    use super::*;

    fn vertex(key: &str, label: &str, kind: VertexKind, group: Option<usize>) -> Vertex {
        Vertex {
            key: key.to_owned(),
            label: label.to_owned(),
            kind,
            group,
            detail: None,
        }
    }

    fn edge(from: usize, to: usize, label: &str) -> Edge {
        Edge {
            from,
            to,
            label: label.to_owned(),
        }
    }

    /// A dataflow with every kind of vertex, a group, a feedback loop, a
    /// self-loop, and text that needs escaping everywhere.
    fn sample() -> Graph {
        let mut camera = vertex("v_camera", "camera", VertexKind::Node, None);
        camera.detail = Some("../build/camera --fps 30 'quoted' & <more>".to_owned());
        let mut detect = vertex("v_rt__detect", "a<b&\"c\"", VertexKind::Operator, Some(0));
        detect.detail = Some("detect.py".to_owned());
        Graph {
            vertices: vec![
                camera,
                detect,
                vertex("v_rt__track", "track", VertexKind::Operator, Some(0)),
                vertex("v_plot", "it's <plot>", VertexKind::Node, None),
                vertex(
                    "v_dora_timer_millis_10",
                    "dora/timer/millis/10",
                    VertexKind::Timer,
                    None,
                ),
            ],
            groups: vec![Group {
                key: "v_group__rt".to_owned(),
                label: "runtime <rt> & co".to_owned(),
            }],
            edges: vec![
                edge(4, 0, "tick"),
                edge(0, 1, "image"),
                edge(1, 2, "boxes → \"detections\""),
                edge(2, 3, "tracks"),
                edge(2, 1, "feedback"),
                edge(3, 3, "self"),
            ],
        }
    }

    fn count(page: &str, needle: &str) -> usize {
        page.matches(needle).count()
    }

    #[test]
    fn every_text_is_present_and_escaped() {
        let page = html(&sample(), "Flow <one> & \"two\"");
        for escaped in [
            "a&lt;b&amp;&quot;c&quot;",
            "it&#39;s &lt;plot&gt;",
            "runtime &lt;rt&gt; &amp; co",
            "boxes → &quot;detections&quot;",
            "&#39;quoted&#39; &amp; &lt;more&gt;",
            "<h1>Flow &lt;one&gt; &amp; &quot;two&quot;</h1>",
            "<title>Flow &lt;one&gt; &amp; &quot;two&quot;</title>",
            ">camera<",
            ">detect.py<",
            ">dora/timer/millis/10<",
            ">tick<",
            ">feedback<",
        ] {
            assert!(page.contains(escaped), "missing {escaped}");
        }
        for raw in ["a<b", "\"c\"", "<plot>", "<rt>", "<one>", "<more>", "it's"] {
            assert!(!page.contains(raw), "unescaped {raw}");
        }
    }

    #[test]
    fn the_page_needs_nothing_from_outside() {
        let page = html(&sample(), "offline");
        let rest = page.replace(SVG_NAMESPACE, "");
        for remote in [
            "http://",
            "https://",
            "//cdn",
            "<script src",
            "<link",
            "@import",
            "@font-face",
            "<img",
        ] {
            assert!(!rest.contains(remote), "the page refers to {remote}");
        }
        assert_eq!(count(&page, "<svg "), 1);
        assert_eq!(count(&page, "xmlns="), 1);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("viewBox=\"0 0 ") && page.contains("width=\"100%\""));
    }

    #[test]
    fn every_vertex_is_a_group_with_its_key_as_id_and_a_tooltip() {
        let graph = sample();
        let page = html(&graph, "ids");
        for vertex in &graph.vertices {
            let opening = format!("id=\"{}\">\n<title>", vertex.key);
            assert_eq!(count(&page, &opening), 1, "{}", vertex.key);
        }
        let tooltip = "<title>Operator a&lt;b&amp;&quot;c&quot; \
                       in runtime node runtime &lt;rt&gt; &amp; co\ndetect.py</title>";
        assert!(page.contains(tooltip), "{tooltip}");
        for class in [
            "vertex node",
            "vertex operator",
            "vertex timer",
            "class=\"group\"",
        ] {
            assert!(page.contains(class), "{class}");
        }
    }

    #[test]
    fn every_edge_is_drawn_with_an_arrow_and_a_label() {
        let graph = sample();
        let page = html(&graph, "edges");
        let edges = count(&page, "<g class=\"edge\"") + count(&page, "<g class=\"edge back\"");
        assert_eq!(edges, graph.edges.len());
        assert_eq!(count(&page, "<g class=\"edge-label\""), graph.edges.len());
        assert_eq!(
            count(&page, "marker-end=\"url(#dora-arrow"),
            graph.edges.len()
        );
        // The feedback loop and the self-loop are marked as such.
        assert_eq!(count(&page, "<g class=\"edge back\""), 2);
        assert!(page.contains("Feedback edge"));
    }

    #[test]
    fn the_legend_names_every_kind() {
        let page = html(&sample(), "legend");
        for name in [">Node<", ">Operator<", ">Runtime node<", ">Timer<"] {
            assert!(page.contains(name), "{name}");
        }
    }

    #[test]
    fn the_markup_is_balanced_and_has_no_bad_numbers() {
        for graph in [sample(), Graph::default()] {
            let page = html(&graph, "balanced");
            let opened = count(&page, "<g ") + count(&page, "<g>");
            assert_eq!(opened, count(&page, "</g>"));
            assert_eq!(count(&page, "<text"), count(&page, "</text>"));
            assert_eq!(count(&page, "<title>"), count(&page, "</title>"));
            assert!(!page.contains("NaN") && !page.contains("inf"));
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain → text"), "plain → text");
        assert_eq!(escape("nul\u{0}"), "nul\u{fffd}");
    }
}
