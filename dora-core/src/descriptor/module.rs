//! Modules: nodes kept in a file of their own, used in a dataflow by a
//! node that names the file with `module:`, as dataflows written for
//! dora-rs do.
//!
//! A module file declares its inputs and outputs under `module:`, and its
//! nodes read the module's inputs as `_mod/NAME`:
//!
//! ```yaml
//! # parts/smooth.yml
//! module:
//!   name: smooth
//!   inputs: [samples]
//!   outputs: [smoothed]
//! nodes:
//!   - id: average
//!     path: average.py          # relative to the module's folder
//!     inputs: { value: _mod/samples }
//!     outputs: [mean]
//!   - id: clip
//!     path: clip.py
//!     inputs: { value: average/mean }
//!     outputs: [smoothed]
//! ```
//!
//! A dataflow uses it with a node whose `inputs` wire the module's inputs,
//! and reads its outputs as `node/output`:
//!
//! ```yaml
//! nodes:
//!   - id: sensor
//!     path: sensor.py
//!     outputs: [reading]
//!   - id: filter
//!     module: parts/smooth.yml  # relative to the dataflow's folder
//!     inputs: { samples: sensor/reading }
//!   - id: plot
//!     path: plot.py
//!     inputs: { data: filter/smoothed }
//! ```
//!
//! The node `filter` is replaced by the module's nodes, their ids prefixed
//! with its id and a dot: `filter.average` reads `sensor/reading`,
//! `filter.clip` reads `filter.average/mean`, and `plot` reads
//! `filter.clip/smoothed`. Everything after the descriptor (the launcher,
//! the runtime, graphs) sees only these ordinary nodes.
//!
//! A module file is checked as a dataflow is, in its own folder, and its
//! errors point into it, with a note at the line of the dataflow (or of the
//! outer module) that uses it. A module may use other modules, with paths
//! relative to its own folder, but never itself. Every module file lies
//! inside the folder of the dataflow: a dataflow reads no other file.
//!
//! The node that uses a module may also set `env` (for every node of the
//! module that does not set the same variable), `params` (each one an
//! environment variable `PARAM_<KEY>` of every node, and `$PARAM_<KEY>` or
//! `${_param.key}` in their `args` is replaced by it), `build` (run before
//! the builds of the module's nodes, as is the `build` at the top of the
//! module file) and `deploy` (for the nodes without one).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{
    node_list, read_nodes, Args, Deploy, EnvValue, Input, InputSource, Node, OutputRef, Written,
    DEFAULT_QUEUE_SIZE,
};
use crate::diagnostic::{self, Diagnostic, SourceFile};
use crate::id::{id_problem, DataId, NodeId};
use crate::suggest::did_you_mean;
use crate::yaml::{self, from_value_partial, struct_keys, Position, Value, ValueKind};

/// The node that a module's nodes name to read the module's inputs:
/// `_mod/samples` is the module's input `samples`.
pub const MODULE_INPUTS: &str = "_mod";

/// How deep modules may use modules, as in dora-rs.
const MAX_DEPTH: usize = 8;

/// A module file, checked, with the modules it uses expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// The module's name (for people; nodes are named by the id of the
    /// node that uses the module).
    pub name: String,
    /// The inputs that every use of the module must wire.
    pub inputs: Vec<DataId>,
    /// The inputs that a use may leave unwired; the inputs of the module's
    /// nodes that read them are then left out.
    pub inputs_optional: Vec<DataId>,
    /// The outputs that a dataflow may read from the module.
    pub outputs: Vec<DataId>,
    /// A command run before the builds of the module's nodes.
    pub build: Option<String>,
    /// The module's nodes. Sources `_mod/NAME` name the module's inputs.
    pub nodes: Vec<Node>,
    exported: BTreeMap<DataId, OutputRef>,
}

impl Module {
    /// The output of one of [`Module::nodes`] that the module's declared
    /// output `output` is.
    pub fn output_source(&self, output: &str) -> Option<&OutputRef> {
        self.exported.get(output)
    }
}

/// What a list of nodes belongs to.
pub(super) enum Within<'a> {
    Dataflow,
    Module {
        /// The `module:` header, where the module's inputs are declared.
        tree: &'a Value,
        /// Every input of the module, required or optional.
        ports: Vec<DataId>,
        /// The outputs the module declares, with where each is written.
        outputs: Vec<(DataId, Position)>,
    },
}

/// The module files of one check.
#[derive(Debug, Default)]
pub(super) struct ModuleFiles {
    /// Those being read, outermost first, each canonical and as written,
    /// to refuse a module that uses itself.
    open: Vec<(PathBuf, String)>,
    /// Those read, by canonical path: a module used many times is read
    /// and reported once (a module that could not be read is `None`).
    read: HashMap<PathBuf, Option<Module>>,
    /// The folder of the file checked first, canonical and as given:
    /// module files are read only inside it.
    root: Option<(PathBuf, String)>,
}

/// A node that uses a module, as read.
pub(super) struct Use {
    /// The node that stands for the module while the others are validated:
    /// the inputs wired into the module, and the outputs it declares.
    pub node: Node,
    /// The module's nodes for this use; `None` when the module could not
    /// be read.
    pub expansion: Option<Expansion>,
}

/// The nodes a use of a module becomes.
pub(super) struct Expansion {
    nodes: Vec<Node>,
    /// Each output the module declares, as the dataflow reads it now.
    outputs: BTreeMap<DataId, OutputRef>,
}

/// Whether a node's tree uses a module.
pub(super) fn is_use(node: &Value) -> bool {
    node.get("module").is_some()
}

/// Whether a document is a module file rather than a dataflow.
pub(crate) fn is_module_file(document: &Value) -> bool {
    document.get("module").is_some()
}

/// The `module:` header of a module file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    #[serde(default)]
    inputs: Vec<DataId>,
    #[serde(default)]
    inputs_optional: Vec<DataId>,
    #[serde(default)]
    outputs: Vec<DataId>,
}

/// The keys a module file may have at its top level.
const FILE_KEYS: &[&str] = &["module", "nodes", "build"];

/// The keys of a node that uses a module.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UseFields {
    id: NodeId,
    #[serde(default)]
    description: Option<String>,
    module: String,
    #[serde(default)]
    inputs: BTreeMap<DataId, Input>,
    #[serde(default)]
    env: BTreeMap<String, EnvValue>,
    #[serde(default)]
    params: BTreeMap<String, EnvValue>,
    #[serde(default)]
    build: Option<String>,
    #[serde(default)]
    deploy: Option<Deploy>,
}

