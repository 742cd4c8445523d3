//! `hubble observe -o json` (and Hubble's flow export): each line a `GetFlowsResponse` whose
//! `flow` is the flow, or the flow itself (the legacy JSON output, `JSONLegacyOutput` in
//! cilium `hubble/pkg/printer/printer.go`). Cilium prints them with protojson's proto field names (`UseProtoNames`, cilium
//! `api/v1/flow/flow.pb.json.go`); the fields are those of `api/v1/flow/flow.proto`.

use std::net::IpAddr;

use netpol_engine::Protocol;
use netpol_engine::model::Direction;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{End, Line, RecordedFlow, RecordedVerdict, Skip, decode, timestamp};

const FORMAT: &str = "hubble flow";

/// A `GetFlowsResponse` (or `ExportEvent`) holding a flow.
#[derive(Deserialize)]
struct Response {
    flow: Flow,
}

#[derive(Deserialize)]
struct Flow {
    time: Option<String>,
    verdict: Option<String>,
    drop_reason_desc: Option<String>,
    #[serde(rename = "IP")]
    ip: Option<Addresses>,
    l4: Option<Layer4>,
    source: Option<Endpoint>,
    destination: Option<Endpoint>,
    is_reply: Option<bool>,
    /// Deprecated for `is_reply`, which older Hubble versions lack.
    reply: Option<bool>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    traffic_direction: Option<String>,
}

#[derive(Deserialize)]
struct Addresses {
    source: Option<IpAddr>,
    destination: Option<IpAddr>,
}

#[derive(Deserialize)]
#[allow(clippy::upper_case_acronyms)]
struct Layer4 {
    #[serde(rename = "TCP")]
    tcp: Option<Ports>,
    #[serde(rename = "UDP")]
    udp: Option<Ports>,
    #[serde(rename = "SCTP")]
    sctp: Option<Ports>,
    #[serde(rename = "ICMPv4")]
    icmp_v4: Option<IgnoredAny>,
    #[serde(rename = "ICMPv6")]
    icmp_v6: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Ports {
    /// protojson leaves out zero values: a missing port is 0.
    #[serde(default)]
    destination_port: u16,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    pod_name: String,
}

/// A `GetFlowsResponse` line with a flow.
pub(super) fn parse_response(text: &str) -> Result<Line, String> {
    let response: Response = decode(FORMAT, text)?;
    flow_line(response.flow)
}

/// A flow object.
pub(super) fn parse_flow(text: &str) -> Result<Line, String> {
    flow_line(decode(FORMAT, text)?)
}

fn flow_line(flow: Flow) -> Result<Line, String> {
    if flow.is_reply.or(flow.reply) == Some(true) {
        return Ok(Line::Skipped(Skip::HubbleReply));
    }
    // Socket traces show a service's address before translation, not the pod it reaches.
    if flow.kind.as_deref() == Some("SOCK") {
        return Ok(Line::Skipped(Skip::HubbleSocketTrace));
    }
    let verdict = verdict(&flow);
    let (
        Some(Addresses {
            source: Some(source),
            destination: Some(destination),
        }),
        Some(l4),
    ) = (flow.ip, flow.l4)
    else {
        return Ok(Line::Skipped(Skip::HubbleNotIp));
    };
    let (protocol, port) = match l4 {
        Layer4 { tcp: Some(p), .. } => (Protocol::Tcp, p.destination_port),
        Layer4 { udp: Some(p), .. } => (Protocol::Udp, p.destination_port),
        Layer4 { sctp: Some(p), .. } => (Protocol::Sctp, p.destination_port),
        Layer4 {
            icmp_v4: Some(_), ..
        }
        | Layer4 {
            icmp_v6: Some(_), ..
        } => (Protocol::Icmp, 0),
        _ => return Ok(Line::Skipped(Skip::HubbleNotIp)),
    };
    if protocol.has_ports() && port == 0 {
        return Err(format!("{FORMAT}: {protocol} without a destination_port"));
    }
    Ok(Line::Flow(RecordedFlow {
        from: end(flow.source, source),
        to: end(flow.destination, destination),
        protocol,
        port,
        verdict,
        time: timestamp(FORMAT, flow.time.as_deref())?,
    }))
}

/// The pod Hubble named, else the address (reserved identities: world, host, remote nodes).
fn end(endpoint: Option<Endpoint>, ip: IpAddr) -> End {
    match endpoint {
        Some(Endpoint {
            namespace,
            pod_name,
        }) if !namespace.is_empty() && !pod_name.is_empty() => End::Pod {
            namespace,
            name: pod_name,
        },
        _ => End::Address(ip),
    }
}

/// Forwarded is allowed; dropped by policy is denied, in the flow's traffic direction at the
/// node that saw it. Other drops (a full conntrack table, an unroutable address) and the other
/// verdicts say nothing about policy.
fn verdict(flow: &Flow) -> Option<RecordedVerdict> {
    let allowed = match (flow.verdict.as_deref()?, flow.drop_reason_desc.as_deref()) {
        ("FORWARDED" | "REDIRECTED", _) => true,
        ("DROPPED", Some("POLICY_DENIED" | "POLICY_DENY")) => false,
        _ => return None,
    };
    let direction = match flow.traffic_direction.as_deref() {
        Some("EGRESS") => Some(Direction::Egress),
        Some("INGRESS") => Some(Direction::Ingress),
        _ => None,
    };
    Some(RecordedVerdict { allowed, direction })
}
