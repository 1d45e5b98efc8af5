//! Reading typed values out of a [`Value`] tree with serde, keeping positions.
//!
//! Every error names the position of the value it is about. Unknown keys do
//! not stop reading: each one is reported, with the closest valid key as a
//! suggestion, and the rest of the mapping is still read, so one pass finds
//! as many mistakes as it can.
//!
//! ```
//! use dora_core::yaml::{from_value, parse};
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Point { x: u32, y: u32 }
//!
//! let doc = &parse("x: 1\ny: 2\nxx: 3\n").unwrap()[0];
//! let errors = from_value::<Point>(doc).unwrap_err();
//! assert!(errors[0].message.contains("unknown key `xx`"));
//! assert_eq!(errors[0].hint.as_deref(), Some("did you mean `x`?"));
//! ```

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::tree::{Position, Value, ValueKind};
use crate::suggest::did_you_mean;

/// A value that does not have the shape its place asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub hint: Option<String>,
    /// Where the problem is; set by the innermost value that saw it.
    pub position: Option<Position>,
}

impl DeError {
    fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        DeError {
            message: message.into(),
            hint,
            position: None,
        }
    }

    fn or_at(mut self, position: Position) -> Self {
        self.position.get_or_insert(position);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    /// Messages from dora's own types read "what is wrong; what to do":
    /// the part after the first `; ` becomes the hint.
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        if let Some(field) = text.strip_prefix("duplicate field ") {
            return DeError::new(
                format!("the key {field} is given twice"),
                Some("keep one of them: they are two names for one key".to_owned()),
            );
        }
        match text.split_once("; ") {
            Some((message, hint)) => DeError::new(message, Some(hint.to_owned())),
            None => DeError::new(text, None),
        }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = describe_expected(&exp.to_string());
        DeError::new(
            format!("expected {expected}, found {}", describe_unexpected(&unexp)),
            Some(format!("write {expected} here")),
        )
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = describe_expected(&exp.to_string());
        DeError::new(
            format!("{} is not valid here", describe_unexpected(&unexp)),
            Some(format!("write {expected}")),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(
            format!("`{variant}` is not one of the accepted values"),
            Some(suggest_or_list(variant, expected, "accepted values")),
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(
            format!("unknown key `{field}`"),
            Some(suggest_or_list(field, expected, "valid keys")),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(
            format!("the key `{field}` is missing"),
            Some(format!("add `{field}:` to this mapping")),
        )
    }
}

fn suggest_or_list(word: &str, candidates: &[&str], what: &str) -> String {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("{what} are: {}", list(candidates)),
    }
}

/// Lists the words once each: an alias that differs only in case (such as
/// `Docker` for `docker`) is not shown beside the name it stands for.
fn list(words: &[&str]) -> String {
    let mut shown: Vec<&str> = Vec::new();
    for word in words {
        match shown.iter_mut().find(|w| w.eq_ignore_ascii_case(word)) {
            Some(existing) if word.chars().all(|c| !c.is_ascii_uppercase()) => *existing = word,
            Some(_) => {}
            None => shown.push(word),
        }
    }
    shown
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Serde names types the way Rust does (`u32`, `struct Node`); a person
/// writing YAML thinks in numbers, text, lists and mappings.
fn describe_expected(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" | "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "`true` or `false`".to_owned(),
        "a string" | "a borrowed string" => "text".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a mapping".to_owned(),
        other => match other.strip_prefix("struct ") {
            Some(name) => format!("a mapping ({name})"),
            None => other.to_owned(),
        },
    }
}

fn describe_unexpected(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Unit | Unexpected::Option => "nothing (null)".to_owned(),
        Unexpected::Str(text) => format!("the text `{text}`"),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "a mapping".to_owned(),
        Unexpected::Signed(n) => format!("the number {n}"),
        Unexpected::Unsigned(n) => format!("the number {n}"),
        Unexpected::Float(n) => format!("the number {n}"),
        Unexpected::Bool(b) => format!("`{b}`"),
        other => other.to_string(),
    }
}

