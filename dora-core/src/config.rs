//! The configuration a launcher hands to every node it starts: who the node
//! is, what it receives and from which channel, what it sends and to whom.
//!
//! It travels as JSON in the `DORA_NODE_CONFIG` environment variable, so a
//! node needs nothing but its environment to join its dataflow.
//!
//! ```
//! use dora_core::config::NodeConfig;
//! use dora_core::descriptor::Dataflow;
//!
//! let dataflow = Dataflow::from_yaml_str(
//!     "nodes:
//!   - id: sender
//!     path: sender
//!     inputs: { tick: dora/timer/millis/100 }
//!     outputs: [message]
//!   - id: receiver
//!     path: receiver
//!     inputs: { message: sender/message }
//! ",
//! )
//! .unwrap();
//! let configs = NodeConfig::for_dataflow(&dataflow, "run-1");
//! let sender = &configs["sender"];
//! let receivers = &sender.outputs["message"].receivers;
//! assert_eq!(receivers[0].node.as_str(), "receiver");
//! assert_eq!(configs["receiver"].inputs["message"].channel.as_deref(),
//!            Some("dora/run-1/sender/out/message"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::channel;
use crate::descriptor::{
    Dataflow, Input, InputSource, Operator, OperatorSource, QueuePolicy, RestartPolicy,
};
use crate::id::{DataId, NodeId, OperatorId};
use crate::log::LogLevel;
use crate::relay::{self, Route, RELAY_NODE};
use crate::Duration;

/// The environment variable that carries a node's [`NodeConfig`] as JSON.
pub const ENV_VAR: &str = "DORA_NODE_CONFIG";

/// Everything a node needs to join its dataflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// The id of this run of the dataflow; unique per run.
    pub dataflow_id: String,
    pub node_id: NodeId,
    /// Inputs by id. The inputs of a runtime node's operators are named
    /// `operator/input`.
    pub inputs: BTreeMap<DataId, InputConfig>,
    /// Outputs by id. The outputs of a runtime node's operators are named
    /// `operator/output`.
    pub outputs: BTreeMap<DataId, OutputConfig>,
    /// The channel that wakes this node when an input has data.
    pub wakeup: String,
    /// The channel on which the launcher tells this node to stop.
    pub control: String,
    /// Every node of the dataflow: start-up waits until all are ready.
    pub nodes: Vec<NodeId>,
    /// A runtime node's operators, in the order they are declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<OperatorConfig>,
    /// How many times a runtime node restarts an operator that panicked,
    /// unless the operator says otherwise: the node's `max_restarts`, or 0
    /// with `restart_policy: never`.
    #[serde(default)]
    pub max_restarts: u32,
    /// Whether the launcher watches that the node keeps taking its events
    /// (`health_check_timeout`): the node then records when it last took
    /// one (see `dora_node_api::stats::Liveness`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub health_check: bool,
    /// The node's `min_log_level`: its logger need not even format
    /// records less severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_log_level: Option<LogLevel>,
    /// How the node reaches nodes on other machines; `None` when all its
    /// edges are on its machine, and it then opens no network session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteConfig>,
}

/// The network side of a node with edges to other machines (see
/// [`crate::spread`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// Where the node listens for the nodes that send to it from other
    /// machines (zenoh endpoints such as `tls/198.18.0.2:7600`); empty
    /// when it reads nothing from them.
    pub listen: Vec<String>,
    /// Where the nodes it sends to on other machines listen.
    pub connect: Vec<String>,
    /// The certificates of mutually authenticated TLS links; `None` for
    /// plain TCP (a cluster started `--insecure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

/// The files of one side of a TLS link, on the node's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The cluster's CA, which signed both sides' certificates.
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// One operator of a runtime node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorConfig {
    pub id: OperatorId,
    /// What to load it from; a path is relative to the dataflow's folder.
    pub source: OperatorSourceConfig,
    pub priority: i32,
    /// Inputs by the operator's own id for them.
    pub inputs: BTreeMap<DataId, OperatorInputConfig>,
    /// The operator's own ids for its outputs; the node sends them as
    /// `operator/output`.
    pub outputs: Vec<DataId>,
    /// The operator's own `max_restarts`, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
}

