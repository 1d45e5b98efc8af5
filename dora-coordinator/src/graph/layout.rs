//! A layered drawing of a dataflow [`Graph`], in the manner of Sugiyama,
//! Tagawa and Toda: data flows from the top down, one layer per step.
//!
//! [`layout`] is a pure function; each step is a small function below.
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

use std::collections::{BTreeSet, VecDeque};

use super::model::{Graph, Vertex, VertexKind};

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
/// Room between layers for edges, their labels and the group headers.
const LAYER_GAP: f64 = 84.0;
/// Between two vertices (or group blocks) of a layer.
const VERTEX_GAP: f64 = 36.0;
/// Between an edge lane and anything else.
const LANE_GAP: f64 = 18.0;
const DUMMY_WIDTH: f64 = 10.0;
const SIDE_WIDTH: f64 = 14.0;
const LOOP_WIDTH: f64 = 28.0;
const EDGE_LABEL_HEIGHT: f64 = 16.0;
const EDGE_LABEL_PADDING: f64 = 5.0;
const MARGIN: f64 = 24.0;
/// How much harder a lane is pulled to its anchor than a node to a neighbour.
const SIDE_PULL: f64 = 8.0;
const ORDER_SWEEPS: usize = 12;
const BALANCE_ROUNDS: usize = 10;
/// Where along each segment of a path a label may go, best first.
const LABEL_SPOTS: [f64; 5] = [0.5, 0.3, 0.7, 0.15, 0.85];

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

// ---------------------------------------------------------------- 1. cycles

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    Active,
    Done,
}

/// Marks the edges that close a cycle in a depth-first search. Sources are
/// searched first, so that the edges marked are the ones that feed back,
/// not the ones that feed forward into a loop.
fn back_edges(graph: &Graph) -> Vec<bool> {
    let count = graph.vertices.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut has_input = vec![false; count];
    for (index, edge) in graph.edges.iter().enumerate() {
        if is_link(graph, edge.from, edge.to) {
            out[edge.from].push(index);
            has_input[edge.to] = true;
        }
    }
    let roots = (0..count).filter(|&v| !has_input[v]).chain(0..count);
    let mut visit = vec![Visit::New; count];
    let mut back = vec![false; graph.edges.len()];
    for root in roots {
        if visit[root] != Visit::New {
            continue;
        }
        visit[root] = Visit::Active;
        // An explicit stack of (vertex, next out-edge), so that a long chain
        // cannot overflow the call stack.
        let mut stack = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let (vertex, next) = *top;
            if let Some(&index) = out[vertex].get(next) {
                top.1 += 1;
                let to = graph.edges[index].to;
                match visit[to] {
                    Visit::New => {
                        visit[to] = Visit::Active;
                        stack.push((to, 0));
                    }
                    Visit::Active => back[index] = true,
                    Visit::Done => {}
                }
            } else {
                visit[vertex] = Visit::Done;
                stack.pop();
            }
        }
    }
    back
}

// --------------------------------------------------------------- 2. layers

/// The layer of each vertex: the longest path from the sources, with the
/// back edges reversed, then sources moved down next to their successors.
fn ranks(graph: &Graph, back: &[bool]) -> Vec<usize> {
    let count = graph.vertices.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut inputs = vec![0usize; count];
    for (edge, &reversed) in graph.edges.iter().zip(back) {
        if is_link(graph, edge.from, edge.to) {
            let (from, to) = if reversed {
                (edge.to, edge.from)
            } else {
                (edge.from, edge.to)
            };
            next[from].push(to);
            inputs[to] += 1;
        }
    }
    let sources: Vec<usize> = (0..count).filter(|&v| inputs[v] == 0).collect();
    let mut rank = vec![0usize; count];
    let mut left = inputs;
    let mut ready: VecDeque<usize> = sources.iter().copied().collect();
    while let Some(vertex) = ready.pop_front() {
        for &to in &next[vertex] {
            rank[to] = rank[to].max(rank[vertex] + 1);
            left[to] -= 1;
            if left[to] == 0 {
                ready.push_back(to);
            }
        }
    }
    for &source in &sources {
        if let Some(lowest) = next[source].iter().map(|&to| rank[to]).min() {
            rank[source] = lowest.saturating_sub(1);
        }
    }
    compact(&rank)
}

/// Renumbers ranks 0, 1, 2… without gaps, keeping their order.
fn compact(rank: &[usize]) -> Vec<usize> {
    let used: Vec<usize> = rank
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    rank.iter()
        .map(|r| used.binary_search(r).unwrap_or(0))
        .collect()
}

// ------------------------------------------------------------ 3. sketch

#[derive(Debug, Clone, Copy, PartialEq)]
enum NodeKind {
    /// A vertex of the graph; node `i` is vertex `i`.
    Vertex,
    /// A bend of a long edge, in a layer that it crosses.
    Dummy,
    /// A lane beside `anchor` for a back edge, or for a self-loop.
    Side { anchor: usize, looped: bool },
    /// Keeps a group's band in a layer where it has no vertex.
    Filler,
}

/// What gets ordered and placed in the layers.
#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    layer: usize,
    group: Option<usize>,
    width: f64,
    height: f64,
}

