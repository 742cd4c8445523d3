//! Namespaces, nodes, pods and workload templates.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;

use crate::load::Workload;
use crate::model::{ContainerPort, Namespace, Node, Pod, Protocol, WorkloadRef};
use crate::selector::Labels;

/// The label the API server puts on every namespace, which selectors commonly use.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub fn namespace(raw: &core::Namespace) -> Namespace {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut labels: Labels = raw.metadata.labels.clone().unwrap_or_default();
    labels.insert(NAMESPACE_NAME_LABEL.to_owned(), name.clone());
    Namespace { name, labels }
}

/// A namespace referenced by pods or policies but absent from the input.
pub fn implied_namespace(name: &str) -> Namespace {
    let labels = Labels::from([(NAMESPACE_NAME_LABEL.to_owned(), name.to_owned())]);
    Namespace {
        name: name.to_owned(),
        labels,
    }
}

pub fn node(raw: &core::Node) -> Node {
    let addresses = raw
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| a.address.parse::<IpAddr>().ok())
        .collect();
    Node {
        name: raw.metadata.name.clone().unwrap_or_default(),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
        addresses,
    }
}

pub fn pod(raw: &core::Pod) -> Pod {
    let spec = raw.spec.as_ref();
    let status = raw.status.as_ref();
    let mut ips: Vec<IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| p.ip.parse().ok())
        .collect();
    if ips.is_empty()
        && let Some(ip) = status
            .and_then(|s| s.pod_ip.as_ref())
            .and_then(|ip| ip.parse().ok())
    {
        ips.push(ip);
    }
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    if host_network
        && ips.is_empty()
        && let Some(ip) = status
            .and_then(|s| s.host_ip.as_ref())
            .and_then(|ip| ip.parse().ok())
    {
        ips.push(ip);
    }
    let template_hash = raw
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"));
    let workload = raw
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .and_then(|o| {
            let kind = crate::load::WorkloadKind::parse(&o.kind)?;
            // A ReplicaSet named <deployment>-<pod-template-hash> belongs to a Deployment.
            Some(match (kind, o.name.rsplit_once('-')) {
                (crate::load::WorkloadKind::ReplicaSet, Some((deployment, hash)))
                    if Some(&hash.to_owned()) == template_hash =>
                {
                    WorkloadRef {
                        kind: crate::load::WorkloadKind::Deployment,
                        name: deployment.to_owned(),
                    }
                }
                _ => WorkloadRef {
                    kind,
                    name: o.name.clone(),
                },
            })
        });
    Pod {
        namespace: raw.metadata.namespace.clone().unwrap_or_default(),
        name: raw.metadata.name.clone().unwrap_or_default(),
        labels: Arc::new(raw.metadata.labels.clone().unwrap_or_default()),
        ips,
        node: spec.and_then(|s| s.node_name.clone()),
        host_network,
        ports: spec.map(container_ports).unwrap_or_default(),
        workload,
        template: false,
    }
}

/// The endpoint a workload's pod template stands for, when none of its pods is in the input.
pub fn workload_template(raw: &Workload) -> Pod {
    let template = &raw.template;
    let meta = template.metadata.as_ref();
    let spec = template.spec.as_ref();
    let name = raw.metadata.name.clone().unwrap_or_default();
    Pod {
        namespace: raw.metadata.namespace.clone().unwrap_or_default(),
        name: format!("{}/{}", raw.kind.name().to_ascii_lowercase(), name),
        labels: Arc::new(meta.and_then(|m| m.labels.clone()).unwrap_or_default()),
        ips: Vec::new(),
        node: None,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        ports: spec.map(container_ports).unwrap_or_default(),
        workload: Some(WorkloadRef {
            kind: raw.kind,
            name,
        }),
        template: true,
    }
}

fn container_ports(spec: &core::PodSpec) -> Vec<ContainerPort> {
    let init = spec.init_containers.iter().flatten();
    let mut ports: Vec<ContainerPort> = spec
        .containers
        .iter()
        .chain(init)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let name = p.name.clone()?;
            let protocol = p
                .protocol
                .as_deref()
                .map_or(Some(Protocol::Tcp), Protocol::parse)?;
            let port = u16::try_from(p.container_port).ok()?;
            Some(ContainerPort {
                name,
                protocol,
                port,
            })
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports
}
