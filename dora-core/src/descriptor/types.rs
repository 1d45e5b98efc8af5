//! Typed edges: what an output sends and what an input expects, declared
//! with type names such as `std/media/v1/Image`.
//!
//! ```yaml
//! - id: camera
//!   path: camera.py
//!   outputs: [image]
//!   output_types:
//!     image: std/media/v1/Image
//! - id: detector
//!   path: detector.py
//!   inputs:
//!     image: camera/image
//!   input_types:
//!     image: std/media/v1/Image
//! ```
//!
//! Both keys are optional, on nodes and on operators, and only annotated
//! edges are checked: an edge with a type on one end only, or on neither,
//! stays dynamic. Where both ends have one, [`check`] refuses an input whose
//! type the output's does not [fit](TypeName::fits), with both places.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::{Input, InputSource, Node, OutputRef};
use crate::diagnostic::Diagnostic;
use crate::id::DataId;
use crate::suggest::did_you_mean;
use crate::yaml::{Position, Value};

/// The name of a data type: a path such as `std/core/v1/Float64`, and
/// maybe parameters in brackets, `std/media/v1/Image[encoding=jpeg]`.
///
/// ```
/// use dora_core::descriptor::TypeName;
///
/// let jpeg: TypeName = "std/media/v1/Image[encoding=jpeg]".parse().unwrap();
/// let image: TypeName = "std/media/v1/Image".parse().unwrap();
/// assert!(jpeg.fits(&image));
/// assert!("std/media/v1/Image[".parse::<TypeName>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeName(String);

/// Every type fits into this one: its bytes.
const BYTES: &str = "std/core/v1/Bytes";

/// Widenings that lose nothing, as dora-rs applies them: a value of the
/// first type fits an input of the second, and of any type reached from
/// there (at most three steps).
const WIDENINGS: &[(&str, &str)] = &[
    ("std/core/v1/UInt8", "std/core/v1/UInt32"),
    ("std/core/v1/UInt32", "std/core/v1/UInt64"),
    ("std/core/v1/Int32", "std/core/v1/Int64"),
    ("std/core/v1/Float32", "std/core/v1/Float64"),
];

/// What a payload of a standard type must look like, where its bytes
/// tell: checked by the receiving node, which counts every message that
/// does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Whole values of this many bytes each (one number, or an array).
    Elements(usize),
    /// UTF-8 text.
    Utf8,
}

impl Layout {
    /// Whether `bytes` have this layout.
    ///
    /// ```
    /// use dora_core::descriptor::Layout;
    ///
    /// assert!(Layout::Elements(8).fits(&[0; 16]));
    /// assert!(!Layout::Elements(8).fits(&[0; 12]));
    /// assert!(!Layout::Utf8.fits(&[0xff]));
    /// ```
    pub fn fits(self, bytes: &[u8]) -> bool {
        match self {
            Layout::Elements(size) => size == 0 || bytes.len() % size == 0,
            Layout::Utf8 => std::str::from_utf8(bytes).is_ok(),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::Elements(size) => write!(f, "a whole number of {size}-byte values"),
            Layout::Utf8 => f.write_str("UTF-8 text"),
        }
    }
}

impl TypeName {
    /// The layout of the standard types whose bytes can be checked: the
    /// numbers of `std/core/v1` (one or an array) and its text; `None`
    /// for the others, whose bytes are not checked.
    pub fn layout(&self) -> Option<Layout> {
        let size = match self.base().strip_prefix("std/core/v1/")? {
            "UInt16" | "Int16" => 2,
            "UInt32" | "Int32" | "Float32" => 4,
            "UInt64" | "Int64" | "Float64" => 8,
            "String" => return Some(Layout::Utf8),
            _ => return None,
        };
        Some(Layout::Elements(size))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The type without its parameters.
    pub fn base(&self) -> &str {
        self.0.split_once('[').map_or(&self.0, |(base, _)| base)
    }

    /// The parameters, by name.
    pub fn params(&self) -> BTreeMap<&str, &str> {
        let Some((_, rest)) = self.0.split_once('[') else {
            return BTreeMap::new();
        };
        rest.trim_end_matches(']')
            .split(',')
            .filter_map(|param| param.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim()))
            .collect()
    }

