//! Reading a DNS response on its way to a pod: the IP and UDP or TCP headers, then the message
//! (parsed by `simple-dns`, name compression included), then the answers a rule can match: the
//! chain from the question's name through CNAME records to the A and AAAA records at its end.
//! Records off that chain are ignored: a response may carry other names (additional data,
//! stuffed records), and only what answers the question is what the pod will use. The bytes
//! are untrusted: any malformed input is an error, never a panic (fuzz target `dns_response`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netpol_engine::dns::NameChain;
use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, OPCODE, Packet, PacketFlag, QCLASS, QTYPE, RCODE, TYPE};

use crate::packet::{self, Transport};

/// CNAMEs followed at most: resolvers give up far sooner (BIND: 16), and a loop must end.
const MAX_CHAIN: usize = 16;

/// One address the response gives for the name the pod asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    pub chain: NameChain,
    pub address: IpAddr,
    /// The smallest TTL along the chain: the answer holds only while every link does.
    pub ttl: u32,
}

/// A response as queued: who sent it, who it is for, and what it teaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub resolver: IpAddr,
    pub client: IpAddr,
    pub answers: Vec<Learned>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    #[error("not an IP packet: {0}")]
    Packet(#[from] packet::ParseError),
    #[error("a later fragment: no transport header")]
    Fragment,
    #[error("neither UDP nor TCP from port 53")]
    NotDns,
    #[error("transport header truncated")]
    Truncated,
    #[error("a TCP segment without a whole DNS message")]
    Partial,
    #[error("malformed DNS message: {0}")]
    Message(String),
    #[error("not an answer to a standard query (response flag, opcode, one question)")]
    NotAnswer,
}

impl DnsError {
    /// A fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Packet(_) | Self::Fragment | Self::NotDns | Self::Truncated => "not-dns",
            Self::Partial => "tcp-partial",
            Self::Message(_) => "malformed",
            Self::NotAnswer => "not-answer",
        }
    }
}

/// Reads a queued packet: IPv4 or IPv6, UDP or TCP from port 53, and the DNS messages in it.
/// A TCP segment is read when it holds whole messages (each after its two-byte length), as a
/// resolver's short answer does; a message split over segments is not reassembled.
pub fn parse_packet(bytes: &[u8]) -> Result<Response, DnsError> {
    let (ip, l4) = packet::parse_with_transport(bytes)?;
    let l4 = l4.ok_or(DnsError::Fragment)?;
    let source_port = |l4: &[u8]| l4.get(..2).map(|p| u16::from_be_bytes([p[0], p[1]]));
    if source_port(l4).ok_or(DnsError::Truncated)? != 53 {
        return Err(DnsError::NotDns);
    }
    let answers = match ip.transport {
        Transport::Udp => {
            let header = l4.get(..8).ok_or(DnsError::Truncated)?;
            let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
            // The UDP length bounds the payload (a frame may be padded); 0 is a jumbogram's.
            let end = if length >= 8 {
                length.min(l4.len())
            } else {
                l4.len()
            };
            parse_message(&l4[8..end])?
        }
        Transport::Tcp => {
            let offset = usize::from(l4.get(12).ok_or(DnsError::Truncated)? >> 4) * 4;
            let mut payload = l4.get(offset..).ok_or(DnsError::Truncated)?;
            if payload.is_empty() {
                return Err(DnsError::Partial);
            }
            let mut answers = Vec::new();
            while !payload.is_empty() {
                let length = payload
                    .get(..2)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                    .ok_or(DnsError::Partial)?;
                let message = payload.get(2..2 + length).ok_or(DnsError::Partial)?;
                answers.extend(parse_message(message)?);
                payload = &payload[2 + length..];
            }
            answers
        }
        _ => return Err(DnsError::NotDns),
    };
    Ok(Response {
        resolver: ip.src,
        client: ip.dst,
        answers,
    })
}

/// The addresses a DNS message gives for the name its question asks, each with the chain of
/// names that led there. A response to anything but one standard query of class IN, or with
/// an error code, teaches nothing.
pub fn parse_message(bytes: &[u8]) -> Result<Vec<Learned>, DnsError> {
    let message = Packet::parse(bytes).map_err(|e| DnsError::Message(e.to_string()))?;
    let [question] = message.questions.as_slice() else {
        return Err(DnsError::NotAnswer);
    };
    if !message.has_flags(PacketFlag::RESPONSE) || message.opcode() != OPCODE::StandardQuery {
        return Err(DnsError::NotAnswer);
    }
    let in_class = matches!(question.qclass, QCLASS::CLASS(CLASS::IN) | QCLASS::ANY);
    let address_query = matches!(
        question.qtype,
        QTYPE::TYPE(TYPE::A) | QTYPE::TYPE(TYPE::AAAA) | QTYPE::ANY
    );
    if message.rcode() != RCODE::NoError || !in_class || !address_query {
        return Ok(Vec::new());
    }
    let queried = text(&question.qname);
    let mut current = queried.clone();
    let mut cnames: Vec<String> = Vec::new();
    let mut ttl = u32::MAX;
    // Follow CNAME records from the question's name, in any order the resolver put them.
    while let Some((target, link_ttl)) = message.answers.iter().find_map(|rr| match &rr.rdata {
        RData::CNAME(target) if rr.class == CLASS::IN && text(&rr.name) == current => {
            Some((text(&target.0), rr.ttl))
        }
        _ => None,
    }) {
        if cnames.len() == MAX_CHAIN || target == queried || cnames.contains(&target) {
            return Ok(Vec::new());
        }
        ttl = ttl.min(link_ttl);
        cnames.push(target.clone());
        current = target;
    }
    let links: Vec<&str> = cnames.iter().map(String::as_str).collect();
    let chain = NameChain::new(&queried, &links);
    Ok(message
        .answers
        .iter()
        .filter(|rr| rr.class == CLASS::IN && text(&rr.name) == current)
        .filter_map(|rr| {
            let address = match &rr.rdata {
                RData::A(a) => IpAddr::V4(Ipv4Addr::from(a.address)),
                RData::AAAA(aaaa) => IpAddr::V6(Ipv6Addr::from(aaaa.address)),
                _ => return None,
            };
            Some(Learned {
                chain: chain.clone(),
                address,
                ttl: ttl.min(rr.ttl),
            })
        })
        .collect())
}

/// A name as text, lowercase, labels joined by dots. A byte that is not a printable ASCII
/// character, a dot inside a label or a backslash is written `\DDD` (RFC 1035 master file
/// form), so that no label can pass for two and no such name equals a `domainNames` entry.
fn text(name: &Name) -> String {
    let mut out = String::new();
    for (i, label) in name.as_bytes().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for &byte in label {
            match byte {
                b'.' | b'\\' => out.push_str(&format!("\\{byte:03}")),
                0x21..=0x7e => out.push(char::from(byte.to_ascii_lowercase())),
                _ => out.push_str(&format!("\\{byte:03}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
