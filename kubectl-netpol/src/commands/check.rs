//! `kubectl netpol check`: decide flows, explain each, compare with expectations.

use crate::output::{out, outln};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use netpol_engine::eval::ResolveError;
use netpol_engine::eval::Walkthrough;
use netpol_engine::{EndpointSpec, FlowSpec, PortSpec, Protocol};
use serde::{Deserialize, Serialize};

use crate::cli::{CheckArgs, Expectation, OutputFormat, ProtocolArg};
use crate::input::load_engine;
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

/// A flow as requested, before resolution: the endpoints as the user wrote them (for the
/// report), the engine's flow spec, and the expectation.
struct Request {
    from: String,
    to: String,
    spec: FlowSpec,
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
    let input = load_engine(&args.source)?;
    // Names without a namespace are in -n's, else the context's: known once the input is read.
    let requests = requests(args, &input.namespace)?;
    let engine = &input.engine;
    let started = std::time::Instant::now();
    let mut flows = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let flow = engine
            .resolve_flow(&request.spec)
            .with_context(|| match &args.traffic {
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

fn requests(args: &CheckArgs, namespace: &str) -> Result<Vec<Request>> {
    if let Some(file) = &args.traffic {
        return traffic_file(file, namespace);
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
    let port = args.port.as_deref().map(str::parse).transpose()?;
    // The engine checks the shape; these say it in the flags' words.
    let spec = flow_spec(from, to, namespace, protocol, port).map_err(|err| match err {
        ResolveError::IcmpPort => anyhow!("--protocol icmp takes no --port"),
        ResolveError::PortRequired => {
            anyhow!("--port is required with --from and --to (except for --protocol icmp)")
        }
        other => other.into(),
    })?;
    Ok(vec![Request {
        from: from.clone(),
        to: to.clone(),
        spec,
        expect: args.expect,
    }])
}

/// The engine's flow spec from the user's texts; endpoints without a namespace are in
/// `namespace`.
fn flow_spec(
    from: &str,
    to: &str,
    namespace: &str,
    protocol: Option<Protocol>,
    port: Option<PortSpec>,
) -> Result<FlowSpec, ResolveError> {
    let endpoint = |text: &str| EndpointSpec::parse_in(text, namespace);
    FlowSpec::new(endpoint(from)?, endpoint(to)?, protocol, port)
}

fn traffic_file(path: &Path, namespace: &str) -> Result<Vec<Request>> {
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
            let port = e.port.map(|p| match p {
                PortText::Number(n) => n.to_string(),
                PortText::Name(name) => name,
            });
            let port = port
                .as_deref()
                .map(str::parse)
                .transpose()
                .with_context(at)?;
            Ok(Request {
                spec: flow_spec(&e.from, &e.to, namespace, protocol, port).with_context(at)?,
                from: e.from,
                to: e.to,
                expect,
            })
        })
        .collect()
}
