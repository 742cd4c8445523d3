//! NetworkPolicy (networking.k8s.io/v1) into the model, with the API server's validation rules.

use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::rules::{
    EXCEPT_OUTSIDE_CIDR, INVALID_CIDR, INVALID_END_PORT, INVALID_PEER, INVALID_POLICY_TYPE,
    INVALID_PORT, INVALID_PORT_NAME, INVALID_PROTOCOL, PORT_RANGE_INVERTED,
};
use super::{CompileError, Problems, parse_cidr, port_number, syntax};
use crate::model::{
    Enforcement, IpBlock, NetPeer, NetRule, NetworkPolicy, PolicyKind, PolicyRef, PortMatch,
    Protocol,
};
use crate::selector::Selector;

pub fn compile_network_policy(
    raw: &net::NetworkPolicy,
) -> Result<NetworkPolicy, Vec<CompileError>> {
    let namespace = raw.metadata.namespace.clone().unwrap_or_default();
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("NetworkPolicy {namespace}/{name}"));
    problems.name(&name);
    let spec = raw.spec.clone().unwrap_or_default();
    let pod_selector = spec
        .pod_selector
        .as_ref()
        .map(|s| problems.k8s_selector("spec.podSelector", s))
        .unwrap_or_default();

    // Defaulting as the API server does: Ingress always, Egress when egress rules exist.
    let (mut affects_ingress, mut affects_egress) = (false, false);
    let policy_types_defaulted = spec.policy_types.as_ref().is_none_or(Vec::is_empty);
    if policy_types_defaulted {
        affects_ingress = true;
        affects_egress = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
    } else {
        let types = spec.policy_types.as_deref().unwrap_or_default();
        if types.len() > 2 {
            problems.push(
                &INVALID_POLICY_TYPE,
                "spec.policyTypes",
                format!("{} entries: at most two policyTypes", types.len()),
            );
        }
        for (i, t) in types.iter().enumerate() {
            match t.as_str() {
                "Ingress" => affects_ingress = true,
                "Egress" => affects_egress = true,
                other => problems.push(
                    &INVALID_POLICY_TYPE,
                    format!("spec.policyTypes[{i}]"),
                    format!("unknown policy type {other:?} (want Ingress or Egress)"),
                ),
            }
        }
    }

    let ingress = spec.ingress.unwrap_or_default();
    let ingress_rules: Vec<NetRule> = ingress
        .iter()
        .enumerate()
        .map(|(i, r)| {
            rule(
                &mut problems,
                &format!("spec.ingress[{i}]"),
                "from",
                i,
                r.from.as_deref(),
                r.ports.as_deref(),
            )
        })
        .collect();
    let egress = spec.egress.unwrap_or_default();
    let egress_rules: Vec<NetRule> = egress
        .iter()
        .enumerate()
        .map(|(i, r)| {
            rule(
                &mut problems,
                &format!("spec.egress[{i}]"),
                "to",
                i,
                r.to.as_deref(),
                r.ports.as_deref(),
            )
        })
        .collect();

    let policy = NetworkPolicy {
        id: PolicyRef {
            kind: PolicyKind::NetworkPolicy,
            namespace: Some(namespace.clone()),
            name,
        },
        namespace,
        pod_selector,
        ingress: affects_ingress.then_some(ingress_rules),
        egress: affects_egress.then_some(egress_rules),
        policy_types_defaulted,
        enforcement: Enforcement::of(raw.metadata.annotations.as_ref()),
    };
    problems.finish(policy)
}

fn rule(
    problems: &mut Problems,
    path: &str,
    peers_field: &str,
    index: usize,
    peers: Option<&[net::NetworkPolicyPeer]>,
    ports: Option<&[net::NetworkPolicyPort]>,
) -> NetRule {
    // An absent or empty peer list matches all peers.
    let peers = peers.filter(|p| !p.is_empty()).map(|peers| {
        peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| peer(problems, &format!("{path}.{peers_field}[{i}]"), p))
            .collect()
    });
    let ports = ports
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, p)| port(problems, &format!("{path}.ports[{i}]"), p))
        .collect();
    NetRule {
        index,
        peers,
        ports,
    }
}

