//! The names that tie a dataflow together: node, operator and data ids.
//!
//! Each is its own type, so that a node id cannot be passed where an output
//! id is meant, and cheap to clone (a shared string), since every message
//! event carries its input's id. The rules for what an id may contain are checked by the
//! dataflow's validation, which reports every bad id with its position.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.into())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id.into())
            }
        }
    };
}

id_type!(
    /// The id of a node, unique in its dataflow.
    NodeId
);
id_type!(
    /// The id of an operator, unique in its runtime node.
    OperatorId
);
id_type!(
    /// The id of an input or an output, unique in its node or operator.
    DataId
);

impl DataId {
    /// The id under which a runtime node knows `id` of `operator` (or `id`
    /// itself when it belongs to the node): `operator/id`. The launcher,
    /// the runtime and the run summary all name operators' inputs and
    /// outputs this way, so it is made here only.
    ///
    /// ```
    /// use dora_core::id::{DataId, OperatorId};
    ///
    /// let output = DataId::from("doubled");
    /// assert_eq!(DataId::qualified(Some(&OperatorId::from("doubler")), &output).as_str(), "doubler/doubled");
    /// assert_eq!(DataId::qualified(None, &output), output);
    /// ```
    pub fn qualified(operator: Option<&OperatorId>, id: &DataId) -> DataId {
        match operator {
            Some(operator) => DataId::from(format!("{operator}/{id}")),
            None => id.clone(),
        }
    }
}

/// The longest id, in bytes. Ids become parts of shared-memory service
/// names, which hold at most 255 bytes, and a channel name holds up to
/// three ids (`dora/<run>/<node>/out/<operator>/<output>`, with a run id
/// of up to 16 bytes); a node id also names the node's process to the
/// transport, which takes at most 128.
pub const MAX_ID_LEN: usize = 64;

/// `text` in the characters that host names, container names and the
/// like all accept: letters, digits, `.`, `-` and `_`; any other becomes
/// `-`.
pub fn safe_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Why an id is not acceptable, or `None` when it is.
///
/// Ids become parts of shared-memory service names, zenoh keys and file
/// names, so they are kept to letters, digits, `_`, `-` and `.`, and to
/// [`MAX_ID_LEN`] bytes.
///
/// ```
/// use dora_core::id::id_problem;
///
/// assert_eq!(id_problem("camera_left"), None);
/// assert!(id_problem("camera/left").unwrap().contains("`/`"));
/// assert!(id_problem(&"a".repeat(65)).unwrap().contains("at most 64 bytes"));
/// ```
pub fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("an id cannot be empty".to_owned());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        let shown = if c == '/' {
            "`/`".to_owned()
        } else {
            format!("{c:?}")
        };
        return Some(format!(
            "the id `{id}` contains {shown}; ids may hold only letters, digits, `_`, `-` and `.`"
        ));
    }
    if id.len() > MAX_ID_LEN {
        return Some(format!(
            "the id `{id}` is {} bytes long; ids may be at most {MAX_ID_LEN} bytes, since the names of the dataflow's channels are made of them",
            id.len()
        ));
    }
    None
}
