//! Verdict matrices: what the plugin says about each flow against what the probes saw, compared
//! cell by cell and printed like upstream's network policy e2e tests (rows: from, columns: to).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// TCP, UDP or SCTP, spelled as the plugin and kubectl spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// agnhost's spelling (`--protocol=tcp`).
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One probed connection: pods as `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

/// Verdicts by flow.
pub type Matrix = BTreeMap<Flow, Verdict>;

/// A cell where the two sides differ (or one has no answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub flow: Flow,
    pub expected: Option<Verdict>,
    pub observed: Option<Verdict>,
}

/// Every flow of either matrix whose verdicts differ, in flow order.
pub fn compare(expected: &Matrix, observed: &Matrix) -> Vec<Mismatch> {
    let flows: BTreeSet<&Flow> = expected.keys().chain(observed.keys()).collect();
    flows
        .into_iter()
        .filter_map(|flow| {
            let (e, o) = (expected.get(flow).copied(), observed.get(flow).copied());
            (e != o).then(|| Mismatch {
                flow: flow.clone(),
                expected: e,
                observed: o,
            })
        })
        .collect()
}

/// One table per port and protocol; each cell is `expected/observed` with `.` allowed, `X`
/// denied, `?` no answer, and a row with a differing cell is marked `*`.
pub fn render(expected: &Matrix, observed: &Matrix) -> String {
    let mut out = String::new();
    let mut planes: BTreeMap<(u16, Protocol), Vec<&Flow>> = BTreeMap::new();
    for flow in expected.keys().chain(observed.keys()) {
        planes
            .entry((flow.port, flow.protocol))
            .or_default()
            .push(flow);
    }
    for ((port, protocol), flows) in planes {
        let rows: BTreeSet<&str> = flows.iter().map(|f| f.from.as_str()).collect();
        let cols: BTreeSet<&str> = flows.iter().map(|f| f.to.as_str()).collect();
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "{port}/{protocol:?}: expected/observed ('.' allow, 'X' deny, '?' none)"
        );
        let _ = write!(out, "  {:width$}", "");
        for col in &cols {
            let _ = write!(out, " {:>9}", short(col));
        }
        out.push('\n');
        for row in &rows {
            let mut line = String::new();
            let mut differs = false;
            for col in &cols {
                let flow = Flow {
                    from: (*row).to_owned(),
                    to: (*col).to_owned(),
                    port,
                    protocol,
                };
                let (e, o) = (expected.get(&flow).copied(), observed.get(&flow).copied());
                differs |= e != o;
                let _ = write!(line, " {:>9}", format!("{}/{}", mark(e), mark(o)));
            }
            let _ = writeln!(
                out,
                "{} {row:width$}{line}",
                if differs { '*' } else { ' ' }
            );
        }
    }
    out
}

fn mark(verdict: Option<Verdict>) -> char {
    match verdict {
        Some(Verdict::Allow) => '.',
        Some(Verdict::Deny) => 'X',
        None => '?',
    }
}

/// The last 9 characters of a column name, so tables stay narrow.
fn short(name: &str) -> &str {
    let start = name.char_indices().rev().nth(8).map_or(0, |(i, _)| i);
    &name[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(from: &str, to: &str, port: u16) -> Flow {
        Flow {
            from: from.into(),
            to: to.into(),
            port,
            protocol: Protocol::Tcp,
        }
    }

    fn matrix(cells: &[(&str, &str, u16, Verdict)]) -> Matrix {
        cells
            .iter()
            .map(|(f, t, p, v)| (flow(f, t, *p), *v))
            .collect()
    }

    #[test]
    fn compare_cases() {
        use Verdict::*;
        type Want<'a> = Vec<(&'a str, &'a str, Option<Verdict>, Option<Verdict>)>;
        let cases: Vec<(&str, Matrix, Matrix, Want)> = vec![
            (
                "equal matrices: nothing to report",
                matrix(&[("x/a", "y/b", 80, Allow), ("x/a", "y/c", 80, Deny)]),
                matrix(&[("x/a", "y/c", 80, Deny), ("x/a", "y/b", 80, Allow)]),
                vec![],
            ),
            (
                "a flow the plugin allows and the probe found blocked",
                matrix(&[("x/a", "y/b", 80, Allow)]),
                matrix(&[("x/a", "y/b", 80, Deny)]),
                vec![("x/a", "y/b", Some(Allow), Some(Deny))],
            ),
            (
                "a flow never probed, and one never asked",
                matrix(&[("x/a", "y/b", 80, Allow)]),
                matrix(&[("x/a", "y/c", 80, Deny)]),
                vec![
                    ("x/a", "y/b", Some(Allow), None),
                    ("x/a", "y/c", None, Some(Deny)),
                ],
            ),
        ];
        for (what, expected, observed, want) in cases {
            let got: Vec<_> = compare(&expected, &observed)
                .into_iter()
                .map(|m| (m.flow.from, m.flow.to, m.expected, m.observed))
                .collect();
            let want: Vec<_> = want
                .into_iter()
                .map(|(f, t, e, o)| (f.to_owned(), t.to_owned(), e, o))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn render_marks_rows_that_differ() {
        use Verdict::*;
        let expected = matrix(&[("x/a", "x/b", 80, Allow), ("x/b", "x/a", 80, Deny)]);
        let observed = matrix(&[("x/a", "x/b", 80, Deny), ("x/b", "x/a", 80, Deny)]);
        let table = render(&expected, &observed);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "80/Tcp: expected/observed ('.' allow, 'X' deny, '?' none)"
        );
        assert!(lines[2].starts_with("* x/a"), "{table}");
        assert!(lines[2].contains("./X"), "{table}");
        assert!(lines[3].starts_with("  x/b"), "{table}");
        assert!(lines[3].contains("X/X"), "{table}");
    }
}
