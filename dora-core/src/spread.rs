//! A dataflow spread over several machines: which of its edges cross
//! machines, how each node reaches the other machines, and what each
//! machine's launcher runs.
//!
//! ```
//! use std::collections::BTreeMap;
//! use dora_core::config::{NodeConfig, ReceiverLink, SourceLink};
//! use dora_core::descriptor::Dataflow;
//! use dora_core::spread;
//!
//! let dataflow = Dataflow::from_yaml_str(
//!     "nodes:\n  - id: camera\n    path: camera\n    outputs: [image]\n  - id: detector\n    path: detector\n    inputs: { image: camera/image }\n",
//! ).unwrap();
//! let machine_of = BTreeMap::from([("camera".into(), "robot".to_owned()), ("detector".into(), "gpu-1".to_owned())]);
//! let machines = spread::over_machines(
//!     NodeConfig::for_dataflow(&dataflow, "run-1"),
//!     &machine_of,
//!     &|node| vec![format!("tcp/{node}.lab:7600")],
//! ).unwrap();
//! let camera = &machines["robot"]["camera"];
//! assert_eq!(camera.outputs["image"].receivers[0].link, ReceiverLink::Remote { machine: "gpu-1".into() });
//! assert_eq!(camera.remote.as_ref().unwrap().connect, ["tcp/detector.lab:7600"]);
//! let detector = &machines["gpu-1"]["detector"];
//! assert_eq!(detector.inputs["image"].from, SourceLink::Remote { machine: "robot".into() });
//! assert_eq!(detector.dataflow_id, "run-1.gpu-1");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::channel;
use crate::config::{NodeConfig, ReceiverLink, RemoteConfig, SourceLink};
use crate::id::NodeId;
use crate::relay::RELAY_NODE;

/// Why a dataflow cannot be spread as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpreadError {
    #[error("node `{0}` has no machine to run on")]
    Unplaced(NodeId),
    #[error("`dora/logs` inputs and `send_stdout_as`/`send_logs_as` outputs work within one machine only, and this dataflow runs on {0} machines; place the nodes that use them on one machine")]
    RelayAcrossMachines(usize),
}

/// The id that names a run's shared memory on `machine`: runs of one
/// dataflow on two machines that share `/dev/shm` (two daemons on one
/// host) then never meet there.
pub fn local_run_id(run: &str, machine: &str) -> String {
    format!("{run}.{machine}")
}

