//! The matrix as a graph: Graphviz DOT and Mermaid, one edge per allowed (from, to) with its
//! ports, namespaces as clusters.

use std::collections::BTreeMap;

use super::Matrix;

/// Allowed ports per (from, to), self-loops included.
pub(super) fn edges(matrix: &Matrix) -> BTreeMap<(usize, usize), Vec<String>> {
    let mut edges: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for cell in matrix.cells.iter().filter(|c| c.allowed == Some(true)) {
        edges
            .entry((cell.from, cell.to))
            .or_default()
            .push(cell.port.clone());
    }
    edges
}

fn by_namespace(matrix: &Matrix) -> BTreeMap<&str, Vec<usize>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, member) in matrix.endpoints.iter().enumerate() {
        groups.entry(member.namespace.as_str()).or_default().push(i);
    }
    groups
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(super) fn dot(matrix: &Matrix) -> String {
    let mut out =
        String::from("digraph netpol {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for (i, (namespace, members)) in by_namespace(matrix).into_iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label={};\n",
            quote(namespace)
        ));
        for m in members {
            out.push_str(&format!(
                "    n{m} [label={}];\n",
                quote(&matrix.endpoints[m].name)
            ));
        }
        out.push_str("  }\n");
    }
    for ((from, to), ports) in edges(matrix) {
        out.push_str(&format!(
            "  n{from} -> n{to} [label={}];\n",
            quote(&ports.join(","))
        ));
    }
    out.push_str("}\n");
    out
}

pub(super) fn mermaid(matrix: &Matrix) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, (namespace, members)) in by_namespace(matrix).into_iter().enumerate() {
        out.push_str(&format!(
            "  subgraph ns{i}[\"{}\"]\n",
            namespace.replace('"', "#quot;")
        ));
        for m in members {
            out.push_str(&format!(
                "    n{m}[\"{}\"]\n",
                matrix.endpoints[m].name.replace('"', "#quot;")
            ));
        }
        out.push_str("  end\n");
    }
    for ((from, to), ports) in edges(matrix) {
        out.push_str(&format!("  n{from} -->|\"{}\"| n{to}\n", ports.join(",")));
    }
    out
}
