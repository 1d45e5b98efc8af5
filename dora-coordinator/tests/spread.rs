//! Dataflows spread over two machines of a cluster: a real coordinator and
//! two real daemons (two machines of one host, each with its own shared
//! memory, their nodes linked by zenoh over loopback with the cluster's
//! TLS), driven by the `dora` CLI.

mod common;

use common::cluster::*;
use common::text;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A coordinator and the daemons of machines `m1` and `m2`.
struct Cluster {
    coordinator: Coordinator,
    /// The coordinator's arguments: its control plane's fixed address,
    /// so that a new coordinator on the same state takes the daemons back.
    args: Vec<String>,
    machines: Vec<(String, Daemon)>,
}

/// The ports the daemons of a new cluster give their nodes: apart from
/// those of the other clusters of this test process, and of other test
/// processes.
fn node_ports() -> String {
    static CLUSTERS: AtomicU32 = AtomicU32::new(0);
    let cluster = CLUSTERS.fetch_add(1, Ordering::Relaxed) % 8;
    let first = 20_000 + (std::process::id() % 100) * 400 + cluster * 50;
    format!("{first}-{}", first + 49)
}

fn machine(coordinator: &Coordinator, name: &str, token: Option<&str>, ports: &str) -> Daemon {
    Daemon(
        daemon(coordinator, name, "default", token)
            .args(["--node-address", "127.0.0.1", "--node-ports", ports])
            .spawn()
            .unwrap(),
    )
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        common::build_nodes_once();
        let dir = scratch(name);
        let args = vec![
            "--control-listen".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ];
        let coordinator =
            Coordinator::start(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::write(coordinator.dir.join("gpus.yml"), "gpus: []\n").unwrap();
        let token = secure_cli(
            &coordinator,
            &["token", "create", "--join", "--zone", "default"],
        );
        assert!(token.status.success(), "{}", text(&token.stderr));
        let token = text(&token.stdout).trim().to_owned();
        let ports = node_ports();
        let machines = ["m1", "m2"]
            .map(|name| {
                let daemon = machine(&coordinator, name, Some(&token), &ports);
                wait_for_state(&coordinator, "default", name, "Ready");
                (name.to_owned(), daemon)
            })
            .into();
        Cluster {
            coordinator,
            args,
            machines,
        }
    }

    /// Kills the coordinator with SIGKILL, and starts another on its state.
    fn restart_coordinator(&mut self, down_for: Duration) {
        self.coordinator.kill();
        std::thread::sleep(down_for);
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.coordinator = Coordinator::start(&self.coordinator.dir.clone(), &args);
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        secure_cli(&self.coordinator, args)
    }

    /// Kills machine `name`'s daemon with SIGKILL; its nodes die with it.
    fn kill(&mut self, name: &str) {
        let index = self.machines.iter().position(|(n, _)| n == name).unwrap();
        let (_, mut daemon) = self.machines.remove(index);
        let _ = daemon.0.kill();
        let _ = daemon.0.wait();
    }

    /// Waits until dataflow `name` is in `state`; its `dora list` row.
    fn wait_for(&self, name: &str, state: &str) -> Vec<String> {
        wait_for_dataflow(&self.coordinator, name, state)
    }

    fn described(&self, name: &str) -> String {
        text(&self.cli(&["describe", "dataflow", name]).stdout)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.machines.clear();
        let _ = std::fs::remove_dir_all(&self.coordinator.dir);
    }
}

/// A source pinned to m1 feeding a sink next to it and one pinned to m2;
/// both sinks check every message's checksum.
const FAN_OUT: &str = "nodes:
  - id: source
    path: BIN/test-source
    args: --count COUNT --size 4096 --wait-ms WAIT
    outputs: [out, sum]
    deploy: { machine: m1 }
  - id: near
    path: BIN/test-sink
    inputs:
      in: { source: source/out, queue_policy: backpressure }
      sum: { source: source/sum, queue_policy: backpressure }
  - id: far
    path: BIN/test-sink
    deploy: { machine: m2 }
    inputs:
      in: { source: source/out, queue_policy: backpressure }
      sum: { source: source/sum, queue_policy: backpressure }
";