/// Reads a `T` out of `value`. On failure, returns every error found: all
/// unknown keys, and the first error of any other kind.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Vec<DeError>> {
    match from_value_partial(value) {
        (Some(value), errors) if errors.is_empty() => Ok(value),
        (_, errors) => Err(errors),
    }
}

/// Like [`from_value`], but keeps the value when the only errors are
/// unknown keys (which were skipped), so that later checks can still run.
///
/// Serde stops at the first error of any other kind. To report the errors
/// after it too, the value that error is about is taken out of a copy of
/// the tree and the copy is read again, until it reads or nothing more can
/// be taken out. A value is returned only when the first read succeeded.
pub fn from_value_partial<T: DeserializeOwned>(value: &Value) -> (Option<T>, Vec<DeError>) {
    let (result, mut errors) = read_once::<T>(value);
    let mut error = match result {
        Ok(value) => return (Some(value), errors),
        Err(error) => error,
    };
    let mut pruned = value.clone();
    let mut removed = Vec::new();
    for _ in 0..MAX_RECOVERIES {
        let position = error.position.unwrap_or(value.position);
        errors.push(error);
        let Some(taken) = remove_value_at(&mut pruned, position) else {
            break;
        };
        removed.push(taken);
        let (result, more) = read_once::<T>(&pruned);
        errors.extend(more);
        error = match result {
            Ok(_) => break,
            // A key that was taken out is missing now, but was not before.
            Err(e) if removed.iter().any(|r| r.explains(&e)) => break,
            Err(e) => e,
        };
    }
    errors.sort_by_key(|e| e.position);
    // Each read reports the unknown keys again.
    let mut seen = Vec::with_capacity(errors.len());
    errors.retain(|e| {
        let new = !seen.contains(e);
        if new {
            seen.push(e.clone());
        }
        new
    });
    (None, errors)
}

/// The keys a struct accepts when it is read from a mapping, as its serde
/// derive names them (with renames): `[]` for a type that is not read as a
/// struct. Used to tell a node's unknown keys apart without repeating the
/// list of its fields.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Point { x: u32, #[serde(rename = "why")] y: u32 }
///
/// assert_eq!(dora_core::yaml::struct_keys::<Point>(), ["x", "why"]);
/// ```
pub fn struct_keys<T: DeserializeOwned>() -> &'static [&'static str] {
    let found = std::cell::Cell::new(&[][..]);
    let _ = T::deserialize(KeysOf { found: &found });
    found.get()
}

/// A deserializer that only notes the keys of the struct asked for.
struct KeysOf<'a> {
    found: &'a std::cell::Cell<&'static [&'static str]>,
}

impl<'de> de::Deserializer<'de> for KeysOf<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
        Err(DeError::new(
            "only the keys of a struct are read here",
            None,
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, DeError> {
        self.found.set(fields);
        Err(DeError::new(
            "only the keys of a struct are read here",
            None,
        ))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// How many values one read may take out to find the errors after them.
const MAX_RECOVERIES: usize = 32;

/// One attempt: the value or the error that stopped it, and the errors that
/// did not stop it.
fn read_once<T: DeserializeOwned>(value: &Value) -> (Result<T, DeError>, Vec<DeError>) {
    let sink = RefCell::new(Vec::new());
    let result = T::deserialize(ValueDeserializer { value, sink: &sink });
    (
        result.map_err(|e| e.or_at(value.position)),
        sink.into_inner(),
    )
}

/// A mapping entry or list item taken out of a tree.
struct Removed {
    /// The mapping or list it was in.
    parent: Position,
    /// Its key, for a mapping entry.
    key: Option<String>,
}

impl Removed {
    /// Whether `error` only says that this entry is now missing.
    fn explains(&self, error: &DeError) -> bool {
        let missing = self
            .key
            .as_ref()
            .map(|key| format!("the key `{key}` is missing"));
        error.position == Some(self.parent) && missing.as_deref() == Some(error.message.as_str())
    }
}

/// Takes out of `tree` the deepest entry or item whose value starts at
/// `position`. Keys are never matched: errors about a mapping are placed at
/// the mapping, which in block style starts where its first key does.
fn remove_value_at(tree: &mut Value, position: Position) -> Option<Removed> {
    let parent = tree.position;
    match &mut tree.kind {
        ValueKind::Scalar { .. } => None,
        ValueKind::Sequence(items) => {
            for index in 0..items.len() {
                if let Some(removed) = remove_value_at(&mut items[index], position) {
                    return Some(removed);
                }
                if items[index].position == position {
                    items.remove(index);
                    return Some(Removed { parent, key: None });
                }
            }
            None
        }
        ValueKind::Mapping(entries) => {
            for index in 0..entries.len() {
                if let Some(removed) = remove_value_at(&mut entries[index].1, position) {
                    return Some(removed);
                }
                if entries[index].1.position == position {
                    let (key, _) = entries.remove(index);
                    let key = key.as_str().map(str::to_owned);
                    return Some(Removed { parent, key });
                }
            }
            None
        }
    }
}

/// A serde deserializer over one [`Value`].
struct ValueDeserializer<'a> {
    value: &'a Value,
    /// Errors that do not stop reading (unknown keys).
    sink: &'a RefCell<Vec<DeError>>,
}

impl<'a> ValueDeserializer<'a> {
    fn child(&self, value: &'a Value) -> Self {
        ValueDeserializer {
            value,
            sink: self.sink,
        }
    }

    fn at<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|e| e.or_at(self.value.position))
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.value.kind {
            ValueKind::Scalar { text, quoted } => Some((text, *quoted)),
            _ => None,
        }
    }
}

