//! Where a dataflow's nodes run: a pure function of the dataflow and the
//! machines of its zone, with no I/O, so that every rule is tested on its
//! own.
//!
//! Each node is placed on its own:
//! - `deploy.machine` is exact, `deploy.zone` must be the dataflow's, and
//!   `deploy.selectors` need a machine with the devices asked for (GPUs
//!   already given to other nodes of the dataflow are not free);
//! - a node with no such constraint goes where the nodes it talks to are,
//!   since an edge within a machine is several times faster than one
//!   between machines; nodes are taken most-connected first, so that a
//!   chain follows its pinned ends;
//! - between equals, the least loaded machine (fewest nodes running
//!   there, this dataflow's included), then the first by name, so the
//!   choice is deterministic.
//!
//! A dataflow whose nodes print or log into the dataflow (the log relay)
//! stays on one machine, since the relay works within one.
//!
//! The replicas of workloads are placed by [`workload::place`], over the
//! machines of every zone and the GPUs each one holds by UUID.

pub mod listen;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};

use dora_core::descriptor::{Dataflow, InputSource};
use dora_core::selector::Selector;

/// What placement needs to know of a machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub name: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub cpus: u32,
    pub cpu_model: String,
    /// The product name of each GPU.
    pub gpus: Vec<String>,
    /// Nodes of other dataflows running there.
    pub load: usize,
    /// Where its nodes take links from other machines.
    pub links: Option<dora_core::protocol::cluster::NodeLinks>,
}

/// Where each node of a dataflow goes, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Per node id: the machine it runs on.
    pub machines: BTreeMap<String, String>,
    /// Per node id: why this machine.
    pub reasons: BTreeMap<String, String>,
}

impl Placement {
    /// The machines the dataflow runs on, by name.
    pub fn used(&self) -> BTreeSet<&str> {
        self.machines.values().map(String::as_str).collect()
    }
}

