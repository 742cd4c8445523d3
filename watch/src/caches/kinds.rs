//! The kinds the caches hold, and what of each the engine needs: everything else (managed
//! fields, annotations but the audit one, container images, volumes, most of the status) is dropped on arrival,
//! which keeps a 150,000-pod cache small. [`trim`] does the same to objects read from files.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{Container, Namespace, Node, NodeStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use netpol_engine::api::v1alpha1::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
use netpol_engine::api::v1alpha2::ClusterNetworkPolicy;
use netpol_engine::load::{Object, ObjectKind};
use serde::de::DeserializeOwned;

/// A watched kind: its engine kind, and the trimmed engine object of a watched one.
pub trait Cached:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    const KIND: ObjectKind;
    fn into_object(self) -> Object;
}

/// Drops what the engine never reads from an object, whatever its source. Workloads keep
/// their pod template whole (they are few, and the template is their endpoint).
pub fn trim(object: Object) -> Object {
    match object {
        Object::Pod(pod) => pod.into_object(),
        Object::Namespace(namespace) => namespace.into_object(),
        Object::Node(node) => node.into_object(),
        Object::NetworkPolicy(policy) => policy.into_object(),
        Object::AdminNetworkPolicy(policy) => policy.into_object(),
        Object::BaselineAdminNetworkPolicy(policy) => policy.into_object(),
        Object::ClusterNetworkPolicy(policy) => policy.into_object(),
        workload @ Object::Workload(_) => workload,
    }
}

fn trim_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    // Of the annotations, only the one that puts a policy in audit mode matters.
    meta.annotations = meta.annotations.take().and_then(|mut all| {
        let value = all.remove(netpol_engine::model::ENFORCEMENT_ANNOTATION)?;
        Some(
            [(
                netpol_engine::model::ENFORCEMENT_ANNOTATION.to_owned(),
                value,
            )]
            .into(),
        )
    });
    meta.finalizers = None;
    // Only the controller names the pod's workload (impact groups flows by workload).
    if let Some(owners) = &mut meta.owner_references {
        owners.retain(|o| o.controller == Some(true));
        for owner in owners.iter_mut() {
            owner.uid = String::new();
        }
    }
}

/// Kinds trimmed in their box, so that trimming an engine object reuses its allocation.
trait Trim {
    fn trim(&mut self);
}

impl<T: Trim> Trim for Box<T> {
    fn trim(&mut self) {
        (**self).trim()
    }
}

impl Trim for Pod {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata);
        self.spec = self.spec.take().map(|spec| PodSpec {
            host_network: spec.host_network,
            node_name: spec.node_name,
            containers: spec
                .containers
                .into_iter()
                .map(|c| Container {
                    name: c.name,
                    ports: c.ports,
                    ..Container::default()
                })
                .collect(),
            ..PodSpec::default()
        });
        self.status = self.status.take().map(|status| PodStatus {
            host_ip: status.host_ip,
            phase: status.phase,
            pod_ip: status.pod_ip,
            pod_ips: status.pod_ips,
            ..PodStatus::default()
        });
    }
}

impl Trim for Namespace {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata);
        self.spec = None;
        self.status = None;
    }
}

impl Trim for Node {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata);
        self.spec = None;
        self.status = self.status.take().map(|status| NodeStatus {
            addresses: status.addresses,
            ..NodeStatus::default()
        });
    }
}

impl Trim for NetworkPolicy {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata);
    }
}

macro_rules! admin_trim {
    ($($kind:ty),*) => {$(
        impl Trim for $kind {
            fn trim(&mut self) {
                trim_meta(&mut self.metadata);
                self.status = None;
            }
        }
    )*};
}
admin_trim!(
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy
);

macro_rules! cached {
    ($($kind:ident),*) => {$(
        impl Cached for $kind {
            const KIND: ObjectKind = ObjectKind::$kind;
            fn into_object(mut self) -> Object {
                self.trim();
                Object::$kind(Box::new(self))
            }
        }

        impl IntoTrimmed for Box<$kind> {
            fn into_object(mut self) -> Object {
                self.trim();
                Object::$kind(self)
            }
        }
    )*};
}
cached!(
    Pod,
    Namespace,
    Node,
    NetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy
);

/// A boxed engine object trimmed in place.
trait IntoTrimmed {
    fn into_object(self) -> Object;
}
