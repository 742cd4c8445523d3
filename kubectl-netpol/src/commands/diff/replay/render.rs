//! The replay report as people read it: totals, then a table per list.

use netpol_engine::Protocol;

use super::report::{Change, Report};
use crate::output::{Style, table};

pub fn render(report: &Report, style: Style, wide: bool) -> String {
    let mut out = String::new();
    if report.changed_policies.is_empty() {
        out.push_str("No policy changes.\n");
    } else {
        out.push_str("Changed policies:\n");
        for change in &report.changed_policies {
            out.push_str(&format!("  {:?}: {}\n", change.change, change.policy));
        }
    }
    totals(&mut out, report, style);
    let denied = format!("Newly denied: {} flow(s)", report.summary.newly_denied);
    let denied = if report.summary.newly_denied > 0 {
        style.bad(&denied)
    } else {
        denied
    };
    changes(&mut out, &denied, &report.newly_denied, wide);
    let allowed = format!("Newly allowed: {} flow(s)", report.summary.newly_allowed);
    changes(&mut out, &allowed, &report.newly_allowed, wide);
    if !report.unresolvable.is_empty() {
        let rows: Vec<Vec<String>> = report
            .unresolvable
            .iter()
            .map(|u| {
                vec![
                    u.from.clone(),
                    u.to.clone(),
                    port(u.protocol, u.port),
                    u.count.to_string(),
                    u.reason.clone(),
                    u.at.clone(),
                ]
            })
            .collect();
        warned_table(
            &mut out,
            style,
            &format!(
                "Unresolvable: {} flow(s) with an end the state does not know",
                report.summary.unresolvable
            ),
            &["FROM", "TO", "PORT", "FLOWS", "WHY", "FIRST AT"],
            &rows,
        );
    }
    if !report.recorded_differs.is_empty() {
        let rows: Vec<Vec<String>> = report
            .recorded_differs
            .iter()
            .map(|d| {
                let recorded = match d.direction {
                    Some(direction) => format!("{} at {}", d.recorded, direction.as_str()),
                    None => d.recorded.to_owned(),
                };
                vec![
                    d.from.clone(),
                    d.to.clone(),
                    port(d.protocol, d.port),
                    d.count.to_string(),
                    recorded,
                    d.at.clone(),
                ]
            })
            .collect();
        warned_table(
            &mut out,
            style,
            &format!(
                "Recorded verdicts the base does not give: {} flow(s)",
                report.summary.recorded_differs
            ),
            &["FROM", "TO", "PORT", "FLOWS", "RECORDED", "FIRST AT"],
            &rows,
        );
    }
    if report.groups_omitted > 0 {
        out.push_str(&format!(
            "\n{} more group(s) not listed (raise --limit)\n",
            report.groups_omitted
        ));
    }
    if report.summary.unread_lines > 0 {
        out.push_str(&format!(
            "\n{}\n",
            style.warn(&format!(
                "Lines not read: {} (the first {} below)",
                report.summary.unread_lines,
                report.unread.len()
            ))
        ));
        for unread in &report.unread {
            out.push_str(&format!("  {}: {}\n", unread.at, unread.reason));
        }
    }
    out
}

/// A section of the report: its heading as a warning, then its table.
fn warned_table(
    out: &mut String,
    style: Style,
    heading: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) {
    out.push_str(&format!("\n{}\n", style.warn(heading)));
    out.push_str(&table(headers, rows));
}

fn totals(out: &mut String, report: &Report, style: Style) {
    let s = &report.summary;
    let between = report
        .recorded_between
        .as_ref()
        .map(|[from, to]| format!(", recorded {from} to {to}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "\nReplayed {} recorded flow(s) from {}{between}:\n",
        s.read,
        report.files.join(", ")
    ));
    out.push_str(&format!(
        "  {} decided ({} distinct): {} unchanged, {} newly denied, {} newly allowed\n",
        s.decided, s.distinct, s.unchanged, s.newly_denied, s.newly_allowed
    ));
    if s.unresolvable > 0 {
        out.push_str(&format!(
            "  {}\n",
            style.warn(&format!("{} unresolvable (listed below)", s.unresolvable))
        ));
    }
    if s.recorded_differs > 0 {
        out.push_str(&format!(
            "  {}\n",
            style.warn(&format!(
                "{} recorded verdict(s) differ from the base's (listed below): the base may not be the state they were recorded in",
                s.recorded_differs
            ))
        ));
    }
    if s.skipped > 0 {
        out.push_str(&format!("  {} record(s) skipped:\n", s.skipped));
        for skipped in &report.skipped {
            out.push_str(&format!("    {} {}\n", skipped.count, skipped.description));
        }
    }
}

fn changes(out: &mut String, heading: &str, groups: &[Change], wide: bool) {
    out.push_str(&format!("\n{heading}\n"));
    if groups.is_empty() {
        return;
    }
    let mut headers = vec!["FROM", "TO", "PORT", "FLOWS", "BEFORE", "AFTER"];
    if wide {
        headers.push("EXAMPLE");
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut row = vec![
                g.from.clone(),
                g.to.clone(),
                port(g.protocol, g.port),
                g.count.to_string(),
                g.before.to_string(),
                g.after.to_string(),
            ];
            if wide {
                row.push(format!(
                    "{} -> {} ({})",
                    g.example.from, g.example.to, g.example.at
                ));
            }
            row
        })
        .collect();
    out.push_str(&table(&headers, &rows));
}

/// `TCP/8443`; ICMP has no port.
fn port(protocol: Protocol, port: u16) -> String {
    if protocol.has_ports() {
        format!("{protocol}/{port}")
    } else {
        protocol.to_string()
    }
}