/// Places each node of `dataflow`, which runs in `zone`, on one of
/// `machines` (those of the zone); or says, per node that cannot be
/// placed, why.
pub fn place(
    dataflow: &Dataflow,
    zone: &str,
    machines: &[Machine],
) -> Result<Placement, Vec<String>> {
    let fits = fits(dataflow, zone, machines)?;
    let together = dora_core::relay::needed(dataflow);
    let fits = if together {
        let common: Vec<usize> = (0..machines.len())
            .filter(|i| fits.iter().all(|f| f.contains(i)))
            .collect();
        if common.is_empty() {
            let each: Vec<String> = dataflow
                .nodes
                .iter()
                .zip(&fits)
                .map(|(node, fit)| {
                    let on: Vec<&str> = fit.iter().map(|&i| machines[i].name.as_str()).collect();
                    format!("`{}` fits on {}", node.id, on.join(", "))
                })
                .collect();
            return Err(vec![format!(
                "the dataflow sends what nodes print or log as data (`dora/logs`, `send_stdout_as`, `send_logs_as`), which works within one machine, and no one machine fits every node: {}",
                each.join("; ")
            )]);
        }
        vec![common; fits.len()]
    } else {
        fits
    };
    let neighbours = neighbours(dataflow);
    let mut load: Vec<usize> = machines.iter().map(|m| m.load).collect();
    let mut gpus_taken = vec![0u32; machines.len()];
    let mut on: Vec<Option<usize>> = vec![None; dataflow.nodes.len()];
    let mut reasons = BTreeMap::new();
    // Pinned nodes first (one machine fits), then by how many placed
    // neighbours a node has, then by how many it has at all.
    while let Some(index) = (0..dataflow.nodes.len())
        .filter(|&i| on[i].is_none())
        .max_by_key(|&i| {
            let placed = neighbours[i].iter().filter(|&&n| on[n].is_some()).count();
            (
                fits[i].len() == 1,
                placed,
                neighbours[i].len(),
                std::cmp::Reverse(i),
            )
        })
    {
        let node = &dataflow.nodes[index];
        let wants_gpus = node.deploy.selectors.gpu.as_ref().map_or(0, |g| g.count);
        let free: Vec<usize> = fits[index]
            .iter()
            .copied()
            .filter(|&m| {
                wants_gpus == 0
                    || free_gpus(
                        &machines[m],
                        node.deploy.selectors.gpu.as_ref(),
                        gpus_taken[m],
                    ) >= wants_gpus
            })
            .collect();
        let Some(&chosen) = free.iter().max_by(|&&a, &&b| {
            let near = |m: usize| {
                neighbours[index]
                    .iter()
                    .filter(|&&n| on[n] == Some(m))
                    .count()
            };
            (
                near(a),
                std::cmp::Reverse(load[a]),
                std::cmp::Reverse(&machines[a].name),
            )
                .cmp(&(
                    near(b),
                    std::cmp::Reverse(load[b]),
                    std::cmp::Reverse(&machines[b].name),
                ))
        }) else {
            let names: Vec<&str> = fits[index]
                .iter()
                .map(|&m| machines[m].name.as_str())
                .collect();
            return Err(vec![format!(
                "node `{}` asks for {}, and the machines that have them ({}) have no more free: other nodes of the dataflow took them",
                node.id,
                devices(node.deploy.selectors.gpu.as_ref().expect("asks for GPUs"), "GPU"),
                names.join(", ")
            )]);
        };
        let near: Vec<String> = neighbours[index]
            .iter()
            .filter(|&&n| on[n] == Some(chosen))
            .map(|&n| format!("`{}`", dataflow.nodes[n].id))
            .collect();
        let deploy = &node.deploy;
        let why = if deploy.machine.is_some() {
            "its deploy.machine".to_owned()
        } else if let Some(gpu) = &deploy.selectors.gpu {
            format!(
                "it asks for {}, which this machine has free",
                devices(gpu, "GPU")
            )
        } else if let Some(cpu) = &deploy.selectors.cpu {
            format!(
                "it asks for {}, which this machine has",
                devices(cpu, "CPU")
            )
        } else if together && fits[index].len() == 1 {
            "the only machine that fits every node, and the dataflow's log relay keeps its nodes on one machine".to_owned()
        } else if !near.is_empty() {
            format!(
                "next to {}, which it talks to: an edge within a machine is faster than one between machines",
                near.join(", ")
            )
        } else if fits[index].len() == 1 {
            "the only Ready machine it fits".to_owned()
        } else {
            format!(
                "the least loaded of {} machines that fit ({} other nodes running)",
                fits[index].len(),
                load[chosen]
            )
        };
        on[index] = Some(chosen);
        load[chosen] += 1;
        gpus_taken[chosen] += wants_gpus;
        reasons.insert(node.id.to_string(), why);
    }
    let machines = dataflow
        .nodes
        .iter()
        .zip(&on)
        .map(|(node, m)| {
            (
                node.id.to_string(),
                machines[m.expect("every node is placed")].name.clone(),
            )
        })
        .collect();
    Ok(Placement { machines, reasons })
}

