//! `kubectl netpol check`: decide flows, explain each, compare with expectations.

use crate::output::{out, outln};
use std::path::Path;

use anyhow::{Context, Result, bail};
use netpol_engine::eval::Walkthrough;
use netpol_engine::{Endpoint, Engine, Flow, Protocol};
use serde::{Deserialize, Serialize};

use crate::cli::{CheckArgs, Expectation, OutputFormat, ProtocolArg};
use crate::input::{Input, load_engine};
use crate::output::{Style, structured};

/// One entry of a traffic file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficEntry {
    from: String,
    to: String,
    #[serde(default)]
    port: Option<PortText>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    expect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortText {
    Number(u16),
    Name(String),
}

/// A flow as requested, before resolution.
struct Request {
    from: String,
    to: String,
    /// None for ICMP, which has no port.
    port: Option<String>,
    protocol: Option<Protocol>,
    expect: Option<Expectation>,
}

#[derive(Serialize)]
struct FlowResult {
    from: String,
    to: String,
    protocol: Protocol,
    port: u16,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect: Option<&'static str>,
    ok: bool,
    egress: Walkthrough,
    ingress: Walkthrough,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    allowed: usize,
    denied: usize,
    mismatches: usize,
}

#[derive(Serialize)]
struct Report {
    flows: Vec<FlowResult>,
    summary: Summary,
}

pub fn run(args: &CheckArgs) -> Result<u8> {
    let requests = requests(args)?;
    let input = load_engine(&args.source)?;
    let engine = &input.engine;
    let started = std::time::Instant::now();
    let mut flows = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let flow = resolve(&input, request).with_context(|| match &args.traffic {
            Some(file) => format!("{} entry {}", file.display(), i + 1),
            None => "the flow".to_owned(),
        })?;
        let verdict = engine.verdict(&flow);
        let expect = request.expect.map(|e| match e {
            Expectation::Allow => "allow",
            Expectation::Deny => "deny",
        });
        let ok = request
            .expect
            .is_none_or(|e| (e == Expectation::Allow) == verdict.allowed);
        flows.push((
            verdict.to_string(),
            FlowResult {
                from: request.from.clone(),
                to: request.to.clone(),
                protocol: verdict.protocol,
                port: verdict.port,
                verdict: if verdict.allowed { "allow" } else { "deny" },
                expect,
                ok,
                egress: verdict.egress,
                ingress: verdict.ingress,
            },
        ));
    }
    crate::input::timing("resolve and decide flows", started);
    let started = std::time::Instant::now();
    let allowed = flows.iter().filter(|(_, f)| f.verdict == "allow").count();
    let mismatches = flows.iter().filter(|(_, f)| !f.ok).count();
    let summary = Summary {
        total: flows.len(),
        allowed,
        denied: flows.len() - allowed,
        mismatches,
    };
    let exit = u8::from(mismatches > 0);
    if matches!(args.output, OutputFormat::Json | OutputFormat::Yaml) {
        let report = Report {
            flows: flows.into_iter().map(|(_, f)| f).collect(),
            summary,
        };
        structured(args.output, &report)?;
        crate::input::timing("print", started);
        return Ok(exit);
    }
    let style = Style::detect();
    for (text, flow) in &flows {
        out!("{text}");
        if let Some(expect) = flow.expect {
            let status = if flow.ok {
                style.good("as expected")
            } else {
                style.bad("MISMATCH")
            };
            outln!("  expected {expect}: {status}");
        }
        outln!();
    }
    outln!(
        "{} flow(s): {} allowed, {} denied, {} mismatch(es)",
        summary.total,
        summary.allowed,
        summary.denied,
        summary.mismatches
    );
    crate::input::timing("print", started);
    Ok(exit)
}

