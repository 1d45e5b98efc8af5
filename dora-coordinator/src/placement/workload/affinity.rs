//! Which machine the next replica of a workload goes to: `Distribute`
//! and `Pack`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use dora_core::resource::Affinity;

use super::candidates::Group;
use super::cluster::Cluster;
use super::WorkloadRequest;

/// The per-workload bookkeeping of affinity, reused between workloads so
/// that a workload costs nothing per machine of the cluster.
pub(super) struct WorkloadState {
    /// Replicas of the current workload per machine position.
    count: Vec<u32>,
    touched: Vec<u32>,
    /// Distribute: the level being filled, and machines set aside by the
    /// number of replicas of the workload they hold.
    level: u32,
    aside: BTreeMap<u32, Vec<u32>>,
    /// Pack: machines that hold the workload, most replicas first, then
    /// the machine being filled.
    hosts: Vec<u32>,
    current: Option<u32>,
    /// Machines popped from the group, to be given back at the end.
    popped: Vec<u32>,
}

impl WorkloadState {
    pub(super) fn new(machines: usize) -> Self {
        WorkloadState {
            count: vec![0; machines],
            touched: Vec::new(),
            level: 0,
            aside: BTreeMap::new(),
            hosts: Vec::new(),
            current: None,
            popped: Vec::new(),
        }
    }

    pub(super) fn start(&mut self, cluster: &Cluster<'_>, request: &WorkloadRequest) {
        for &pos in &self.touched {
            self.count[pos as usize] = 0;
        }
        self.touched.clear();
        self.level = 0;
        self.aside.clear();
        self.hosts.clear();
        self.current = None;
        self.popped.clear();
        if let Some(running) = cluster.running.get(request.name.as_str()) {
            for &pos in running {
                if self.count[pos as usize] == 0 {
                    self.touched.push(pos);
                }
                self.count[pos as usize] += 1;
            }
        }
        if request.affinity == Affinity::Pack {
            // A machine that runs the workload may since have gone
            // NotReady or been made unschedulable.
            self.hosts = self
                .touched
                .iter()
                .copied()
                .filter(|&pos| {
                    let machine = cluster.machines[pos as usize];
                    machine.ready && !machine.unschedulable && machine.zone == request.zone
                })
                .collect();
            // Popped from the back: the most replicas, then the first by name, last.
            self.hosts
                .sort_unstable_by_key(|&pos| (self.count[pos as usize], Reverse(pos)));
        }
    }

    pub(super) fn distribute(&mut self, cluster: &Cluster<'_>, group: &mut Group) -> Option<u32> {
        loop {
            match group.pop(cluster) {
                Some(pos) => {
                    let count = self.count[pos as usize];
                    if count > self.level {
                        self.aside.entry(count).or_default().push(pos);
                        continue;
                    }
                    if count == 0 {
                        self.touched.push(pos);
                    }
                    self.count[pos as usize] = count + 1;
                    self.aside.entry(count + 1).or_default().push(pos);
                    return Some(pos);
                }
                None => {
                    let (level, machines) = self.aside.pop_first()?;
                    self.level = level;
                    for pos in machines {
                        group.push(cluster, pos);
                    }
                }
            }
        }
    }

    pub(super) fn pack(&mut self, cluster: &Cluster<'_>, group: &mut Group) -> Option<u32> {
        if let Some(pos) = self.current {
            if cluster.room(pos, &group.need) > 0 {
                return Some(pos);
            }
        }
        while let Some(pos) = self.hosts.pop() {
            if cluster.room(pos, &group.need) > 0 {
                self.current = Some(pos);
                return Some(pos);
            }
        }
        let pos = group.pop(cluster)?;
        self.popped.push(pos);
        self.current = Some(pos);
        Some(pos)
    }

    /// Gives the machines taken out of the group back to it.
    pub(super) fn finish(&mut self, cluster: &Cluster<'_>, group: &mut Group) {
        for (_, machines) in std::mem::take(&mut self.aside) {
            for pos in machines {
                group.push(cluster, pos);
            }
        }
        for pos in self.popped.drain(..) {
            group.push(cluster, pos);
        }
    }
}
