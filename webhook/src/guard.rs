//! Guard rails: flows that must stay allowed whatever policy changes, read from a YAML list
//! such as `- {from: "*", to: kube-system/deployment/coredns, port: 53, protocol: udp}`.
//! `from: "*"` stands for every namespace (one pod of each). The port may be a name, which the
//! engine resolves on the destination pod as policies do.

use std::path::Path;

use netpol_engine::cluster::PodId;
use netpol_engine::{Endpoint, EndpointSpec, Engine, Flow, PortSpec, Protocol};
use serde::Deserialize;

/// One flow that must stay allowed, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardRail {
    pub from: Source,
    pub to: EndpointSpec,
    /// As written: `None` is TCP for a port number, the named port's own for a name.
    pub protocol: Option<Protocol>,
    pub port: PortSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// One pod of every namespace.
    EveryNamespace,
    Endpoint(EndpointSpec),
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: want a list of {{from, to, port, protocol}}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path} entry {entry}: {message}")]
    Entry {
        path: String,
        entry: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    from: String,
    to: String,
    port: PortText,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PortText {
    Number(u32),
    Name(String),
}

/// Reads a guard-rail file; every bad entry is reported, not only the first.
pub fn read(path: &Path) -> Result<Vec<GuardRail>, Vec<GuardError>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![GuardError::Read {
            path: name.clone(),
            source,
        }]
    })?;
    parse(&name, &text)
}

pub fn parse(name: &str, text: &str) -> Result<Vec<GuardRail>, Vec<GuardError>> {
    let entries: Vec<Entry> = serde_yaml_ng::from_str(text).map_err(|err| {
        vec![GuardError::Syntax {
            path: name.to_owned(),
            message: err.to_string(),
        }]
    })?;
    let mut rails = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        match rail(entry) {
            Ok(rail) => rails.push(rail),
            Err(message) => errors.push(GuardError::Entry {
                path: name.to_owned(),
                entry: i + 1,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(rails)
    } else {
        Err(errors)
    }
}

fn rail(entry: Entry) -> Result<GuardRail, String> {
    let from = match entry.from.as_str() {
        "*" => Source::EveryNamespace,
        text => Source::Endpoint(text.parse().map_err(|e| format!("from: {e}"))?),
    };
    let to = entry.to.parse().map_err(|e| format!("to: {e}"))?;
    let protocol = match entry.protocol.as_deref() {
        None => None,
        Some(p) => Some(
            Protocol::parse(p).ok_or_else(|| format!("protocol {p:?}: want tcp, udp or sctp"))?,
        ),
    };
    let port = match entry.port {
        PortText::Number(n) => n.to_string(),
        PortText::Name(name) => name,
    };
    let port = port.parse().map_err(|e| format!("port: {e}"))?;
    Ok(GuardRail {
        from,
        to,
        protocol,
        port,
    })
}

impl std::fmt::Display for GuardRail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            Source::EveryNamespace => f.write_str("every namespace")?,
            Source::Endpoint(spec) => write!(f, "{spec}")?,
        }
        match (&self.port, self.protocol) {
            (PortSpec::Name(name), None) => write!(f, " -> {} {name}", self.to),
            (port, protocol) => write!(
                f,
                " -> {} {}/{port}",
                self.to,
                protocol.unwrap_or(Protocol::Tcp)
            ),
        }
    }
}

/// A guard rail the change would break, with a concrete flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub rail: String,
    pub flow: String,
}

/// The first flow of each rail that `before` allows and `after` denies. Rails whose
/// endpoints are not in the cluster are skipped: there is nothing to protect yet.
pub fn broken(rails: &[GuardRail], before: &Engine, after: &Engine) -> Vec<Broken> {
    let mut out = Vec::new();
    let mut per_namespace: Option<Vec<PodId>> = None;
    for rail in rails {
        // Rails whose destination or named port is not (yet) in the cluster protect nothing.
        let Ok(dst) = after.resolve(&rail.to) else {
            continue;
        };
        let Ok((protocol, port)) = after.resolve_port(dst, rail.protocol, &rail.port) else {
            continue;
        };
        let sources: Vec<Endpoint> = match &rail.from {
            Source::Endpoint(spec) => after.resolve(spec).into_iter().collect(),
            Source::EveryNamespace => per_namespace
                .get_or_insert_with(|| first_pod_per_namespace(after))
                .iter()
                .map(|p| Endpoint::Pod(*p))
                .collect(),
        };
        for src in sources {
            if src == dst {
                continue;
            }
            let flow = Flow {
                src,
                dst,
                protocol,
                port,
            };
            if before.decide(&flow).allowed && !after.decide(&flow).allowed {
                out.push(Broken {
                    rail: rail.to_string(),
                    flow: format!(
                        "{} -> {} {}/{}",
                        after.describe(src),
                        after.describe(dst),
                        protocol,
                        port
                    ),
                });
                break;
            }
        }
    }
    out
}

fn first_pod_per_namespace(engine: &Engine) -> Vec<PodId> {
    let cluster = &engine.cluster;
    let mut seen = vec![false; cluster.namespaces.len()];
    let mut out = Vec::new();
    for (id, ns) in cluster.pod_namespace.iter().enumerate() {
        if !std::mem::replace(&mut seen[*ns as usize], true) {
            out.push(id as PodId);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rails_and_reports_every_bad_entry() {
        let rails = parse(
            "rails.yaml",
            "- {from: \"*\", to: kube-system/deployment/coredns, port: 53, protocol: udp}\n- {from: shop/web, to: 10.0.0.1, port: 443}",
        )
        .unwrap();
        assert_eq!(rails.len(), 2);
        assert_eq!(rails[0].from, Source::EveryNamespace);
        assert_eq!(rails[1].protocol, None, "TCP by default");
        assert_eq!(rails[1].to_string(), "shop/web -> 10.0.0.1 TCP/443");
        assert_eq!(
            rails[0].to_string(),
            "every namespace -> kube-system/deployment/coredns UDP/53"
        );
        let errors = parse(
            "rails.yaml",
            "- {from: a/b/c/d, to: x/y, port: 53}\n- {from: a/b, to: x/y, port: 53, protocol: icmp}",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].to_string().contains("entry 2"), "{}", errors[1]);
        assert!(parse("rails.yaml", "{not: a list}").is_err());
    }
}
