//! Protocols and the ways a rule names destination ports.

use serde::{Deserialize, Serialize};

/// The protocols of a flow: the three with ports that rules can name, and ICMP (ICMPv6 for
/// IPv6), which has no port. Upstream, a rule without ports matches every protocol, ICMP
/// included, and a rule with ports matches only the protocols it names, so never ICMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    #[serde(alias = "tcp")]
    Tcp,
    #[serde(alias = "udp")]
    Udp,
    #[serde(alias = "sctp")]
    Sctp,
    /// ICMP or ICMPv6; its flows carry port 0, which no port rule can match.
    #[serde(alias = "icmp", alias = "ICMPv6", alias = "icmpv6")]
    Icmp,
}

impl Protocol {
    /// The protocols with ports, the only ones a rule can name.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Parses a protocol a rule can name: `TCP`, `UDP` or `SCTP` in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// Parses the protocol of a flow: those of [`Protocol::parse`], and `ICMP` (or `ICMPv6`).
    pub fn parse_flow(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "ICMP" | "ICMPV6" => Some(Self::Icmp),
            _ => Self::parse(text),
        }
    }

    /// Whether flows of this protocol have a destination port.
    pub fn has_ports(self) -> bool {
        self != Self::Icmp
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
            Self::Icmp => "ICMP",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a rule's port list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PortMatch {
    /// Every port of one protocol (NetworkPolicy `protocol` without `port`).
    AllPorts { protocol: Protocol },
    /// One port.
    Port { protocol: Protocol, port: u16 },
    /// An inclusive range (NetworkPolicy `endPort`, ANP `portRange`, CNP `range`).
    Range {
        protocol: Protocol,
        start: u16,
        end: u16,
    },
    /// A container port name resolved on the destination pod. NetworkPolicy names a protocol
    /// that must match too; ANP and CNP take the protocol of the container port.
    Named {
        name: String,
        protocol: Option<Protocol>,
    },
}

impl PortMatch {
    /// Whether a numeric destination port matches, before named-port resolution.
    pub fn matches_number(&self, protocol: Protocol, port: u16) -> bool {
        match *self {
            Self::AllPorts { protocol: p } => p == protocol,
            Self::Port {
                protocol: p,
                port: n,
            } => p == protocol && n == port,
            Self::Range {
                protocol: p,
                start,
                end,
            } => p == protocol && (start..=end).contains(&port),
            Self::Named { .. } => false,
        }
    }

    pub fn protocol(&self) -> Option<Protocol> {
        match *self {
            Self::AllPorts { protocol }
            | Self::Port { protocol, .. }
            | Self::Range { protocol, .. } => Some(protocol),
            Self::Named { protocol, .. } => protocol,
        }
    }
}

impl std::fmt::Display for PortMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AllPorts { protocol } => write!(f, "{protocol}/*"),
            Self::Port { protocol, port } => write!(f, "{protocol}/{port}"),
            Self::Range {
                protocol,
                start,
                end,
            } => write!(f, "{protocol}/{start}-{end}"),
            Self::Named {
                name,
                protocol: Some(p),
            } => write!(f, "{p}/{name}"),
            Self::Named {
                name,
                protocol: None,
            } => write!(f, "{name}"),
        }
    }
}
