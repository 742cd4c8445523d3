//! The map as text: one row per edge (a set of sources, a set of destinations, the ports), or
//! with `--expand` one row per pair of endpoints.

use std::fmt::Write;

use netpol_engine::Engine;
use netpol_engine::map::NodeRelation;

use super::Shown;
use crate::output::table;

/// How many items a cell lists before "+N more" (`-o json` lists all).
const ITEMS: usize = 12;

pub fn relation_text(relation: Option<NodeRelation>) -> &'static str {
    match relation {
        None => "",
        Some(NodeRelation::SameNode) => "same node",
        Some(NodeRelation::OtherNode) => "other nodes",
    }
}

/// A cell's items: at most `ITEMS`, then how many more.
fn capped(items: &[String]) -> Vec<String> {
    if items.len() <= ITEMS {
        return items.to_vec();
    }
    let mut out = items[..ITEMS - 1].to_vec();
    out.push(format!(
        "+{} more (-o json lists all)",
        items.len() - (ITEMS - 1)
    ));
    out
}

pub fn grouped(shown: &Shown) -> String {
    let mut out = String::new();
    if !shown.title.is_empty() {
        let _ = writeln!(out, "# {}", shown.title);
    }
    let _ = writeln!(out, "Ports shown: {}.", shown.ports);
    let stats = &shown.map.stats;
    if shown.map.edges.is_empty() {
        let _ = writeln!(out, "\nNothing is allowed between the endpoints shown.");
        return out;
    }
    let with_relation = shown.map.edges.iter().any(|e| e.relation.is_some());
    // Each row: its cells, each cell a list of lines.
    let mut rows: Vec<Vec<Vec<String>>> = shown
        .map
        .edges
        .iter()
        .map(|edge| {
            let mut row = vec![
                capped(shown.names.set_items(edge.from)),
                capped(shown.names.set_items(edge.to)),
                vec![edge.ports.to_string()],
            ];
            if with_relation {
                row.insert(2, vec![relation_text(edge.relation).to_owned()]);
            }
            row
        })
        .collect();
    rows.sort();
    let mut headers = vec!["FROM", "TO", "PORTS"];
    if with_relation {
        headers.insert(2, "PAIRS");
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell {
                widths[i] = widths[i].max(line.chars().count());
            }
        }
    }
    let multi_line = rows.iter().any(|r| r.iter().any(|c| c.len() > 1));
    let mut lines: Vec<Vec<String>> = vec![headers.iter().map(|h| (*h).to_owned()).collect()];
    for (r, row) in rows.iter().enumerate() {
        if multi_line && r > 0 {
            lines.push(Vec::new());
        }
        let height = row.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            lines.push(
                row.iter()
                    .map(|cell| cell.get(k).cloned().unwrap_or_default())
                    .collect(),
            );
        }
    }
    out.push('\n');
    for line in lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            text.push_str(cell);
            if i + 1 < line.len() {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                text.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    let _ = writeln!(
        out,
        "\n{} in {} (pods every policy treats alike); {} of allowed traffic; \
         pairs not listed are denied on every port shown.",
        counted(stats.pods, "pod"),
        counted(stats.shown_classes, "class"),
        counted(stats.edges, "group")
    );
    out
}

/// "1 pod", "2 pods", "1 class", "3 classes".
fn counted(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

pub fn expanded(shown: &Shown, engine: &Engine) -> String {
    let mut rows: Vec<Vec<String>> = shown
        .map
        .expand()
        .map(|(a, b, ports)| vec![engine.describe(a), engine.describe(b), ports.to_string()])
        .collect();
    rows.sort();
    let mut out = String::new();
    if !shown.title.is_empty() {
        let _ = writeln!(out, "# {}", shown.title);
    }
    let _ = writeln!(out, "Ports shown: {}.\n", shown.ports);
    out.push_str(&table(&["FROM", "TO", "PORTS"], &rows));
    out
}
