//! From the request's object to the engine's typed object, with the reader's field-path errors.

use kube::core::admission::AdmissionRequest;
use kube::core::{DynamicObject, GroupVersionKind};
use netpol_engine::load::{Object, policy_from_json};
use netpol_engine::model::{PolicyKind, PolicyRef};

/// The policy kind of a request's group, version and kind, if this webhook serves it.
pub fn served_kind(gvk: &GroupVersionKind) -> Option<PolicyKind> {
    Some(
        match (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str()) {
            ("networking.k8s.io", "v1", "NetworkPolicy") => PolicyKind::NetworkPolicy,
            ("policy.networking.k8s.io", "v1alpha1", "AdminNetworkPolicy") => {
                PolicyKind::AdminNetworkPolicy
            }
            ("policy.networking.k8s.io", "v1alpha1", "BaselineAdminNetworkPolicy") => {
                PolicyKind::BaselineAdminNetworkPolicy
            }
            ("policy.networking.k8s.io", "v1alpha2", "ClusterNetworkPolicy") => {
                PolicyKind::ClusterNetworkPolicy
            }
            _ => return None,
        },
    )
}

/// The object of a CREATE or UPDATE, decoded once, straight from the review into the typed API
/// (its metadata is typed already; the spec is read in place), with the reader's field paths.
/// The request's kind decides the type (the object's apiVersion and kind are optional in a
/// review); the request's namespace and name fill in what the object's metadata leaves out.
pub fn object(
    request: &AdmissionRequest<DynamicObject>,
    kind: PolicyKind,
) -> Result<Object, String> {
    let Some(raw) = &request.object else {
        return Err(format!(
            "the {:?} request for {} carries no object",
            request.operation,
            kind.name()
        ));
    };
    let mut metadata = raw.metadata.clone();
    if kind == PolicyKind::NetworkPolicy && metadata.namespace.as_deref().is_none_or(str::is_empty)
    {
        metadata.namespace = Some(
            request
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    if metadata.name.as_deref().is_none_or(str::is_empty) {
        metadata.name = Some(request.name.clone());
    }
    policy_from_json(kind, metadata, &raw.data).map_err(|e| match &e.object {
        Some(object) => format!("invalid {}: {object}: {}", kind.name(), e.message),
        None => format!("invalid {}: {}", kind.name(), e.message),
    })
}

/// The policy a DELETE removes: from the old object when sent, else from the request's name.
pub fn deleted(request: &AdmissionRequest<DynamicObject>, kind: PolicyKind) -> PolicyRef {
    let namespace = match kind {
        PolicyKind::NetworkPolicy => Some(
            request
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
        ),
        _ => None,
    };
    PolicyRef {
        kind,
        namespace,
        name: request.name.clone(),
    }
}
