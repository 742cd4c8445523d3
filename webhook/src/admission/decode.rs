//! From the request's object to the engine's typed object, with the reader's field-path errors.

use kube::core::admission::AdmissionRequest;
use kube::core::{DynamicObject, GroupVersionKind};
use netpol_engine::load::{Object, read_json_values};
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

/// The object of a CREATE or UPDATE, decoded as the reader decodes files.
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
    let mut value = serde_json::to_value(raw).map_err(|e| format!("unreadable object: {e}"))?;
    if let Some(map) = value.as_object_mut() {
        // The object's own apiVersion and kind are optional in the review; the request's win.
        let gvk = &request.kind;
        map.insert(
            "apiVersion".into(),
            format!("{}/{}", gvk.group, gvk.version).into(),
        );
        map.insert("kind".into(), gvk.kind.clone().into());
    }
    let namespace = request.namespace.as_deref().unwrap_or("default");
    let mut loaded = read_json_values("request", vec![value], namespace);
    if !loaded.errors.is_empty() {
        let messages: Vec<String> = loaded
            .errors
            .iter()
            .map(|e| match &e.object {
                Some(object) => format!("{object}: {}", e.message),
                None => e.message.clone(),
            })
            .collect();
        return Err(format!("invalid {}: {}", kind.name(), messages.join("; ")));
    }
    match loaded.objects.pop() {
        Some(located) => Ok(located.object),
        None => Err(format!("the request's object is not a {}", kind.name())),
    }
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
