//! Tests of the whole layout: soundness invariants (everything inside the
//! drawing, no overlaps, edges routed the right way, groups enclosing their
//! members) on hand-made and random graphs.

use super::super::model::{Edge, Group};
use super::*;

fn vertex(key: &str, kind: VertexKind, group: Option<usize>) -> Vertex {
    Vertex {
        key: key.to_owned(),
        label: key.to_owned(),
        kind,
        group,
        detail: None,
    }
}

fn node(key: &str) -> Vertex {
    vertex(key, VertexKind::Node, None)
}

fn edge(from: usize, to: usize) -> Edge {
    Edge {
        from,
        to,
        label: format!("out{from}_{to}"),
    }
}

fn group(key: &str) -> Group {
    Group {
        key: key.to_owned(),
        label: key.to_owned(),
    }
}

fn chain(length: usize) -> Graph {
    Graph {
        vertices: (0..length).map(|i| node(&format!("n{i}"))).collect(),
        groups: Vec::new(),
        edges: (1..length).map(|i| edge(i - 1, i)).collect(),
    }
}

fn is_finite(rect: &Rect) -> bool {
    [rect.x, rect.y, rect.width, rect.height]
        .iter()
        .all(|v| v.is_finite())
}

/// Everything is a finite number inside the drawing's bounds.
fn assert_inside(drawing: &Layout) {
    let bounds = Rect {
        x: 0.0,
        y: 0.0,
        width: drawing.width,
        height: drawing.height,
    };
    for rect in drawing
        .vertices
        .iter()
        .chain(drawing.groups.iter().flatten())
    {
        assert!(is_finite(rect), "{rect:?}");
        assert!(contains(&bounds, rect), "{rect:?} outside {bounds:?}");
    }
    for route in &drawing.edges {
        for point in &route.points {
            assert!(point.x.is_finite() && point.y.is_finite(), "{point:?}");
            assert!((0.0..=drawing.width).contains(&point.x), "{point:?}");
            assert!((0.0..=drawing.height).contains(&point.y), "{point:?}");
        }
    }
}

/// Whether `inner` lies wholly inside `outer` (edges may touch).
fn contains(outer: &Rect, inner: &Rect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.right() <= outer.right()
        && inner.bottom() <= outer.bottom()
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn assert_apart(rects: &[Rect]) {
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
        }
    }
}

/// Forward edges run downward from the source's bottom to the
/// target's top; back edges run upward from side to side.
fn assert_routes(graph: &Graph, drawing: &Layout) {
    for (edge, route) in graph.edges.iter().zip(&drawing.edges) {
        let (from, to) = (drawing.vertices[edge.from], drawing.vertices[edge.to]);
        let (Some(first), Some(last)) = (route.points.first(), route.points.last()) else {
            panic!("edge {edge:?} has no path");
        };
        if edge.from == edge.to {
            assert!(route.points.iter().all(|p| p.x >= from.right() - 1e-9));
            assert!(route.points.iter().any(|p| p.x > from.right() + 10.0));
        } else if route.back {
            assert!(to.bottom() < from.y, "a back edge goes up");
            assert!(near(first.x, from.right()) && near(last.x, to.right()));
        } else {
            assert!(to.y > from.bottom(), "{edge:?} goes down");
            assert!(near(first.y, from.bottom()) && near(last.y, to.y));
            let ys: Vec<f64> = route.points.iter().map(|p| p.y).collect();
            assert!(ys.windows(2).all(|w| w[0] <= w[1]), "{ys:?}");
        }
    }
}

fn assert_groups(graph: &Graph, drawing: &Layout) {
    let boxes: Vec<Rect> = drawing.groups.iter().flatten().copied().collect();
    assert_apart(&boxes);
    for (index, rect) in drawing.groups.iter().enumerate() {
        let members = graph.vertices.iter().zip(&drawing.vertices);
        for (vertex, placed) in members {
            match rect {
                Some(rect) if vertex.group == Some(index) => {
                    assert!(contains(rect, placed), "{placed:?} outside {rect:?}");
                    assert!(placed.y >= rect.y + GROUP_LABEL_HEIGHT, "under the label");
                }
                Some(rect) => assert!(!rect.overlaps(placed), "{placed:?} in {rect:?}"),
                None => assert_ne!(vertex.group, Some(index), "a member without a box"),
            }
        }
    }
}

fn assert_sound(graph: &Graph) -> Layout {
    let drawing = layout(graph);
    assert_eq!(drawing.vertices.len(), graph.vertices.len());
    assert_eq!(drawing.groups.len(), graph.groups.len());
    assert_eq!(drawing.edges.len(), graph.edges.len());
    assert_inside(&drawing);
    assert_apart(&drawing.vertices);
    assert_routes(graph, &drawing);
    assert_groups(graph, &drawing);
    drawing
}

#[test]
fn an_empty_graph_gives_an_empty_drawing() {
    let drawing = layout(&Graph::default());
    assert!(drawing.vertices.is_empty() && drawing.edges.is_empty());
    assert!(drawing.width > 0.0 && drawing.height > 0.0);
}

