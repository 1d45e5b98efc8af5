//! The machines as placement sees them during one call: sorted by name,
//! indexed by zone and GPU product, with what is still free on each.
//! Free resources only shrink while a call runs.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use dora_core::selector::{ProductName, Selector, Selectors};

use super::unfit::{self, Closest, Unfit};
use super::{Machine, NodePort, Taken};

/// Which products a selector accepts, as interned ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Accept {
    All,
    /// In the selector's order; names no machine has are left out.
    Only(Vec<u32>),
}

impl Accept {
    pub(super) fn accepts(&self, product: u32) -> bool {
        match self {
            Accept::All => true,
            Accept::Only(ids) => ids.contains(&product),
        }
    }
}

/// A selector with a count of at least one.
#[derive(Debug, Clone)]
pub(super) struct Demand {
    pub(super) accept: Accept,
    pub(super) count: u32,
}

impl Demand {
    pub(super) fn key(&self) -> (Accept, u32) {
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
pub(super) struct Need {
    pub(super) gpu: Option<Demand>,
    pub(super) cpu: Option<Demand>,
    /// The machine ports a replica opens.
    pub(super) ports: Vec<NodePort>,
}

/// The GPUs of one product on one machine that are free.
pub(super) struct ProductGpus {
    pub(super) product: u32,
    /// Indexes into the machine's `gpus`, highest first: `pop` gives the lowest.
    pub(super) free: Vec<u32>,
}

pub(super) struct ZoneIndex {
    /// Every machine of the zone, by position.
    pub(super) all: Vec<u32>,
    /// Ready and schedulable machines, by position.
    pub(super) schedulable: Vec<u32>,
    /// GPU product -> ready and schedulable machines that have one.
    pub(super) by_product: HashMap<u32, Vec<u32>>,
}

/// The machines, sorted by name, with what is free on each.
pub(super) struct Cluster<'a> {
    pub(super) machines: Vec<&'a Machine>,
    pub(super) products: HashMap<&'a str, u32>,
    pub(super) cpu_model: Vec<u32>,
    pub(super) free_cpus: Vec<u32>,
    pub(super) gpus: Vec<Vec<ProductGpus>>,
    pub(super) zones: HashMap<&'a str, ZoneIndex>,
    /// Workload -> the positions of its running replicas (one per replica).
    pub(super) running: HashMap<&'a str, Vec<u32>>,
    /// Replicas placed so far in this call.
    pub(super) placements: usize,
    /// Per machine: `placements` after the last replica placed there.
    pub(super) changed: Vec<usize>,
    /// The machine ports held, by machine position.
    pub(super) ports: HashSet<(u32, NodePort)>,
}

impl<'a> Cluster<'a> {
    pub(super) fn new(machines: &'a [Machine], taken: &'a Taken) -> Self {
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
        let mut ports = HashSet::new();
        for held in taken.iter() {
            if let Some(&pos) = position.get(held.machine.as_str()) {
                used_cpus[pos as usize] = used_cpus[pos as usize].saturating_add(held.cpus);
                ports.extend(held.ports.iter().map(|&port| (pos, port)));
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
            ports,
        }
    }

    pub(super) fn need(&self, selectors: &Selectors, ports: &[NodePort]) -> Need {
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
            ports: ports.to_vec(),
        }
    }

    /// Free GPUs and CPUs at `pos` that `need` accepts.
    pub(super) fn free(&self, pos: u32, need: &Need) -> (u32, u32) {
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

    /// How many more replicas with `need` fit at `pos`: one at most
    /// when it opens ports, and none when one of them is held there.
    pub(super) fn room(&self, pos: u32, need: &Need) -> u32 {
        let room = self.resource_room(pos, need);
        if need.ports.is_empty() {
            room
        } else if need
            .ports
            .iter()
            .any(|&port| self.ports.contains(&(pos, port)))
        {
            0
        } else {
            room.min(1)
        }
    }

    /// How many more replicas with `need` fit at `pos`, by GPUs and CPUs.
    fn resource_room(&self, pos: u32, need: &Need) -> u32 {
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
    pub(super) fn take(&mut self, pos: u32, need: &Need) -> (Vec<String>, u32) {
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
        self.ports
            .extend(need.ports.iter().map(|&port| (pos as u32, port)));
        self.placements += 1;
        self.changed[pos] = self.placements;
        (uuids, cpus)
    }

    /// Why a replica with `need` fits no machine of `zone` now, and the
    /// position of the machine that comes closest.
    pub(super) fn unfit(
        &self,
        zone: &str,
        selectors: &Selectors,
        need: &Need,
    ) -> (Unfit, Option<u32>) {
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
        if !need.ports.is_empty()
            && index
                .schedulable
                .iter()
                .any(|&pos| self.resource_room(pos, need) > 0)
        {
            let unfit = Unfit::PortsTaken {
                zone: zone.to_owned(),
                ports: unfit::ports(&need.ports),
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
