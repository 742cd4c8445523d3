//! Compiled policies of every tier.

use serde::{Deserialize, Serialize};

use super::{IpBlock, PortMatch};
use crate::selector::Selector;

/// Which API a policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    NetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy,
}

impl PolicyKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::NetworkPolicy => "NetworkPolicy",
            Self::AdminNetworkPolicy => "AdminNetworkPolicy",
            Self::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            Self::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }
}

/// Names one policy object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyRef {
    pub kind: PolicyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.name(), self.name),
            None => write!(f, "{} {}", self.kind.name(), self.name),
        }
    }
}

/// The annotation that puts a policy of any kind in audit mode.
pub const ENFORCEMENT_ANNOTATION: &str = "netpol.io/enforcement";

/// Whether a policy takes part in verdicts. An audited policy (`netpol.io/enforcement: audit`)
/// does not: the state is enforced without it, and evaluated with it too, so that what it would
/// change is reported before anyone depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Enforce,
    Audit,
}

impl Enforcement {
    /// The enforcement an object's annotations ask for: `audit`, else enforced. A value that is
    /// neither `audit` nor `enforce` is enforced (the safe reading); lint reports it.
    pub fn of(annotations: Option<&std::collections::BTreeMap<String, String>>) -> Self {
        match annotations.and_then(|a| a.get(ENFORCEMENT_ANNOTATION)) {
            Some(value) if value.trim().eq_ignore_ascii_case("audit") => Self::Audit,
            _ => Self::Enforce,
        }
    }

    /// Whether a value of the annotation is one netpol reads.
    pub fn is_known(value: &str) -> bool {
        ["audit", "enforce"]
            .iter()
            .any(|v| value.trim().eq_ignore_ascii_case(v))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

/// The admin tiers: Admin before NetworkPolicy, Baseline after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AdminTier {
    Admin,
    Baseline,
}

/// A rule action; ANP/BANP `Allow` is `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Action {
    Accept,
    Deny,
    Pass,
}

/// The pods an admin policy applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Subject {
    Namespaces(Selector),
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
}

/// An ANP, BANP or CNP, in one form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AdminPolicy {
    pub id: PolicyRef,
    pub tier: AdminTier,
    /// None for the BaselineAdminNetworkPolicy, which has no priority.
    pub priority: Option<u32>,
    pub subject: Subject,
    pub ingress: Vec<AdminRule>,
    pub egress: Vec<AdminRule>,
    pub enforcement: Enforcement,
}

impl AdminPolicy {
    pub fn rules(&self, direction: Direction) -> &[AdminRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AdminRule {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: Action,
    pub peers: Vec<AdminPeer>,
    /// None matches every port and protocol.
    pub ports: Option<Vec<PortMatch>>,
}

/// The other end of an admin rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdminPeer {
    Namespaces(Selector),
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
    /// The addresses of matching nodes (egress only).
    Nodes(Selector),
    /// CIDRs; they match pod addresses too (egress only).
    Networks(Vec<IpBlock>),
    /// FQDNs; resolving them needs DNS, so offline they never match an address.
    DomainNames(Vec<String>),
}

/// A namespaced NetworkPolicy (networking.k8s.io/v1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NetworkPolicy {
    pub id: PolicyRef,
    pub namespace: String,
    pub pod_selector: Selector,
    /// None when the policy does not affect ingress (policyTypes, or their defaulting).
    pub ingress: Option<Vec<NetRule>>,
    pub egress: Option<Vec<NetRule>>,
    /// True when policyTypes was omitted and derived from the rules present.
    pub policy_types_defaulted: bool,
    pub enforcement: Enforcement,
}

impl NetworkPolicy {
    pub fn rules(&self, direction: Direction) -> Option<&[NetRule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NetRule {
    pub index: usize,
    /// None (or absent in the object) matches every peer.
    pub peers: Option<Vec<NetPeer>>,
    /// Empty matches every port.
    pub ports: Vec<PortMatch>,
}

/// The other end of a NetworkPolicy rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NetPeer {
    /// Pods by label; `namespaces: None` means the policy's own namespace.
    Pods {
        namespaces: Option<Selector>,
        pods: Selector,
    },
    IpBlock(IpBlock),
}
