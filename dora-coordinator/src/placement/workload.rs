//! Where the replicas of workloads run: a pure function of the workloads,
//! the machines with their inventory and state, and what is already
//! taken, with no I/O.
//!
//! ```text
//! place(&[WorkloadRequest], &[Machine], &Taken) -> Placement
//!                                                  ├─ assignments: replica -> machine, GPU UUIDs, CPUs
//!                                                  └─ unplaced:    replica -> Unfit (why, for a person)
//! ```
//!
//! The caller records each assignment with [`Taken::take`] when its
//! container starts and gives it back with [`Taken::release`] the moment
//! the container ends; a GPU is then free for the next call.
//!
//! The rules, in the order they apply:
//!
//! 1. A replica goes to a machine of its workload's zone that is Ready and
//!    not unschedulable.
//! 2. The machine has, free, `selectors.gpu.count` GPUs whose product is
//!    accepted and `selectors.cpu.count` CPUs of an accepted model. GPUs
//!    are given by UUID, the lowest in the machine's inventory first, all
//!    of one product when one accepted product has enough. The machine
//!    ports the replica opens (its `nodePort`s) are free there: two
//!    replicas never hold one port of one machine, so a workload with
//!    ports runs at most one replica per machine.
//! 3. `Distribute` puts each replica on a machine holding the fewest
//!    replicas of its workload (counting those already running), so it
//!    never stacks while a machine without one fits. `Pack` fills the
//!    machines that already hold the workload, then the machine with room
//!    for the most replicas, before it opens another.
//! 4. Ties go to the machine with room for the most replicas, then to the
//!    first by name: the result depends on the inputs only, not on their
//!    order in memory or on hashing.
//!
//! Workloads are placed in the order given, replica by replica; what one
//! takes is gone for the next. A replica that does not fit gets the
//! reason, and the rest of its workload the same one.
//!
//! How it stays fast: machines are indexed by zone and GPU product, and
//! each distinct need (zone and selectors) keeps a heap of the machines
//! that fit it, by room. Free resources only shrink during a call, so an
//! entry whose room shrank is put back with its new room when it is
//! popped, and one with no room left is dropped for good. A replica
//! costs a few heap operations, not a scan of the machines.
//!
//! | file | step |
//! |---|---|
//! | `cluster.rs` | the machines sorted by name, indexed by zone and GPU product, and what is free on each |
//! | `candidates.rs` | per need, the machines that fit it, by room; why nothing fits |
//! | `affinity.rs` | the next machine for a replica: `Distribute`, `Pack` |
//! | `taken.rs` | what running replicas hold, taken and released per replica |
//! | `unfit.rs` | the reasons, worded for a person |

mod affinity;
mod candidates;
mod cluster;
mod taken;
mod unfit;

use std::collections::HashMap;
use std::fmt;

use dora_core::resource::{Affinity, Protocol, WorkloadSpec};
use dora_core::selector::Selectors;

use affinity::WorkloadState;
use candidates::{Group, GroupKey};
use cluster::{Cluster, Demand};

pub use taken::{TakeError, Taken};
pub use unfit::{Closest, Unfit};

/// A machine as placement sees it: its state and its inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub name: String,
    pub zone: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub cpus: u32,
    pub cpu_model: String,
    /// In the order the machine reports them (NVML's index order).
    pub gpus: Vec<Gpu>,
}

/// One GPU of a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gpu {
    pub uuid: String,
    /// The product name as NVML reports it, like `Tesla V100-SXM2-16GB`.
    pub product: String,
}

/// A port opened on a machine: its protocol and number.
pub type NodePort = (Protocol, u16);

/// Replicas of one workload to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRequest {
    /// Unique among the workloads placed together and in `Taken`: a
    /// workload's name is unique only in its zone and workspace, so
    /// qualify it, like `dc-1/lab/train`.
    pub name: String,
    pub zone: String,
    /// What each replica needs.
    pub selectors: Selectors,
    pub affinity: Affinity,
    /// The indexes of the replicas to place.
    pub replicas: Vec<u32>,
    /// The machine ports each replica opens, sorted.
    pub ports: Vec<NodePort>,
}