/// What an operator is loaded from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorSourceConfig {
    SharedLibrary(String),
    C(String),
    Python(String),
}

/// One input of an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorInputConfig {
    pub from: OperatorInputFrom,
    pub queue_size: usize,
    pub queue_policy: QueuePolicy,
    /// An event that waited longer is flagged as late, and counted.
    pub deadline: Option<Duration>,
}

/// Where an operator input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorInputFrom {
    /// The node's input of this id (`operator/input`): another node, or a
    /// timer.
    NodeInput(DataId),
    /// An output of another operator of the same node, passed in-process.
    Operator {
        operator: OperatorId,
        output: DataId,
    },
}

/// One input of a running node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputConfig {
    pub source: InputSource,
    /// The output channel read from; `None` for timers, which tick inside
    /// the node.
    pub channel: Option<String>,
    pub queue_size: usize,
    pub queue_policy: QueuePolicy,
    pub deadline: Option<Duration>,
    /// Close the input for the node when no message comes for this long
    /// (once one has come); see `Input::input_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The layout the edge's standard type gives its payloads; a message
    /// that does not fit is counted, not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::descriptor::Layout>,
    /// Where the source runs, and so how its messages come.
    pub from: SourceLink,
    /// The settings of the channel read from (the same for all its readers).
    pub settings: Option<ChannelSettings>,
}

/// The settings of an output's channel. Sender and receivers must agree on
/// them, so each gets them from its config rather than guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSettings {
    /// How many inputs read the channel.
    pub receivers: usize,
    /// The largest `queue_size` among them.
    pub queue_size: usize,
    /// Whether any of them asks for `backpressure`: then the sender waits
    /// for room instead of dropping the oldest message.
    pub backpressure: bool,
}

/// One output of a running node and the inputs it feeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputConfig {
    pub channel: String,
    pub receivers: Vec<ReceiverConfig>,
    pub settings: ChannelSettings,
}

impl OutputConfig {
    /// An output on `channel` with no receivers yet.
    fn new(channel: String) -> OutputConfig {
        OutputConfig {
            channel,
            receivers: Vec::new(),
            // Settled once every receiver is known.
            settings: ChannelSettings {
                receivers: 0,
                queue_size: 1,
                backpressure: false,
            },
        }
    }

    fn settle(&mut self) {
        self.settings = ChannelSettings {
            receivers: self.receivers.len(),
            queue_size: self
                .receivers
                .iter()
                .map(|r| r.queue_size)
                .max()
                .unwrap_or(1),
            backpressure: self
                .receivers
                .iter()
                .any(|r| r.queue_policy == QueuePolicy::Backpressure),
        };
    }
}

/// An input fed by an output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverConfig {
    pub node: NodeId,
    pub input: DataId,
    /// Where the receiver runs, and so how the sender reaches it.
    pub link: ReceiverLink,
    pub queue_size: usize,
    pub queue_policy: QueuePolicy,
}

/// How a sender reaches one of its receivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverLink {
    /// On the sender's machine, through shared memory: the sender notifies
    /// the receiving node's wake-up channel after each send (when the node
    /// may be asleep).
    Local { wakeup: String },
    /// On another machine, over the network: the receiving node's side of
    /// the network wakes it, so the sender has no wake-up to notify.
    Remote { machine: String },
}

/// Where an input's source runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceLink {
    /// On this machine (or none: a timer, which ticks in the node).
    #[default]
    Local,
    /// On another machine: its messages come over the network.
    Remote { machine: String },
}

/// Why a node could not read its configuration.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    #[error(
        "this node was started outside dora ({ENV_VAR} is not set); start it with `dora run <dataflow.yml>`"
    )]
    NotStartedByDora,
    #[error("{ENV_VAR} does not hold a valid node configuration ({0}); start the node with the `dora run` of the same dora version")]
    Invalid(#[from] serde_json::Error),
    #[error("cannot read the node configuration file {path} that {ENV_VAR} names: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
}

