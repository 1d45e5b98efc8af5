//! A YAML document as a tree whose every value knows where it was written.
//!
//! The tree is the first stage of loading: [`parse`] turns text into one
//! [`Value`] per document of the stream, each carrying its [`Position`], so
//! that every later error (a wrong type, an unknown key, an input that names
//! a missing node) can point at the exact line and column.
//!
//! ```
//! use dora_core::yaml::{parse, ValueKind};
//!
//! let docs = parse("nodes:\n  - id: camera\n").unwrap();
//! let nodes = docs[0].get("nodes").unwrap();
//! assert_eq!(nodes.position.line, 2);
//! assert!(matches!(nodes.kind, ValueKind::Sequence(_)));
//! ```

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A line and column in a file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The start of a file.
    pub const START: Position = Position { line: 1, column: 1 };

    fn from_marker(marker: Marker) -> Self {
        Position {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One value of a YAML document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub position: Position,
}

/// The three shapes a YAML value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A scalar as written. `quoted` scalars are always strings; plain ones
    /// may also read as null, a boolean or a number.
    Scalar {
        text: String,
        quoted: bool,
    },
    Sequence(Vec<Value>),
    /// Keys in the order they were written. Keys are unique: [`parse`]
    /// rejects a mapping that repeats one.
    Mapping(Vec<(Value, Value)>),
}

