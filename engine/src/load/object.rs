//! The kinds netpol reads, decoded into their typed APIs with field paths on error.

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::{CronJob, Job},
    core::v1::{Namespace, Node, Pod, PodTemplateSpec},
    networking::v1::NetworkPolicy,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Serialize, de::DeserializeOwned};
use serde_yaml_ng::Value;

use super::{LoadError, Origin};
use crate::api::{
    v1alpha1::{AdminNetworkPolicy, BaselineAdminNetworkPolicy},
    v1alpha2::ClusterNetworkPolicy,
};
use crate::model::PolicyKind;

/// A Kubernetes object netpol evaluates.
#[derive(Clone, Debug)]
pub enum Object {
    Namespace(Box<Namespace>),
    Pod(Box<Pod>),
    Node(Box<Node>),
    NetworkPolicy(Box<NetworkPolicy>),
    AdminNetworkPolicy(Box<AdminNetworkPolicy>),
    BaselineAdminNetworkPolicy(Box<BaselineAdminNetworkPolicy>),
    ClusterNetworkPolicy(Box<ClusterNetworkPolicy>),
    Workload(Box<Workload>),
}

/// The kinds netpol reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ObjectKind {
    Namespace,
    Pod,
    Node,
    NetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy,
    Workload(WorkloadKind),
}

/// Controllers whose pod template becomes an endpoint before any pod runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
}

/// A workload controller reduced to what policy evaluation needs.
#[derive(Clone, Debug)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub metadata: ObjectMeta,
    /// The controller's pod selector (CronJob has none: its template labels stand in).
    pub selector: Option<LabelSelector>,
    pub template: PodTemplateSpec,
}

impl ObjectKind {
    /// Maps an apiVersion and kind to a kind we read; other kinds are skipped by the reader.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Self> {
        Some(match (api_version, kind) {
            ("v1", "Namespace") => Self::Namespace,
            ("v1", "Pod") => Self::Pod,
            ("v1", "Node") => Self::Node,
            ("networking.k8s.io/v1", "NetworkPolicy") => Self::NetworkPolicy,
            ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy") => Self::AdminNetworkPolicy,
            ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy") => {
                Self::BaselineAdminNetworkPolicy
            }
            ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy") => {
                Self::ClusterNetworkPolicy
            }
            ("apps/v1", "Deployment") => Self::Workload(WorkloadKind::Deployment),
            ("apps/v1", "StatefulSet") => Self::Workload(WorkloadKind::StatefulSet),
            ("apps/v1", "DaemonSet") => Self::Workload(WorkloadKind::DaemonSet),
            ("apps/v1", "ReplicaSet") => Self::Workload(WorkloadKind::ReplicaSet),
            ("batch/v1", "Job") => Self::Workload(WorkloadKind::Job),
            ("batch/v1", "CronJob") => Self::Workload(WorkloadKind::CronJob),
            _ => return None,
        })
    }

    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            Self::Namespace
                | Self::Node
                | Self::AdminNetworkPolicy
                | Self::BaselineAdminNetworkPolicy
                | Self::ClusterNetworkPolicy
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Namespace => "Namespace",
            Self::Pod => "Pod",
            Self::Node => "Node",
            Self::NetworkPolicy => "NetworkPolicy",
            Self::AdminNetworkPolicy => "AdminNetworkPolicy",
            Self::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            Self::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            Self::Workload(kind) => kind.name(),
        }
    }
}

impl From<PolicyKind> for ObjectKind {
    fn from(kind: PolicyKind) -> Self {
        match kind {
            PolicyKind::NetworkPolicy => Self::NetworkPolicy,
            PolicyKind::AdminNetworkPolicy => Self::AdminNetworkPolicy,
            PolicyKind::BaselineAdminNetworkPolicy => Self::BaselineAdminNetworkPolicy,
            PolicyKind::ClusterNetworkPolicy => Self::ClusterNetworkPolicy,
        }
    }
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
        }
    }

    /// Parses the lowercase names and short names kubectl accepts.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" => Self::Deployment,
            "statefulset" | "statefulsets" | "sts" => Self::StatefulSet,
            "daemonset" | "daemonsets" | "ds" => Self::DaemonSet,
            "replicaset" | "replicasets" | "rs" => Self::ReplicaSet,
            "job" | "jobs" => Self::Job,
            "cronjob" | "cronjobs" | "cj" => Self::CronJob,
            _ => return None,
        })
    }
}

