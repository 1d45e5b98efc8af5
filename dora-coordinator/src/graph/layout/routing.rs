//! Step 6 of the layout: routing the edges, and the final geometry.
//!
//! Nodes get their absolute boxes and groups theirs. Edges leave from the
//! bottom and enter at the top, at ports spread along the side, bending at
//! their dummies. A label takes the spot nearest the middle of its path that
//! covers no vertex and no other label. Last, the drawing is moved to start
//! at the margin, and sized.

use super::coordinates::{Coords, Frame};
use super::sketch::{Chain, NodeKind, Sketch};
use super::{
    segment_point, text_width, EdgeRoute, Layout, Point, Rect, GROUP_CHAR_WIDTH,
    GROUP_LABEL_HEIGHT, GROUP_PADDING, SMALL_CHAR_WIDTH, VERTEX_HEIGHT,
};
use crate::graph::model::Graph;

/// Room between layers for edges, their labels and the group headers.
const LAYER_GAP: f64 = 84.0;
const EDGE_LABEL_HEIGHT: f64 = 16.0;
const EDGE_LABEL_PADDING: f64 = 5.0;
const MARGIN: f64 = 24.0;
/// Where along each segment of a path a label may go, best first.
const LABEL_SPOTS: [f64; 5] = [0.5, 0.3, 0.7, 0.15, 0.85];

/// Absolute positions of every node, and the extent of every layer.
pub(super) struct Geometry {
    pub(super) rects: Vec<Rect>,
    layer_top: Vec<f64>,
    layer_height: Vec<f64>,
}

impl Geometry {
    pub(super) fn new(sketch: &Sketch, frame: &Frame, coords: &Coords) -> Geometry {
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
pub(super) fn group_boxes(
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

pub(super) fn routes(graph: &Graph, sketch: &Sketch, geometry: &Geometry) -> Vec<EdgeRoute> {
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
pub(super) fn place_labels(graph: &Graph, drawing: &mut Layout) {
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
pub(super) fn fit_to_margin(drawing: &mut Layout) {
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
