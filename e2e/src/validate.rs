//! Rendered objects against the Kubernetes schemas: each object is deserialized into its
//! k8s-openapi type (wrong types fail, with the path), then serialized back and compared with
//! the input, because k8s-openapi ignores unknown fields: a field that does not come back is a
//! field the API server would drop (or refuse), usually a typo or a wrong nesting level.
//!
//! cert-manager's Issuer and Certificate are not in k8s-openapi; `cert_manager` declares the
//! fields of its v1 API that the chart uses, with unknown fields refused.

use anyhow::{Context, Result};
use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, core::v1 as core,
    policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Every non-empty document of a YAML stream, as JSON values.
pub fn documents(text: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(document)
            .with_context(|| format!("YAML document {}", index + 1))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// `kind apiVersion name` for messages.
pub fn describe(object: &Value) -> String {
    format!(
        "{} {} {}",
        object["kind"].as_str().unwrap_or("?"),
        object["apiVersion"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Checks one object against the schema of its kind: every problem found.
pub fn check(object: &Value) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("v1", "Namespace") => typed::<core::Namespace>(object),
        ("v1", "Pod") => typed::<core::Pod>(object),
        ("v1", "ServiceAccount") => typed::<core::ServiceAccount>(object),
        ("v1", "Service") => typed::<core::Service>(object),
        ("v1", "ConfigMap") => typed::<core::ConfigMap>(object),
        ("v1", "Secret") => typed::<core::Secret>(object),
        ("apps/v1", "Deployment") => typed::<apps::Deployment>(object),
        ("apps/v1", "DaemonSet") => typed::<apps::DaemonSet>(object),
        ("policy/v1", "PodDisruptionBudget") => typed::<policy::PodDisruptionBudget>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => typed::<rbac::ClusterRole>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            typed::<rbac::ClusterRoleBinding>(object)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => typed::<rbac::Role>(object),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => typed::<rbac::RoleBinding>(object),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
            typed::<admission::ValidatingWebhookConfiguration>(object)
        }
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            typed::<apiextensions::CustomResourceDefinition>(object)
        }
        ("cert-manager.io/v1", "Issuer") => typed::<cert_manager::Issuer>(object),
        ("cert-manager.io/v1", "Certificate") => typed::<cert_manager::Certificate>(object),
        _ => vec![format!(
            "no schema known for {kind} in {api_version}: add it to e2e/src/validate.rs"
        )],
    }
}

fn typed<T: DeserializeOwned + Serialize>(object: &Value) -> Vec<String> {
    let parsed: T = match serde_path_to_error::deserialize(object) {
        Ok(parsed) => parsed,
        Err(err) => return vec![format!("at {}: {}", err.path(), err.inner())],
    };
    let back = match serde_json::to_value(&parsed) {
        Ok(back) => back,
        Err(err) => return vec![format!("cannot serialize back: {err}")],
    };
    let mut problems = Vec::new();
    differences(object, &back, "", &mut problems);
    problems
}

/// What `input` has that `back` lost or changed, by path. Nulls count as absent.
pub fn differences(input: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (key, value) in fields {
                let here = format!("{path}.{key}");
                match kept.get(key) {
                    _ if value.is_null() => {}
                    None | Some(Value::Null) => out.push(format!("{here}: unknown field")),
                    Some(other) => differences(value, other, &here, out),
                }
            }
        }
        (Value::Array(items), Value::Array(kept)) => {
            if items.len() != kept.len() {
                out.push(format!(
                    "{path}: {} items became {}",
                    items.len(),
                    kept.len()
                ));
            }
            for (index, (item, other)) in items.iter().zip(kept).enumerate() {
                differences(item, other, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

/// The part of cert-manager's v1 API (cert-manager.io) that the chart writes.
pub mod cert_manager {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Issuer {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: IssuerSpec,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct IssuerSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub self_signed: Option<Empty>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ca: Option<CaIssuer>,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Empty {}

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CaIssuer {
        pub secret_name: String,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Certificate {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: CertificateSpec,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CertificateSpec {
        pub secret_name: String,
        pub issuer_ref: IssuerRef,
        #[serde(default, rename = "isCA", skip_serializing_if = "Option::is_none")]
        pub is_ca: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub common_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub duration: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub renew_before: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dns_names: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub usages: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub private_key: Option<PrivateKey>,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct IssuerRef {
        pub name: String,
        pub kind: String,
        pub group: String,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct PrivateKey {
        pub algorithm: String,
        pub size: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rotation_policy: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_mistyped_fields_are_found() {
        let cases = [
            (
                "a typo in the pod spec",
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"},
                       "automountServiceAcountToken": false}),
                Some(".automountServiceAcountToken: unknown field"),
            ),
            (
                "a field one level too deep",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
                       "spec": {"ports": [{"port": 443, "scheme": "HTTPS"}]}}),
                Some(".spec.ports[0].scheme: unknown field"),
            ),
            (
                "a string where a number goes",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
                       "spec": {"ports": [{"port": "https"}]}}),
                Some("at spec.ports[0].port"),
            ),
            (
                "a kind nobody declared",
                json!({"apiVersion": "v1", "kind": "Banana", "metadata": {"name": "a"}}),
                Some("no schema known for Banana"),
            ),
            (
                "cert-manager: unknown spec field",
                json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                       "metadata": {"name": "a"}, "spec": {"selfSigned": {}, "acme": {}}}),
                Some("unknown field `acme`"),
            ),
            (
                "a clean object, nulls ignored",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "a", "labels": null}, "data": {"k": "v"}}),
                None,
            ),
        ];
        for (what, object, expected) in cases {
            let problems = check(&object);
            match expected {
                Some(text) => assert!(
                    problems.iter().any(|p| p.contains(text)),
                    "{what}: want {text:?} in {problems:?}"
                ),
                None => assert!(problems.is_empty(), "{what}: {problems:?}"),
            }
        }
    }

    #[test]
    fn documents_skip_empty_ones() {
        let docs = documents("---\n# only a comment\n---\na: 1\n---\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1})]);
    }
}
