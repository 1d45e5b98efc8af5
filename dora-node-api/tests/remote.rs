//! Edges between machines through the real network transport: each
//! "machine" is a launcher of its own, with its own shared memory, and
//! its nodes are threads; the nodes of different machines reach each
//! other only over zenoh on loopback TCP, at the endpoints the dataflow's
//! spread gives them. A process keeps one set of counts per input and
//! output id, so every input and output here has an id of its own.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dora_core::config::{NodeConfig, TlsFiles};
use dora_core::descriptor::Dataflow;
use dora_core::id::NodeId;
use dora_core::spread;
use dora_node_api::launch::RunChannels;
use dora_node_api::{DoraNode, Event, EventStream, Parameters};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A dataflow spread over machines, each with its launcher.
struct Cluster {
    machines: BTreeMap<String, BTreeMap<NodeId, NodeConfig>>,
    launchers: BTreeMap<String, RunChannels>,
    nodes: Vec<NodeId>,
}

impl Cluster {
    fn new(yaml: &str, placement: &[(&str, &str)]) -> Cluster {
        Cluster::with_tls(yaml, placement, None)
    }

    /// With `tls`, every link is TLS with mutual authentication by these
    /// files.
    fn with_tls(yaml: &str, placement: &[(&str, &str)], tls: Option<TlsFiles>) -> Cluster {
        let dataflow = Dataflow::from_yaml_str(yaml).unwrap();
        let run = format!("remote{}x{}", std::process::id(), free_port());
        let machine_of: BTreeMap<NodeId, String> = placement
            .iter()
            .map(|(node, machine)| (NodeId::from(*node), machine.to_string()))
            .collect();
        let ports: BTreeMap<NodeId, u16> = machine_of
            .keys()
            .map(|n| (n.clone(), free_port()))
            .collect();
        let scheme = if tls.is_some() { "tls" } else { "tcp" };
        let mut machines = spread::over_machines(
            NodeConfig::for_dataflow(&dataflow, &run),
            &machine_of,
            &|node| vec![format!("{scheme}/127.0.0.1:{}", ports[node])],
        )
        .unwrap();
        for remote in machines
            .values_mut()
            .flat_map(|m| m.values_mut())
            .filter_map(|c| c.remote.as_mut())
        {
            remote.tls = tls.clone();
        }
        let nodes: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
        let launchers = machines
            .iter()
            .map(|(machine, configs)| {
                let local_id = &configs.values().next().unwrap().dataflow_id;
                (
                    machine.clone(),
                    RunChannels::open(local_id, &nodes).unwrap(),
                )
            })
            .collect();
        Cluster {
            machines,
            launchers,
            nodes,
        }
    }

    fn config(&self, node: &str) -> NodeConfig {
        self.machines
            .values()
            .find_map(|configs| configs.get(node))
            .unwrap()
            .clone()
    }

    fn index(&self, node: &str) -> usize {
        self.nodes.iter().position(|n| n.as_str() == node).unwrap()
    }

    /// Runs every machine's start-up barrier for its nodes.
    fn start(&self) {
        for (machine, launcher) in &self.launchers {
            let local: Vec<usize> = self.machines[machine]
                .keys()
                .map(|n| self.index(n.as_str()))
                .collect();
            launcher
                .start(&local, false, Duration::from_secs(20), || None)
                .unwrap_or_else(|e| panic!("machine {machine}: {e}"));
        }
    }

    /// What the daemon of `receiver`'s machine does when `sender` (on
    /// another machine) has ended for good.
    fn ended(&self, sender: &str, receiver: &str) {
        let machine = self
            .machines
            .iter()
            .find(|(_, configs)| configs.contains_key(receiver))
            .unwrap()
            .0;
        self.launchers[machine]
            .close_inputs_from(self.index(receiver), self.index(sender))
            .unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<String> = self
            .machines
            .values()
            .map(|configs| configs.values().next().unwrap().dataflow_id.clone())
            .collect();
        self.launchers.clear();
        for id in ids {
            let _ = dora_node_api::transport::remove_run_files(&id);
        }
    }
}