/// How a plain scalar reads under the YAML 1.2 core schema.
enum Plain<'a> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(&'a str),
}

fn read_plain(text: &str) -> Plain<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    let digits = text.replace('_', "");
    if let Ok(n) = digits.parse::<u64>() {
        return Plain::Unsigned(n);
    }
    if let Ok(n) = digits.parse::<i64>() {
        return Plain::Signed(n);
    }
    if let Some(hex) = digits.strip_prefix("0x") {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return Plain::Unsigned(n);
        }
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
    if looks_numeric {
        if let Ok(n) = digits.parse::<f64>() {
            return Plain::Float(n);
        }
    }
    Plain::Text(text)
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.value.kind {
            ValueKind::Scalar { text, quoted: true } => visitor.visit_str(text),
            ValueKind::Scalar {
                text,
                quoted: false,
            } => match read_plain(text) {
                Plain::Null => visitor.visit_unit(),
                Plain::Bool(b) => visitor.visit_bool(b),
                Plain::Unsigned(n) => visitor.visit_u64(n),
                Plain::Signed(n) => visitor.visit_i64(n),
                Plain::Float(n) => visitor.visit_f64(n),
                Plain::Text(text) => visitor.visit_str(text),
            },
            ValueKind::Sequence(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                parent: &self,
            }),
            ValueKind::Mapping(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                value: None,
                parent: &self,
            }),
        };
        self.at(result)
    }

    /// Any scalar that is not null reads as text: `image: ubuntu:22.04`,
    /// `id: 7` and `version: 1.0` are all text where text is asked for.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((text, quoted)) if quoted || !self.value.is_null() => {
                self.at(visitor.visit_str(text))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.value.is_null() {
            self.at(visitor.visit_none())
        } else {
            let position = self.value.position;
            visitor.visit_some(self).map_err(|e| e.or_at(position))
        }
    }

    /// An empty value (`outputs:` with nothing after it) reads as an empty list.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.value.is_null() {
            return self.at(visitor.visit_seq(SeqAccess {
                items: [].iter(),
                parent: &self,
            }));
        }
        self.deserialize_any(visitor)
    }

    /// An empty value (`env:` with nothing after it) reads as an empty mapping.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.value.is_null() {
            return self.at(visitor.visit_map(MapAccess {
                entries: Vec::new().into_iter(),
                value: None,
                parent: &self,
            }));
        }
        self.deserialize_any(visitor)
    }

    /// Unknown keys are reported to the sink and skipped, so that reading
    /// goes on and finds the other mistakes of the mapping too.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let ValueKind::Mapping(entries) = &self.value.kind else {
            return self.deserialize_any(visitor);
        };
        let mut known = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = entry.0.as_str().unwrap_or_default();
            if fields.contains(&key) {
                known.push(entry);
            } else {
                let error = <DeError as de::Error>::unknown_field(key, fields);
                self.sink.borrow_mut().push(error.or_at(entry.0.position));
            }
        }
        self.at(visitor.visit_map(MapAccess {
            entries: known.into_iter(),
            value: None,
            parent: &self,
        }))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((text, _)) if !self.value.is_null() => {
                self.at(visitor.visit_enum(text.into_deserializer()))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let position = self.value.position;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.or_at(position))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

