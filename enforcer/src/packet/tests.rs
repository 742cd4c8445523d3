use std::net::IpAddr;

use super::*;

fn v4(protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0];
    p.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend(l4);
    p
}

fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 64];
    p.extend("fd00::1".parse::<Ipv6Addr>().unwrap().octets());
    p.extend("fd00::2".parse::<Ipv6Addr>().unwrap().octets());
    p.extend(rest);
    p
}

const PORTS_80: [u8; 4] = [0x30, 0x39, 0, 80];

#[test]
fn parses_headers() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut hop_by_hop = vec![17, 0, 0, 0, 0, 0, 0, 0];
    hop_by_hop.extend(PORTS_80);
    let later_fragment = [6, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 80];
    let mut v4_options = v4(6, &[0; 4]);
    v4_options[0] = 0x46;
    v4_options.extend(PORTS_80);
    let mut v4_fragment = v4(17, &PORTS_80);
    v4_fragment[7] = 1;
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Transport, Option<u16>)> = vec![
        ("IPv4 TCP", v4(6, &PORTS_80), Transport::Tcp, Some(80)),
        ("IPv4 UDP", v4(17, &PORTS_80), Transport::Udp, Some(80)),
        ("IPv4 SCTP", v4(132, &PORTS_80), Transport::Sctp, Some(80)),
        ("IPv4 ICMP has no port", v4(1, &[8, 0, 0, 0]), Transport::Icmp, None),
        ("IPv4 options are skipped", v4_options, Transport::Tcp, Some(80)),
        ("IPv4 later fragment has no port", v4_fragment, Transport::Udp, None),
        ("IPv4 TCP header cut short", v4(6, &[0x30, 0x39, 0]), Transport::Tcp, None),
        ("IPv4 GRE", v4(47, &[]), Transport::Other(47), None),
        ("IPv6 TCP", v6(6, &PORTS_80), Transport::Tcp, Some(80)),
        ("IPv6 hop-by-hop then UDP", v6(0, &hop_by_hop), Transport::Udp, Some(80)),
        ("IPv6 later fragment has no port", v6(44, &later_fragment), Transport::Tcp, None),
        ("IPv6 ICMPv6", v6(58, &[128, 0, 0, 0]), Transport::Icmpv6, None),
    ];
    for (message, bytes, transport, port) in cases {
        let packet = parse(&bytes).unwrap_or_else(|e| panic!("{message}: {e}"));
        assert_eq!(packet.transport, transport, "{message}");
        assert_eq!(packet.dst_port, port, "{message}");
        let (src, dst) = if packet.src.is_ipv4() {
            (ip("10.0.0.1"), ip("10.0.0.2"))
        } else {
            (ip("fd00::1"), ip("fd00::2"))
        };
        assert_eq!((packet.src, packet.dst), (src, dst), "{message}");
    }
}

#[test]
fn knows_when_the_whole_tuple_was_read() {
    let mut v4_fragment = v4(17, &PORTS_80);
    v4_fragment[7] = 1;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("TCP with its port", v4(6, &PORTS_80), true),
        ("ICMP has no port to read", v4(1, &[8, 0, 0, 0]), true),
        ("GRE has no port to read", v4(47, &[]), true),
        ("TCP header cut short", v4(6, &[0x30, 0x39, 0]), false),
        ("later UDP fragment", v4_fragment, false),
    ];
    for (message, bytes, whole) in cases {
        let packet = parse(&bytes).unwrap_or_else(|e| panic!("{message}: {e}"));
        assert_eq!(packet.has_whole_tuple(), whole, "{message}");
    }
}

#[test]
fn rejects_malformed() {
    let mut short_ihl = v4(6, &PORTS_80);
    short_ihl[0] = 0x44;
    let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
        ("empty", vec![], ParseError::Empty),
        ("version 5", vec![0x50; 40], ParseError::Version(5)),
        (
            "IPv4 cut short",
            vec![0x45; 19],
            ParseError::Truncated("IPv4"),
        ),
        ("IPv4 IHL below 5", short_ihl, ParseError::HeaderLength(16)),
        (
            "IPv6 cut short",
            vec![0x60; 39],
            ParseError::Truncated("IPv6"),
        ),
        (
            "IPv6 extension cut short",
            v6(60, &[6]),
            ParseError::Truncated("IPv6 extension"),
        ),
    ];
    for (message, bytes, error) in cases {
        assert_eq!(parse(&bytes), Err(error), "{message}");
    }
}

#[test]
fn never_panics_on_noise() {
    // A cheap deterministic sweep; the fuzz target does the real search.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for len in 0..300 {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let mut v4 = bytes.clone();
            let mut v6 = bytes.clone();
            if let Some(b) = v4.first_mut() {
                *b = 0x40 | (*b & 0x0f);
            }
            if let Some(b) = v6.first_mut() {
                *b = 0x60;
            }
            let _ = (parse(&bytes), parse(&v4), parse(&v6));
        }
    }
}
