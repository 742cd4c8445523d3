//! `kubectl netpol lint`: every invalid field (under its validity rule's id) and the engine's
//! lint findings, as one list.

mod places;
mod sarif;
mod uri;

use crate::output::{out, outln};
use anyhow::{Context, Result};
use netpol_engine::Engine;
use netpol_engine::lint::{Severity, report};

use crate::cli::{FailOn, LintArgs, OutputFormat};
use crate::input::{load_state, load_state_with_manifests};
use crate::output::{Style, fit, structured, table};

pub fn run(args: &LintArgs) -> Result<u8> {
    let source = &args.source;
    // Only SARIF points into the files: the other formats need not keep their texts.
    let (state, manifests) = if args.output.common().is_none() {
        load_state_with_manifests(
            &source.files,
            source.namespace.as_deref(),
            &source.connection,
        )?
    } else {
        let state = load_state(
            &source.files,
            source.namespace.as_deref(),
            &source.connection,
        )?;
        (state, Vec::new())
    };
    // Invalid fields are findings too, under their validity rule's id: lint reports them
    // instead of stopping.
    let findings = report(&state, &Engine::build(&state));
    let threshold = match args.fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::None => None,
    };
    let failing = threshold.is_some_and(|t| findings.iter().any(|f| f.severity <= t));
    let exit = u8::from(failing);
    let Some(format) = args.output.common() else {
        let cwd = std::env::current_dir().context("finding the current directory")?;
        let places = places::places(&findings, &state, &manifests);
        let log = sarif::log(&findings, &places, &cwd);
        outln!("{}", serde_json::to_string_pretty(&log)?);
        return Ok(exit);
    };
    if structured(format, &findings)? {
        return Ok(exit);
    }
    if findings.is_empty() {
        outln!("No findings.");
        return Ok(exit);
    }
    let style = Style::detect();
    let wide = format == OutputFormat::Wide;
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            let severity = match f.severity {
                Severity::Error => style.bad("error"),
                Severity::Warning => style.warn("warning"),
                Severity::Info => "info".to_owned(),
            };
            vec![
                severity,
                f.check.to_owned(),
                f.object.clone(),
                f.field.clone().unwrap_or_else(|| "-".into()),
                fit(&f.message, 100, wide),
            ]
        })
        .collect();
    out!(
        "{}",
        table(&["SEVERITY", "CHECK", "OBJECT", "FIELD", "MESSAGE"], &rows)
    );
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    outln!(
        "\n{} error(s), {} warning(s), {} info",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    Ok(exit)
}
