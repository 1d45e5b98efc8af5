//! A layered drawing of a dataflow [`Graph`], in the manner of Sugiyama,
//! Tagawa and Toda: data flows from the top down, one layer per step.
//!
//! [`layout`] is a pure function; each step is a small function, in a file
//! of its own: steps 1 and 2 in `rank.rs`, 3 in `sketch.rs`, 4 in
//! `order.rs`, 5 in `coordinates.rs` and 6 in `routing.rs`; the tests are
//! in `tests.rs`.
//!
//! 1. **Breaking cycles.** Dataflows may hold feedback loops. A depth-first
//!    search, started from the sources, marks each edge that closes a cycle.
//!    Those *back edges* are reversed for ranking only: they are still drawn
//!    pointing the way the data goes.
//! 2. **Layering.** A vertex sits one layer below its lowest predecessor (the
//!    longest path from the sources). A source then moves down to just above
//!    its highest successor, so a timer sits next to the node it drives.
//! 3. **Normalising.** An edge that spans several layers gets a thin *dummy*
//!    node in each layer it crosses, so it bends around vertices instead of
//!    running through them. Back edges and self-loops get a *side lane* pinned
//!    just right of each end: they leave and enter from the side and run up
//!    in their own lane, visibly apart from the downward flow. A group
//!    (runtime node) that has no vertex in a layer it spans gets a zero-width
//!    *filler* there, so that its box keeps its band in every layer.
//! 4. **Ordering.** Alternating downward and upward barycenter sweeps reduce
//!    crossings. A group sorts as one block, so its vertices stay adjacent,
//!    and groups keep one relative order in every layer, so their boxes can
//!    never interleave. The ordering with the fewest crossings wins.
//! 5. **Coordinates.** Each layer is packed left to right, then pulled toward
//!    the mean of its neighbours by an order-keeping least-squares fit (pool
//!    adjacent violators). A group moves as one block of constant width.
//! 6. **Routing.** Edges leave from the bottom and enter at the top, at ports
//!    spread along the side, bending at their dummies. A label takes the spot
//!    nearest the middle of its path that covers no vertex and no other label.
//!
//! Everything is ordered by index, never by hash, so one graph always gives
//! one drawing; and every index is checked, so no graph makes it panic.

mod coordinates;
mod order;
mod rank;
mod routing;
mod sketch;
#[cfg(test)]
mod tests;

use super::model::{Graph, Vertex, VertexKind};
use coordinates::{coordinates, Frame};
use order::order;
use rank::{back_edges, ranks};
use routing::{fit_to_margin, group_boxes, place_labels, routes, Geometry};
use sketch::Sketch;

/// Font size of vertex labels, in px: vertices are sized for it.
pub const LABEL_FONT_SIZE: f64 = 13.0;
/// Font size of the detail line under a vertex label, in px.
pub const DETAIL_FONT_SIZE: f64 = 11.0;
/// Font size of edge labels, in px.
pub const EDGE_FONT_SIZE: f64 = 11.0;
/// Font size of group labels, in px.
pub const GROUP_FONT_SIZE: f64 = 12.0;
/// A detail is cut to this many characters, so that one long path cannot
/// widen a whole layer; see [`detail_line`].
pub const DETAIL_MAX_CHARS: usize = 48;
/// Height of the strip at the top of a group rectangle that holds its label.
pub const GROUP_LABEL_HEIGHT: f64 = 22.0;

// Approximate advance of one character of the system-ui font, per size.
const LABEL_CHAR_WIDTH: f64 = 7.5;
const SMALL_CHAR_WIDTH: f64 = 6.3;
const GROUP_CHAR_WIDTH: f64 = 7.0;

const MIN_VERTEX_WIDTH: f64 = 90.0;
const VERTEX_PADDING: f64 = 14.0;
const VERTEX_HEIGHT: f64 = 40.0;
const DETAIL_HEIGHT: f64 = 16.0;
/// Timers are drawn as pills, and their round ends hold no text.
const PILL_EXTRA_WIDTH: f64 = 16.0;
const GROUP_PADDING: f64 = 14.0;

