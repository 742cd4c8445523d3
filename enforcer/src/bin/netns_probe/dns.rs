//! DNS for the DNS-learning tests and bench: a small authoritative responder (UDP and TCP 53)
//! serving fixed records, a client that resolves a name as a stub resolver does, and a forger
//! that sends a response nobody asked for.
//!
//! Records: `NAME/A/ADDRESS/TTL`, `NAME/AAAA/ADDRESS/TTL`, `NAME/CNAME/TARGET/TTL`, comma
//! separated. A query is answered with the CNAME chain from its name and the address records
//! at its end, in one response (as a recursive resolver that follows CNAMEs does).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use simple_dns::rdata::{A, AAAA, CNAME, RData};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};

#[derive(Clone, Debug)]
struct Record {
    name: String,
    kind: String,
    value: String,
    ttl: u32,
}

fn records(spec: &str) -> Vec<Record> {
    spec.split(',')
        .filter_map(|r| {
            let [name, kind, value, ttl] = r.split('/').collect::<Vec<_>>()[..] else {
                return None;
            };
            Some(Record {
                name: name.to_ascii_lowercase(),
                kind: kind.to_ascii_uppercase(),
                value: value.to_owned(),
                ttl: ttl.parse().ok()?,
            })
        })
        .collect()
}

/// The response to one query message.
fn answer(zone: &[Record], query: &[u8]) -> Option<Vec<u8>> {
    let query = Packet::parse(query).ok()?;
    let question = query.questions.first()?;
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
    reply.questions.push(question.clone());
    let mut name = question.qname.to_string().to_ascii_lowercase();
    let mut chain = Vec::new();
    for _ in 0..8 {
        let Some(cname) = zone.iter().find(|r| r.name == name && r.kind == "CNAME") else {
            break;
        };
        chain.push(cname.clone());
        name = cname.value.to_ascii_lowercase();
    }
    let wanted = match question.qtype {
        QTYPE::TYPE(TYPE::AAAA) => "AAAA",
        _ => "A",
    };
    let addresses: Vec<&Record> = zone
        .iter()
        .filter(|r| r.name == name && r.kind == wanted)
        .collect();
    if chain.is_empty() && addresses.is_empty() {
        *reply.rcode_mut() = RCODE::NameError;
    }
    for record in chain.iter().chain(addresses) {
        let rdata = match record.kind.as_str() {
            "A" => RData::A(A::from(record.value.parse::<std::net::Ipv4Addr>().ok()?)),
            "AAAA" => RData::AAAA(AAAA::from(record.value.parse::<std::net::Ipv6Addr>().ok()?)),
            _ => RData::CNAME(CNAME(Name::new_unchecked(&record.value))),
        };
        reply.answers.push(ResourceRecord::new(
            Name::new_unchecked(&record.name),
            CLASS::IN,
            record.ttl,
            rdata,
        ));
    }
    reply.build_bytes_vec_compressed().ok()
}

/// Serves `spec`'s records on UDP and TCP port 53 from background threads.
pub fn serve(spec: &str) -> std::io::Result<()> {
    let zone = records(spec);
    let any = SocketAddr::from(([0, 0, 0, 0], 53));
    let udp = UdpSocket::bind(any)?;
    let udp_zone = zone.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            if let Some(reply) = answer(&udp_zone, &buf[..n]) {
                let _ = udp.send_to(&reply, from);
            }
        }
    });
    let tcp = TcpListener::bind(any)?;
    std::thread::spawn(move || {
        for mut stream in tcp.incoming().flatten() {
            let zone = zone.clone();
            std::thread::spawn(move || {
                while let Some(query) = read_framed(&mut stream) {
                    let Some(reply) = answer(&zone, &query) else {
                        break;
                    };
                    if write_framed(&mut stream, &reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

fn read_framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).ok()?;
    Some(message)
}

/// One write, so that a short message goes out in one segment as resolvers send it.
fn write_framed(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend(message);
    stream.write_all(&framed)
}

fn query(name: &str, id: u16) -> Option<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        Name::new(name).ok()?,
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().ok()
}

fn addresses(reply: &[u8]) -> Option<Vec<IpAddr>> {
    let packet = Packet::parse(reply).ok()?;
    Some(
        packet
            .answers
            .iter()
            .filter_map(|rr| match &rr.rdata {
                RData::A(a) => Some(IpAddr::from(std::net::Ipv4Addr::from(a.address))),
                RData::AAAA(a) => Some(IpAddr::from(std::net::Ipv6Addr::from(a.address))),
                _ => None,
            })
            .collect(),
    )
}

/// Asks `server` for `name`'s A records over UDP or TCP; the addresses, none on failure.
pub fn resolve(server: IpAddr, name: &str, tcp: bool, timeout: Duration) -> Option<Vec<IpAddr>> {
    let id = std::process::id() as u16;
    let message = query(name, id)?;
    let server = SocketAddr::new(server, 53);
    let reply = if tcp {
        let mut stream = TcpStream::connect_timeout(&server, timeout).ok()?;
        stream.set_read_timeout(Some(timeout)).ok()?;
        write_framed(&mut stream, &message).ok()?;
        read_framed(&mut stream)?
    } else {
        let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).ok()?;
        socket.set_read_timeout(Some(timeout)).ok()?;
        socket.send_to(&message, server).ok()?;
        let mut buf = [0u8; 1500];
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        buf[..n].to_vec()
    };
    addresses(&reply)
}

/// Resolves `name` over UDP `count` times in a row; each round trip's time.
pub fn round_trips(server: IpAddr, name: &str, count: usize) -> Vec<Duration> {
    (0..count)
        .filter_map(|_| {
            let started = std::time::Instant::now();
            resolve(server, name, false, Duration::from_secs(1))?;
            Some(started.elapsed())
        })
        .collect()
}

/// Sends, from UDP port 53, an answer `name → address` to `client` that it never asked for.
pub fn forge(client: IpAddr, name: &str, address: &str) -> Option<()> {
    let zone = records(&format!("{name}/A/{address}/300"));
    let reply = answer(&zone, &query(name, 7)?)?;
    let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 53))).ok()?;
    socket
        .send_to(&reply, SocketAddr::new(client, 40000))
        .ok()
        .map(drop)
}