impl Node {
    /// Vertices (and group blocks) keep a wide gap; lanes may come closer.
    fn is_wide(&self) -> bool {
        self.kind == NodeKind::Vertex
    }
}

/// The nodes an edge runs through, in the order it runs.
#[derive(Debug, Clone)]
enum Chain {
    /// The edge names a missing vertex and is not drawn.
    Skip,
    /// Downward, through one dummy per layer crossed.
    Forward(Vec<usize>),
    /// Upward: the side lane at the source, dummies, the side lane at the
    /// target.
    Back(Vec<usize>),
    /// A self-loop around its lane.
    Loop(usize),
}

/// The graph made proper: every link joins adjacent layers.
struct Sketch {
    nodes: Vec<Node>,
    chains: Vec<Chain>,
    /// Neighbours of each node in the layer above, and below.
    above: Vec<Vec<usize>>,
    below: Vec<Vec<usize>>,
    /// The nodes of each layer, left to right.
    layers: Vec<Vec<usize>>,
    /// The narrowest block each group may have: room for its label.
    group_min_width: Vec<f64>,
}

impl Sketch {
    fn new(graph: &Graph, ranks: &[usize]) -> Sketch {
        let group_count = graph.groups.len();
        let mut sketch = Sketch {
            nodes: Vec::new(),
            chains: Vec::new(),
            above: Vec::new(),
            below: Vec::new(),
            layers: Vec::new(),
            group_min_width: graph
                .groups
                .iter()
                .map(|group| text_width(&group.label, GROUP_CHAR_WIDTH) + 2.0 * GROUP_PADDING)
                .collect(),
        };
        for (vertex, &layer) in graph.vertices.iter().zip(ranks) {
            let (width, height) = vertex_size(vertex);
            sketch.add(Node {
                kind: NodeKind::Vertex,
                layer,
                group: vertex.group.filter(|&group| group < group_count),
                width,
                height,
            });
        }
        for edge in &graph.edges {
            let chain = sketch.chain(graph, edge.from, edge.to);
            sketch.chains.push(chain);
        }
        sketch.add_fillers();
        let layer_count = sketch.nodes.iter().map(|node| node.layer + 1).max();
        sketch.layers = vec![Vec::new(); layer_count.unwrap_or(0)];
        for (index, node) in sketch.nodes.iter().enumerate() {
            sketch.layers[node.layer].push(index);
        }
        sketch
    }

    fn add(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.above.push(Vec::new());
        self.below.push(Vec::new());
        self.nodes.len() - 1
    }

    fn dummy(&mut self, layer: usize, group: Option<usize>) -> usize {
        self.add(Node {
            kind: NodeKind::Dummy,
            layer,
            group,
            width: DUMMY_WIDTH,
            height: 0.0,
        })
    }

    /// A lane beside `anchor`, in its layer and its group.
    fn side(&mut self, anchor: usize, looped: bool) -> usize {
        let (layer, group) = (self.nodes[anchor].layer, self.nodes[anchor].group);
        let width = if looped { LOOP_WIDTH } else { SIDE_WIDTH };
        self.add(Node {
            kind: NodeKind::Side { anchor, looped },
            layer,
            group,
            width,
            height: 0.0,
        })
    }

    /// Links two nodes of adjacent layers; anything else is no link.
    fn link(&mut self, upper: usize, lower: usize) {
        if self.nodes[lower].layer == self.nodes[upper].layer + 1 {
            self.below[upper].push(lower);
            self.above[lower].push(upper);
        }
    }

    fn chain(&mut self, graph: &Graph, from: usize, to: usize) -> Chain {
        if from == to && from < graph.vertices.len() {
            return Chain::Loop(self.side(from, true));
        }
        if !is_link(graph, from, to) {
            return Chain::Skip;
        }
        // Bends stay inside a group only when both ends are in it.
        let group = self.nodes[from]
            .group
            .filter(|&g| self.nodes[to].group == Some(g));
        let (top, bottom) = (self.nodes[from].layer, self.nodes[to].layer);
        if bottom > top {
            let dummies: Vec<usize> = (top + 1..bottom).map(|l| self.dummy(l, group)).collect();
            let path: Vec<usize> = [from]
                .into_iter()
                .chain(dummies.iter().copied())
                .chain([to])
                .collect();
            for pair in path.windows(2) {
                self.link(pair[0], pair[1]);
            }
            Chain::Forward(dummies)
        } else {
            let mut path = vec![self.side(from, false)];
            for layer in (bottom + 1..top).rev() {
                let dummy = self.dummy(layer, group);
                path.push(dummy);
            }
            path.push(self.side(to, false));
            // The path runs upward: each node is below the next.
            for pair in path.windows(2) {
                self.link(pair[1], pair[0]);
            }
            Chain::Back(path)
        }
    }

    fn add_fillers(&mut self) {
        let taken: BTreeSet<(usize, usize)> = self
            .nodes
            .iter()
            .filter_map(|node| node.group.map(|g| (g, node.layer)))
            .collect();
        for group in 0..self.group_min_width.len() {
            let layers = self
                .nodes
                .iter()
                .filter(|node| node.kind == NodeKind::Vertex && node.group == Some(group))
                .map(|node| node.layer);
            let (Some(first), Some(last)) = (layers.clone().min(), layers.max()) else {
                continue;
            };
            for layer in first..=last {
                if !taken.contains(&(group, layer)) {
                    self.add(Node {
                        kind: NodeKind::Filler,
                        layer,
                        group: Some(group),
                        width: 0.0,
                        height: 0.0,
                    });
                }
            }
        }
    }

