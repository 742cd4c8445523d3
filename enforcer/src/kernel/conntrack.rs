//! Conntrack entries: listed with the `conntrack` tool (its default text format), deleted by
//! original tuple over ctnetlink.

use std::io::Read;
use std::net::IpAddr;
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use super::KernelError;
use super::command::run;
use crate::packet::Transport;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const AF_NETLINK: i32 = 16;
const NETLINK_NETFILTER: i32 = 12;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const ENOENT: i32 = 2;

/// One tracked connection, by its original direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    pub transport: Transport,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// Parses one line of `conntrack -L`, e.g.
/// `tcp 6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 src=... [ASSURED]`;
/// the first `src=`/`dst=`/`sport=`/`dport=` are the original direction.
pub fn parse_line(line: &str) -> Option<Connection> {
    let mut words = line.split_whitespace();
    let _name = words.next()?;
    let number: u8 = words.next()?.parse().ok()?;
    let (mut src, mut dst, mut src_port, mut dst_port) = (None, None, None, None);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "src" if src.is_none() => src = value.parse().ok(),
            "dst" if dst.is_none() => dst = value.parse().ok(),
            "sport" if src_port.is_none() => src_port = value.parse().ok(),
            "dport" if dst_port.is_none() => dst_port = value.parse().ok(),
            _ => {}
        }
    }
    let transport = match number {
        6 => Transport::Tcp,
        17 => Transport::Udp,
        132 => Transport::Sctp,
        1 => Transport::Icmp,
        58 => Transport::Icmpv6,
        other => Transport::Other(other),
    };
    Some(Connection {
        transport,
        src: src?,
        dst: dst?,
        src_port,
        dst_port,
    })
}

pub fn list() -> Result<Vec<Connection>, KernelError> {
    let mut all = Vec::new();
    for family in ["ipv4", "ipv6"] {
        match run("conntrack", &["-L", "-f", family], None) {
            Ok(text) => all.extend(text.lines().filter_map(parse_line)),
            Err(e) if family == "ipv4" => return Err(e),
            Err(_) => {}
        }
    }
    Ok(all)
}

/// Deletes them over ctnetlink, one request per entry on one socket: about 20 µs each, where
/// `conntrack -D` (even batched with `-R`) dumps the whole table per entry, ~15 ms each. ICMP
/// entries are left to expire (their tuple needs type, code and id; they are short-lived).
pub fn delete(connections: &[Connection]) -> Result<(), KernelError> {
    if connections.is_empty() {
        return Ok(());
    }
    let failed = |source| KernelError::Spawn {
        program: "ctnetlink".into(),
        source,
    };
    let socket = Socket::new(
        Domain::from(AF_NETLINK),
        Type::RAW,
        Some(SockProtocol::from(NETLINK_NETFILTER)),
    )
    .map_err(failed)?;
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(failed)?;
    let mut buf = [0u8; 512];
    for (seq, connection) in connections.iter().enumerate() {
        let Some(message) = delete_message(connection, seq as u32 + 1) else {
            continue;
        };
        // An unbound, unconnected netlink socket sends to the kernel (port 0) and binds itself.
        socket.send(&message).map_err(failed)?;
        let n = (&socket).read(&mut buf).map_err(failed)?;
        match ack_error(&buf[..n]) {
            Some(0) | Some(ENOENT) => {}
            Some(errno) => {
                return Err(failed(std::io::Error::from_raw_os_error(errno)));
            }
            None => {}
        }
    }
    Ok(())
}

/// The netlink request deleting one entry by its original tuple, or `None` for protocols whose
/// tuple has no ports.
pub fn delete_message(connection: &Connection, seq: u32) -> Option<Vec<u8>> {
    let protocol = match connection.transport {
        Transport::Tcp => 6,
        Transport::Udp => 17,
        Transport::Sctp => 132,
        _ => return None,
    };
    let (sport, dport) = (connection.src_port?, connection.dst_port?);
    let (family, addresses) = match (connection.src, connection.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            AF_INET,
            nla(CTA_IP_V4_SRC, &s.octets())
                .into_iter()
                .chain(nla(CTA_IP_V4_DST, &d.octets()))
                .collect::<Vec<u8>>(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => (
            AF_INET6,
            nla(CTA_IP_V6_SRC, &s.octets())
                .into_iter()
                .chain(nla(CTA_IP_V6_DST, &d.octets()))
                .collect(),
        ),
        _ => return None,
    };
    let mut proto = nla(CTA_PROTO_NUM, &[protocol]);
    proto.extend(nla(CTA_PROTO_SRC_PORT, &sport.to_be_bytes()));
    proto.extend(nla(CTA_PROTO_DST_PORT, &dport.to_be_bytes()));
    let mut tuple = nla(CTA_TUPLE_IP | NLA_F_NESTED, &addresses);
    tuple.extend(nla(CTA_TUPLE_PROTO | NLA_F_NESTED, &proto));
    let attributes = nla(CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple);
    let len = 16 + 4 + attributes.len();
    let mut message = Vec::with_capacity(len);
    message.extend((len as u32).to_ne_bytes());
    message.extend(((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    message.extend((NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    message.extend(seq.to_ne_bytes());
    message.extend(0u32.to_ne_bytes());
    // nfgenmsg: family, version 0, resource id 0.
    message.extend([family, 0, 0, 0]);
    message.extend(attributes);
    Some(message)
}

/// One netlink attribute, padded to 4 bytes.
fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend((len as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(payload);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// The errno of a netlink ack (0 for success), if `reply` is one.
fn ack_error(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let error = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    Some(-error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_original_tuple() {
        #[rustfmt::skip]
        let cases = [
            ("tcp      6 431999 ESTABLISHED src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 src=10.0.2.2 dst=10.0.1.2 sport=80 dport=40000 [ASSURED] mark=0 use=1",
             Some((Transport::Tcp, "10.0.1.2", "10.0.2.2", Some(40000), Some(80)))),
            ("udp      17 29 src=fd00::1 dst=fd00::2 sport=5353 dport=53 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=53 dport=5353 mark=0 use=1",
             Some((Transport::Udp, "fd00::1", "fd00::2", Some(5353), Some(53)))),
            ("icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1",
             Some((Transport::Icmp, "10.0.0.1", "10.0.0.2", None, None))),
            ("conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = parse_line(line).map(|c| {
                (
                    c.transport,
                    c.src.to_string(),
                    c.dst.to_string(),
                    c.src_port,
                    c.dst_port,
                )
            });
            let want = want.map(|(t, s, d, sp, dp)| (t, s.to_owned(), d.to_owned(), sp, dp));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn encodes_delete_requests() {
        let tcp =
            parse_line("tcp 6 10 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2").unwrap();
        let message = delete_message(&tcp, 7).unwrap();
        // header 16 + nfgenmsg 4 + orig(4 + ip(4 + 8 + 8) + proto(4 + 8 + 8 + 8)) = 72
        assert_eq!(message.len(), 72);
        assert_eq!(u32::from_ne_bytes(message[..4].try_into().unwrap()), 72);
        assert_eq!(
            u16::from_ne_bytes(message[4..6].try_into().unwrap()),
            0x0102
        );
        assert_eq!(message[16], AF_INET);
        let icmp = parse_line("icmp 1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7").unwrap();
        assert_eq!(delete_message(&icmp, 1), None);
        assert_eq!(ack_error(&[0; 4]), None);
    }
}
