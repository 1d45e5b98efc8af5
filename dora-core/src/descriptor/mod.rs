//! The dataflow descriptor: the YAML file that declares nodes, operators
//! and how their inputs and outputs connect.
//!
//! ```
//! use dora_core::descriptor::Dataflow;
//!
//! let dataflow = Dataflow::from_yaml_str(
//!     r#"
//! nodes:
//!   - id: sender
//!     path: ./sender
//!     inputs:
//!       tick: dora/timer/millis/100
//!     outputs: [message]
//!   - id: receiver
//!     path: ./receiver
//!     inputs:
//!       message: sender/message
//! "#,
//! )
//! .unwrap();
//! assert_eq!(dataflow.nodes.len(), 2);
//! assert_eq!(dataflow.connections().len(), 2);
//! ```

mod connections;
mod input;
mod module;
mod node;
mod operator;
mod single_operator;
mod types;
mod unsupported;
mod validate;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use connections::{Connection, Receiver};
pub use input::{
    Hertz, Input, InputSource, InputSourceError, LogsSource, OutputRef, QueuePolicy, TimerInterval,
    DEFAULT_QUEUE_SIZE, MAX_TIMER_HZ,
};
pub use module::{check_module, Module, MODULE_INPUTS};
pub(crate) use module::{check_module_file, is_module_file};
pub use node::{Args, Deploy, Driver, EnvValue, Node, RestartPolicy};
pub use operator::{Operator, OperatorSource, PythonSource};
pub use single_operator::SINGLE_OPERATOR_DEFAULT_ID;
pub use types::{Layout, TypeName, TypeNameError};

use crate::diagnostic::{self, Diagnostic};
use crate::id::{DataId, NodeId, OperatorId};
use crate::suggest::did_you_mean;
use crate::yaml::{self, from_value_partial, Value, ValueKind};

/// A dataflow: the nodes of an application and the connections between
/// them. Read one with [`Dataflow::from_yaml_str`] or [`check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dora dataflow")]
pub struct Dataflow {
    /// The nodes of the dataflow.
    pub nodes: Vec<Node>,
}

/// The keys a dataflow file may have at its top level.
const TOP_LEVEL_KEYS: &[&str] = &["nodes"];

impl Dataflow {
    /// Reads and validates a dataflow from YAML text, with no file around it
    /// (paths are not looked for). On failure, returns the errors.
    pub fn from_yaml_str(text: &str) -> Result<Dataflow, Vec<Diagnostic>> {
        let documents = yaml::parse(text)
            .map_err(|errors| errors.into_iter().map(Diagnostic::from).collect::<Vec<_>>())?;
        let Some(root) = documents.first() else {
            return Err(vec![Diagnostic::error(
                crate::yaml::Position::START,
                "the dataflow is empty",
            )
            .with_hint("add `nodes:` with at least one node")]);
        };
        let (dataflow, diagnostics) = check(root, None);
        let errors: Vec<Diagnostic> = diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        match dataflow {
            Some(dataflow) if errors.is_empty() => Ok(dataflow),
            _ => Err(errors),
        }
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id.as_str() == id)
    }
}

/// Reads a dataflow from one YAML document and validates it. Returns the
/// dataflow (when it could be read) and every error and warning found.
///
/// `base_dir` is the folder that relative paths start from; when given,
/// node programs that do not exist yet are warned about.
pub fn check(root: &Value, base_dir: Option<&Path>) -> (Option<Dataflow>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let ValueKind::Mapping(entries) = &root.kind else {
        diagnostics.push(
            Diagnostic::error(
                root.position,
                format!(
                    "a dataflow is a mapping with `nodes:`, but this is {}",
                    root.describe()
                ),
            )
            .with_hint("start the file with `nodes:` and list the nodes under it"),
        );
        return (None, diagnostics);
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if !TOP_LEVEL_KEYS.contains(&name) {
            let hint = match did_you_mean(name, TOP_LEVEL_KEYS.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "a dataflow file has only `nodes:` at its top level".to_owned(),
            };
            diagnostics.push(
                Diagnostic::error(key.position, format!("unknown key `{name}`")).with_hint(hint),
            );
        }
    }
    let Some(node_values) = node_list(root, "dataflow", &mut diagnostics) else {
        return (None, diagnostics);
    };
    let (read, more) = read_nodes(
        node_values,
        &module::Within::Dataflow,
        base_dir,
        &mut module::ModuleFiles::default(),
    );
    diagnostics.extend(more);
    diagnostic::sort(&mut diagnostics);
    let dataflow = read.map(|read| Dataflow { nodes: read.nodes });
    (dataflow, diagnostics)
}

/// The list under `nodes:` of a dataflow or a module (`what`), or `None`
/// (with the error) when there is none to read.
fn node_list<'a>(
    root: &'a Value,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'a [Value]> {
    let Some(nodes) = root.get("nodes") else {
        diagnostics.push(
            Diagnostic::error(root.position, format!("the {what} has no `nodes:`"))
                .with_hint("add `nodes:` with a list of nodes"),
        );
        return None;
    };
    let node_values: &[Value] = match &nodes.kind {
        ValueKind::Sequence(items) => items,
        _ if nodes.is_null() => &[],
        _ => {
            diagnostics.push(
                Diagnostic::error(
                    nodes.position,
                    format!("`nodes` must be a list, but this is {}", nodes.describe()),
                )
                .with_hint("write each node as a list item starting with `- id: ...`"),
            );
            return None;
        }
    };
    if node_values.is_empty() {
        diagnostics.push(
            Diagnostic::error(nodes.position, format!("the {what} has no nodes"))
                .with_hint("add at least one node under `nodes:`"),
        );
    }
    Some(node_values)
}