impl Object {
    /// The object in its API's JSON shape, e.g. to write a snapshot. Workloads are kept
    /// condensed (metadata, selector, template), not as their API objects: an error.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Self::Namespace(o) => serde_json::to_value(o),
            Self::Pod(o) => serde_json::to_value(o),
            Self::Node(o) => serde_json::to_value(o),
            Self::NetworkPolicy(o) => serde_json::to_value(o),
            Self::AdminNetworkPolicy(o) => serde_json::to_value(o),
            Self::BaselineAdminNetworkPolicy(o) => serde_json::to_value(o),
            Self::ClusterNetworkPolicy(o) => serde_json::to_value(o),
            Self::Workload(w) => Err(serde::ser::Error::custom(format!(
                "{:?} {}: workloads are kept condensed, not as API objects",
                w.kind,
                w.metadata.name.as_deref().unwrap_or_default()
            ))),
        }
    }

    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Namespace(_) => ObjectKind::Namespace,
            Self::Pod(_) => ObjectKind::Pod,
            Self::Node(_) => ObjectKind::Node,
            Self::NetworkPolicy(_) => ObjectKind::NetworkPolicy,
            Self::AdminNetworkPolicy(_) => ObjectKind::AdminNetworkPolicy,
            Self::BaselineAdminNetworkPolicy(_) => ObjectKind::BaselineAdminNetworkPolicy,
            Self::ClusterNetworkPolicy(_) => ObjectKind::ClusterNetworkPolicy,
            Self::Workload(w) => ObjectKind::Workload(w.kind),
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Namespace(o) => &o.metadata,
            Self::Pod(o) => &o.metadata,
            Self::Node(o) => &o.metadata,
            Self::NetworkPolicy(o) => &o.metadata,
            Self::AdminNetworkPolicy(o) => &o.metadata,
            Self::BaselineAdminNetworkPolicy(o) => &o.metadata,
            Self::ClusterNetworkPolicy(o) => &o.metadata,
            Self::Workload(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The namespace, for namespaced kinds.
    pub fn namespace(&self) -> Option<&str> {
        self.kind()
            .is_namespaced()
            .then(|| self.metadata().namespace.as_deref().unwrap_or_default())
    }

    /// `Kind namespace/name` or `Kind name`, for messages.
    pub fn display_name(&self) -> String {
        display_name(self.kind(), self.namespace(), self.name())
    }
}

pub(crate) fn display_name(kind: ObjectKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{} {ns}/{name}", kind.name()),
        None => format!("{} {name}", kind.name()),
    }
}

/// Decodes one object of a known kind; errors carry the field path.
pub(super) fn decode(
    kind: ObjectKind,
    mut value: Value,
    default_namespace: &str,
) -> Result<Object, Box<LoadError>> {
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(error(
            kind,
            None,
            "",
            Some("metadata.name".into()),
            "missing metadata.name".into(),
        ));
    };
    if kind.is_namespaced() {
        fill_namespace(&mut value, default_namespace);
    }
    let namespace = kind.is_namespaced().then(|| {
        value
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or(default_namespace)
            .to_owned()
    });
    let fail = |(field, message): (String, String)| {
        error(kind, namespace.as_deref(), &name, Some(field), message)
    };
    Ok(match kind {
        ObjectKind::Namespace => Object::Namespace(typed(value).map_err(fail)?),
        ObjectKind::Pod => Object::Pod(typed(value).map_err(fail)?),
        ObjectKind::Node => Object::Node(typed(value).map_err(fail)?),
        ObjectKind::NetworkPolicy => Object::NetworkPolicy(typed(value).map_err(fail)?),
        ObjectKind::AdminNetworkPolicy => Object::AdminNetworkPolicy(typed(value).map_err(fail)?),
        ObjectKind::BaselineAdminNetworkPolicy => {
            Object::BaselineAdminNetworkPolicy(typed(value).map_err(fail)?)
        }
        ObjectKind::ClusterNetworkPolicy => {
            Object::ClusterNetworkPolicy(typed(value).map_err(fail)?)
        }
        ObjectKind::Workload(workload) => {
            Object::Workload(Box::new(decode_workload(workload, value).map_err(fail)?))
        }
    })
}

