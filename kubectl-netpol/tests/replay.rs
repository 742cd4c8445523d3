//! `diff --flows` end to end: one case per recording format under `tests/testdata/replay/*/`
//! (a recording and the report it must give), the table against golden output, exit statuses
//! and the inputs that are not recordings.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::{golden, text};

fn replay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/replay")
}

/// Runs the plugin in the replay directory, with `stdin` on standard input when given.
fn netpol(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(args)
        .current_dir(replay_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs kubectl-netpol");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("kubectl-netpol output")
}

fn diff(flows: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["diff", "--base", "manifests", "-f", "change.yaml"];
    for file in flows {
        args.extend(["--flows", file]);
    }
    args.extend(extra);
    netpol(&args, None)
}

/// Every field `want` names has the value it gives; lists match whole, element by element.
fn assert_contains(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Object(got), Value::Object(want)) => {
            for (key, value) in want {
                let field = format!("{path}.{key}");
                let got = got
                    .get(key)
                    .unwrap_or_else(|| panic!("{field}: missing in the report"));
                assert_contains(got, value, &field);
            }
        }
        (Value::Array(got), Value::Array(want)) => {
            assert_eq!(got.len(), want.len(), "{path}: {got:#?}");
            for (i, (got, want)) in got.iter().zip(want).enumerate() {
                assert_contains(got, want, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[test]
fn each_format_reports_the_flows_the_change_turns() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(replay_dir())
        .expect("replay dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.join("expected.yaml").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 3, "observe, hubble and knp cases");
    for case in cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let want: Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml"),
        )
        .unwrap_or_else(|err| panic!("{name}/expected.yaml: {err}"));
        let flows = format!("{name}/flows.jsonl");
        let out = diff(&[&flows], &["-o", "json", "--fail-on-deny"]);
        let exit = want["exit"].as_i64().expect("exit") as i32;
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{name}: {}",
            text(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|err| panic!("{name}: {err}: {}", text(&out.stdout)));
        let mut want = want;
        want.as_object_mut().expect("mapping").remove("exit");
        assert_contains(&report, &want, &name);
        assert_eq!(report["files"], serde_json::json!([flows]), "{name}");
    }
}

#[test]
fn the_table_matches_golden_output_and_exits_zero_without_fail_on_deny() {
    let out = diff(&["observe/flows.jsonl"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("diff-replay-observe.txt", &text(&out.stdout));
    let out = diff(&["hubble/flows.jsonl"], &["-o", "wide"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("diff-replay-hubble-wide.txt", &text(&out.stdout));
}

#[test]
fn fail_on_deny_trips_only_when_a_recorded_flow_becomes_denied() {
    // Only the flows the change allows or leaves alone: Prometheus' scrape, DNS, ICMP.
    let observe = std::fs::read_to_string(replay_dir().join("observe/flows.jsonl")).expect("read");
    let harmless: String = observe
        .lines()
        .filter(|l| l.contains("prometheus-0") || l.contains("\"port\":53,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(harmless.lines().count(), 5);
    let out = netpol(
        &[
            "diff",
            "--base",
            "manifests",
            "-f",
            "change.yaml",
            "--flows",
            "-",
            "--fail-on-deny",
            "-o",
            "json",
        ],
        Some(harmless.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["summary"]["newly_denied"], 0);
    assert_eq!(report["summary"]["newly_allowed"], 2);
    assert_eq!(report["files"], serde_json::json!(["<stdin>"]));

    let out = diff(&["knp/flows.jsonl"], &["--fail-on-deny"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn several_recordings_add_up() {
    let out = diff(
        &[
            "observe/flows.jsonl",
            "hubble/flows.jsonl",
            "knp/flows.jsonl",
        ],
        &["-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let summary = &report["summary"];
    assert_eq!(summary["read"], 15 + 11 + 7);
    assert_eq!(summary["newly_denied"], 5 + 4 + 3);
    assert_eq!(summary["unresolvable"], 3);
    assert_eq!(summary["unread_lines"], 3);
    // The same flow recorded by different recorders is decided once.
    assert_eq!(
        report["newly_denied"][0]["count"],
        4 + 3 + 2,
        "{:#}",
        report["newly_denied"]
    );
}

/// The flows files, standard input, what the error must say, and the case.
type BadInput<'a> = (&'a [&'a str], Option<&'a [u8]>, &'a str, &'a str);

#[test]
fn a_file_that_is_not_a_recording_is_bad_input_naming_it() {
    let empty = std::env::temp_dir().join(format!("netpol-replay-empty-{}", std::process::id()));
    std::fs::write(&empty, "\n").expect("write");
    let empty_arg = empty.to_str().expect("utf-8");
    let cases: &[BadInput] = &[
        (
            &["change.yaml"],
            None,
            "change.yaml: no recorded flows",
            "a manifest given as flows",
        ),
        (&[empty_arg], None, "(it is empty)", "an empty file"),
        (
            &["observe/flows.jsonl", "missing.jsonl"],
            None,
            "reading missing.jsonl",
            "a file that does not exist",
        ),
        (
            &["-"],
            Some(b"{\"kind\":\"Event\",\"reason\":\"Started\"}\n[1,2]\n"),
            "<stdin>: no recorded flows: no line is a flow of netpol observe, hubble observe -o json or kube-network-policies' JSON log; line 1: JSON, but not a flow",
            "JSON of another kind on standard input",
        ),
    ];
    for (flows, stdin, message, what) in cases {
        let mut args = vec!["diff", "--base", "manifests", "-f", "change.yaml"];
        for file in *flows {
            args.extend(["--flows", file]);
        }
        let out = netpol(&args, *stdin);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains(message),
            "{what}: {}",
            text(&out.stderr)
        );
    }
    std::fs::remove_file(&empty).ok();

    let out = netpol(
        &["diff", "--base", "manifests", "-f", "-", "--flows", "-"],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("standard input (-) can be read once"));
}