#[test]
fn a_chain_flows_down_without_overlaps() {
    let mut graph = chain(5);
    // A long edge, which bends around the middle of the chain.
    graph.edges.push(edge(0, 4));
    let drawing = assert_sound(&graph);
    let ys: Vec<f64> = drawing.vertices.iter().map(|r| r.y).collect();
    assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
    // The long edge does not cut through the vertices it passes.
    let long = &drawing.edges[4];
    for point in &long.points[1..long.points.len() - 1] {
        for rect in &drawing.vertices {
            let inside = point.x > rect.x
                && point.x < rect.right()
                && point.y > rect.y
                && point.y < rect.bottom();
            assert!(!inside, "{point:?} in {rect:?}");
        }
    }
    // Every label is set, clear of every vertex.
    for route in &drawing.edges {
        assert!(route.label.width > 0.0);
        assert!(drawing.vertices.iter().all(|v| !v.overlaps(&route.label)));
    }
}

#[test]
fn cycles_are_placed_and_drawn_upward_beside() {
    let mut graph = chain(4);
    graph.edges.push(edge(3, 1));
    graph.edges.push(edge(2, 2));
    graph.edges.push(edge(1, 0));
    let drawing = assert_sound(&graph);
    let back: Vec<bool> = drawing.edges.iter().map(|r| r.back).collect();
    assert_eq!(back, [false, false, false, true, true, true]);
}

#[test]
fn two_vertices_feeding_each_other_stay_apart() {
    let graph = Graph {
        vertices: vec![node("a"), node("b")],
        groups: Vec::new(),
        edges: vec![edge(0, 1), edge(1, 0), edge(0, 1)],
    };
    let drawing = assert_sound(&graph);
    // Parallel edges get their own ports, and labels their own spots.
    assert_ne!(drawing.edges[0].points[0], drawing.edges[2].points[0]);
    assert_apart(&drawing.edges.iter().map(|r| r.label).collect::<Vec<_>>());
}

#[test]
fn groups_enclose_their_operators_and_nothing_else() {
    let operator = |key: &str| vertex(key, VertexKind::Operator, Some(0));
    let graph = Graph {
        vertices: vec![
            node("camera"),
            operator("detect"),
            operator("track"),
            operator("plot"),
            node("bystander"),
            node("sink"),
            vertex("dora/timer/millis/10", VertexKind::Timer, None),
            vertex("solo", VertexKind::Operator, Some(1)),
        ],
        groups: vec![group("runtime"), group("other"), group("empty")],
        edges: vec![
            edge(6, 0),
            edge(0, 1),
            edge(1, 2),
            edge(1, 3),
            edge(2, 5),
            edge(0, 4),
            edge(4, 5),
            edge(6, 7),
            edge(7, 3),
            edge(2, 1),
        ],
    };
    let drawing = assert_sound(&graph);
    assert!(drawing.groups[0].is_some() && drawing.groups[1].is_some());
    assert_eq!(drawing.groups[2], None);
}

#[test]
fn vertices_fit_their_text() {
    let mut long = node("a_rather_long_node_identifier_1");
    long.detail = Some("x".repeat(200));
    let mut graph = Graph {
        vertices: vec![node("a"), long, vertex("t", VertexKind::Timer, None)],
        ..Graph::default()
    };
    graph.vertices[0].detail = Some(String::new());
    let drawing = layout(&graph);
    let [short, long, timer] = [0, 1, 2].map(|i| drawing.vertices[i]);
    assert_eq!(
        (short.width, short.height),
        (MIN_VERTEX_WIDTH, VERTEX_HEIGHT)
    );
    assert!(long.width >= 31.0 * LABEL_CHAR_WIDTH);
    assert!(long.width >= DETAIL_MAX_CHARS as f64 * SMALL_CHAR_WIDTH);
    assert!(long.width < 200.0 * SMALL_CHAR_WIDTH);
    assert!(long.height > short.height);
    assert_eq!(timer.width, MIN_VERTEX_WIDTH);
    let detail = detail_line(&graph.vertices[1]).unwrap_or_default();
    assert_eq!(detail.chars().count(), DETAIL_MAX_CHARS);
    assert!(detail.ends_with('…'));
}

#[test]
fn bad_indices_are_skipped() {
    let mut graph = chain(2);
    graph.vertices[0].group = Some(7);
    graph.edges.push(edge(0, 99));
    graph.edges.push(edge(99, 99));
    let drawing = layout(&graph);
    assert_inside(&drawing);
    assert!(drawing.edges[1].points.is_empty() && drawing.edges[2].points.is_empty());
}

/// A small deterministic generator, so the test needs no crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(self.0 >> 33).unwrap_or(0) % bound.max(1)
    }
}

fn random_graph(random: &mut Lcg) -> Graph {
    let groups: Vec<Group> = (0..random.below(4))
        .map(|g| group(&format!("g{g}")))
        .collect();
    let vertices: Vec<Vertex> = (0..1 + random.below(18))
        .map(|i| {
            let group = random.below(groups.len() + 2);
            let group = (group < groups.len()).then_some(group);
            let kind = if group.is_some() {
                VertexKind::Operator
            } else {
                VertexKind::Node
            };
            let mut vertex = vertex(&format!("v{i}"), kind, group);
            if random.below(3) == 0 {
                vertex.detail = Some("d".repeat(random.below(60)));
            }
            vertex
        })
        .collect();
    let count = vertices.len();
    let edges = (0..random.below(2 * count + 1))
        .map(|_| edge(random.below(count), random.below(count)))
        .collect();
    Graph {
        vertices,
        groups,
        edges,
    }
}

#[test]
fn random_graphs_keep_every_invariant() {
    let mut random = Lcg(7);
    for _ in 0..300 {
        let graph = random_graph(&mut random);
        let drawing = assert_sound(&graph);
        assert_eq!(drawing, layout(&graph), "deterministic");
    }
}