impl Value {
    /// The value under `key` when `self` is a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key and the value under `key` when `self` is a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Value, &Value)> {
        match &self.kind {
            ValueKind::Mapping(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Where the value under `key` starts, or where `self` starts when it
    /// has no such key: the place to point at for a problem with a value.
    pub fn value_position(&self, key: &str) -> Position {
        self.get(key).map_or(self.position, |v| v.position)
    }

    /// Where the key `key` is written, or where `self` starts when it has
    /// no such key: the place to point at for a key that should not be there.
    pub fn key_position(&self, key: &str) -> Position {
        self.entry(key).map_or(self.position, |(k, _)| k.position)
    }

    /// How many values this one holds, itself included.
    pub fn count(&self) -> usize {
        1 + match &self.kind {
            ValueKind::Scalar { .. } => 0,
            ValueKind::Sequence(items) => items.iter().map(Value::count).sum(),
            ValueKind::Mapping(entries) => entries.iter().map(|(k, v)| k.count() + v.count()).sum(),
        }
    }

    /// The item at `index` when `self` is a sequence.
    pub fn item(&self, index: usize) -> Option<&Value> {
        match &self.kind {
            ValueKind::Sequence(items) => items.get(index),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is a plain scalar that YAML reads as null (`~`, `null`
    /// or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, ValueKind::Scalar { text, quoted: false }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short description of the value's shape, for error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            ValueKind::Scalar { .. } if self.is_null() => "nothing (null)".to_owned(),
            ValueKind::Scalar { text, .. } => format!("`{text}`"),
            ValueKind::Sequence(_) => "a list".to_owned(),
            ValueKind::Mapping(_) => "a mapping".to_owned(),
        }
    }
}

/// A YAML text that could not be read, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub position: Position,
    pub message: String,
    pub hint: String,
}

/// Parses every document of a YAML stream. An empty stream gives no document.
///
/// Tabs used for indentation are reported first, one error per line, since
/// they are the most common reason a YAML file does not parse and the
/// parser's own message for them is hard to read.
pub fn parse(text: &str) -> Result<Vec<Value>, Vec<SyntaxError>> {
    let tabs = tab_indentation(text);
    if !tabs.is_empty() {
        return Err(tabs);
    }
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(error) = parser.load(&mut builder, true) {
        let marker = *error.marker();
        return Err(vec![SyntaxError {
            position: Position::from_marker(marker),
            message: format!("this is not valid YAML: {}", error.info()),
            hint: if error.info().contains("recursion limit") {
                "the values nest too deeply; dora files nest a few levels at most".to_owned()
            } else {
                "check the indentation and the quoting around this place".to_owned()
            },
        }]);
    }
    if builder.errors.is_empty() {
        Ok(builder.documents)
    } else {
        Err(builder.errors)
    }
}

fn tab_indentation(text: &str) -> Vec<SyntaxError> {
    let mut errors = Vec::new();
    let mut in_block_scalar = false;
    for (index, line) in text.lines().enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let rest = line[indent.len()..].trim_end();
        // A tab after the indentation of a literal block (`|`) is content.
        if in_block_scalar && !rest.is_empty() && !indent.contains('\t') {
            continue;
        }
        if let Some(column) = indent.find('\t') {
            if !rest.is_empty() && !rest.starts_with('#') {
                errors.push(SyntaxError {
                    position: Position {
                        line: index + 1,
                        column: column + 1,
                    },
                    message: "a tab is used for indentation; YAML allows only spaces".to_owned(),
                    hint: "replace the tabs at the start of this line with spaces".to_owned(),
                });
            }
        }
        in_block_scalar = rest.ends_with('|') || rest.ends_with('>');
    }
    errors
}

/// The most values that aliases may add to a file; real dora files have a
/// few hundred.
const MAX_ALIAS_VALUES: usize = 100_000;

/// Builds [`Value`]s from the parser's events.
#[derive(Default)]
struct TreeBuilder {
    documents: Vec<Value>,
    /// Open sequences and mappings, innermost last.
    stack: Vec<Value>,
    /// A mapping's key waiting for its value, one slot per open mapping.
    pending_keys: Vec<Option<Value>>,
    /// Anchored values and how many values each holds.
    anchors: HashMap<usize, (Value, usize)>,
    /// Values made by expanding aliases so far.
    expanded: usize,
    /// The anchor of each open collection, to record it when it closes.
    open_anchors: Vec<usize>,
    errors: Vec<SyntaxError>,
}

impl TreeBuilder {
    fn push_value(&mut self, value: Value) {
        let Some(parent) = self.stack.last_mut() else {
            self.documents.push(value);
            return;
        };
        match &mut parent.kind {
            ValueKind::Sequence(items) => items.push(value),
            ValueKind::Mapping(entries) => {
                let slot = self
                    .pending_keys
                    .last_mut()
                    .expect("a slot per open mapping");
                match slot.take() {
                    None => *slot = Some(value),
                    Some(key) => {
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.kind == key.kind) {
                            self.errors.push(SyntaxError {
                                position: key.position,
                                message: format!(
                                    "the key {} appears twice in this mapping (first at line {})",
                                    key.describe(),
                                    first.position.line
                                ),
                                hint: "remove one of them or give them different names".to_owned(),
                            });
                        } else {
                            entries.push((key, value));
                        }
                    }
                }
            }
            ValueKind::Scalar { .. } => unreachable!("scalars are never open"),
        }
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), value.count()));
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let position = Position::from_marker(marker);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = Value {
                    kind: ValueKind::Scalar {
                        text,
                        quoted: style != TScalarStyle::Plain,
                    },
                    position,
                };
                self.remember(anchor, &value);
                self.push_value(value);
            }
            Event::SequenceStart(anchor, _) => {
                self.open_anchors.push(anchor);
                self.stack.push(Value {
                    kind: ValueKind::Sequence(Vec::new()),
                    position,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.open_anchors.push(anchor);
                self.pending_keys.push(None);
                self.stack.push(Value {
                    kind: ValueKind::Mapping(Vec::new()),
                    position,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let mut value = self.stack.pop().expect("an end follows a start");
                if let ValueKind::Mapping(entries) = &value.kind {
                    self.pending_keys.pop();
                    // The parser marks a block mapping at its first `:`;
                    // a person sees it start at its first key.
                    if let Some((first_key, _)) = entries.first() {
                        value.position = value.position.min(first_key.position);
                    }
                }
                let anchor = self.open_anchors.pop().unwrap_or(0);
                self.remember(anchor, &value);
                self.push_value(value);
            }
            Event::Alias(anchor) => {
                // The parser rejects unknown aliases, so the anchor exists.
                let Some((target, size)) = self.anchors.get(&anchor) else {
                    return;
                };
                // Aliases of aliases grow exponentially ("billion laughs"):
                // past a bound, the file is refused rather than expanded.
                self.expanded = self.expanded.saturating_add(*size);
                let mut value = if self.expanded <= MAX_ALIAS_VALUES {
                    target.clone()
                } else {
                    if self.expanded.saturating_sub(*size) <= MAX_ALIAS_VALUES {
                        self.errors.push(SyntaxError {
                            position,
                            message: format!("the aliases of this file expand to more than {MAX_ALIAS_VALUES} values"),
                            hint: "write the values out, or use fewer nested aliases".to_owned(),
                        });
                    }
                    Value {
                        kind: ValueKind::Scalar {
                            text: String::new(),
                            quoted: false,
                        },
                        position,
                    }
                };
                value.position = position;
                self.push_value(value);
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse("a: 1\nb:\n  - x\n").unwrap();
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.position, Position { line: 3, column: 3 });
        let (key, _) = docs[0].entry("a").unwrap();
        assert_eq!(key.position, Position { line: 1, column: 1 });
    }

    #[test]
    fn several_documents() {
        let docs = parse("---\na: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs[1].get("b").is_some());
    }

    #[test]
    fn tabs_are_reported_per_line() {
        let errors = parse("a:\n\tb: 1\n\tc: 2\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].position, Position { line: 2, column: 1 });
        assert!(errors[0].message.contains("tab"));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errors = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errors[0].position.line, 3);
        assert!(errors[0].message.contains("first at line 1"));
    }

    #[test]
    fn aliases_resolve_to_their_anchor() {
        let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(
            docs[0].get("a").unwrap().kind,
            docs[0].get("b").unwrap().kind
        );
    }

    #[test]
    fn exponential_aliases_are_refused() {
        let mut text = "a: &a0 [1, 1]\n".to_owned();
        for i in 1..40 {
            text.push_str(&format!("b{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("expand to more than"));
    }

    #[test]
    fn quoted_scalars_are_marked() {
        let docs = parse("a: 'yes'\nb: yes\n").unwrap();
        assert!(matches!(
            docs[0].get("a").unwrap().kind,
            ValueKind::Scalar { quoted: true, .. }
        ));
        assert!(matches!(
            docs[0].get("b").unwrap().kind,
            ValueKind::Scalar { quoted: false, .. }
        ));
    }
}