    /// Each node's index within its layer.
    fn positions(&self) -> Vec<usize> {
        let mut position = vec![0; self.nodes.len()];
        for layer in &self.layers {
            for (index, &node) in layer.iter().enumerate() {
                position[node] = index;
            }
        }
        position
    }

    /// The neighbours a node is pulled toward, in the direction of a sweep,
    /// falling back on the other side when there are none.
    fn neighbours(&self, node: usize, pull: Pull) -> Vec<usize> {
        let (first, second) = match pull {
            Pull::Down => (&self.above[node], &self.below[node]),
            Pull::Up => (&self.below[node], &self.above[node]),
            Pull::Both => {
                return self.above[node]
                    .iter()
                    .chain(&self.below[node])
                    .copied()
                    .collect();
            }
        };
        if first.is_empty() {
            second.clone()
        } else {
            first.clone()
        }
    }
}

/// Which neighbours a sweep looks at: the layer above when going down.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pull {
    Down,
    Up,
    Both,
}

// -------------------------------------------------------------- 4. order

fn order(sketch: &mut Sketch) {
    let mut group_rank: Vec<usize> = (0..sketch.group_min_width.len()).collect();
    // First make groups contiguous and consistently ordered.
    let position = sketch.positions();
    let start: Vec<f64> = position.iter().map(|&p| p as f64).collect();
    for layer in 0..sketch.layers.len() {
        sketch.layers[layer] = arrange(sketch, layer, &start, &group_rank);
    }
    let mut best = sketch.layers.clone();
    let mut fewest = crossings(sketch);
    for sweep in 0..ORDER_SWEEPS {
        if fewest == 0 {
            break;
        }
        let pull = if sweep % 2 == 0 { Pull::Down } else { Pull::Up };
        sweep_layers(sketch, pull, &group_rank);
        group_rank = group_order(sketch);
        let count = crossings(sketch);
        if count < fewest {
            fewest = count;
            best.clone_from(&sketch.layers);
        }
    }
    sketch.layers = best;
}

/// Reorders every layer by barycenter, from the top when pulled down and
/// from the bottom when pulled up.
fn sweep_layers(sketch: &mut Sketch, pull: Pull, group_rank: &[usize]) {
    let mut position: Vec<f64> = sketch.positions().iter().map(|&p| p as f64).collect();
    let mut barycenter = position.clone();
    let layers: Vec<usize> = match pull {
        Pull::Up => (0..sketch.layers.len()).rev().collect(),
        Pull::Down | Pull::Both => (0..sketch.layers.len()).collect(),
    };
    for layer in layers {
        for &node in &sketch.layers[layer] {
            let side = match pull {
                Pull::Up => &sketch.below[node],
                Pull::Down | Pull::Both => &sketch.above[node],
            };
            // A node with no neighbour on that side keeps its place.
            barycenter[node] = mean(side.iter().map(|&n| position[n])).unwrap_or(position[node]);
        }
        sketch.layers[layer] = arrange(sketch, layer, &barycenter, group_rank);
        for (index, &node) in sketch.layers[layer].iter().enumerate() {
            position[node] = index as f64;
        }
    }
}

/// One run of a layer: a node alone, or all the nodes of one group.
struct Run {
    key: f64,
    group: Option<usize>,
    members: Vec<usize>,
}

/// A layer sorted by `key`, a group's nodes kept together as one run keyed
/// by their mean, groups in `group_rank` order, and side lanes right after
/// their anchors.
fn arrange(sketch: &Sketch, layer: usize, key: &[f64], group_rank: &[usize]) -> Vec<usize> {
    let nodes = &sketch.nodes;
    let mut runs: Vec<Run> = Vec::new();
    let mut sides: Vec<(usize, usize)> = Vec::new();
    for &node in &sketch.layers[layer] {
        let group = nodes[node].group;
        if let NodeKind::Side { anchor, .. } = nodes[node].kind {
            sides.push((node, anchor));
        } else if let Some(run) = runs
            .iter_mut()
            .find(|run| group.is_some() && run.group == group)
        {
            run.members.push(node);
        } else {
            runs.push(Run {
                key: 0.0,
                group,
                members: vec![node],
            });
        }
    }
    for run in &mut runs {
        run.key = mean(run.members.iter().map(|&n| key[n])).unwrap_or(0.0);
        // Stable sorts: ties keep the current order.
        run.members.sort_by(|&a, &b| key[a].total_cmp(&key[b]));
    }
    runs.sort_by(|a, b| a.key.total_cmp(&b.key));
    let sequence = groups_in_rank_order(&runs, group_rank);
    let mut placed = vec![false; sides.len()];
    let mut arranged = Vec::with_capacity(sketch.layers[layer].len());
    for &node in sequence.iter().flat_map(|&run| &runs[run].members) {
        arranged.push(node);
        for (index, &(side, anchor)) in sides.iter().enumerate() {
            if anchor == node && !placed[index] {
                arranged.push(side);
                placed[index] = true;
            }
        }
    }
    // A lane whose anchor is not in this layer never happens; keep it anyway.
    let strays = sides.iter().zip(&placed).filter(|(_, &done)| !done);
    arranged.extend(strays.map(|(&(side, _), _)| side));
    arranged
}

