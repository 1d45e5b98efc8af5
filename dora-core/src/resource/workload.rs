//! Workloads: containers that want CPUs and GPUs, run by the Docker driver.
//!
//! ```yaml
//! apiVersion: v1
//! kind: Workload
//! metadata:
//!   name: blue.red
//! spec:
//!   driver: Docker
//!   selectors:
//!     cpu:
//!       product_name: All
//!       count: 1
//!   image:
//!     image: ubuntu
//!   config:
//!     cmd: /bin/bash
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::descriptor::Driver;
use crate::selector::Selectors;

/// What a workload runs and what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// How many copies run (default one).
    #[serde(default)]
    pub replica: Replica,
    /// How the workload is started: `Docker`.
    pub driver: Driver,
    /// Who is told when the workload's state changes.
    #[serde(default)]
    pub notify: Notify,
    /// The hardware each replica needs.
    pub selectors: Selectors,
    /// The container image.
    pub image: Image,
    /// The command and how replicas are placed and restarted.
    pub config: WorkloadConfig,
    /// Volumes mounted into each replica.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    /// Networking of each replica (default: a bridge network, no port).
    #[serde(default)]
    pub network: Network,
}

/// How many copies of a workload run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// At least 1 (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

impl Default for Replica {
    fn default() -> Self {
        Replica { count: one() }
    }
}

fn one() -> u32 {
    1
}

/// Notifications about a workload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Notify {
    /// Send an email to the owner when the workload starts, fails or ends
    /// (default false).
    #[serde(default)]
    pub by_email: bool,
}

/// A container image and when to pull it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// The image reference, like `ubuntu:24.04`.
    pub image: String,
    /// When to pull the image (default `IfNotPresent`).
    #[serde(default)]
    pub pull_policy: PullPolicy,
}

/// When a container image is pulled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Before every start.
    Always,
    /// Only when the machine does not have it.
    #[default]
    IfNotPresent,
}

/// The command of a workload and how its replicas are handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadConfig {
    /// The command run in the container, split into words as a shell
    /// would (quotes group words); it is not run by a shell.
    pub cmd: String,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How replicas are spread over machines (default `Distribute`).
    #[serde(default)]
    pub affinity: Affinity,
    /// When a replica that ended is started again (default `Never`).
    #[serde(default)]
    pub restart_policy: WorkloadRestartPolicy,
    /// The size of `/dev/shm` in the container, in bytes (default: the
    /// engine's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
}

/// How replicas are spread over machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Affinity {
    /// On as many different machines as possible.
    #[default]
    Distribute,
    /// On as few machines as possible.
    Pack,
}

/// When a workload replica that ended is started again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadRestartPolicy {
    #[default]
    Never,
    OnFailure,
    Always,
}

/// A volume mounted into a workload's containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    /// The Volume resource's name.
    pub name: String,
    /// Where it appears in the container (an absolute path).
    pub target: String,
    /// The workspace that holds the volume (default: the workload's);
    /// `group` is accepted too.
    #[serde(default, alias = "group", skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

/// The network of a workload's containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `bridge` (the default), `host` or `none`.
    #[serde(default)]
    pub mode: NetworkMode,
    /// Ports opened for traffic from outside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
}

/// How a container is networked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Bridge,
    Host,
    None,
}

/// A port of the container opened on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    /// A name for people, unique in the workload.
    pub name: String,
    /// `NodePort` (the default): the port is opened on the machine.
    #[serde(default)]
    pub kind: PortKind,
    /// `tcp` (the default) or `udp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// The port on the machine.
    pub node_port: u16,
    /// The port in the container.
    pub port: u16,
}

/// How a port is exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PortKind {
    #[default]
    NodePort,
}

/// A transport protocol.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Hash,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}
