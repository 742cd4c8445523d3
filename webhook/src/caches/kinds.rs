//! The kinds the caches hold, and what of each the engine needs: everything else (managed
//! fields, annotations, container images, volumes, most of the status) is dropped on arrival,
//! which keeps a 150,000-pod cache small.

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

fn trim_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.annotations = None;
}

impl Cached for Pod {
    const KIND: ObjectKind = ObjectKind::Pod;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.spec = self.spec.map(|spec| PodSpec {
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
        self.status = self.status.map(|status| PodStatus {
            host_ip: status.host_ip,
            phase: status.phase,
            pod_ip: status.pod_ip,
            pod_ips: status.pod_ips,
            ..PodStatus::default()
        });
        Object::Pod(Box::new(self))
    }
}

impl Cached for Namespace {
    const KIND: ObjectKind = ObjectKind::Namespace;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.spec = None;
        self.status = None;
        Object::Namespace(Box::new(self))
    }
}

impl Cached for Node {
    const KIND: ObjectKind = ObjectKind::Node;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.spec = None;
        self.status = self.status.map(|status| NodeStatus {
            addresses: status.addresses,
            ..NodeStatus::default()
        });
        Object::Node(Box::new(self))
    }
}

impl Cached for NetworkPolicy {
    const KIND: ObjectKind = ObjectKind::NetworkPolicy;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        Object::NetworkPolicy(Box::new(self))
    }
}

impl Cached for AdminNetworkPolicy {
    const KIND: ObjectKind = ObjectKind::AdminNetworkPolicy;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.status = None;
        Object::AdminNetworkPolicy(Box::new(self))
    }
}

impl Cached for BaselineAdminNetworkPolicy {
    const KIND: ObjectKind = ObjectKind::BaselineAdminNetworkPolicy;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.status = None;
        Object::BaselineAdminNetworkPolicy(Box::new(self))
    }
}

impl Cached for ClusterNetworkPolicy {
    const KIND: ObjectKind = ObjectKind::ClusterNetworkPolicy;
    fn into_object(mut self) -> Object {
        trim_meta(&mut self.metadata);
        self.status = None;
        Object::ClusterNetworkPolicy(Box::new(self))
    }
}
