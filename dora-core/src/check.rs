//! Checking any dora file: a dataflow or a file of cluster resources.
//!
//! ```no_run
//! use dora_core::check::check_file;
//!
//! let checked = check_file("examples/hello/dataflow.yml".as_ref());
//! print!("{}", checked.render(false));
//! assert!(checked.is_valid());
//! ```

use std::path::{Path, PathBuf};

use crate::descriptor::{self, Dataflow};
use crate::diagnostic::{self, Diagnostic};
use crate::resource::{self, Resource};
use crate::yaml::{self, Position, Value};

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
    /// The file could not be read as either.
    Invalid,
}

impl CheckedFile {
    /// Whether the file has no error (warnings are allowed).
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
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

/// Reads and checks a file: a dataflow (with `nodes:`) or one or more
/// cluster resources (with `apiVersion` and `kind`).
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
    let (content, diagnostics) = check_source(&source, base_dir);
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
