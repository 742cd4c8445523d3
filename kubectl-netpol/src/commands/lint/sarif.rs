//! SARIF 2.1.0, the format code scanning reads: netpol is the tool, every lint check and
//! validity rule a rule, and each finding a result at its field in the file and at its object.

use std::path::Path;

use netpol_engine::compile::RULES;
use netpol_engine::lint::{CHECKS, Finding, Severity};
use serde::Serialize;

use super::places::Place;
use super::uri::artifact_uri;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

#[derive(Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    /// Columns count characters, as the manifest reader does, not UTF-16 code units (SARIF's
    /// default).
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    information_uri: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<ResultProperties>,
}

#[derive(Serialize)]
struct ResultProperties {
    /// The finding's field path inside its object.
    field: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<usize>,
}

/// The Kubernetes object a finding is about.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// `Kind namespace/name`, as every other output of netpol names objects.
    fully_qualified_name: String,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<ObjectProperties>,
}

#[derive(Serialize)]
struct ObjectProperties {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

/// The SARIF log of `findings`, each at its place (`places[i]` is `findings[i]`'s); file URIs
/// are relative to `cwd` where they can be.
pub fn log(findings: &[Finding], places: &[Place], cwd: &Path) -> Log {
    let rules = rules();
    let results = findings
        .iter()
        .zip(places)
        .map(|(finding, place)| SarifResult {
            rule_id: finding.check,
            rule_index: rules.iter().position(|r| r.id == finding.check),
            level: level(finding.severity),
            message: Message {
                text: finding.message.clone(),
            },
            locations: vec![location(finding, place, cwd)],
            properties: finding
                .field
                .clone()
                .map(|field| ResultProperties { field }),
        })
        .collect();
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "netpol",
                    information_uri: REPOSITORY,
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            column_kind: "unicodeCodePoints",
            results,
        }],
    }
}

/// Lint's checks, then compilation's validity rules (documented in docs/semantics.md).
fn rules() -> Vec<Rule> {
    let checks = CHECKS.iter().map(|check| Rule {
        id: check.id,
        short_description: Message {
            text: check.summary.to_owned(),
        },
        help_uri: None,
        default_configuration: Configuration {
            level: level(check.severity),
        },
    });
    let validity = RULES.iter().map(|rule| Rule {
        id: rule.id,
        short_description: Message {
            text: rule.summary.to_owned(),
        },
        help_uri: Some(format!(
            "{REPOSITORY}/blob/main/docs/semantics.md#validation"
        )),
        default_configuration: Configuration { level: "error" },
    });
    checks.chain(validity).collect()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn location(finding: &Finding, place: &Place, cwd: &Path) -> Location {
    let physical_location = place.file.as_ref().map(|file| PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: artifact_uri(&file.source, cwd),
        },
        region: file.line.map(|line| Region {
            start_line: line,
            start_column: file.column,
        }),
    });
    let logical = match place.object {
        Some(key) => LogicalLocation {
            name: Some(key.name.clone()),
            fully_qualified_name: key.to_string(),
            kind: "resource",
            properties: Some(ObjectProperties {
                kind: key.kind.name(),
                namespace: key.namespace.clone(),
            }),
        },
        None => LogicalLocation {
            name: None,
            fully_qualified_name: finding.object.clone(),
            kind: "resource",
            properties: None,
        },
    };
    Location {
        physical_location,
        logical_locations: vec![logical],
    }
}
