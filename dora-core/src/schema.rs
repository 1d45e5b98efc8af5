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
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Dataflow>()
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
