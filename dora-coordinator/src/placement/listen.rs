//! Where the nodes of a dataflow spread over machines take links from the
//! nodes of other machines: each node that reads from another machine
//! listens on its machine's node address, on a port of the machine's
//! range that no active run holds on that address (two daemons on one
//! host share the address, and so the ports).

use std::collections::{BTreeMap, BTreeSet};

use dora_core::descriptor::{Dataflow, InputSource};
use dora_core::protocol::cluster::NodeLinks;

/// The nodes of `dataflow` that read an output of a node on another
/// machine, given each node's machine.
pub fn remote_readers(dataflow: &Dataflow, machine_of: &BTreeMap<String, String>) -> Vec<String> {
    dataflow
        .nodes
        .iter()
        .filter(|node| {
            let here = machine_of.get(node.id.as_str());
            node.inputs
                .values()
                .chain(node.operators.iter().flat_map(|o| o.inputs.values()))
                .any(|input| match &input.source {
                    InputSource::Output(source) => machine_of.get(source.node.as_str()) != here,
                    _ => false,
                })
        })
        .map(|node| node.id.to_string())
        .collect()
}

/// A zenoh endpoint: `tls/198.18.0.2:42000`, `tcp/[fd00::2]:42000`.
pub fn endpoint(tls: bool, address: &str, port: u16) -> String {
    let scheme = if tls { "tls" } else { "tcp" };
    if address.contains(':') {
        format!("{scheme}/[{address}]:{port}")
    } else {
        format!("{scheme}/{address}:{port}")
    }
}

/// The address and port of an endpoint made by [`endpoint`].
pub fn parse_endpoint(endpoint: &str) -> Option<(String, u16)> {
    let (_, rest) = endpoint.split_once('/')?;
    let (address, port) = rest.rsplit_once(':')?;
    let address = address.trim_start_matches('[').trim_end_matches(']');
    Some((address.to_owned(), port.parse().ok()?))
}

/// Per node of `readers`: the endpoint it listens on, on its machine's
/// `links`, avoiding the (address, port) pairs in `taken`; or, per
/// machine that cannot give one, why.
pub fn assign(
    readers: &[String],
    machine_of: &BTreeMap<String, String>,
    links: &BTreeMap<String, Option<NodeLinks>>,
    taken: &BTreeSet<(String, u16)>,
    tls: bool,
) -> Result<BTreeMap<String, Vec<String>>, Vec<String>> {
    let mut taken = taken.clone();
    let mut assigned = BTreeMap::new();
    let mut problems = Vec::new();
    for reader in readers {
        let machine = &machine_of[reader];
        let Some(Some(links)) = links.get(machine) else {
            problems.push(format!(
                "node `{reader}` reads from another machine, but machine `{machine}` has not said where its nodes take links (its daemon is older than this coordinator); restart its daemon with this dora version"
            ));
            continue;
        };
        let free = (links.first_port..=links.last_port)
            .find(|port| !taken.contains(&(links.address.clone(), *port)));
        let Some(port) = free else {
            problems.push(format!(
                "node `{reader}` needs a port on machine `{machine}`, whose ports {}-{} on {} are all held by running dataflows; stop one, or give its daemon a wider --node-ports",
                links.first_port, links.last_port, links.address
            ));
            continue;
        };
        taken.insert((links.address.clone(), port));
        assigned.insert(reader.clone(), vec![endpoint(tls, &links.address, port)]);
    }
    if problems.is_empty() {
        Ok(assigned)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(address: &str, first: u16, last: u16) -> Option<NodeLinks> {
        Some(NodeLinks {
            address: address.to_owned(),
            first_port: first,
            last_port: last,
        })
    }

    #[test]
    fn only_readers_of_other_machines_listen_and_two_daemons_of_one_host_share_its_ports() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:\n  - id: cam\n    path: c\n    outputs: [image]\n  - id: near\n    path: n\n    inputs: { image: cam/image }\n  - id: far\n    path: f\n    inputs: { image: cam/image }\n  - id: farther\n    path: f\n    inputs: { image: cam/image }\n",
        )
        .unwrap();
        let machine_of: BTreeMap<String, String> = [
            ("cam", "m1"),
            ("near", "m1"),
            ("far", "m2"),
            ("farther", "m3"),
        ]
        .into_iter()
        .map(|(n, m)| (n.to_owned(), m.to_owned()))
        .collect();
        let readers = remote_readers(&dataflow, &machine_of);
        assert_eq!(readers, ["far", "farther"]);
        // m2 and m3 are two daemons of one host; 42000 is held by a run.
        let links = BTreeMap::from([
            ("m2".to_owned(), links("198.18.0.2", 42000, 42001)),
            ("m3".to_owned(), links("198.18.0.2", 42000, 42001)),
        ]);
        let taken = BTreeSet::from([("198.18.0.2".to_owned(), 42000)]);
        let assigned = assign(&readers, &machine_of, &links, &BTreeSet::new(), true).unwrap();
        assert_eq!(assigned["far"], ["tls/198.18.0.2:42000"]);
        assert_eq!(assigned["farther"], ["tls/198.18.0.2:42001"]);
        let problems = assign(&readers, &machine_of, &links, &taken, false).unwrap_err();
        assert_eq!(
            problems,
            ["node `farther` needs a port on machine `m3`, whose ports 42000-42001 on 198.18.0.2 are all held by running dataflows; stop one, or give its daemon a wider --node-ports"]
        );
        assert_eq!(
            parse_endpoint(&endpoint(false, "fd00::2", 7)),
            Some(("fd00::2".to_owned(), 7))
        );
        assert_eq!(endpoint(false, "fd00::2", 7), "tcp/[fd00::2]:7");
    }
}
