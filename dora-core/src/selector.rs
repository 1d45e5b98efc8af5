//! Hardware selectors: which CPUs and GPUs a node or a workload needs.
//!
//! ```yaml
//! selectors:
//!   gpu:
//!     product_name: [Quadro RTX 6000, Tesla V100-SXM2-16GB]
//!     count: 2
//! ```

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The CPU and GPU needs of a node or workload. Both are optional: a node
/// with no selector runs on any machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selectors {
    /// CPUs this needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Selector>,
    /// GPUs this needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Selector>,
}

/// How many devices of which products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// `All` (any product, the default), one product name, or a list of
    /// acceptable product names as the machine reports them (for GPUs, the
    /// NVML name such as `Tesla V100-SXM2-16GB`).
    #[serde(default)]
    pub product_name: ProductName,
    /// How many devices are needed (default 1; at least 1).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Which products are acceptable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProductName {
    /// Any product.
    #[default]
    All,
    /// One of these products (never empty once validated).
    AnyOf(Vec<String>),
}

impl ProductName {
    /// Whether a device named `name` is acceptable.
    pub fn accepts(&self, name: &str) -> bool {
        match self {
            ProductName::All => true,
            ProductName::AnyOf(names) => names.iter().any(|n| n == name),
        }
    }
}

impl<'de> Deserialize<'de> for ProductName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProductNameVisitor;

        impl<'de> Visitor<'de> for ProductNameVisitor {
            type Value = ProductName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`All`, a product name, or a list of product names")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<ProductName, E> {
                Ok(match name {
                    "All" => ProductName::All,
                    _ => ProductName::AnyOf(vec![name.to_owned()]),
                })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProductName, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(ProductName::AnyOf(names))
            }
        }

        deserializer.deserialize_any(ProductNameVisitor)
    }
}

impl Serialize for ProductName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ProductName::All => serializer.serialize_str("All"),
            ProductName::AnyOf(names) => names.serialize(serializer),
        }
    }
}

impl JsonSchema for ProductName {
    fn schema_name() -> Cow<'static, str> {
        "ProductName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`All` (any product), one product name, or a list of product names.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

/// Checks a selector read from `tree`: at least one device, and a list of
/// product names that is not empty and has no blank name.
pub(crate) fn check(
    kind: &str,
    selector: &Selector,
    tree: &crate::yaml::Value,
    diagnostics: &mut Vec<crate::diagnostic::Diagnostic>,
) {
    use crate::diagnostic::Diagnostic;
    if selector.count == 0 {
        let position = tree.value_position("count");
        diagnostics.push(
            Diagnostic::error(position, format!("the {kind} selector asks for 0 devices"))
                .with_hint(format!(
                    "ask for 1 or more, or remove the `{kind}` selector"
                )),
        );
    }
    if let ProductName::AnyOf(names) = &selector.product_name {
        let position = tree.value_position("product_name");
        if names.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    position,
                    format!("the {kind} selector lists no product name"),
                )
                .with_hint("list at least one name, or write `product_name: All` to accept any"),
            );
        }
        if names.iter().any(|n| n.trim().is_empty()) {
            diagnostics.push(
                Diagnostic::error(
                    position,
                    format!("the {kind} selector has an empty product name"),
                )
                .with_hint("remove it or write the name"),
            );
        }
    }
}
