//! Traffic files: a YAML or JSON list of flows and the verdicts they must get. Each entry is
//! read on its own, so that a bad entry is that entry's problem (an error test case in JUnit)
//! and the others are still checked.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use netpol_engine::Protocol;
use netpol_engine::load::{FieldRef, locate};
use serde::Deserialize;

use super::{Entry, Request, flow_name, flow_spec};
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
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortText {
    Number(u16),
    Name(String),
}

/// The entries of the traffic file at `path`, with their lines; endpoints without a namespace
/// are in `namespace`. Only a file that is not a list at all is an error here.
pub fn read(path: &Path, namespace: &str) -> Result<Vec<Entry>> {
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
        .map(|(i, (value, at))| {
            let at_entry = || format!("{} entry {}", path.display(), i + 1);
            let name = written_name(&value).unwrap_or_else(|| format!("entry {}", i + 1));
            let request = TrafficEntry::deserialize(value)
                .map_err(|err| anyhow!("{}: {err}", at_entry()))
                .and_then(|entry| request(entry, namespace).with_context(at_entry));
            Entry {
                name,
                place: at_entry(),
                line: at.map(|p| p.line),
                request,
            }
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
