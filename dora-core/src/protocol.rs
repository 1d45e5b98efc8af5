//! What nodes and the launcher tell each other besides messages: the
//! signals on a node's wake-up channel, the reports on the launcher's
//! channel, the phases of start-up and how long it may take. Both sides
//! read these from here, so they cannot disagree.
//!
//! ```
//! use dora_core::protocol::{Report, Signal, StartPhase};
//!
//! assert_eq!(Signal::from_id(Signal::Start.id()), Some(Signal::Start));
//! assert_eq!(StartPhase::Connect.report(), Report::PortsCreated);
//! let id = Report::Connected.id(7);
//! assert_eq!(Report::from_id(id), (7, Report::Connected));
//! ```

use std::time::Duration;

/// How long start-up waits for the other side: the launcher for every
/// node's reports, and each node for the launcher's signals. Both sides
/// must agree, or one would give up while the other still waits.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// An event on a node's wake-up channel. One channel carries data
/// wake-ups and control signals, so that a node waits on exactly one
/// thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An input of the node has data.
    Data,
    /// The launcher asks the node to stop.
    Stop,
    /// Start-up: every node's ports exist; connect them.
    Connect,
    /// Start-up: every node is connected; start.
    Start,
    /// Nodes that fed this one have ended: their indices wait on the
    /// node's control channel, and the inputs they fed close once drained.
    InputClosed,
    /// Like `Connect`, for a node that was restarted: the nodes it joins
    /// are running, and greeted it long ago.
    ConnectRestarted,
}

impl Signal {
    /// The largest event id of a wake-up channel. The range is kept tiny
    /// on purpose: a listener's cost per wake-up grows with it (a range
    /// of 4096 ids doubled the one-way latency).
    pub const MAX_ID: usize = 7;

    const ALL: [Signal; 6] = [
        Signal::Data,
        Signal::Stop,
        Signal::Connect,
        Signal::Start,
        Signal::InputClosed,
        Signal::ConnectRestarted,
    ];

    /// The event id that carries this signal.
    pub fn id(self) -> usize {
        self as usize
    }

    /// The signal an event id carries; `None` for an id no dora version
    /// sends.
    pub fn from_id(id: usize) -> Option<Signal> {
        Signal::ALL.get(id).copied()
    }
}

/// The two phases of the start-up barrier. In each, every node reports to
/// the launcher, and the launcher answers all of them with one signal once
/// every report is in; nothing is sent before both phases are done, so no
/// message is lost at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPhase {
    /// The node created its ports and waits to connect them.
    Connect,
    /// The node connected its ports and waits to start.
    Start,
}

impl StartPhase {
    pub const ALL: [StartPhase; 2] = [StartPhase::Connect, StartPhase::Start];

    /// What each node reports when it reaches this phase.
    pub fn report(self) -> Report {
        match self {
            StartPhase::Connect => Report::PortsCreated,
            StartPhase::Start => Report::Connected,
        }
    }

    /// The launcher's answer once every node has reported; a restarted
    /// node is told that it joins running nodes.
    pub fn signal(self, restarted: bool) -> Signal {
        match (self, restarted) {
            (StartPhase::Connect, false) => Signal::Connect,
            (StartPhase::Connect, true) => Signal::ConnectRestarted,
            (StartPhase::Start, _) => Signal::Start,
        }
    }
}

/// A node's report on the launcher's channel. The event id carries both
/// the node's index in the dataflow and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    PortsCreated,
    Connected,
}

impl Report {
    /// The event id of this report from node number `node_index`.
    pub fn id(self, node_index: usize) -> usize {
        2 * node_index + self as usize
    }

    /// The node index and report an event id carries.
    pub fn from_id(id: usize) -> (usize, Report) {
        let report = if id % 2 == 0 {
            Report::PortsCreated
        } else {
            Report::Connected
        };
        (id / 2, report)
    }

    /// The largest event id of the launcher's channel for `nodes` nodes.
    pub fn max_id(nodes: usize) -> usize {
        Report::Connected.id(nodes.max(1))
    }
}

/// What the coordinator and the machines' daemons say to each other: the
/// zenoh keys of presence, the messages of a machine's joining, the
/// commands a daemon carries out and the reports of the dataflows it runs.
pub mod cluster {
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    mod container;

    pub use container::{
        container_report_key, output_key, parse_container_report_key, ContainerReport,
        ContainerRun, ContainerState, Mount, OutputChunk, CONTAINER_REPORT_ALL,
    };
    pub use exec::{exec_input_key, exec_output_key, ExecFrame};

    mod exec;

    /// The version of these messages; a daemon and a coordinator of
    /// another version refuse each other with a message that says so.
    pub const VERSION: u32 = 1;

    /// The liveliness key a machine's daemon holds while it is connected.
    pub fn presence_key(zone: &str, machine: &str) -> String {
        format!("dora/v1/presence/{zone}/{machine}")
    }

