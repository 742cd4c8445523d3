//! Namespaces, nodes and pods as the engine sees them.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::Protocol;
use crate::load::WorkloadKind;
use crate::selector::Labels;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Namespace {
    pub name: String,
    /// Includes `kubernetes.io/metadata.name`, which the API server sets on every namespace.
    pub labels: Labels,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// InternalIP and ExternalIP addresses: what a `nodes` peer matches.
    pub addresses: Vec<IpAddr>,
}

/// A container port that named-port rules can resolve.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// The controller a pod belongs to (or whose template it stands for).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

/// A pod, or the pod template of a workload that has no pods in the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// Shared between pods with the same labels (replicas of one workload): a 150,000-pod
    /// cluster has far fewer distinct label sets.
    pub labels: Arc<Labels>,
    /// Pod IPs, primary first; empty for templates and pending pods.
    pub ips: Vec<IpAddr>,
    pub node: Option<String>,
    /// Host-network pods share the node's addresses; policies never select them as pods.
    pub host_network: bool,
    /// Named container ports, sorted.
    pub ports: Vec<ContainerPort>,
    pub workload: Option<WorkloadRef>,
    /// True when this endpoint stands for a workload's pod template, not a running pod.
    pub template: bool,
}

impl Pod {
    /// Resolves a named port on this pod: the container port with that name, and with that
    /// protocol when one is given.
    pub fn named_port(&self, name: &str, protocol: Option<Protocol>) -> Option<&ContainerPort> {
        self.ports
            .iter()
            .find(|p| p.name == name && protocol.is_none_or(|proto| proto == p.protocol))
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