/// Splits the configurations of one run (`NodeConfig::for_dataflow`) by
/// machine. Edges between machines become remote at both ends; a node
/// that reads from another machine listens on `listen_of(node)`, and a
/// node that sends to one connects there. Nodes keep the list of every
/// node of the dataflow, so that an index names the same node on every
/// machine. On one machine, nothing changes.
pub fn over_machines(
    configs: BTreeMap<NodeId, NodeConfig>,
    machine_of: &BTreeMap<NodeId, String>,
    listen_of: &dyn Fn(&NodeId) -> Vec<String>,
) -> Result<BTreeMap<String, BTreeMap<NodeId, NodeConfig>>, SpreadError> {
    let machines: BTreeSet<&String> = machine_of.values().collect();
    let spread = machines.len() > 1;
    if spread && configs.contains_key(RELAY_NODE) {
        return Err(SpreadError::RelayAcrossMachines(machines.len()));
    }
    let machine = |node: &NodeId| {
        machine_of
            .get(node)
            .cloned()
            .ok_or_else(|| SpreadError::Unplaced(node.clone()))
    };
    let mut placed: BTreeMap<String, BTreeMap<NodeId, NodeConfig>> = BTreeMap::new();
    for (id, mut config) in configs.clone() {
        let here = machine(&id)?;
        // The machine's launcher signals its nodes on channels named from
        // the machine's own run id; outputs keep the run's names, which
        // are also their keys on the network.
        if spread {
            config.dataflow_id = local_run_id(&config.dataflow_id, &here);
            config.wakeup = channel::wakeup(&config.dataflow_id, &id);
            config.control = channel::control(&config.dataflow_id, &id);
        }
        let mut connect = BTreeSet::new();
        for receiver in config.outputs.values_mut().flat_map(|o| &mut o.receivers) {
            let there = machine(&receiver.node)?;
            if there != here {
                receiver.link = ReceiverLink::Remote { machine: there };
                connect.extend(listen_of(&receiver.node));
            } else if spread {
                receiver.link = ReceiverLink::Local {
                    wakeup: channel::wakeup(&config.dataflow_id, &receiver.node),
                };
            }
        }
        let mut reads_remote = false;
        for (input_id, input) in &mut config.inputs {
            let Some(source) = configs.iter().find_map(|(node, c)| {
                let feeds = c.outputs.values().any(|o| {
                    o.receivers
                        .iter()
                        .any(|r| r.node == id && r.input == *input_id)
                });
                feeds.then_some(node)
            }) else {
                continue;
            };
            let there = machine(source)?;
            if there != here {
                input.from = SourceLink::Remote { machine: there };
                reads_remote = true;
            }
        }
        if reads_remote || !connect.is_empty() {
            config.remote = Some(RemoteConfig {
                listen: if reads_remote {
                    listen_of(&id)
                } else {
                    Vec::new()
                },
                connect: connect.into_iter().collect(),
                tls: None,
            });
        }
        placed.entry(here).or_default().insert(id, config);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::Dataflow;

    fn configs(yaml: &str) -> BTreeMap<NodeId, NodeConfig> {
        NodeConfig::for_dataflow(&Dataflow::from_yaml_str(yaml).unwrap(), "r")
    }

    const FAN_OUT: &str = "nodes:\n  - id: a\n    path: a\n    outputs: [x]\n  - id: b\n    path: b\n    inputs: { x: a/x }\n  - id: c\n    path: c\n    inputs: { x: a/x }\n";

    #[test]
    fn only_edges_between_machines_become_remote() {
        let machine_of = BTreeMap::from([
            ("a".into(), "m1".to_owned()),
            ("b".into(), "m1".to_owned()),
            ("c".into(), "m2".to_owned()),
        ]);
        let placed = over_machines(configs(FAN_OUT), &machine_of, &|n| {
            vec![format!("tcp/{n}:1")]
        })
        .unwrap();
        let a = &placed["m1"]["a"];
        let links: Vec<_> = a.outputs["x"].receivers.iter().map(|r| &r.link).collect();
        assert!(matches!(links[0], ReceiverLink::Local { .. }), "{links:?}");
        assert_eq!(
            links[1],
            &ReceiverLink::Remote {
                machine: "m2".into()
            }
        );
        assert_eq!(a.remote.as_ref().unwrap().connect, ["tcp/c:1"]);
        assert!(a.remote.as_ref().unwrap().listen.is_empty());
        assert_eq!(placed["m1"]["b"].remote, None, "b's edges are all local");
        assert_eq!(placed["m1"]["b"].inputs["x"].from, SourceLink::Local);
        let c = &placed["m2"]["c"];
        assert_eq!(c.remote.as_ref().unwrap().listen, ["tcp/c:1"]);
        assert_eq!(c.nodes.len(), 3, "every machine knows every node");
        assert_eq!(
            (a.dataflow_id.as_str(), c.dataflow_id.as_str()),
            ("r.m1", "r.m2")
        );
        // The launcher of m1 wakes b on the channel b listens on.
        assert_eq!(
            links[0],
            &ReceiverLink::Local {
                wakeup: placed["m1"]["b"].wakeup.clone()
            }
        );
        assert_eq!(
            placed["m1"]["b"].wakeup,
            channel::wakeup("r.m1", &"b".into())
        );
        // Outputs keep the run's names: they are the keys on the network.
        assert_eq!(c.inputs["x"].channel, Some(a.outputs["x"].channel.clone()));
    }

    #[test]
    fn one_machine_changes_nothing_and_a_missing_machine_is_named() {
        let all = configs(FAN_OUT);
        let one = BTreeMap::from([
            ("a".into(), "m".to_owned()),
            ("b".into(), "m".to_owned()),
            ("c".into(), "m".to_owned()),
        ]);
        let placed = over_machines(all.clone(), &one, &|_| Vec::new()).unwrap();
        assert_eq!(placed["m"], all);
        let mut missing = one.clone();
        missing.remove(&NodeId::from("c"));
        assert_eq!(
            over_machines(all, &missing, &|_| Vec::new()),
            Err(SpreadError::Unplaced("c".into()))
        );
    }
}
