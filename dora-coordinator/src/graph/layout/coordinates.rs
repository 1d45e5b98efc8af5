//! Step 5 of the layout: the x of every node.
//!
//! Each layer is packed left to right, then pulled toward the mean of its
//! neighbours by an order-keeping least-squares fit (pool adjacent
//! violators). A group moves as one block of constant width.

use super::sketch::{NodeKind, Pull, Sketch};
use super::{mean, GROUP_PADDING};

/// Between two vertices (or group blocks) of a layer.
const VERTEX_GAP: f64 = 36.0;
/// Between an edge lane and anything else.
const LANE_GAP: f64 = 18.0;
/// How much harder a lane is pulled to its anchor than a node to a neighbour.
const SIDE_PULL: f64 = 8.0;
const BALANCE_ROUNDS: usize = 10;

/// What is placed in a layer: a node alone, or the block of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Free(usize),
    Block(usize),
}

/// The fixed frame of the placement: slots per layer, block widths, and
/// where each grouped node sits in its block.
pub(super) struct Frame {
    slots: Vec<Vec<Slot>>,
    pub(super) block_width: Vec<f64>,
    /// A grouped node's left edge from its block's left edge.
    offset: Vec<f64>,
}

/// The free variables of the placement: left edges of free nodes and of
/// group blocks. A group has one for all its layers, so its box is straight.
#[derive(Debug, Clone)]
pub(super) struct Coords {
    x: Vec<f64>,
    pub(super) group_x: Vec<f64>,
}

fn gap(left_wide: bool, right_wide: bool) -> f64 {
    if left_wide && right_wide {
        VERTEX_GAP
    } else {
        LANE_GAP
    }
}

impl Frame {
    pub(super) fn new(sketch: &Sketch) -> Frame {
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
    pub(super) fn left(&self, sketch: &Sketch, coords: &Coords, node: usize) -> f64 {
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

pub(super) fn coordinates(sketch: &Sketch, frame: &Frame) -> Coords {
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
