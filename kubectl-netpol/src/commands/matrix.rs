//! `kubectl netpol matrix`: which pods and addresses may reach which, on which ports. The engine
//! computes the map on classes (pods every policy treats alike); this command names the classes
//! by workload, groups the edges, and writes them as a table, JSON, DOT, Mermaid or SVG.

mod graph;
mod names;
mod svg;
mod table;
mod template;

use anyhow::{Context, Result, bail};
use netpol_engine::map::{self, Ends, Map, MapOptions, PortView};
use netpol_engine::{PortSpec, Protocol};
use serde::Serialize;

use crate::cli::{MatrixArgs, MatrixFormat};
use crate::input::{build_engine, load_state_in, timing};
use crate::output::{out, outln};
use names::Names;

/// One map with its names, and what it shows.
pub struct Shown {
    pub title: String,
    pub map: Map,
    pub names: Names,
    pub ports: String,
}

pub fn run(args: &MatrixArgs) -> Result<u8> {
    let (mut state, namespace) = load_state_in(
        &args.source.files,
        args.source.namespace.as_deref(),
        &args.source.connection,
    )?;
    let templates = template::add(&mut state, &args.pod_templates, &namespace)?;
    let started = std::time::Instant::now();
    let engine = build_engine(&state)?;
    drop(state);
    timing("build the engine", started);
    for ns in &args.namespaces {
        if engine.cluster.namespace(ns).is_none() {
            bail!("--in {ns}: no namespace {ns:?} in the input");
        }
    }
    let ports = port_view(args)?;
    let started = std::time::Instant::now();
    let mut maps: Vec<(String, MapOptions)> = Vec::new();
    if !templates.is_empty() {
        let pods = template::pods(&engine, &templates)?;
        let focus = Ends {
            pods,
            ..Ends::default()
        };
        let others = Ends::namespaces(&args.namespaces, args.external);
        maps.push((
            "what the new pods could reach".into(),
            MapOptions {
                from: focus.clone(),
                to: others.clone(),
                ports: ports.clone(),
            },
        ));
        maps.push((
            "what could reach the new pods".into(),
            MapOptions {
                from: others,
                to: focus,
                ports: ports.clone(),
            },
        ));
    } else if args.exposure {
        maps.push((
            format!("what reaches {} from outside", args.namespaces.join(", ")),
            MapOptions {
                from: Ends {
                    except_namespaces: args.namespaces.clone(),
                    external: true,
                    ..Ends::default()
                },
                to: Ends::namespaces(&args.namespaces, false),
                ports: ports.clone(),
            },
        ));
    } else {
        let ends = Ends::namespaces(&args.namespaces, args.external);
        maps.push((
            String::new(),
            MapOptions {
                from: ends.clone(),
                to: ends,
                ports: ports.clone(),
            },
        ));
    }
    let shown: Vec<Shown> = maps
        .into_iter()
        .map(|(title, options)| {
            let map = map::map(&engine, &options);
            let names = Names::new(&engine, &map, &templates);
            let ports = describe_ports(&options.ports, &map);
            Shown {
                title,
                map,
                names,
                ports,
            }
        })
        .collect();
    timing("compute the map", started);
    let started = std::time::Instant::now();
    match args.output {
        MatrixFormat::Json => outln!("{}", serde_json::to_string(&json(&shown, &engine, args))?),
        MatrixFormat::Table if args.expand => {
            for s in &shown {
                out!("{}", table::expanded(s, &engine));
            }
        }
        MatrixFormat::Table => {
            for (i, s) in shown.iter().enumerate() {
                if i > 0 {
                    outln!();
                }
                out!("{}", table::grouped(s));
            }
        }
        MatrixFormat::Dot => out!("{}", graph::dot(&graph::graphs(&shown)?)),
        MatrixFormat::Mermaid => out!("{}", graph::mermaid(&graph::graphs(&shown)?)),
        MatrixFormat::Svg => out!("{}", svg::render(&graph::graphs(&shown)?)),
    }
    timing("print", started);
    Ok(0)
}

fn port_view(args: &MatrixArgs) -> Result<PortView> {
    if args.all_ports {
        return Ok(PortView::All);
    }
    if args.ports.is_empty() {
        return Ok(PortView::ContainerPorts);
    }
    let probes = args
        .ports
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
            Ok((protocol, port))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PortView::Only(probes))
}

fn describe_ports(view: &PortView, map: &Map) -> String {
    match view {
        PortView::All => "every port of TCP, UDP and SCTP, and ICMP".into(),
        PortView::ContainerPorts if map.stats.no_container_ports => {
            "every port (no pod shown declares a container port)".into()
        }
        PortView::ContainerPorts => {
            "the container ports the pods declare (--all-ports for every port)".into()
        }
        PortView::Only(probes) => {
            let list: Vec<String> = probes
                .iter()
                .map(|(protocol, port)| match protocol {
                    Some(p) => format!("{p}/{port}"),
                    None => port.to_string(),
                })
                .collect();
            list.join(", ")
        }
    }
}

/// `-o json`: the classes with their members, once; the sets of classes edges refer to; the
/// edges. With `--expand`, one entry per pair of endpoints instead.
#[derive(Serialize)]
struct Json<'a> {
    maps: Vec<JsonMap<'a>>,
}

#[derive(Serialize)]
struct JsonMap<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    title: &'a str,
    ports: &'a str,
    classes: Vec<JsonClass<'a>>,
    sets: &'a [Vec<map::ClassId>],
    edges: &'a [map::Edge],
    #[serde(skip_serializing_if = "Option::is_none")]
    pairs: Option<Vec<JsonPair>>,
    stats: &'a map::MapStats,
}

#[derive(Serialize)]
struct JsonClass<'a> {
    id: usize,
    kind: map::ClassKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    name: String,
    members: Vec<String>,
}

#[derive(Serialize)]
struct JsonPair {
    from: String,
    to: String,
    ports: String,
}

/// Which classes the sets refer to: the JSON lists only those.
fn used(map: &Map) -> Vec<bool> {
    let mut used = vec![false; map.classes.len()];
    for c in map.sets.iter().flatten() {
        used[*c as usize] = true;
    }
    used
}

fn json<'a>(shown: &'a [Shown], engine: &'a netpol_engine::Engine, args: &MatrixArgs) -> Json<'a> {
    let maps = shown
        .iter()
        .map(|s| {
            let used = used(&s.map);
            JsonMap {
                title: &s.title,
                ports: &s.ports,
                classes: s
                    .map
                    .classes
                    .iter()
                    .enumerate()
                    .filter(|(id, _)| used[*id])
                    .map(|(id, class)| JsonClass {
                        id,
                        kind: class.kind,
                        namespace: class
                            .namespace
                            .map(|n| engine.cluster.namespaces[n as usize].name.as_str()),
                        name: s.names.class(id as map::ClassId),
                        members: class.members.iter().map(|m| engine.describe(*m)).collect(),
                    })
                    .collect(),
                sets: &s.map.sets,
                edges: &s.map.edges,
                pairs: args.expand.then(|| {
                    s.map
                        .expand()
                        .map(|(a, b, ports)| JsonPair {
                            from: engine.describe(a),
                            to: engine.describe(b),
                            ports: ports.to_string(),
                        })
                        .collect()
                }),
                stats: &s.map.stats,
            }
        })
        .collect();
    Json { maps }
}
