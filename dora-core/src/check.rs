//! Checking any dora file: a dataflow, a module, or a file of cluster resources.
//!
//! ```no_run
//! use dora_core::check::check_file;
//!
//! let checked = check_file("examples/hello/dataflow.yml".as_ref());
//! print!("{}", checked.render(false));
//! assert!(checked.is_valid());
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::descriptor::{self, Dataflow, Module};
use crate::diagnostic::{self, Diagnostic};
use crate::resource::{self, Resource};
use crate::yaml::{self, Position, Value, ValueKind};

/// A file after checking: what it holds and what was found wrong.
#[derive(Debug)]
pub struct CheckedFile {
    pub path: PathBuf,
    /// The file's text (empty when it could not be read).
    pub source: String,
    pub content: Content,
    pub diagnostics: Vec<Diagnostic>,
}

/// What a checked file holds, when it could be read.
#[derive(Debug)]
pub enum Content {
    Dataflow(Dataflow),
    Resources(Vec<Resource>),
    /// A module: nodes that a dataflow uses through a node with
    /// `module: FILE`.
    Module(Module),
    /// The file could not be read as any of them.
    Invalid,
}

impl CheckedFile {
    /// The errors among the diagnostics (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Whether the file has no error (warnings are allowed).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The diagnostics, rendered for people.
    pub fn render(&self, color: bool) -> String {
        diagnostic::render(
            &self.path.display().to_string(),
            &self.source,
            &self.diagnostics,
            color,
        )
    }
}

/// Every `.yml` and `.yaml` file under `dir`, in every subfolder, sorted.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a YAML document is a resource rather than a dataflow.
fn is_resource(document: &Value) -> bool {
    document.get("apiVersion").is_some() || document.get("kind").is_some()
}

/// Reads and checks a file: a dataflow (with `nodes:`), a module (with
/// `module:` and `nodes:`) or one or more cluster resources (with
/// `apiVersion` and `kind`).
pub fn check_file(path: &Path) -> CheckedFile {
    let invalid = |source: String, diagnostic: Diagnostic| CheckedFile {
        path: path.to_owned(),
        source,
        content: Content::Invalid,
        diagnostics: vec![diagnostic],
    };
    let source = match std::fs::read_to_string(path) {
        Ok(source) => source,
        Err(error) => {
            let hint = match error.kind() {
                std::io::ErrorKind::NotFound => {
                    "check the path; it is relative to the current folder"
                }
                std::io::ErrorKind::InvalidData => "dora files are YAML text in UTF-8",
                _ => "check that the file exists and can be read",
            };
            return invalid(
                String::new(),
                Diagnostic::error(None, format!("cannot read the file: {error}")).with_hint(hint),
            );
        }
    };
    let base_dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let (content, diagnostics) = check_source_at(&source, base_dir, Some(path));
    CheckedFile {
        path: path.to_owned(),
        source,
        content,
        diagnostics,
    }
}

/// Checks YAML text as [`check_file`] does; `base_dir` is where relative
/// paths start (no path is looked for without it).
pub fn check_source(source: &str, base_dir: Option<&Path>) -> (Content, Vec<Diagnostic>) {
    check_source_at(source, base_dir, None)
}

