//! Whether a peer or a port list matches the other end of a flow.

use std::net::IpAddr;

use crate::cluster::{NodeId, PodId};
use crate::engine::Engine;
use crate::eval::Endpoint;
use crate::model::{AdminPeer, NetPeer, NetworkPolicy, Pod, PortMatch, Protocol};

/// The other end of a flow as peers see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote<'a> {
    /// A pod on the pod network; host-network pods are never matched as pods.
    pub pod: Option<(PodId, &'a Pod)>,
    pub ip: Option<IpAddr>,
    /// The node, when the address is a node's (including host-network pods).
    pub node: Option<NodeId>,
}

/// A peer either matches, does not, or cannot be decided offline (domain names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerMatch {
    Yes,
    No,
    DomainNames,
}

impl Engine {
    /// The node an endpoint stands on when it is not a pod on the pod network: a host-network
    /// pod's node, or the node an address belongs to. `nodes` peers see this node, and the
    /// own-node rule compares it with the subject's: a flow with such an end can get different
    /// answers for pods of one identity on different nodes.
    pub(crate) fn node_of(&self, endpoint: Endpoint) -> Option<NodeId> {
        self.remote(endpoint).node
    }

    /// Whether `node_of` finds a node for this endpoint, without building the remote (and
    /// without reading the pod): the verdict cache asks it on every lookup.
    pub(crate) fn on_node(&self, endpoint: Endpoint) -> bool {
        let on_node = match endpoint {
            Endpoint::Pod(id) => {
                self.identities()[self.identity_of(id) as usize].host_network
                    && self.cluster.pod_node[id as usize].is_some()
            }
            Endpoint::Address(ip) => {
                self.cluster.node_by_ip(&ip).is_some() && self.cluster.pod_by_ip(&ip).is_none()
            }
        };
        debug_assert_eq!(on_node, self.node_of(endpoint).is_some());
        on_node
    }

    /// The subject's node, when the other end of the flow is on it (one of the node's addresses,
    /// or a host-network pod there). The one place that decides "the pod's own node".
    pub(crate) fn own_node(&self, subject: PodId, remote: &Remote) -> Option<NodeId> {
        remote
            .node
            .filter(|node| self.cluster.pod_node[subject as usize] == Some(*node))
    }

    pub(crate) fn admin_peer_matches(&self, peer: &AdminPeer, remote: &Remote) -> PeerMatch {
        let yes = |b: bool| if b { PeerMatch::Yes } else { PeerMatch::No };
        match peer {
            AdminPeer::Namespaces(ns) => yes(remote
                .pod
                .is_some_and(|(id, _)| ns.matches(self.cluster.namespace_labels(id)))),
            AdminPeer::Pods { namespaces, pods } => yes(remote.pod.is_some_and(|(id, pod)| {
                namespaces.matches(self.cluster.namespace_labels(id)) && pods.matches(&pod.labels)
            })),
            AdminPeer::Nodes(nodes) => yes(remote
                .node
                .is_some_and(|n| nodes.matches(&self.cluster.nodes[n as usize].labels))),
            AdminPeer::Networks(blocks) => yes(remote
                .ip
                .is_some_and(|ip| blocks.iter().any(|b| b.contains(&ip)))),
            AdminPeer::DomainNames(_) => PeerMatch::DomainNames,
        }
    }

    pub(crate) fn net_peer_matches(
        &self,
        policy: &NetworkPolicy,
        peer: &NetPeer,
        remote: &Remote,
    ) -> bool {
        match peer {
            NetPeer::Pods { namespaces, pods } => remote.pod.is_some_and(|(id, pod)| {
                let namespace_ok = match namespaces {
                    None => pod.namespace == policy.namespace,
                    Some(ns) => ns.matches(self.cluster.namespace_labels(id)),
                };
                namespace_ok && pods.matches(&pod.labels)
            }),
            NetPeer::IpBlock(block) => remote.ip.is_some_and(|ip| block.contains(&ip)),
        }
    }
}

/// Whether a rule's ports admit the flow; named ports resolve on the destination pod.
pub(crate) fn ports_match(
    ports: Option<&[PortMatch]>,
    destination: Option<&Pod>,
    protocol: Protocol,
    port: u16,
) -> bool {
    let Some(ports) = ports else { return true };
    ports.iter().any(|p| match p {
        PortMatch::Named {
            name,
            protocol: wanted,
        } => destination.is_some_and(|pod| {
            pod.ports.iter().any(|cp| {
                cp.name == *name
                    && cp.protocol == protocol
                    && cp.port == port
                    && wanted.is_none_or(|w| w == protocol)
            })
        }),
        numeric => numeric.matches_number(protocol, port),
    })
}

/// NetworkPolicy: an empty port list matches every port.
pub(crate) fn net_ports_match(
    ports: &[PortMatch],
    destination: Option<&Pod>,
    protocol: Protocol,
    port: u16,
) -> bool {
    ports.is_empty() || ports_match(Some(ports), destination, protocol, port)
}