impl WorkloadRequest {
    /// Every replica of `spec`: indexes `0..spec.replica.count`.
    pub fn new(name: impl Into<String>, zone: impl Into<String>, spec: &WorkloadSpec) -> Self {
        WorkloadRequest {
            name: name.into(),
            zone: zone.into(),
            selectors: spec.selectors.clone(),
            affinity: spec.config.affinity,
            replicas: (0..spec.replica.count).collect(),
            ports: node_ports(spec),
        }
    }
}

/// The machine ports a replica of `spec` opens, sorted.
pub fn node_ports(spec: &WorkloadSpec) -> Vec<NodePort> {
    let mut ports: Vec<NodePort> = spec
        .network
        .ports
        .iter()
        .map(|p| (p.protocol, p.node_port))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// One replica of one workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaId {
    pub workload: String,
    pub index: u32,
}

impl ReplicaId {
    pub fn new(workload: impl Into<String>, index: u32) -> Self {
        ReplicaId {
            workload: workload.into(),
            index,
        }
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replica {} of `{}`", self.index, self.workload)
    }
}

/// Where a replica runs and what it holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub replica: ReplicaId,
    pub machine: String,
    /// The UUIDs of its GPUs.
    pub gpus: Vec<String>,
    pub cpus: u32,
    /// The machine ports it opens.
    pub ports: Vec<NodePort>,
}

/// A replica that was not placed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub replica: ReplicaId,
    pub reason: Unfit,
}

/// The outcome of [`place`]: every replica asked for is in exactly one
/// of the two lists, in the order it was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub assignments: Vec<Assignment>,
    pub unplaced: Vec<Unplaced>,
}

/// Places the replicas of `workloads` on `machines`, given what `taken`
/// holds. Machines with a name seen before, and GPUs with a UUID seen
/// before, are ignored, so that nothing is given twice.
pub fn place(workloads: &[WorkloadRequest], machines: &[Machine], taken: &Taken) -> Placement {
    let mut cluster = Cluster::new(machines, taken);
    let mut placement = Placement::default();
    let mut groups: HashMap<GroupKey<'_>, Group> = HashMap::new();
    let mut state = WorkloadState::new(cluster.machines.len());
    let mut placed: HashMap<(&str, u32), u32> = HashMap::new();
    for request in workloads {
        let need = cluster.need(&request.selectors, &request.ports);
        let key = GroupKey {
            zone: &request.zone,
            gpu: need.gpu.as_ref().map(Demand::key),
            cpu: need.cpu.as_ref().map(Demand::key),
            ports: &request.ports,
        };
        // The group is shared by needs that differ only in the order of
        // their product names; that order, the preference when GPUs are
        // taken, stays this request's.
        let group = groups
            .entry(key)
            .or_insert_with(|| Group::new(&cluster, &request.zone, need.clone()));
        state.start(&cluster, request);
        let mut reason: Option<Unfit> = None;
        for &index in &request.replicas {
            let replica = ReplicaId::new(request.name.as_str(), index);
            let already = match taken.get(&replica) {
                Some(held) => Some(held.machine.clone()),
                None => placed
                    .get(&(request.name.as_str(), index))
                    .map(|&pos| cluster.machines[pos as usize].name.clone()),
            };
            if let Some(machine) = already {
                placement.unplaced.push(Unplaced {
                    replica,
                    reason: Unfit::AlreadyPlaced { machine },
                });
                continue;
            }
            let chosen = match (&reason, request.affinity) {
                (Some(_), _) => None,
                (None, Affinity::Distribute) => state.distribute(&cluster, group),
                (None, Affinity::Pack) => state.pack(&cluster, group),
            };
            match chosen {
                Some(pos) => {
                    let (gpus, cpus) = cluster.take(pos, &need);
                    placed.insert((request.name.as_str(), index), pos);
                    placement.assignments.push(Assignment {
                        replica,
                        machine: cluster.machines[pos as usize].name.clone(),
                        gpus,
                        cpus,
                        ports: request.ports.clone(),
                    });
                }
                None => {
                    let reason = reason
                        .get_or_insert_with(|| {
                            group.unfit(&cluster, &request.zone, &request.selectors)
                        })
                        .clone();
                    placement.unplaced.push(Unplaced { replica, reason });
                }
            }
        }
        state.finish(&cluster, group);
    }
    placement
}

#[cfg(test)]
mod tests;
