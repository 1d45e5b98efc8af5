//! `operator:`, a runtime node with exactly one operator, written without
//! the list of `operators:`.
//!
//! ```yaml
//! - id: webcam
//!   operator:                 # its id is `op`, unless it says `id:`
//!     python: webcam.py
//!     inputs: { tick: dora/timer/millis/50 }
//!     outputs: [image]
//! - id: plot
//!   path: plot.py
//!   inputs:
//!     image: webcam/image     # the same as `webcam/op/image`
//! ```
//!
//! Such a node is read as the runtime node it stands for: [`expand`] turns
//! `operator: {...}` into `operators: [{id: op, ...}]` in the YAML tree
//! before the node is read, keeping every position, so that errors inside
//! the operator point where the user wrote them and everything after the
//! descriptor (the runtime, the launcher, graphs) sees an ordinary runtime
//! node. [`qualify_sources`] then turns the sources that name such a node's
//! outputs as `node/output` into `node/op/output`.
//!
//! ```
//! use dora_core::descriptor::Dataflow;
//!
//! let dataflow = Dataflow::from_yaml_str(
//!     "nodes:
//!   - id: webcam
//!     operator: { python: webcam.py, outputs: [image] }
//!   - id: plot
//!     path: plot.py
//!     inputs: { image: webcam/image }
//! ",
//! )
//! .unwrap();
//! assert_eq!(dataflow.nodes[0].operators[0].id.as_str(), "op");
//! let image = &dataflow.nodes[1].inputs["image"];
//! assert_eq!(image.source.to_string(), "webcam/op/image");
//! ```

use std::collections::HashMap;

use super::{InputSource, Node};
use crate::diagnostic::Diagnostic;
use crate::id::{NodeId, OperatorId};
use crate::yaml::{Value, ValueKind};

/// The id of the operator of a node written with `operator:`, unless it
/// names its own.
pub const SINGLE_OPERATOR_DEFAULT_ID: &str = "op";

/// The node tree with `operator:` written out as a list of one operator;
/// `None` when the node does not use `operator:`. A node with both
/// `operator` and `operators` keeps its list, and the error says so.
pub(super) fn expand(node: &Value) -> Option<(Value, Option<Diagnostic>)> {
    let ValueKind::Mapping(entries) = &node.kind else {
        return None;
    };
    let (key, operator) = node.entry("operator")?;
    let mut expanded = node.clone();
    let ValueKind::Mapping(expanded_entries) = &mut expanded.kind else {
        return None;
    };
    if node.get("operators").is_some() {
        expanded_entries.retain(|(k, _)| k.as_str() != Some("operator"));
        let error = Diagnostic::error(
            key.position,
            "this node has both `operator` and `operators`",
        )
        .with_hint(
            "write its one operator under `operator:`, or every operator in the `operators:` list",
        );
        return Some((expanded, Some(error)));
    }
    let index = entries
        .iter()
        .position(|(k, _)| k.as_str() == Some("operator"))?;
    let mut operator = operator.clone();
    if let ValueKind::Mapping(fields) = &mut operator.kind {
        if !fields.iter().any(|(k, _)| k.as_str() == Some("id")) {
            let at = operator.position;
            fields.insert(
                0,
                (scalar("id", at), scalar(SINGLE_OPERATOR_DEFAULT_ID, at)),
            );
        }
    }
    expanded_entries[index] = (
        scalar("operators", key.position),
        Value {
            position: operator.position,
            kind: ValueKind::Sequence(vec![operator]),
        },
    );
    Some((expanded, None))
}

fn scalar(text: &str, position: crate::yaml::Position) -> Value {
    Value {
        kind: ValueKind::Scalar {
            text: text.to_owned(),
            quoted: true,
        },
        position,
    }
}

