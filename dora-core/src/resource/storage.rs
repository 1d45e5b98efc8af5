//! Volumes, and the containers that run a workload's replicas.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A volume: space in a Storage that workloads mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSpec {
    /// The name of the Storage that holds it (in the same zone).
    pub storage: String,
    /// Its size in bytes (default: no limit beyond the storage's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Who may mount it at once (default `ReadWriteOnce`).
    #[serde(default)]
    pub access_mode: AccessMode,
}

/// Who may mount a volume at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AccessMode {
    /// One container reads and writes.
    #[default]
    ReadWriteOnce,
    /// Many containers read and write.
    ReadWriteMany,
    /// Many containers read.
    ReadOnlyMany,
}

/// One running replica of a workload, as the coordinator records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// The workload this replica belongs to.
    pub workload: String,
    /// The replica's index, from 0.
    pub replica: u32,
    /// The machine it runs on; empty while it waits to be placed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine: String,
    /// The image it runs.
    pub image: String,
    /// The UUIDs of the GPUs given to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
}