/// Reads and validates one YAML document of a module file whose folder is
/// `base_dir`. The module is returned only when there is no error.
///
/// ```
/// use dora_core::descriptor::check_module;
/// use dora_core::yaml::parse;
///
/// let text = "module: { name: relay, inputs: [x], outputs: [y] }
/// nodes:
///   - { id: pass, path: pass.py, inputs: { v: _mod/x }, outputs: [y] }
/// ";
/// let (module, diagnostics) = check_module(&parse(text).unwrap()[0], None);
/// assert!(diagnostics.is_empty());
/// let module = module.unwrap();
/// assert_eq!(module.output_source("y").unwrap().to_string(), "pass/y");
/// assert_eq!(module.nodes[0].inputs["v"].source.to_string(), "_mod/x");
/// ```
pub fn check_module(root: &Value, base_dir: Option<&Path>) -> (Option<Module>, Vec<Diagnostic>) {
    read_module(root, base_dir, &mut ModuleFiles::default())
}

/// [`check_module`] for the module file at `path`, which its nodes'
/// modules must not use again.
pub(crate) fn check_module_file(
    root: &Value,
    base_dir: Option<&Path>,
    path: Option<&Path>,
) -> (Option<Module>, Vec<Diagnostic>) {
    let mut files = ModuleFiles::default();
    if let Some(path) = path {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        let name = path.file_name().unwrap_or(path.as_os_str());
        files
            .open
            .push((canonical, name.to_string_lossy().into_owned()));
    }
    read_module(root, base_dir, &mut files)
}

fn read_module(
    root: &Value,
    base_dir: Option<&Path>,
    files: &mut ModuleFiles,
) -> (Option<Module>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let what_to_write = "start the file with `module:` (its `name`, `inputs` and `outputs`) and list its nodes under `nodes:`";
    let ValueKind::Mapping(entries) = &root.kind else {
        diagnostics.push(
            Diagnostic::error(
                root.position,
                format!(
                    "a module file is a mapping with `module:` and `nodes:`, but this is {}",
                    root.describe()
                ),
            )
            .with_hint(what_to_write),
        );
        return (None, diagnostics);
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if !FILE_KEYS.contains(&name) {
            let hint = match did_you_mean(name, FILE_KEYS.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "a module file has only `module:`, `nodes:` and `build:` at its top level"
                    .to_owned(),
            };
            diagnostics.push(
                Diagnostic::error(key.position, format!("unknown key `{name}`")).with_hint(hint),
            );
        }
    }
    let Some(header_tree) = root.get("module") else {
        diagnostics.push(
            Diagnostic::error(
                root.position,
                "this file is not a module: it has no `module:`",
            )
            .with_hint(format!(
                "{what_to_write}; a dataflow cannot be used as a module"
            )),
        );
        return (None, diagnostics);
    };
    let header = if matches!(header_tree.kind, ValueKind::Mapping(_)) {
        let (header, errors) = from_value_partial::<Header>(header_tree);
        diagnostics.extend(errors.into_iter().map(Diagnostic::from));
        header
    } else {
        diagnostics.push(
            Diagnostic::error(
                header_tree.position,
                format!(
                    "`module` must be a mapping, but this is {}",
                    header_tree.describe()
                ),
            )
            .with_hint(
                "write the module's `name`, and its `inputs` and `outputs`, under `module:`",
            ),
        );
        None
    };
    let build = match root.get("build") {
        Some(value) if !value.is_null() => {
            let (build, errors) = from_value_partial::<String>(value);
            diagnostics.extend(errors.into_iter().map(Diagnostic::from));
            build
        }
        _ => None,
    };
    let node_values = node_list(root, "module", &mut diagnostics);
    let (Some(header), Some(node_values)) = (header, node_values) else {
        return (None, diagnostics);
    };
    check_ports(header_tree, &header, &mut diagnostics);
    let ports = header
        .inputs
        .iter()
        .chain(&header.inputs_optional)
        .cloned()
        .collect();
    let outputs = header
        .outputs
        .iter()
        .enumerate()
        .map(|(index, output)| (output.clone(), item_position(header_tree, "outputs", index)))
        .collect();
    let within = Within::Module {
        tree: header_tree,
        ports,
        outputs,
    };
    let (read, more) = read_nodes(node_values, &within, base_dir, files);
    diagnostics.extend(more);
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    let module = read.map(|read| Module {
        name: header.name,
        inputs: header.inputs,
        inputs_optional: header.inputs_optional,
        outputs: header.outputs,
        build,
        nodes: read.nodes,
        exported: read.exported,
    });
    (module, diagnostics)
}

/// Where item `index` of the list under `key` is written.
fn item_position(tree: &Value, key: &str, index: usize) -> Position {
    tree.get(key)
        .and_then(|list| list.item(index))
        .map_or(tree.value_position(key), |item| item.position)
}

/// The inputs and outputs a module declares are good ids, each listed once,
/// and no input is both required and optional.
fn check_ports(tree: &Value, header: &Header, diagnostics: &mut Vec<Diagnostic>) {
    let lists = [
        ("inputs", &header.inputs),
        ("inputs_optional", &header.inputs_optional),
        ("outputs", &header.outputs),
    ];
    for (key, list) in lists {
        let mut seen = HashSet::new();
        for (index, port) in list.iter().enumerate() {
            let position = item_position(tree, key, index);
            if let Some(problem) = id_problem(port.as_str()) {
                diagnostics.push(
                    Diagnostic::error(position, format!("bad id in `{key}`: {problem}"))
                        .with_hint("rename it, for example with `_` in place of other characters"),
                );
            }
            if !seen.insert(port) {
                diagnostics.push(
                    Diagnostic::error(position, format!("`{port}` is listed twice in `{key}`"))
                        .with_hint("list it once"),
                );
            }
        }
    }
    for (index, port) in header.inputs_optional.iter().enumerate() {
        if header.inputs.contains(port) {
            diagnostics.push(
                Diagnostic::error(
                    item_position(tree, "inputs_optional", index),
                    format!("the input `{port}` is both in `inputs` and in `inputs_optional`"),
                )
                .with_hint(
                    "keep it in `inputs` if every use must wire it, else in `inputs_optional`",
                ),
            );
        }
    }
}

