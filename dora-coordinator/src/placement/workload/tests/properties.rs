//! The invariants of placement, over random clusters and workloads: each
//! is checked against an independent, slow account of what is free.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use dora_core::resource::Protocol;
use dora_core::selector::{ProductName, Selector};

use super::super::*;

const ZONES: [&str; 2] = ["dc-1", "dc-2"];
const GPU_PRODUCTS: [&str; 3] = ["A100", "H100", "V100"];
const CPU_MODELS: [&str; 2] = ["Xeon", "EPYC"];

fn product_name(names: &'static [&'static str]) -> impl Strategy<Value = ProductName> {
    prop_oneof![
        Just(ProductName::All),
        proptest::sample::subsequence(names, 0..=names.len())
            .prop_map(|names| ProductName::AnyOf(names.iter().map(|n| (*n).to_owned()).collect())),
    ]
}

fn selector(names: &'static [&'static str], max: u32) -> impl Strategy<Value = Option<Selector>> {
    proptest::option::of(
        (product_name(names), 0..=max).prop_map(|(product_name, count)| Selector {
            product_name,
            count,
        }),
    )
}

/// Up to 8 machines named m0.., with GPU UUIDs from a small range so
/// that two machines sometimes report the same one.
fn machines() -> impl Strategy<Value = Vec<Machine>> {
    let machine = (
        0..ZONES.len(),
        proptest::bool::weighted(0.85),
        proptest::bool::weighted(0.1),
        0u32..12,
        0..CPU_MODELS.len(),
        proptest::collection::vec((0u32..40, 0..GPU_PRODUCTS.len()), 0..5),
    );
    proptest::collection::vec(machine, 0..8).prop_map(|machines| {
        machines
            .into_iter()
            .enumerate()
            .map(
                |(i, (zone, ready, unschedulable, cpus, model, gpus))| Machine {
                    name: format!("m{i}"),
                    zone: ZONES[zone].to_owned(),
                    ready,
                    unschedulable,
                    cpus,
                    cpu_model: CPU_MODELS[model].to_owned(),
                    gpus: gpus
                        .into_iter()
                        .map(|(uuid, product)| Gpu {
                            uuid: format!("GPU-{uuid}"),
                            product: GPU_PRODUCTS[product].to_owned(),
                        })
                        .collect(),
                },
            )
            .collect()
    })
}

/// Up to 6 workloads whose needs come from a pool of 3, so that needs
/// repeat, as they do in a real cluster.
fn requests() -> impl Strategy<Value = Vec<WorkloadRequest>> {
    let needs =
        proptest::collection::vec((selector(&GPU_PRODUCTS, 3), selector(&CPU_MODELS, 6)), 3);
    // Ports from a small pool, so that workloads share some.
    let ports = proptest::collection::btree_set(
        prop_oneof![
            Just((Protocol::Tcp, 80)),
            Just((Protocol::Tcp, 443)),
            Just((Protocol::Udp, 80))
        ],
        0..2,
    );
    let request = (
        0..ZONES.len(),
        0usize..3,
        prop_oneof![Just(Affinity::Distribute), Just(Affinity::Pack)],
        0u32..7,
        proptest::option::weighted(0.3, ports),
    );
    (needs, proptest::collection::vec(request, 0..6)).prop_map(|(needs, requests)| {
        requests
            .into_iter()
            .enumerate()
            .map(|(i, (zone, need, affinity, replicas, ports))| {
                let (gpu, cpu) = needs[need].clone();
                WorkloadRequest {
                    name: format!("w{i}"),
                    zone: ZONES[zone].to_owned(),
                    selectors: Selectors { cpu, gpu },
                    affinity,
                    replicas: (0..replicas).collect(),
                    ports: ports.unwrap_or_default().into_iter().collect(),
                }
            })
            .collect()
    })
}

/// A cluster with some replicas of the workloads already running: the
/// first `running` replicas of each request placed beforehand, after
/// which some machines may have gone NotReady or been made unschedulable.
fn scenario() -> impl Strategy<Value = (Vec<Machine>, Vec<WorkloadRequest>, Taken)> {
    let changes = proptest::collection::vec(0u8..6, 8);
    (machines(), requests(), 0u32..3, changes).prop_map(
        |(mut machines, mut requests, running, changes)| {
            let mut taken = Taken::new();
            let first: Vec<WorkloadRequest> = requests
                .iter()
                .map(|r| WorkloadRequest {
                    replicas: r
                        .replicas
                        .iter()
                        .copied()
                        .filter(|&i| i < running)
                        .collect(),
                    ..r.clone()
                })
                .collect();
            for assignment in place(&first, &machines, &taken).assignments {
                taken
                    .take(assignment)
                    .expect("placement gives nothing twice");
            }
            for request in &mut requests {
                request.replicas.retain(|&i| i >= running);
            }
            for (machine, change) in machines.iter_mut().zip(changes) {
                match change {
                    0 => machine.ready = false,
                    1 => machine.unschedulable = true,
                    _ => {}
                }
            }
            (machines, requests, taken)
        },
    )
}