/// The nodes of a dataflow or of a module, once read and validated, with
/// every module they use expanded into its nodes.
pub(super) struct ReadNodes {
    /// Only ordinary nodes: a node that used a module is replaced by the
    /// module's nodes.
    pub nodes: Vec<Node>,
    /// For a module, where each output it declares comes from.
    pub exported: BTreeMap<DataId, OutputRef>,
}

/// Reads and validates the nodes of a dataflow or a module. Returns them
/// only when there is no error.
fn read_nodes(
    node_values: &[Value],
    within: &module::Within<'_>,
    base_dir: Option<&Path>,
    files: &mut module::ModuleFiles,
) -> (Option<ReadNodes>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut written = Written {
        within_module: matches!(within, module::Within::Module { .. }),
        ..Written::default()
    };

    // Keys of dora-rs that this dora refuses are reported and taken out, and
    // a node written with `operator:` is read as the runtime node it stands
    // for; the trees are rewritten first, keeping every position. A node
    // that uses a module is read apart.
    let trees: Vec<Cow<'_, Value>> = node_values
        .iter()
        .map(|value| {
            if module::is_use(value) {
                Cow::Borrowed(value)
            } else {
                rewrite(value, &mut written, &mut diagnostics)
            }
        })
        .collect();

    // Each node is read on its own, so that a mistake in one node does not
    // hide the mistakes of the others.
    let mut parsed = Vec::new();
    let mut unreadable = Vec::new();
    let mut uses = HashMap::new();
    if let module::Within::Module { ports, tree, .. } = within {
        let mut inputs = Node::bare(NodeId::from(module::MODULE_INPUTS));
        inputs.outputs = ports.clone();
        written.modules.insert(inputs.id.clone());
        parsed.push((inputs, *tree));
    }
    for value in &trees {
        let value: &Value = value;
        if module::is_use(value) {
            let (used, errors) = module::read_use(value, base_dir, files);
            diagnostics.extend(errors);
            match used {
                Some(used) => {
                    written.modules.insert(used.node.id.clone());
                    if used.expansion.is_none() {
                        written.opaque.insert(used.node.id.clone());
                    }
                    uses.insert(used.node.id.clone(), used.expansion);
                    parsed.push((used.node, value));
                }
                None => {
                    unreadable.extend(value.get("id").and_then(Value::as_str).map(str::to_owned))
                }
            }
            continue;
        }
        let (node, errors) = from_value_partial::<Node>(value);
        diagnostics.extend(errors.into_iter().map(Diagnostic::from));
        match node {
            Some(node) => parsed.push((node, value)),
            None => unreadable.extend(value.get("id").and_then(Value::as_str).map(str::to_owned)),
        }
    }
    single_operator::qualify_sources(parsed.iter_mut().map(|(node, _)| node), &written.single);
    diagnostics.extend(validate::validate(&parsed, &unreadable, &written, base_dir));
    diagnostics.extend(types::check(&parsed));
    let exported = match within {
        module::Within::Module { outputs, .. } => {
            module::exported(&parsed, &written, outputs, &mut diagnostics)
        }
        module::Within::Dataflow => BTreeMap::new(),
    };
    if !unreadable.is_empty() || diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    let read = module::expand(parsed, &written, uses, exported, &mut diagnostics);
    (read, diagnostics)
}

/// What the nodes' trees said before they were rewritten to be read.
#[derive(Debug, Default)]
struct Written {
    /// Whether the nodes are those of a module, not of a dataflow.
    within_module: bool,
    /// Nodes that stand for a module while the others are validated: the
    /// nodes that use a module, with the outputs the module declares, and
    /// in a module, its inputs (`_mod`). They run nothing themselves.
    modules: HashSet<NodeId>,
    /// Of those, the ones whose module could not be read, so that what
    /// they send is not known.
    opaque: HashSet<NodeId>,
    /// Nodes written with `operator:`, and the id of that operator.
    single: HashMap<NodeId, OperatorId>,
    /// Nodes without a program whose unknown or refused key, reported on
    /// its own, already explains why.
    no_program_explained: HashSet<NodeId>,
}

/// The tree of one node as it is read: without the keys refused by
/// [`unsupported::refuse`], and with `operator:` expanded.
fn rewrite<'a>(
    value: &'a Value,
    written: &mut Written,
    diagnostics: &mut Vec<Diagnostic>,
) -> Cow<'a, Value> {
    let id = value.get("id").and_then(Value::as_str).map(NodeId::from);
    if let (Some(id), ValueKind::Mapping(entries)) = (&id, &value.kind) {
        let accepted = yaml::struct_keys::<Node>();
        let explained = entries
            .iter()
            .filter_map(|(key, _)| key.as_str())
            .any(|key| {
                key != "operator"
                    && !accepted.contains(&key)
                    && unsupported::explains_no_program(key)
            });
        if explained {
            written.no_program_explained.insert(id.clone());
        }
    }
    let mut tree = Cow::Borrowed(value);
    if let Some((kept, errors)) = unsupported::refuse(&tree) {
        diagnostics.extend(errors);
        tree = Cow::Owned(kept);
    }
    if let Some((expanded, error)) = single_operator::expand(&tree) {
        diagnostics.extend(error);
        let operator = expanded
            .get("operators")
            .and_then(|list| list.item(0))
            .and_then(|operator| operator.get("id"))
            .and_then(Value::as_str);
        if let (Some(id), Some(operator), None) = (id, operator, value.get("operators")) {
            written.single.insert(id, OperatorId::from(operator));
        }
        tree = Cow::Owned(expanded);
    }
    tree
}
