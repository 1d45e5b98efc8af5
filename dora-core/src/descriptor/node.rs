//! Nodes: the processes of a dataflow.
//!
//! ```yaml
//! - id: camera
//!   path: target/release/camera     # or a .py script, run with Python
//!   args: --device /dev/video0
//!   env: { FPS: 30 }
//!   build: cargo build --release -p camera
//!   inputs:
//!     tick: dora/timer/hz/30
//!   outputs: [image]
//!   output_types: { image: std/media/v1/Image }
//!   restart_policy: on-failure
//!   cpu_affinity: [2, 3]
//!   deploy: { machine: robot-1 }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::input::Input;
use super::operator::Operator;
use super::types::TypeName;
use crate::id::{DataId, NodeId};
use crate::log::LogLevel;
use crate::selector::Selectors;
use crate::{ByteSize, Duration};

/// One node of a dataflow: a custom program (`path`) or a runtime node
/// that hosts `operators`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique in the dataflow. Other nodes name its outputs `id/output`.
    pub id: NodeId,
    /// What the node does, for people (shown in graphs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The program to run: a path relative to the dataflow's folder, a
    /// command found on `PATH`, or a `.py` script (run with Python).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Arguments: one string split like a shell would, or a list.
    #[serde(default, skip_serializing_if = "Args::is_empty")]
    pub args: Args,
    /// Environment variables set for the node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// A shell command run from the dataflow's folder (or the node's `git`
    /// clone) before the dataflow starts, to build the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// A git repository the node's program comes from: it is cloned into
    /// a cache (and reused), checked out at `branch`, `tag` or `rev`, and
    /// the node's `build` and `path` are then relative to the clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// The branch of `git` to check out (its newest commit at each run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The tag of `git` to check out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The commit of `git` to check out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// The node's inputs, by input id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<DataId, Input>,
    /// The ids of the outputs the node sends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<DataId>,
    /// The types of some inputs, by input id (`image: std/media/v1/Image`):
    /// `dora check` refuses an input whose source declares another type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_types: BTreeMap<DataId, TypeName>,
    /// The types of some outputs, by output id. Outputs without one are
    /// not checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_types: BTreeMap<DataId, TypeName>,
    /// Makes this a runtime node that hosts these operators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<Operator>,
    /// When to start the node again after it ends (default `never`).
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// How many times the node is restarted at most (default 5).
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// The wait before the first restart (default 100ms); it doubles after
    /// each restart, up to `max_restart_delay`.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
    /// The longest wait between two restarts (default 30s).
    #[serde(default = "default_max_restart_delay")]
    pub max_restart_delay: Duration,
    /// With it, `max_restarts` counts the restarts within a window: the
    /// count (and the delay's doubling) starts again once this long has
    /// passed since the first restart of the current window ("5 restarts
    /// per 5 minutes").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_window: Option<Duration>,
    /// Once the node has started, it is killed when it takes no event (and
    /// sends nothing) for this long while not waiting for one; then its
    /// `restart_policy` decides, as for any failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_timeout: Option<Duration>,
    /// CPU cores the node is pinned to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_affinity: Vec<usize>,
    /// Where the node runs.
    #[serde(default)]
    pub deploy: Deploy,
    /// How the node is started (default `process`).
    #[serde(default)]
    pub driver: Driver,
    /// The container image, for `driver: docker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Logs and printed lines less severe than this are dropped at the
    /// source: not shown, not written, not sent (default `stdout`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_log_level: Option<LogLevel>,
    /// The node's log file is rotated when it reaches this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_size: Option<ByteSize>,
    /// How many rotated log files are kept (default 5, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rotated_files: Option<u32>,
    /// Each line the node prints is also sent, as UTF-8 text, on this
    /// output (one of `outputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_stdout_as: Option<DataId>,
    /// Each record the node logs is also sent, as JSON, on this output
    /// (one of `outputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_logs_as: Option<DataId>,
}

fn default_max_restarts() -> u32 {
    5
}

fn default_restart_delay() -> Duration {
    Duration::from_millis(100)
}

fn default_max_restart_delay() -> Duration {
    Duration::from_secs(30)
}

