//! The CI outputs end to end, one case per directory of `tests/testdata`: `check -o junit` read
//! back with an XML parser (`testdata/junit/*/`: a traffic file and the report it must give),
//! and `lint -o sarif` (`testdata/sarif/*/`: manifests and the results, with their lines and
//! columns, they must give), checked against the SARIF 2.1.0 schema's properties.

// Not every test binary uses every helper.
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;
use serde_json::Value;

use common::text;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn netpol_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs kubectl-netpol")
}

/// The case directories under `testdata/<kind>`, sorted (directories only).
fn cases(kind: &str) -> Vec<PathBuf> {
    let root = crate_dir().join("tests/testdata").join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.join("expected.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root.display());
    dirs
}

fn expected<T: for<'de> Deserialize<'de>>(dir: &Path) -> T {
    let path = dir.join("expected.yaml");
    let text = std::fs::read_to_string(&path).expect("expected.yaml");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[derive(Deserialize)]
struct JunitCase {
    exit: i32,
    cases: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    line: usize,
    outcome: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
    message_contains: Option<String>,
    text_starts: Option<String>,
}

#[test]
fn junit_reports_read_back() {
    for dir in cases("junit") {
        let case = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let want: JunitCase = expected(&dir);
        let traffic = format!("tests/testdata/junit/{case}/traffic.yaml");
        let args = [
            "check",
            "-f",
            "tests/testdata/junit/manifests",
            "--traffic",
            &traffic,
        ];
        let out = netpol_in(crate_dir(), &[&args[..], &["-o", "junit"]].concat());
        assert_eq!(
            out.status.code(),
            Some(want.exit),
            "{case}: {}",
            text(&out.stderr)
        );
        let xml = text(&out.stdout);
        let document = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|err| panic!("{case}: not XML: {err}\n{xml}"));
        let count = |outcome: &str| want.cases.iter().filter(|c| c.outcome == outcome).count();
        let counts = [
            ("tests", want.cases.len()),
            ("failures", count("failure")),
            ("errors", count("error")),
        ];
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "testsuites", "{case}");
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 1, "{case}: one suite");
        let suite = suites[0];
        assert_eq!(suite.tag_name().name(), "testsuite", "{case}");
        assert_eq!(suite.attribute("name"), Some(traffic.as_str()), "{case}");
        for element in [root, suite] {
            for (attribute, want) in counts {
                let got = element.attribute(attribute).map(str::to_owned);
                assert_eq!(got, Some(want.to_string()), "{case}: {attribute}");
            }
            seconds(element.attribute("time"), &case);
        }
        let testcases: Vec<_> = suite.children().filter(|n| n.is_element()).collect();
        assert_eq!(testcases.len(), want.cases.len(), "{case}: test cases");
        let mut failure_texts = Vec::new();
        for (node, want) in testcases.iter().zip(&want.cases) {
            let at = format!("{case}: {}", want.name);
            assert_eq!(node.tag_name().name(), "testcase", "{at}");
            assert_eq!(node.attribute("name"), Some(want.name.as_str()), "{at}");
            assert_eq!(node.attribute("classname"), Some(traffic.as_str()), "{at}");
            assert_eq!(node.attribute("file"), Some(traffic.as_str()), "{at}");
            assert_eq!(
                node.attribute("line"),
                Some(want.line.to_string().as_str()),
                "{at}"
            );
            seconds(node.attribute("time"), &at);
            let children: Vec<_> = node.children().filter(|n| n.is_element()).collect();
            if want.outcome == "passed" {
                assert!(children.is_empty(), "{at}: passed has no child");
                continue;
            }
            assert_eq!(children.len(), 1, "{at}: one {}", want.outcome);
            let result = children[0];
            assert_eq!(result.tag_name().name(), want.outcome, "{at}");
            assert_eq!(result.attribute("type"), want.kind.as_deref(), "{at}");
            let message = result.attribute("message").expect("a message");
            assert!(!message.contains('\n'), "{at}: one line: {message:?}");
            if let Some(expected) = &want.message {
                assert_eq!(message, expected, "{at}");
            }
            if let Some(part) = &want.message_contains {
                assert!(message.contains(part), "{at}: {message:?} lacks {part:?}");
            }
            let body = result.text().unwrap_or_default();
            if let Some(start) = &want.text_starts {
                assert!(body.starts_with(start), "{at}: text {body:?}");
                assert!(body.ends_with(": MISMATCH\n"), "{at}: text {body:?}");
                failure_texts.push(body.to_owned());
            }
        }
        // Every flow decided: each failure's text is the human output's for that flow.
        if want.exit != 2 {
            let human = text(&netpol_in(crate_dir(), &args).stdout);
            for failure in failure_texts {
                assert!(
                    human.contains(&failure),
                    "{case}: {failure:?} not in\n{human}"
                );
            }
        }
    }
}

fn seconds(time: Option<&str>, at: &str) {
    let time = time.unwrap_or_else(|| panic!("{at}: no time"));
    let seconds: f64 = time
        .parse()
        .unwrap_or_else(|_| panic!("{at}: time {time:?}"));
    assert!(seconds >= 0.0, "{at}: time {time:?}");
}

