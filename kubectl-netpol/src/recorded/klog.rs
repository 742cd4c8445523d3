//! kube-network-policies' packet log in klog's JSON format (`--logging-format=json -v=2`):
//! its `LoggingPolicy` (pkg/networkpolicy/logging.go) writes "Evaluating packet" once per
//! direction of each queued packet, Egress then Ingress, with `srcPod`/`dstPod` and the
//! packet's `MarshalLog` form (pkg/network/packet.go); the engine (pkg/networkpolicy/engine.go)
//! then writes the verdict with the same `id`. Any other klog line is the controller's own log.

use std::net::IpAddr;

use k8s_openapi::jiff::Timestamp;
use netpol_engine::Protocol;
use serde::Deserialize;
use serde_json::Value;

use super::{End, Line, RecordedFlow, Skip, decode};

const FORMAT: &str = "kube-network-policies packet entry";

const PACKET: &str = "Evaluating packet";
const DENIED_EGRESS: &str = "Packet denied by egress policy";
const DENIED_INGRESS: &str = "Packet denied by ingress policy";
const ACCEPTED: &str = "Packet accepted by policy";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// Milliseconds since the epoch, with a fraction.
    ts: Option<f64>,
    id: Option<u64>,
    direction: Option<String>,
    src_pod: Option<String>,
    dst_pod: Option<String>,
    packet: Option<Packet>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Packet {
    #[serde(rename = "ID")]
    id: Option<u64>,
    #[serde(rename = "SrcIP")]
    src_ip: Option<IpAddr>,
    #[serde(rename = "DstIP")]
    dst_ip: Option<IpAddr>,
    /// `TCP`, `UDP`, `SCTP`, or empty when the packet has none of their headers.
    #[serde(default)]
    proto: String,
    #[serde(default)]
    dst_port: u16,
}

#[derive(Deserialize)]
struct Verdict {
    id: Option<u64>,
}

/// Only the message, first: other lines may hold fields of any type under the same names.
#[derive(Deserialize)]
struct Message {
    msg: Value,
}

pub(super) fn parse(text: &str) -> Result<Line, String> {
    let message: Message = decode("klog JSON line", text)?;
    let allowed = match message.msg.as_str().unwrap_or_default() {
        PACKET => return packet(text),
        DENIED_EGRESS | DENIED_INGRESS => false,
        ACCEPTED => true,
        _ => return Ok(Line::Skipped(Skip::KlogOther)),
    };
    let verdict: Verdict = decode("kube-network-policies verdict entry", text)?;
    Ok(match verdict.id {
        Some(id) => Line::PacketVerdict { id, allowed },
        None => Line::Skipped(Skip::KnpVerdictEntry),
    })
}

fn packet(text: &str) -> Result<Line, String> {
    let entry: Entry = decode(FORMAT, text)?;
    match entry.direction.as_deref() {
        Some("Egress") => {}
        Some("Ingress") => return Ok(Line::Skipped(Skip::KnpIngressEntry)),
        other => {
            return Err(format!(
                "{FORMAT}: direction {other:?} is not Egress or Ingress"
            ));
        }
    }
    let packet = entry.packet.ok_or_else(|| format!("{FORMAT}: no packet"))?;
    let protocol = match packet.proto.as_str() {
        "" => return Ok(Line::Skipped(Skip::KnpNoPorts)),
        proto => Protocol::parse(proto)
            .ok_or_else(|| format!("{FORMAT}: packet.Proto {proto:?} is not TCP, UDP or SCTP"))?,
    };
    if packet.dst_port == 0 {
        return Err(format!("{FORMAT}: {protocol} packet to port 0"));
    }
    let from = end("srcPod", entry.src_pod.as_deref(), "SrcIP", packet.src_ip)?;
    let to = end("dstPod", entry.dst_pod.as_deref(), "DstIP", packet.dst_ip)?;
    let time = entry
        .ts
        .map(|ms| {
            // Microseconds: the float holds no finer digits.
            Timestamp::from_microsecond((ms * 1e3).round() as i64)
                .map_err(|_| format!("{FORMAT}: ts {ms} is not a time in milliseconds"))
        })
        .transpose()?;
    let flow = RecordedFlow {
        from,
        to,
        protocol,
        port: packet.dst_port,
        // The verdict is on a later line (`Line::PacketVerdict`).
        verdict: None,
        time,
    };
    Ok(match entry.id.or(packet.id) {
        Some(id) => Line::Packet { id, flow },
        None => Line::Flow(flow),
    })
}

/// `namespace/pod`, or `external` (no pod has the address) and the address.
fn end(field: &str, pod: Option<&str>, ip_field: &str, ip: Option<IpAddr>) -> Result<End, String> {
    match pod {
        Some(text) if text != "external" => End::pod(text).ok_or_else(|| {
            format!("{FORMAT}: {field} {text:?} is neither namespace/pod nor external")
        }),
        _ => ip
            .map(End::Address)
            .ok_or_else(|| format!("{FORMAT}: no packet.{ip_field}")),
    }
}
