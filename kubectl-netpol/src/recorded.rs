//! Recorded flows: the JSON lines a flow recorder writes (netpol's `observe`, Hubble,
//! kube-network-policies' packet log), read into one shape so that they can be decided again.
//! Which fields of each format are read is documented in docs/replay.md.

mod hubble;
mod klog;
mod observe;
mod read;

use std::fmt;
use std::net::IpAddr;

use k8s_openapi::jiff::Timestamp;
use netpol_engine::Protocol;
use netpol_engine::model::Direction;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::error::Category;

pub use read::{Place, Recording, read};

/// One end of a recorded flow: a pod by name when the recorder knew it, else its address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    Pod { namespace: String, name: String },
    Address(IpAddr),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Self::Address(ip) => write!(f, "{ip}"),
        }
    }
}

impl End {
    /// `namespace/pod` as recorders write a pod; `None` for anything else.
    fn pod(text: &str) -> Option<Self> {
        let (namespace, name) = text.split_once('/')?;
        let valid = |part: &str| !part.is_empty() && !part.contains('/');
        (valid(namespace) && valid(name)).then(|| Self::Pod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// A new connection as recorded: its ends, protocol and destination port (0 for ICMP), and
/// what the recorder says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFlow {
    pub from: End,
    pub to: End,
    pub protocol: Protocol,
    pub port: u16,
    /// What the dataplane did, when the record says so in words we can map.
    pub verdict: Option<RecordedVerdict>,
    pub time: Option<Timestamp>,
}

/// A dataplane's verdict. Recorders that see one node decide one direction there (egress at
/// the source's node, ingress at the destination's): an egress "allowed" says nothing of the
/// ingress side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordedVerdict {
    pub allowed: bool,
    /// The direction decided, or `None` for the whole flow.
    pub direction: Option<Direction>,
}

/// Records of a known format that are not new connections: counted, never decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// Hubble's `is_reply: true`: a packet of a connection already recorded.
    HubbleReply,
    /// Hubble flows without addresses or a TCP, UDP, SCTP or ICMP header.
    HubbleNotIp,
    /// Hubble socket traces (`Type: SOCK`).
    HubbleSocketTrace,
    /// Hubble's `lost_events`: flows Hubble dropped before they reached the recording.
    HubbleLostEvents,
    /// Hubble's node status, agent and debug events.
    HubbleOtherEvent,
    /// kube-network-policies logs each packet once per direction; its Egress entry is read.
    KnpIngressEntry,
    /// kube-network-policies' verdict entries, matched to their packet entry by `id`.
    KnpVerdictEntry,
    /// kube-network-policies packets without a TCP, UDP or SCTP header (ICMP, other protocols).
    KnpNoPorts,
    /// Other klog JSON lines (the controller's own logs).
    KlogOther,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Self::HubbleReply => "hubble reply flows (is_reply: true), not new connections",
            Self::HubbleNotIp => {
                "hubble flows without IP addresses or a TCP, UDP, SCTP or ICMP header"
            }
            Self::HubbleSocketTrace => {
                "hubble socket traces (Type SOCK: a service address before translation)"
            }
            Self::HubbleLostEvents => {
                "hubble lost_events: hubble dropped flows before they were recorded"
            }
            Self::HubbleOtherEvent => "hubble node status, agent or debug events",
            Self::KnpIngressEntry => {
                "kube-network-policies Ingress packet entries (the packet's Egress entry is read)"
            }
            Self::KnpVerdictEntry => {
                "kube-network-policies verdict entries (matched to their packet by id)"
            }
            Self::KnpNoPorts => {
                "kube-network-policies packets without a TCP, UDP or SCTP header (ICMP or other protocols)"
            }
            Self::KlogOther => "other klog JSON log lines",
        }
    }

    /// A stable id for the JSON report.
    pub fn id(self) -> &'static str {
        match self {
            Self::HubbleReply => "hubble-reply",
            Self::HubbleNotIp => "hubble-not-ip",
            Self::HubbleSocketTrace => "hubble-socket-trace",
            Self::HubbleLostEvents => "hubble-lost-events",
            Self::HubbleOtherEvent => "hubble-other-event",
            Self::KnpIngressEntry => "knp-ingress-entry",
            Self::KnpVerdictEntry => "knp-verdict-entry",
            Self::KnpNoPorts => "knp-no-ports",
            Self::KlogOther => "klog-other",
        }
    }
}

