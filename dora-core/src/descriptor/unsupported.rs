//! Node keys of dataflows written for dora-rs that this dora refuses, each
//! with the reason and what to write instead.
//!
//! - `ros2:` declares a ROS 2 bridge that dora-rs starts by itself. Here a
//!   bridge is a custom node like any other: a program, named by `path:`,
//!   that talks to ROS 2 and to dora.
//! - `hub:` names a package that dora-rs fetches and builds from its hub
//!   index. Here the package's node is installed or built first, and named
//!   by `path:`.
//!
//! Such a node has no program of its own, so besides its refused key it
//! would also be told it has "nothing to run": [`explains_no_program`]
//! lets that second error be left out, for these keys and for any other
//! unknown key that explains it (a misspelt `path`, dora-rs's `custom:`),
//! whose own error is already reported.

use crate::diagnostic::Diagnostic;
use crate::suggest::did_you_mean;
use crate::yaml::{Value, ValueKind};

/// The node's tree without its refused keys, and an error for each;
/// `None` when it has none.
pub(super) fn refuse(node: &Value) -> Option<(Value, Vec<Diagnostic>)> {
    let ValueKind::Mapping(entries) = &node.kind else {
        return None;
    };
    let name = match node.get("id").and_then(Value::as_str) {
        Some(id) => format!("node `{id}`"),
        None => "this node".to_owned(),
    };
    let mut errors = Vec::new();
    let mut kept = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let error = match key.as_str() {
            Some("ros2") => Diagnostic::error(
                key.position,
                format!("{name} is a ROS 2 bridge (`ros2:`), and this dora does not support ROS 2 bridges"),
            )
            .with_hint("run the bridge as a custom node: give it `path:` with a program that talks to ROS 2 (with rclpy or rclrs, say) and to dora through its `inputs` and `outputs`"),
            Some("hub") => Diagnostic::error(
                key.position,
                format!(
                    "{name} comes from the hub package {}, and this dora does not fetch hub packages",
                    value.describe()
                ),
            )
            .with_hint("install or build the package's node yourself, and name its program with `path:`"),
            _ => {
                kept.push((key.clone(), value.clone()));
                continue;
            }
        };
        errors.push(error);
    }
    if errors.is_empty() {
        return None;
    }
    let tree = Value {
        kind: ValueKind::Mapping(kept),
        position: node.position,
    };
    Some((tree, errors))
}

/// Keys that say where a node's program comes from: ours, and those of
/// dora-rs that this dora does not read.
const PROGRAM_KEYS: &[&str] = &["path", "operators", "operator", "image"];
const FOREIGN_PROGRAM_KEYS: &[&str] = &["ros2", "hub", "custom"];

/// Whether `key`, which a node does not accept and which is reported on its
/// own, explains why the node has no program: it is a misspelt program key
/// or one of dora-rs's ways to name a program.
pub(super) fn explains_no_program(key: &str) -> bool {
    FOREIGN_PROGRAM_KEYS.contains(&key) || did_you_mean(key, PROGRAM_KEYS.iter().copied()).is_some()
}

#[cfg(test)]
mod tests {
    use crate::check::check_source_file;

    fn errors(yaml: &str) -> Vec<(String, Option<String>, (usize, usize))> {
        let checked = check_source_file("d.yml", yaml);
        checked
            .errors()
            .map(|d| {
                let at = d.position.expect("every error has a position");
                (d.message.clone(), d.hint.clone(), (at.line, at.column))
            })
            .collect()
    }

    #[test]
    fn a_ros2_bridge_is_one_located_error_that_says_what_to_do() {
        let found = errors(
            "nodes:
  - id: camera_bridge
    ros2:
      topic: /camera/image_raw
      message_type: sensor_msgs/Image
    outputs: [image]
",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let (message, hint, at) = &found[0];
        assert_eq!(
            message,
            "node `camera_bridge` is a ROS 2 bridge (`ros2:`), and this dora does not support ROS 2 bridges"
        );
        assert!(hint
            .as_deref()
            .unwrap()
            .contains("custom node: give it `path:`"));
        assert_eq!(*at, (3, 5));
    }

    #[test]
    fn a_hub_package_is_one_located_error_that_says_what_to_do() {
        let found = errors(
            "nodes:
  - id: camera
    path: camera.py
    outputs: [image]
  - id: detector
    hub: dora-yolo@^0.5
    inputs:
      image: camera/image
    outputs: [bbox]
",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let (message, hint, at) = &found[0];
        assert_eq!(
            message,
            "node `detector` comes from the hub package `dora-yolo@^0.5`, and this dora does not fetch hub packages"
        );
        assert!(hint
            .as_deref()
            .unwrap()
            .contains("name its program with `path:`"));
        assert_eq!(*at, (6, 5));
    }

    #[test]
    fn an_unknown_key_that_explains_the_missing_program_is_the_only_error() {
        for key in ["pth: ./a", "custom: { source: a }"] {
            let found = errors(&format!("nodes:\n  - id: a\n    {key}\n"));
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert!(found[0].0.starts_with("unknown key"), "{found:?}");
        }
    }

    #[test]
    fn an_unknown_key_that_does_not_explain_it_leaves_both_errors() {
        let found = errors("nodes:\n  - id: a\n    colour: red\n");
        let messages: Vec<&str> = found.iter().map(|(m, _, _)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "node `a` has nothing to run: it has neither `path` nor `operators`",
                "unknown key `colour`"
            ]
        );
    }
}
