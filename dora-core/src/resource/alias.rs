//! `group`, the other name of `workspace`.
//!
//! The design notes accept both names, and their own example gives both
//! for one volume. Both may therefore appear in one mapping: when they name
//! the same workspace the file means one thing, so it is read with a
//! warning; when they differ it means two, so it is refused.

use std::borrow::Cow;

use crate::diagnostic::Diagnostic;
use crate::yaml::{Value, ValueKind};

const NAME: &str = "workspace";
const ALIAS: &str = "group";

/// `mapping` without its `group` key when `workspace` is given too with the
/// same value (a warning), or `None` when the two differ (an error).
pub(super) fn merge<'a>(
    mapping: &'a Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Cow<'a, Value>> {
    let (Some((_, name)), Some((alias_key, alias))) = (mapping.entry(NAME), mapping.entry(ALIAS))
    else {
        return Some(Cow::Borrowed(mapping));
    };
    let ValueKind::Mapping(entries) = &mapping.kind else {
        return Some(Cow::Borrowed(mapping));
    };
    if name.as_str().is_none() || name.as_str() != alias.as_str() {
        diagnostics.push(
            Diagnostic::error(
                alias_key.position,
                format!(
                    "`{ALIAS}` names the workspace {}, but `{NAME}` (line {}) names {}",
                    alias.describe(),
                    name.position.line,
                    name.describe()
                ),
            )
            .with_hint(format!(
                "`{ALIAS}` and `{NAME}` are two names for one key: keep one, with the workspace you mean"
            )),
        );
        return None;
    }
    diagnostics.push(
        Diagnostic::warning(
            alias_key.position,
            format!(
                "`{ALIAS}` and `{NAME}` both name the workspace {}",
                name.describe()
            ),
        )
        .with_hint(format!("remove `{ALIAS}`: it is another name for `{NAME}`")),
    );
    let kept = entries
        .iter()
        .filter(|(key, _)| key.as_str() != Some(ALIAS))
        .cloned()
        .collect();
    Some(Cow::Owned(Value {
        kind: ValueKind::Mapping(kept),
        position: mapping.position,
    }))
}

/// A workload's spec with [`merge`] applied to each of its volumes, or
/// `None` when one of them names two workspaces.
pub(super) fn merge_volumes<'a>(
    spec: &'a Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Cow<'a, Value>> {
    let Some(ValueKind::Sequence(volumes)) = spec.get("volumes").map(|v| &v.kind) else {
        return Some(Cow::Borrowed(spec));
    };
    let mut merged = Vec::with_capacity(volumes.len());
    let mut changed = false;
    let mut clean = true;
    for volume in volumes {
        match merge(volume, diagnostics) {
            Some(Cow::Borrowed(volume)) => merged.push(volume.clone()),
            Some(Cow::Owned(volume)) => {
                changed = true;
                merged.push(volume);
            }
            None => clean = false,
        }
    }
    if !clean {
        return None;
    }
    if !changed {
        return Some(Cow::Borrowed(spec));
    }
    let ValueKind::Mapping(entries) = &spec.kind else {
        return Some(Cow::Borrowed(spec));
    };
    let entries = entries
        .iter()
        .map(|(key, value)| {
            let value = if key.as_str() == Some("volumes") {
                Value {
                    kind: ValueKind::Sequence(std::mem::take(&mut merged)),
                    position: value.position,
                }
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect();
    Some(Cow::Owned(Value {
        kind: ValueKind::Mapping(entries),
        position: spec.position,
    }))
}
