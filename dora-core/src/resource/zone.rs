//! What a zone is made of: machines (Node), storage, and credits.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A machine of the zone, where an agent runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Where the machine's agent is reached, like `tcp/10.0.0.7:7447`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Free-form labels for people and tools.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// When true, nothing new is placed on the machine (default false).
    #[serde(default)]
    pub unschedulable: bool,
}

/// A place where volumes are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    /// `Local` (a folder on each machine) or `Nfs` (a shared export).
    pub backend: StorageBackend,
    /// The folder (for `Local`) or the export path (for `Nfs`); absolute.
    pub path: String,
    /// The NFS server, for `Nfs` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// How many bytes may be used (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

/// Where a storage keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StorageBackend {
    Local,
    Nfs,
}

/// How much compute a workspace may use in the zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreditSpec {
    /// The workspace the credit is for.
    pub workspace: String,
    /// GPU hours (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hours: Option<f64>,
    /// CPU core hours (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_hours: Option<f64>,
}