    /// Every machine's presence key.
    pub const PRESENCE_ALL: &str = "dora/v1/presence/*/*";

    /// The zone and machine of a presence key.
    pub fn parse_presence_key(key: &str) -> Option<(&str, &str)> {
        let rest = key.strip_prefix("dora/v1/presence/")?;
        let (zone, machine) = rest.split_once('/')?;
        (!machine.contains('/')).then_some((zone, machine))
    }

    #[test]
    fn report_keys_are_read_back() {
        let key = report_key("dc-1", "gpu-2", "f00d");
        assert_eq!(parse_report_key(&key), Some(("dc-1", "gpu-2", "f00d")));
        assert_eq!(parse_report_key("dora/v1/report/a/b/c/d"), None);
        assert_eq!(parse_report_key("dora/v1/presence/a/b"), None);
    }

    #[test]
    fn a_numbered_report_reads_back() {
        let report = NumberedReport {
            seq: 7,
            report: DataflowReport::Line {
                node: "camera".to_owned(),
                stderr: true,
                text: "frame 3".to_owned(),
            },
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            r#"{"seq":7,"report":"line","node":"camera","stderr":true,"text":"frame 3"}"#
        );
        assert_eq!(
            serde_json::from_str::<NumberedReport>(&json).unwrap(),
            report
        );
    }

    /// The key a machine's daemon publishes, for the other machines of a
    /// spread run, that one of its nodes has ended for good, as an
    /// [`EndedElsewhere`]; the coordinator publishes it for the nodes of a
    /// machine it has lost.
    pub fn ended_key(zone: &str, dataflow: &str, node: &str) -> String {
        format!("dora/v1/ended/{zone}/{dataflow}/{node}")
    }

    /// Every node of run `dataflow` that has ended for good.
    pub fn ended_all(zone: &str, dataflow: &str) -> String {
        format!("dora/v1/ended/{zone}/{dataflow}/*")
    }