/// The order of runs, with the slots that hold groups refilled by the
/// groups in global rank order: two groups then stand in the same order in
/// every layer, which keeps their boxes apart.
fn groups_in_rank_order(runs: &[Run], group_rank: &[usize]) -> Vec<usize> {
    let slots: Vec<usize> = (0..runs.len())
        .filter(|&r| runs[r].group.is_some())
        .collect();
    let mut by_rank = slots.clone();
    by_rank.sort_by_key(|&r| {
        runs[r]
            .group
            .map(|g| group_rank.get(g).copied().unwrap_or(g))
    });
    let mut sequence: Vec<usize> = (0..runs.len()).collect();
    for (&slot, &run) in slots.iter().zip(&by_rank) {
        sequence[slot] = run;
    }
    sequence
}

/// The rank of each group by the mean relative position of its nodes.
fn group_order(sketch: &Sketch) -> Vec<usize> {
    let count = sketch.group_min_width.len();
    let mut sum = vec![0.0; count];
    let mut seen = vec![0usize; count];
    for layer in &sketch.layers {
        let width = layer.len() as f64;
        for (index, &node) in layer.iter().enumerate() {
            if let Some(group) = sketch.nodes[node].group {
                sum[group] += (index as f64 + 0.5) / width;
                seen[group] += 1;
            }
        }
    }
    let key = |g: usize| {
        if seen[g] == 0 {
            0.0
        } else {
            sum[g] / seen[g] as f64
        }
    };
    let mut groups: Vec<usize> = (0..count).collect();
    groups.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    let mut rank = vec![0; count];
    for (index, &group) in groups.iter().enumerate() {
        rank[group] = index;
    }
    rank
}

/// The number of crossing links between adjacent layers, counted as
/// inversions with a Fenwick tree.
fn crossings(sketch: &Sketch) -> usize {
    let position = sketch.positions();
    let mut total = 0;
    for pair in sketch.layers.windows(2) {
        let mut links: Vec<(usize, usize)> = Vec::new();
        for &upper in &pair[0] {
            links.extend(
                sketch.below[upper]
                    .iter()
                    .map(|&lower| (position[upper], position[lower])),
            );
        }
        links.sort_unstable();
        let mut tree = vec![0usize; pair[1].len() + 1];
        for (seen, &(_, lower)) in links.iter().enumerate() {
            // Earlier links (further left above) that end further right below
            // cross this one.
            total += seen - fenwick_sum(&tree, lower + 1);
            fenwick_add(&mut tree, lower + 1);
        }
    }
    total
}

fn fenwick_add(tree: &mut [usize], mut index: usize) {
    while index > 0 && index < tree.len() {
        tree[index] += 1;
        index += index & index.wrapping_neg();
    }
}

fn fenwick_sum(tree: &[usize], index: usize) -> usize {
    let mut index = index.min(tree.len().saturating_sub(1));
    let mut sum = 0;
    while index > 0 {
        sum += tree[index];
        index -= index & index.wrapping_neg();
    }
    sum
}

// -------------------------------------------------------- 5. coordinates

/// What is placed in a layer: a node alone, or the block of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Free(usize),
    Block(usize),
}

/// The fixed frame of the placement: slots per layer, block widths, and
/// where each grouped node sits in its block.
struct Frame {
    slots: Vec<Vec<Slot>>,
    block_width: Vec<f64>,
    /// A grouped node's left edge from its block's left edge.
    offset: Vec<f64>,
}

/// The free variables of the placement: left edges of free nodes and of
/// group blocks. A group has one for all its layers, so its box is straight.
#[derive(Debug, Clone)]
struct Coords {
    x: Vec<f64>,
    group_x: Vec<f64>,
}

fn gap(left_wide: bool, right_wide: bool) -> f64 {
    if left_wide && right_wide {
        VERTEX_GAP
    } else {
        LANE_GAP
    }
}

impl Frame {
    fn new(sketch: &Sketch) -> Frame {
        let mut frame = Frame {
            slots: Vec::new(),
            block_width: sketch.group_min_width.clone(),
            offset: vec![0.0; sketch.nodes.len()],
        };
        // Runs of one group in one layer, with their content width.
        let mut runs: Vec<(usize, &[usize], f64)> = Vec::new();
        for layer in &sketch.layers {
            let mut row = Vec::new();
            let mut start = 0;
            while start < layer.len() {
                let group = sketch.nodes[layer[start]].group;
                let mut end = start + 1;
                while group.is_some()
                    && end < layer.len()
                    && sketch.nodes[layer[end]].group == group
                {
                    end += 1;
                }
                match group {
                    Some(group) => {
                        let content = frame.pack(sketch, &layer[start..end]);
                        let width = content + 2.0 * GROUP_PADDING;
                        frame.block_width[group] = frame.block_width[group].max(width);
                        runs.push((group, &layer[start..end], content));
                        row.push(Slot::Block(group));
                    }
                    None => row.push(Slot::Free(layer[start])),
                }
                start = end;
            }
            frame.slots.push(row);
        }
        // Centre each run in its block, now that block widths are known.
        for (group, members, content) in runs {
            let shift = (frame.block_width[group] - content) / 2.0;
            for &node in members {
                frame.offset[node] += shift;
            }
        }
        frame
    }