/// Per node (by index): the machines (by index) it may run on; or why a
/// node may run on none.
fn fits(
    dataflow: &Dataflow,
    zone: &str,
    machines: &[Machine],
) -> Result<Vec<Vec<usize>>, Vec<String>> {
    let names = || {
        if machines.is_empty() {
            format!("zone `{zone}` has no machine; join one with `dora daemon`")
        } else {
            let list: Vec<String> = machines
                .iter()
                .map(|m| format!("{} ({})", m.name, state(m)))
                .collect();
            format!("machines of zone `{zone}`: {}", list.join(", "))
        }
    };
    let mut problems = Vec::new();
    let mut fits: Vec<Vec<usize>> = Vec::with_capacity(dataflow.nodes.len());
    for node in &dataflow.nodes {
        let deploy = &node.deploy;
        if let Some(wanted) = deploy.zone.as_deref().filter(|z| *z != zone) {
            problems.push(format!(
                "node `{}` asks for zone `{wanted}`, but the dataflow runs in zone `{zone}`; start it with --zone {wanted}",
                node.id
            ));
            fits.push(Vec::new());
            continue;
        }
        if let Some(wanted) = &deploy.machine {
            let problem = match machines.iter().find(|m| m.name == *wanted) {
                None => Some(format!(
                    "node `{}` asks for machine `{wanted}`, which is not in the cluster; {}",
                    node.id,
                    names()
                )),
                Some(m) if !m.ready || m.unschedulable => Some(format!(
                    "node `{}` asks for machine `{wanted}`, which is {}",
                    node.id,
                    state(m)
                )),
                Some(m) => why_not(&deploy.selectors, m).map(|why| {
                    format!(
                        "node `{}` asks for machine `{wanted}`, which {why}",
                        node.id
                    )
                }),
            };
            if let Some(problem) = problem {
                problems.push(problem);
                fits.push(Vec::new());
                continue;
            }
        }
        let fit: Vec<usize> = machines
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.ready
                    && !m.unschedulable
                    && deploy.machine.as_ref().is_none_or(|w| *w == m.name)
                    && why_not(&deploy.selectors, m).is_none()
            })
            .map(|(i, _)| i)
            .collect();
        if fit.is_empty() {
            let schedulable: Vec<&Machine> = machines
                .iter()
                .filter(|m| m.ready && !m.unschedulable)
                .collect();
            problems.push(if schedulable.is_empty() {
                format!(
                    "node `{}` has no Ready machine to run on; {}",
                    node.id,
                    names()
                )
            } else {
                let each: Vec<String> = schedulable
                    .iter()
                    .filter_map(|m| {
                        why_not(&deploy.selectors, m).map(|w| format!("`{}` {w}", m.name))
                    })
                    .collect();
                format!(
                    "node `{}` fits no Ready machine of zone `{zone}`: {}",
                    node.id,
                    each.join("; ")
                )
            });
        }
        fits.push(fit);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(fits)
}

/// Per node (by index): the nodes it sends to or reads from.
fn neighbours(dataflow: &Dataflow) -> Vec<BTreeSet<usize>> {
    let index_of = |id: &str| dataflow.nodes.iter().position(|n| n.id.as_str() == id);
    let mut neighbours = vec![BTreeSet::new(); dataflow.nodes.len()];
    for (reader, node) in dataflow.nodes.iter().enumerate() {
        let inputs = node
            .inputs
            .values()
            .chain(node.operators.iter().flat_map(|o| o.inputs.values()));
        for input in inputs {
            let InputSource::Output(source) = &input.source else {
                continue;
            };
            if let Some(sender) = index_of(source.node.as_str()).filter(|&s| s != reader) {
                neighbours[reader].insert(sender);
                neighbours[sender].insert(reader);
            }
        }
    }
    neighbours
}

/// How many GPUs of `machine` that `selector` accepts are still free when
/// nodes placed there already took `taken`.
fn free_gpus(machine: &Machine, selector: Option<&Selector>, taken: u32) -> u32 {
    let Some(selector) = selector else {
        return 0;
    };
    let have = machine
        .gpus
        .iter()
        .filter(|name| selector.product_name.accepts(name))
        .count() as u32;
    have.saturating_sub(taken)
}

fn state(machine: &Machine) -> &'static str {
    match (machine.ready, machine.unschedulable) {
        (false, _) => "NotReady",
        (true, true) => "unschedulable",
        (true, false) => "Ready",
    }
}