/// Every source `node/output` that names a node written with `operator:`
/// becomes `node/<operator>/output`, the way its outputs are named once it
/// is a runtime node. `single` maps those nodes to their operator's id.
pub(super) fn qualify_sources<'a>(
    nodes: impl IntoIterator<Item = &'a mut Node>,
    single: &HashMap<NodeId, OperatorId>,
) {
    if single.is_empty() {
        return;
    }
    for node in nodes {
        let inputs = node.inputs.values_mut().chain(
            node.operators
                .iter_mut()
                .flat_map(|op| op.inputs.values_mut()),
        );
        for input in inputs {
            if let InputSource::Output(output) = &mut input.source {
                if output.operator.is_none() {
                    output.operator = single.get(&output.node).cloned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::check_source_file;
    use crate::descriptor::Dataflow;

    fn errors(yaml: &str) -> String {
        let checked = check_source_file("d.yml", yaml);
        assert!(!checked.is_valid(), "accepted:\n{yaml}");
        checked.render(false)
    }

    #[test]
    fn a_single_operator_is_a_runtime_node_with_operator_op() {
        let dataflow = Dataflow::from_yaml_str(
            "nodes:
  - id: webcam
    operator:
      python: webcam.py
      inputs: { tick: dora/timer/millis/50 }
      outputs: [image]
  - id: detect
    operator:
      id: yolo
      shared-library: libyolo.so
      inputs: { image: webcam/image }
      outputs: [bbox]
  - id: plot
    path: plot.py
    inputs:
      image: webcam/image
      same_image: webcam/op/image
      bbox: detect/bbox
",
        )
        .unwrap();
        let webcam = &dataflow.nodes[0];
        assert!(webcam.is_runtime());
        assert_eq!(webcam.operators.len(), 1);
        assert_eq!(webcam.operators[0].id.as_str(), "op");
        assert_eq!(
            webcam.operators[0]
                .python
                .as_ref()
                .map(|p| p.source.as_str()),
            Some("webcam.py")
        );
        assert_eq!(dataflow.nodes[1].operators[0].id.as_str(), "yolo");
        let sources: Vec<String> = dataflow
            .connections()
            .iter()
            .map(|c| format!("{} <- {}", c.receiver.input, c.source))
            .collect();
        assert_eq!(
            sources,
            [
                "tick <- dora/timer/millis/50",
                "image <- webcam/op/image",
                "bbox <- detect/yolo/bbox",
                "image <- webcam/op/image",
                "same_image <- webcam/op/image",
            ]
        );
    }

    #[test]
    fn errors_inside_the_operator_keep_their_place() {
        let text = errors(
            "nodes:
  - id: webcam
    operator:
      python: webcam.py
      priority: high
      outputz: [image]
",
        );
        assert!(text.contains("d.yml:5:17"), "{text}");
        assert!(text.contains("d.yml:6:7"), "{text}");
        assert!(text.contains("unknown key `outputz`"), "{text}");
        assert!(!text.contains("nothing to run"), "{text}");
    }

    #[test]
    fn an_output_the_single_operator_lacks_is_reported_at_the_input() {
        let text = errors(
            "nodes:
  - id: webcam
    operator: { python: webcam.py, outputs: [image] }
  - id: plot
    path: plot.py
    inputs:
      image: webcam/imag
",
        );
        assert!(text.contains("d.yml:7:14"), "{text}");
        assert!(text.contains("did you mean `image`?"), "{text}");
    }

    #[test]
    fn operator_and_operators_together_are_one_error() {
        let checked = check_source_file(
            "d.yml",
            "nodes:
  - id: rt
    operator: { python: a.py }
    operators:
      - { id: b, python: b.py }
",
        );
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert_eq!(
            errors[0].message,
            "this node has both `operator` and `operators`"
        );
        assert_eq!(errors[0].position.map(|p| (p.line, p.column)), Some((3, 5)));
    }

    #[test]
    fn path_and_operator_together_name_the_key_as_written() {
        let text = errors(
            "nodes:
  - id: rt
    path: rt
    operator: { python: a.py }
",
        );
        assert!(
            text.contains("node `rt` has both `path` and `operator`"),
            "{text}"
        );
        assert!(text.contains("d.yml:4:5"), "{text}");
    }

    #[test]
    fn an_operator_that_is_not_a_mapping_is_reported_where_it_is() {
        let text = errors("nodes:\n  - id: rt\n    operator: webcam.py\n");
        assert!(text.contains("d.yml:3:15"), "{text}");
        assert!(text.contains("expected a mapping"), "{text}");
    }
}