impl NodeConfig {
    /// The configuration of every node of a valid dataflow, for one run,
    /// and of the log relay ([`RELAY_NODE`]) when the dataflow needs it.
    /// Every edge is local; placement marks the remote ones.
    pub fn for_dataflow(dataflow: &Dataflow, dataflow_id: &str) -> BTreeMap<NodeId, NodeConfig> {
        let nodes: Vec<NodeId> = dataflow.nodes.iter().map(|n| n.id.clone()).collect();
        let mut configs: BTreeMap<NodeId, NodeConfig> = dataflow
            .nodes
            .iter()
            .map(|node| {
                let mut outputs = BTreeMap::new();
                let mut add_output = |id: DataId| {
                    let channel = channel::output(dataflow_id, &node.id, &id);
                    outputs.insert(id, OutputConfig::new(channel));
                };
                node.outputs.iter().cloned().for_each(&mut add_output);
                for operator in &node.operators {
                    for output in &operator.outputs {
                        add_output(DataId::qualified(Some(&operator.id), output));
                    }
                }
                let config = NodeConfig {
                    dataflow_id: dataflow_id.to_owned(),
                    node_id: node.id.clone(),
                    inputs: BTreeMap::new(),
                    outputs,
                    wakeup: channel::wakeup(dataflow_id, &node.id),
                    control: channel::control(dataflow_id, &node.id),
                    nodes: nodes.clone(),
                    operators: node
                        .operators
                        .iter()
                        .map(|operator| operator_config(&node.id, operator))
                        .collect(),
                    max_restarts: match node.restart_policy {
                        RestartPolicy::Never => 0,
                        _ => node.max_restarts,
                    },
                    health_check: node.health_check_timeout.is_some(),
                    min_log_level: node.min_log_level,
                    remote: None,
                };
                (node.id.clone(), config)
            })
            .collect();
        let mut relay = relay::needed(dataflow).then(|| {
            let mut nodes = nodes.clone();
            nodes.push(RELAY_NODE.into());
            for config in configs.values_mut() {
                config.nodes = nodes.clone();
            }
            let id = NodeId::from(RELAY_NODE);
            NodeConfig {
                dataflow_id: dataflow_id.to_owned(),
                inputs: BTreeMap::new(),
                outputs: BTreeMap::new(),
                wakeup: channel::wakeup(dataflow_id, &id),
                control: channel::control(dataflow_id, &id),
                node_id: id,
                nodes,
                operators: Vec::new(),
                max_restarts: 0,
                health_check: false,
                min_log_level: None,
                remote: None,
            }
        });
        for connection in dataflow.connections() {
            let receiver = &connection.receiver;
            // Operators of one node pass messages in-process.
            if let (Some(_), InputSource::Output(source)) = (&receiver.operator, connection.source)
            {
                if source.node == receiver.node && source.operator.is_some() {
                    continue;
                }
            }
            let input_id = DataId::qualified(receiver.operator.as_ref(), &receiver.input);
            let channel = match connection.source {
                InputSource::Timer(_) => None,
                InputSource::Logs(_) => relay.as_mut().map(|relay| {
                    let route = Route::Logs {
                        reader: receiver.node.clone(),
                        input: input_id.clone(),
                    };
                    let mut output = OutputConfig::new(channel::output(
                        dataflow_id,
                        &relay.node_id,
                        &route.output(),
                    ));
                    output.receivers.push(receiver_config(
                        receiver.node.clone(),
                        input_id.clone(),
                        channel::wakeup(dataflow_id, &receiver.node),
                        connection.input,
                    ));
                    let channel = output.channel.clone();
                    relay.outputs.insert(route.output(), output);
                    channel
                }),
                InputSource::Output(source) => {
                    let output_id = DataId::qualified(source.operator.as_ref(), &source.output);
                    let wakeup = channel::wakeup(dataflow_id, &receiver.node);
                    let output = configs
                        .get_mut(&source.node)
                        .and_then(|c| c.outputs.get_mut(&output_id));
                    output.map(|output| {
                        output.receivers.push(receiver_config(
                            receiver.node.clone(),
                            input_id.clone(),
                            wakeup,
                            connection.input,
                        ));
                        output.channel.clone()
                    })
                }
            };
            if let Some(config) = configs.get_mut(&receiver.node) {
                let mut input = input_config(connection.input, channel);
                input.layout = dataflow.edge_type(&connection).and_then(|t| t.layout());
                config.inputs.insert(input_id, input);
            }
        }
        if let Some(mut relay) = relay {
            // The relay, not the node, sends what the node prints or logs.
            for node in &dataflow.nodes {
                let routes = [
                    (relay::printed_output(node), Route::Printed(node.id.clone())),
                    (relay::logged_output(node), Route::Logged(node.id.clone())),
                ];
                for (output, route) in routes {
                    let moved = output
                        .and_then(|output| configs.get_mut(&node.id)?.outputs.remove(&output));
                    if let Some(moved) = moved {
                        relay.outputs.insert(route.output(), moved);
                    }
                }
            }
            configs.insert(relay.node_id.clone(), relay);
        }
        let mut settings = BTreeMap::new();
        for output in configs.values_mut().flat_map(|c| c.outputs.values_mut()) {
            output.settle();
            settings.insert(output.channel.clone(), output.settings);
        }
        for input in configs.values_mut().flat_map(|c| c.inputs.values_mut()) {
            input.settings = input
                .channel
                .as_ref()
                .and_then(|c| settings.get(c).copied());
        }
        configs
    }