/// A point, in px, y growing downward.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// An axis-aligned rectangle: top-left corner and size, in px.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }

    pub fn center(&self) -> Point {
        Point {
            x: self.x + self.width / 2.0,
            y: self.y + self.height / 2.0,
        }
    }

    /// Whether the two rectangles share some area (touching is not enough).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    fn is_empty(&self) -> bool {
        self.width <= 0.0 || self.height <= 0.0
    }
}

/// How to draw one edge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeRoute {
    /// The path from the source to the target; empty when the edge names a
    /// vertex that does not exist. Consecutive points are joined by a cubic
    /// Bézier curve with vertical tangents, `C p.x,m q.x,m q.x,q.y` where `m`
    /// is their mean y (see [`segment_point`]); a horizontal step is thus a
    /// straight line.
    pub points: Vec<Point>,
    /// The box for the label; empty when the label is.
    pub label: Rect,
    /// A feedback edge (a self-loop included), drawn in a lane beside its
    /// vertices rather than downward.
    pub back: bool,
}

/// Where everything goes; the indices follow the graph's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub vertices: Vec<Rect>,
    /// Each group's box, label strip included; `None` for an empty group.
    pub groups: Vec<Option<Rect>>,
    pub edges: Vec<EdgeRoute>,
    /// The size of the whole drawing, margins included.
    pub width: f64,
    pub height: f64,
}

/// The point at `t` (0 to 1) on the curve that joins `from` to `to` in an
/// [`EdgeRoute`]: a cubic Bézier with both control points at mid-height.
pub fn segment_point(from: Point, to: Point, t: f64) -> Point {
    let mid = (from.y + to.y) / 2.0;
    let s = 1.0 - t;
    let (a, b, c, d) = (s * s * s, 3.0 * s * s * t, 3.0 * s * t * t, t * t * t);
    Point {
        x: (a + b) * from.x + (c + d) * to.x,
        y: a * from.y + (b + c) * mid + d * to.y,
    }
}

/// `text`, cut to `max_chars` characters with an ellipsis when longer.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The detail line drawn under a vertex's label, if any: vertices are sized
/// for exactly this text.
pub fn detail_line(vertex: &Vertex) -> Option<String> {
    vertex
        .detail
        .as_deref()
        .filter(|detail| !detail.is_empty())
        .map(|detail| shorten(detail, DETAIL_MAX_CHARS))
}

/// Lays `graph` out; see the module documentation for how.
pub fn layout(graph: &Graph) -> Layout {
    let back = back_edges(graph);
    let ranks = ranks(graph, &back);
    let mut sketch = Sketch::new(graph, &ranks);
    order(&mut sketch);
    let frame = Frame::new(&sketch);
    let coords = coordinates(&sketch, &frame);
    let geometry = Geometry::new(&sketch, &frame, &coords);
    let mut drawing = Layout {
        vertices: geometry.rects[..graph.vertices.len()].to_vec(),
        groups: group_boxes(&sketch, &frame, &coords, &geometry),
        edges: routes(graph, &sketch, &geometry),
        width: 0.0,
        height: 0.0,
    };
    place_labels(graph, &mut drawing);
    fit_to_margin(&mut drawing);
    drawing
}

fn text_width(text: &str, char_width: f64) -> f64 {
    text.chars().count() as f64 * char_width
}

fn vertex_size(vertex: &Vertex) -> (f64, f64) {
    let label = text_width(&vertex.label, LABEL_CHAR_WIDTH);
    let detail = detail_line(vertex);
    let detail_width = detail
        .as_deref()
        .map_or(0.0, |detail| text_width(detail, SMALL_CHAR_WIDTH));
    let extra = if vertex.kind == VertexKind::Timer {
        PILL_EXTRA_WIDTH
    } else {
        0.0
    };
    let width = (label.max(detail_width) + 2.0 * VERTEX_PADDING + extra).max(MIN_VERTEX_WIDTH);
    let height = if detail.is_some() {
        VERTEX_HEIGHT + DETAIL_HEIGHT
    } else {
        VERTEX_HEIGHT
    };
    (width, height)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Whether an edge joins two distinct, existing vertices: only those take
/// part in ranking and ordering.
fn is_link(graph: &Graph, from: usize, to: usize) -> bool {
    let count = graph.vertices.len();
    from < count && to < count && from != to
}