    /// Sets the offsets of `members` side by side from 0; returns the width.
    fn pack(&mut self, sketch: &Sketch, members: &[usize]) -> f64 {
        let mut cursor = 0.0;
        let mut previous: Option<usize> = None;
        for &node in members {
            if let Some(previous) = previous {
                cursor += gap(
                    sketch.nodes[previous].is_wide(),
                    sketch.nodes[node].is_wide(),
                );
            }
            self.offset[node] = cursor;
            cursor += sketch.nodes[node].width;
            previous = Some(node);
        }
        cursor
    }

    fn width(&self, sketch: &Sketch, slot: Slot) -> f64 {
        match slot {
            Slot::Free(node) => sketch.nodes[node].width,
            Slot::Block(group) => self.block_width[group],
        }
    }

    fn is_wide(sketch: &Sketch, slot: Slot) -> bool {
        match slot {
            Slot::Free(node) => sketch.nodes[node].is_wide(),
            Slot::Block(_) => true,
        }
    }

    fn gap(sketch: &Sketch, left: Slot, right: Slot) -> f64 {
        gap(Frame::is_wide(sketch, left), Frame::is_wide(sketch, right))
    }

    /// The left edge of a node.
    fn left(&self, sketch: &Sketch, coords: &Coords, node: usize) -> f64 {
        match sketch.nodes[node].group {
            Some(group) => coords.group_x[group] + self.offset[node],
            None => coords.x[node],
        }
    }

    fn center(&self, sketch: &Sketch, coords: &Coords, node: usize) -> f64 {
        self.left(sketch, coords, node) + sketch.nodes[node].width / 2.0
    }
}

impl Coords {
    fn get(&self, slot: Slot) -> f64 {
        match slot {
            Slot::Free(node) => self.x[node],
            Slot::Block(group) => self.group_x[group],
        }
    }

    fn set(&mut self, slot: Slot, value: f64) {
        match slot {
            Slot::Free(node) => self.x[node] = value,
            Slot::Block(group) => self.group_x[group] = value,
        }
    }
}

fn coordinates(sketch: &Sketch, frame: &Frame) -> Coords {
    let mut coords = Coords {
        x: vec![0.0; sketch.nodes.len()],
        group_x: vec![0.0; frame.block_width.len()],
    };
    separate(sketch, frame, &mut coords);
    for round in 0..BALANCE_ROUNDS {
        let pull = if round + 2 >= BALANCE_ROUNDS {
            Pull::Both
        } else if round % 2 == 0 {
            Pull::Down
        } else {
            Pull::Up
        };
        balance(sketch, frame, &mut coords, pull);
        separate(sketch, frame, &mut coords);
    }
    tighten_lanes(sketch, frame, &mut coords);
    coords
}

/// Moves each free lane as far left as it may go: right after its anchor,
/// or after the lane before it. Only the room before a lane shrinks, so
/// nothing comes to overlap.
fn tighten_lanes(sketch: &Sketch, frame: &Frame, coords: &mut Coords) {
    for row in &frame.slots {
        for pair in row.windows(2) {
            if let Slot::Free(node) = pair[1] {
                if let NodeKind::Side { .. } = sketch.nodes[node].kind {
                    let least = coords.get(pair[0])
                        + frame.width(sketch, pair[0])
                        + Frame::gap(sketch, pair[0], pair[1]);
                    coords.x[node] = coords.x[node].min(least);
                }
            }
        }
    }
}