    /// Reads the configuration that `dora run` set for this process: the
    /// JSON itself, or `@` and the path of a file that holds it (a large
    /// configuration does not fit in one environment variable).
    pub fn from_env() -> Result<NodeConfig, NodeConfigError> {
        let text = std::env::var(ENV_VAR).map_err(|_| NodeConfigError::NotStartedByDora)?;
        let text = match text.strip_prefix('@') {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| NodeConfigError::Unreadable {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => text,
        };
        Ok(serde_json::from_str(&text)?)
    }

    /// The configuration as the value of [`ENV_VAR`].
    pub fn to_env_value(&self) -> String {
        serde_json::to_string(self).expect("a node configuration is plain data")
    }
}

fn operator_config(node: &NodeId, operator: &Operator) -> OperatorConfig {
    let source = match operator.source() {
        Some(OperatorSource::C(path)) => OperatorSourceConfig::C(path.to_owned()),
        Some(OperatorSource::Python(path)) => OperatorSourceConfig::Python(path.to_owned()),
        Some(OperatorSource::SharedLibrary(path)) => {
            OperatorSourceConfig::SharedLibrary(path.to_owned())
        }
        // A valid operator names exactly one source.
        None => OperatorSourceConfig::SharedLibrary(String::new()),
    };
    let inputs = operator
        .inputs
        .iter()
        .map(|(id, input)| {
            let from = match &input.source {
                InputSource::Output(source) if source.node == *node => match &source.operator {
                    Some(other) => OperatorInputFrom::Operator {
                        operator: other.clone(),
                        output: source.output.clone(),
                    },
                    None => OperatorInputFrom::NodeInput(DataId::qualified(Some(&operator.id), id)),
                },
                _ => OperatorInputFrom::NodeInput(DataId::qualified(Some(&operator.id), id)),
            };
            let config = OperatorInputConfig {
                from,
                queue_size: input.queue_size,
                queue_policy: input.queue_policy,
                deadline: input.deadline,
            };
            (id.clone(), config)
        })
        .collect();
    OperatorConfig {
        id: operator.id.clone(),
        source,
        priority: operator.priority,
        inputs,
        outputs: operator.outputs.clone(),
        max_restarts: operator.max_restarts,
    }
}

fn input_config(input: &Input, channel: Option<String>) -> InputConfig {
    InputConfig {
        source: input.source.clone(),
        channel,
        queue_size: input.queue_size,
        queue_policy: input.queue_policy,
        deadline: input.deadline,
        timeout: input.input_timeout,
        layout: None,
        from: SourceLink::Local,
        settings: None,
    }
}

fn receiver_config(node: NodeId, input: DataId, wakeup: String, from: &Input) -> ReceiverConfig {
    ReceiverConfig {
        node,
        input,
        link: ReceiverLink::Local { wakeup },
        queue_size: from.queue_size,
        queue_policy: from.queue_policy,
    }
}
