//! Users and roles: who may do what. Both are global (no zone, no
//! workspace).
//!
//! ```yaml
//! apiVersion: v1
//! kind: Role
//! metadata:
//!   name: researcher
//! spec:
//!   rules:
//!     - kinds: [Workload, Volume]
//!       verbs: [Get, List, Apply, Delete]
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Kind;

/// A person who uses the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    /// Where notifications are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The workspace used when a command names none (default: the user's
    /// name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_workspace: Option<String>,
    /// The names of the roles the user has.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A set of permissions given to users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// What the role allows; a request is allowed when one rule allows it.
    pub rules: Vec<Rule>,
}

/// One permission: these verbs on these kinds in these workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The kinds of resource (default: every kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<Kind>>,
    /// What may be done (default: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbs: Option<Vec<Verb>>,
    /// The workspaces (default: every workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

/// An action on resources, as the `dora` commands name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Verb {
    Get,
    List,
    Describe,
    Apply,
    Delete,
    /// Start a dataflow (`dora start`).
    Start,
    /// Stop a dataflow (`dora stop`).
    Stop,
    /// Read what a dataflow's nodes print (`dora logs`).
    Logs,
    /// Run a command in a workload's container (`dora exec`).
    Exec,
}