/// Pushes slots right until no two in a layer are closer than their gap.
/// A block moved in one layer moves in all, hence the passes until nothing
/// moves; as groups keep one order in all layers, this ends within one pass
/// per slot, and the bound keeps it finite whatever happens.
fn separate(sketch: &Sketch, frame: &Frame, coords: &mut Coords) {
    let total: usize = frame.slots.iter().map(Vec::len).sum();
    for _ in 0..=total {
        let mut moved = false;
        for row in &frame.slots {
            for pair in row.windows(2) {
                let least = coords.get(pair[0])
                    + frame.width(sketch, pair[0])
                    + Frame::gap(sketch, pair[0], pair[1]);
                if coords.get(pair[1]) < least - 1e-6 {
                    coords.set(pair[1], least);
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

/// Moves each layer's slots as near as their order allows to where their
/// neighbours pull them, layer after layer in the direction of `pull`.
fn balance(sketch: &Sketch, frame: &Frame, coords: &mut Coords, pull: Pull) {
    let layers: Vec<usize> = match pull {
        Pull::Up => (0..frame.slots.len()).rev().collect(),
        Pull::Down | Pull::Both => (0..frame.slots.len()).collect(),
    };
    for layer in layers {
        let row = &frame.slots[layer];
        let mut wanted = Vec::with_capacity(row.len());
        let mut weight = Vec::with_capacity(row.len());
        let mut offset = Vec::with_capacity(row.len());
        let mut cursor = 0.0;
        for (index, &slot) in row.iter().enumerate() {
            if let Some(&previous) = index.checked_sub(1).and_then(|i| row.get(i)) {
                cursor += frame.width(sketch, previous) + Frame::gap(sketch, previous, slot);
            }
            let (x, w) = wanted_x(sketch, frame, coords, layer, slot, pull);
            wanted.push(x);
            weight.push(w);
            offset.push(cursor);
        }
        for (&slot, x) in row.iter().zip(fit(&wanted, &weight, &offset)) {
            coords.set(slot, x);
        }
    }
}

/// Where a slot's neighbours pull its left edge, and how hard: a free node
/// toward the mean of its neighbours, a block so that its nodes come
/// nearest theirs. A slot with no neighbour wants to stay.
fn wanted_x(
    sketch: &Sketch,
    frame: &Frame,
    coords: &Coords,
    layer: usize,
    slot: Slot,
    pull: Pull,
) -> (f64, f64) {
    let members: Vec<usize> = match slot {
        Slot::Free(node) => vec![node],
        Slot::Block(group) => sketch.layers[layer]
            .iter()
            .copied()
            .filter(|&node| sketch.nodes[node].group == Some(group))
            .collect(),
    };
    let mut sum = 0.0;
    let mut weight = 0.0;
    for node in members {
        let inset = frame.left(sketch, coords, node) - coords.get(slot);
        if let NodeKind::Side { anchor, .. } = sketch.nodes[node].kind {
            // A lane hugs its anchor, else a loop balloons across the
            // drawing; the fit spreads the lanes of one anchor.
            let target = frame.left(sketch, coords, anchor) + sketch.nodes[anchor].width + LANE_GAP;
            sum += (target - inset) * SIDE_PULL;
            weight += SIDE_PULL;
            continue;
        }
        let neighbours = sketch.neighbours(node, pull);
        let Some(center) = mean(neighbours.iter().map(|&n| frame.center(sketch, coords, n))) else {
            continue;
        };
        let count = neighbours.len() as f64;
        sum += (center - sketch.nodes[node].width / 2.0 - inset) * count;
        weight += count;
    }
    if weight > 0.0 {
        (sum / weight, weight)
    } else {
        (coords.get(slot), 1.0)
    }
}

/// Least squares with order: the `x` closest to `wanted` (by `weight`)
/// such that `x[i + 1] - x[i] >= offset[i + 1] - offset[i]`. With
/// `y = x - offset` this asks for a non-decreasing `y`, which pool adjacent
/// violators finds exactly.
fn fit(wanted: &[f64], weight: &[f64], offset: &[f64]) -> Vec<f64> {
    // Pools of (mean, weight, length).
    let mut pools: Vec<(f64, f64, usize)> = Vec::new();
    for ((&x, &w), &o) in wanted.iter().zip(weight).zip(offset) {
        let mut pool = (x - o, w.max(1e-9), 1);
        while let Some(&last) = pools.last() {
            if last.0 <= pool.0 {
                break;
            }
            pools.pop();
            let total = last.1 + pool.1;
            pool = (
                (last.0 * last.1 + pool.0 * pool.1) / total,
                total,
                last.2 + pool.2,
            );
        }
        pools.push(pool);
    }
    let levels = pools
        .iter()
        .flat_map(|&(level, _, length)| std::iter::repeat_n(level, length));
    levels.zip(offset).map(|(level, &o)| level + o).collect()
}

// ------------------------------------------------------------ 6. routing

/// Absolute positions of every node, and the extent of every layer.
struct Geometry {
    rects: Vec<Rect>,
    layer_top: Vec<f64>,
    layer_height: Vec<f64>,
}

impl Geometry {
    fn new(sketch: &Sketch, frame: &Frame, coords: &Coords) -> Geometry {
        let layer_height: Vec<f64> = sketch
            .layers
            .iter()
            .map(|layer| {
                layer
                    .iter()
                    .map(|&n| sketch.nodes[n].height)
                    .fold(VERTEX_HEIGHT, f64::max)
            })
            .collect();
        let mut layer_top = Vec::with_capacity(layer_height.len());
        let mut top = 0.0;
        for height in &layer_height {
            layer_top.push(top);
            top += height + LAYER_GAP;
        }
        let rects = (0..sketch.nodes.len())
            .map(|index| {
                let node = &sketch.nodes[index];
                Rect {
                    x: frame.left(sketch, coords, index),
                    y: layer_top[node.layer] + (layer_height[node.layer] - node.height) / 2.0,
                    width: node.width,
                    height: node.height,
                }
            })
            .collect();
        Geometry {
            rects,
            layer_top,
            layer_height,
        }
    }

    fn layer_bottom(&self, layer: usize) -> f64 {
        self.layer_top[layer] + self.layer_height[layer]
    }
}

/// Each group's box: its block's band, from the top of its first layer
/// (less the label strip) to the bottom of its last.
fn group_boxes(
    sketch: &Sketch,
    frame: &Frame,
    coords: &Coords,
    geometry: &Geometry,
) -> Vec<Option<Rect>> {
    (0..frame.block_width.len())
        .map(|group| {
            let layers = sketch
                .nodes
                .iter()
                .filter(|node| node.kind == NodeKind::Vertex && node.group == Some(group))
                .map(|node| node.layer);
            let (first, last) = (layers.clone().min()?, layers.max()?);
            let top = geometry.layer_top[first] - GROUP_PADDING - GROUP_LABEL_HEIGHT;
            Some(Rect {
                x: coords.group_x[group],
                y: top,
                width: frame.block_width[group],
                height: geometry.layer_bottom(last) + GROUP_PADDING - top,
            })
        })
        .collect()
}

/// Where on a vertex each edge attaches.
#[derive(Default)]
struct Ports {
    /// Bottom x of each forward edge's source, top x of its target.
    out_x: Vec<f64>,
    in_x: Vec<f64>,
    /// Per side lane, the y where it meets its anchor, and where a loop
    /// comes back.
    side_y: Vec<(f64, f64)>,
}

/// The x of port `index` of `count` spread along the middle of `rect`.
fn spread(rect: &Rect, index: usize, count: usize) -> f64 {
    let fraction = (index + 1) as f64 / (count + 1) as f64;
    rect.x + rect.width * (0.1 + 0.8 * fraction)
}

fn ports(graph: &Graph, sketch: &Sketch, geometry: &Geometry) -> Ports {
    let edge_count = sketch.chains.len();
    let mut ports = Ports {
        out_x: vec![0.0; edge_count],
        in_x: vec![0.0; edge_count],
        side_y: vec![(0.0, 0.0); sketch.nodes.len()],
    };
    let center = |node: usize| geometry.rects[node].center().x;
    // Per vertex, the edges at its bottom and its top, with the x each heads
    // for: sorted by it, ports do not cross.
    let mut bottom: Vec<Vec<(f64, usize)>> = vec![Vec::new(); sketch.nodes.len()];
    let mut top: Vec<Vec<(f64, usize)>> = vec![Vec::new(); sketch.nodes.len()];
    for (edge, (ends, chain)) in graph.edges.iter().zip(&sketch.chains).enumerate() {
        if let Chain::Forward(dummies) = chain {
            let (from, to) = (ends.from, ends.to);
            let next = dummies.first().map_or(to, |&d| d);
            let previous = dummies.last().map_or(from, |&d| d);
            bottom[from].push((center(next), edge));
            top[to].push((center(previous), edge));
        }
    }
    for (vertex, list) in bottom.iter_mut().enumerate() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (index, &(_, edge)) in list.iter().enumerate() {
            ports.out_x[edge] = spread(&geometry.rects[vertex], index, list.len());
        }
    }
    for (vertex, list) in top.iter_mut().enumerate() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (index, &(_, edge)) in list.iter().enumerate() {
            ports.in_x[edge] = spread(&geometry.rects[vertex], index, list.len());
        }
    }
    side_ports(sketch, geometry, &mut ports);
    ports
}

/// Spreads the lanes beside a vertex down its right side, a loop taking
/// two places.
fn side_ports(sketch: &Sketch, geometry: &Geometry, ports: &mut Ports) {
    for layer in &sketch.layers {
        for &anchor in layer {
            let sides: Vec<(usize, bool)> = layer
                .iter()
                .filter_map(|&n| match sketch.nodes[n].kind {
                    NodeKind::Side { anchor: a, looped } if a == anchor => Some((n, looped)),
                    _ => None,
                })
                .collect();
            let ends: usize = sides
                .iter()
                .map(|&(_, looped)| if looped { 2 } else { 1 })
                .sum();
            let rect = geometry.rects[anchor];
            let at = |index: usize| rect.y + rect.height * (index + 1) as f64 / (ends + 1) as f64;
            let mut index = 0;
            for (side, looped) in sides {
                let extra = usize::from(looped);
                ports.side_y[side] = (at(index), at(index + extra));
                index += 1 + extra;
            }
        }
    }
}

fn routes(graph: &Graph, sketch: &Sketch, geometry: &Geometry) -> Vec<EdgeRoute> {
    let ports = ports(graph, sketch, geometry);
    let rect = |node: usize| geometry.rects[node];
    let lane = |node: usize, y: f64| Point {
        x: rect(node).center().x,
        y,
    };
    let chains = graph.edges.iter().zip(&sketch.chains).enumerate();
    chains
        .map(|(index, (edge, chain))| match chain {
            Chain::Skip => EdgeRoute::default(),
            Chain::Forward(dummies) => {
                let mut points = vec![Point {
                    x: ports.out_x[index],
                    y: rect(edge.from).bottom(),
                }];
                for &dummy in dummies {
                    let layer = sketch.nodes[dummy].layer;
                    points.push(lane(dummy, geometry.layer_top[layer]));
                    points.push(lane(dummy, geometry.layer_bottom(layer)));
                }
                points.push(Point {
                    x: ports.in_x[index],
                    y: rect(edge.to).y,
                });
                EdgeRoute {
                    points,
                    label: Rect::default(),
                    back: false,
                }
            }
            Chain::Back(path) => {
                let mut points = Vec::with_capacity(2 * path.len() + 2);
                // Out of the source's right side into its lane, up through
                // the dummies, and from the target's lane into its side.
                for (step, &node) in path.iter().enumerate() {
                    let layer = sketch.nodes[node].layer;
                    if step == 0 || step + 1 == path.len() {
                        let y = ports.side_y[node].0;
                        let vertex = if step == 0 { edge.from } else { edge.to };
                        let side = Point {
                            x: rect(vertex).right(),
                            y,
                        };
                        if step == 0 {
                            points.extend([side, lane(node, y)]);
                        } else {
                            points.extend([lane(node, y), side]);
                        }
                    } else {
                        points.push(lane(node, geometry.layer_bottom(layer)));
                        points.push(lane(node, geometry.layer_top[layer]));
                    }
                }
                EdgeRoute {
                    points,
                    label: Rect::default(),
                    back: true,
                }
            }
            Chain::Loop(side) => {
                let (out_y, in_y) = ports.side_y[*side];
                let right = rect(edge.from).right();
                EdgeRoute {
                    points: vec![
                        Point { x: right, y: out_y },
                        lane(*side, out_y),
                        lane(*side, in_y),
                        Point { x: right, y: in_y },
                    ],
                    label: Rect::default(),
                    back: true,
                }
            }
        })
        .collect()
}

/// Candidate centres for a label along a path, the nearest to the middle of
/// the path first.
fn label_spots(points: &[Point]) -> Vec<Point> {
    let lengths: Vec<f64> = points
        .windows(2)
        .map(|pair| (pair[1].x - pair[0].x).hypot(pair[1].y - pair[0].y))
        .collect();
    let half = lengths.iter().sum::<f64>() / 2.0;
    let mut spots: Vec<(f64, Point)> = Vec::new();
    let mut start = 0.0;
    for (pair, length) in points.windows(2).zip(&lengths) {
        for t in LABEL_SPOTS {
            let distance = (start + t * length - half).abs();
            spots.push((distance, segment_point(pair[0], pair[1], t)));
        }
        start += length;
    }
    // A stable sort: equal distances keep the path's order.
    spots.sort_by(|a, b| a.0.total_cmp(&b.0));
    spots.into_iter().map(|(_, point)| point).collect()
}

/// Gives each edge label the spot nearest the middle of its path that
/// covers no vertex, no group label and no label placed before.
fn place_labels(graph: &Graph, drawing: &mut Layout) {
    let mut taken: Vec<Rect> = drawing.vertices.clone();
    for (group, rect) in graph.groups.iter().zip(&drawing.groups) {
        if let Some(rect) = rect {
            taken.push(Rect {
                x: rect.x,
                y: rect.y,
                width: text_width(&group.label, GROUP_CHAR_WIDTH) + 2.0 * GROUP_PADDING,
                height: GROUP_LABEL_HEIGHT,
            });
        }
    }
    for (edge, route) in graph.edges.iter().zip(&mut drawing.edges) {
        let spots = label_spots(&route.points);
        let Some(&middle) = spots.first() else {
            continue;
        };
        let width = if edge.label.is_empty() {
            0.0
        } else {
            text_width(&edge.label, SMALL_CHAR_WIDTH) + 2.0 * EDGE_LABEL_PADDING
        };
        let height = if edge.label.is_empty() {
            0.0
        } else {
            EDGE_LABEL_HEIGHT
        };
        let boxed = |at: Point| Rect {
            x: at.x - width / 2.0,
            y: at.y - height / 2.0,
            width,
            height,
        };
        let free = spots
            .iter()
            .map(|&at| boxed(at))
            .find(|candidate| !taken.iter().any(|rect| rect.overlaps(candidate)));
        route.label = free.unwrap_or_else(|| boxed(middle));
        if !route.label.is_empty() {
            taken.push(route.label);
        }
    }
}

/// Moves the drawing so that it starts at the margin, and sizes it.
fn fit_to_margin(drawing: &mut Layout) {
    let mut corners: Vec<Point> = Vec::new();
    let rects = drawing
        .vertices
        .iter()
        .chain(drawing.groups.iter().flatten())
        .chain(
            drawing
                .edges
                .iter()
                .map(|route| &route.label)
                .filter(|r| !r.is_empty()),
        );
    for rect in rects {
        corners.push(Point {
            x: rect.x,
            y: rect.y,
        });
        corners.push(Point {
            x: rect.right(),
            y: rect.bottom(),
        });
    }
    corners.extend(
        drawing
            .edges
            .iter()
            .flat_map(|route| route.points.iter().copied()),
    );
    let min_x = corners.iter().map(|p| p.x).fold(f64::INFINITY, f64::min);
    let min_y = corners.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let max_x = corners
        .iter()
        .map(|p| p.x)
        .fold(f64::NEG_INFINITY, f64::max);
    let max_y = corners
        .iter()
        .map(|p| p.y)
        .fold(f64::NEG_INFINITY, f64::max);
    if corners.is_empty() {
        drawing.width = 2.0 * MARGIN;
        drawing.height = 2.0 * MARGIN;
        return;
    }
    let (dx, dy) = (MARGIN - min_x, MARGIN - min_y);
    let shift = |rect: &mut Rect| {
        rect.x += dx;
        rect.y += dy;
    };
    drawing.vertices.iter_mut().for_each(shift);
    drawing.groups.iter_mut().flatten().for_each(shift);
    for route in &mut drawing.edges {
        shift(&mut route.label);
        for point in &mut route.points {
            point.x += dx;
            point.y += dy;
        }
    }
    drawing.width = max_x - min_x + 2.0 * MARGIN;
    drawing.height = max_y - min_y + 2.0 * MARGIN;
}

#[cfg(test)]
mod tests {
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
}
