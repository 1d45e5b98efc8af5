//! Operators: light plugins that a runtime node hosts, many in one process.
//!
//! ```yaml
//! - id: runtime
//!   operators:
//!     - id: detector
//!       shared-library: target/release/libdetector.so
//!       priority: 10
//!       inputs:
//!         image: { source: camera/image, deadline: 5ms }
//!       outputs: [boxes]
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Input;
use super::types::TypeName;
use crate::id::{DataId, OperatorId};

/// One operator of a runtime node. Exactly one of `shared-library`,
/// `python` and `c` says what to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Unique among the operators of its node. Other nodes name its
    /// outputs `node/operator/output`.
    pub id: OperatorId,
    /// What the operator does, for people (shown in graphs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A Rust operator: the shared library (`.so`) built from a crate that
    /// calls `register_operator!`.
    #[serde(
        default,
        rename = "shared-library",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_library: Option<String>,
    /// A Python operator: the `.py` file that defines `class Operator`,
    /// or `{ source: FILE, conda_env: ENV }` to run it in a conda
    /// environment (which must have the `dora` package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonSource>,
    /// A C operator: the shared library that exports the dora operator ABI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
    /// A shell command run before the dataflow starts, from the dataflow's
    /// folder (to build the library, for instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The operator's inputs, by input id.
    #[serde(default)]
    pub inputs: BTreeMap<DataId, Input>,
    /// The ids of the outputs the operator sends.
    #[serde(default)]
    pub outputs: Vec<DataId>,
    /// The types of some inputs, by input id (`image: std/media/v1/Image`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_types: BTreeMap<DataId, TypeName>,
    /// The types of some outputs, by output id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_types: BTreeMap<DataId, TypeName>,
    /// When several events are ready, operators with a higher priority run
    /// first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// How many times the runtime restarts this operator after a panic, in
    /// its process and with its `state` kept (default: the node's
    /// `max_restarts`, or 0 when the node is never restarted). Once they
    /// are used, the operator fails for good; the node's process is not
    /// restarted for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// Each line the runtime node prints (all its operators share its
    /// process) is sent, as UTF-8 text, on this output of this operator.
    /// At most one operator of a node says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_stdout_as: Option<DataId>,
}

/// A Python operator's file, and the conda environment it runs in, if any.
/// Written `python: FILE` or `python: { source: FILE, conda_env: ENV }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSource {
    pub source: String,
    pub conda_env: Option<String>,
}

impl Serialize for PythonSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.conda_env {
            None => serializer.serialize_str(&self.source),
            Some(env) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("source", &self.source)?;
                map.serialize_entry("conda_env", env)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PythonSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PythonVisitor;

        impl<'de> serde::de::Visitor<'de> for PythonVisitor {
            type Value = PythonSource;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the operator's `.py` file, or `{ source: FILE, conda_env: ENV }`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<PythonSource, E> {
                Ok(PythonSource {
                    source: text.to_owned(),
                    conda_env: None,
                })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PythonSource, A::Error> {
                let (mut source, mut conda_env) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "source" => source = Some(map.next_value::<String>()?),
                        "conda_env" => conda_env = Some(map.next_value::<String>()?),
                        other => {
                            return Err(serde::de::Error::custom(format!(
                            "unknown key `{other}` in `python:`; it takes `source` and `conda_env`"
                        )))
                        }
                    }
                }
                let source = source.ok_or_else(|| {
                    serde::de::Error::custom("`python:` needs `source:`, the operator's `.py` file")
                })?;
                Ok(PythonSource { source, conda_env })
            }
        }

        deserializer.deserialize_any(PythonVisitor)
    }
}

impl JsonSchema for PythonSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PythonSource".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The operator's `.py` file, or the file and the conda environment to run it in.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "source": { "type": "string" },
                        "conda_env": { "type": "string" }
                    },
                    "required": ["source"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// What an operator is loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorSource<'a> {
    SharedLibrary(&'a str),
    Python(&'a str),
    C(&'a str),
}

impl Operator {
    /// Every source the operator names; a valid operator names exactly one.
    pub fn sources(&self) -> Vec<OperatorSource<'_>> {
        [
            self.shared_library
                .as_deref()
                .map(OperatorSource::SharedLibrary),
            self.python
                .as_ref()
                .map(|p| OperatorSource::Python(&p.source)),
            self.c.as_deref().map(OperatorSource::C),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The one source of a valid operator.
    pub fn source(&self) -> Option<OperatorSource<'_>> {
        match self.sources().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

impl OperatorSource<'_> {
    /// The key that names this kind of source in YAML.
    pub fn key(&self) -> &'static str {
        match self {
            OperatorSource::SharedLibrary(_) => "shared-library",
            OperatorSource::Python(_) => "python",
            OperatorSource::C(_) => "c",
        }
    }

    pub fn path(&self) -> &str {
        match self {
            OperatorSource::SharedLibrary(p) | OperatorSource::Python(p) | OperatorSource::C(p) => {
                p
            }
        }
    }
}
