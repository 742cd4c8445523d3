//! A self-contained SVG picture of the matrix: workloads on a circle, coloured by namespace,
//! an arrow for every allowed (from, to) with its ports on hover.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt::Write;

use super::Matrix;
use super::graph::edges;

const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn render(matrix: &Matrix) -> String {
    let n = matrix.endpoints.len();
    let radius = (60.0 * n as f64 / (2.0 * PI)).max(160.0);
    let label_room = 230.0;
    // Labels run sideways, so the picture needs room left and right, little above and below.
    let width = 2.0 * (radius + label_room);
    let height = 2.0 * (radius + 50.0);
    let position = |i: usize| {
        let angle = 2.0 * PI * i as f64 / n as f64 - PI / 2.0;
        (
            width / 2.0 + radius * angle.cos(),
            height / 2.0 + radius * angle.sin(),
            angle,
        )
    };
    let mut colours: BTreeMap<&str, &str> = BTreeMap::new();
    for member in &matrix.endpoints {
        let next = PALETTE[colours.len() % PALETTE.len()];
        colours.entry(member.namespace.as_str()).or_insert(next);
    }
    let legend_height = 24.0 * colours.len() as f64 + 40.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{:.0}" viewBox="0 0 {width:.0} {:.0}" font-family="sans-serif" font-size="12">"#,
        height + legend_height,
        height + legend_height
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>"##);
    out.push('\n');
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for ((from, to), ports) in edges(matrix) {
        let title = format!(
            "{} → {}: {}",
            matrix.endpoints[from].name,
            matrix.endpoints[to].name,
            ports.join(", ")
        );
        if from == to {
            let (x, y, angle) = position(from);
            let (dx, dy) = (angle.cos() * 22.0, angle.sin() * 22.0);
            let _ = writeln!(
                out,
                r##"<circle cx="{:.1}" cy="{:.1}" r="11" fill="none" stroke="#999"><title>{}</title></circle>"##,
                x + dx,
                y + dy,
                escape(&title)
            );
            continue;
        }
        let ((x1, y1, _), (x2, y2, _)) = (position(from), position(to));
        let length = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
        // Stop the line at the node's edge and bend it slightly so that A→B and B→A differ.
        let (ux, uy) = ((x2 - x1) / length, (y2 - y1) / length);
        let (sx, sy, ex, ey) = (
            x1 + ux * 10.0,
            y1 + uy * 10.0,
            x2 - ux * 10.0,
            y2 - uy * 10.0,
        );
        let (mx, my) = ((sx + ex) / 2.0 - uy * 18.0, (sy + ey) / 2.0 + ux * 18.0);
        let _ = writeln!(
            out,
            r##"<path d="M {sx:.1} {sy:.1} Q {mx:.1} {my:.1} {ex:.1} {ey:.1}" fill="none" stroke="#555" stroke-opacity="0.6" marker-end="url(#arrow)"><title>{}</title></path>"##,
            escape(&title)
        );
    }
    for (i, member) in matrix.endpoints.iter().enumerate() {
        let (x, y, angle) = position(i);
        let colour = colours[member.namespace.as_str()];
        let anchor = if angle.cos() >= 0.0 { "start" } else { "end" };
        let (lx, ly) = (x + angle.cos() * 16.0, y + angle.sin() * 16.0 + 4.0);
        let _ = writeln!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="9" fill="{colour}"><title>{}</title></circle><text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text>"#,
            escape(&member.name),
            escape(&member.name)
        );
    }
    let mut y = height + 20.0;
    let _ = writeln!(
        out,
        r#"<text x="20" y="{y:.0}" font-weight="bold">Arrows: allowed on at least one of {}</text>"#,
        escape(&matrix.ports.join(", "))
    );
    for (namespace, colour) in &colours {
        y += 24.0;
        let _ = writeln!(
            out,
            r#"<circle cx="28" cy="{:.0}" r="7" fill="{colour}"/><text x="42" y="{:.0}">{}</text>"#,
            y - 4.0,
            y,
            escape(namespace)
        );
    }
    out.push_str("</svg>\n");
    out
}
