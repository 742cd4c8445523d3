//! Flows and their endpoints, and how users name endpoints (`ns/pod`, `ns/kind/name`, an IP).

use std::net::IpAddr;

use serde::Serialize;

use crate::cluster::PodId;
use crate::engine::Engine;
use crate::load::WorkloadKind;
use crate::model::Protocol;

/// One end of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Pod(PodId),
    /// An address: a pod IP (resolved to its pod), a node address, or outside the cluster.
    Address(IpAddr),
}

/// A connection attempt: source, destination, protocol and destination port (ignored for ICMP,
/// which has none; 0 by convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
    pub port: u16,
}

/// An endpoint as a user writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum EndpointSpec {
    Pod {
        namespace: String,
        name: String,
    },
    Workload {
        namespace: String,
        kind: WorkloadKind,
        name: String,
    },
    Address(IpAddr),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0:?} is not an endpoint: want namespace/pod, namespace/kind/name or an IP address")]
    Syntax(String),
    #[error(
        "unknown workload kind {kind:?} in {text:?} (want deployment, statefulset, daemonset, replicaset, job, cronjob or pod)"
    )]
    UnknownKind { text: String, kind: String },
    #[error("no pod {namespace}/{name}{}", hint(suggestions))]
    UnknownPod {
        namespace: String,
        name: String,
        suggestions: Vec<String>,
    },
    #[error("no {} {namespace}/{name} in the input{}", kind.name(), hint(suggestions))]
    UnknownWorkload {
        namespace: String,
        kind: WorkloadKind,
        name: String,
        suggestions: Vec<String>,
    },
    #[error("port 0 is not a destination port")]
    PortZero,
    #[error("port {0:?} is neither a number in 1-65535 nor a name")]
    PortSyntax(String),
    #[error("icmp has no port")]
    IcmpPort,
    #[error("a port is required (except for icmp)")]
    PortRequired,
    #[error("port {name:?} is a name, but {to} is not a pod: give a number")]
    NamedPortNotOnPod { name: String, to: String },
    #[error(
        "{to} has no container port named {name:?}; it has {}",
        have_ports(have)
    )]
    UnknownNamedPort {
        name: String,
        to: String,
        have: Vec<String>,
    },
}

fn have_ports(have: &[String]) -> String {
    if have.is_empty() {
        "no named ports".to_owned()
    } else {
        have.join(", ")
    }
}

fn hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(" or "))
    }
}

impl std::str::FromStr for EndpointSpec {
    type Err = ResolveError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Address(ip));
        }
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ResolveError::Syntax(text.to_owned()));
        }
        match parts.as_slice() {
            [namespace, name] => Ok(Self::Pod {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            }),
            [namespace, kind, name] if is_pod_kind(kind) => Ok(Self::Pod {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            }),
            [namespace, kind, name] => match WorkloadKind::parse(kind) {
                Some(kind) => Ok(Self::Workload {
                    namespace: (*namespace).to_owned(),
                    kind,
                    name: (*name).to_owned(),
                }),
                None => Err(ResolveError::UnknownKind {
                    text: text.to_owned(),
                    kind: (*kind).to_owned(),
                }),
            },
            _ => Err(ResolveError::Syntax(text.to_owned())),
        }
    }
}

impl EndpointSpec {
    /// Parses an endpoint whose namespace may be left out, as kubectl takes names with `-n`:
    /// `pod` and `kind/name` (`deployment/web`, `pod/a`) are in `namespace`. Two parts whose
    /// first is not a workload kind are `namespace/pod`, as without a default.
    pub fn parse_in(text: &str, namespace: &str) -> Result<Self, ResolveError> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [name] if !name.is_empty() && name.parse::<IpAddr>().is_err() => Ok(Self::Pod {
                namespace: namespace.to_owned(),
                name: (*name).to_owned(),
            }),
            [kind, name]
                if !name.is_empty()
                    && (is_pod_kind(kind) || WorkloadKind::parse(kind).is_some()) =>
            {
                format!("{namespace}/{kind}/{name}").parse()
            }
            _ => text.parse(),
        }
    }
}

fn is_pod_kind(kind: &str) -> bool {
    matches!(kind.to_ascii_lowercase().as_str(), "pod" | "pods" | "po")
}

impl std::fmt::Display for EndpointSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Self::Workload {
                namespace,
                kind,
                name,
            } => {
                write!(f, "{namespace}/{}/{name}", kind.name().to_ascii_lowercase())
            }
            Self::Address(ip) => write!(f, "{ip}"),
        }
    }
}

