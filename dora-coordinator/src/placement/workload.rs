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
//!    of one product when one accepted product has enough.
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

mod taken;
mod unfit;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt;

use dora_core::resource::{Affinity, WorkloadSpec};
use dora_core::selector::{ProductName, Selector, Selectors};

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
        }
    }
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
        let need = cluster.need(&request.selectors);
        let key = GroupKey {
            zone: &request.zone,
            gpu: need.gpu.as_ref().map(Demand::key),
            cpu: need.cpu.as_ref().map(Demand::key),
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

/// Which products a selector accepts, as interned ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Accept {
    All,
    /// In the selector's order; names no machine has are left out.
    Only(Vec<u32>),
}

impl Accept {
    fn accepts(&self, product: u32) -> bool {
        match self {
            Accept::All => true,
            Accept::Only(ids) => ids.contains(&product),
        }
    }
}

/// A selector with a count of at least one.
#[derive(Debug, Clone)]
struct Demand {
    accept: Accept,
    count: u32,
}

impl Demand {
    fn key(&self) -> (Accept, u32) {
        let accept = match &self.accept {
            Accept::All => Accept::All,
            Accept::Only(ids) => {
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                Accept::Only(ids)
            }
        };
        (accept, self.count)
    }
}

/// What one replica needs, resolved against the cluster's products.
#[derive(Debug, Clone)]
struct Need {
    gpu: Option<Demand>,
    cpu: Option<Demand>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct GroupKey<'a> {
    zone: &'a str,
    gpu: Option<(Accept, u32)>,
    cpu: Option<(Accept, u32)>,
}

/// The machines that fit one need, by room: (replicas that fit, Reverse(position)).
struct Group {
    need: Need,
    heap: BinaryHeap<(u32, Reverse<u32>)>,
    /// The last reason nothing fit: see `Group::unfit`.
    unfit: Option<CachedUnfit>,
}

