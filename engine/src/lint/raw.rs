//! A uniform view of the raw policy objects, for the checks that must see policies the engine
//! never compiled (an inverted port range rejects the whole policy) or fields compilation
//! discards (the text of each CIDR, where it sits).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::v1alpha1::{AdminNetworkPolicyPort, BaselineAdminNetworkPolicy};
use crate::api::v1alpha2::{ClusterNetworkPolicyProtocol, ClusterNetworkPolicyRuleAction};
use crate::api::{Cidr, DomainName};
use crate::load::{Object, ObjectKind};
use crate::model::Direction;
use crate::state::State;

pub(super) struct RawPolicy<'a> {
    /// `Kind namespace/name`.
    pub object: String,
    pub kind: ObjectKind,
    pub rules: Vec<RawRule<'a>>,
}

pub(super) struct RawRule<'a> {
    /// `spec.egress[0]`.
    pub path: String,
    /// The action as written; `None` for NetworkPolicy, whose rules only allow.
    pub action: Option<&'static str>,
    /// Only the peers that carry CIDRs or domain names.
    pub peers: Vec<RawPeer<'a>>,
    pub ranges: Vec<RawRange>,
}

pub(super) struct RawPeer<'a> {
    /// `spec.egress[0].to[1]`.
    pub path: String,
    /// Each CIDR with its path: `networks` entries, or an ipBlock's `cidr`.
    pub cidrs: Vec<(String, &'a str)>,
    /// An ipBlock's `except` entries with their paths.
    pub except: Vec<(String, &'a str)>,
    pub domain_names: Option<&'a [DomainName]>,
}

/// A port range as written.
pub(super) struct RawRange {
    pub path: String,
    pub start: i32,
    pub end: i32,
    /// ClusterNetworkPolicy requires start strictly below end.
    pub strict: bool,
}

pub(super) fn policies(state: &State) -> Vec<RawPolicy<'_>> {
    state
        .objects()
        .filter_map(|located| {
            let object = &located.object;
            let rules = match object {
                Object::NetworkPolicy(np) => network_policy(np),
                Object::AdminNetworkPolicy(p) => anp(p),
                Object::BaselineAdminNetworkPolicy(p) => banp(p),
                Object::ClusterNetworkPolicy(p) => cnp(p),
                _ => return None,
            };
            Some(RawPolicy {
                object: object.display_name(),
                kind: object.kind(),
                rules,
            })
        })
        .collect()
}

fn networks_peer<'a>(
    path: String,
    networks: Option<&'a [Cidr]>,
    domain_names: Option<&'a [DomainName]>,
) -> Option<RawPeer<'a>> {
    if networks.is_none() && domain_names.is_none() {
        return None;
    }
    let cidrs = networks
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{path}.networks[{i}]"), c.0.as_str()))
        .collect();
    Some(RawPeer {
        path,
        cidrs,
        except: Vec::new(),
        domain_names,
    })
}

fn network_policy(np: &k8s_openapi::api::networking::v1::NetworkPolicy) -> Vec<RawRule<'_>> {
    let Some(spec) = &np.spec else {
        return Vec::new();
    };
    let ingress = spec.ingress.iter().flatten().enumerate().map(|(i, r)| {
        (
            Direction::Ingress,
            i,
            "from",
            r.from.as_deref(),
            r.ports.as_deref(),
        )
    });
    let egress = spec.egress.iter().flatten().enumerate().map(|(i, r)| {
        (
            Direction::Egress,
            i,
            "to",
            r.to.as_deref(),
            r.ports.as_deref(),
        )
    });
    ingress
        .chain(egress)
        .map(|(direction, i, peers_field, peers, ports)| {
            let path = format!("spec.{}[{i}]", direction.as_str());
            let peers = peers
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(j, peer)| {
                    let block = peer.ip_block.as_ref()?;
                    let path = format!("{path}.{peers_field}[{j}]");
                    let except = block
                        .except
                        .iter()
                        .flatten()
                        .enumerate()
                        .map(|(k, e)| (format!("{path}.ipBlock.except[{k}]"), e.as_str()))
                        .collect();
                    Some(RawPeer {
                        cidrs: vec![(format!("{path}.ipBlock.cidr"), block.cidr.as_str())],
                        path,
                        except,
                        domain_names: None,
                    })
                })
                .collect();
            let ranges = ports
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(k, port)| match (&port.port, port.end_port) {
                    (Some(IntOrString::Int(start)), Some(end)) => Some(RawRange {
                        path: format!("{path}.ports[{k}]"),
                        start: *start,
                        end,
                        strict: false,
                    }),
                    _ => None,
                })
                .collect();
            RawRule {
                path,
                action: None,
                peers,
                ranges,
            }
        })
        .collect()
}

fn anp_ranges(path: &str, ports: Option<&[AdminNetworkPolicyPort]>) -> Vec<RawRange> {
    ports
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(k, port)| {
            let range = port.port_range.as_ref()?;
            Some(RawRange {
                path: format!("{path}.ports[{k}].portRange"),
                start: range.start,
                end: range.end,
                strict: false,
            })
        })
        .collect()
}

