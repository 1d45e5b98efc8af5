//! Edges between machines made of network namespaces (198.19.0.0/16, in
//! the range reserved for network tests), with real node processes and
//! real zenoh. Each machine's launcher runs in the test process (shared
//! memory is not split by network namespaces); the nodes run inside their
//! machine's namespace and reach the other machine only over its veth.
//! Needs root (`ip netns`); skips with a message otherwise.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dora_core::config::NodeConfig;
use dora_core::descriptor::Dataflow;
use dora_core::id::NodeId;
use dora_node_api::launch::RunChannels;

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap();
    assert!(status.success(), "ip {args}");
}

/// Two namespaces joined by a veth pair; removed when dropped.
struct Machines {
    names: [String; 2],
    links: [String; 2],
    addresses: [String; 2],
}

impl Machines {
    fn new(tag: &str) -> Option<Machines> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            eprintln!("skipped: making network namespaces needs root");
            return None;
        }
        let pid = std::process::id();
        let subnet = pid % 250;
        let machines = Machines {
            names: [format!("dl{tag}{pid}a"), format!("dl{tag}{pid}b")],
            links: [format!("dl{tag}{subnet}a"), format!("dl{tag}{subnet}b")],
            addresses: [format!("198.19.{subnet}.1"), format!("198.19.{subnet}.2")],
        };
        for name in &machines.names {
            ip(&format!("netns add {name}"));
        }
        ip(&format!(
            "link add {} netns {} type veth peer name {} netns {}",
            machines.links[0], machines.names[0], machines.links[1], machines.names[1]
        ));
        for i in 0..2 {
            let (ns, link) = (&machines.names[i], &machines.links[i]);
            ip(&format!(
                "-n {ns} addr add {}/24 dev {link}",
                machines.addresses[i]
            ));
            ip(&format!("-n {ns} link set {link} up"));
            ip(&format!("-n {ns} link set lo up"));
        }
        Some(machines)
    }

    /// Cuts the link (`up: false`) or mends it: the second machine drops
    /// every packet in and out, as when a cable between switches is pulled
    /// (the interfaces stay up, nothing says the link is gone).
    fn link(&self, up: bool) {
        let action = if up { "-D" } else { "-A" };
        let link = &self.links[1];
        for rule in [format!("INPUT -i {link}"), format!("OUTPUT -o {link}")] {
            let status = Command::new("ip")
                .args(["netns", "exec", &self.names[1], "iptables", action])
                .args(rule.split_whitespace())
                .args(["-j", "DROP"])
                .status()
                .unwrap();
            assert!(status.success(), "iptables {action} {rule}");
        }
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// A node process, killed when dropped.
struct NodeProcess(Child);

impl NodeProcess {
    fn output(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a node did not end within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stdout = String::new();
        use std::io::Read;
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        stdout
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A machine's launcher, whose shared-memory files go with it, even when
/// the test fails.
struct Launcher(Option<RunChannels>, String);

impl Launcher {
    fn channels(&self) -> &RunChannels {
        self.0.as_ref().unwrap()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.0.take();
        let _ = dora_node_api::transport::remove_run_files(&self.1);
    }
}

/// Starts test node `program` with `config` inside namespace `ns`.
fn spawn(ns: &str, program: &str, args: &[&str], config: &NodeConfig) -> NodeProcess {
    let path = common::root().join("target/debug").join(program);
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(path)
        .args(args)
        .env(dora_core::config::ENV_VAR, config.to_env_value())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    NodeProcess(child)
}

fn count(report: &str, word: &str) -> u64 {
    report
        .split_whitespace()
        .skip_while(|w| *w != word)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{word}` in {report:?}"))
}

#[test]
fn a_link_cut_for_5s_resumes_without_a_restart_and_nothing_is_lost_silently() {
    common::build_nodes_once();
    let Some(machines) = Machines::new("c") else {
        return;
    };
    // 1,000 messages 10 ms apart: sending goes on for about 3 s after the
    // link is mended.
    const SENT: u64 = 1000;
    let dataflow = Dataflow::from_yaml_str(
        "nodes:\n  - id: source\n    path: s\n    outputs: [out, sum]\n  - id: lossy\n    path: l\n    inputs:\n      in: { source: source/out, queue_size: 10 }\n  - id: held\n    path: h\n    inputs:\n      in: { source: source/out, queue_size: 10, queue_policy: backpressure }\n",
    )
    .unwrap();
    let run = format!("links{}", std::process::id());
    let machine_of: BTreeMap<NodeId, String> = [("source", 0), ("lossy", 1), ("held", 1)]
        .into_iter()
        .map(|(node, m)| (NodeId::from(node), machines.names[m].clone()))
        .collect();
    let receiver_ip = machines.addresses[1].clone();
    let spread = dora_core::spread::over_machines(
        NodeConfig::for_dataflow(&dataflow, &run),
        &machine_of,
        &|node| {
            let port = if node.as_str() == "lossy" { 7610 } else { 7611 };
            vec![format!("tcp/{receiver_ip}:{port}")]
        },
    )
    .unwrap();
    let nodes: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
    let index = |node: &str| nodes.iter().position(|n| n.as_str() == node).unwrap();
    let launchers: Vec<Launcher> = machines
        .names
        .iter()
        .map(|name| {
            let local = spread[name].values().next().unwrap().dataflow_id.clone();
            Launcher(Some(RunChannels::open(&local, &nodes).unwrap()), local)
        })
        .collect();
    let config = |node: &str| spread[&machine_of[node]][node].clone();
    let source = spawn(
        &machines.names[0],
        "test-source",
        &["--count", &SENT.to_string(), "--every-ms", "10", "--seq"],
        &config("source"),
    );
    let lossy = spawn(&machines.names[1], "test-sink", &[], &config("lossy"));
    let mut held = spawn(&machines.names[1], "test-sink", &[], &config("held"));
    launchers[1]
        .channels()
        .start(
            &[index("lossy"), index("held")],
            false,
            Duration::from_secs(30),
            || None,
        )
        .unwrap();
    launchers[0]
        .channels()
        .start(&[index("source")], false, Duration::from_secs(30), || None)
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    machines.link(false);
    std::thread::sleep(Duration::from_secs(5));
    machines.link(true);
    assert!(
        held.0.try_wait().unwrap().is_none(),
        "a reader ended during the cut"
    );
    let sent = source.output();
    assert_eq!(count(&sent, "sent"), SENT, "{sent}");
    // What a daemon does when it hears the source ended for good.
    for reader in ["lossy", "held"] {
        launchers[1]
            .channels()
            .close_inputs_from(index(reader), index("source"))
            .unwrap();
    }
    let lossy = lossy.output();
    let held = held.output();
    // Every message is received or counted as dropped: none is lost
    // silently, through the cut and at the end.
    let (received, dropped) = (count(&lossy, "received"), count(&lossy, "dropped"));
    assert_eq!(received + dropped, SENT, "drop_oldest: {lossy}");
    let (received, dropped) = (count(&held, "received"), count(&held, "dropped"));
    assert_eq!(received + dropped, SENT, "backpressure: {held}");
    // Backpressure should lose none at all; one message is sometimes lost
    // where the cut begins, and counted.
    assert!(dropped <= 1, "backpressure: {held}");
}