impl Group {
    fn new(cluster: &Cluster<'_>, zone: &str, need: Need) -> Self {
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
    fn pop(&mut self, cluster: &Cluster<'_>) -> Option<u32> {
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
    fn unfit(&mut self, cluster: &Cluster<'_>, zone: &str, selectors: &Selectors) -> Unfit {
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

    fn push(&mut self, cluster: &Cluster<'_>, pos: u32) {
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

/// The per-workload bookkeeping of affinity, reused between workloads so
/// that a workload costs nothing per machine of the cluster.
struct WorkloadState {
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
    fn new(machines: usize) -> Self {
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

    fn start(&mut self, cluster: &Cluster<'_>, request: &WorkloadRequest) {
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

    fn distribute(&mut self, cluster: &Cluster<'_>, group: &mut Group) -> Option<u32> {
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

    fn pack(&mut self, cluster: &Cluster<'_>, group: &mut Group) -> Option<u32> {
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
    fn finish(&mut self, cluster: &Cluster<'_>, group: &mut Group) {
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

/// The GPUs of one product on one machine that are free.
struct ProductGpus {
    product: u32,
    /// Indexes into the machine's `gpus`, highest first: `pop` gives the lowest.
    free: Vec<u32>,
}

struct ZoneIndex {
    /// Every machine of the zone, by position.
    all: Vec<u32>,
    /// Ready and schedulable machines, by position.
    schedulable: Vec<u32>,
    /// GPU product -> ready and schedulable machines that have one.
    by_product: HashMap<u32, Vec<u32>>,
}

/// The machines, sorted by name, with what is free on each.
struct Cluster<'a> {
    machines: Vec<&'a Machine>,
    products: HashMap<&'a str, u32>,
    cpu_model: Vec<u32>,
    free_cpus: Vec<u32>,
    gpus: Vec<Vec<ProductGpus>>,
    zones: HashMap<&'a str, ZoneIndex>,
    /// Workload -> the positions of its running replicas (one per replica).
    running: HashMap<&'a str, Vec<u32>>,
    /// Replicas placed so far in this call.
    placements: usize,
    /// Per machine: `placements` after the last replica placed there.
    changed: Vec<usize>,
}

impl<'a> Cluster<'a> {
    fn new(machines: &'a [Machine], taken: &'a Taken) -> Self {
        let mut sorted: Vec<&Machine> = machines.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.dedup_by(|b, a| a.name == b.name);
        let position: HashMap<&str, u32> = sorted
            .iter()
            .enumerate()
            .map(|(pos, m)| (m.name.as_str(), pos as u32))
            .collect();

        let mut used_cpus = vec![0u32; sorted.len()];
        let mut running: HashMap<&str, Vec<u32>> = HashMap::new();
        for held in taken.iter() {
            if let Some(&pos) = position.get(held.machine.as_str()) {
                used_cpus[pos as usize] = used_cpus[pos as usize].saturating_add(held.cpus);
                running
                    .entry(held.replica.workload.as_str())
                    .or_default()
                    .push(pos);
            }
        }

        let mut products: HashMap<&str, u32> = HashMap::new();
        let mut intern = |name: &'a str| {
            let next = products.len() as u32;
            *products.entry(name).or_insert(next)
        };
        let mut seen_gpus: HashSet<&str> =
            HashSet::with_capacity(sorted.iter().map(|m| m.gpus.len()).sum());
        // A machine's GPUs are usually all of one product: look it up once.
        let mut last_product: Option<(&str, u32)> = None;
        let mut cpu_model = Vec::with_capacity(sorted.len());
        let mut free_cpus = Vec::with_capacity(sorted.len());
        let mut gpus = Vec::with_capacity(sorted.len());
        let mut zones: HashMap<&str, ZoneIndex> = HashMap::new();
        for (pos, machine) in sorted.iter().enumerate() {
            cpu_model.push(intern(&machine.cpu_model));
            free_cpus.push(machine.cpus.saturating_sub(used_cpus[pos]));
            // Products in the order of their first GPU in the inventory.
            let mut by_product: Vec<ProductGpus> = Vec::new();
            for (i, gpu) in machine.gpus.iter().enumerate() {
                // Only the first report of a UUID counts, on this machine
                // or an earlier one by name: a GPU is never given twice.
                if !seen_gpus.insert(&gpu.uuid) || taken.holder_of(&gpu.uuid).is_some() {
                    continue;
                }
                let product = match last_product {
                    Some((name, id)) if name == gpu.product => id,
                    _ => {
                        let id = intern(&gpu.product);
                        last_product = Some((&gpu.product, id));
                        id
                    }
                };
                match by_product.iter_mut().find(|p| p.product == product) {
                    Some(p) => p.free.push(i as u32),
                    None => by_product.push(ProductGpus {
                        product,
                        free: vec![i as u32],
                    }),
                }
            }
            for p in &mut by_product {
                p.free.reverse();
            }
            let zone = zones.entry(&machine.zone).or_insert_with(|| ZoneIndex {
                all: Vec::new(),
                schedulable: Vec::new(),
                by_product: HashMap::new(),
            });
            zone.all.push(pos as u32);
            if machine.ready && !machine.unschedulable {
                zone.schedulable.push(pos as u32);
                for p in &by_product {
                    zone.by_product
                        .entry(p.product)
                        .or_default()
                        .push(pos as u32);
                }
            }
            gpus.push(by_product);
        }
        Cluster {
            changed: vec![0; sorted.len()],
            machines: sorted,
            products,
            cpu_model,
            free_cpus,
            gpus,
            zones,
            running,
            placements: 0,
        }
    }

    fn need(&self, selectors: &Selectors) -> Need {
        let demand = |selector: &Option<Selector>| {
            let selector = selector.as_ref().filter(|s| s.count > 0)?;
            let accept = match &selector.product_name {
                ProductName::All => Accept::All,
                ProductName::AnyOf(names) => Accept::Only(
                    names
                        .iter()
                        .filter_map(|n| self.products.get(n.as_str()).copied())
                        .collect(),
                ),
            };
            Some(Demand {
                accept,
                count: selector.count,
            })
        };
        Need {
            gpu: demand(&selectors.gpu),
            cpu: demand(&selectors.cpu),
        }
    }

    /// Free GPUs and CPUs at `pos` that `need` accepts.
    fn free(&self, pos: u32, need: &Need) -> (u32, u32) {
        let pos = pos as usize;
        let gpus = match &need.gpu {
            Some(demand) => self.gpus[pos]
                .iter()
                .filter(|p| demand.accept.accepts(p.product))
                .map(|p| p.free.len() as u32)
                .sum(),
            None => 0,
        };
        let cpus = match &need.cpu {
            Some(demand) if demand.accept.accepts(self.cpu_model[pos]) => self.free_cpus[pos],
            _ => 0,
        };
        (gpus, cpus)
    }

    /// How many more replicas with `need` fit at `pos`.
    fn room(&self, pos: u32, need: &Need) -> u32 {
        let (gpus, cpus) = self.free(pos, need);
        let mut room = u32::MAX;
        if let Some(demand) = &need.gpu {
            room = room.min(gpus / demand.count);
        }
        if let Some(demand) = &need.cpu {
            room = room.min(cpus / demand.count);
        }
        room
    }

    /// Takes what one replica with `need` holds at `pos`, which has room:
    /// its GPU UUIDs and its CPU count.
    fn take(&mut self, pos: u32, need: &Need) -> (Vec<String>, u32) {
        let pos = pos as usize;
        let mut uuids = Vec::new();
        if let Some(demand) = &need.gpu {
            let machine = self.machines[pos];
            let products = &mut self.gpus[pos];
            let mut order: Vec<usize> = match &demand.accept {
                Accept::All => (0..products.len()).collect(),
                Accept::Only(ids) => ids
                    .iter()
                    .filter_map(|id| products.iter().position(|p| p.product == *id))
                    .collect(),
            };
            order.dedup();
            let whole = order
                .iter()
                .copied()
                .find(|&i| products[i].free.len() as u32 >= demand.count);
            if let Some(i) = whole {
                order = vec![i];
            }
            uuids.reserve(demand.count as usize);
            'take: for i in order {
                while let Some(gpu) = products[i].free.pop() {
                    uuids.push(machine.gpus[gpu as usize].uuid.clone());
                    if uuids.len() as u32 == demand.count {
                        break 'take;
                    }
                }
            }
        }
        let cpus = need.cpu.as_ref().map_or(0, |d| d.count);
        self.free_cpus[pos] = self.free_cpus[pos].saturating_sub(cpus);
        self.placements += 1;
        self.changed[pos] = self.placements;
        (uuids, cpus)
    }

    /// Why a replica with `need` fits no machine of `zone` now, and the
    /// position of the machine that comes closest.
    fn unfit(&self, zone: &str, selectors: &Selectors, need: &Need) -> (Unfit, Option<u32>) {
        let Some(index) = self.zones.get(zone) else {
            let unfit = Unfit::NoMachineInZone {
                zone: zone.to_owned(),
            };
            return (unfit, None);
        };
        if index.schedulable.is_empty() {
            let not_ready = index
                .all
                .iter()
                .filter(|&&pos| !self.machines[pos as usize].ready)
                .count();
            let unfit = Unfit::NoReadyMachine {
                zone: zone.to_owned(),
                not_ready,
                unschedulable: index.all.len() - not_ready,
            };
            return (unfit, None);
        }
        let closest = index
            .schedulable
            .iter()
            .map(|&pos| (self.free(pos, need), pos))
            .filter(|&((gpus, cpus), _)| gpus > 0 || cpus > 0)
            .max_by_key(|&((gpus, cpus), pos)| {
                // The machine least short of what it lacks most, then of
                // both: 2 of 2 GPUs and 6 of 8 CPUs is closer than 1 of 2
                // GPUs and 8 of 8 CPUs.
                let share = |demand: &Option<Demand>, free: u32| {
                    demand
                        .as_ref()
                        .map(|d| u64::from(free.min(d.count)) * 1024 / u64::from(d.count))
                };
                let shares = [share(&need.gpu, gpus), share(&need.cpu, cpus)];
                let least = shares.iter().flatten().min().copied();
                let sum: u64 = shares.iter().flatten().sum();
                (least, sum, Reverse(pos))
            })
            .map(|((gpus, cpus), pos)| {
                let closest = Closest {
                    machine: self.machines[pos as usize].name.clone(),
                    gpus: need.gpu.as_ref().map(|_| gpus),
                    cpus: need.cpu.as_ref().map(|_| cpus),
                };
                (closest, pos)
            });
        let unfit = Unfit::NotEnoughFree {
            zone: zone.to_owned(),
            need: unfit::need(selectors),
            ready: index.schedulable.len(),
            others: index.all.len() - index.schedulable.len(),
            closest: closest.as_ref().map(|(c, _)| c.clone()),
        };
        (unfit, closest.map(|(_, pos)| pos))
    }
}

#[cfg(test)]
mod tests;
