//! netpol's own verdict events (`kubectl netpol observe -o json`, the enforcer's JSON log):
//! `from`/`to` are `namespace/pod` for a pod, else the address; `fromIp`/`toIp` always the
//! address. Fields not read here (node, direction, decidedBy, audit, ...) are ignored.

use std::net::IpAddr;

use netpol_engine::Protocol;
use netpol_engine::model::Direction;
use serde::Deserialize;

use super::{End, Line, RecordedFlow, RecordedVerdict, decode, timestamp};

const FORMAT: &str = "netpol observe event";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    time: Option<String>,
    from: Option<String>,
    from_ip: Option<IpAddr>,
    to: Option<String>,
    to_ip: Option<IpAddr>,
    protocol: String,
    port: u16,
    direction: Option<String>,
    verdict: Option<String>,
}

pub(super) fn parse(text: &str) -> Result<Line, String> {
    let event: Event = decode(FORMAT, text)?;
    let from = end("from", event.from.as_deref(), event.from_ip)?;
    let to = end("to", event.to.as_deref(), event.to_ip)?;
    let protocol = Protocol::parse_flow(&event.protocol).ok_or_else(|| {
        format!(
            "{FORMAT}: protocol {:?} is not TCP, UDP, SCTP or ICMP",
            event.protocol
        )
    })?;
    if protocol.has_ports() && event.port == 0 {
        return Err(format!("{FORMAT}: port 0 with {protocol}"));
    }
    Ok(Line::Flow(RecordedFlow {
        from,
        to,
        protocol,
        // ICMP has no port; the events say 0.
        port: if protocol.has_ports() { event.port } else { 0 },
        verdict: verdict(event.verdict.as_deref(), event.direction.as_deref()),
        time: timestamp(FORMAT, event.time.as_deref())?,
    }))
}

/// `would-deny` and `would-allow` (audit) say what an audited policy would do, not what the
/// dataplane did: they are not compared.
fn verdict(verdict: Option<&str>, direction: Option<&str>) -> Option<RecordedVerdict> {
    let allowed = match verdict? {
        "allowed" => true,
        "denied" => false,
        _ => return None,
    };
    let direction = match direction {
        Some("egress") => Some(Direction::Egress),
        Some("ingress") => Some(Direction::Ingress),
        _ => None,
    };
    Some(RecordedVerdict { allowed, direction })
}

/// The pod when `name` is `namespace/pod`, else the address `name` or `ip` holds.
fn end(field: &str, name: Option<&str>, ip: Option<IpAddr>) -> Result<End, String> {
    if let Some(name) = name {
        if let Some(pod) = End::pod(name) {
            return Ok(pod);
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(End::Address(ip));
        }
        return Err(format!(
            "{FORMAT}: {field} {name:?} is neither namespace/pod nor an address"
        ));
    }
    ip.map(End::Address)
        .ok_or_else(|| format!("{FORMAT}: neither {field} nor {field}Ip"))
}