fn requests(args: &CheckArgs) -> Result<Vec<Request>> {
    if let Some(file) = &args.traffic {
        return traffic_file(file);
    }
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        bail!("give a flow with --from, --to and --port, or a file of flows with --traffic");
    };
    let protocol = args.protocol.map(|p| match p {
        ProtocolArg::Tcp => Protocol::Tcp,
        ProtocolArg::Udp => Protocol::Udp,
        ProtocolArg::Sctp => Protocol::Sctp,
        ProtocolArg::Icmp => Protocol::Icmp,
    });
    let port = match (&args.port, protocol) {
        (Some(_), Some(Protocol::Icmp)) => bail!("--protocol icmp takes no --port"),
        (None, Some(Protocol::Icmp)) => None,
        (Some(port), _) => Some(port.clone()),
        (None, _) => bail!("--port is required with --from and --to (except for --protocol icmp)"),
    };
    Ok(vec![Request {
        from: from.clone(),
        to: to.clone(),
        port,
        protocol,
        expect: args.expect,
    }])
}

fn traffic_file(path: &Path) -> Result<Vec<Request>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let entries: Vec<TrafficEntry> = serde_yaml_ng::from_str(&text).with_context(|| {
        format!(
            "{}: want a list of {{from, to, port, protocol, expect}}",
            path.display()
        )
    })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let at = || format!("{} entry {}", path.display(), i + 1);
            let protocol = match &e.protocol {
                None => None,
                Some(p) => Some(Protocol::parse_flow(p).with_context(|| {
                    format!("{}: protocol {p:?}: want tcp, udp, sctp or icmp", at())
                })?),
            };
            let expect = match e.expect.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => None,
                Some("allow") => Some(Expectation::Allow),
                Some("deny") => Some(Expectation::Deny),
                Some(other) => bail!("{}: expect {other:?}: want allow or deny", at()),
            };
            let port = match (e.port, protocol) {
                (Some(_), Some(Protocol::Icmp)) => bail!("{}: icmp has no port", at()),
                (None, Some(Protocol::Icmp)) => None,
                (Some(PortText::Number(n)), _) => Some(n.to_string()),
                (Some(PortText::Name(name)), _) => Some(name),
                (None, _) => bail!("{}: port is required (except for icmp)", at()),
            };
            Ok(Request {
                from: e.from,
                to: e.to,
                port,
                protocol,
                expect,
            })
        })
        .collect()
}

fn resolve(input: &Input, request: &Request) -> Result<Flow> {
    let engine = &input.engine;
    let src = input.endpoint(&request.from)?;
    let dst = input.endpoint(&request.to)?;
    let (protocol, port) = match request.port.as_deref() {
        // Only ICMP comes without a port (checked when reading the request).
        None => (Protocol::Icmp, 0),
        Some(text) => match text.parse::<u16>() {
            Ok(0) => bail!("port 0 is not a destination port"),
            Ok(port) => (request.protocol.unwrap_or(Protocol::Tcp), port),
            Err(_) => named_port(engine, dst, text, request.protocol, &request.to)?,
        },
    };
    Ok(Flow {
        src,
        dst,
        protocol,
        port,
    })
}

/// A port name resolves on the destination pod, as policies resolve named ports.
fn named_port(
    engine: &Engine,
    dst: Endpoint,
    name: &str,
    protocol: Option<Protocol>,
    to: &str,
) -> Result<(Protocol, u16)> {
    let Endpoint::Pod(pod) = engine.normalize(dst) else {
        bail!("port {name:?} is a name, but {to} is not a pod: give a number");
    };
    let pod = engine.cluster.pod(pod);
    let found = pod
        .ports
        .iter()
        .find(|p| p.name == name && protocol.is_none_or(|w| w == p.protocol));
    match found {
        Some(p) => Ok((p.protocol, p.port)),
        None => {
            let names: Vec<String> = pod
                .ports
                .iter()
                .map(|p| format!("{}({}/{})", p.name, p.protocol, p.port))
                .collect();
            let have = if names.is_empty() {
                "no named ports".to_owned()
            } else {
                names.join(", ")
            };
            bail!("{to} has no container port named {name:?}; it has {have}")
        }
    }
}
