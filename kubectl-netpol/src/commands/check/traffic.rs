//! Traffic files: a YAML or JSON list of flows and the verdicts they must get. Each entry is
//! read on its own, so that a bad entry is that entry's problem (an error test case in JUnit)
//! and the others are still checked.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use netpol_engine::Protocol;
use netpol_engine::dns::Resolution;
use netpol_engine::load::{FieldRef, locate};
use serde::Deserialize;

use super::{Entry, Request, dns, flow_name, flow_spec};
use crate::cli::Expectation;

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
    /// Answers the source received: `NAME=ADDRESS`, as `--resolve`.
    #[serde(default)]
    resolve: Vec<String>,
    /// The names `to` (an address) was learned for, as `--dns`.
    #[serde(default)]
    dns: Option<Names>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum PortText {
    Number(u16),
    Name(String),
}

impl PortText {
    fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Name(name) => name.clone(),
        }
    }
}

/// The entries of the traffic file at `path`, with their lines; endpoints without a namespace
/// are in `namespace`; every source learned `resolved` besides its entry's answers. An entry
/// to a name with several addresses is a flow to each. Only a file that is not a list at all
/// is an error here.
pub fn read(path: &Path, namespace: &str, resolved: &[Resolution]) -> Result<Vec<Entry>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let values: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).with_context(|| {
        format!(
            "{}: want a list of {{from, to, port, protocol, expect}}",
            path.display()
        )
    })?;
    let paths: Vec<String> = (0..values.len()).map(|i| format!("[{i}]")).collect();
    let wanted: Vec<FieldRef> = paths
        .iter()
        .map(|path| FieldRef { document: 1, path })
        .collect();
    let lines = locate(&text, &wanted);
    Ok(values
        .into_iter()
        .zip(lines)
        .enumerate()
        .flat_map(|(i, (value, at))| {
            let at_entry = || format!("{} entry {}", path.display(), i + 1);
            let name = written_name(&value).unwrap_or_else(|| format!("entry {}", i + 1));
            let requests = TrafficEntry::deserialize(value)
                .map_err(|err| anyhow!("{}: {err}", at_entry()))
                .and_then(|entry| requests(entry, namespace, resolved).with_context(at_entry));
            let line = at.map(|p| p.line);
            match requests {
                Err(err) => vec![Entry {
                    name,
                    place: at_entry(),
                    line,
                    request: Err(err),
                }],
                Ok(requests) => requests
                    .into_iter()
                    .map(|(shown, request)| Entry {
                        name: shown.unwrap_or_else(|| name.clone()),
                        place: at_entry(),
                        line,
                        request: request.with_context(at_entry),
                    })
                    .collect(),
            }
        })
        .collect())
}

/// Flows, each with its name when it differs from the entry's.
type Named = Vec<(Option<String>, Result<Request>)>;

/// The flows of one entry: one, or one per address of a destination name.
fn requests(entry: TrafficEntry, namespace: &str, resolved: &[Resolution]) -> Result<Named> {
    let mut learned = resolved.to_vec();
    learned.extend(dns::parse_resolve(&entry.resolve, dns::KEYS)?);
    let names = match &entry.dns {
        None => Vec::new(),
        Some(Names::One(name)) => vec![name.clone()],
        Some(Names::Many(names)) => names.clone(),
    };
    learned.extend(dns::parse_dns(&names, &entry.to, dns::KEYS)?);
    let targets = dns::targets(&entry.to, &learned);
    let several = targets.len() > 1 || targets[0].endpoint != entry.to;
    Ok(targets
        .into_iter()
        .map(|target| {
            let name = several.then(|| {
                flow_name(
                    &entry.from,
                    &target.shown,
                    entry.port.as_ref().map(PortText::text).as_deref(),
                    entry.protocol.as_deref(),
                )
            });
            let flow = TrafficEntry {
                to: target.endpoint,
                from: entry.from.clone(),
                port: entry.port.clone(),
                protocol: entry.protocol.clone(),
                expect: entry.expect.clone(),
                resolve: Vec::new(),
                dns: None,
            };
            let request = request(flow, namespace).map(|r| Request {
                to: target.shown,
                dns: learned.clone(),
                ..r
            });
            (name, request)
        })
        .collect())
}

fn request(entry: TrafficEntry, namespace: &str) -> Result<Request> {
    let protocol = match &entry.protocol {
        None => None,
        Some(p) => Some(
            Protocol::parse_flow(p)
                .with_context(|| format!("protocol {p:?}: want tcp, udp, sctp or icmp"))?,
        ),
    };
    let expect = match entry
        .expect
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("allow") => Some(Expectation::Allow),
        Some("deny") => Some(Expectation::Deny),
        Some(other) => bail!("expect {other:?}: want allow or deny"),
    };
    let port = entry.port.map(|p| match p {
        PortText::Number(n) => n.to_string(),
        PortText::Name(name) => name,
    });
    let port = port.as_deref().map(str::parse).transpose()?;
    Ok(Request {
        spec: flow_spec(&entry.from, &entry.to, namespace, protocol, port)?,
        from: entry.from,
        to: entry.to,
        expect,
        dns: Vec::new(),
    })
}

/// The flow's name from the entry as written, even when the entry cannot be read as a flow
/// (so that its error test case still says which flow it is).
fn written_name(value: &serde_yaml_ng::Value) -> Option<String> {
    let text = |key: &str| match value.get(key)? {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(flow_name(
        &text("from")?,
        &text("to")?,
        text("port").as_deref(),
        text("protocol").as_deref(),
    ))
}