/// Runs `body` as a node on a thread of its own.
fn node<T: Send + 'static>(
    config: NodeConfig,
    body: impl FnOnce(DoraNode, EventStream) -> T + Send + 'static,
) -> JoinHandle<T> {
    std::thread::spawn(move || {
        let (node, events) = DoraNode::init(config).unwrap();
        body(node, events)
    })
}

/// Every message's payload until the input closes, in order, and the
/// input's counts.
fn read_all(mut events: EventStream) -> (Vec<Vec<u8>>, u64, u64) {
    let mut payloads = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match events.recv_timeout(Duration::from_millis(200)) {
            Some(Event::Input { data, .. }) => payloads.push(data.to_vec()),
            Some(Event::InputClosed { .. }) => break,
            Some(Event::Error(e)) => panic!("{e}"),
            _ => {}
        }
    }
    let counts = events.input_counts().next().unwrap().1;
    (payloads, counts.received, counts.dropped)
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn fan_out_to_two_machines_delivers_every_message_sent_right_after_init_and_40_mib_bit_exact() {
    const MESSAGES: u64 = 1000;
    let cluster = Cluster::new(
        "nodes:\n  - id: source\n    path: s\n    outputs: [out]\n  - id: near\n    path: n\n    inputs:\n      near: { source: source/out, queue_size: 2000 }\n  - id: far1\n    path: f\n    inputs:\n      far1: { source: source/out, queue_size: 2000 }\n  - id: far2\n    path: f\n    inputs:\n      far2: { source: source/out, queue_size: 2000 }\n",
        &[("source", "m1"), ("near", "m1"), ("far1", "m2"), ("far2", "m3")],
    );
    let big: Vec<u8> = (0..40 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big_sum = checksum(&big);
    let readers: Vec<_> = ["near", "far1", "far2"]
        .into_iter()
        .map(|id| node(cluster.config(id), |_node, events| read_all(events)))
        .collect();
    let (sent_tx, sent_rx) = mpsc::channel();
    let source = node(cluster.config("source"), move |mut node, _events| {
        for i in 0..MESSAGES {
            let mut parameters = Parameters::new();
            parameters.insert("i".into(), dora_node_api::Parameter::Integer(i as i64));
            node.send_output("out", parameters, &i.to_le_bytes())
                .unwrap();
        }
        node.send_output("out", Parameters::new(), &big).unwrap();
        sent_tx.send(node.sent("out").unwrap()).unwrap();
    });
    cluster.start();
    source.join().unwrap();
    let sent = sent_rx.recv().unwrap();
    assert_eq!(sent, MESSAGES + 1);
    for reader in ["near", "far1", "far2"] {
        cluster.ended("source", reader);
    }
    for (name, reader) in ["near", "far1", "far2"].into_iter().zip(readers) {
        let (payloads, received, dropped) = reader.join().unwrap();
        assert_eq!((received, dropped), (sent, 0), "{name}");
        assert_eq!(payloads.len() as u64, sent, "{name}");
        for (i, payload) in payloads[..MESSAGES as usize].iter().enumerate() {
            assert_eq!(payload, &(i as u64).to_le_bytes(), "{name}: message {i}");
        }
        let last = payloads.last().unwrap();
        assert_eq!(last.len(), 40 << 20, "{name}");
        assert_eq!(
            checksum(last),
            big_sum,
            "{name}: the 40 MiB message differs"
        );
    }
}

#[test]
fn drops_across_machines_are_counted_exactly_and_backpressure_loses_nothing() {
    const MESSAGES: u64 = 300;
    let cluster = Cluster::new(
        "nodes:\n  - id: source\n    path: s\n    outputs: [lossy, held]\n  - id: slow\n    path: n\n    inputs:\n      slow: { source: source/lossy, queue_size: 2 }\n  - id: patient\n    path: f\n    inputs:\n      patient: { source: source/held, queue_size: 2, queue_policy: backpressure }\n",
        &[("source", "m1"), ("slow", "m2"), ("patient", "m3")],
    );
    let slow_read = |events: EventStream| {
        let mut events = events;
        let mut payloads = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match events.recv_timeout(Duration::from_millis(200)) {
                Some(Event::Input { data, .. }) => {
                    payloads.push(u64::from_le_bytes(data[..8].try_into().unwrap()));
                    std::thread::sleep(Duration::from_millis(2));
                }
                Some(Event::InputClosed { .. }) => break,
                Some(Event::Error(e)) => panic!("{e}"),
                _ => {}
            }
        }
        let counts = events.input_counts().next().unwrap().1;
        (payloads, counts.received, counts.dropped)
    };
    let slow = node(cluster.config("slow"), move |_n, e| slow_read(e));
    let patient = node(cluster.config("patient"), move |_n, e| slow_read(e));
    let source = node(cluster.config("source"), |mut node, _events| {
        for i in 0..MESSAGES {
            node.send_output("lossy", Parameters::new(), &i.to_le_bytes())
                .unwrap();
            node.send_output("held", Parameters::new(), &i.to_le_bytes())
                .unwrap();
        }
    });
    cluster.start();
    source.join().unwrap();
    cluster.ended("source", "slow");
    cluster.ended("source", "patient");
    let (lossy, received, dropped) = slow.join().unwrap();
    assert_eq!(received, lossy.len() as u64);
    assert_eq!(
        received + dropped,
        MESSAGES,
        "received {received} + dropped {dropped} must be what was sent"
    );
    assert!(dropped > 0, "a queue of 2 read every 2 ms dropped nothing");
    assert!(
        lossy.windows(2).all(|w| w[0] < w[1]),
        "out of order: {lossy:?}"
    );
    let (held, received, dropped) = patient.join().unwrap();
    assert_eq!((received, dropped), (MESSAGES, 0));
    assert_eq!(held, (0..MESSAGES).collect::<Vec<_>>());
}

