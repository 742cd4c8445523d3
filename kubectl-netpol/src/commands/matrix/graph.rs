//! The map as a picture's graph: one node per class (or, past `CLASS_LIMIT` classes, per
//! namespace, addresses keeping their own), namespaces as clusters, one link per pair of nodes
//! with the ports allowed. Written as Graphviz DOT and Mermaid; the SVG draws the same links as
//! a grid.

use std::collections::BTreeMap;
use std::fmt::Write;

use netpol_engine::map::{ClassId, PortSet};

use super::Shown;

/// Beyond this many classes, pictures draw namespaces instead of classes.
pub const CLASS_LIMIT: usize = 60;

/// Beyond this many nodes no picture is readable (nor small): the command asks for fewer.
pub const NODE_LIMIT: usize = 200;

/// A node of the picture.
pub struct Node {
    pub name: String,
    /// The namespace cluster it is drawn in.
    pub namespace: Option<String>,
}

/// What one pair of nodes may do: the ports some member pair may use, and whether every
/// member pair may use all of them.
pub struct Link {
    pub ports: PortSet,
    pub partial: bool,
}

pub struct Graph {
    pub title: String,
    pub ports: String,
    pub nodes: Vec<Node>,
    pub links: BTreeMap<(usize, usize), Link>,
    /// Nodes stand for namespaces, not classes.
    pub by_namespace: bool,
}

/// The graph of each map, or why there is no readable picture of one.
pub fn graphs(shown: &[Shown]) -> anyhow::Result<Vec<Graph>> {
    shown
        .iter()
        .map(|s| {
            let graph = graph(s);
            if graph.nodes.len() > NODE_LIMIT {
                anyhow::bail!(
                    "a picture of {} {} would not be readable: choose namespaces with --in, or use the table or -o json",
                    graph.nodes.len(),
                    if graph.by_namespace { "namespaces" } else { "classes" }
                );
            }
            Ok(graph)
        })
        .collect()
}

/// Builds the graph of one map.
fn graph(shown: &Shown) -> Graph {
    let map = &shown.map;
    let mut used: Vec<ClassId> = map.sets.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    let by_namespace = used.len() > CLASS_LIMIT;
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut node_of: BTreeMap<ClassId, usize> = BTreeMap::new();
    // Nodes in the order of their namespace, then name.
    let mut keyed: Vec<(Option<&str>, String, ClassId)> = used
        .iter()
        .map(|c| {
            let namespace = shown.names.namespace(*c);
            let name = match (by_namespace, namespace) {
                (true, Some(ns)) => ns.to_owned(),
                _ => shown.names.class(*c),
            };
            (namespace, name, *c)
        })
        .collect();
    keyed.sort();
    for (namespace, name, class) in keyed {
        let at = *index.entry(name.clone()).or_insert_with(|| {
            nodes.push(Node {
                name,
                namespace: namespace.filter(|_| !by_namespace).map(str::to_owned),
            });
            nodes.len() - 1
        });
        node_of.insert(class, at);
    }
    // Per pair of nodes: union and intersection of the ports over the class pairs an edge
    // gives, and how many class pairs those are.
    let mut members: Vec<usize> = vec![0; nodes.len()];
    for node in node_of.values() {
        members[*node] += 1;
    }
    type Acc = (PortSet, PortSet, usize, bool);
    let mut acc: BTreeMap<(usize, usize), Acc> = BTreeMap::new();
    for edge in &map.edges {
        for s in &map.sets[edge.from as usize] {
            for d in &map.sets[edge.to as usize] {
                let key = (node_of[s], node_of[d]);
                let entry = acc
                    .entry(key)
                    .or_insert_with(|| (PortSet::default(), PortSet::all(), 0, false));
                entry.0 = entry.0.union(&edge.ports);
                entry.1 = entry.1.intersection(&edge.ports);
                entry.2 += 1;
                entry.3 |= edge.relation.is_some();
            }
        }
    }
    let links = acc
        .into_iter()
        .map(|((a, b), (union, meet, pairs, by_node))| {
            // A node paired with itself counts its classes paired with themselves too.
            let whole = members[a] * members[b];
            let partial = union != meet || pairs < whole || by_node;
            (
                (a, b),
                Link {
                    ports: union,
                    partial,
                },
            )
        })
        .collect();
    Graph {
        title: shown.title.clone(),
        ports: shown.ports.clone(),
        nodes,
        links,
        by_namespace,
    }
}

pub fn link_label(link: &Link) -> String {
    if link.partial {
        format!("some pods: {}", link.ports)
    } else {
        link.ports.to_string()
    }
}

fn legend(graph: &Graph) -> String {
    let unit = if graph.by_namespace {
        "namespaces (more than 60 classes: -o json or the table for each class)"
    } else {
        "classes of pods every policy treats alike, named by workload"
    };
    format!(
        "Nodes: {unit}. An arrow: allowed ports; \"some pods\": not every pod pair of the two may use all of them. Ports shown: {}.",
        graph.ports
    )
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn clusters(graph: &Graph) -> BTreeMap<Option<&str>, Vec<usize>> {
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        groups.entry(node.namespace.as_deref()).or_default().push(i);
    }
    groups
}

pub fn dot(graphs: &[Graph]) -> String {
    let mut out =
        String::from("digraph netpol {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for (g, graph) in graphs.iter().enumerate() {
        let id = |n: usize| format!("g{g}n{n}");
        for (i, (namespace, nodes)) in clusters(graph).into_iter().enumerate() {
            let indent = if namespace.is_some() { "    " } else { "  " };
            if let Some(ns) = namespace {
                let _ = writeln!(
                    out,
                    "  subgraph cluster_{g}_{i} {{\n    label={};",
                    quote(ns)
                );
            }
            for n in nodes {
                let _ = writeln!(
                    out,
                    "{indent}{} [label={}];",
                    id(n),
                    quote(&graph.nodes[n].name)
                );
            }
            if namespace.is_some() {
                out.push_str("  }\n");
            }
        }
        for ((a, b), link) in &graph.links {
            let style = if link.partial { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "  {} -> {} [label={}{style}];",
                id(*a),
                id(*b),
                quote(&link_label(link))
            );
        }
        let mut note = legend(graph);
        if !graph.title.is_empty() {
            note = format!("{}. {note}", graph.title);
        }
        let _ = writeln!(out, "  legend{g} [shape=note, label={}];", quote(&note));
    }
    out.push_str("}\n");
    out
}

pub fn mermaid(graphs: &[Graph]) -> String {
    let text = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart LR\n");
    for (g, graph) in graphs.iter().enumerate() {
        let id = |n: usize| format!("g{g}n{n}");
        for (i, (namespace, nodes)) in clusters(graph).into_iter().enumerate() {
            if let Some(ns) = namespace {
                let _ = writeln!(out, "  subgraph g{g}ns{i}[\"{}\"]", text(ns));
            }
            for n in nodes {
                let _ = writeln!(out, "    {}[\"{}\"]", id(n), text(&graph.nodes[n].name));
            }
            if namespace.is_some() {
                out.push_str("  end\n");
            }
        }
        for ((a, b), link) in &graph.links {
            let arrow = if link.partial { "-.->" } else { "-->" };
            let _ = writeln!(
                out,
                "  {} {arrow}|\"{}\"| {}",
                id(*a),
                text(&link_label(link)),
                id(*b)
            );
        }
        let mut note = legend(graph);
        if !graph.title.is_empty() {
            note = format!("{}. {note}", graph.title);
        }
        let _ = writeln!(out, "  legend{g}[\"{}\"]", text(&note));
    }
    out
}
