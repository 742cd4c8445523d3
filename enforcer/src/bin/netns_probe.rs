//! A helper for the end-to-end test and the bench, run inside a pod's network namespace:
//! echo servers on TCP, UDP and (when the kernel has it) SCTP, and a line protocol on stdin to
//! probe other pods, hold connections open and measure connection rates.
//!
//! Commands (one per line) and answers (`ID ...` on stdout):
//! - `probe ID tcp|udp|sctp|icmp IP PORT TIMEOUT_MS` → `ID ok` or `ID fail` (icmp: an echo
//!   request over a raw socket, the port ignored)
//! - `open ID IP PORT TIMEOUT_MS` → keeps a TCP connection under ID; `ID ok|fail`
//! - `send ID CONN TIMEOUT_MS` → an echo round trip on the connection opened as CONN; `ID ok|fail`
//! - `rate ID IP PORT MILLIS PARALLEL` → TCP connections opened and closed in that time by
//!   PARALLEL connectors; `ID COUNT`
//!
//! TCP port `SINK_PORT` accepts and closes at once, without a thread per connection, so that
//! the connection-rate bench measures the network path, not the server.
//!
//! - `resolve ID SERVER NAME udp|tcp TIMEOUT_MS` → the A records SERVER gives for NAME:
//!   `ID IP,IP...`, `ID none` (NXDOMAIN or no address) or `ID fail`
//! - `resolve-times ID SERVER NAME COUNT` → resolves COUNT times over UDP: `ID P50_US P99_US N`
//!   (round trips timed in the pod, N of them answered)
//! - `forge ID CLIENT NAME ADDRESS` → sends CLIENT, from UDP port 53, an answer it never asked
//!   for; `ID ok|fail`
//!
//! `--dns RECORDS` also serves DNS on port 53 (see `dns.rs`). `netpol-netns-probe get ADDR
//! PATH` instead prints the body of an HTTP GET (the enforcer's /metrics inside a node
//! namespace).

#[path = "netns_probe/dns.rs"]
mod dns;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const SCTP: i32 = 132;
const SINK_PORT: u16 = 7070;

type Out = Arc<Mutex<std::io::Stdout>>;

fn say(out: &Out, line: &str) {
    let mut out = out.lock().expect("stdout");
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn echo_stream(mut stream: impl Read + Write) {
    let mut buf = [0u8; 512];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

fn sctp_socket() -> std::io::Result<Socket> {
    Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(SCTP)))
}

fn serve(port: u16, sctp: bool) -> std::io::Result<()> {
    let any = SocketAddr::from(([0, 0, 0, 0], port));
    let tcp = TcpListener::bind(any)?;
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            std::thread::spawn(move || echo_stream(stream));
        }
    });
    let udp = UdpSocket::bind(any)?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&buf[..n], from);
        }
    });
    if sctp {
        let listener = sctp_socket()?;
        listener.set_reuse_address(true)?;
        listener.bind(&any.into())?;
        listener.listen(128)?;
        std::thread::spawn(move || {
            while let Ok((socket, _)) = listener.accept() {
                std::thread::spawn(move || echo_stream(socket));
            }
        });
    }
    Ok(())
}

fn round_trip(mut stream: impl Read + Write) -> bool {
    let mut buf = [0u8; 5];
    stream.write_all(b"ping\n").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"ping\n"
}

fn probe(protocol: &str, addr: SocketAddr, timeout: Duration) -> bool {
    match protocol {
        "tcp" => TcpStream::connect_timeout(&addr, timeout)
            .is_ok_and(|s| s.set_read_timeout(Some(timeout)).is_ok() && round_trip(s)),
        "udp" => {
            let Ok(socket) = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))) else {
                return false;
            };
            let mut buf = [0u8; 5];
            socket.set_read_timeout(Some(timeout)).is_ok()
                && socket.connect(addr).is_ok()
                && socket.send(b"ping\n").is_ok()
                && socket.recv(&mut buf).is_ok_and(|n| n == 5)
        }
        "sctp" => sctp_socket().is_ok_and(|s| {
            s.connect_timeout(&SockAddr::from(addr), timeout).is_ok()
                && s.set_read_timeout(Some(timeout)).is_ok()
                && round_trip(s)
        }),
        "icmp" => ping(addr.ip(), timeout),
        _ => false,
    }
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request and its reply (IPv4, raw socket: the probe runs as root).
fn ping(ip: IpAddr, timeout: Duration) -> bool {
    static NEXT: AtomicU16 = AtomicU16::new(1);
    if !ip.is_ipv4() {
        return false;
    }
    let Ok(socket) = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) else {
        return false;
    };
    // Echo requests of parallel probes told apart by identifier.
    let ident = (std::process::id() as u16).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) << 8);
    let mut request = [8, 0, 0, 0, 0, 0, 0, 1, b'n', b'p', b'o', b'l'];
    request[4..6].copy_from_slice(&ident.to_be_bytes());
    let sum = checksum(&request);
    request[2..4].copy_from_slice(&sum.to_be_bytes());
    if socket
        .connect(&SockAddr::from(SocketAddr::new(ip, 0)))
        .is_err()
        || socket.send(&request).is_err()
    {
        return false;
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        // IPv4 raw sockets receive the IP header too.
        let Ok(n) = (&socket).read(&mut buf) else {
            return false;
        };
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if n >= ihl + 8 && buf[ihl] == 0 && buf[ihl + 4..ihl + 6] == request[4..6] {
            return true;
        }
    }
}