fn peer(problems: &mut Problems, path: &str, raw: &net::NetworkPolicyPeer) -> Option<NetPeer> {
    if let Some(block) = &raw.ip_block {
        if raw.pod_selector.is_some() || raw.namespace_selector.is_some() {
            problems.push(
                &INVALID_PEER,
                path,
                "ipBlock cannot be combined with podSelector or namespaceSelector",
            );
            return None;
        }
        return ip_block(problems, &format!("{path}.ipBlock"), block).map(NetPeer::IpBlock);
    }
    if raw.pod_selector.is_none() && raw.namespace_selector.is_none() {
        problems.push(
            &INVALID_PEER,
            path,
            "a peer needs podSelector, namespaceSelector or ipBlock",
        );
        return None;
    }
    let namespaces = raw
        .namespace_selector
        .as_ref()
        .map(|s| problems.k8s_selector(&format!("{path}.namespaceSelector"), s));
    let pods = raw
        .pod_selector
        .as_ref()
        .map(|s| problems.k8s_selector(&format!("{path}.podSelector"), s))
        .unwrap_or_else(Selector::everything);
    Some(NetPeer::Pods { namespaces, pods })
}

fn ip_block(problems: &mut Problems, path: &str, raw: &net::IPBlock) -> Option<IpBlock> {
    let cidr = match parse_cidr(&raw.cidr) {
        Ok(c) => c,
        Err(message) => {
            problems.push(&INVALID_CIDR, format!("{path}.cidr"), message);
            return None;
        }
    };
    let mut except = Vec::new();
    for (i, text) in raw.except.iter().flatten().enumerate() {
        let field = format!("{path}.except[{i}]");
        match parse_cidr(text) {
            // A strict subset: inside the block and longer than its prefix.
            Ok(e) if cidr.contains(&e) && e.prefix_len() > cidr.prefix_len() => except.push(e),
            Ok(e) if e == cidr => problems.push(
                &EXCEPT_OUTSIDE_CIDR,
                field,
                format!("except {e} equals the cidr: it must be a strict subset of it"),
            ),
            Ok(e) => problems.push(
                &EXCEPT_OUTSIDE_CIDR,
                field,
                format!("except {e} is not inside cidr {cidr}: it must be a strict subset of it"),
            ),
            Err(message) => problems.push(&INVALID_CIDR, field, message),
        }
    }
    Some(IpBlock { cidr, except })
}

fn port(problems: &mut Problems, path: &str, raw: &net::NetworkPolicyPort) -> Option<PortMatch> {
    let protocol = match raw.protocol.as_deref() {
        None => Protocol::Tcp,
        Some(text) => match Protocol::parse(text) {
            Some(p) if text == p.as_str() => p,
            _ => {
                problems.push(
                    &INVALID_PROTOCOL,
                    format!("{path}.protocol"),
                    format!("unsupported protocol {text:?} (want TCP, UDP or SCTP)"),
                );
                return None;
            }
        },
    };
    match (&raw.port, raw.end_port) {
        (None, None) => Some(PortMatch::AllPorts { protocol }),
        (None, Some(_)) => {
            problems.push(
                &INVALID_END_PORT,
                format!("{path}.endPort"),
                "endPort needs port",
            );
            None
        }
        (Some(IntOrString::String(name)), end) => {
            if end.is_some() {
                problems.push(
                    &INVALID_END_PORT,
                    format!("{path}.endPort"),
                    "endPort needs a numeric port, not a named port",
                );
                return None;
            }
            if let Err(message) = syntax::port_name(name) {
                problems.push(&INVALID_PORT_NAME, format!("{path}.port"), message);
                return None;
            }
            Some(PortMatch::Named {
                name: name.clone(),
                protocol: Some(protocol),
            })
        }
        (Some(IntOrString::Int(number)), end) => {
            let start = match port_number(*number) {
                Ok(p) => p,
                Err(message) => {
                    problems.push(&INVALID_PORT, format!("{path}.port"), message);
                    return None;
                }
            };
            let Some(end) = end else {
                return Some(PortMatch::Port {
                    protocol,
                    port: start,
                });
            };
            match port_number(end) {
                Ok(end) if end >= start => Some(PortMatch::Range {
                    protocol,
                    start,
                    end,
                }),
                Ok(end) => {
                    problems.push(
                        &PORT_RANGE_INVERTED,
                        format!("{path}.endPort"),
                        format!("endPort {end} is below port {start}"),
                    );
                    None
                }
                Err(message) => {
                    problems.push(&INVALID_PORT, format!("{path}.endPort"), message);
                    None
                }
            }
        }
    }
}
