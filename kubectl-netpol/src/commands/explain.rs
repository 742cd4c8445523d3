//! `kubectl netpol explain`: the policies as a table in evaluation order.

use crate::output::{out, outln};
use anyhow::Result;
use netpol_engine::Endpoint;
use netpol_engine::explain::explain;

use crate::cli::{ExplainArgs, OutputFormat};
use crate::input::load_engine;
use crate::output::{fit, structured, table};

pub fn run(args: &ExplainArgs) -> Result<u8> {
    let input = load_engine(&args.source)?;
    let engine = &input.engine;
    let pod = match &args.pod {
        None => None,
        Some(text) => match input.endpoint(text)? {
            Endpoint::Pod(id) => Some(id),
            Endpoint::Address(ip) => anyhow::bail!("--pod wants a pod, not the address {ip}"),
        },
    };
    let rows = explain(engine, pod);
    if structured(args.output, &rows)? {
        return Ok(0);
    }
    if rows.is_empty() {
        outln!(
            "No policy selects {}.",
            args.pod.as_deref().unwrap_or("any pod")
        );
        return Ok(0);
    }
    let wide = args.output == OutputFormat::Wide;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let rule = match (&r.rule, &r.rule_name) {
                (Some(i), Some(name)) => format!("{i}:{name}"),
                (Some(i), None) => i.to_string(),
                _ => "-".into(),
            };
            vec![
                fit(&r.subject, 40, wide),
                r.direction.as_str().to_owned(),
                format!("{:?}", r.tier),
                r.policy.to_string(),
                r.priority.map_or("-".into(), |p| p.to_string()),
                rule,
                r.action.clone(),
                fit(&r.peers, 50, wide),
                r.ports.clone(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "SUBJECT",
                "DIRECTION",
                "TIER",
                "POLICY",
                "PRIORITY",
                "RULE",
                "ACTION",
                "PEERS",
                "PORTS"
            ],
            &cells
        )
    );
    Ok(0)
}
