//! A self-contained SVG of the map as a grid: sources down the left, destinations along the
//! top, one cell per pair of nodes coloured by what is allowed (every port shown, some of
//! them, or some pods only), the ports on hover. A grid stays readable where a graph of
//! hundreds of nodes and thousands of arrows does not: at 2,000 pods it is a namespace grid.

use std::fmt::Write;

use super::graph::{Graph, link_label};

const ALL: &str = "#2e7d32";
const SOME: &str = "#81c784";
const PARTIAL: &str = "#c5e1a5";
const EMPTY: &str = "#f2f2f2";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A label cut to fit, the full name on hover.
fn fit(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// One grid; returns its height.
fn grid(out: &mut String, graph: &Graph, top: f64) -> (f64, f64) {
    let n = graph.nodes.len().max(1);
    let cell = if n <= 40 {
        18.0
    } else if n <= 120 {
        10.0
    } else {
        5.0
    };
    let label_chars = 48;
    let longest = graph
        .nodes
        .iter()
        .map(|node| node.name.chars().count().min(label_chars))
        .max()
        .unwrap_or(4) as f64;
    let font = (cell * 0.8f64).clamp(5.0, 12.0);
    // The longest label's width: sans-serif averages well under 0.62 em a character for these
    // names (lower case, digits, punctuation), so this leaves room rather than clipping.
    let label = longest * font * 0.62;
    let left = 16.0 + label;
    // Column labels are turned 60°: they rise by sin 60° of their width and lean right by half.
    let header = 20.0 + label * 0.87;
    let size = cell * n as f64;
    let (x0, y0) = (left, top + header);
    if !graph.title.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.0}" font-weight="bold" font-size="14">{}</text>"#,
            top + 16.0,
            escape(&graph.title)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{x0:.1}" y="{y0:.1}" width="{size:.1}" height="{size:.1}" fill="{EMPTY}" stroke="#bbb"/>"##
    );
    for (i, node) in graph.nodes.iter().enumerate() {
        let name = escape(&fit(&node.name, label_chars));
        let full = escape(&node.name);
        let y = y0 + cell * (i as f64 + 0.75);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{y:.1}" text-anchor="end" font-size="{font:.1}"><title>{full}</title>{name}</text>"#,
            x0 - 6.0
        );
        let x = x0 + cell * (i as f64 + 0.7);
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" transform="rotate(-60 {x:.1} {:.1})" font-size="{font:.1}"><title>{full}</title>{name}</text>"#,
            y0 - 6.0,
            y0 - 6.0
        );
    }
    // Lines between namespaces.
    for i in 1..graph.nodes.len() {
        if graph.nodes[i].namespace != graph.nodes[i - 1].namespace {
            let at = cell * i as f64;
            let _ = writeln!(
                out,
                r##"<path d="M {x0:.1} {:.1} h {size:.1} M {:.1} {y0:.1} v {size:.1}" stroke="#888" stroke-width="0.8"/>"##,
                y0 + at,
                x0 + at
            );
        }
    }
    let all_ports = graph
        .links
        .values()
        .map(|l| l.ports.size())
        .max()
        .unwrap_or(0);
    for ((a, b), link) in &graph.links {
        let colour = if link.partial {
            PARTIAL
        } else if link.ports.size() == all_ports {
            ALL
        } else {
            SOME
        };
        let title = format!(
            "{} → {}: {}",
            graph.nodes[*a].name,
            graph.nodes[*b].name,
            link_label(link)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{cell:.1}" height="{cell:.1}" fill="{colour}" stroke="white" stroke-width="0.5"><title>{}</title></rect>"#,
            x0 + cell * *b as f64,
            y0 + cell * *a as f64,
            escape(&title)
        );
        if cell >= 64.0 {
            let text = fit(&link_label(link), 11);
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="{}">{}</text>"#,
                x0 + cell * (*b as f64 + 0.5),
                y0 + cell * (*a as f64 + 0.55),
                if colour == ALL { "white" } else { "black" },
                escape(&text)
            );
        }
    }
    let mut y = y0 + size + 24.0;
    let caption = format!(
        "Rows: from; columns: to; each {}.",
        if graph.by_namespace {
            "a namespace (more than 60 classes)"
        } else {
            "a class of pods every policy treats alike"
        }
    );
    let ports = format!("Ports shown: {}.", graph.ports);
    let text_width = 20.0 + 6.6 * caption.len().max(ports.len()) as f64;
    for line in [caption, ports] {
        let _ = writeln!(out, r#"<text x="10" y="{y:.0}">{}</text>"#, escape(&line));
        y += 18.0;
    }
    y -= 18.0;
    for (colour, text) in [
        (ALL, "the most ports any pair may use"),
        (SOME, "some of the ports"),
        (PARTIAL, "some pods only, or not every pod pair"),
        (EMPTY, "nothing allowed"),
    ] {
        y += 20.0;
        let _ = writeln!(
            out,
            r##"<rect x="10" y="{:.0}" width="14" height="14" fill="{colour}" stroke="#bbb"/><text x="30" y="{y:.0}">{text}</text>"##,
            y - 11.0
        );
    }
    // The column labels lean right, past the grid.
    ((x0 + size + label * 0.5 + 20.0).max(text_width), y + 20.0)
}

pub(super) fn render(graphs: &[Graph]) -> String {
    let mut body = String::new();
    let (mut width, mut height) = (480.0f64, 0.0);
    for graph in graphs {
        let (w, bottom) = grid(&mut body, graph, height);
        width = width.max(w);
        height = bottom + 10.0;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}