impl Engine {
    /// Resolves a user's endpoint; a workload stands for its first pod by name (its pods share
    /// a template, so policies treat them alike unless their addresses differ).
    pub fn resolve(&self, spec: &EndpointSpec) -> Result<Endpoint, ResolveError> {
        match spec {
            EndpointSpec::Address(ip) => Ok(Endpoint::Address(*ip)),
            EndpointSpec::Pod { namespace, name } => self
                .cluster
                .pod_by_name(namespace, name)
                .map(Endpoint::Pod)
                .ok_or_else(|| ResolveError::UnknownPod {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    suggestions: self.cluster.similar_pods(namespace, name, 3),
                }),
            EndpointSpec::Workload {
                namespace,
                kind,
                name,
            } => self
                .cluster
                .workload_pods(namespace, *kind, name)
                .and_then(|pods| pods.first().copied())
                .map(Endpoint::Pod)
                .ok_or_else(|| ResolveError::UnknownWorkload {
                    namespace: namespace.clone(),
                    kind: *kind,
                    name: name.clone(),
                    suggestions: self.cluster.similar_workloads(namespace, *kind, name, 3),
                }),
        }
    }

    /// A pod's primary address resolves to the pod; a secondary address (dual stack) stays an
    /// address, so that CIDR rules see the address the flow uses; the rest stays an address.
    pub fn normalize(&self, endpoint: Endpoint) -> Endpoint {
        match endpoint {
            Endpoint::Address(ip) => match self.cluster.pod_by_ip(&ip) {
                Some(id) if self.cluster.pod(id).ips.first() == Some(&ip) => Endpoint::Pod(id),
                _ => endpoint,
            },
            pod => pod,
        }
    }

    /// How an endpoint is shown in walkthroughs.
    pub fn describe(&self, endpoint: Endpoint) -> String {
        match endpoint {
            Endpoint::Pod(id) => self.cluster.pod(id).key(),
            Endpoint::Address(ip) if self.cluster.pod_by_ip(&ip).is_some() => {
                let pod = self
                    .cluster
                    .pod_by_ip(&ip)
                    .map(|id| self.cluster.pod(id).key())
                    .unwrap_or_default();
                format!("{pod} ({ip})")
            }
            Endpoint::Address(ip) => match self.cluster.node_by_ip(&ip) {
                Some(node) => format!("{ip} (node {})", self.cluster.nodes[node as usize].name),
                None => ip.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_a_namespace_take_the_default() {
        let pod = |ns: &str, name: &str| EndpointSpec::Pod {
            namespace: ns.into(),
            name: name.into(),
        };
        let deployment = |ns: &str, name: &str| EndpointSpec::Workload {
            namespace: ns.into(),
            kind: WorkloadKind::Deployment,
            name: name.into(),
        };
        let cases = [
            ("web-1", Ok(pod("shop", "web-1")), "a bare pod name"),
            ("pod/web-1", Ok(pod("shop", "web-1")), "pod/name"),
            ("deployment/web", Ok(deployment("shop", "web")), "kind/name"),
            ("deploy/web", Ok(deployment("shop", "web")), "a short kind"),
            (
                "bank/api",
                Ok(pod("bank", "api")),
                "namespace/pod as before",
            ),
            (
                "bank/deployment/api",
                Ok(deployment("bank", "api")),
                "fully named",
            ),
            (
                "10.0.0.1",
                Ok(EndpointSpec::Address("10.0.0.1".parse().unwrap())),
                "an address",
            ),
            ("", Err(()), "nothing"),
            ("deployment/", Err(()), "a kind without a name"),
        ];
        for (text, want, what) in cases {
            let got = EndpointSpec::parse_in(text, "shop").map_err(drop);
            assert_eq!(got, want, "{what}: {text:?}");
        }
    }

    #[test]
    fn unknown_workloads_suggest_the_nearest_names_same_namespace_first() {
        let workload = |kind: &str, ns: &str, name: &str| {
            format!(
                "---\napiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\n\
                 spec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n\
                 \x20   metadata: {{labels: {{app: {name}}}}}\n\
                 \x20   spec: {{containers: [{{name: c, image: i}}]}}\n"
            )
        };
        let text = [
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: bank}\n".to_owned(),
            workload("Deployment", "shop", "web"),
            workload("Deployment", "shop", "api"),
            workload("StatefulSet", "shop", "wbe-db-0"),
            workload("Deployment", "bank", "wbe"),
            workload("Deployment", "bank", "ledger"),
        ]
        .concat();
        let loaded = crate::read_str("workloads.yaml", &text, "default");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let engine = Engine::build(&crate::State::from_loaded(&loaded)).engine;
        let cases = [
            (
                "shop/deployment/wbe",
                "no Deployment shop/wbe in the input; did you mean shop/deployment/web or bank/deployment/wbe?",
                "a typo: the same namespace first, then the exact name elsewhere",
            ),
            (
                "shop/statefulset/web",
                "no StatefulSet shop/web in the input; did you mean shop/deployment/web or bank/deployment/wbe?",
                "the right name under another kind",
            ),
            (
                "bank/deployment/ledgr",
                "no Deployment bank/ledgr in the input; did you mean bank/deployment/ledger?",
                "one letter missing",
            ),
            (
                "shop/deployment/checkout",
                "no Deployment shop/checkout in the input",
                "nothing close: no suggestion",
            ),
        ];
        for (text, want, what) in cases {
            let spec: EndpointSpec = text.parse().unwrap();
            let got = engine.resolve(&spec).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_owned()), "{what}");
        }
    }
}
