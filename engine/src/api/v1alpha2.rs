//! ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2 (network-policy-api v0.2.x,
//! experimental channel: a superset of standard).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cidr, DomainName, LabelSelector, PolicyStatus, v1alpha1::NamespacedPod};

const NO_NAMED_PORT_WITH_IP_PEERS: &str = "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes) || has(peer.domainNames)) && has(self.protocols) && self.protocols.exists(protocol, has(protocol.destinationNamedPort)))";
const NAMED_PORT_MESSAGE: &str = "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames";

/// A cluster-wide policy in the Admin tier (before NetworkPolicy) or the Baseline tier (after it).
// Two printer columns of type "string" read to clippy as one attribute written twice.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1alpha2",
    kind = "ClusterNetworkPolicy",
    plural = "clusternetworkpolicies",
    shortname = "cnp",
    status = "PolicyStatus",
    printcolumn(json_path = ".spec.tier", name = "Tier", type_ = "string"),
    printcolumn(json_path = ".spec.priority", name = "Priority", type_ = "string"),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicySpec {
    /// Admin or Baseline.
    pub tier: Tier,
    /// Lower numbers are evaluated first within the tier.
    #[schemars(range(min = 0, max = 1000))]
    pub priority: i32,
    /// The pods (or namespaces of pods) the policy applies to.
    pub subject: ClusterNetworkPolicySubject,
    /// Ingress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25))]
    pub ingress: Option<Vec<ClusterNetworkPolicyIngressRule>>,
    /// Egress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 25))]
    pub egress: Option<Vec<ClusterNetworkPolicyEgressRule>>,
}

/// The tier a ClusterNetworkPolicy belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Tier {
    Admin,
    Baseline,
}

/// Exactly one of `namespaces` or `pods`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterNetworkPolicySubject {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// The pods this selects, in the namespaces its namespace selector selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsSelector>,
}

/// Pods by label in namespaces by label; a missing namespace selector selects all namespaces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodsSelector {
    /// Which namespaces; absent or empty selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Which pods in them; empty selects all.
    pub pod_selector: LabelSelector,
}

impl From<NamespacedPod> for PodsSelector {
    fn from(pod: NamespacedPod) -> Self {
        Self {
            namespace_selector: Some(pod.namespace_selector),
            pod_selector: pod.pod_selector,
        }
    }
}

/// The action of a ClusterNetworkPolicy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ClusterNetworkPolicyRuleAction {
    Accept,
    Deny,
    Pass,
}

/// An ingress rule of a ClusterNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyIngressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: ClusterNetworkPolicyRuleAction,
    /// Sources the rule matches (any of them).
    #[schemars(length(min = 1, max = 25))]
    pub from: Vec<ClusterNetworkPolicyIngressPeer>,
    /// Protocols and destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25))]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// An egress rule of a ClusterNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": NO_NAMED_PORT_WITH_IP_PEERS, "message": NAMED_PORT_MESSAGE}]))]
pub struct ClusterNetworkPolicyEgressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: ClusterNetworkPolicyRuleAction,
    /// Destinations the rule matches (any of them).
    #[schemars(length(min = 1, max = 25))]
    pub to: Vec<ClusterNetworkPolicyEgressPeer>,
    /// Protocols and destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25))]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// Exactly one source kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterNetworkPolicyIngressPeer {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Selected pods in selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsSelector>,
}

/// Exactly one destination kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterNetworkPolicyEgressPeer {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Selected pods in selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsSelector>,
    /// The addresses of the nodes this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// IP ranges in CIDR form; they match pod addresses too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25), extend("x-kubernetes-list-type" = "set"))]
    pub networks: Option<Vec<Cidr>>,
    /// DNS names (a leading `*.` matches one label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25), extend("x-kubernetes-list-type" = "set"))]
    pub domain_names: Option<Vec<DomainName>>,
}

/// Exactly one of a protocol with optional destination port, or a named port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ClusterNetworkPolicyProtocol {
    /// TCP, with an optional destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<ProtocolPorts>,
    /// UDP, with an optional destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<ProtocolPorts>,
    /// SCTP, with an optional destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sctp: Option<ProtocolPorts>,
    /// A container port name, resolved on the destination pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_named_port: Option<String>,
}

/// The destination port of one protocol.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1))]
pub struct ProtocolPorts {
    /// One port or a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<DestinationPort>,
}

/// Exactly one of a number or a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct DestinationPort {
    /// One port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub number: Option<i32>,
    /// An inclusive range, start below end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<DestinationPortRange>,
}

/// An inclusive port range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "self.start < self.end", "message": "Start port must be less than End port"}]))]
pub struct DestinationPortRange {
    /// First port of the range.
    #[schemars(range(min = 1, max = 65535))]
    pub start: i32,
    /// Last port of the range.
    #[schemars(range(min = 1, max = 65535))]
    pub end: i32,
}