/// [`check_source`] for the text of the file at `path`, so that a module
/// that uses itself through others is told so from its own file.
fn check_source_at(
    source: &str,
    base_dir: Option<&Path>,
    path: Option<&Path>,
) -> (Content, Vec<Diagnostic>) {
    let documents = match yaml::parse(source) {
        Ok(documents) => documents,
        Err(errors) => {
            return (
                Content::Invalid,
                errors.into_iter().map(Diagnostic::from).collect(),
            )
        }
    };
    let meaningful: Vec<&Value> = documents.iter().filter(|d| !d.is_null()).collect();
    match meaningful.as_slice() {
        [] => (
            Content::Invalid,
            vec![Diagnostic::error(Position::START, "the file holds nothing").with_hint("write a dataflow (`nodes:`) or a resource (`apiVersion: v1` and `kind`)")],
        ),
        docs if docs.iter().any(|d| is_resource(d)) => {
            let (resources, diagnostics) = resource::check(&documents, base_dir);
            let content = if diagnostics.iter().any(Diagnostic::is_error) { Content::Invalid } else { Content::Resources(resources) };
            (content, diagnostics)
        }
        [root] if descriptor::is_module_file(root) => {
            let (module, diagnostics) = descriptor::check_module_file(root, base_dir, path);
            let content = match module {
                Some(module) if !diagnostics.iter().any(Diagnostic::is_error) => Content::Module(module),
                _ => Content::Invalid,
            };
            (content, diagnostics)
        }
        [root] => {
            let (dataflow, diagnostics) = descriptor::check(root, base_dir);
            let content = match dataflow {
                Some(dataflow) if !diagnostics.iter().any(Diagnostic::is_error) => Content::Dataflow(dataflow),
                _ => Content::Invalid,
            };
            (content, diagnostics)
        }
        [_, second, ..] => (
            Content::Invalid,
            vec![Diagnostic::error(second.position, "a dataflow file holds one document, but this file has several")
                .with_hint("keep one dataflow per file, or give each document `apiVersion: v1` and `kind: Dataflow`")],
        ),
    }
}

impl CheckedFile {
    /// The checks that only a run on this machine can make (`dora run`),
    /// added to the diagnostics: every core in a node's `cpu_affinity` is
    /// one of `cores`, the cores the run may use here; and `deploy`, which
    /// places nodes on a cluster, means nothing when every node runs on
    /// one machine (a warning, once for the whole file).
    ///
    /// ```
    /// use std::collections::BTreeSet;
    /// use dora_core::check::check_source_file;
    ///
    /// let yaml = "nodes:\n  - id: a\n    path: a\n    cpu_affinity: [1, 5]\n";
    /// let mut checked = check_source_file("dataflow.yml", yaml);
    /// checked.check_local_run(&BTreeSet::from([0, 1]));
    /// assert!(!checked.is_valid());
    /// assert!(checked.render(false).contains("dataflow.yml:4:23"));
    /// ```
    pub fn check_local_run(&mut self, cores: &BTreeSet<usize>) {
        let (Content::Dataflow(dataflow), Ok(documents)) =
            (&self.content, yaml::parse(&self.source))
        else {
            return;
        };
        let Some(node_trees) = documents
            .iter()
            .find(|d| !d.is_null())
            .and_then(|root| root.get("nodes"))
        else {
            return;
        };
        let items: &[Value] = match &node_trees.kind {
            ValueKind::Sequence(items) => items,
            _ => &[],
        };
        let trees: HashMap<&str, &Value> = items
            .iter()
            .filter_map(|tree| Some((node_id(tree)?, tree)))
            .collect();
        let uses: Vec<(&str, &Value)> = items
            .iter()
            .filter(|tree| tree.get("module").is_some())
            .filter_map(|tree| Some((node_id(tree)?, tree)))
            .collect();
        let mut found = Vec::new();
        for node in &dataflow.nodes {
            // A node made from a module has no tree here, but the node that
            // uses the module has: its id and a dot start the node's id.
            let (tree, made_by) = match trees.get(node.id.as_str()) {
                Some(tree) => (*tree, None),
                None => match uses
                    .iter()
                    .filter(|(id, _)| {
                        node.id
                            .as_str()
                            .strip_prefix(id)
                            .is_some_and(|rest| rest.starts_with('.'))
                    })
                    .max_by_key(|(id, _)| id.len())
                {
                    Some((id, tree)) => (*tree, Some(*id)),
                    None => continue,
                },
            };
            for (at, core) in node.cpu_affinity.iter().enumerate() {
                if cores.contains(core) {
                    continue;
                }
                let position = match made_by {
                    Some(_) => tree.value_position("module"),
                    None => tree
                        .get("cpu_affinity")
                        .and_then(|list| list.item(at))
                        .map_or(tree.value_position("cpu_affinity"), |item| item.position),
                };
                let message = format!(
                    "node `{}` asks for core {core} (`cpu_affinity`), but `dora run` may use {} on this machine",
                    node.id,
                    describe_cores(cores)
                );
                let hint = match made_by {
                    Some(user) => format!("node `{}` comes from the module that node `{user}` uses: list only cores this machine has in its `cpu_affinity`, or remove it", node.id),
                    None => "list only cores this machine has, or remove `cpu_affinity`".to_owned(),
                };
                found.push(Diagnostic::error(position, message).with_hint(hint));
            }
        }
        // The nodes that say `deploy` here, a node that uses a module too.
        let deployed: Vec<(&str, Position)> = items
            .iter()
            .filter(|tree| tree.get("deploy").is_some())
            .filter_map(|tree| Some((node_id(tree)?, tree.key_position("deploy"))))
            .collect();
        if let Some((_, position)) = deployed.first() {
            let names: Vec<String> = deployed.iter().map(|(id, _)| format!("`{id}`")).collect();
            found.push(
                Diagnostic::warning(
                    *position,
                    format!(
                        "`deploy` (of {} {}) is ignored by `dora run`, which runs every node on this machine",
                        if names.len() == 1 { "node" } else { "nodes" },
                        names.join(", ")
                    ),
                )
                .with_hint("`deploy` places nodes when the dataflow runs on a cluster, as a `Dataflow` resource"),
            );
        }
        self.diagnostics.extend(found);
        diagnostic::sort(&mut self.diagnostics);
    }
}

