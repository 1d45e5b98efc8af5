//! Step 3 of the layout: normalising, into a [`Sketch`] where every link
//! joins adjacent layers, which the later steps order and place.
//!
//! An edge that spans several layers gets a thin *dummy* node in each layer
//! it crosses, so it bends around vertices instead of running through them.
//! Back edges and self-loops get a *side lane* pinned just right of each
//! end: they leave and enter from the side and run up in their own lane,
//! visibly apart from the downward flow. A group (runtime node) that has no
//! vertex in a layer it spans gets a zero-width *filler* there, so that its
//! box keeps its band in every layer.

use std::collections::BTreeSet;

use super::{is_link, text_width, vertex_size, GROUP_CHAR_WIDTH, GROUP_PADDING};
use crate::graph::model::Graph;

const DUMMY_WIDTH: f64 = 10.0;
const SIDE_WIDTH: f64 = 14.0;
const LOOP_WIDTH: f64 = 28.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum NodeKind {
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
pub(super) struct Node {
    pub(super) kind: NodeKind,
    pub(super) layer: usize,
    pub(super) group: Option<usize>,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl Node {
    /// Vertices (and group blocks) keep a wide gap; lanes may come closer.
    pub(super) fn is_wide(&self) -> bool {
        self.kind == NodeKind::Vertex
    }
}

/// The nodes an edge runs through, in the order it runs.
#[derive(Debug, Clone)]
pub(super) enum Chain {
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
pub(super) struct Sketch {
    pub(super) nodes: Vec<Node>,
    pub(super) chains: Vec<Chain>,
    /// Neighbours of each node in the layer above, and below.
    pub(super) above: Vec<Vec<usize>>,
    pub(super) below: Vec<Vec<usize>>,
    /// The nodes of each layer, left to right.
    pub(super) layers: Vec<Vec<usize>>,
    /// The narrowest block each group may have: room for its label.
    pub(super) group_min_width: Vec<f64>,
}

impl Sketch {
    pub(super) fn new(graph: &Graph, ranks: &[usize]) -> Sketch {
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
    pub(super) fn positions(&self) -> Vec<usize> {
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
    pub(super) fn neighbours(&self, node: usize, pull: Pull) -> Vec<usize> {
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
pub(super) enum Pull {
    Down,
    Up,
    Both,
}
