//! `kubectl netpol check`: decide flows, explain each, compare with expectations.

mod dns;
mod junit;
mod traffic;

use crate::output::{out, outln};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use netpol_engine::dns::Resolution;
use netpol_engine::eval::ResolveError;
use netpol_engine::eval::Walkthrough;
use netpol_engine::{EndpointSpec, Engine, FlowSpec, PortSpec, Protocol};
use serde::Serialize;

use crate::cli::{CheckArgs, Expectation, OutputFormat, ProtocolArg};
use crate::input::load_engine;
use crate::output::{Style, structured};

/// A flow as requested, before resolution: the endpoints as the user wrote them (for the
/// report), the engine's flow spec, and the expectation.
struct Request {
    from: String,
    to: String,
    spec: FlowSpec,
    expect: Option<Expectation>,
    /// What the source learned from DNS.
    dns: Vec<Resolution>,
}

/// A flow to check as the user gave it: its name, its line in the traffic file, and the
/// request, or why the entry is not one.
struct Entry {
    name: String,
    /// Where the entry is, for messages: `traffic.yaml entry 3`.
    place: String,
    line: Option<usize>,
    request: Result<Request>,
}

/// What became of an entry.
struct Checked {
    name: String,
    line: Option<usize>,
    time: Duration,
    outcome: Result<Decided, Unchecked>,
}

/// A decided flow: the report's row and the walkthrough as people read it.
struct Decided {
    result: FlowResult,
    walkthrough: String,
}

/// A flow that could not be decided: the entry is not a flow, or it names what the input
/// lacks.
enum Unchecked {
    Invalid(anyhow::Error),
    Unresolved(anyhow::Error),
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
    /// The verdict with the audited policies enforced, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    audit: Option<AuditNote>,
}

/// What an audited policy would change about a flow.
#[derive(Serialize)]
struct AuditNote {
    /// `would-deny` or `would-allow`.
    verdict: &'static str,
    /// The audited policies that decided it, with their rules.
    decided_by: Vec<String>,
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
    let entries = entries(args, &input.namespace)?;
    let started = Instant::now();
    let checked: Vec<Checked> = entries
        .into_iter()
        .map(|entry| check(&input.engine, input.audit.as_ref(), entry))
        .collect();
    crate::input::timing("resolve and decide flows", started);
    let started = Instant::now();
    let exit = match args.output.common() {
        Some(format) => {
            // The first flow that cannot be decided stops the command, as bad input does.
            let decided = checked
                .into_iter()
                .map(|c| match c.outcome {
                    Ok(decided) => Ok(decided),
                    Err(Unchecked::Invalid(err) | Unchecked::Unresolved(err)) => Err(err),
                })
                .collect::<Result<Vec<_>>>()?;
            print_decided(format, decided)?
        }
        None => print_junit(args, checked),
    };
    crate::input::timing("print", started);
    Ok(exit)
}

/// Resolves and decides one entry.
fn check(engine: &Engine, audit: Option<&Engine>, entry: Entry) -> Checked {
    let started = Instant::now();
    let outcome = match entry.request {
        Err(err) => Err(Unchecked::Invalid(err)),
        Ok(request) => decide(engine, audit, &request)
            .context(entry.place)
            .map_err(Unchecked::Unresolved),
    };
    Checked {
        name: entry.name,
        line: entry.line,
        time: started.elapsed(),
        outcome,
    }
}

