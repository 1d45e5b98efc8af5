//! Step 4 of the layout: ordering the nodes of each layer.
//!
//! Alternating downward and upward barycenter sweeps reduce crossings. A
//! group sorts as one block, so its vertices stay adjacent, and groups keep
//! one relative order in every layer, so their boxes can never interleave.
//! The ordering with the fewest crossings wins; crossings are counted as
//! inversions with a Fenwick tree.

use super::mean;
use super::sketch::{NodeKind, Pull, Sketch};

const ORDER_SWEEPS: usize = 12;

pub(super) fn order(sketch: &mut Sketch) {
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