    /// A node of a spread run, on machine `machine`, has ended for good.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EndedElsewhere {
        pub node: String,
        pub machine: String,
        pub failed: bool,
        /// How it ended, for people.
        pub status: String,
    }

    /// The key of a machine's command queryable: the coordinator sends a
    /// [`Command`] as a query's payload, the daemon answers with a
    /// [`CommandAnswer`].
    pub fn command_key(zone: &str, machine: &str) -> String {
        format!("dora/v1/command/{zone}/{machine}")
    }

    /// The key a daemon publishes a dataflow's [`DataflowReport`]s on.
    pub fn report_key(zone: &str, machine: &str, dataflow: &str) -> String {
        format!("dora/v1/report/{zone}/{machine}/{dataflow}")
    }

    /// Every report of every machine.
    pub const REPORT_ALL: &str = "dora/v1/report/*/*/*";

    /// The zone, machine and dataflow of a report key.
    pub fn parse_report_key(key: &str) -> Option<(&str, &str, &str)> {
        let rest = key.strip_prefix("dora/v1/report/")?;
        let mut parts = rest.split('/');
        let parsed = (parts.next()?, parts.next()?, parts.next()?);
        parts.next().is_none().then_some(parsed)
    }

    /// What the coordinator asks of a machine's daemon.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", tag = "command")]
    pub enum Command {
        /// Run a dataflow: build it and start every node, from `folder`
        /// (on this machine), as `dora run` would.
        Start {
            /// The run's id, unique in the cluster.
            dataflow: String,
            /// The dataflow's name, for people.
            name: String,
            /// The dataflow file's text.
            source: String,
            /// The dataflow file's path, for messages.
            file: String,
            /// The dataflow's folder, where nodes' paths and build steps
            /// start.
            folder: String,
            /// Per node id: the machine that runs it, when the dataflow is
            /// spread over several machines; empty when this one runs
            /// every node.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            machines: BTreeMap<String, String>,
            /// Per node that reads from another machine: the endpoints it
            /// listens on (`tls/198.18.0.2:42000`).
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            listen: BTreeMap<String, Vec<String>>,
        },
        /// Stop a dataflow: `Stop` to every node, then a kill for those
        /// still running after `grace_ms`.
        Stop { dataflow: String, grace_ms: u64 },
        /// Which dataflows run here.
        List,
        /// What the machine has (as its daemon found at its start).
        Inventory,
        /// Run a workload's replica in a container and keep it as its
        /// restart policy says. Done at once when it already runs here.
        RunContainer { run: Box<ContainerRun> },
        /// Stop a container (SIGTERM, then SIGKILL after `grace_ms`) and
        /// remove it.
        DeleteContainer { uid: String, grace_ms: u64 },
        /// The state of every container that runs here.
        Containers,
        /// Publish what the container of `uid` printed on
        /// [`output_key`]`(stream)`, as [`OutputChunk`]s; with `follow`,
        /// then what it prints until it ends or [`Command::EndOutput`].
        ContainerLogs {
            uid: String,
            follow: bool,
            stream: String,
        },
        /// Stop publishing `stream`.
        EndOutput { stream: String },
        /// Run `cmd` in the container of `uid`, with a terminal when
        /// `tty`: its input is read from [`exec_input_key`]`(stream)`, its
        /// output and exit code published on [`exec_output_key`]`(stream)`,
        /// as [`ExecFrame`]s.
        Exec {
            uid: String,
            cmd: Vec<String>,
            tty: bool,
            stream: String,
        },
    }

    /// A daemon's answer to a [`Command`].
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", tag = "answer")]
    pub enum CommandAnswer {
        Done,
        /// The dataflows that run on the machine, by id; and the last
        /// report of those that ended lately.
        Running {
            dataflows: Vec<String>,
            ended: std::collections::BTreeMap<String, NumberedReport>,
        },
        /// What the machine has.
        Inventory {
            inventory: Inventory,
        },
        /// The last report of every container here.
        Containers {
            containers: Vec<ContainerReport>,
        },
        Refused {
            reason: String,
        },
    }

    /// A [`DataflowReport`] with its number: a run's reports are numbered
    /// from 0 in the order they are sent, so the coordinator can count
    /// any that did not reach it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct NumberedReport {
        pub seq: u64,
        #[serde(flatten)]
        pub report: DataflowReport,
    }

    /// What a daemon tells the coordinator of a dataflow it runs, in order.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", tag = "report")]
    pub enum DataflowReport {
        /// Every node has started and passed the start-up barrier.
        Running { nodes: u32 },
        /// A line a node printed (on stderr when `stderr`).
        Line {
            node: String,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            stderr: bool,
            text: String,
        },
        /// What the launcher says: builds, warnings.
        Said { text: String },
        /// A decision of the supervisor about node `node`, with the line a
        /// person reads.
        Event {
            node: String,
            event: RunEventKind,
            text: String,
        },
        /// A node has ended for good.
        NodeEnded {
            node: String,
            failed: bool,
            status: String,
        },
        /// The dataflow (this machine's part of it) has ended: the
        /// summary `dora run` prints, and for a part of a spread run what
        /// it counted on its edges to other machines.
        Ended {
            failed: bool,
            summary: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            edges: Option<EdgeCounts>,
        },
        /// It could not be built or started.
        Failed { error: String },
    }

    /// What a machine's part of a spread run counted on its edges to
    /// other machines, for the coordinator to account what was sent on
    /// one machine and never read on another.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EdgeCounts {
        /// Per `node/output` that nodes of other machines read: the
        /// messages sent on it.
        pub sent: BTreeMap<String, u64>,
        /// Per `node/input` that reads a node of another machine: that
        /// `node/output`, and the messages the input read or counted as
        /// dropped.
        pub read: BTreeMap<String, ReadCount>,
    }

    /// What one input read of an output of another machine.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ReadCount {
        pub from: String,
        pub read: u64,
    }

    /// What the supervisor decided about a node.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", tag = "kind")]
    pub enum RunEventKind {
        /// Its process ended; it starts again after `delay_ms`.
        #[serde(rename_all = "camelCase")]
        Restarting {
            restart: u32,
            max_restarts: u32,
            delay_ms: u64,
        },
        /// Operators of this runtime node failed for good; it ended.
        OperatorsFailed { operators: Vec<String> },
        /// It could not be started again.
        RestartFailed,
    }

    /// What a machine has to run work: its CPUs, memory and GPUs.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Inventory {
        pub cpus: u32,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub cpu_model: String,
        pub memory_bytes: u64,
        #[serde(default)]
        pub gpus: Vec<Gpu>,
        /// Where nodes of this machine take links from nodes of other
        /// machines.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub links: Option<NodeLinks>,
    }

    /// The address other machines reach this machine's nodes on, and the
    /// ports the coordinator may give them to listen on.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct NodeLinks {
        pub address: String,
        pub first_port: u16,
        pub last_port: u16,
    }

    /// One GPU, as NVML reports it (or as a simulated inventory says).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Gpu {
        pub uuid: String,
        pub product_name: String,
        pub memory_bytes: u64,
        /// From `--inventory`, not from a device.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub simulated: bool,
    }

    /// A daemon's request to join the cluster, with its join token as the
    /// request's bearer token.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct JoinRequest {
        pub version: u32,
        pub machine: String,
        pub zone: String,
        #[serde(default)]
        pub labels: std::collections::BTreeMap<String, String>,
        /// A certificate signing request (PEM) for the machine's key,
        /// which never leaves the machine.
        pub csr: String,
        pub inventory: Inventory,
    }

    /// The coordinator's answer: the machine's certificate, the CA that
    /// signed it, and where to reach the coordinator over zenoh.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct JoinAnswer {
        pub version: u32,
        pub ca: String,
        pub certificate: String,
        /// Zenoh endpoints, like `tls/coordinator.example:7447`.
        pub endpoints: Vec<String>,
    }
}
