//! JSON Schemas of dora's files, for editors that complete and check YAML.

use schemars::generate::SchemaSettings;
use schemars::{json_schema, Schema};

use crate::descriptor::Dataflow;
use crate::resource::{
    ApiVersion, ContainerSpec, CreditSpec, Kind, Metadata, NodeSpec, RoleSpec, StorageSpec,
    UserSpec, VolumeSpec, WorkloadSpec,
};

/// The JSON Schema of a dataflow file.
pub fn dataflow() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Dataflow>();
    add_single_operator(&mut schema);
    add_module(&mut schema);
    schema
}

/// A node that uses a module is read apart (see `descriptor::module`) and
/// replaced by the module's nodes, so no field of `Node` carries `module`
/// or `params`: they are added here.
fn add_module(schema: &mut Schema) {
    if let Some(properties) = schema
        .pointer_mut("/definitions/Node/properties")
        .and_then(|p| p.as_object_mut())
    {
        properties.insert(
            "module".to_owned(),
            serde_json::json!({
                "description": "Makes this node stand for the nodes of a module file (relative to the dataflow's folder), with ids prefixed `id.`: its `inputs` wire the module's inputs, other nodes read the module's outputs as `id/output`. Such a node has only `id`, `description`, `module`, `inputs`, `env`, `params`, `build` and `deploy`.",
                "type": "string"
            }),
        );
        properties.insert(
            "params".to_owned(),
            serde_json::json!({
                "description": "For a node with `module`: each parameter is the environment variable `PARAM_<KEY>` of every node of the module, and replaces `$PARAM_<KEY>` and `${_param.key}` in their `args`.",
                "type": "object",
                "additionalProperties": { "type": ["string", "number", "boolean"] },
                "propertyNames": { "pattern": "^[A-Za-z0-9_]+$" }
            }),
        );
    }
}

/// `operator:` is read by rewriting the YAML into `operators:` (see
/// `descriptor::single_operator`), so no field of `Node` carries it: it is
/// added here, as an operator whose `id` may be left out.
fn add_single_operator(schema: &mut Schema) {
    let Some(operator) = schema.pointer("/definitions/Operator").cloned() else {
        return;
    };
    let mut single = operator;
    if let Some(required) = single.get_mut("required").and_then(|r| r.as_array_mut()) {
        required.retain(|key| key != "id");
    }
    if let Some(description) = single.get_mut("description") {
        *description = serde_json::Value::from(
            "The one operator of a node written with `operator:`; its id is `op` unless `id` says otherwise.",
        );
    }
    if let Some(definitions) = schema
        .get_mut("definitions")
        .and_then(|d| d.as_object_mut())
    {
        definitions.insert("SingleOperator".to_owned(), single);
    }
    if let Some(properties) = schema
        .pointer_mut("/definitions/Node/properties")
        .and_then(|p| p.as_object_mut())
    {
        properties.insert(
            "operator".to_owned(),
            serde_json::json!({
                "description": "Makes this a runtime node with this one operator: a shorthand for `operators:` with one entry. Other nodes name its outputs `id/output`.",
                "$ref": "#/definitions/SingleOperator"
            }),
        );
    }
}

/// The JSON Schema of one cluster resource: one branch per kind.
pub fn resource() -> Schema {
    let mut generator = SchemaSettings::draft07().into_generator();
    let api_version = generator.subschema_for::<ApiVersion>();
    let metadata = generator.subschema_for::<Metadata>();
    let specs = [
        (Kind::User, generator.subschema_for::<UserSpec>()),
        (Kind::Role, generator.subschema_for::<RoleSpec>()),
        (Kind::Node, generator.subschema_for::<NodeSpec>()),
        (Kind::Storage, generator.subschema_for::<StorageSpec>()),
        (Kind::Credit, generator.subschema_for::<CreditSpec>()),
        (Kind::Workload, generator.subschema_for::<WorkloadSpec>()),
        (Kind::Container, generator.subschema_for::<ContainerSpec>()),
        (Kind::Volume, generator.subschema_for::<VolumeSpec>()),
        (Kind::Dataflow, generator.subschema_for::<Dataflow>()),
    ];
    let branches: Vec<Schema> = specs
        .into_iter()
        .map(|(kind, spec)| {
            json_schema!({
                "type": "object",
                "additionalProperties": false,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": api_version,
                    "kind": { "const": kind.to_string() },
                    "metadata": metadata,
                    "spec": spec
                }
            })
        })
        .collect();
    let definitions = generator.take_definitions(true);
    json_schema!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "dora cluster resource",
        "oneOf": branches,
        "definitions": definitions
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The good corpus file that uses every node key, and the keys the
    /// schema describes, agree.
    #[test]
    fn the_schema_describes_every_key_a_node_can_have() {
        let schema = serde_json::to_value(super::dataflow()).unwrap();
        let documented: BTreeSet<&str> = schema["definitions"]["Node"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let every_key = include_str!("../tests/corpus/good/every-node-key.yml");
        let used: BTreeSet<&str> = every_key
            .lines()
            .filter_map(|l| l.strip_prefix("  - ").or_else(|| l.strip_prefix("    ")))
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_once(':').map(|(k, _)| k))
            .collect();
        assert_eq!(used, documented);
    }

    #[test]
    fn a_node_may_name_a_module_and_its_params() {
        let schema = serde_json::to_value(super::dataflow()).unwrap();
        let properties = &schema["definitions"]["Node"]["properties"];
        assert_eq!(properties["module"]["type"], "string");
        assert_eq!(properties["params"]["type"], "object");
    }

    #[test]
    fn a_single_operator_needs_no_id() {
        let schema = serde_json::to_value(super::dataflow()).unwrap();
        let single = &schema["definitions"]["SingleOperator"];
        assert!(single["properties"]["python"].is_object());
        let required = single["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.iter().any(|key| key == "id"), "{required:?}");
        assert_eq!(
            schema["definitions"]["Node"]["properties"]["operator"]["$ref"],
            "#/definitions/SingleOperator"
        );
    }
}
