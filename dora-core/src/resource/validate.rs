//! Reading resources out of YAML documents and checking them: the
//! envelope (`apiVersion`, `kind`, `metadata`, `spec`), the scope of each
//! kind, names, and the rules of each spec.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::alias;
use super::{ApiVersion, Kind, Metadata, Resource, Scope, Spec, StorageBackend, WorkloadSpec};
use crate::descriptor::{self, Driver};
use crate::diagnostic::{self, Diagnostic};
use crate::suggest::did_you_mean;
use crate::yaml::{from_value_partial, Position, Value, ValueKind};

/// `status` is what the coordinator observed: it comes back from `dora get`
/// and is ignored when the resource is read, so that what was got can be
/// applied again.
const ENVELOPE_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

pub(super) fn check_documents(
    documents: &[Value],
    base_dir: Option<&Path>,
) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut resources = Vec::new();
    let mut diagnostics = Vec::new();
    let mut names: HashMap<(Kind, String, Option<String>, String), Position> = HashMap::new();
    for document in documents.iter().filter(|d| !d.is_null()) {
        let Some((resource, name_at)) = check_document(document, base_dir, &mut diagnostics) else {
            continue;
        };
        let m = &resource.metadata;
        let key = (
            resource.kind,
            m.zone().to_owned(),
            m.workspace.clone(),
            m.name.clone(),
        );
        if let Some(first) = names.get(&key) {
            diagnostics.push(
                Diagnostic::error(
                    name_at,
                    format!(
                        "{} `{}` is defined twice in this file (first at line {})",
                        resource.kind, m.name, first.line
                    ),
                )
                .with_hint("give each resource its own name, or remove one of them"),
            );
        } else {
            names.insert(key, name_at);
            resources.push(resource);
        }
    }
    if resources.is_empty() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::error(Position::START, "the file holds no resource")
                .with_hint("write a resource with `apiVersion`, `kind`, `metadata` and `spec`"),
        );
    }
    diagnostic::sort(&mut diagnostics);
    (resources, diagnostics)
}

