//! Generation of the CRD manifests from the typed APIs.
//!
//! The manifests in `crds/` are this module's output, written by [`GENERATE_COMMAND`]; a test
//! fails when they are stale and another compares them with the upstream experimental CRDs.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use super::v1alpha1::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
use super::v1alpha2::ClusterNetworkPolicy;

/// The command that regenerates `crds/` from these types.
pub const GENERATE_COMMAND: &str = "cargo run -p netpol-engine --example gen-crds";

/// Upstream's annotation naming the network-policy-api release a CRD comes from.
pub const BUNDLE_VERSION_ANNOTATION: &str = "policy.networking.k8s.io/bundle-version";
/// Upstream's annotation naming the channel (standard or experimental) of a CRD.
pub const CHANNEL_ANNOTATION: &str = "policy.networking.k8s.io/channel";
/// The channel our types follow: experimental is a superset of standard.
pub const CHANNEL: &str = "experimental";
/// The apiserver refuses CRDs in a `*.k8s.io` group without a link to their API review.
const API_APPROVED_ANNOTATION: &str = "api-approved.kubernetes.io";

/// A CRD as shipped in `crds/`: its file name there and the definition.
#[derive(Clone, Debug)]
pub struct ShippedCrd {
    /// File name inside `crds/`, `<group>_<plural>.yaml` as controller-gen names it.
    pub file_name: String,
    /// The network-policy-api release whose experimental CRD the types follow.
    pub bundle_version: &'static str,
    pub crd: CustomResourceDefinition,
}

/// The CRDs we ship, in a stable order.
pub fn crds() -> Vec<ShippedCrd> {
    vec![
        ship(
            AdminNetworkPolicy::crd(),
            "v0.1.8",
            "https://github.com/kubernetes-sigs/network-policy-api/pull/300",
        ),
        ship(
            BaselineAdminNetworkPolicy::crd(),
            "v0.1.8",
            "https://github.com/kubernetes-sigs/network-policy-api/pull/300",
        ),
        ship(
            ClusterNetworkPolicy::crd(),
            "v0.2.0",
            "https://github.com/kubernetes-sigs/network-policy-api/pull/347",
        ),
    ]
}

/// A CRD as YAML text, behind a comment saying how it was made.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    let mut value =
        serde_json::to_value(crd).map_err(<serde_yaml_ng::Error as serde::ser::Error>::custom)?;
    whole_numbers_as_integers(&mut value);
    let body = serde_yaml_ng::to_string(&value)?;
    Ok(format!(
        "# Generated from the types in engine/src/api by `{GENERATE_COMMAND}`; do not edit.\n---\n{body}"
    ))
}

fn ship(
    mut crd: CustomResourceDefinition,
    bundle_version: &'static str,
    api_approved: &str,
) -> ShippedCrd {
    let annotations = crd.metadata.annotations.get_or_insert_default();
    annotations.insert(API_APPROVED_ANNOTATION.to_owned(), api_approved.to_owned());
    annotations.insert(
        BUNDLE_VERSION_ANNOTATION.to_owned(),
        bundle_version.to_owned(),
    );
    annotations.insert(CHANNEL_ANNOTATION.to_owned(), CHANNEL.to_owned());

    let names = &mut crd.spec.names;
    names
        .list_kind
        .get_or_insert_with(|| format!("{}List", names.kind));

    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            drop_nullable(schema);
            add_object_meta(schema);
        }
    }

    let file_name = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
    ShippedCrd {
        file_name,
        bundle_version,
        crd,
    }
}

/// kube marks every `Option` field `nullable`; upstream never does. The apiserver prunes an
/// explicit `null` from a non-nullable field but stores it in a nullable one, where upstream's CEL
/// rules (`has(self.ports) && self.ports.exists(..)`) and its readers do not expect one.
fn drop_nullable(schema: &mut JSONSchemaProps) {
    schema.nullable = None;
    let children = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(schema.items.iter_mut().flat_map(|items| match items {
            JSONSchemaPropsOrArray::Schema(s) => std::slice::from_mut(s.as_mut()),
            JSONSchemaPropsOrArray::Schemas(s) => s.as_mut_slice(),
        }))
        .chain(
            schema
                .additional_properties
                .iter_mut()
                .filter_map(|a| match a {
                    JSONSchemaPropsOrBool::Schema(s) => Some(s.as_mut()),
                    JSONSchemaPropsOrBool::Bool(_) => None,
                }),
        );
    for child in children {
        drop_nullable(child);
    }
}

/// The fields every object has, spelled out as controller-gen does, so that the schema reads like
/// upstream's and `metadata` is required as there. The API server refuses a CRD whose `metadata`
/// schema says anything but `type: object` (even a description), so it gets exactly that.
fn add_object_meta(schema: &mut JSONSchemaProps) {
    let properties = schema.properties.get_or_insert_default();
    for (name, type_, description) in [
        (
            "apiVersion",
            "string",
            Some("The versioned schema of this representation of an object."),
        ),
        (
            "kind",
            "string",
            Some("The REST resource this object represents."),
        ),
        ("metadata", "object", None),
    ] {
        let field = properties.entry(name.to_owned()).or_default();
        *field = JSONSchemaProps {
            type_: Some(type_.to_owned()),
            description: description.map(str::to_owned),
            ..JSONSchemaProps::default()
        };
    }
    let required = schema.required.get_or_insert_default();
    if !required.iter().any(|r| r == "metadata") {
        required.insert(0, "metadata".to_owned());
    }
}

/// JSONSchemaProps keeps bounds as `f64`; written back as integers they read as upstream's do
/// (`maximum: 65535`, not `65535.0`).
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 2e15)
            {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(whole_numbers_as_integers)
        }
        _ => {}
    }
}
