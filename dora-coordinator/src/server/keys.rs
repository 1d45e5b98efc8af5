//! Where a resource is stored: `Kind/zone/workspace/name`, with `-` for
//! the zone or workspace a kind does not have. Names and places cannot
//! hold `/` (the validation refuses it), so a prefix is one folder.

use dora_core::resource::{Kind, Scope, DEFAULT_ZONE};

/// The store key of a resource.
pub fn key(kind: Kind, zone: Option<&str>, workspace: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix(kind, zone, workspace))
}

/// The prefix of every key of `kind` in one place.
pub fn prefix(kind: Kind, zone: Option<&str>, workspace: Option<&str>) -> String {
    let (zone, workspace) = place(kind, zone, workspace);
    format!(
        "{kind}/{}/{}/",
        zone.unwrap_or("-"),
        workspace.unwrap_or("-")
    )
}

/// The zone and workspace a resource of `kind` lives in: none for what its
/// kind does not have, the default zone when none is given.
pub fn place<'a>(
    kind: Kind,
    zone: Option<&'a str>,
    workspace: Option<&'a str>,
) -> (Option<&'a str>, Option<&'a str>) {
    match kind.scope() {
        Scope::Global => (None, None),
        Scope::Zone => (Some(zone.unwrap_or(DEFAULT_ZONE)), None),
        Scope::Workspace => (Some(zone.unwrap_or(DEFAULT_ZONE)), workspace),
    }
}

/// Why `name` cannot name a zone, a workspace or a resource.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    (!valid).then_some("use letters, digits, `.`, `-` and `_`, starting with a letter or a digit")
}

/// The kind a command or URL names: `workload`, `workloads` or `Workload`.
pub fn parse_kind(text: &str) -> Option<Kind> {
    let lower = text.to_ascii_lowercase();
    Kind::ALL.into_iter().find(|kind| {
        let name = kind.to_string().to_ascii_lowercase();
        lower == name || lower == format!("{name}s")
            // Nodes are the cluster's machines.
            || (*kind == Kind::Node && matches!(lower.as_str(), "machine" | "machines"))
    })
}

/// The kinds, for a message that lists them.
pub fn kind_names() -> String {
    Kind::ALL
        .iter()
        .map(|k| k.to_string().to_ascii_lowercase() + "s")
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_put_each_kind_and_place_in_its_own_folder() {
        assert_eq!(key(Kind::User, Some("z"), Some("w"), "ana"), "User/-/-/ana");
        assert_eq!(
            key(Kind::Node, None, Some("w"), "gpu-1"),
            "Node/default/-/gpu-1"
        );
        assert_eq!(
            key(Kind::Workload, Some("dc-1"), Some("lab"), "train"),
            "Workload/dc-1/lab/train"
        );
        assert_eq!(parse_kind("workloads"), Some(Kind::Workload));
        assert_eq!(parse_kind("Node"), Some(Kind::Node));
        assert_eq!(parse_kind("pods"), None);
    }
}