/// Reads `value` as a `T`, reporting its errors; `None` when it cannot be read.
fn read<T: DeserializeOwned>(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<T> {
    let (result, errors) = from_value_partial(value);
    let clean = errors.is_empty();
    diagnostics.extend(errors.into_iter().map(Diagnostic::from));
    result.filter(|_| clean)
}

fn check_document(
    document: &Value,
    base_dir: Option<&Path>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Resource, Position)> {
    let ValueKind::Mapping(entries) = &document.kind else {
        diagnostics.push(
            Diagnostic::error(
                document.position,
                format!(
                    "a resource is a mapping, but this is {}",
                    document.describe()
                ),
            )
            .with_hint("write `apiVersion: v1`, `kind`, `metadata` and `spec`"),
        );
        return None;
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if !ENVELOPE_KEYS.contains(&name) {
            let hint = match did_you_mean(name, ENVELOPE_KEYS.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "a resource has only `apiVersion`, `kind`, `metadata` and `spec`; settings go under `spec`".to_owned(),
            };
            diagnostics.push(
                Diagnostic::error(key.position, format!("unknown key `{name}`")).with_hint(hint),
            );
        }
    }
    let mut missing = |key: &str, hint: &str| {
        diagnostics.push(
            Diagnostic::error(document.position, format!("the resource has no `{key}`"))
                .with_hint(hint.to_owned()),
        );
    };
    let (api_version, kind, metadata, spec) = (
        document.get("apiVersion"),
        document.get("kind"),
        document.get("metadata"),
        document.get("spec"),
    );
    if api_version.is_none() {
        missing("apiVersion", "add `apiVersion: v1`");
    }
    if kind.is_none() {
        missing("kind", "add `kind:` with one of User, Role, Node, Storage, Credit, Workload, Container, Volume, Dataflow");
    }
    if metadata.is_none() {
        missing("metadata", "add `metadata:` with at least `name:`");
    }
    if spec.is_none() {
        missing("spec", "add `spec:` with the resource's settings");
    }
    let api_version = api_version.and_then(|v| read::<ApiVersion>(v, diagnostics));
    let kind_value = kind?;
    let kind = read::<Kind>(kind_value, diagnostics)?;
    let metadata_value = alias::merge(metadata?, diagnostics)?;
    let metadata_value = &*metadata_value;
    let metadata = read::<Metadata>(metadata_value, diagnostics);
    let spec_value = match kind {
        Kind::Workload => alias::merge_volumes(spec?, diagnostics)?,
        _ => Cow::Borrowed(spec?),
    };
    let spec_value = &*spec_value;
    let spec = read_spec(kind, spec_value, base_dir, diagnostics);
    let metadata = metadata?;
    check_metadata(kind, &metadata, metadata_value, diagnostics);
    let spec = spec?;
    check_spec(&spec, spec_value, diagnostics);
    let name_at = metadata_value.value_position("name");
    Some((
        Resource {
            api_version: api_version?,
            kind,
            metadata,
            spec,
        },
        name_at,
    ))
}

fn read_spec(
    kind: Kind,
    value: &Value,
    base_dir: Option<&Path>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Spec> {
    Some(match kind {
        Kind::User => Spec::User(read(value, diagnostics)?),
        Kind::Role => Spec::Role(read(value, diagnostics)?),
        Kind::Node => Spec::Node(read(value, diagnostics)?),
        Kind::Storage => Spec::Storage(read(value, diagnostics)?),
        Kind::Credit => Spec::Credit(read(value, diagnostics)?),
        Kind::Workload => Spec::Workload(read(value, diagnostics)?),
        Kind::Container => Spec::Container(read(value, diagnostics)?),
        Kind::Volume => Spec::Volume(read(value, diagnostics)?),
        Kind::Dataflow => {
            let (dataflow, found) = descriptor::check(value, base_dir);
            let clean = !found.iter().any(Diagnostic::is_error);
            diagnostics.extend(found);
            Spec::Dataflow(dataflow.filter(|_| clean)?)
        }
    })
}

/// Why a resource name is not acceptable, or `None`.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > 253 {
        return Some("it is longer than 253 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it does not start with a letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Some("it holds a character other than letters, digits, `.`, `-` and `_`");
    }
    None
}

fn check_metadata(
    kind: Kind,
    metadata: &Metadata,
    tree: &Value,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(problem) = name_problem(&metadata.name) {
        diagnostics.push(
            Diagnostic::error(
                tree.value_position("name"),
                format!("the name `{}` cannot be used: {problem}", metadata.name),
            )
            .with_hint("use letters, digits, `.`, `-` and `_`, starting with a letter or a digit"),
        );
    }
    for (key, value) in [("zone", &metadata.zone), ("workspace", &metadata.workspace)] {
        if let Some(value) = value {
            if let Some(problem) = name_problem(value) {
                diagnostics.push(
                    Diagnostic::error(
                        tree.value_position(key),
                        format!("the {key} `{value}` cannot be used: {problem}"),
                    )
                    .with_hint("use letters, digits, `.`, `-` and `_`"),
                );
            }
        }
    }
    let scope = kind.scope();
    if scope == Scope::Global && metadata.zone.is_some() {
        diagnostics.push(
            Diagnostic::error(
                tree.key_position("zone"),
                format!("a {kind} is global: it belongs to no zone"),
            )
            .with_hint("remove `zone`"),
        );
    }
    if scope != Scope::Workspace && metadata.workspace.is_some() {
        let key = if tree.get("group").is_some() {
            "group"
        } else {
            "workspace"
        };
        diagnostics.push(
            Diagnostic::error(
                tree.key_position(key),
                format!("a {kind} belongs to no workspace"),
            )
            .with_hint(format!(
                "remove `{key}`; workspaces hold only workloads, containers, volumes and dataflows"
            )),
        );
    }
}

fn check_spec(spec: &Spec, tree: &Value, diagnostics: &mut Vec<Diagnostic>) {
    let mut error = |position: Position, message: String, hint: &str| {
        diagnostics.push(Diagnostic::error(position, message).with_hint(hint.to_owned()));
    };
    match spec {
        Spec::Workload(workload) => check_workload(workload, tree, diagnostics),
        Spec::Storage(storage) => {
            let at = |key| path_value(tree, &[key]);
            if !storage.path.starts_with('/') {
                error(
                    at("path"),
                    format!("the storage path `{}` is not absolute", storage.path),
                    "write the full path, starting with `/`",
                );
            }
            match (storage.backend, &storage.server) {
                (StorageBackend::Nfs, None) => error(
                    at("backend"),
                    "an Nfs storage needs its `server`".to_owned(),
                    "add `server:` with the NFS server's address",
                ),
                (StorageBackend::Local, Some(_)) => error(
                    at("server"),
                    "a Local storage has no server".to_owned(),
                    "remove `server`, or use `backend: Nfs`",
                ),
                _ => {}
            }
            if storage.capacity == Some(0) {
                error(
                    at("capacity"),
                    "a capacity of 0 bytes can hold nothing".to_owned(),
                    "remove `capacity` for no limit, or give a size in bytes",
                );
            }
        }
        Spec::Volume(volume) => {
            if volume.size == Some(0) {
                error(
                    path_value(tree, &["size"]),
                    "a volume of 0 bytes can hold nothing".to_owned(),
                    "remove `size` for no limit, or give a size in bytes",
                );
            }
        }
        Spec::Credit(credit) => {
            for (key, hours) in [
                ("gpuHours", credit.gpu_hours),
                ("cpuHours", credit.cpu_hours),
            ] {
                if hours.is_some_and(|h| h < 0.0 || !h.is_finite()) {
                    error(
                        path_value(tree, &[key]),
                        format!("`{key}` must be a number of hours, 0 or more"),
                        "remove it for no limit",
                    );
                }
            }
        }
        Spec::Role(role) => {
            if role.rules.is_empty() {
                error(
                    path_value(tree, &["rules"]),
                    "the role has no rules, so it allows nothing".to_owned(),
                    "add a rule with `kinds` and `verbs`",
                );
            }
        }
        Spec::User(_) | Spec::Node(_) | Spec::Container(_) | Spec::Dataflow(_) => {}
    }
}

/// The position of the value at `path` (keys from `tree`), or of the
/// deepest value on the way that exists.
fn path_value(tree: &Value, path: &[&str]) -> Position {
    let mut value = tree;
    for key in path {
        match value.get(key) {
            Some(next) => value = next,
            None => break,
        }
    }
    value.position
}

fn check_workload(workload: &WorkloadSpec, tree: &Value, diagnostics: &mut Vec<Diagnostic>) {
    let mut error = |position: Position, message: String, hint: &str| {
        diagnostics.push(Diagnostic::error(position, message).with_hint(hint.to_owned()));
    };
    if workload.driver != Driver::Docker {
        error(
            path_value(tree, &["driver"]),
            "workloads run in containers: their driver is `Docker`".to_owned(),
            "write `driver: Docker`; processes belong in a dataflow",
        );
    }
    if workload.replica.count == 0 {
        error(
            path_value(tree, &["replica", "count"]),
            "a workload with 0 replicas runs nothing".to_owned(),
            "ask for 1 or more, or delete the workload",
        );
    }
    if workload.image.image.trim().is_empty() {
        error(
            path_value(tree, &["image", "image"]),
            "the image is empty".to_owned(),
            "write the image to run, like `ubuntu:24.04`",
        );
    }
    if workload.config.cmd.trim().is_empty() {
        error(
            path_value(tree, &["config", "cmd"]),
            "the command is empty".to_owned(),
            "write the command to run, like `/bin/bash`",
        );
    }
    if let Err(problem) = shell_words::split(&workload.config.cmd) {
        error(
            path_value(tree, &["config", "cmd"]),
            format!("the command cannot be split into words: {problem}"),
            "close every quote; the command is split as a shell would, and not run by one",
        );
    }
    for name in workload.config.env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            error(
                path_value(tree, &["config", "env"]),
                format!("`{name}` cannot name an environment variable"),
                "use a name without `=`, like `MODEL_DIR`",
            );
        }
    }
    if workload.config.shm_size == Some(0) {
        error(
            path_value(tree, &["config", "shmSize"]),
            "a shared memory size of 0 bytes leaves no /dev/shm".to_owned(),
            "remove `shmSize` for the engine's default, or give a size in bytes",
        );
    }
    let mut names = HashSet::new();
    let mut targets = HashSet::new();
    for (index, volume) in workload.volumes.iter().enumerate() {
        let at = |key: &str| {
            tree.get("volumes")
                .and_then(|v| v.item(index))
                .map_or(tree.position, |v| path_value(v, &[key]))
        };
        if !names.insert(volume.name.as_str()) {
            error(
                at("name"),
                format!("the volume `{}` is mounted twice", volume.name),
                "mount each volume once",
            );
        }
        if !volume.target.starts_with('/') {
            error(
                at("target"),
                format!("the mount target `{}` is not absolute", volume.target),
                "write the full path in the container, starting with `/`",
            );
        } else if !targets.insert(volume.target.as_str()) {
            error(
                at("target"),
                format!("two volumes are mounted at `{}`", volume.target),
                "give each volume its own target",
            );
        }
    }
    let mut port_names = HashSet::new();
    let mut node_ports = HashSet::new();
    for (index, port) in workload.network.ports.iter().enumerate() {
        let Some(port_tree) = tree
            .get("network")
            .and_then(|n| n.get("ports").and_then(|v| v.item(index)))
        else {
            continue;
        };
        let at = |key: &str| path_value(port_tree, &[key]);
        if !port_names.insert(port.name.as_str()) {
            error(
                at("name"),
                format!("the port name `{}` is used twice", port.name),
                "give each port its own name",
            );
        }
        if !node_ports.insert((port.node_port, port.protocol)) {
            error(
                at("nodePort"),
                format!("the machine port {} is opened twice", port.node_port),
                "use a different `nodePort`",
            );
        }
        for (key, number) in [("nodePort", port.node_port), ("port", port.port)] {
            if number == 0 {
                error(
                    at(key),
                    format!("`{key}` is 0, which is not a port"),
                    "use a port from 1 to 65535",
                );
            }
        }
    }
    if !workload.network.ports.is_empty() && workload.network.mode != super::NetworkMode::Bridge {
        error(
            path_value(tree, &["network", "mode"]),
            "ports are opened only in `bridge` mode".to_owned(),
            "use `mode: bridge`, or remove `ports`",
        );
    }
    if let Some(selectors) = tree.get("selectors") {
        for (kind, selector) in [
            ("cpu", &workload.selectors.cpu),
            ("gpu", &workload.selectors.gpu),
        ] {
            if let (Some(selector), Some(selector_tree)) = (selector, selectors.get(kind)) {
                crate::selector::check(kind, selector, selector_tree, diagnostics);
            }
        }
    }
}