/// Opens and resets TCP connections back to back (linger 0: no TIME_WAIT to run out of ports).
fn rate(addr: SocketAddr, duration: Duration) -> u64 {
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < duration {
        let Ok(socket) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
            break;
        };
        let _ = socket.set_linger(Some(Duration::ZERO));
        if socket
            .connect_timeout(&SockAddr::from(addr), Duration::from_secs(1))
            .is_ok()
        {
            count += 1;
        }
    }
    count
}

fn http_get(addr: &str, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(
            head.lines().next().unwrap_or("").to_owned(),
        ));
    }
    print!("{body}");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, get, addr, path] = args.as_slice()
        && get == "get"
    {
        return http_get(addr, path);
    }
    let ports: Vec<u16> = args
        .iter()
        .skip_while(|a| *a != "--ports")
        .nth(1)
        .map(|list| list.split(',').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default();
    let sctp = sctp_socket().is_ok();
    // A deep accept queue and two acceptors: a full queue would drop SYNs, and the retransmit
    // a second later would make the bench measure the server.
    let sink = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sink.set_reuse_address(true)?;
    sink.bind(&SocketAddr::from(([0, 0, 0, 0], SINK_PORT)).into())?;
    sink.listen(4096)?;
    let sink: TcpListener = sink.into();
    for listener in [sink.try_clone()?, sink] {
        std::thread::spawn(move || for _ in listener.incoming() {});
    }
    for port in &ports {
        serve(*port, sctp)?;
    }
    if let Some(records) = args.iter().skip_while(|a| *a != "--dns").nth(1) {
        dns::serve(records)?;
    }
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    say(&out, &format!("ready sctp={sctp}"));
    let held: Arc<Mutex<HashMap<String, TcpStream>>> = Arc::default();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let (out, held) = (out.clone(), held.clone());
        std::thread::spawn(move || {
            let addr = |ip: &str, port: &str| -> Option<SocketAddr> {
                Some(SocketAddr::new(
                    ip.parse::<IpAddr>().ok()?,
                    port.parse().ok()?,
                ))
            };
            let ms = |text: &str| Duration::from_millis(text.parse().unwrap_or(500));
            let verdict = |ok: bool| if ok { "ok" } else { "fail" };
            match words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["probe", id, protocol, ip, port, timeout] => {
                    let ok = addr(ip, port).is_some_and(|a| probe(protocol, a, ms(timeout)));
                    say(&out, &format!("{id} {}", verdict(ok)));
                }
                ["open", id, ip, port, timeout] => {
                    let stream = addr(ip, port)
                        .and_then(|a| TcpStream::connect_timeout(&a, ms(timeout)).ok());
                    let ok = stream.is_some();
                    if let Some(stream) = stream {
                        held.lock().expect("held").insert((*id).to_owned(), stream);
                    }
                    say(&out, &format!("{id} {}", verdict(ok)));
                }
                ["send", id, conn, timeout] => {
                    let stream = held
                        .lock()
                        .expect("held")
                        .get(*conn)
                        .and_then(|s| s.try_clone().ok());
                    let ok = stream.is_some_and(|s| {
                        s.set_read_timeout(Some(ms(timeout))).is_ok() && round_trip(s)
                    });
                    say(&out, &format!("{id} {}", verdict(ok)));
                }
                ["rate", id, ip, port, millis, parallel] => {
                    let parallel = parallel.parse().unwrap_or(1);
                    let count = addr(ip, port).map_or(0, |a| {
                        let duration = ms(millis);
                        let connectors: Vec<_> = (0..parallel)
                            .map(|_| std::thread::spawn(move || rate(a, duration)))
                            .collect();
                        connectors.into_iter().map(|c| c.join().unwrap_or(0)).sum()
                    });
                    say(&out, &format!("{id} {count}"));
                }
                ["resolve", id, server, name, transport, timeout] => {
                    let answer = server.parse().ok().and_then(|server| {
                        dns::resolve(server, name, *transport == "tcp", ms(timeout))
                    });
                    let text = match answer {
                        None => "fail".to_owned(),
                        Some(found) if found.is_empty() => "none".to_owned(),
                        Some(found) => found
                            .iter()
                            .map(IpAddr::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    };
                    say(&out, &format!("{id} {text}"));
                }
                ["resolve-times", id, server, name, count] => {
                    let mut times = server.parse().map_or_else(
                        |_| Vec::new(),
                        |server| dns::round_trips(server, name, count.parse().unwrap_or(100)),
                    );
                    times.sort();
                    let at = |q: f64| {
                        times
                            .get(
                                ((times.len() as f64 * q) as usize)
                                    .min(times.len().saturating_sub(1)),
                            )
                            .map_or(0, |d| d.as_micros())
                    };
                    say(
                        &out,
                        &format!("{id} {} {} {}", at(0.5), at(0.99), times.len()),
                    );
                }
                ["forge", id, client, name, address] => {
                    let sent = client
                        .parse()
                        .ok()
                        .and_then(|client| dns::forge(client, name, address));
                    say(&out, &format!("{id} {}", verdict(sent.is_some())));
                }
                _ => say(&out, &format!("? {line}")),
            }
        });
    }
    Ok(())
}
