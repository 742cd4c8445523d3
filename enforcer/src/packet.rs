//! Reading the network and transport headers of a queued packet. The kernel hands us untrusted
//! bytes (only the first `COPY_RANGE` of them): every access is bounds-checked and any
//! malformed input is an error, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How many bytes of each packet the kernel copies to us: enough for an IPv6 header, a few
/// extension headers and the start of the transport header.
pub const COPY_RANGE: u16 = 256;

/// The transport protocol of a packet, as far as policies care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
    Other(u8),
}

impl Transport {
    fn from_number(number: u8) -> Self {
        match number {
            6 => Self::Tcp,
            17 => Self::Udp,
            132 => Self::Sctp,
            1 => Self::Icmp,
            58 => Self::Icmpv6,
            other => Self::Other(other),
        }
    }

    /// A fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
            Self::Icmp => "icmp",
            Self::Icmpv6 => "icmpv6",
            Self::Other(_) => "other",
        }
    }

    /// Whether the transport header starts with source and destination ports.
    fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::Sctp)
    }
}

/// What the enforcer needs to know about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// The destination port, for TCP, UDP and SCTP when the header is present.
    pub dst_port: Option<u16>,
}

impl Packet {
    /// Whether every part of the tuple a decision rests on was read: a protocol with ports
    /// whose port header was cut off (past the copy range, or a later fragment) is decided
    /// as port 0.
    pub fn has_whole_tuple(&self) -> bool {
        !self.transport.has_ports() || self.dst_port.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty packet")]
    Empty,
    #[error("IP version {0} is neither 4 nor 6")]
    Version(u8),
    #[error("packet truncated inside the {0} header")]
    Truncated(&'static str),
    #[error("IPv4 header length {0} is shorter than 20 bytes")]
    HeaderLength(usize),
}

/// Parses an IPv4 or IPv6 packet starting at the network header.
pub fn parse(bytes: &[u8]) -> Result<Packet, ParseError> {
    parse_with_transport(bytes).map(|(packet, _)| packet)
}

/// `parse`, with the bytes from the transport header on: `None` for a later fragment, which
/// has no transport header.
pub fn parse_with_transport(bytes: &[u8]) -> Result<(Packet, Option<&[u8]>), ParseError> {
    let first = *bytes.first().ok_or(ParseError::Empty)?;
    match first >> 4 {
        4 => parse_v4(bytes),
        6 => parse_v6(bytes),
        version => Err(ParseError::Version(version)),
    }
}

fn parse_v4(bytes: &[u8]) -> Result<(Packet, Option<&[u8]>), ParseError> {
    let header = bytes.get(..20).ok_or(ParseError::Truncated("IPv4"))?;
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(ParseError::HeaderLength(header_len));
    }
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let transport = Transport::from_number(header[9]);
    // Only the first fragment carries the transport header (conntrack normally reassembles
    // before the queue, so this is defensive).
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
    let l4 = (fragment_offset == 0)
        .then(|| bytes.get(header_len..))
        .flatten();
    let packet = Packet {
        src: src.into(),
        dst: dst.into(),
        transport,
        dst_port: dst_port(transport, l4),
    };
    Ok((packet, l4))
}

fn parse_v6(bytes: &[u8]) -> Result<(Packet, Option<&[u8]>), ParseError> {
    let header = bytes.get(..40).ok_or(ParseError::Truncated("IPv6"))?;
    let address = |at: usize| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&header[at..at + 16]);
        Ipv6Addr::from(octets)
    };
    let (src, dst) = (address(8), address(24));
    let mut next = header[6];
    let mut offset = 40;
    let mut first_fragment = true;
    // Walk the extension headers to the transport header.
    loop {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units, not counting
            // the first 8.
            0 | 43 | 60 => {
                let ext = bytes
                    .get(offset..offset + 2)
                    .ok_or(ParseError::Truncated("IPv6 extension"))?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 1) * 8;
            }
            // Fragment: fixed 8 bytes; later fragments have no transport header.
            44 => {
                let ext = bytes
                    .get(offset..offset + 8)
                    .ok_or(ParseError::Truncated("IPv6 fragment"))?;
                next = ext[0];
                first_fragment = u16::from_be_bytes([ext[2], ext[3]]) >> 3 == 0;
                offset += 8;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let ext = bytes
                    .get(offset..offset + 2)
                    .ok_or(ParseError::Truncated("IPv6 authentication"))?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 2) * 4;
            }
            _ => break,
        }
    }
    let transport = Transport::from_number(next);
    let l4 = first_fragment.then(|| bytes.get(offset..)).flatten();
    let packet = Packet {
        src: src.into(),
        dst: dst.into(),
        transport,
        dst_port: dst_port(transport, l4),
    };
    Ok((packet, l4))
}

/// TCP, UDP and SCTP all start with the source port then the destination port.
fn dst_port(transport: Transport, l4: Option<&[u8]>) -> Option<u16> {
    if !transport.has_ports() {
        return None;
    }
    let ports = l4?.get(2..4)?;
    Some(u16::from_be_bytes([ports[0], ports[1]]))
}

#[cfg(test)]
mod tests;