/// The id of a node's tree.
fn node_id(tree: &Value) -> Option<&str> {
    tree.get("id").and_then(Value::as_str)
}

/// Cores for people: `cores 0-3, 6`, `core 2`, or `no core`.
fn describe_cores(cores: &BTreeSet<usize>) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &core in cores {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == core => *end = core,
            _ => ranges.push((core, core)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect();
    match cores.len() {
        0 => "no core".to_owned(),
        1 => format!("core {}", text[0]),
        _ => format!("cores {}", text.join(", ")),
    }
}

/// Checks YAML text as [`check_file`] does, as if it were the file at
/// `path` (nothing is read from disk; relative paths are not looked for).
pub fn check_source_file(path: impl Into<PathBuf>, source: &str) -> CheckedFile {
    let (content, diagnostics) = check_source(source, None);
    CheckedFile {
        path: path.into(),
        source: source.to_owned(),
        content,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{check_source_file, describe_cores};

    #[test]
    fn cores_are_told_as_ranges() {
        assert_eq!(describe_cores(&BTreeSet::from([0, 1])), "cores 0-1");
        assert_eq!(
            describe_cores(&BTreeSet::from([0, 1, 2, 3, 6])),
            "cores 0-3, 6"
        );
        assert_eq!(describe_cores(&BTreeSet::from([2])), "core 2");
        assert_eq!(describe_cores(&BTreeSet::new()), "no core");
    }

    #[test]
    fn a_core_the_machine_lacks_is_an_error_at_its_place() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    cpu_affinity: [1, 4096]\n";
        let mut checked = check_source_file("d.yml", yaml);
        checked.check_local_run(&BTreeSet::from([0, 1]));
        assert!(!checked.is_valid());
        let text = checked.render(false);
        assert!(text.contains("d.yml:4:23"), "{text}");
        assert!(
            text.contains("node `a` asks for core 4096 (`cpu_affinity`), but `dora run` may use cores 0-1 on this machine"),
            "{text}"
        );
    }

    #[test]
    fn deploy_gets_one_warning_for_every_node() {
        let yaml = "nodes:\n  - id: a\n    path: a\n    deploy: { machine: m }\n  - id: b\n    path: b\n    deploy: { zone: z }\n";
        let mut checked = check_source_file("d.yml", yaml);
        checked.check_local_run(&BTreeSet::from([0]));
        assert!(checked.is_valid());
        assert_eq!(checked.diagnostics.len(), 1, "{:?}", checked.diagnostics);
        assert!(checked.diagnostics[0]
            .message
            .starts_with("`deploy` (of nodes `a`, `b`) is ignored by `dora run`"));
    }
}