/// What one line holds.
#[derive(Debug)]
enum Line {
    Flow(RecordedFlow),
    /// A kube-network-policies packet entry: its verdict comes on a later line with its id.
    Packet {
        id: u64,
        flow: RecordedFlow,
    },
    Skipped(Skip),
    /// kube-network-policies' verdict for the packet entry with this id.
    PacketVerdict {
        id: u64,
        allowed: bool,
    },
}

/// The keys that tell the formats apart; everything else is skipped unread.
#[derive(Deserialize)]
struct Probe {
    flow: Option<IgnoredAny>,
    lost_events: Option<IgnoredAny>,
    node_status: Option<IgnoredAny>,
    agent_event: Option<IgnoredAny>,
    debug_event: Option<IgnoredAny>,
    #[serde(rename = "fromIp")]
    from_ip: Option<IgnoredAny>,
    #[serde(rename = "toIp")]
    to_ip: Option<IgnoredAny>,
    msg: Option<IgnoredAny>,
    ts: Option<IgnoredAny>,
    caller: Option<IgnoredAny>,
    #[serde(rename = "IP")]
    ip: Option<IgnoredAny>,
    l4: Option<IgnoredAny>,
    #[serde(rename = "Type")]
    kind: Option<IgnoredAny>,
}

/// The formats, told apart by the fields each always has. A line is read twice, once for
/// those fields and once in its format's types: cheaper than building a JSON tree.
fn parse_line(text: &str) -> Result<Line, String> {
    let probe: Probe = serde_json::from_str(text).map_err(|err| match err.classify() {
        Category::Data if !text.trim_start().starts_with('{') => "not a JSON object".to_owned(),
        Category::Data => format!("JSON, but not a flow of a known format: {err}"),
        _ => format!("not JSON: {err}"),
    })?;
    let has = |field: &Option<IgnoredAny>| field.is_some();
    if has(&probe.flow) {
        return hubble::parse_response(text);
    }
    if has(&probe.lost_events) {
        return Ok(Line::Skipped(Skip::HubbleLostEvents));
    }
    if [&probe.node_status, &probe.agent_event, &probe.debug_event]
        .into_iter()
        .any(has)
    {
        return Ok(Line::Skipped(Skip::HubbleOtherEvent));
    }
    if has(&probe.from_ip) || has(&probe.to_ip) {
        return observe::parse(text);
    }
    if has(&probe.msg) && (has(&probe.ts) || has(&probe.caller)) {
        return klog::parse(text);
    }
    if has(&probe.ip) || has(&probe.l4) || has(&probe.kind) {
        return hubble::parse_flow(text);
    }
    Err("JSON, but not a flow of a known format (netpol observe, hubble observe -o json, kube-network-policies JSON logs)".to_owned())
}

/// Decodes a record of `format`, naming the field that is wrong.
fn decode<T: DeserializeOwned>(format: &str, text: &str) -> Result<T, String> {
    let mut json = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut json).map_err(|err| {
        let path = err.path().to_string();
        if path == "." {
            format!("{format}: {}", err.inner())
        } else {
            format!("{format}: {path}: {}", err.inner())
        }
    })
}

fn timestamp(format: &str, text: Option<&str>) -> Result<Option<Timestamp>, String> {
    text.map(|t| {
        t.parse::<Timestamp>()
            .map_err(|_| format!("{format}: time {t:?} is not an RFC 3339 time"))
    })
    .transpose()
}

#[cfg(test)]
mod tests;