/// What is free, counted the slow way: machines by name (the first of a
/// name), GPUs by UUID (the first machine in name order to report one).
struct Ledger<'a> {
    machines: BTreeMap<&'a str, &'a Machine>,
    gpu_home: BTreeMap<&'a str, (&'a str, &'a str)>,
    held: BTreeSet<String>,
    cpus: BTreeMap<&'a str, u32>,
    replicas: BTreeMap<(&'a str, String), u32>,
    ports: BTreeSet<(&'a str, NodePort)>,
}

impl<'a> Ledger<'a> {
    fn new(machines: &'a [Machine], taken: &Taken) -> Self {
        let mut by_name = BTreeMap::new();
        for machine in machines {
            by_name.entry(machine.name.as_str()).or_insert(machine);
        }
        let mut gpu_home = BTreeMap::new();
        for machine in by_name.values() {
            for gpu in &machine.gpus {
                gpu_home
                    .entry(gpu.uuid.as_str())
                    .or_insert((machine.name.as_str(), gpu.product.as_str()));
            }
        }
        let mut ledger = Ledger {
            machines: by_name,
            gpu_home,
            held: BTreeSet::new(),
            cpus: BTreeMap::new(),
            replicas: BTreeMap::new(),
            ports: BTreeSet::new(),
        };
        for held in taken.iter() {
            ledger.record(held);
        }
        ledger
    }

    fn record(&mut self, assignment: &Assignment) {
        self.held.extend(assignment.gpus.iter().cloned());
        if let Some((&name, _)) = self.machines.get_key_value(assignment.machine.as_str()) {
            *self.cpus.entry(name).or_default() += assignment.cpus;
            *self
                .replicas
                .entry((name, assignment.replica.workload.clone()))
                .or_default() += 1;
            self.ports
                .extend(assignment.ports.iter().map(|&port| (name, port)));
        }
    }

    fn free_gpus(&self, machine: &Machine, accept: &ProductName) -> usize {
        self.gpu_home
            .iter()
            .filter(|(uuid, (home, product))| {
                *home == machine.name && !self.held.contains(**uuid) && accept.accepts(product)
            })
            .count()
    }

    fn free_cpus(&self, machine: &Machine) -> u32 {
        machine
            .cpus
            .saturating_sub(self.cpus.get(machine.name.as_str()).copied().unwrap_or(0))
    }

    /// Whether one more replica of `request` fits on `machine` now.
    fn fits(&self, machine: &Machine, request: &WorkloadRequest) -> bool {
        if !machine.ready || machine.unschedulable || machine.zone != request.zone {
            return false;
        }
        if request
            .ports
            .iter()
            .any(|&port| self.ports.contains(&(machine.name.as_str(), port)))
        {
            return false;
        }
        if let Some(gpu) = request.selectors.gpu.as_ref() {
            if self.free_gpus(machine, &gpu.product_name) < gpu.count as usize {
                return false;
            }
        }
        if let Some(cpu) = request.selectors.cpu.as_ref() {
            let free = if cpu.product_name.accepts(&machine.cpu_model) {
                self.free_cpus(machine)
            } else {
                0
            };
            if free < cpu.count {
                return false;
            }
        }
        true
    }

    fn count(&self, machine: &str, workload: &str) -> u32 {
        self.replicas
            .get(&(machine, workload.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No GPU is given twice, counts are met exactly, nothing lands on a
    /// NotReady or unschedulable machine or outside its zone, and
    /// Distribute never stacks while a machine without a replica fits.
    #[test]
    fn every_assignment_fits_what_was_free((machines, requests, taken) in scenario()) {
        let placed = place(&requests, &machines, &taken);
        let by_name: BTreeMap<&str, &WorkloadRequest> =
            requests.iter().map(|r| (r.name.as_str(), r)).collect();
        let mut ledger = Ledger::new(&machines, &taken);
        for assignment in &placed.assignments {
            let request = by_name[assignment.replica.workload.as_str()];
            let machine = ledger.machines[assignment.machine.as_str()];
            prop_assert!(ledger.fits(machine, request), "{assignment:?} does not fit {machine:?}");
            let gpus = request.selectors.gpu.as_ref().map_or(0, |s| s.count as usize);
            prop_assert_eq!(assignment.gpus.len(), gpus);
            prop_assert_eq!(assignment.cpus, request.selectors.cpu.as_ref().map_or(0, |s| s.count));
            for uuid in &assignment.gpus {
                prop_assert!(!ledger.held.contains(uuid), "{uuid} given twice");
                let home = ledger.gpu_home.get(uuid.as_str()).copied();
                prop_assert_eq!(home.map(|(m, _)| m), Some(machine.name.as_str()));
                let product = home.map_or("", |(_, p)| p);
                let accepted = request.selectors.gpu.as_ref().is_some_and(|s| s.product_name.accepts(product));
                prop_assert!(accepted, "{uuid} is a {product}");
            }
            let distinct: BTreeSet<&String> = assignment.gpus.iter().collect();
            prop_assert_eq!(distinct.len(), assignment.gpus.len());
            prop_assert_eq!(&assignment.ports, &request.ports);
            for port in &assignment.ports {
                prop_assert!(
                    !ledger.ports.contains(&(machine.name.as_str(), *port)),
                    "port {port:?} of {} given twice", machine.name
                );
            }
            if request.affinity == Affinity::Distribute {
                let here = ledger.count(&machine.name, &request.name);
                for other in ledger.machines.values() {
                    prop_assert!(
                        !(ledger.count(&other.name, &request.name) < here && ledger.fits(other, request)),
                        "{} stacked on {} ({here} there) while {} fits", assignment.replica, machine.name, other.name
                    );
                }
            }
            ledger.record(assignment);
        }
        // Free resources only shrink: what did not fit then fits nowhere now.
        for unplaced in &placed.unplaced {
            if let Unfit::AlreadyPlaced { .. } = unplaced.reason {
                continue;
            }
            let request = by_name[unplaced.replica.workload.as_str()];
            for machine in ledger.machines.values() {
                prop_assert!(!ledger.fits(machine, request), "{} was refused ({}) but fits {}", unplaced.replica, unplaced.reason, machine.name);
            }
        }
    }

    /// Each reason is the one a fresh look at the cluster gives at that
    /// point, however it was found.
    #[test]
    fn each_reason_is_true_when_it_is_given((machines, requests, taken) in scenario()) {
        let placed = place(&requests, &machines, &taken);
        let assignments: BTreeMap<&ReplicaId, &Assignment> =
            placed.assignments.iter().map(|a| (&a.replica, a)).collect();
        let refusals: BTreeMap<&ReplicaId, &Unfit> =
            placed.unplaced.iter().map(|u| (&u.replica, &u.reason)).collect();
        let mut now = taken.clone();
        for request in &requests {
            for &index in &request.replicas {
                let replica = ReplicaId::new(request.name.as_str(), index);
                if let Some(assignment) = assignments.get(&replica) {
                    now.take((*assignment).clone()).expect("given once");
                    continue;
                }
                let reason = refusals[&replica];
                if let Unfit::AlreadyPlaced { .. } = reason {
                    continue;
                }
                // The same replica alone, under another name so that
                // nothing of it runs yet.
                let alone = WorkloadRequest {
                    name: format!("{}-alone", request.name),
                    replicas: vec![0],
                    ..request.clone()
                };
                let fresh = place(&[alone], &machines, &now);
                prop_assert!(fresh.assignments.is_empty(), "{replica} was refused but fits: {fresh:?}");
                prop_assert_eq!(&fresh.unplaced[0].reason, reason);
            }
        }
    }

    /// Every replica asked for is either placed or refused, once, in order.
    #[test]
    fn every_replica_is_answered_once((machines, requests, taken) in scenario()) {
        let placed = place(&requests, &machines, &taken);
        let asked: Vec<ReplicaId> = requests
            .iter()
            .flat_map(|r| r.replicas.iter().map(|&i| ReplicaId::new(r.name.as_str(), i)))
            .collect();
        let placed_ids: Vec<&ReplicaId> = placed.assignments.iter().map(|a| &a.replica).collect();
        let refused_ids: Vec<&ReplicaId> = placed.unplaced.iter().map(|u| &u.replica).collect();
        prop_assert_eq!(placed_ids.len() + refused_ids.len(), asked.len());
        let in_order = |ids: &[&ReplicaId]| ids.windows(2).all(|w| {
            let at = |id: &ReplicaId| asked.iter().position(|a| a == id);
            at(w[0]) < at(w[1])
        });
        prop_assert!(in_order(&placed_ids) && in_order(&refused_ids));
        let mut all: Vec<&ReplicaId> = placed_ids.iter().chain(&refused_ids).copied().collect();
        all.sort();
        let mut expected: Vec<&ReplicaId> = asked.iter().collect();
        expected.sort();
        prop_assert_eq!(all, expected);
        for unplaced in &placed.unplaced {
            prop_assert!(!unplaced.reason.to_string().is_empty());
        }
    }

    /// The same inputs, in any order of machines, give the same result.
    #[test]
    fn the_result_is_deterministic((machines, requests, taken) in scenario()) {
        let placed = place(&requests, &machines, &taken);
        prop_assert_eq!(&place(&requests, &machines, &taken), &placed);
        let mut reversed = machines.clone();
        reversed.reverse();
        prop_assert_eq!(&place(&requests, &reversed, &taken), &placed);
    }

    /// Alone on a cluster, Pack places as many replicas as Distribute on
    /// no more machines.
    #[test]
    fn pack_uses_no_more_machines_than_distribute(machines in machines(), requests in requests()) {
        let Some(request) = requests.into_iter().next() else { return Ok(()) };
        let with = |affinity| {
            let request = WorkloadRequest { affinity, ..request.clone() };
            let placed = place(&[request], &machines, &Taken::new());
            let used: BTreeSet<String> = placed.assignments.iter().map(|a| a.machine.clone()).collect();
            (placed.assignments.len(), used.len())
        };
        let (packed, pack_machines) = with(Affinity::Pack);
        let (spread, spread_machines) = with(Affinity::Distribute);
        prop_assert_eq!(packed, spread);
        prop_assert!(pack_machines <= spread_machines);
    }
}