/// A CA, and one certificate it signed for 127.0.0.1 that both machines
/// use, as each machine's daemon has one the cluster's CA signed.
fn certificates(dir: &std::path::Path) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca_cert = ca.clone().self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("machine.pem"),
        key: dir.join("machine.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

#[test]
fn a_link_with_mutual_tls_carries_metadata_and_timestamps_intact() {
    let dir = std::env::temp_dir().join(format!("dora-remote-tls-{}", std::process::id()));
    let tls = certificates(&dir);
    let cluster = Cluster::with_tls(
        "nodes:\n  - id: source\n    path: s\n    outputs: [sealed]\n  - id: sink\n    path: f\n    inputs:\n      secure: { source: source/sealed, queue_size: 100 }\n",
        &[("source", "m1"), ("sink", "m2")],
        Some(tls),
    );
    let sink = node(cluster.config("sink"), |_node, mut events| {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 3 && Instant::now() < deadline {
            if let Some(Event::Input { metadata, data, .. }) =
                events.recv_timeout(Duration::from_millis(200))
            {
                got.push((metadata, data.to_vec()));
            }
        }
        got
    });
    let source = node(cluster.config("source"), |mut node, _events| {
        let mut sent_at = Vec::new();
        for i in 0..3i64 {
            let before = dora_node_api::now_ns();
            let mut parameters = Parameters::new();
            parameters.insert("i".into(), dora_node_api::Parameter::Integer(i));
            parameters.insert(
                "name".into(),
                dora_node_api::Parameter::String(format!("m{i}")),
            );
            node.send_output("sealed", parameters, &[i as u8; 5])
                .unwrap();
            sent_at.push((before, dora_node_api::now_ns()));
        }
        sent_at
    });
    cluster.start();
    let sent_at = source.join().unwrap();
    let got = sink.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.len(), 3, "over TLS");
    for (i, ((metadata, data), (before, after))) in got.iter().zip(sent_at).enumerate() {
        assert_eq!(data, &vec![i as u8; 5]);
        assert_eq!(metadata.sequence, i as u64);
        assert!(
            (before..=after).contains(&metadata.timestamp_ns),
            "the timestamp is the sender's"
        );
        assert_eq!(
            metadata.parameters.get("i"),
            Some(&dora_node_api::Parameter::Integer(i as i64))
        );
        assert_eq!(
            metadata.parameters.get("name"),
            Some(&dora_node_api::Parameter::String(format!("m{i}")))
        );
    }
}
