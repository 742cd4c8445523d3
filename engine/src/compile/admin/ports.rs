//! Admin policy ports: ANP/BANP `ports` and CNP `protocols`, each entry one kind of port, with
//! the CRD's limits (1-65535, at most 100 or 25 entries) and range order.

use crate::api::v1alpha1::AdminNetworkPolicyPort;
use crate::api::v1alpha2::ClusterNetworkPolicyProtocol;
use crate::compile::rules::{
    EXACTLY_ONE_FIELD, INVALID_PORT, INVALID_PROTOCOL, PORT_RANGE_INVERTED,
};
use crate::compile::{Problems, port_number};
use crate::model::{PortMatch, Protocol};

pub(super) fn anp_ports(
    problems: &mut Problems,
    rule_path: &str,
    raw: Option<&[AdminNetworkPolicyPort]>,
) -> Option<Vec<PortMatch>> {
    let raw = raw?;
    problems.length(&format!("{rule_path}.ports"), raw.len(), 1, 100);
    let ports = raw.iter().enumerate().filter_map(|(i, p)| {
        let path = format!("{rule_path}.ports[{i}]");
        match (&p.port_number, &p.named_port, &p.port_range) {
            (Some(n), None, None) => {
                let protocol = protocol(
                    problems,
                    &format!("{path}.portNumber.protocol"),
                    &n.protocol,
                )?;
                let port = port_number(n.port)
                    .map_err(|m| problems.push(&INVALID_PORT, format!("{path}.portNumber.port"), m))
                    .ok()?;
                Some(PortMatch::Port { protocol, port })
            }
            (None, Some(name), None) => Some(PortMatch::Named {
                name: name.clone(),
                protocol: None,
            }),
            (None, None, Some(r)) => {
                let protocol =
                    protocol(problems, &format!("{path}.portRange.protocol"), &r.protocol)?;
                range(
                    problems,
                    &format!("{path}.portRange"),
                    protocol,
                    r.start,
                    r.end,
                    true,
                )
            }
            _ => {
                problems.push(
                    &EXACTLY_ONE_FIELD,
                    path,
                    "exactly one of portNumber, namedPort or portRange must be set",
                );
                None
            }
        }
    });
    Some(ports.collect())
}

pub(super) fn cnp_protocols(
    problems: &mut Problems,
    rule_path: &str,
    raw: Option<&[ClusterNetworkPolicyProtocol]>,
) -> Option<Vec<PortMatch>> {
    let raw = raw?;
    problems.length(&format!("{rule_path}.protocols"), raw.len(), 1, 25);
    let ports = raw.iter().enumerate().filter_map(|(i, p)| {
        let path = format!("{rule_path}.protocols[{i}]");
        let set = [
            p.tcp.is_some(),
            p.udp.is_some(),
            p.sctp.is_some(),
            p.destination_named_port.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            problems.push(
                &EXACTLY_ONE_FIELD,
                path,
                "exactly one of tcp, udp, sctp or destinationNamedPort must be set",
            );
            return None;
        }
        if let Some(name) = &p.destination_named_port {
            return Some(PortMatch::Named {
                name: name.clone(),
                protocol: None,
            });
        }
        let (protocol, ports, field) = match (&p.tcp, &p.udp, &p.sctp) {
            (Some(t), _, _) => (Protocol::Tcp, t, "tcp"),
            (_, Some(u), _) => (Protocol::Udp, u, "udp"),
            (_, _, Some(s)) => (Protocol::Sctp, s, "sctp"),
            _ => unreachable!("one protocol is set"),
        };
        let path = format!("{path}.{field}.destinationPort");
        let Some(dest) = &ports.destination_port else {
            // minProperties: 1 on the protocol object forbids this; without it, all ports.
            problems.push(&EXACTLY_ONE_FIELD, path, "destinationPort is required");
            return None;
        };
        match (dest.number, &dest.range) {
            (Some(n), None) => {
                let port = port_number(n)
                    .map_err(|m| problems.push(&INVALID_PORT, format!("{path}.number"), m))
                    .ok()?;
                Some(PortMatch::Port { protocol, port })
            }
            (None, Some(r)) => range(
                problems,
                &format!("{path}.range"),
                protocol,
                r.start,
                r.end,
                false,
            ),
            _ => {
                problems.push(
                    &EXACTLY_ONE_FIELD,
                    path,
                    "exactly one of number or range must be set",
                );
                None
            }
        }
    });
    Some(ports.collect())
}

/// CNP ranges must have start strictly below end (a CEL rule on the CRD). ANP/BANP ranges must
/// not be inverted: the v0.1.8 CRD only documents "Start value must be less than End", and the
/// API server accepts any order, but an inverted range matches no port at all, which is never
/// what its author meant; a one-port range (start equal to end) is kept, as it means something.
fn range(
    problems: &mut Problems,
    path: &str,
    protocol: Protocol,
    start: i32,
    end: i32,
    allow_equal: bool,
) -> Option<PortMatch> {
    let start_port = port_number(start)
        .map_err(|m| problems.push(&INVALID_PORT, format!("{path}.start"), m))
        .ok();
    let end_port = port_number(end)
        .map_err(|m| problems.push(&INVALID_PORT, format!("{path}.end"), m))
        .ok();
    let (start, end) = (start_port?, end_port?);
    if start > end || (!allow_equal && start == end) {
        let want = if allow_equal { "at most" } else { "less than" };
        problems.push(
            &PORT_RANGE_INVERTED,
            path,
            format!("start port {start} must be {want} end port {end}"),
        );
        return None;
    }
    Some(PortMatch::Range {
        protocol,
        start,
        end,
    })
}

fn protocol(problems: &mut Problems, path: &str, text: &str) -> Option<Protocol> {
    match Protocol::parse(text) {
        Some(p) if text == p.as_str() => Some(p),
        _ => {
            problems.push(
                &INVALID_PROTOCOL,
                path,
                format!("unsupported protocol {text:?} (want TCP, UDP or SCTP)"),
            );
            None
        }
    }
}