fn decide(engine: &Engine, audit: Option<&Engine>, request: &Request) -> Result<Decided> {
    let flow = engine.resolve_flow(&request.spec).map_err(|err| {
        let hint = matches!(err, ResolveError::UnknownPod { .. })
            .then(|| dns::name_hint(&request.to, dns::FLAGS))
            .flatten();
        match hint {
            Some(hint) => anyhow!("{err}; {hint}"),
            None => err.into(),
        }
    })?;
    let answers = dns::answers(&request.dns);
    let verdict = engine.verdict_with_dns(&flow, &answers);
    let audit = audit.and_then(|enforced| {
        let with = enforced.verdict_with_dns(&flow, &answers);
        audit_note(engine, &with, verdict.allowed)
    });
    let expect = request.expect.map(|e| match e {
        Expectation::Allow => "allow",
        Expectation::Deny => "deny",
    });
    let ok = request
        .expect
        .is_none_or(|e| (e == Expectation::Allow) == verdict.allowed);
    let mut walkthrough = verdict.to_string();
    if let Some(note) = &audit {
        walkthrough.push_str(&format!(
            "  audit: with the audited policies enforced this flow {} ({})\n",
            if note.verdict == "would-deny" {
                "would be DENIED"
            } else {
                "would be ALLOWED"
            },
            note.decided_by.join("; ")
        ));
    }
    Ok(Decided {
        walkthrough,
        result: FlowResult {
            from: request.from.clone(),
            to: request.to.clone(),
            protocol: verdict.protocol,
            port: verdict.port,
            verdict: if verdict.allowed { "allow" } else { "deny" },
            expect,
            ok,
            egress: verdict.egress,
            ingress: verdict.ingress,
            audit,
        },
    })
}

/// `verdict`, decided with the audited policies enforced, when it differs from `allowed`: which
/// audited policies and rules decide it.
fn audit_note(
    engine: &Engine,
    verdict: &netpol_engine::Verdict,
    allowed: bool,
) -> Option<AuditNote> {
    if verdict.allowed == allowed {
        return None;
    }
    let audited = engine.audited();
    let mut decided_by: Vec<String> = [&verdict.egress, &verdict.ingress]
        .iter()
        .flat_map(|w| &w.steps)
        .filter(|step| step.policy.as_ref().is_some_and(|p| audited.contains(p)))
        .filter_map(|step| {
            let policy = step.policy.as_ref()?;
            Some(match &step.rule {
                Some(rule) => format!("{policy} rule {}", rule.index),
                None => policy.to_string(),
            })
        })
        .collect();
    decided_by.dedup();
    Some(AuditNote {
        verdict: if verdict.allowed {
            "would-allow"
        } else {
            "would-deny"
        },
        decided_by,
    })
}

/// The human, JSON and YAML reports; the exit status is 1 on a mismatch.
fn print_decided(format: OutputFormat, decided: Vec<Decided>) -> Result<u8> {
    let allowed = decided
        .iter()
        .filter(|d| d.result.verdict == "allow")
        .count();
    let mismatches = decided.iter().filter(|d| !d.result.ok).count();
    let summary = Summary {
        total: decided.len(),
        allowed,
        denied: decided.len() - allowed,
        mismatches,
    };
    let exit = u8::from(mismatches > 0);
    let (walkthroughs, flows): (Vec<String>, Vec<FlowResult>) = decided
        .into_iter()
        .map(|d| (d.walkthrough, d.result))
        .unzip();
    let report = Report { flows, summary };
    if structured(format, &report)? {
        return Ok(exit);
    }
    let style = Style::detect();
    for (walkthrough, flow) in walkthroughs.iter().zip(&report.flows) {
        out!("{}", flow_text(walkthrough, flow, style));
        outln!();
    }
    let summary = &report.summary;
    outln!(
        "{} flow(s): {} allowed, {} denied, {} mismatch(es)",
        summary.total,
        summary.allowed,
        summary.denied,
        summary.mismatches
    );
    Ok(exit)
}

/// A flow as people read it: the walkthrough, then how it compares with the expectation.
fn flow_text(walkthrough: &str, flow: &FlowResult, style: Style) -> String {
    let mut text = walkthrough.to_owned();
    if let Some(expect) = flow.expect {
        let status = if flow.ok {
            style.good("as expected")
        } else {
            style.bad("MISMATCH")
        };
        text.push_str(&format!("  expected {expect}: {status}\n"));
    }
    text
}