/// "2 GPUs (`Tesla V100-SXM2-16GB`)", "1 CPU".
fn devices(selector: &Selector, what: &str) -> String {
    let plural = if selector.count == 1 { "" } else { "s" };
    match &selector.product_name {
        dora_core::selector::ProductName::All => format!("{} {what}{plural}", selector.count),
        dora_core::selector::ProductName::AnyOf(names) => format!(
            "{} {what}{plural} ({})",
            selector.count,
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

/// Why `machine` lacks what `selectors` ask for; `None` when it has it.
fn why_not(selectors: &dora_core::selector::Selectors, machine: &Machine) -> Option<String> {
    if let Some(gpu) = &selectors.gpu {
        let have = machine
            .gpus
            .iter()
            .filter(|name| gpu.product_name.accepts(name))
            .count();
        if (have as u32) < gpu.count {
            return Some(format!(
                "has {have} of the {} it needs",
                devices(gpu, "GPU")
            ));
        }
    }
    if let Some(cpu) = &selectors.cpu {
        let have = if cpu.product_name.accepts(&machine.cpu_model) {
            machine.cpus
        } else {
            0
        };
        if have < cpu.count {
            return Some(format!(
                "has {have} of the {} it needs",
                devices(cpu, "CPU")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora_core::check::{check_source, Content};

    fn dataflow(yaml: &str) -> Dataflow {
        match check_source(yaml, None) {
            (Content::Dataflow(dataflow), _) => dataflow,
            (_, diagnostics) => panic!("{diagnostics:?}"),
        }
    }

    fn machine(name: &str, gpus: &[&str], load: usize) -> Machine {
        Machine {
            name: name.to_owned(),
            ready: true,
            cpus: 8,
            cpu_model: "Xeon".to_owned(),
            gpus: gpus.iter().map(|g| (*g).to_owned()).collect(),
            load,
            ..Machine::default()
        }
    }

    const TWO: &str = "nodes:\n  - id: a\n    path: a\n  - id: b\n    path: b\n";

    /// `camera -> detector -> planner`, with `extra` after each node's id.
    fn chain(camera: &str, detector: &str, planner: &str) -> String {
        format!(
            "nodes:\n  - id: camera\n    path: c\n    outputs: [image]\n{camera}  - id: detector\n    path: d\n    inputs: {{ image: camera/image }}\n    outputs: [boxes]\n{detector}  - id: planner\n    path: p\n    inputs: {{ boxes: detector/boxes }}\n{planner}"
        )
    }

    fn pinned(machine: &str) -> String {
        format!("    deploy:\n      machine: {machine}\n")
    }

    fn on<'a>(placed: &'a Placement, node: &str) -> &'a str {
        &placed.machines[node]
    }

    #[test]
    fn the_least_loaded_machine_wins_and_ties_go_by_name() {
        let machines = [
            machine("m2", &[], 0),
            machine("m1", &[], 3),
            machine("m3", &[], 0),
        ];
        let placed = place(&dataflow(TWO), "default", &machines).unwrap();
        // Unconnected nodes spread: `a` takes m2, and m2 is then more
        // loaded than m3.
        assert_eq!((on(&placed, "a"), on(&placed, "b")), ("m2", "m3"));
        assert!(
            placed.reasons["a"].contains("least loaded of 3"),
            "{placed:?}"
        );
    }

    #[test]
    fn connected_nodes_stay_together_when_nothing_pins_them() {
        let machines = [machine("m1", &[], 0), machine("m2", &[], 0)];
        let placed = place(&dataflow(&chain("", "", "")), "default", &machines).unwrap();
        assert_eq!(placed.used(), BTreeSet::from(["m1"]), "{placed:?}");
        assert!(
            placed.reasons["planner"].starts_with("next to `detector`"),
            "{placed:?}"
        );
    }

    #[test]
    fn an_unpinned_node_follows_the_pinned_nodes_it_talks_to() {
        // The camera is on the robot and the planner on m2: the detector
        // goes to one of them, never to the idle m3.
        let yaml = chain(&pinned("robot"), "", &pinned("m2"));
        let machines = [
            machine("m3", &[], 0),
            machine("m2", &[], 0),
            machine("robot", &[], 4),
        ];
        let placed = place(&dataflow(&yaml), "default", &machines).unwrap();
        assert_eq!(on(&placed, "camera"), "robot");
        assert_eq!(on(&placed, "planner"), "m2");
        // Equal neighbours on both: the less loaded machine.
        assert_eq!(on(&placed, "detector"), "m2", "{placed:?}");
        assert_eq!(placed.reasons["camera"], "its deploy.machine");
        assert!(
            placed.reasons["detector"].starts_with("next to `planner`"),
            "{placed:?}"
        );
    }

    #[test]
    fn nodes_pinned_to_two_machines_are_spread_over_both() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    deploy:\n      machine: m1\n  - id: b\n    path: b\n    deploy:\n      machine: m2\n";
        let machines = [machine("m1", &[], 0), machine("m2", &[], 0)];
        let placed = place(&dataflow(yaml), "default", &machines).unwrap();
        assert_eq!((on(&placed, "a"), on(&placed, "b")), ("m1", "m2"));
    }

    #[test]
    fn not_ready_and_unschedulable_machines_get_nothing() {
        let mut machines = [machine("m1", &[], 0), machine("m2", &[], 9)];
        machines[0].ready = false;
        let placed = place(&dataflow(TWO), "default", &machines).unwrap();
        assert_eq!(placed.used(), BTreeSet::from(["m2"]));
        machines[1].unschedulable = true;
        let problems = place(&dataflow(TWO), "default", &machines).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].contains("node `a` has no Ready machine")
                && problems[0].contains("m1 (NotReady), m2 (unschedulable)"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_named_machine_is_exact_and_its_absence_is_explained() {
        let yaml = "nodes:\n  - id: detector\n    path: d\n    deploy:\n      machine: gpu-2\n";
        let machines = [machine("gpu-1", &[], 0), machine("gpu-2", &[], 5)];
        let placed = place(&dataflow(yaml), "default", &machines).unwrap();
        assert_eq!(on(&placed, "detector"), "gpu-2");
        let problems = place(&dataflow(yaml), "default", &machines[..1]).unwrap_err();
        assert_eq!(
            problems,
            ["node `detector` asks for machine `gpu-2`, which is not in the cluster; machines of zone `default`: gpu-1 (Ready)"]
        );
    }

    #[test]
    fn a_node_that_asks_for_gpus_lands_where_they_are() {
        let yaml = "nodes:\n  - id: infer\n    path: i\n    deploy:\n      selectors:\n        gpu:\n          product_name: H100\n          count: 2\n  - id: cam\n    path: c\n";
        let machines = [
            machine("cpu-1", &[], 0),
            machine("gpu-1", &["H100"], 0),
            machine("gpu-2", &["H100", "H100"], 7),
        ];
        let placed = place(&dataflow(yaml), "default", &machines).unwrap();
        assert_eq!(on(&placed, "infer"), "gpu-2");
        assert_eq!(on(&placed, "cam"), "cpu-1");
        assert_eq!(
            placed.reasons["infer"],
            "it asks for 2 GPUs (`H100`), which this machine has free"
        );
        let problems = place(&dataflow(yaml), "default", &machines[..2]).unwrap_err();
        assert_eq!(
            problems,
            ["node `infer` fits no Ready machine of zone `default`: `cpu-1` has 0 of the 2 GPUs (`H100`) it needs; `gpu-1` has 1 of the 2 GPUs (`H100`) it needs"]
        );
    }

    #[test]
    fn two_nodes_do_not_get_the_same_gpu() {
        let gpu = "    deploy:\n      selectors:\n        gpu:\n          count: 1\n";
        let yaml = chain(gpu, gpu, "");
        let machines = [machine("g1", &["A100"], 0), machine("g2", &["A100"], 0)];
        let placed = place(&dataflow(&yaml), "default", &machines).unwrap();
        assert_ne!(on(&placed, "camera"), on(&placed, "detector"), "{placed:?}");
        let problems = place(&dataflow(&yaml), "default", &machines[..1]).unwrap_err();
        assert_eq!(
            problems,
            ["node `camera` asks for 1 GPU, and the machines that have them (g1) have no more free: other nodes of the dataflow took them"]
        );
    }

    #[test]
    fn a_dataflow_with_the_log_relay_stays_on_one_machine() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    outputs: [text]\n    send_stdout_as: text\n    deploy:\n      machine: m1\n  - id: b\n    path: b\n    inputs: { text: a/text }\n    deploy:\n      machine: m2\n";
        let machines = [machine("m1", &[], 0), machine("m2", &[], 0)];
        let problems = place(&dataflow(yaml), "default", &machines).unwrap_err();
        assert_eq!(
            problems,
            ["the dataflow sends what nodes print or log as data (`dora/logs`, `send_stdout_as`, `send_logs_as`), which works within one machine, and no one machine fits every node: `a` fits on m1; `b` fits on m2"]
        );
    }

    #[test]
    fn a_node_of_another_zone_is_refused() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    deploy:\n      zone: dc-2\n";
        let problems = place(&dataflow(yaml), "dc-1", &[machine("m1", &[], 0)]).unwrap_err();
        assert!(problems[0].contains("asks for zone `dc-2`"), "{problems:?}");
    }
}