/// An admin policy's rules, ingress then egress, at their paths: `ingress` gives a rule's
/// action and port ranges, `egress` also its peers with CIDRs or domain names.
fn admin_rules<'a, I, E>(
    ingress: &'a Option<Vec<I>>,
    egress: &'a Option<Vec<E>>,
    ingress_rule: impl Fn(&'a I, &str) -> (&'static str, Vec<RawRange>),
    egress_rule: impl Fn(&'a E, &str) -> (&'static str, Vec<RawRange>, Vec<RawPeer<'a>>),
) -> Vec<RawRule<'a>> {
    let ingress = ingress.iter().flatten().enumerate().map(|(i, r)| {
        let path = format!("spec.ingress[{i}]");
        let (action, ranges) = ingress_rule(r, &path);
        RawRule {
            path,
            action: Some(action),
            peers: Vec::new(),
            ranges,
        }
    });
    let egress = egress.iter().flatten().enumerate().map(|(i, r)| {
        let path = format!("spec.egress[{i}]");
        let (action, ranges, peers) = egress_rule(r, &path);
        RawRule {
            path,
            action: Some(action),
            peers,
            ranges,
        }
    });
    ingress.chain(egress).collect()
}

/// The egress peers (`networks`, `domainNames`) of a rule at `path` that carry either.
fn egress_peers<'a>(
    path: &str,
    peers: impl Iterator<Item = (Option<&'a [Cidr]>, Option<&'a [DomainName]>)>,
) -> Vec<RawPeer<'a>> {
    peers
        .enumerate()
        .filter_map(|(j, (networks, domain_names))| {
            networks_peer(format!("{path}.to[{j}]"), networks, domain_names)
        })
        .collect()
}

fn anp(p: &crate::api::v1alpha1::AdminNetworkPolicy) -> Vec<RawRule<'_>> {
    use crate::api::v1alpha1::AdminNetworkPolicyRuleAction as A;
    let name = |a: A| match a {
        A::Allow => "Allow",
        A::Deny => "Deny",
        A::Pass => "Pass",
    };
    admin_rules(
        &p.spec.ingress,
        &p.spec.egress,
        |r, path| (name(r.action), anp_ranges(path, r.ports.as_deref())),
        |r, path| {
            let peers =
                r.to.iter()
                    .map(|peer| (peer.networks.as_deref(), peer.domain_names.as_deref()));
            (
                name(r.action),
                anp_ranges(path, r.ports.as_deref()),
                egress_peers(path, peers),
            )
        },
    )
}

fn banp(p: &BaselineAdminNetworkPolicy) -> Vec<RawRule<'_>> {
    use crate::api::v1alpha1::BaselineAdminNetworkPolicyRuleAction as A;
    let name = |a: A| match a {
        A::Allow => "Allow",
        A::Deny => "Deny",
    };
    admin_rules(
        &p.spec.ingress,
        &p.spec.egress,
        |r, path| (name(r.action), anp_ranges(path, r.ports.as_deref())),
        |r, path| {
            let peers = r.to.iter().map(|peer| (peer.networks.as_deref(), None));
            (
                name(r.action),
                anp_ranges(path, r.ports.as_deref()),
                egress_peers(path, peers),
            )
        },
    )
}

fn cnp_ranges(path: &str, protocols: Option<&[ClusterNetworkPolicyProtocol]>) -> Vec<RawRange> {
    protocols
        .unwrap_or_default()
        .iter()
        .enumerate()
        .flat_map(|(k, p)| {
            [("tcp", &p.tcp), ("udp", &p.udp), ("sctp", &p.sctp)]
                .into_iter()
                .filter_map(move |(field, ports)| {
                    let range = ports.as_ref()?.destination_port.as_ref()?.range.as_ref()?;
                    Some(RawRange {
                        path: format!("{path}.protocols[{k}].{field}.destinationPort.range"),
                        start: range.start,
                        end: range.end,
                        strict: true,
                    })
                })
        })
        .collect()
}

fn cnp(p: &crate::api::v1alpha2::ClusterNetworkPolicy) -> Vec<RawRule<'_>> {
    let name = |a: ClusterNetworkPolicyRuleAction| match a {
        ClusterNetworkPolicyRuleAction::Accept => "Accept",
        ClusterNetworkPolicyRuleAction::Deny => "Deny",
        ClusterNetworkPolicyRuleAction::Pass => "Pass",
    };
    admin_rules(
        &p.spec.ingress,
        &p.spec.egress,
        |r, path| (name(r.action), cnp_ranges(path, r.protocols.as_deref())),
        |r, path| {
            let peers =
                r.to.iter()
                    .map(|peer| (peer.networks.as_deref(), peer.domain_names.as_deref()));
            (
                name(r.action),
                cnp_ranges(path, r.protocols.as_deref()),
                egress_peers(path, peers),
            )
        },
    )
}
