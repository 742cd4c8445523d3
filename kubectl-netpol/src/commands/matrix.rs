//! `kubectl netpol matrix`: which workloads can reach which, on which ports.

mod graph;
mod svg;

use crate::output::{out, outln};
use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use netpol_engine::{Endpoint, Engine, Flow, PortSpec, Protocol};
use serde::Serialize;

use crate::cli::{MatrixArgs, MatrixFormat};
use crate::input::load_engine;
use crate::output::table;

/// A port to probe: a protocol (`None`: TCP for a number, the named port's own for a name) and
/// a port, a name being resolved on each destination by the engine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    protocol: Option<Protocol>,
    port: PortSpec,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.port, self.protocol) {
            (PortSpec::Number(n), protocol) => {
                write!(f, "{}/{n}", protocol.unwrap_or(Protocol::Tcp))
            }
            (PortSpec::Name(name), None) => f.write_str(name),
            (PortSpec::Name(name), Some(protocol)) => write!(f, "{protocol}/{name}"),
        }
    }
}

/// One row or column: a workload (or bare pod) and the pod that stands for it.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub name: String,
    pub namespace: String,
    #[serde(skip)]
    pod: u32,
}

/// The probe result of one (from, to, port).
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub from: usize,
    pub to: usize,
    pub port: String,
    /// None when a named port does not exist on the destination.
    pub allowed: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Matrix {
    pub endpoints: Vec<Member>,
    pub ports: Vec<String>,
    pub cells: Vec<Cell>,
}

pub fn run(args: &MatrixArgs) -> Result<u8> {
    let engine = load_engine(&args.source)?.engine;
    let members = members(&engine, &args.namespaces)?;
    let probes = probes(&engine, &members, &args.ports)?;
    let matrix = compute(&engine, members, &probes);
    match args.output {
        MatrixFormat::Table => out!("{}", render_table(&matrix)),
        MatrixFormat::Json => outln!("{}", serde_json::to_string_pretty(&matrix)?),
        MatrixFormat::Dot => out!("{}", graph::dot(&matrix)),
        MatrixFormat::Mermaid => out!("{}", graph::mermaid(&matrix)),
        MatrixFormat::Svg => out!("{}", svg::render(&matrix)),
    }
    Ok(0)
}

/// Workloads (by their first pod) and bare pods of the chosen namespaces, sorted by name.
fn members(engine: &Engine, namespaces: &[String]) -> Result<Vec<Member>> {
    for ns in namespaces {
        if engine.cluster.namespace(ns).is_none() {
            bail!("no namespace {ns:?} in the input");
        }
    }
    let mut seen = BTreeSet::new();
    let mut members = Vec::new();
    for (id, pod) in engine.cluster.pods.iter().enumerate() {
        if !namespaces.is_empty() && !namespaces.contains(&pod.namespace) {
            continue;
        }
        let name = engine.cluster.workload_name(id as u32);
        if seen.insert(name.clone()) {
            members.push(Member {
                name,
                namespace: pod.namespace.clone(),
                pod: id as u32,
            });
        }
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    if members.is_empty() {
        bail!("no pods or workloads in the chosen namespaces");
    }
    Ok(members)
}

fn probes(engine: &Engine, members: &[Member], ports: &[String]) -> Result<Vec<Probe>> {
    if ports.is_empty() {
        let all: BTreeSet<Probe> = members
            .iter()
            .flat_map(|m| {
                engine.cluster.pod(m.pod).ports.iter().map(|p| Probe {
                    protocol: Some(p.protocol),
                    port: PortSpec::Number(p.port),
                })
            })
            .collect();
        if all.is_empty() {
            bail!("the destinations declare no container ports: give --port");
        }
        return Ok(all.into_iter().collect());
    }
    ports
        .iter()
        .map(|text| {
            let (protocol, port) = match text.split_once('/') {
                Some((p, n)) => match Protocol::parse(p) {
                    Some(protocol) => (Some(protocol), n),
                    None => bail!("--port {text}: protocol {p:?}: want tcp, udp or sctp"),
                },
                None => (None, text.as_str()),
            };
            let port = port
                .parse::<PortSpec>()
                .with_context(|| format!("--port {text}"))?;
            Ok(Probe { protocol, port })
        })
        .collect()
}

fn compute(engine: &Engine, members: Vec<Member>, probes: &[Probe]) -> Matrix {
    let mut cells = Vec::with_capacity(members.len() * members.len() * probes.len());
    for (from, src) in members.iter().enumerate() {
        for (to, dst) in members.iter().enumerate() {
            for probe in probes {
                let dst_endpoint = Endpoint::Pod(dst.pod);
                let target = engine.resolve_port(dst_endpoint, probe.protocol, &probe.port);
                let allowed = target.ok().map(|(protocol, port)| {
                    let flow = Flow {
                        src: Endpoint::Pod(src.pod),
                        dst: dst_endpoint,
                        protocol,
                        port,
                    };
                    engine.decide(&flow).allowed
                });
                cells.push(Cell {
                    from,
                    to,
                    port: probe.to_string(),
                    allowed,
                });
            }
        }
    }
    Matrix {
        endpoints: members,
        ports: probes.iter().map(ToString::to_string).collect(),
        cells,
    }
}

/// Rows are sources, columns destinations (numbered; the legend names them); each cell has one
/// symbol per port: `✓` allowed, `✗` denied, `-` no such named port.
fn render_table(matrix: &Matrix) -> String {
    let n = matrix.endpoints.len();
    let per_cell = matrix.ports.len();
    let mut headers: Vec<String> = vec!["FROM \\ TO".into()];
    headers.extend((1..=n).map(|i| i.to_string()));
    let rows: Vec<Vec<String>> = (0..n)
        .map(|from| {
            let mut row = vec![format!("{} {}", from + 1, matrix.endpoints[from].name)];
            for to in 0..n {
                let start = (from * n + to) * per_cell;
                let symbols: String = matrix.cells[start..start + per_cell]
                    .iter()
                    .map(|c| match c.allowed {
                        Some(true) => '✓',
                        Some(false) => '✗',
                        None => '-',
                    })
                    .collect();
                row.push(symbols);
            }
            row
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = format!("Ports per cell, in order: {}\n\n", matrix.ports.join(" "));
    out.push_str(&table(&header_refs, &rows));
    out
}
