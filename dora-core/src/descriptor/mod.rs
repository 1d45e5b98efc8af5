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
mod node;
mod operator;
mod single_operator;
mod validate;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use connections::{Connection, Receiver};
pub use input::{
    Hertz, Input, InputSource, InputSourceError, OutputRef, QueuePolicy, TimerInterval,
    DEFAULT_QUEUE_SIZE, MAX_TIMER_HZ,
};
pub use node::{Args, Deploy, Driver, EnvValue, Node, RestartPolicy};
pub use operator::{Operator, OperatorSource};
pub use single_operator::SINGLE_OPERATOR_DEFAULT_ID;

use crate::diagnostic::{self, Diagnostic};
use crate::id::{NodeId, OperatorId};
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
    let Some(nodes) = root.get("nodes") else {
        diagnostics.push(
            Diagnostic::error(root.position, "the dataflow has no `nodes:`")
                .with_hint("add `nodes:` with a list of nodes"),
        );
        return (None, diagnostics);
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
            return (None, diagnostics);
        }
    };
    if node_values.is_empty() {
        diagnostics.push(
            Diagnostic::error(nodes.position, "the dataflow has no nodes")
                .with_hint("add at least one node under `nodes:`"),
        );
    }

    // A node written with `operator:` is read as the runtime node it stands
    // for; its tree is rewritten first, keeping every position.
    let mut single = HashMap::new();
    let trees: Vec<Cow<'_, Value>> = node_values
        .iter()
        .map(|value| match single_operator::expand(value) {
            None => Cow::Borrowed(value),
            Some((expanded, error)) => {
                diagnostics.extend(error);
                let operator_id = expanded
                    .get("operators")
                    .and_then(|list| list.item(0))
                    .and_then(|operator| operator.get("id"))
                    .and_then(Value::as_str);
                if let (Some(node), Some(operator), true) = (
                    value.get("id").and_then(Value::as_str),
                    operator_id,
                    value.get("operators").is_none(),
                ) {
                    single.insert(NodeId::from(node), OperatorId::from(operator));
                }
                Cow::Owned(expanded)
            }
        })
        .collect();

    // Each node is read on its own, so that a mistake in one node does not
    // hide the mistakes of the others.
    let mut parsed = Vec::new();
    let mut unreadable = Vec::new();
    for value in &trees {
        let value: &Value = value;
        let (node, errors) = from_value_partial::<Node>(value);
        diagnostics.extend(errors.into_iter().map(Diagnostic::from));
        match node {
            Some(node) => parsed.push((node, value)),
            None => unreadable.extend(value.get("id").and_then(Value::as_str).map(str::to_owned)),
        }
    }
    let mut nodes: Vec<Node> = parsed.iter().map(|(node, _)| node.clone()).collect();
    single_operator::qualify_sources(&mut nodes, &single);
    let parsed: Vec<(Node, &Value)> = nodes
        .into_iter()
        .zip(parsed.iter().map(|(_, tree)| *tree))
        .collect();
    diagnostics.extend(validate::validate(&parsed, &unreadable, &single, base_dir));
    diagnostic::sort(&mut diagnostics);
    let complete = parsed.len() == node_values.len();
    let dataflow = complete.then(|| Dataflow {
        nodes: parsed.into_iter().map(|(node, _)| node).collect(),
    });
    (dataflow, diagnostics)
}
