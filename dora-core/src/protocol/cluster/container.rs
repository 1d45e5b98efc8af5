//! What the coordinator and a daemon say about workload containers: the
//! run the coordinator asks for, and the state reports of the daemon,
//! which supervises each container (dora's restart policy, not the
//! engine's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resource::{NetworkMode, Port, PullPolicy, WorkloadRestartPolicy};

/// The key a daemon publishes a container's [`ContainerReport`]s on.
pub fn container_report_key(zone: &str, machine: &str, uid: &str) -> String {
    format!("dora/v1/container/{zone}/{machine}/{uid}")
}

/// Every container report of every machine.
pub const CONTAINER_REPORT_ALL: &str = "dora/v1/container/*/*/*";

/// The zone, machine and container uid of a container report key.
pub fn parse_container_report_key(key: &str) -> Option<(&str, &str, &str)> {
    let rest = key.strip_prefix("dora/v1/container/")?;
    let mut parts = rest.split('/');
    let parsed = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some(parsed)
}

/// The key a daemon publishes one output stream on (a container's log).
pub fn output_key(stream: &str) -> String {
    format!("dora/v1/output/{stream}")
}

/// A piece of a container's output, in order: `seq` counts from 0, so a
/// reader can tell a gap. The last has `end` set, with why it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputChunk {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stderr: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// One replica of a workload, as its machine runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRun {
    /// Unique in the cluster, for this placement of the replica.
    pub uid: String,
    pub zone: String,
    pub workspace: String,
    /// The Container resource's name.
    pub name: String,
    pub workload: String,
    pub replica: u32,
    pub image: String,
    pub pull_policy: PullPolicy,
    /// The command and its arguments.
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    pub restart_policy: WorkloadRestartPolicy,
    pub network_mode: NetworkMode,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// The UUIDs of the GPUs it is given.
    #[serde(default)]
    pub gpus: Vec<String>,
    pub cpus: u32,
}

/// A folder of the machine mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// The folder on the machine; made on first use.
    pub source: String,
    /// Where it appears in the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

/// Where a replica is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerState {
    /// Not placed yet; the reason says why.
    Pending,
    /// Placed on a machine, which is starting it.
    Scheduled,
    Running,
    /// Ended with exit code 0, not to be started again.
    Succeeded,
    /// Ended for good: an exit code other than 0, or it could not start.
    Failed,
    /// Ended and waits, with a growing back-off, to be started again.
    CrashLoop,
    /// Stopped because its workspace has no credit left in the zone;
    /// started again when credit is added.
    CreditExhausted,
}

impl ContainerState {
    /// Whether the replica holds its machine's resources (GPUs, CPUs).
    pub fn holds_resources(self) -> bool {
        matches!(
            self,
            ContainerState::Scheduled | ContainerState::Running | ContainerState::CrashLoop
        )
    }
}

/// What a daemon says of one container: its whole state at the time, so
/// that the last report received is enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub uid: String,
    /// When the daemon that sends it started (ms since the Unix epoch):
    /// reports are ordered by `(epoch, seq)`.
    pub epoch: u64,
    /// Numbered from 0 per uid and daemon start, in the order sent.
    pub seq: u64,
    pub state: ContainerState,
    /// Why it is in this state, for a person (like `ImagePullFailed: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// How many times dora started it again.
    pub restarts: u32,
    /// The engine's id of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// What just happened, for the replica's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

#[test]
fn container_report_keys_are_read_back() {
    let key = container_report_key("dc-1", "gpu-2", "f00d");
    assert_eq!(
        parse_container_report_key(&key),
        Some(("dc-1", "gpu-2", "f00d"))
    );
    assert_eq!(parse_container_report_key("dora/v1/container/a/b"), None);
    assert_eq!(parse_container_report_key("dora/v1/report/a/b/c"), None);
}
