//! Where a dataflow runs: a pure function of the dataflow and the machines
//! of its zone, with no I/O, so that every rule is tested on its own.
//!
//! A dataflow runs on one machine, chosen among those that every node
//! fits: `deploy.machine` is exact, `deploy.zone` must be the dataflow's,
//! and `deploy.selectors` need a machine with the devices asked for.
//! Between machines that fit, the least loaded wins (fewest nodes running
//! there), then the first by name, so the choice is deterministic.
//!
//! The replicas of workloads are placed by [`workload::place`], over the
//! machines of every zone and the GPUs each one holds by UUID.

pub mod workload;

use std::collections::BTreeMap;

use dora_core::descriptor::Dataflow;
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
}

/// Where a dataflow goes, and why each node is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub machine: String,
    /// Per node id: why this machine.
    pub reasons: BTreeMap<String, String>,
}

/// Places `dataflow`, which runs in `zone`, on one of `machines` (those
/// of the zone); or says, per node that cannot be placed, why.
pub fn place(
    dataflow: &Dataflow,
    zone: &str,
    machines: &[Machine],
) -> Result<Placement, Vec<String>> {
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
    // Per node: the machines (by index) it fits on.
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
    let common: Vec<usize> = (0..machines.len())
        .filter(|i| fits.iter().all(|f| f.contains(i)))
        .collect();
    let Some(&chosen) = common.iter().min_by(|&&a, &&b| {
        (machines[a].load, &machines[a].name).cmp(&(machines[b].load, &machines[b].name))
    }) else {
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
            "no one machine fits every node, and a dataflow runs on one machine: {}",
            each.join("; ")
        )]);
    };
    let machine = &machines[chosen];
    let reasons = dataflow
        .nodes
        .iter()
        .map(|node| {
            let deploy = &node.deploy;
            let why = if deploy.machine.is_some() {
                "its deploy.machine".to_owned()
            } else if let Some(gpu) = &deploy.selectors.gpu {
                format!(
                    "it asks for {}, which this machine has",
                    devices(gpu, "GPU")
                )
            } else if let Some(cpu) = &deploy.selectors.cpu {
                format!(
                    "it asks for {}, which this machine has",
                    devices(cpu, "CPU")
                )
            } else if common.len() == 1 {
                "the only machine that fits every node of the dataflow".to_owned()
            } else {
                format!(
                    "the least loaded of {} machines that fit ({} other nodes running)",
                    common.len(),
                    machine.load
                )
            };
            (node.id.to_string(), why)
        })
        .collect();
    Ok(Placement {
        machine: machine.name.clone(),
        reasons,
    })
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

    #[test]
    fn the_least_loaded_machine_wins_and_ties_go_by_name() {
        let machines = [
            machine("m2", &[], 0),
            machine("m1", &[], 3),
            machine("m3", &[], 0),
        ];
        let placed = place(&dataflow(TWO), "default", &machines).unwrap();
        assert_eq!(placed.machine, "m2");
        assert!(
            placed.reasons["a"].contains("least loaded of 3"),
            "{placed:?}"
        );
    }

    #[test]
    fn not_ready_and_unschedulable_machines_get_nothing() {
        let mut machines = [machine("m1", &[], 0), machine("m2", &[], 9)];
        machines[0].ready = false;
        assert_eq!(
            place(&dataflow(TWO), "default", &machines).unwrap().machine,
            "m2"
        );
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
        assert_eq!(
            place(&dataflow(yaml), "default", &machines)
                .unwrap()
                .machine,
            "gpu-2"
        );
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
        assert_eq!(placed.machine, "gpu-2");
        assert_eq!(
            placed.reasons["infer"],
            "it asks for 2 GPUs (`H100`), which this machine has"
        );
        let problems = place(&dataflow(yaml), "default", &machines[..2]).unwrap_err();
        assert_eq!(
            problems,
            ["node `infer` fits no Ready machine of zone `default`: `cpu-1` has 0 of the 2 GPUs (`H100`) it needs; `gpu-1` has 1 of the 2 GPUs (`H100`) it needs"]
        );
    }

    #[test]
    fn nodes_pinned_to_two_machines_are_refused_with_each_nodes_choice() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    deploy:\n      machine: m1\n  - id: b\n    path: b\n    deploy:\n      machine: m2\n";
        let machines = [machine("m1", &[], 0), machine("m2", &[], 0)];
        let problems = place(&dataflow(yaml), "default", &machines).unwrap_err();
        assert_eq!(
            problems,
            ["no one machine fits every node, and a dataflow runs on one machine: `a` fits on m1; `b` fits on m2"]
        );
    }

    #[test]
    fn a_node_of_another_zone_is_refused() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    deploy:\n      zone: dc-2\n";
        let problems = place(&dataflow(yaml), "dc-1", &[machine("m1", &[], 0)]).unwrap_err();
        assert!(problems[0].contains("asks for zone `dc-2`"), "{problems:?}");
    }
}