impl Node {
    /// A node with this id and every other key left out.
    pub(super) fn bare(id: NodeId) -> Node {
        Node {
            id,
            description: None,
            path: None,
            args: Args::default(),
            env: BTreeMap::new(),
            build: None,
            git: None,
            branch: None,
            tag: None,
            rev: None,
            inputs: BTreeMap::new(),
            outputs: Vec::new(),
            input_types: BTreeMap::new(),
            output_types: BTreeMap::new(),
            operators: Vec::new(),
            restart_policy: RestartPolicy::default(),
            max_restarts: default_max_restarts(),
            restart_delay: default_restart_delay(),
            max_restart_delay: default_max_restart_delay(),
            restart_window: None,
            health_check_timeout: None,
            cpu_affinity: Vec::new(),
            deploy: Deploy::default(),
            driver: Driver::default(),
            image: None,
            min_log_level: None,
            max_log_size: None,
            max_rotated_files: None,
            send_stdout_as: None,
            send_logs_as: None,
        }
    }

    /// Whether this is a runtime node (it lists operators).
    pub fn is_runtime(&self) -> bool {
        !self.operators.is_empty()
    }

    /// The delay before restart number `attempt` (counted from 1): the
    /// `restart_delay`, doubled for each earlier restart, at most
    /// `max_restart_delay`.
    ///
    /// ```
    /// # use dora_core::descriptor::Dataflow;
    /// # let dataflow: Dataflow = Dataflow::from_yaml_str("nodes: [{id: a, path: a}]").unwrap();
    /// let node = &dataflow.nodes[0];
    /// assert_eq!(node.restart_delay_before(1).as_millis(), 100);
    /// assert_eq!(node.restart_delay_before(3).as_millis(), 400);
    /// assert_eq!(node.restart_delay_before(30).as_secs(), 30);
    /// ```
    pub fn restart_delay_before(&self, attempt: u32) -> std::time::Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let delay = self.restart_delay.as_std().saturating_mul(1 << doublings);
        delay.min(self.max_restart_delay.as_std())
    }
}

/// When a node that ended is started again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never: the node's end is final.
    #[default]
    Never,
    /// When it exits with a failure (non-zero status or a signal).
    OnFailure,
    /// Whenever it exits, until the dataflow stops.
    Always,
}

/// How a node or workload is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A process on the machine (the default for nodes).
    #[default]
    #[serde(alias = "Process")]
    Process,
    /// A container, started through the machine's Docker engine.
    #[serde(alias = "Docker")]
    Docker,
}

/// Where a node runs. With nothing set, the coordinator chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// The machine to run on, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The zone to run in (default: the dataflow's zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The CPUs and GPUs the node needs.
    #[serde(default)]
    pub selectors: Selectors,
}

/// The arguments of a node: written as one string (split like a shell
/// would: `--name "a b"` is two arguments) or as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Args(pub Vec<String>);

impl Args {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;

        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string of arguments or a list of arguments")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Args, E> {
                shell_words::split(text).map(Args).map_err(|_| {
                    E::custom(format!(
                        "the arguments `{text}` have a quote that is never closed; close the quote, or write the arguments as a list"
                    ))
                })
            }

            /// `args:` with nothing after it: no arguments.
            fn visit_unit<E: de::Error>(self) -> Result<Args, E> {
                Ok(Args::default())
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<EnvValue>()? {
                    args.push(arg.0);
                }
                Ok(Args(args))
            }
        }

        deserializer.deserialize_any(ArgsVisitor)
    }
}

impl JsonSchema for Args {
    fn schema_name() -> Cow<'static, str> {
        "Args".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One string, split like a shell would, or a list of arguments.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        })
    }
}

/// A scalar kept as the text it will be in the environment: `FPS: 30` and
/// `DEBUG: true` give `"30"` and `"true"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EnvValue(pub String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = EnvValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text, a number or a boolean")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
        }

        // As text, as written: `VERSION: 3.10` stays "3.10", not "3.1".
        deserializer.deserialize_str(ScalarVisitor)
    }
}

impl JsonSchema for EnvValue {
    fn schema_name() -> Cow<'static, str> {
        "EnvValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}