struct SeqAccess<'a, 'p> {
    items: std::slice::Iter<'a, Value>,
    parent: &'p ValueDeserializer<'a>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some(item) => seed
                .deserialize(self.parent.child(item))
                .map(Some)
                .map_err(|e| e.or_at(item.position)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a, 'p> {
    entries: std::vec::IntoIter<&'a (Value, Value)>,
    value: Option<&'a Value>,
    parent: &'p ValueDeserializer<'a>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(self.parent.child(key))
                    .map(Some)
                    .map_err(|e| e.or_at(key.position))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self.value.take().ok_or_else(|| {
            <DeError as de::Error>::custom("a value was asked for before its key")
        })?;
        seed.deserialize(self.parent.child(value))
            .map_err(|e| e.or_at(value.position))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::parse;

    fn read<T: DeserializeOwned>(text: &str) -> Result<T, Vec<DeError>> {
        from_value(&parse(text).unwrap()[0])
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    struct Sample {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Fast,
        SlowAndSteady,
    }

    #[test]
    fn reads_a_struct() {
        let sample: Sample =
            read("name: 42\ncount: 3\ntags: [a, 'b']\nmode: slow-and-steady\n").unwrap();
        assert_eq!(sample.name, "42");
        assert_eq!(sample.count, 3);
        assert_eq!(sample.tags, ["a", "b"]);
        assert_eq!(sample.mode, Some(Mode::SlowAndSteady));
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_position() {
        let errors = read::<Sample>("name: x\ncont: 3\ntagz: []\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].position, Some(Position { line: 2, column: 1 }));
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `count`?"));
        assert_eq!(errors[1].hint.as_deref(), Some("did you mean `tags`?"));
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let errors = read::<Sample>("name: x\ncount: many\n").unwrap_err();
        assert_eq!(errors[0].position, Some(Position { line: 2, column: 8 }));
        assert_eq!(
            errors[0].message,
            "expected a whole number (0 or more), found the text `many`"
        );
    }

    #[test]
    fn quoted_numbers_are_text() {
        let errors = read::<Sample>("name: x\ncount: '3'\n").unwrap_err();
        assert!(errors[0].message.contains("found the text `3`"));
    }

    #[test]
    fn unknown_variants_get_a_suggestion() {
        let errors = read::<Sample>("name: x\nmode: fats\n").unwrap_err();
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `fast`?"));
        assert_eq!(errors[0].position, Some(Position { line: 2, column: 7 }));
    }

    #[test]
    fn missing_keys_point_at_their_mapping() {
        let errors = read::<BTreeMap<String, Sample>>("a:\n  count: 1\n").unwrap_err();
        assert_eq!(errors[0].message, "the key `name` is missing");
        assert_eq!(errors[0].position, Some(Position { line: 2, column: 3 }));
    }

    #[test]
    fn errors_after_the_first_are_found_too() {
        let errors = read::<Sample>("name: [x]\ncount: many\ntags: 3\nmode: fats\n").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.position.unwrap().line).collect();
        assert_eq!(lines, [1, 2, 3, 4], "{errors:?}");
    }

    #[test]
    fn a_key_taken_out_to_go_on_is_not_reported_missing() {
        let errors = read::<Sample>("name: [x]\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("expected text"));
    }

    #[test]
    fn null_reads_as_empty_collections() {
        let sample: Sample = read("name: x\ntags:\n").unwrap();
        assert!(sample.tags.is_empty());
    }
}