#[derive(Deserialize)]
struct SarifCase {
    exit: i32,
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SarifResult {
    rule: String,
    level: String,
    uri: String,
    line: u64,
    column: u64,
    object: String,
}

#[test]
fn sarif_results_point_at_the_field() {
    for dir in cases("sarif") {
        let case = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let want: SarifCase = expected(&dir);
        let out = netpol_in(&dir, &["lint", "-f", "manifests", "-o", "sarif"]);
        assert_eq!(
            out.status.code(),
            Some(want.exit),
            "{case}: {}",
            text(&out.stderr)
        );
        let log: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        check_sarif_shape(&log, &case);
        let results = log["runs"][0]["results"].as_array().expect("results");
        let got: Vec<(String, String, String, u64, u64, String)> = results
            .iter()
            .map(|r| {
                let location = &r["locations"][0];
                let physical = &location["physicalLocation"];
                (
                    r["ruleId"].as_str().unwrap_or_default().to_owned(),
                    r["level"].as_str().unwrap_or_default().to_owned(),
                    physical["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    physical["region"]["startLine"].as_u64().unwrap_or_default(),
                    physical["region"]["startColumn"]
                        .as_u64()
                        .unwrap_or_default(),
                    location["logicalLocations"][0]["fullyQualifiedName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String, String, u64, u64, String)> = want
            .results
            .into_iter()
            .map(|r| (r.rule, r.level, r.uri, r.line, r.column, r.object))
            .collect();
        assert_eq!(got, want, "{case}");
    }
}

/// Objects read from standard input are in no file: they have a logical location only.
#[test]
fn sarif_without_a_file_names_the_object() {
    let manifest = crate_dir().join("tests/testdata/sarif/files/manifests/policy.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(["lint", "-f", "-", "-o", "sarif"])
        .stdin(Stdio::from(
            std::fs::File::open(manifest).expect("manifest"),
        ))
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs kubectl-netpol");
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut stdout)
        .expect("output");
    assert_eq!(child.wait().expect("exit").code(), Some(1));
    let log: Value = serde_json::from_str(&stdout).expect("JSON");
    check_sarif_shape(&log, "stdin");
    let location = &log["runs"][0]["results"][0]["locations"][0];
    assert!(location.get("physicalLocation").is_none(), "{location:#}");
    assert_eq!(
        location["logicalLocations"][0],
        serde_json::json!({
            "name": "from-json",
            "fullyQualifiedName": "NetworkPolicy shop/from-json",
            "kind": "resource",
            "properties": {"kind": "NetworkPolicy", "namespace": "shop"}
        })
    );
}

/// The SARIF 2.1.0 schema's rules for what netpol writes: required properties, enumerations,
/// minimums, and no property the schema does not define (its objects allow no others).
fn check_sarif_shape(log: &Value, case: &str) {
    let keys = |value: &Value, at: &str, required: &[&str], allowed: &[&str]| {
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("{case}: {at} is not an object"));
        for key in required {
            assert!(object.contains_key(*key), "{case}: {at} lacks {key}");
        }
        for key in object.keys() {
            assert!(
                required.contains(&key.as_str()) || allowed.contains(&key.as_str()),
                "{case}: {at} has {key}, which SARIF does not define there"
            );
        }
    };
    let positive = |value: &Value, at: &str| {
        assert!(
            value.as_u64().is_some_and(|n| n >= 1),
            "{case}: {at} = {value}"
        );
    };
    let levels = ["none", "note", "warning", "error"];
    keys(log, "log", &["version", "runs"], &["$schema"]);
    assert_eq!(log["version"], "2.1.0", "{case}");
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{case}");
    let run = &runs[0];
    keys(run, "run", &["tool"], &["columnKind", "results"]);
    assert!(
        ["utf16CodeUnits", "unicodeCodePoints"]
            .contains(&run["columnKind"].as_str().unwrap_or_default())
    );
    keys(&run["tool"], "tool", &["driver"], &[]);
    let driver = &run["tool"]["driver"];
    keys(
        driver,
        "driver",
        &["name"],
        &["informationUri", "version", "semanticVersion", "rules"],
    );
    let rules = driver["rules"].as_array().expect("rules");
    for rule in rules {
        keys(
            rule,
            "rule",
            &["id"],
            &["shortDescription", "helpUri", "defaultConfiguration"],
        );
        keys(
            &rule["shortDescription"],
            "shortDescription",
            &["text"],
            &[],
        );
        keys(
            &rule["defaultConfiguration"],
            "defaultConfiguration",
            &[],
            &["level"],
        );
        let level = rule["defaultConfiguration"]["level"]
            .as_str()
            .unwrap_or_default();
        assert!(levels.contains(&level), "{case}: rule level {level}");
    }
    for result in run["results"].as_array().expect("results") {
        keys(
            result,
            "result",
            &["message"],
            &["ruleId", "ruleIndex", "level", "locations", "properties"],
        );
        keys(&result["message"], "message", &["text"], &[]);
        let level = result["level"].as_str().unwrap_or_default();
        assert!(levels.contains(&level), "{case}: level {level}");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"], "{case}: ruleIndex");
        for location in result["locations"].as_array().expect("locations") {
            keys(
                location,
                "location",
                &[],
                &["physicalLocation", "logicalLocations"],
            );
            if let Some(physical) = location.get("physicalLocation") {
                keys(
                    physical,
                    "physicalLocation",
                    &["artifactLocation"],
                    &["region"],
                );
                keys(
                    &physical["artifactLocation"],
                    "artifactLocation",
                    &["uri"],
                    &[],
                );
                let uri = physical["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    !uri.contains('\\') && !uri.contains(' '),
                    "{case}: uri {uri}"
                );
                if let Some(region) = physical.get("region") {
                    keys(region, "region", &["startLine"], &["startColumn"]);
                    positive(&region["startLine"], "startLine");
                    if let Some(column) = region.get("startColumn") {
                        positive(column, "startColumn");
                    }
                }
            }
            for logical in location["logicalLocations"].as_array().expect("logical") {
                keys(
                    logical,
                    "logicalLocation",
                    &["fullyQualifiedName", "kind"],
                    &["name", "properties"],
                );
            }
        }
    }
}