/// Reads a node that uses a module, and the module. `base_dir` is the
/// folder of the file that holds the node; without it, the module cannot
/// be found. Returns `None` when the node itself cannot be read.
pub(super) fn read_use(
    value: &Value,
    base_dir: Option<&Path>,
    files: &mut ModuleFiles,
) -> (Option<Use>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let Some(kept) = refuse_node_keys(value, &mut diagnostics) else {
        let (_, errors) = from_value_partial::<UseFields>(value);
        diagnostics.extend(errors.into_iter().map(Diagnostic::from));
        return (None, diagnostics);
    };
    let (fields, errors) = from_value_partial::<UseFields>(&kept);
    diagnostics.extend(errors.into_iter().map(Diagnostic::from));
    let Some(fields) = fields else {
        return (None, diagnostics);
    };
    check_params(value, &fields, &mut diagnostics);
    let mut node = Node::bare(fields.id.clone());
    node.inputs = fields.inputs.clone();
    node.description = fields.description.clone();
    let opaque = |node, diagnostics| {
        (
            Some(Use {
                node,
                expansion: None,
            }),
            diagnostics,
        )
    };
    let at = value.value_position("module");
    let id = &fields.id;
    let Some(base_dir) = base_dir else {
        diagnostics.push(
            Diagnostic::error(
                at,
                format!(
                    "node `{id}` uses the module `{}`, which cannot be read here: the folder of the dataflow is not known",
                    fields.module
                ),
            )
            .with_hint("check or run the dataflow from its file (`dora check FILE`), whose folder the module's path starts from"),
        );
        return opaque(node, diagnostics);
    };
    if fields.module.trim().is_empty() {
        diagnostics.push(
            Diagnostic::error(at, format!("node `{id}` names no module file")).with_hint(
                "write the path of the module file, relative to the folder of this file",
            ),
        );
        return opaque(node, diagnostics);
    }
    let (path, canonical, text) = match load(&fields.module, base_dir, files) {
        Ok(loaded) => loaded,
        Err((problem, hint)) => {
            diagnostics.push(
                Diagnostic::error(
                    at,
                    format!(
                        "cannot read the module `{}` of node `{id}`: {problem}",
                        fields.module
                    ),
                )
                .with_hint(hint),
            );
            return opaque(node, diagnostics);
        }
    };
    if let Some(first) = files.open.iter().position(|(file, _)| *file == canonical) {
        let circle: Vec<String> = files.open[first..]
            .iter()
            .map(|(_, written)| format!("`{written}`"))
            .chain([format!("`{}`", fields.module)])
            .collect();
        diagnostics.push(
            Diagnostic::error(
                at,
                format!(
                    "the module `{}` uses itself: {}",
                    fields.module,
                    circle.join(" uses ")
                ),
            )
            .with_hint("a module cannot include itself, directly or through other modules; remove the `module:` that closes the circle"),
        );
        return opaque(node, diagnostics);
    }
    if files.open.len() >= MAX_DEPTH {
        diagnostics.push(
            Diagnostic::error(
                at,
                format!("the module `{}` would be the {}th module nested in another here, and modules nest at most {MAX_DEPTH} deep", fields.module, files.open.len() + 1),
            )
            .with_hint("use fewer levels of modules: put the nodes of an inner module in the module that uses it"),
        );
        return opaque(node, diagnostics);
    }
    let file = Arc::new(SourceFile {
        path: tidy(&path),
        text,
    });
    let note = format!(
        "in the module `{}`, which node `{id}` uses here",
        fields.module
    );
    let used_here = |d: Diagnostic| d.moved_into(&file).with_note(at, note.clone());
    // The mistakes of a module used many times are told once, at its
    // first use.
    let first_use = !files.read.contains_key(&canonical);
    let documents = match yaml::parse(&file.text) {
        Ok(documents) => documents,
        Err(errors) => {
            if first_use {
                diagnostics.extend(errors.into_iter().map(Diagnostic::from).map(used_here));
            }
            files.read.insert(canonical, None);
            return opaque(node, diagnostics);
        }
    };
    let meaningful: Vec<&Value> = documents.iter().filter(|d| !d.is_null()).collect();
    let root = match meaningful.as_slice() {
        [root] => *root,
        [] => {
            if first_use {
                diagnostics.push(used_here(
                    Diagnostic::error(Position::START, "the module file holds nothing")
                        .with_hint("start it with `module:` (its `name`, `inputs` and `outputs`) and list its nodes under `nodes:`"),
                ));
            }
            files.read.insert(canonical, None);
            return opaque(node, diagnostics);
        }
        [_, second, ..] => {
            if first_use {
                diagnostics.push(used_here(
                    Diagnostic::error(
                        second.position,
                        "a module file holds one document, but this file has several",
                    )
                    .with_hint("keep one module per file"),
                ));
            }
            files.read.insert(canonical, None);
            return opaque(node, diagnostics);
        }
    };
    let module = match files.read.get(&canonical) {
        Some(module) => module.clone(),
        None => {
            files.open.push((canonical.clone(), fields.module.clone()));
            let (module, errors) = read_module(root, path.parent(), files);
            files.open.pop();
            diagnostics.extend(errors.into_iter().map(used_here));
            files.read.insert(canonical, module.clone());
            module
        }
    };
    let Some(module) = module else {
        return opaque(node, diagnostics);
    };
    check_wiring(value, root, &fields, &module, &file, &mut diagnostics);
    node.outputs = module.outputs.clone();
    let expansion = bind(&fields, &module);
    (
        Some(Use {
            node,
            expansion: Some(expansion),
        }),
        diagnostics,
    )
}

/// The largest module file, as in dora-rs: a module is a page of YAML.
const MAX_MODULE_BYTES: u64 = 1 << 20;

/// Reads the module file at `module`, relative to `base_dir`: its path,
/// its canonical path and its text; or what is wrong and what to do.
///
/// A dataflow may come from someone else (a cluster's machine checks the
/// dataflows it is sent) and its errors show the lines of its modules, so
/// a module must be a file of reasonable size inside the folder of the file
/// checked first (the dataflow), never any other file of the machine.
fn load(
    module: &str,
    base_dir: &Path,
    files: &mut ModuleFiles,
) -> Result<(PathBuf, PathBuf, String), (String, String)> {
    use std::io::Read;
    let (root, shown) = files
        .root
        .get_or_insert_with(|| {
            let canonical = base_dir
                .canonicalize()
                .unwrap_or_else(|_| base_dir.to_owned());
            (canonical, base_dir.display().to_string())
        })
        .clone();
    if Path::new(module).is_absolute() {
        return Err((
            "the path is absolute".to_owned(),
            "write the path relative to the folder of this file".to_owned(),
        ));
    }
    let path = base_dir.join(module);
    let io = |error: std::io::Error| {
        let hint = match error.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the path is relative to the folder of this file (`{}`); check it",
                base_dir.display()
            ),
            std::io::ErrorKind::InvalidData => "module files are YAML text in UTF-8".to_owned(),
            _ => "check that the file exists and can be read".to_owned(),
        };
        (error.to_string(), hint)
    };
    let canonical = path.canonicalize().map_err(io)?;
    if !canonical.starts_with(&root) {
        return Err((
            format!("it is outside the folder of the dataflow (`{shown}`)"),
            "keep module files in the dataflow's folder or in folders inside it".to_owned(),
        ));
    }
    if !std::fs::metadata(&canonical).map_err(io)?.is_file() {
        return Err((
            "it is not a file".to_owned(),
            "name a module file (YAML with `module:` and `nodes:`)".to_owned(),
        ));
    }
    let mut text = String::new();
    std::fs::File::open(&canonical)
        .and_then(|file| file.take(MAX_MODULE_BYTES + 1).read_to_string(&mut text))
        .map_err(io)?;
    if text.len() as u64 > MAX_MODULE_BYTES {
        return Err((
            format!("it is larger than {} KiB", MAX_MODULE_BYTES / 1024),
            "split it into smaller modules".to_owned(),
        ));
    }
    Ok((path, canonical, text))
}

