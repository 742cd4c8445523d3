use std::net::{Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{A, AAAA, CNAME};
use simple_dns::{Question, ResourceRecord};

use super::*;

/// Records of an answer section, as (name, record).
enum Record<'a> {
    A(&'a str, &'a str, u32),
    Aaaa(&'a str, &'a str, u32),
    Cname(&'a str, &'a str, u32),
}

/// A response to `qname` (type A) with `records`, compressed as resolvers write them.
fn response(qname: &str, rcode: RCODE, records: &[Record]) -> Vec<u8> {
    let mut packet = Packet::new_reply(0x1234);
    *packet.rcode_mut() = rcode;
    packet.questions.push(Question::new(
        Name::new_unchecked(qname),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for record in records {
        let (name, ttl, rdata) = match record {
            Record::A(name, ip, ttl) => (
                name,
                ttl,
                RData::A(A::from(ip.parse::<Ipv4Addr>().unwrap())),
            ),
            Record::Aaaa(name, ip, ttl) => (
                name,
                ttl,
                RData::AAAA(AAAA::from(ip.parse::<Ipv6Addr>().unwrap())),
            ),
            Record::Cname(name, target, ttl) => {
                (name, ttl, RData::CNAME(CNAME(Name::new_unchecked(target))))
            }
        };
        packet.answers.push(ResourceRecord::new(
            Name::new_unchecked(name),
            CLASS::IN,
            *ttl,
            rdata,
        ));
    }
    packet.build_bytes_vec_compressed().unwrap()
}

fn learned(bytes: &[u8]) -> Vec<String> {
    parse_message(bytes)
        .unwrap()
        .iter()
        .map(|l| format!("{} → {} ttl {}", l.chain, l.address, l.ttl))
        .collect()
}

#[test]
fn answers_along_the_chain_from_the_question() {
    use Record::*;
    let ok = RCODE::NoError;
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("one A record",
         response("api.example.com", ok, &[A("api.example.com", "203.0.113.5", 300)]),
         vec!["api.example.com → 203.0.113.5 ttl 300"]),
        ("several addresses, IPv6 too",
         response("api.example.com", ok, &[
             A("api.example.com", "203.0.113.5", 60),
             Aaaa("api.example.com", "2001:db8::5", 30),
         ]),
         vec!["api.example.com → 203.0.113.5 ttl 60", "api.example.com → 2001:db8::5 ttl 30"]),
        ("a CNAME chain in any order: the smallest TTL of the chain",
         response("www.example.com", ok, &[
             A("edge.cdn.net", "198.51.100.7", 300),
             Cname("alias.cdn.net", "edge.cdn.net", 20),
             Cname("www.example.com", "alias.cdn.net", 3600),
         ]),
         vec!["www.example.com → alias.cdn.net → edge.cdn.net → 198.51.100.7 ttl 20"]),
        ("records off the chain are ignored (stuffed into the answer)",
         response("api.example.com", ok, &[
             A("api.example.com", "203.0.113.5", 300),
             A("bank.example.org", "192.0.2.66", 300),
         ]),
         vec!["api.example.com → 203.0.113.5 ttl 300"]),
        ("the address of a CNAME's owner is not the chain's end",
         response("www.example.com", ok, &[
             Cname("www.example.com", "edge.cdn.net", 300),
             A("www.example.com", "192.0.2.66", 300),
             A("edge.cdn.net", "198.51.100.7", 300),
         ]),
         vec!["www.example.com → edge.cdn.net → 198.51.100.7 ttl 300"]),
        ("case does not count (0x20 randomised queries)",
         response("Api.EXAMPLE.com", ok, &[A("aPI.example.COM", "203.0.113.5", 5)]),
         vec!["api.example.com → 203.0.113.5 ttl 5"]),
        ("NXDOMAIN teaches nothing",
         response("api.example.com", RCODE::NameError, &[A("api.example.com", "203.0.113.5", 300)]),
         vec![]),
        ("a CNAME loop teaches nothing",
         response("a.example.com", ok, &[
             Cname("a.example.com", "b.example.com", 300),
             Cname("b.example.com", "a.example.com", 300),
             A("a.example.com", "192.0.2.1", 300),
         ]),
         vec![]),
        ("a chain with no address at its end",
         response("www.example.com", ok, &[Cname("www.example.com", "edge.cdn.net", 300)]),
         vec![]),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(learned(&bytes), want, "{what}");
    }
}

#[test]
fn queries_and_odd_messages_are_not_answers() {
    let mut query = Packet::new_query(1);
    query.questions.push(Question::new(
        Name::new_unchecked("api.example.com"),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    let query = query.build_bytes_vec().unwrap();
    assert_eq!(parse_message(&query), Err(DnsError::NotAnswer));
    let none = Packet::new_reply(1).build_bytes_vec().unwrap();
    assert_eq!(
        parse_message(&none),
        Err(DnsError::NotAnswer),
        "no question"
    );
}

#[test]
fn names_are_text_no_label_can_pass_for_two() {
    // api.example.com as one label "api.example" and "com"; a label with a space.
    let mut bytes = response("x.test", RCODE::NoError, &[]);
    bytes.truncate(12);
    bytes[5] = 1; // one question, no answers
    bytes.extend(b"\x0bapi.example\x03com\x00\x00\x01\x00\x01");
    // The answer: a pointer to the question's name, A, IN, TTL 60, 4 bytes.
    bytes[7] = 1;
    bytes.extend(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xcb\x00\x71\x05");
    assert_eq!(
        learned(&bytes),
        ["api\\046example.com → 203.0.113.5 ttl 60"],
        "the dot inside a label is escaped"
    );
}

#[test]
fn malformed_messages_are_errors_never_panics() {
    let whole = response(
        "www.example.com",
        RCODE::NoError,
        &[
            Record::Cname("www.example.com", "edge.cdn.net", 300),
            Record::A("edge.cdn.net", "198.51.100.7", 300),
        ],
    );
    for end in 0..whole.len() {
        assert!(parse_message(&whole[..end]).is_err(), "cut at {end}");
    }
    // A name that points to itself, and one that points forward.
    let mut header = whole[..12].to_vec();
    header[7] = 0;
    for pointer in [b"\xc0\x0c", b"\xc0\x20"] {
        let mut bytes = header.clone();
        bytes.extend(pointer);
        bytes.extend(b"\x00\x01\x00\x01");
        assert!(
            matches!(parse_message(&bytes), Err(DnsError::Message(_))),
            "pointer {pointer:?}"
        );
    }
    // Every byte flipped in turn: whatever comes out, no panic.
    for at in 0..whole.len() {
        let mut bytes = whole.clone();
        bytes[at] ^= 0xff;
        let _ = parse_message(&bytes);
    }
}

/// An IPv4 packet from the resolver at port 53 to the pod, with `l4` after the header.
fn ipv4(protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut bytes = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0, 10, 96, 0, 10, 10, 0, 1, 10,
    ];
    let total = (20 + l4.len()) as u16;
    bytes[2..4].copy_from_slice(&total.to_be_bytes());
    bytes.extend(l4);
    bytes
}

fn udp(source: u16, message: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend(source.to_be_bytes());
    l4.extend(40000u16.to_be_bytes());
    l4.extend(((8 + message.len()) as u16).to_be_bytes());
    l4.extend([0, 0]);
    l4.extend(message);
    l4
}

fn tcp(messages: &[&[u8]], cut: usize) -> Vec<u8> {
    let mut l4 = vec![
        0, 53, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    for message in messages {
        l4.extend((message.len() as u16).to_be_bytes());
        l4.extend(*message);
    }
    l4.truncate(l4.len() - cut);
    l4
}

#[test]
fn packets_over_udp_and_tcp() {
    let message = response(
        "api.example.com",
        RCODE::NoError,
        &[Record::A("api.example.com", "203.0.113.5", 300)],
    );
    let other = response(
        "b.example.com",
        RCODE::NoError,
        &[Record::A("b.example.com", "203.0.113.6", 300)],
    );
    let udp_packet = ipv4(17, &udp(53, &message));
    let read = parse_packet(&udp_packet).unwrap();
    assert_eq!(read.resolver.to_string(), "10.96.0.10");
    assert_eq!(read.client.to_string(), "10.0.1.10");
    assert_eq!(read.answers.len(), 1);
    let two = parse_packet(&ipv4(6, &tcp(&[&message, &other], 0))).unwrap();
    assert_eq!(two.answers.len(), 2, "two messages in one segment");
    assert_eq!(
        parse_packet(&ipv4(6, &tcp(&[&message], 3))),
        Err(DnsError::Partial),
        "a message cut at the segment's end"
    );
    assert_eq!(
        parse_packet(&ipv4(17, &udp(5353, &message))),
        Err(DnsError::NotDns)
    );
    // IPv6 and UDP.
    let l4 = udp(53, &message);
    let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
    v6[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    v6.extend("fd00::53".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend("fd00::1:10".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend(&l4);
    assert_eq!(parse_packet(&v6).unwrap().client.to_string(), "fd00::1:10");
    for end in 0..udp_packet.len() {
        assert!(parse_packet(&udp_packet[..end]).is_err(), "cut at {end}");
    }
}
