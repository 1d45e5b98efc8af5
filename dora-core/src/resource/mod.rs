//! Cluster resources: `apiVersion: v1`, `kind`, `metadata` and `spec`.
//!
//! | kind | scope |
//! |---|---|
//! | User, Role | global |
//! | Node, Storage, Credit | a zone |
//! | Workload, Container, Volume, Dataflow | a workspace in a zone |
//!
//! A file may hold several resources as YAML documents separated by `---`.
//!
//! ```
//! use dora_core::resource::{Resource, Spec};
//!
//! let resources = Resource::from_yaml_str(
//!     r#"
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
//! "#,
//! )
//! .unwrap();
//! let Spec::Workload(workload) = &resources[0].spec else { panic!() };
//! assert_eq!(workload.replica.count, 1);
//! assert_eq!(resources[0].metadata.zone(), "default");
//! ```

mod access;
mod alias;
mod storage;
mod validate;
mod workload;
mod zone;

use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use access::{RoleSpec, Rule, UserSpec, Verb};
pub use storage::{AccessMode, ContainerSpec, VolumeSpec};
pub use workload::{
    Affinity, Image, Network, NetworkMode, Notify, Port, PortKind, Protocol, PullPolicy, Replica,
    VolumeMount, WorkloadConfig, WorkloadRestartPolicy, WorkloadSpec,
};
pub use zone::{CreditSpec, NodeSpec, StorageBackend, StorageSpec};

use crate::descriptor::Dataflow;
use crate::diagnostic::Diagnostic;
use crate::yaml::{self, Value};

/// The zone used when a resource names none.
pub const DEFAULT_ZONE: &str = "default";

/// One cluster resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub api_version: ApiVersion,
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: Spec,
}

/// The version of the resource format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "v1")]
    V1,
}

/// The kinds of resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Kind {
    User,
    Role,
    Node,
    Storage,
    Credit,
    Workload,
    Container,
    Volume,
    Dataflow,
}

/// Where a kind of resource lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere: no zone, no workspace.
    Global,
    /// In one zone.
    Zone,
    /// In one workspace of one zone.
    Workspace,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::User,
        Kind::Role,
        Kind::Node,
        Kind::Storage,
        Kind::Credit,
        Kind::Workload,
        Kind::Container,
        Kind::Volume,
        Kind::Dataflow,
    ];

    pub fn scope(self) -> Scope {
        match self {
            Kind::User | Kind::Role => Scope::Global,
            Kind::Node | Kind::Storage | Kind::Credit => Scope::Zone,
            Kind::Workload | Kind::Container | Kind::Volume | Kind::Dataflow => Scope::Workspace,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The name and place of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique among the resources of its kind in its zone and workspace.
    pub name: String,
    /// The zone, for zoned kinds (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The workspace, for workspaced kinds (default: the user's default
    /// workspace); `group` is accepted too.
    #[serde(default, alias = "group", skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The version of the stored resource this one was read from, set by
    /// the coordinator. Given in an update, the update is refused when the
    /// stored resource has changed since (optimistic concurrency).
    #[serde(
        default,
        rename = "resourceVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_version: Option<String>,
}

impl Metadata {
    /// The zone, or [`DEFAULT_ZONE`] when none is written.
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or(DEFAULT_ZONE)
    }

    /// The workspace, or the user's default workspace when none is written.
    pub fn workspace_or<'a>(&'a self, user_default: &'a str) -> &'a str {
        self.workspace.as_deref().unwrap_or(user_default)
    }
}

/// The spec of a resource, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    User(UserSpec),
    Role(RoleSpec),
    Node(NodeSpec),
    Storage(StorageSpec),
    Credit(CreditSpec),
    Workload(WorkloadSpec),
    Container(ContainerSpec),
    Volume(VolumeSpec),
    Dataflow(Dataflow),
}

impl Resource {
    /// Reads and validates every resource of a YAML stream, with no file
    /// around it. On failure, returns the errors.
    pub fn from_yaml_str(text: &str) -> Result<Vec<Resource>, Vec<Diagnostic>> {
        let documents = yaml::parse(text)
            .map_err(|errors| errors.into_iter().map(Diagnostic::from).collect::<Vec<_>>())?;
        let (resources, diagnostics) = check(&documents, None);
        let errors: Vec<Diagnostic> = diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        if errors.is_empty() {
            Ok(resources)
        } else {
            Err(errors)
        }
    }
}

/// Reads and validates the resources of a multi-document file. Returns the
/// resources that are valid, and every error and warning found.
pub fn check(documents: &[Value], base_dir: Option<&Path>) -> (Vec<Resource>, Vec<Diagnostic>) {
    validate::check_documents(documents, base_dir)
}