/// `path` without its `.` parts and with `dir/..` taken out, as people
/// would write it: `flows/../parts/a.yml` is `parts/a.yml`.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut tidy = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(tidy.components().next_back(), Some(Component::Normal(_))) =>
            {
                tidy.pop();
            }
            other => tidy.push(other),
        }
    }
    if tidy.as_os_str().is_empty() {
        tidy.push(".");
    }
    tidy
}

/// The tree of a node that uses a module without the keys that only an
/// ordinary node has, each reported; `None` when it is not a mapping.
fn refuse_node_keys(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Value> {
    let ValueKind::Mapping(entries) = &value.kind else {
        return None;
    };
    let node_keys = struct_keys::<Node>();
    let use_keys = struct_keys::<UseFields>();
    let id = value.get("id").and_then(Value::as_str).unwrap_or("?");
    let mut kept = Vec::with_capacity(entries.len());
    for (key, item) in entries {
        let name = key.as_str().unwrap_or_default();
        let only_for_nodes =
            (node_keys.contains(&name) || name == "operator") && !use_keys.contains(&name);
        if !only_for_nodes {
            kept.push((key.clone(), item.clone()));
            continue;
        }
        let hint = if name == "outputs" {
            "remove `outputs`: a module's outputs are those its file declares under `module:`"
                .to_owned()
        } else {
            format!("remove `{name}`, or remove `module` to make `{id}` an ordinary node; a module node only sets `inputs`, `env`, `params`, `build` and `deploy` for the module's nodes")
        };
        diagnostics.push(
            Diagnostic::error(
                key.position,
                format!("node `{id}` uses a module, so it cannot have `{name}`: the module's nodes are what runs"),
            )
            .with_hint(hint),
        );
    }
    Some(Value {
        kind: ValueKind::Mapping(kept),
        position: value.position,
    })
}

/// Parameter keys become parts of environment variables: letters, digits
/// and `_`, and no two that differ only in case.
fn check_params(value: &Value, fields: &UseFields, diagnostics: &mut Vec<Diagnostic>) {
    let Some(tree) = value.get("params") else {
        return;
    };
    let mut upper = HashMap::new();
    for key in fields.params.keys() {
        let position = tree.key_position(key);
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            diagnostics.push(
                Diagnostic::error(position, format!("bad parameter name `{key}`: it becomes the environment variable `PARAM_{}`, so it may hold only letters, digits and `_`", key.to_uppercase()))
                    .with_hint("rename it, for example with `_` in place of other characters"),
            );
        } else if let Some(other) = upper.insert(key.to_uppercase(), key) {
            diagnostics.push(
                Diagnostic::error(
                    position,
                    format!(
                        "the parameters `{other}` and `{key}` are both `PARAM_{}`",
                        key.to_uppercase()
                    ),
                )
                .with_hint("give them names that differ in more than case"),
            );
        }
    }
}