/// Decodes a policy an API server sent (an admission request's object) straight into its typed
/// API: `metadata` is already typed, `body` holds the other fields (`spec`) as JSON, read in
/// place with the field path of any error.
pub fn policy_from_json(
    kind: PolicyKind,
    metadata: ObjectMeta,
    body: &serde_json::Value,
) -> Result<Object, Box<LoadError>> {
    let object_kind = ObjectKind::from(kind);
    let name = metadata.name.clone().unwrap_or_default();
    let namespace = object_kind
        .is_namespaced()
        .then(|| metadata.namespace.clone().unwrap_or_default());
    let fail = |field: Option<String>, message: String| {
        error(object_kind, namespace.as_deref(), &name, field, message)
    };
    let spec = body.get("spec").filter(|s| !s.is_null());
    let required = || fail(Some("spec".into()), "missing spec".into());
    let spec_error = |(field, message): (String, String)| fail(Some(field), message);
    Ok(match kind {
        PolicyKind::NetworkPolicy => Object::NetworkPolicy(Box::new(NetworkPolicy {
            metadata,
            spec: spec.map(typed_spec).transpose().map_err(spec_error)?,
        })),
        PolicyKind::AdminNetworkPolicy => {
            Object::AdminNetworkPolicy(Box::new(AdminNetworkPolicy {
                metadata,
                spec: typed_spec(spec.ok_or_else(required)?).map_err(spec_error)?,
                status: None,
            }))
        }
        PolicyKind::BaselineAdminNetworkPolicy => {
            Object::BaselineAdminNetworkPolicy(Box::new(BaselineAdminNetworkPolicy {
                metadata,
                spec: typed_spec(spec.ok_or_else(required)?).map_err(spec_error)?,
                status: None,
            }))
        }
        PolicyKind::ClusterNetworkPolicy => {
            Object::ClusterNetworkPolicy(Box::new(ClusterNetworkPolicy {
                metadata,
                spec: typed_spec(spec.ok_or_else(required)?).map_err(spec_error)?,
                status: None,
            }))
        }
    })
}

/// A spec from JSON, read in place; errors carry the field path from `spec`.
fn typed_spec<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "spec".to_owned()
        } else {
            format!("spec.{path}")
        };
        (field, err.into_inner().to_string())
    })
}

fn fill_namespace(value: &mut Value, default_namespace: &str) {
    if let Some(Value::Mapping(meta)) = value.get_mut("metadata") {
        let missing = meta
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            meta.insert(Value::from("namespace"), Value::from(default_namespace));
        }
    }
}

fn decode_workload(kind: WorkloadKind, value: Value) -> Result<Workload, (String, String)> {
    let (metadata, selector, template) = match kind {
        WorkloadKind::Deployment => {
            let o: Deployment = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (o.metadata, Some(spec.selector), spec.template)
        }
        WorkloadKind::StatefulSet => {
            let o: StatefulSet = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (o.metadata, Some(spec.selector), spec.template)
        }
        WorkloadKind::DaemonSet => {
            let o: DaemonSet = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (o.metadata, Some(spec.selector), spec.template)
        }
        WorkloadKind::ReplicaSet => {
            let o: ReplicaSet = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (
                o.metadata,
                Some(spec.selector),
                spec.template.unwrap_or_default(),
            )
        }
        WorkloadKind::Job => {
            let o: Job = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (o.metadata, spec.selector, spec.template)
        }
        WorkloadKind::CronJob => {
            let o: CronJob = typed(value)?;
            let spec = o.spec.unwrap_or_default();
            (
                o.metadata,
                None,
                spec.job_template.spec.unwrap_or_default().template,
            )
        }
    };
    Ok(Workload {
        kind,
        metadata,
        selector,
        template,
    })
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        (
            if path == "." { String::new() } else { path },
            err.into_inner().to_string(),
        )
    })
}

fn error(
    kind: ObjectKind,
    namespace: Option<&str>,
    name: &str,
    field: Option<String>,
    message: String,
) -> Box<LoadError> {
    let field = field.filter(|f| !f.is_empty());
    let message = match &field {
        Some(f) => format!("field {f}: {message}"),
        None => message,
    };
    Box::new(LoadError {
        origin: Origin::default(),
        object: Some(display_name(kind, namespace, name)),
        field,
        message,
    })
}
