//! `${NAME}` in a resource file, replaced by the values that `dora apply -e
//! NAME=VALUE` gives, before the file is read. `$${` stands for a literal
//! `${`. A `${NAME}` without a value is an error at its line and column,
//! so that nothing is applied with a hole in it.
//!
//! ```
//! use std::collections::BTreeMap;
//! use dora_core::substitute::substitute;
//!
//! let values = BTreeMap::from([("IMAGE".to_owned(), "trainer:2".to_owned())]);
//! let done = substitute("image: ${IMAGE}\nnote: $${IMAGE}\n", &values).unwrap();
//! assert_eq!(done.text, "image: trainer:2\nnote: ${IMAGE}\n");
//! assert!(done.unused.is_empty());
//! let errors = substitute("image: ${TAG}\n", &values).unwrap_err();
//! let at = errors[0].position.unwrap();
//! assert_eq!((at.line, at.column), (1, 8));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::Diagnostic;
use crate::yaml::Position;

/// A file with its `${NAME}`s replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    pub text: String,
    /// The names given a value that the file does not use.
    pub unused: BTreeSet<String>,
}

/// Replaces every `${NAME}` of `text` by its value in `values`; the
/// errors, one per place, when some have none or are not names.
pub fn substitute(
    text: &str,
    values: &BTreeMap<String, String>,
) -> Result<Substituted, Vec<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut unused: BTreeSet<String> = values.keys().cloned().collect();
    let mut position = Position::START;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        advance(&mut position, before);
        if let Some(after) = from.strip_prefix("$${") {
            out.push_str("${");
            advance(&mut position, "$${");
            rest = after;
            continue;
        }
        let Some(after) = from.strip_prefix("${") else {
            out.push('$');
            advance(&mut position, "$");
            rest = &from[1..];
            continue;
        };
        let name_len = after.find('}').unwrap_or(after.len());
        let name = &after[..name_len];
        let closed = name_len < after.len();
        if !closed || !is_name(name) {
            let shown: String = from.chars().take(24).take_while(|c| *c != '\n').collect();
            errors.push(
                Diagnostic::error(
                    position,
                    format!("`{shown}` starts a substitution, but it is not `${{NAME}}`"),
                )
                .with_hint("write `${NAME}` with a name of letters, digits and `_`, or `$${` for a literal `${`"),
            );
            out.push_str("${");
            advance(&mut position, "${");
            rest = after;
            continue;
        }
        match values.get(name) {
            Some(value) => {
                out.push_str(value);
                unused.remove(name);
            }
            None => errors.push(
                Diagnostic::error(position, format!("`${{{name}}}` has no value"))
                    .with_hint(format!("pass `-e {name}=VALUE` to `dora apply`")),
            ),
        }
        let whole = &from[..name_len + 3];
        advance(&mut position, whole);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Substituted { text: out, unused })
    } else {
        Err(errors)
    }
}

/// Letters, digits and `_`, not starting with a digit.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn advance(position: &mut Position, text: &str) {
    for c in text.chars() {
        if c == '\n' {
            position.line += 1;
            position.column = 1;
        } else {
            position.column += 1;
        }
    }
}

/// Reads `NAME=VALUE` pairs, as given to `-e`.
///
/// ```
/// let values = dora_core::substitute::parse_values(&["A=1".into(), "B=x=y".into()]).unwrap();
/// assert_eq!(values["B"], "x=y");
/// assert!(dora_core::substitute::parse_values(&["A".into()]).is_err());
/// ```
pub fn parse_values(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut values = BTreeMap::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("`-e {pair}` has no value; write `-e NAME=VALUE`"));
        };
        if !is_name(name) {
            return Err(format!(
                "`{name}` in `-e {pair}` is not a name; use letters, digits and `_`"
            ));
        }
        if values.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(format!(
                "`-e {name}=...` is given twice; give each name once"
            ));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_occurrence_is_replaced_and_the_rest_is_kept_byte_for_byte() {
        let text = "a: ${X}-${X}\nb: $HOME $ ${Y}\n# ünïcode ${X}\n";
        let done = substitute(text, &values(&[("X", "1"), ("Y", "two"), ("Z", "z")])).unwrap();
        assert_eq!(done.text, "a: 1-1\nb: $HOME $ two\n# ünïcode 1\n");
        assert_eq!(done.unused, BTreeSet::from(["Z".to_owned()]));
    }

    #[test]
    fn each_missing_or_malformed_substitution_is_reported_at_its_place() {
        let text = "x: ${A}\ny: é ${B}\nz: ${1bad} ${open\n";
        let errors = substitute(text, &values(&[("A", "1")])).unwrap_err();
        let places: Vec<(usize, usize)> = errors
            .iter()
            .map(|e| e.position.map(|p| (p.line, p.column)).unwrap())
            .collect();
        assert_eq!(places, [(2, 6), (3, 4), (3, 12)]);
        assert!(errors[0].message.contains("`${B}` has no value"));
        assert!(errors[1].message.contains("not `${NAME}`"));
    }

    #[test]
    fn values_must_be_named_once() {
        assert!(parse_values(&["A=1".into(), "A=2".into()])
            .unwrap_err()
            .contains("twice"));
        assert!(parse_values(&["1A=1".into()])
            .unwrap_err()
            .contains("not a name"));
        assert_eq!(parse_values(&["A=".into()]).unwrap()["A"], "");
    }
}
