//! AdminNetworkPolicy and BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1
//! (network-policy-api v0.1.x, experimental channel: a superset of standard).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LabelSelector, PolicyStatus};

/// Rules whose peers are `networks` or `nodes` cannot name ports: those peers have no pods.
const NO_NAMED_PORT_WITH_IP_PEERS: &str = "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes) || has(peer.domainNames)) && has(self.ports) && self.ports.exists(port, has(port.namedPort)))";
const NO_NAMED_PORT_WITH_IP_PEERS_BANP: &str = "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes)) && has(self.ports) && self.ports.exists(port, has(port.namedPort)))";
const NAMED_PORT_MESSAGE: &str = "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames";
const NAMED_PORT_MESSAGE_BANP: &str = "networks/nodes peer cannot be set with namedPorts since there are no namedPorts for networks/nodes";

/// Cluster-scoped policy of the Admin tier, evaluated before NetworkPolicy.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1alpha1",
    kind = "AdminNetworkPolicy",
    plural = "adminnetworkpolicies",
    shortname = "anp",
    status = "PolicyStatus",
    printcolumn(json_path = ".spec.priority", name = "Priority", type_ = "string"),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicySpec {
    /// Lower numbers are evaluated first; 0 is the highest precedence.
    #[schemars(range(min = 0, max = 1000))]
    pub priority: i32,
    /// The pods (or namespaces of pods) the policy applies to.
    pub subject: AdminNetworkPolicySubject,
    /// Ingress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub ingress: Option<Vec<AdminNetworkPolicyIngressRule>>,
    /// Egress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub egress: Option<Vec<AdminNetworkPolicyEgressRule>>,
}

/// Cluster-wide default policy, evaluated after NetworkPolicy; a singleton named `default`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1alpha1",
    kind = "BaselineAdminNetworkPolicy",
    plural = "baselineadminnetworkpolicies",
    shortname = "banp",
    status = "PolicyStatus",
    printcolumn(json_path = ".metadata.creationTimestamp", name = "Age", type_ = "date"),
    validation = kube::core::Rule::new("self.metadata.name == 'default'").message(
        "Only one baseline admin network policy with metadata.name=\"default\" can be created in the cluster"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicySpec {
    /// The pods (or namespaces of pods) the policy applies to.
    pub subject: AdminNetworkPolicySubject,
    /// Ingress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub ingress: Option<Vec<BaselineAdminNetworkPolicyIngressRule>>,
    /// Egress rules, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub egress: Option<Vec<BaselineAdminNetworkPolicyEgressRule>>,
}

/// Exactly one of `namespaces` or `pods`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct AdminNetworkPolicySubject {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// The pods this selects, in the namespaces its namespace selector selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// Pods selected by label inside namespaces selected by label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    /// Which namespaces; empty selects all.
    pub namespace_selector: LabelSelector,
    /// Which pods in them; empty selects all.
    pub pod_selector: LabelSelector,
}

/// The action of an AdminNetworkPolicy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AdminNetworkPolicyRuleAction {
    Allow,
    Deny,
    Pass,
}

/// The action of a BaselineAdminNetworkPolicy rule: no Pass in the last tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BaselineAdminNetworkPolicyRuleAction {
    Allow,
    Deny,
}

/// An ingress rule of an AdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyIngressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: AdminNetworkPolicyRuleAction,
    /// Sources the rule matches (any of them).
    #[schemars(length(min = 1, max = 100))]
    pub from: Vec<AdminNetworkPolicyIngressPeer>,
    /// Destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// An egress rule of an AdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": NO_NAMED_PORT_WITH_IP_PEERS, "message": NAMED_PORT_MESSAGE}]))]
pub struct AdminNetworkPolicyEgressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: AdminNetworkPolicyRuleAction,
    /// Destinations the rule matches (any of them).
    #[schemars(length(min = 1, max = 100))]
    pub to: Vec<AdminNetworkPolicyEgressPeer>,
    /// Destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// An ingress rule of the BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicyIngressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: BaselineAdminNetworkPolicyRuleAction,
    /// Sources the rule matches (any of them).
    #[schemars(length(min = 1, max = 100))]
    pub from: Vec<AdminNetworkPolicyIngressPeer>,
    /// Destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// An egress rule of the BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": NO_NAMED_PORT_WITH_IP_PEERS_BANP, "message": NAMED_PORT_MESSAGE_BANP}]))]
pub struct BaselineAdminNetworkPolicyEgressRule {
    /// A name for the rule, shown in walkthroughs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// What happens to matching traffic.
    pub action: BaselineAdminNetworkPolicyRuleAction,
    /// Destinations the rule matches (any of them).
    #[schemars(length(min = 1, max = 100))]
    pub to: Vec<BaselineAdminNetworkPolicyEgressPeer>,
    /// Destination ports the rule matches; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// Exactly one source kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct AdminNetworkPolicyIngressPeer {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Selected pods in selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// Exactly one destination kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct AdminNetworkPolicyEgressPeer {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Selected pods in selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// The addresses of the nodes this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// IP ranges in CIDR form; they match pod addresses too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25), extend("x-kubernetes-list-type" = "set"))]
    pub networks: Option<Vec<super::Cidr>>,
    /// DNS names (a leading `*.` matches one label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25), extend("x-kubernetes-list-type" = "set"))]
    pub domain_names: Option<Vec<super::DomainName>>,
}

/// Exactly one destination kind (no domain names in the baseline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct BaselineAdminNetworkPolicyEgressPeer {
    /// All pods of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Selected pods in selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// The addresses of the nodes this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// IP ranges in CIDR form; they match pod addresses too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25), extend("x-kubernetes-list-type" = "set"))]
    pub networks: Option<Vec<super::Cidr>>,
}

/// Exactly one way to name destination ports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct AdminNetworkPolicyPort {
    /// One port and protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_number: Option<PortNumber>,
    /// A container port name, resolved on the destination pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_port: Option<String>,
    /// An inclusive range of ports and a protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_range: Option<PortRange>,
}

/// One port and protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
// Upstream requires `protocol` and defaults it too (the default fills it in before validation);
// schemars leaves a field with a serde default out of `required`, so the list is spelled out.
#[schemars(extend("required" = ["port", "protocol"]))]
pub struct PortNumber {
    /// TCP, UDP or SCTP.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// An inclusive range of ports and a protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PortRange {
    /// TCP, UDP or SCTP.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// First port of the range.
    #[schemars(range(min = 1, max = 65535))]
    pub start: i32,
    /// Last port of the range.
    #[schemars(range(min = 1, max = 65535))]
    pub end: i32,
}

fn default_protocol() -> String {
    "TCP".to_owned()
}