/// The JUnit report. As with the other formats, the exit status is 1 on a mismatch and 2 when
/// a flow could not be decided; the report still lists every flow.
fn print_junit(args: &CheckArgs, checked: Vec<Checked>) -> u8 {
    let file = args.traffic.as_ref().map(|f| f.display().to_string());
    let classname = file
        .clone()
        .unwrap_or_else(|| "kubectl netpol check".to_owned());
    let mut exit = 0;
    let cases = checked
        .into_iter()
        .map(|c| {
            let outcome = match c.outcome {
                Ok(Decided { result, .. }) if result.ok => junit::Outcome::Passed,
                Ok(Decided {
                    result,
                    walkthrough,
                }) => {
                    exit = exit.max(1);
                    junit::Outcome::Failed {
                        message: format!(
                            "expected {}, got {}",
                            result.expect.unwrap_or_default(),
                            result.verdict
                        ),
                        text: flow_text(&walkthrough, &result, Style::plain()),
                    }
                }
                Err(unchecked) => {
                    exit = crate::EXIT_BAD_INPUT;
                    let (kind, err) = match unchecked {
                        Unchecked::Invalid(err) => ("invalid-flow", err),
                        Unchecked::Unresolved(err) => ("unresolved", err),
                    };
                    junit::Outcome::Error {
                        kind,
                        message: format!("{err:#}"),
                        text: format!("{err:#}\n"),
                    }
                }
            };
            junit::Case {
                name: c.name,
                classname: classname.clone(),
                file: file.clone(),
                line: c.line,
                time: c.time,
                outcome,
            }
        })
        .collect();
    out!(
        "{}",
        junit::render(&junit::Suite {
            name: classname,
            cases,
        })
    );
    exit
}

/// The flows to check: the traffic file's entries, or the one flow of the flags.
fn entries(args: &CheckArgs, namespace: &str) -> Result<Vec<Entry>> {
    let resolved = dns::parse_resolve(&args.resolve, dns::FLAGS)?;
    if let Some(file) = &args.traffic {
        return traffic::read(file, namespace, &resolved);
    }
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        bail!("give a flow with --from, --to and --port, or a file of flows with --traffic");
    };
    let mut learned = resolved;
    learned.extend(dns::parse_dns(&args.dns, to, dns::FLAGS)?);
    let protocol = args.protocol.map(|p| match p {
        ProtocolArg::Tcp => Protocol::Tcp,
        ProtocolArg::Udp => Protocol::Udp,
        ProtocolArg::Sctp => Protocol::Sctp,
        ProtocolArg::Icmp => Protocol::Icmp,
    });
    let port: Option<PortSpec> = args.port.as_deref().map(str::parse).transpose()?;
    let protocol_text = protocol.map(|p| p.to_string());
    dns::targets(to, &learned)
        .into_iter()
        .map(|target| {
            // The engine checks the shape; these say it in the flags' words.
            let spec = flow_spec(from, &target.endpoint, namespace, protocol, port.clone())
                .map_err(|err| match err {
                    ResolveError::IcmpPort => anyhow!("--protocol icmp takes no --port"),
                    ResolveError::PortRequired => anyhow!(
                        "--port is required with --from and --to (except for --protocol icmp)"
                    ),
                    other => other.into(),
                })?;
            Ok(Entry {
                name: flow_name(
                    from,
                    &target.shown,
                    args.port.as_deref(),
                    protocol_text.as_deref(),
                ),
                place: "the flow".to_owned(),
                line: None,
                request: Ok(Request {
                    from: from.clone(),
                    to: target.shown,
                    spec,
                    expect: args.expect,
                    dns: learned.clone(),
                }),
            })
        })
        .collect()
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

/// A flow's name as written, for test reports: `from → to port/PROTOCOL`. A port number
/// without a protocol is TCP; the protocol of a port name is the destination's, known only
/// once resolved, so it is left out.
fn flow_name(from: &str, to: &str, port: Option<&str>, protocol: Option<&str>) -> String {
    let protocol = protocol.map(str::to_ascii_uppercase);
    let number = port.is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    let on = match (port, protocol) {
        (Some(port), Some(protocol)) => format!(" {port}/{protocol}"),
        (Some(port), None) if number => format!(" {port}/TCP"),
        (Some(port), None) => format!(" {port}"),
        (None, Some(protocol)) => format!(" {protocol}"),
        (None, None) => String::new(),
    };
    format!("{from} → {to}{on}")
}