/// The inputs a node wires into its module are those the module declares,
/// with every required one.
fn check_wiring(
    value: &Value,
    module_root: &Value,
    fields: &UseFields,
    module: &Module,
    file: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let id = &fields.id;
    let header = module_root.get("module").unwrap_or(module_root);
    let declared: Vec<&str> = module
        .inputs
        .iter()
        .chain(&module.inputs_optional)
        .map(DataId::as_str)
        .collect();
    let inputs_tree = value.get("inputs");
    for input in fields.inputs.keys() {
        if declared.contains(&input.as_str()) {
            continue;
        }
        let position = inputs_tree.map_or(value.position, |t| t.key_position(input.as_str()));
        let hint = match did_you_mean(input.as_str(), declared.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if declared.is_empty() => "the module has no inputs; remove this one".to_owned(),
            None => format!(
                "the module's inputs are {}",
                declared
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        diagnostics.push(
            Diagnostic::error(
                position,
                format!(
                    "node `{id}` wires the input `{input}` into the module `{}`, which has no such input",
                    fields.module
                ),
            )
            .with_hint(hint)
            .with_note_in(
                file,
                header.key_position("inputs"),
                "the module declares its inputs here",
            ),
        );
    }
    for (index, input) in module.inputs.iter().enumerate() {
        if fields.inputs.contains_key(input) {
            continue;
        }
        diagnostics.push(
            Diagnostic::error(
                value.value_position("module"),
                format!(
                    "node `{id}` does not wire the input `{input}`, which the module `{}` needs",
                    fields.module
                ),
            )
            .with_hint(format!(
                "add `{input}: <node>/<output>` under the `inputs:` of node `{id}`"
            ))
            .with_note_in(
                file,
                item_position(header, "inputs", index),
                "the module declares the input here",
            ),
        );
    }
}

/// The module's nodes for one use: ids prefixed with the use's id and a
/// dot, sources `_mod/NAME` replaced by what the use wires into `NAME`,
/// sources of the module's own nodes prefixed, paths made relative to the
/// folder of the file that holds the use, and the use's settings given.
fn bind(fields: &UseFields, module: &Module) -> Expansion {
    let prefix = |id: &NodeId| NodeId::from(format!("{}.{id}", fields.id));
    let own: HashSet<&NodeId> = module.nodes.iter().map(|node| &node.id).collect();
    let folder = Path::new(&fields.module).parent().unwrap_or(Path::new(""));
    let builds: Vec<&str> = [fields.build.as_deref(), module.build.as_deref()]
        .into_iter()
        .flatten()
        .filter(|build| !build.trim().is_empty())
        .collect();
    let nodes = module
        .nodes
        .iter()
        .map(|node| {
            let mut node = node.clone();
            node.id = prefix(&node.id);
            let maps = std::iter::once(&mut node.inputs)
                .chain(node.operators.iter_mut().map(|op| &mut op.inputs));
            for inputs in maps {
                inputs.retain(|_, input| {
                    let InputSource::Output(source) = &mut input.source else {
                        return true;
                    };
                    if source.node.as_str() == MODULE_INPUTS {
                        // An optional input left unwired is left out.
                        let Some(wired) = fields.inputs.get(&source.output) else {
                            return false;
                        };
                        *input = wire(input, wired);
                    } else if own.contains(&source.node) {
                        source.node = prefix(&source.node);
                    }
                    true
                });
            }
            if let Some(path) = &mut node.path {
                if path.contains('/') || path.ends_with(".py") {
                    relocate(path, folder);
                }
            }
            for operator in &mut node.operators {
                let sources = [
                    operator.shared_library.as_mut(),
                    operator.python.as_mut().map(|p| &mut p.source),
                    operator.c.as_mut(),
                ];
                for source in sources.into_iter().flatten() {
                    relocate(source, folder);
                }
            }
            for (key, value) in &fields.env {
                node.env.entry(key.clone()).or_insert_with(|| value.clone());
            }
            for (key, value) in &fields.params {
                node.env
                    .insert(format!("PARAM_{}", key.to_uppercase()), value.clone());
            }
            if !fields.params.is_empty() {
                node.args = Args(
                    node.args
                        .0
                        .iter()
                        .map(|arg| substitute_params(arg, &fields.params))
                        .collect(),
                );
            }
            if let (true, Some(deploy)) = (node.deploy == Deploy::default(), &fields.deploy) {
                node.deploy = deploy.clone();
            }
            if !builds.is_empty() {
                let own_build = node.build.as_deref().into_iter();
                let all: Vec<&str> = builds.iter().copied().chain(own_build).collect();
                node.build = Some(all.join("\n"));
            }
            node
        })
        .collect();
    let outputs = module
        .exported
        .iter()
        .map(|(output, source)| {
            let source = OutputRef {
                node: prefix(&source.node),
                ..source.clone()
            };
            (output.clone(), source)
        })
        .collect();
    Expansion { nodes, outputs }
}

/// An input that read `_mod/NAME`, now reading what the use wires into
/// `NAME`: the queue settings the module's node gives win over those of
/// the wiring, which win over the defaults.
fn wire(inner: &Input, wired: &Input) -> Input {
    Input {
        source: wired.source.clone(),
        queue_size: if inner.queue_size == DEFAULT_QUEUE_SIZE {
            wired.queue_size
        } else {
            inner.queue_size
        },
        queue_policy: if inner.queue_policy == Default::default() {
            wired.queue_policy
        } else {
            inner.queue_policy
        },
        deadline: inner.deadline.or(wired.deadline),
        input_timeout: inner.input_timeout.or(wired.input_timeout),
    }
}

/// A path relative to a module's folder made relative to the folder of the
/// file that uses the module. Absolute paths and URLs stay as they are.
fn relocate(path: &mut String, folder: &Path) {
    if folder.as_os_str().is_empty()
        || Path::new(path.as_str()).is_absolute()
        || path.contains("://")
    {
        return;
    }
    *path = tidy(&folder.join(path.as_str()))
        .to_string_lossy()
        .into_owned();
}

/// `text` with `$PARAM_<KEY>` and `${_param.key}` replaced by the value of
/// the parameter `key`, in one pass: a value is never read again, and an
/// unknown parameter is left as written.
fn substitute_params(text: &str, params: &BTreeMap<String, EnvValue>) -> String {
    const BRACED: &str = "${_param.";
    const PLAIN: &str = "$PARAM_";
    let upper: HashMap<String, &str> = params
        .iter()
        .map(|(key, value)| (key.to_uppercase(), value.0.as_str()))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let token = &rest[start..];
        if let Some((key, after)) = token
            .strip_prefix(BRACED)
            .and_then(|after| after.split_once('}'))
        {
            match params.get(key) {
                Some(value) => out.push_str(&value.0),
                None => out.push_str(&token[..BRACED.len() + key.len() + 1]),
            }
            rest = after;
        } else if let Some(after) = token.strip_prefix(PLAIN) {
            // Without a closing mark, the name runs as far as a shell
            // variable's would: `$PARAM_RATE_MAX` is not `rate`.
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            match upper.get(&after[..end]) {
                Some(value) => out.push_str(value),
                None => out.push_str(&token[..PLAIN.len() + end]),
            }
            rest = &after[end..];
        } else {
            out.push('$');
            rest = &token[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Where each output a module declares comes from: exactly one of its
/// nodes (or of their operators, or of the modules they use) sends it.
pub(super) fn exported(
    parsed: &[(Node, &Value)],
    written: &Written,
    outputs: &[(DataId, Position)],
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<DataId, OutputRef> {
    let nodes: Vec<&Node> = parsed
        .iter()
        .map(|(node, _)| node)
        .filter(|node| node.id.as_str() != MODULE_INPUTS)
        .collect();
    let mut exported = BTreeMap::new();
    for (output, position) in outputs {
        let mut senders = Vec::new();
        for node in &nodes {
            if node.outputs.contains(output) {
                senders.push(OutputRef {
                    node: node.id.clone(),
                    operator: None,
                    output: output.clone(),
                });
            }
            for operator in &node.operators {
                if operator.outputs.contains(output) {
                    senders.push(OutputRef {
                        node: node.id.clone(),
                        operator: Some(operator.id.clone()),
                        output: output.clone(),
                    });
                }
            }
        }
        match senders.as_slice() {
            [sender] => {
                exported.insert(output.clone(), sender.clone());
            }
            // A module that could not be read may send it.
            [] if !written.opaque.is_empty() => {}
            [] => diagnostics.push(
                Diagnostic::error(
                    *position,
                    format!(
                        "the module declares the output `{output}`, but none of its nodes sends it"
                    ),
                )
                .with_hint(format!(
                    "add `{output}` to the `outputs:` of the node that sends it, or remove it here"
                )),
            ),
            _ => {
                let names: Vec<String> = senders.iter().map(|s| format!("`{s}`")).collect();
                diagnostics.push(
                    Diagnostic::error(
                        *position,
                        format!(
                            "the module declares the output `{output}`, which more than one of its nodes sends: {}",
                            names.join(", ")
                        ),
                    )
                    .with_hint("rename the output of all but one of them: a module's output comes from one node"),
                );
            }
        }
    }
    exported
}

/// The nodes of a dataflow or a module once each use of a module is
/// replaced by the module's nodes, and every source that named a use's
/// output names the node that sends it. `None` (with the errors) when the
/// ids of the new nodes are bad or taken.
pub(super) fn expand(
    parsed: Vec<(Node, &Value)>,
    written: &Written,
    mut uses: HashMap<NodeId, Option<Expansion>>,
    mut exported: BTreeMap<DataId, OutputRef>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<super::ReadNodes> {
    let mut targets: HashMap<NodeId, BTreeMap<DataId, OutputRef>> = HashMap::new();
    let mut nodes = Vec::with_capacity(parsed.len());
    let mut made: Vec<(usize, &NodeId, Position)> = Vec::new();
    for (node, tree) in &parsed {
        if written.within_module && node.id.as_str() == MODULE_INPUTS {
            continue;
        }
        match uses.remove(&node.id) {
            Some(Some(expansion)) => {
                targets.insert(node.id.clone(), expansion.outputs);
                let position = tree.value_position("id");
                for inner in expansion.nodes {
                    made.push((nodes.len(), &node.id, position));
                    nodes.push(inner);
                }
            }
            Some(None) => return None,
            None => nodes.push(node.clone()),
        }
    }
    if made.is_empty() {
        return Some(super::ReadNodes { nodes, exported });
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for node in &nodes {
        *count.entry(node.id.as_str()).or_default() += 1;
    }
    let mut bad = false;
    for &(index, user, position) in &made {
        let id = nodes[index].id.as_str();
        if let Some(problem) = id_problem(id) {
            bad = true;
            diagnostics.push(
                Diagnostic::error(
                    position,
                    format!("node `{user}` makes the node `{id}` from its module, and that id is bad: {problem}"),
                )
                .with_hint(format!("give node `{user}` a shorter id")),
            );
        } else if count[id] > 1 {
            bad = true;
            diagnostics.push(
                Diagnostic::error(
                    position,
                    format!("node `{user}` makes the node `{id}` from its module, but the id `{id}` is taken"),
                )
                .with_hint(format!("rename node `{user}`, or the other node `{id}`")),
            );
        }
    }
    if bad {
        return None;
    }
    let retarget = |source: &mut OutputRef| {
        if source.operator.is_none() {
            if let Some(target) = targets
                .get(&source.node)
                .and_then(|outputs| outputs.get(&source.output))
            {
                *source = target.clone();
            }
        }
    };
    for node in &mut nodes {
        let inputs = node.inputs.values_mut().chain(
            node.operators
                .iter_mut()
                .flat_map(|op| op.inputs.values_mut()),
        );
        for input in inputs {
            if let InputSource::Output(source) = &mut input.source {
                retarget(source);
            }
        }
    }
    exported.values_mut().for_each(retarget);
    Some(super::ReadNodes { nodes, exported })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{substitute_params, tidy};
    use crate::check::{check_file, check_source_file, CheckedFile, Content};
    use crate::descriptor::{Dataflow, EnvValue};

    /// A folder of its own under the system's temporary folder, with these
    /// files written in it.
    fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dora-core-modules-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn dataflow(checked: &CheckedFile) -> &Dataflow {
        match &checked.content {
            Content::Dataflow(dataflow) if checked.is_valid() => dataflow,
            _ => panic!("rejected:\n{}", checked.render(false)),
        }
    }

    fn sources(dataflow: &Dataflow, node: &str) -> Vec<String> {
        let node = dataflow
            .node(node)
            .unwrap_or_else(|| panic!("no node `{node}`"));
        let operators = node.operators.iter().flat_map(|op| op.inputs.iter());
        node.inputs
            .iter()
            .chain(operators)
            .map(|(id, input)| format!("{id} <- {}", input.source))
            .collect()
    }

    const SMOOTH: &str = "module:
  name: smooth
  inputs: [samples]
  inputs_optional: [limits]
  outputs: [smoothed]
nodes:
  - id: average
    path: average.py
    inputs:
      value: _mod/samples
      limits: _mod/limits
    outputs: [mean]
  - id: clip
    path: ./clip
    inputs:
      value: average/mean
    outputs: [smoothed]
";

    const SENSOR_AND_PLOT: &str = "nodes:
  - id: sensor
    path: sensor.py
    outputs: [reading]
  - id: filter
    module: parts/smooth.yml
    inputs:
      samples: sensor/reading
  - id: plot
    path: plot.py
    inputs:
      data: filter/smoothed
";

    #[test]
    fn a_module_becomes_its_nodes_with_prefixed_ids_wired_both_ways() {
        let dir = folder(
            "expand",
            &[
                ("parts/smooth.yml", SMOOTH),
                ("dataflow.yml", SENSOR_AND_PLOT),
            ],
        );
        let checked = check_file(&dir.join("dataflow.yml"));
        let dataflow = dataflow(&checked);
        let ids: Vec<&str> = dataflow.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["sensor", "filter.average", "filter.clip", "plot"]);
        // In: `_mod/samples` is what the dataflow wires into `samples`; the
        // optional `limits`, left unwired, is left out.
        assert_eq!(
            sources(dataflow, "filter.average"),
            ["value <- sensor/reading"]
        );
        assert_eq!(
            sources(dataflow, "filter.clip"),
            ["value <- filter.average/mean"]
        );
        // Out: `filter/smoothed` is the node of the module that sends it.
        assert_eq!(sources(dataflow, "plot"), ["data <- filter.clip/smoothed"]);
        // Paths of the module's nodes start from the module's folder.
        let path = |id: &str| dataflow.node(id).unwrap().path.clone().unwrap();
        assert_eq!(path("filter.average"), "parts/average.py");
        assert_eq!(path("filter.clip"), "parts/clip");
    }

    #[test]
    fn a_module_used_twice_and_inside_another_gives_each_use_its_own_nodes() {
        let outer = "module:
  name: stereo
  inputs: [left, right]
  outputs: [balance]
build: make stereo
nodes:
  - id: l
    module: smooth.yml
    inputs:
      samples: _mod/left
      limits: _mod/right
  - id: r
    module: smooth.yml
    inputs:
      samples: _mod/right
  - id: compare
    operator:
      python: compare.py
      inputs:
        left: l/smoothed
        right: r/smoothed
      outputs: [balance]
";
        let flow = "nodes:
  - id: mics
    path: mics.py
    outputs: [left, right]
  - id: stereo
    module: parts/stereo.yml
    inputs:
      left: mics/left
      right:
        source: mics/right
        queue_size: 3
    env: { LEVEL: 2 }
    deploy: { machine: robot-1 }
  - id: meter
    path: meter.py
    inputs:
      balance: stereo/balance
";
        let dir = folder(
            "nested",
            &[
                ("parts/smooth.yml", SMOOTH),
                ("parts/stereo.yml", outer),
                ("dataflow.yml", flow),
            ],
        );
        let checked = check_file(&dir.join("dataflow.yml"));
        let dataflow = dataflow(&checked);
        let ids: Vec<&str> = dataflow.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "mics",
                "stereo.l.average",
                "stereo.l.clip",
                "stereo.r.average",
                "stereo.r.clip",
                "stereo.compare",
                "meter"
            ]
        );
        assert_eq!(
            sources(dataflow, "stereo.l.average"),
            ["limits <- mics/right", "value <- mics/left"]
        );
        assert_eq!(
            dataflow.node("stereo.l.average").unwrap().inputs["limits"].queue_size,
            3
        );
        assert_eq!(
            sources(dataflow, "stereo.compare"),
            [
                "left <- stereo.l.clip/smoothed",
                "right <- stereo.r.clip/smoothed"
            ]
        );
        // An output of an operator keeps the operator's id.
        assert_eq!(
            sources(dataflow, "meter"),
            ["balance <- stereo.compare/op/balance"]
        );
        let compare = dataflow.node("stereo.compare").unwrap();
        assert_eq!(
            compare.operators[0]
                .python
                .as_ref()
                .map(|p| p.source.as_str()),
            Some("parts/compare.py")
        );
        assert_eq!(compare.build.as_deref(), Some("make stereo"));
        assert_eq!(compare.env["LEVEL"], EnvValue("2".to_owned()));
        let clip = dataflow.node("stereo.r.clip").unwrap();
        assert_eq!(clip.path.as_deref(), Some("parts/clip"));
        assert_eq!(clip.deploy.machine.as_deref(), Some("robot-1"));
    }

    #[test]
    fn params_become_environment_variables_and_fill_args() {
        let module = "module:
  name: gain
  outputs: [out]
nodes:
  - id: amp
    path: amp.py
    args: --gain $PARAM_GAIN --mode ${_param.mode} --keep $PARAM_GAIN_MAX
    env: { PARAM_MODE: quiet }
    outputs: [out]
";
        let flow = "nodes:
  - id: amp
    module: gain.yml
    params: { gain: 2.5, mode: loud }
";
        let dir = folder("params", &[("gain.yml", module), ("flow.yml", flow)]);
        let checked = check_file(&dir.join("flow.yml"));
        let node = &dataflow(&checked).nodes[0];
        assert_eq!(node.id.as_str(), "amp.amp");
        assert_eq!(
            node.args.0,
            [
                "--gain",
                "2.5",
                "--mode",
                "loud",
                "--keep",
                "$PARAM_GAIN_MAX"
            ]
        );
        assert_eq!(node.env["PARAM_GAIN"], EnvValue("2.5".to_owned()));
        assert_eq!(node.env["PARAM_MODE"], EnvValue("loud".to_owned()));
    }

    #[test]
    fn an_error_inside_a_module_names_the_module_file_and_the_line_that_uses_it() {
        let broken = SMOOTH.replace("value: average/mean", "value: averag/mean");
        let dir = folder(
            "inside",
            &[
                ("parts/smooth.yml", &broken),
                ("dataflow.yml", SENSOR_AND_PLOT),
            ],
        );
        let checked = check_file(&dir.join("dataflow.yml"));
        assert!(!checked.is_valid());
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        let error = errors[0];
        assert_eq!(
            error.message,
            "input `value` of node `clip` reads from node `averag`, which is not in this module"
        );
        assert_eq!(error.hint.as_deref(), Some("did you mean `average`?"));
        let file = error.file.as_ref().expect("the error is in the module");
        assert_eq!(file.path, dir.join("parts/smooth.yml"));
        let at = error.position.unwrap();
        assert_eq!((at.line, at.column), (16, 14));
        let note = &error.notes[0];
        assert!(note.file.is_none(), "the note is in the dataflow");
        assert_eq!((note.position.line, note.position.column), (6, 13));
        let text = checked.render(false);
        assert!(text.contains("parts/smooth.yml:16:14"), "{text}");
        assert!(text.contains("dataflow.yml:6:13"), "{text}");
        assert!(text.contains("which node `filter` uses here"), "{text}");
    }

    #[test]
    fn the_mistakes_of_a_module_used_twice_are_told_once() {
        let broken = SMOOTH.replace("value: average/mean", "value: averag/mean");
        let flow = format!(
            "{SENSOR_AND_PLOT}  - id: again
    module: parts/smooth.yml
    inputs:
      samples: sensor/reading
"
        );
        let dir = folder(
            "twice",
            &[("parts/smooth.yml", &broken), ("dataflow.yml", &flow)],
        );
        let checked = check_file(&dir.join("dataflow.yml"));
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert_eq!(errors[0].notes[0].position.line, 6);
    }

    #[test]
    fn a_use_wires_the_inputs_its_module_declares_and_reads_its_outputs() {
        let flow = "nodes:
  - id: sensor
    path: sensor.py
    outputs: [reading]
  - id: filter
    module: smooth.yml
    path: smooth.py
    outputs: [smoothed]
    inputs:
      sample: sensor/reading
  - id: plot
    path: plot.py
    inputs:
      data: filter/smothed
";
        let dir = folder("wiring", &[("smooth.yml", SMOOTH), ("flow.yml", flow)]);
        let checked = check_file(&dir.join("flow.yml"));
        let errors: Vec<_> = checked
            .errors()
            .map(|d| {
                let at = d.position.unwrap();
                (
                    d.message.as_str(),
                    d.hint.as_deref().unwrap(),
                    at.line,
                    at.column,
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                (
                    "node `filter` does not wire the input `samples`, which the module `smooth.yml` needs",
                    "add `samples: <node>/<output>` under the `inputs:` of node `filter`",
                    6,
                    13
                ),
                (
                    "node `filter` uses a module, so it cannot have `path`: the module's nodes are what runs",
                    "remove `path`, or remove `module` to make `filter` an ordinary node; a module node only sets `inputs`, `env`, `params`, `build` and `deploy` for the module's nodes",
                    7,
                    5
                ),
                (
                    "node `filter` uses a module, so it cannot have `outputs`: the module's nodes are what runs",
                    "remove `outputs`: a module's outputs are those its file declares under `module:`",
                    8,
                    5
                ),
                (
                    "node `filter` wires the input `sample` into the module `smooth.yml`, which has no such input",
                    "did you mean `samples`?",
                    10,
                    7
                ),
                (
                    "input `data` of node `plot` reads output `smothed`, which the module of node `filter` does not declare",
                    "did you mean `smoothed`?",
                    14,
                    13
                ),
            ]
        );
        // The wiring errors point into the module file too.
        let text = checked.render(false);
        assert!(text.contains("smooth.yml:3:12"), "{text}");
    }

    #[test]
    fn a_module_is_read_only_inside_the_dataflow_s_folder() {
        let dir = folder(
            "outside",
            &[
                ("parts/smooth.yml", SMOOTH),
                (
                    "flows/flow.yml",
                    "nodes:\n  - id: a\n    module: ../parts/smooth.yml\n  - id: b\n    module: /etc/hostname\n",
                ),
            ],
        );
        let checked = check_file(&dir.join("flows/flow.yml"));
        let errors: Vec<&str> = checked.errors().map(|d| d.message.as_str()).collect();
        let outside = format!(
            "cannot read the module `../parts/smooth.yml` of node `a`: it is outside the folder of the dataflow (`{}`)",
            dir.join("flows").display()
        );
        assert_eq!(
            errors,
            [
                outside.as_str(),
                "cannot read the module `/etc/hostname` of node `b`: the path is absolute",
            ]
        );
    }

    #[test]
    fn a_missing_module_file_is_an_error_at_its_path() {
        let dir = folder("missing", &[("dataflow.yml", SENSOR_AND_PLOT)]);
        let checked = check_file(&dir.join("dataflow.yml"));
        let errors: Vec<_> = checked.errors().collect();
        // `filter/smoothed` is not reported: what the module sends is unknown.
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert!(errors[0]
            .message
            .starts_with("cannot read the module `parts/smooth.yml` of node `filter`"));
        assert!(errors[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("relative to the folder"));
        let at = errors[0].position.unwrap();
        assert_eq!((at.line, at.column), (6, 13));
    }

    #[test]
    fn a_module_that_uses_itself_is_refused() {
        let selfish = "module:
  name: selfish
  outputs: [x]
nodes:
  - id: again
    module: ../parts/selfish.yml
";
        let flow = "nodes:
  - id: s
    module: parts/selfish.yml
";
        let dir = folder(
            "cycle",
            &[("parts/selfish.yml", selfish), ("dataflow.yml", flow)],
        );
        let checked = check_file(&dir.join("dataflow.yml"));
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert_eq!(
            errors[0].message,
            "the module `../parts/selfish.yml` uses itself: `parts/selfish.yml` uses `../parts/selfish.yml`"
        );
        let alone = check_file(&dir.join("parts/selfish.yml"));
        assert!(!alone.is_valid());
        assert!(alone.render(false).contains("uses itself"));
    }

    #[test]
    fn without_the_dataflow_s_folder_a_module_cannot_be_expanded() {
        let checked = check_source_file("dataflow.yml", SENSOR_AND_PLOT);
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert!(errors[0]
            .message
            .contains("which cannot be read here: the folder of the dataflow is not known"));
        assert!(Dataflow::from_yaml_str(SENSOR_AND_PLOT).is_err());
    }

    #[test]
    fn a_module_file_alone_is_checked_as_a_module() {
        let dir = folder("alone", &[("smooth.yml", SMOOTH)]);
        let checked = check_file(&dir.join("smooth.yml"));
        let Content::Module(module) = &checked.content else {
            panic!("not a module:\n{}", checked.render(false));
        };
        assert!(checked.is_valid());
        assert_eq!(module.name, "smooth");
        assert_eq!(
            module.output_source("smoothed").unwrap().to_string(),
            "clip/smoothed"
        );
    }

    #[test]
    fn ids_made_from_a_module_must_be_free() {
        let flow = "nodes:
  - id: sensor
    path: sensor.py
    outputs: [reading]
  - id: filter
    module: smooth.yml
    inputs: { samples: sensor/reading }
  - id: filter.clip
    path: other.py
";
        let dir = folder("taken", &[("smooth.yml", SMOOTH), ("flow.yml", flow)]);
        let checked = check_file(&dir.join("flow.yml"));
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert_eq!(
            errors[0].message,
            "node `filter` makes the node `filter.clip` from its module, but the id `filter.clip` is taken"
        );
    }

    #[test]
    fn a_module_may_export_what_a_module_it_uses_sends() {
        let outer = "module:
  name: wrap
  inputs: [x]
  outputs: [smoothed]
nodes:
  - id: inner
    module: smooth.yml
    inputs: { samples: _mod/x }
";
        let flow = "nodes:
  - id: sensor
    path: sensor.py
    outputs: [reading]
  - id: w
    module: wrap.yml
    inputs: { x: sensor/reading }
  - id: plot
    path: plot.py
    inputs: { data: w/smoothed }
";
        let dir = folder(
            "reexport",
            &[
                ("smooth.yml", SMOOTH),
                ("wrap.yml", outer),
                ("flow.yml", flow),
            ],
        );
        let checked = check_file(&dir.join("flow.yml"));
        let dataflow = dataflow(&checked);
        assert_eq!(sources(dataflow, "plot"), ["data <- w.inner.clip/smoothed"]);
        assert_eq!(
            sources(dataflow, "w.inner.average"),
            ["value <- sensor/reading"]
        );
    }

    #[test]
    fn a_local_run_checks_the_cores_of_a_module_s_nodes_at_the_node_that_uses_it() {
        let pinned = SMOOTH.replace(
            "    path: ./clip\n",
            "    path: ./clip\n    cpu_affinity: [7]\n",
        );
        let flow = SENSOR_AND_PLOT.replace(
            "    module: parts/smooth.yml\n",
            "    module: parts/smooth.yml\n    deploy: { machine: m }\n",
        );
        let dir = folder(
            "cores",
            &[("parts/smooth.yml", &pinned), ("dataflow.yml", &flow)],
        );
        let mut checked = check_file(&dir.join("dataflow.yml"));
        assert!(checked.is_valid(), "{}", checked.render(false));
        checked.check_local_run(&[0, 1].into());
        let found: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("core 7") || d.message.contains("`deploy`"))
            .map(|d| (d.is_error(), d.message.as_str(), d.position.map(|p| p.line)))
            .collect();
        assert_eq!(
            found,
            [
                (
                    true,
                    "node `filter.clip` asks for core 7 (`cpu_affinity`), but `dora run` may use cores 0-1 on this machine",
                    Some(6)
                ),
                (
                    false,
                    "`deploy` (of node `filter`) is ignored by `dora run`, which runs every node on this machine",
                    Some(7)
                ),
            ]
        );
    }

    #[test]
    fn odd_modules_are_errors_with_a_place_and_a_hint() {
        let modules = [
            "",
            "module: []\nnodes: []\n",
            "module: smooth\nnodes:\n  - {id: a, path: a}\n",
            "module: {name: m}\nnodes: {}\n",
            "module: {name: m, inputs: [a, a], inputs_optional: [a], outputs: [b/c]}\nnodes:\n  - {id: n, path: n}\n",
            "module: {name: m, colour: red}\nnodes:\n  - {id: n, path: n}\nextra: 1\n",
            "nodes:\n  - {id: n, path: n}\n",
            "module: {name: m}\nnodes:\n  - {id: n, path: n}\n---\nmodule: {name: m}\n",
            "module: {name: m, outputs: [o]}\nnodes:\n  - {id: a, path: a, outputs: [o]}\n  - {id: b, path: b, outputs: [o]}\n",
            "module: {name: m}\nnodes:\n  - {id: _mod, path: a}\n",
            "module: {name: m}\nbuild: [x]\nnodes:\n  - {id: a, module: ''}\n",
            "module: {name: m}\nnodes:\n  - {id: a, module: m.yml, operator: {python: a.py}, params: {'a b': 1, X: 1, x: 2}}\n",
            "\tmodule: x\n",
        ];
        for (index, text) in modules.iter().enumerate() {
            let dir = folder(
                &format!("odd-{index}"),
                &[
                    ("m.yml", text),
                    (
                        "flow.yml",
                        "nodes:\n  - id: x\n    module: m.yml\n  - {id: y, path: y, inputs: {a: x/o, b: _mod/a}}\n",
                    ),
                ],
            );
            for file in ["m.yml", "flow.yml"] {
                let checked = check_file(&dir.join(file));
                // Alone, a dataflow (case 6) is valid; used as a module, not.
                if file == "flow.yml" || index != 6 {
                    assert!(!checked.is_valid(), "{file} of case {index} was accepted");
                }
                for error in checked.errors() {
                    assert!(
                        error.position.is_some() && error.hint.is_some(),
                        "case {index}, {file}: {error:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn params_are_replaced_once_and_only_when_known() {
        let params = [
            ("rate".to_owned(), EnvValue("$PARAM_RATE".to_owned())),
            ("mode".to_owned(), EnvValue("fast".to_owned())),
        ]
        .into();
        assert_eq!(
            substitute_params(
                "$PARAM_RATE/${_param.mode}/$PARAM_RATE_MAX/${_param.x}/$",
                &params
            ),
            "$PARAM_RATE/fast/$PARAM_RATE_MAX/${_param.x}/$"
        );
    }

    #[test]
    fn shown_paths_lose_their_dots() {
        assert_eq!(
            tidy(Path::new("flows/./../parts/a.yml")),
            Path::new("parts/a.yml")
        );
        assert_eq!(tidy(Path::new("../a.yml")), Path::new("../a.yml"));
    }
}