fn fan_out(name: &str, count: u64, wait_ms: u64) -> PathBuf {
    counted_dataflow(name, FAN_OUT, count, wait_ms)
}

fn clean_up(files: &[PathBuf]) {
    for file in files {
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}

#[test]
fn a_dataflow_spread_over_two_machines_runs_each_part_there_and_ends_and_stops_as_one() {
    let cluster = Cluster::start("spread");

    // Placed per node: the unpinned sink goes next to its source.
    let file = fan_out("spread-fan", 1000, 0);
    let output = cluster.cli(&["start", file.to_str().unwrap(), "--name", "fan", "--attach"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("starts on machines `m1`, `m2`")
            && stderr.contains("near on `m1`: next to `source`, which it talks to")
            && stderr.contains("far on `m2`: its deploy.machine"),
        "{stderr}"
    );
    // Every message reached both sinks, intact, and each line says where
    // its node ran.
    for sink in ["near@m1", "far@m2"] {
        let report = common::sink_report(&stdout, sink);
        assert_eq!(report["received"], 1000, "{sink}: {report:?}");
        assert_eq!(report["dropped"], 0, "{sink}: {report:?}");
        assert!(report["checked"] > 0, "{sink}: {report:?}");
        assert_eq!(report["mismatches"], 0, "{sink}: {report:?}");
    }
    assert!(!stderr.contains("between machines:"), "{stderr}");
    let row = cluster.wait_for("fan", "Succeeded");
    assert_eq!(row[3..5], ["m1,m2", "0/3"], "{row:?}");
    // The summary is each machine's, under its name.
    assert!(
        stderr.contains("machine `m1`:") && stderr.contains("machine `m2`:"),
        "{stderr}"
    );
    let described = cluster.described("fan");
    assert!(
        described.contains("Machines:") && described.contains("m1, m2"),
        "{described}"
    );
    assert!(
        described.contains(
            "far: on m2 because its deploy.machine; ok, reads other machines on tls/127.0.0.1:"
        ),
        "{described}"
    );
    let logs = cluster.cli(&["logs", "fan", "far"]);
    assert_eq!(
        common::sink_report(&text(&logs.stdout), "far@m2")["received"],
        1000
    );

    // One that runs until it is stopped: `dora stop` stops both parts.
    let slow = fan_out("spread-slow", 100, 600_000);
    let output = cluster.cli(&["start", slow.to_str().unwrap(), "--name", "slow"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let row = cluster.wait_for("slow", "Running");
    assert_eq!(row[3..5], ["m1,m2", "3/3"], "{row:?}");
    let stop = cluster.cli(&["stop", "slow", "--grace", "3s"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let row = cluster.wait_for("slow", "Stopped");
    assert_eq!(row[4], "0/3", "{row:?}");
    let logs = text(&cluster.cli(&["logs", "slow", "far"]).stdout);
    assert_eq!(
        common::sink_report(&logs, "far@m2")["received"],
        100,
        "{logs}"
    );

    clean_up(&[file, slow]);
}

#[test]
fn a_reader_restarted_on_its_machine_reconnects_to_its_remote_sender() {
    let cluster = Cluster::start("spread-restart");
    // The sink on m2 fails after 5 messages and is restarted once by its
    // daemon; the restarted process gets 5 more from m1, and fails again.
    let file = common::scratch_dataflow(
        "spread-restart",
        "nodes:
  - id: source
    path: BIN/test-source
    args: --count 40 --every-ms 20
    outputs: [out, sum]
    deploy: { machine: m1 }
  - id: sink
    path: BIN/test-sink
    args: --fail-after 5
    restart_policy: on-failure
    max_restarts: 1
    restart_delay: 10ms
    deploy: { machine: m2 }
    inputs:
      in: { source: source/out, queue_policy: backpressure }
",
    );
    let output = cluster.cli(&["start", file.to_str().unwrap(), "--name", "flaky"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait_for("flaky", "Failed");
    let logs = cluster.cli(&["logs", "flaky"]);
    let (stdout, stderr) = (text(&logs.stdout), text(&logs.stderr));
    assert_eq!(
        stdout.matches("sink@m2 | failing after 5").count(),
        2,
        "both processes got 5 messages:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("restarting it")
            && stderr.contains("node `sink` ended: failed: exit code 1"),
        "{stderr}"
    );
    // The 30 messages neither process read are accounted by the
    // coordinator, which alone knows both machines' counts.
    assert!(
        stderr.contains("between machines:")
            && stderr.contains("`sink/in` on `m2` did not read 30 of the 40 messages `source/out` sent on `m1`: lost: the reader failed"),
        "{stderr}"
    );
    assert!(
        cluster.described("flaky").contains("restarted 1 times"),
        "{}",
        cluster.described("flaky")
    );
    clean_up(&[file]);
}

#[test]
fn a_lost_machine_is_reported_and_the_nodes_it_fed_see_their_inputs_close() {
    let mut cluster = Cluster::start("spread-lost");
    // The source on m2 sends 50 messages and waits; the sink on m1 reads
    // them. Then m2's daemon dies, taking the source with it.
    let file = common::scratch_dataflow(
        "spread-lost",
        "nodes:
  - id: source
    path: BIN/test-source
    args: --count 50 --wait-ms 600000
    outputs: [out, sum]
    deploy: { machine: m2 }
  - id: sink
    path: BIN/test-sink
    deploy: { machine: m1 }
    inputs:
      in: { source: source/out, queue_policy: backpressure }
",
    );
    let output = cluster.cli(&["start", file.to_str().unwrap(), "--name", "lost"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait_for("lost", "Running");
    // Its 50 messages are sent at once; the sink has read them well
    // before the machine goes.
    std::thread::sleep(Duration::from_secs(2));
    cluster.kill("m2");
    wait_for_state(&cluster.coordinator, "default", "m2", "NotReady");
    // Lost after the coordinator's patience (10 s): the source is
    // reported lost, the sink's input closes, the sink ends, and the run
    // has failed, since a part of it was lost.
    let row = cluster.wait_for("lost", "Failed");
    assert_eq!(row[4], "0/2", "{row:?}");
    let logs = cluster.cli(&["logs", "lost"]);
    let (stdout, stderr) = (text(&logs.stdout), text(&logs.stderr));
    assert!(
        stderr.contains("machine `m2` is lost")
            && stderr.contains("node `source` ended: lost: machine `m2` was out of reach"),
        "{stderr}"
    );
    assert!(stdout.contains("sink@m1 | closed in after 50"), "{stdout}");
    assert_eq!(common::sink_report(&stdout, "sink@m1")["received"], 50);
    let described = cluster.described("lost");
    assert!(described.contains("source: on m2"), "{described}");
    assert!(described.contains("lost: machine `m2`"), "{described}");
    clean_up(&[file]);
}

#[test]
fn data_flows_on_while_the_coordinator_is_killed_and_the_next_one_stops_the_run() {
    let mut cluster = Cluster::start("spread-kill");
    // The source sends a message every 20 ms for 6 s, then waits.
    let file = common::scratch_dataflow(
        "spread-kill",
        "nodes:
  - id: source
    path: BIN/test-source
    args: --count 300 --every-ms 20 --wait-ms 600000
    outputs: [out, sum]
    deploy: { machine: m1 }
  - id: far
    path: BIN/test-sink
    deploy: { machine: m2 }
    inputs:
      in: { source: source/out, queue_policy: backpressure }
",
    );
    let output = cluster.cli(&["start", file.to_str().unwrap(), "--name", "kept"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    cluster.wait_for("kept", "Running");
    let started = Instant::now();
    // Down for 3 s while messages go from m1 to m2.
    cluster.restart_coordinator(Duration::from_secs(3));
    let row = cluster.wait_for("kept", "Running");
    assert_eq!(row[3..5], ["m1,m2", "2/2"], "{row:?}");
    std::thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
    let stop = cluster.cli(&["stop", "kept"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    cluster.wait_for("kept", "Stopped");
    // Every message reached m2, those sent while no coordinator ran too;
    // the sink's last words reached the new coordinator.
    let logs = text(&cluster.cli(&["logs", "kept", "far"]).stdout);
    let report = common::sink_report(&logs, "far@m2");
    assert_eq!((report["received"], report["dropped"]), (300, 0), "{logs}");
    clean_up(&[file]);
}