    /// Whether data of this type may go to an input that expects
    /// `expected`: the same type (a side without parameters matches any
    /// parameters, and parameters named on both sides agree), a widening
    /// that loses nothing (`UInt8` into `UInt32`, `Float32` into `Float64`),
    /// or anything into `std/core/v1/Bytes`.
    pub fn fits(&self, expected: &TypeName) -> bool {
        if expected.0 == BYTES {
            return true;
        }
        if self.base() == expected.base() {
            let (mine, theirs) = (self.params(), expected.params());
            return mine
                .iter()
                .all(|(name, value)| theirs.get(name).is_none_or(|v| v == value));
        }
        let mut reached = vec![self.base()];
        for _ in 0..3 {
            reached = WIDENINGS
                .iter()
                .filter(|(from, _)| reached.contains(from))
                .map(|(_, to)| *to)
                .collect();
            if reached.contains(&expected.base()) {
                return true;
            }
        }
        false
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text that is not a type name; the message says what is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a type name: {problem}; write a type such as `std/media/v1/Image`, with any parameters in brackets: `std/media/v1/Image[encoding=jpeg]`")]
pub struct TypeNameError {
    text: String,
    problem: &'static str,
}

impl std::str::FromStr for TypeName {
    type Err = TypeNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem| TypeNameError {
            text: text.to_owned(),
            problem,
        };
        let (base, params) = match text.split_once('[') {
            None => (text, None),
            Some((base, rest)) => {
                let params = rest
                    .strip_suffix(']')
                    .ok_or_else(|| error("its `[` is never closed"))?;
                (base, Some(params))
            }
        };
        if base.is_empty() {
            return Err(error("it is empty"));
        }
        if base
            .chars()
            .any(|c| c.is_whitespace() || "[]=,".contains(c))
        {
            return Err(error("it has a space or a bracket in its name"));
        }
        if let Some(params) = params {
            let well_formed = !params.trim().is_empty()
                && params.split(',').all(|param| {
                    param.split_once('=').is_some_and(|(name, value)| {
                        !name.trim().is_empty()
                            && !value.trim().is_empty()
                            && !value.contains(['[', ']', '='])
                    })
                });
            if !well_formed {
                return Err(error("its parameters are not written `name=value, ...`"));
            }
        }
        Ok(TypeName(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for TypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for TypeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl JsonSchema for TypeName {
    fn schema_name() -> Cow<'static, str> {
        "TypeName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A type such as `std/media/v1/Image`, with any parameters in brackets: `std/media/v1/Image[encoding=jpeg]`.",
            "pattern": r"^[^\s\[\]=,]+(\[[^\[\]=,]+=[^\[\]=,]+(,[^\[\]=,]+=[^\[\]=,]+)*\])?$",
            "examples": ["std/media/v1/Image", "std/core/v1/Float64"]
        })
    }
}

/// One place that owns ports: a node, or an operator of a runtime node.
struct Ports<'a> {
    owner: String,
    key: (&'a str, Option<&'a str>),
    inputs: &'a BTreeMap<DataId, Input>,
    outputs: &'a [DataId],
    input_types: &'a BTreeMap<DataId, TypeName>,
    output_types: &'a BTreeMap<DataId, TypeName>,
    tree: &'a Value,
}

fn ports<'a>(nodes: &'a [(Node, &'a Value)]) -> Vec<Ports<'a>> {
    let mut all = Vec::new();
    for (node, tree) in nodes {
        all.push(Ports {
            owner: format!("node `{}`", node.id),
            key: (node.id.as_str(), None),
            inputs: &node.inputs,
            outputs: &node.outputs,
            input_types: &node.input_types,
            output_types: &node.output_types,
            tree,
        });
        for (index, operator) in node.operators.iter().enumerate() {
            let Some(op_tree) = tree.get("operators").and_then(|list| list.item(index)) else {
                continue;
            };
            all.push(Ports {
                owner: format!("operator `{}/{}`", node.id, operator.id),
                key: (node.id.as_str(), Some(operator.id.as_str())),
                inputs: &operator.inputs,
                outputs: &operator.outputs,
                input_types: &operator.input_types,
                output_types: &operator.output_types,
                tree: op_tree,
            });
        }
    }
    all
}

/// The type checks of a dataflow: every annotated port exists, and every
/// input whose type and whose source's type are both declared agrees with
/// it. An error about an edge points at the input's type, with a note at
/// the output's.
pub(super) fn check(nodes: &[(Node, &Value)]) -> Vec<Diagnostic> {
    let ports = ports(nodes);
    let mut diagnostics = Vec::new();
    for port in &ports {
        annotated_ports_exist(port, &mut diagnostics);
    }
    type OutputKey<'a> = ((&'a str, Option<&'a str>), &'a str);
    let mut declared: HashMap<OutputKey<'_>, (&TypeName, Position)> = HashMap::new();
    for port in &ports {
        let Some(types_tree) = port.tree.get("output_types") else {
            continue;
        };
        for (output, name) in port.output_types {
            let at = types_tree.value_position(output.as_str());
            declared
                .entry((port.key, output.as_str()))
                .or_insert((name, at));
        }
    }
    for port in &ports {
        let Some(types_tree) = port.tree.get("input_types") else {
            continue;
        };
        for (input_id, expected) in port.input_types {
            let Some(InputSource::Output(source)) = port.inputs.get(input_id).map(|i| &i.source)
            else {
                continue;
            };
            let key = (
                (
                    source.node.as_str(),
                    source.operator.as_ref().map(|o| o.as_str()),
                ),
                source.output.as_str(),
            );
            let Some((sent, sent_at)) = declared.get(&key) else {
                continue;
            };
            if sent.fits(expected) {
                continue;
            }
            diagnostics.push(mismatch(
                port, input_id, expected, source, sent, *sent_at, types_tree,
            ));
        }
    }
    diagnostics
}

fn mismatch(
    port: &Ports<'_>,
    input_id: &DataId,
    expected: &TypeName,
    source: &OutputRef,
    sent: &TypeName,
    sent_at: Position,
    types_tree: &Value,
) -> Diagnostic {
    Diagnostic::error(
        types_tree.value_position(input_id.as_str()),
        format!(
            "input `{input_id}` of {} expects `{expected}`, but it reads `{source}`, which sends `{sent}`",
            port.owner
        ),
    )
    .with_note(sent_at, format!("`{source}` is declared `{sent}` here"))
    .with_hint(format!(
        "make the two types agree, or remove `{input_id}` from `input_types` to leave this edge unchecked"
    ))
}

/// `output_types` names declared outputs and `input_types` declared
/// inputs: an annotation on a port that does not exist would be ignored.
fn annotated_ports_exist(port: &Ports<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let outputs: Vec<&str> = port.outputs.iter().map(DataId::as_str).collect();
    let inputs: Vec<&str> = port.inputs.keys().map(DataId::as_str).collect();
    for (key, annotated, ports, kind, list) in [
        (
            "output_types",
            port.output_types,
            outputs,
            "output",
            "outputs",
        ),
        ("input_types", port.input_types, inputs, "input", "inputs"),
    ] {
        let Some(types_tree) = port.tree.get(key) else {
            continue;
        };
        for id in annotated.keys() {
            if ports.contains(&id.as_str()) {
                continue;
            }
            let hint = match did_you_mean(id.as_str(), ports.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("add `{id}` to `{list}:`, or remove its type"),
            };
            diagnostics.push(
                Diagnostic::error(
                    types_tree.key_position(id.as_str()),
                    format!(
                        "`{key}` gives a type to `{id}`, but {} has no {kind} `{id}`",
                        port.owner
                    ),
                )
                .with_hint(hint),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_source_file;

    fn name(text: &str) -> TypeName {
        text.parse().unwrap()
    }

    #[test]
    fn which_types_fit() {
        let fits = |sent: &str, expected: &str| name(sent).fits(&name(expected));
        assert!(fits("std/core/v1/Float64", "std/core/v1/Float64"));
        assert!(!fits("std/core/v1/Int64", "std/core/v1/Float64"));
        assert!(fits("std/core/v1/UInt8", "std/core/v1/UInt64"));
        assert!(!fits("std/core/v1/UInt64", "std/core/v1/UInt8"));
        assert!(fits("std/media/v1/Image", "std/core/v1/Bytes"));
        assert!(fits(
            "std/media/v1/Image[encoding=jpeg]",
            "std/media/v1/Image"
        ));
        assert!(fits(
            "std/media/v1/Image",
            "std/media/v1/Image[encoding=jpeg]"
        ));
        assert!(!fits(
            "std/media/v1/Image[encoding=jpeg]",
            "std/media/v1/Image[encoding=png]"
        ));
        assert!(fits("x/T[a=1]", "x/T[b=2]"));
    }

    #[test]
    fn type_names_are_checked_as_they_are_read() {
        for bad in [
            "",
            "std/a b",
            "std/Image[",
            "std/Image[]",
            "std/Image[=x]",
            "std/Image[a=]",
        ] {
            assert!(bad.parse::<TypeName>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(name("std/Image[a=1, b=2]").params().len(), 2);
    }

    const TYPED: &str = "nodes:
  - id: sensor
    path: sensor.py
    outputs: [reading]
    output_types:
      reading: std/core/v1/Int64
  - id: processor
    path: processor.py
    inputs:
      reading: sensor/reading
      tick: dora/timer/millis/10
    input_types:
      reading: std/core/v1/Float64
      tick: std/time/v1/Timestamp
";

    #[test]
    fn a_mismatch_is_one_error_with_both_places() {
        let checked = check_source_file("d.yml", TYPED);
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        let error = errors[0];
        assert_eq!(
            error.message,
            "input `reading` of node `processor` expects `std/core/v1/Float64`, but it reads `sensor/reading`, which sends `std/core/v1/Int64`"
        );
        assert_eq!(
            error.position,
            Some(Position {
                line: 13,
                column: 16
            })
        );
        assert_eq!(error.notes.len(), 1);
        assert_eq!(
            error.notes[0].position,
            Position {
                line: 6,
                column: 16
            }
        );
        let text = checked.render(false);
        assert!(
            text.contains("d.yml:13:16") && text.contains("d.yml:6:16"),
            "{text}"
        );
    }

    #[test]
    fn agreeing_and_unannotated_edges_pass_and_types_are_kept() {
        let agreeing = TYPED.replace("reading: std/core/v1/Int64", "reading: std/core/v1/Float64");
        let checked = check_source_file("d.yml", &agreeing);
        assert!(checked.is_valid(), "{}", checked.render(false));
        let crate::check::Content::Dataflow(dataflow) = &checked.content else {
            panic!("not a dataflow")
        };
        assert_eq!(
            dataflow.nodes[0].output_types["reading"].as_str(),
            "std/core/v1/Float64"
        );
        // The input alone is typed: the edge is dynamic.
        let one_end = TYPED.replace("    output_types:\n      reading: std/core/v1/Int64\n", "");
        let checked = check_source_file("d.yml", &one_end);
        assert!(checked.is_valid(), "{}", checked.render(false));
    }

    #[test]
    fn operators_and_single_operators_are_typed_too() {
        let checked = check_source_file(
            "d.yml",
            "nodes:
  - id: camera
    operator:
      python: camera.py
      outputs: [image]
      output_types: { image: std/media/v1/Image }
  - id: rt
    operators:
      - id: detect
        python: detect.py
        inputs: { image: camera/image }
        input_types: { image: std/core/v1/String }
",
        );
        let errors: Vec<_> = checked.errors().collect();
        assert_eq!(errors.len(), 1, "{}", checked.render(false));
        assert!(errors[0]
            .message
            .starts_with("input `image` of operator `rt/detect` expects"));
        assert_eq!(
            errors[0].notes[0].position,
            Position {
                line: 6,
                column: 30
            }
        );
    }

    #[test]
    fn a_type_for_a_port_that_does_not_exist_is_an_error() {
        let checked = check_source_file(
            "d.yml",
            "nodes:
  - id: a
    path: a
    outputs: [image]
    output_types: { imag: std/media/v1/Image }
    input_types: { tick: std/core/v1/UInt64 }
",
        );
        let errors: Vec<(String, Option<String>)> = checked
            .errors()
            .map(|d| (d.message.clone(), d.hint.clone()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    "`output_types` gives a type to `imag`, but node `a` has no output `imag`"
                        .to_owned(),
                    Some("did you mean `image`?".to_owned())
                ),
                (
                    "`input_types` gives a type to `tick`, but node `a` has no input `tick`"
                        .to_owned(),
                    Some("add `tick` to `inputs:`, or remove its type".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn a_bad_type_name_is_reported_where_it_is() {
        let checked = check_source_file(
            "d.yml",
            "nodes:\n  - id: a\n    path: a\n    outputs: [x]\n    output_types:\n      x: std/Image[\n",
        );
        let text = checked.render(false);
        assert!(!checked.is_valid());
        assert!(text.contains("d.yml:6:10"), "{text}");
        assert!(
            text.contains("is not a type name: its `[` is never closed"),
            "{text}"
        );
    }
}
