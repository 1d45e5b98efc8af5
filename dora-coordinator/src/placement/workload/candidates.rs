//! The machines that fit one need (a zone and selectors), by room,
//! shared by every workload with that need.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use dora_core::selector::Selectors;

use super::cluster::{Accept, Cluster, Need};
use super::unfit::Unfit;

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct GroupKey<'a> {
    pub(super) zone: &'a str,
    pub(super) gpu: Option<(Accept, u32)>,
    pub(super) cpu: Option<(Accept, u32)>,
    pub(super) ports: &'a [super::NodePort],
}

/// The machines that fit one need, by room: (replicas that fit, Reverse(position)).
pub(super) struct Group {
    pub(super) need: Need,
    heap: BinaryHeap<(u32, Reverse<u32>)>,
    /// The last reason nothing fit: see `Group::unfit`.
    unfit: Option<CachedUnfit>,
}

impl Group {
    pub(super) fn new(cluster: &Cluster<'_>, zone: &str, need: Need) -> Self {
        let Some(index) = cluster.zones.get(zone) else {
            return Group {
                need,
                heap: BinaryHeap::new(),
                unfit: None,
            };
        };
        // The machines that have an accepted GPU product, or all of them.
        let mut candidates: Vec<u32> = match need.gpu.as_ref().map(|d| &d.accept) {
            Some(Accept::Only(ids)) => {
                let mut all: Vec<u32> = ids
                    .iter()
                    .filter_map(|id| index.by_product.get(id))
                    .flatten()
                    .copied()
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }
            _ => index.schedulable.clone(),
        };
        candidates.retain(|&pos| cluster.room(pos, &need) > 0);
        let heap = candidates
            .into_iter()
            .map(|pos| (cluster.room(pos, &need), Reverse(pos)))
            .collect();
        Group {
            need,
            heap,
            unfit: None,
        }
    }

    /// The machine with the most room that still has some.
    pub(super) fn pop(&mut self, cluster: &Cluster<'_>) -> Option<u32> {
        while let Some((room, Reverse(pos))) = self.heap.pop() {
            let now = cluster.room(pos, &self.need);
            if now == 0 {
                continue;
            }
            if now < room {
                self.heap.push((now, Reverse(pos)));
                continue;
            }
            return Some(pos);
        }
        None
    }

    /// Why nothing fits. Free resources only shrink during a call, so no
    /// machine can overtake the closest one unless the closest itself
    /// lost some: the reason is computed again only then, and a cluster
    /// that is full costs one scan per need, not one per workload.
    pub(super) fn unfit(
        &mut self,
        cluster: &Cluster<'_>,
        zone: &str,
        selectors: &Selectors,
    ) -> Unfit {
        // A reason about ports depends on every machine: not cached.
        if !self.need.ports.is_empty() {
            return cluster.unfit(zone, selectors, &self.need).0;
        }
        if let Some(cached) = &self.unfit {
            let still = cached
                .closest
                .is_none_or(|pos| cluster.changed[pos as usize] <= cached.at);
            if still && cached.selectors == *selectors {
                return cached.unfit.clone();
            }
        }
        let (unfit, closest) = cluster.unfit(zone, selectors, &self.need);
        self.unfit = Some(CachedUnfit {
            at: cluster.placements,
            selectors: selectors.clone(),
            closest,
            unfit: unfit.clone(),
        });
        unfit
    }

    pub(super) fn push(&mut self, cluster: &Cluster<'_>, pos: u32) {
        let room = cluster.room(pos, &self.need);
        if room > 0 {
            self.heap.push((room, Reverse(pos)));
        }
    }
}

struct CachedUnfit {
    /// `Cluster::placements` when it was computed.
    at: usize,
    /// The selectors it words.
    selectors: Selectors,
    /// The position of the closest machine.
    closest: Option<u32>,
    unfit: Unfit,
}
