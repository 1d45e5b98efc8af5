//! Steps 1 and 2 of the layout: breaking cycles, then layering.
//!
//! Dataflows may hold feedback loops. A depth-first search, started from the
//! sources, marks each edge that closes a cycle. Those *back edges* are
//! reversed for ranking only: they are still drawn pointing the way the data
//! goes.
//!
//! A vertex sits one layer below its lowest predecessor (the longest path
//! from the sources). A source then moves down to just above its highest
//! successor, so a timer sits next to the node it drives.

use std::collections::{BTreeSet, VecDeque};

use super::is_link;
use crate::graph::model::Graph;

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    New,
    Active,
    Done,
}

/// Marks the edges that close a cycle in a depth-first search. Sources are
/// searched first, so that the edges marked are the ones that feed back,
/// not the ones that feed forward into a loop.
pub(super) fn back_edges(graph: &Graph) -> Vec<bool> {
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

/// The layer of each vertex: the longest path from the sources, with the
/// back edges reversed, then sources moved down next to their successors.
pub(super) fn ranks(graph: &Graph, back: &[bool]) -> Vec<usize> {
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
