//! The plugin end to end: the real binary on the bundled example, with golden output, exit
//! statuses and errors; and discovery through the installed `kubectl`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{golden, text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn netpol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("runs kubectl-netpol")
}

#[test]
fn check_traffic_file_matches_golden_output_and_exits_zero() {
    let out = netpol(&[
        "check",
        "-f",
        "examples/bookshop",
        "--traffic",
        "examples/bookshop.traffic.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("check-bookshop.txt", &text(&out.stdout));
}

#[test]
fn explain_matches_golden_tables() {
    let out = netpol(&["explain", "-f", "examples/bookshop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("explain-bookshop.txt", &text(&out.stdout));
    let out = netpol(&[
        "explain",
        "-f",
        "examples/bookshop",
        "--pod",
        "shop/deployment/api",
        "-o",
        "wide",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("explain-bookshop-api.txt", &text(&out.stdout));
}

#[test]
fn lint_diff_and_matrix_match_golden_output() {
    let out = netpol(&[
        "lint",
        "-f",
        "examples/bookshop",
        "-f",
        "kubectl-netpol/tests/fixtures/lock-down-shop.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    golden("lint-bookshop.txt", &text(&out.stdout));
    let out = netpol(&["lint", "-f", "examples/bookshop", "--fail-on", "info"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "info findings fail with --fail-on info"
    );

    let out = netpol(&[
        "diff",
        "--base",
        "examples/bookshop",
        "-f",
        "kubectl-netpol/tests/fixtures/lock-down-shop.yaml",
        "--fail-on-deny",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    golden("diff-bookshop.txt", &text(&out.stdout));
    let out = netpol(&[
        "diff",
        "--base",
        "examples/bookshop",
        "-f",
        "examples/bookshop",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let impact: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (
            impact["newly_denied_count"].as_u64(),
            impact["newly_allowed_count"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let out = netpol(&[
        "diff",
        "--base",
        "examples/bookshop",
        "-f",
        "examples/bookshop",
        "--delete",
        "networkpolicy/shop/api-from-web",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Removed: NetworkPolicy shop/api-from-web"),
        "{}",
        text(&out.stdout)
    );

    for (format, file) in [
        ("table", "matrix-bookshop.txt"),
        ("dot", "matrix-bookshop.dot"),
        ("mermaid", "matrix-bookshop.mmd"),
        ("svg", "matrix-bookshop.svg"),
    ] {
        let out = netpol(&[
            "matrix",
            "-f",
            "examples/bookshop",
            "--port",
            "grpc,https,udp/53",
            "-o",
            format,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        golden(file, &text(&out.stdout));
    }
    let out = netpol(&[
        "matrix",
        "-f",
        "examples/bookshop",
        "--in",
        "shop",
        "-o",
        "json",
    ]);
    let matrix: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let classes = matrix["maps"][0]["classes"].as_array().expect("classes");
    let names: Vec<&str> = classes.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        ["shop/deployment/api", "shop/deployment/web"],
        "{matrix}"
    );
}

#[test]
fn unmet_expectation_exits_one_and_json_reports_it() {
    let out = netpol(&[
        "check",
        "-f",
        "examples/bookshop",
        "--from",
        "shop/deployment/web",
        "--to",
        "payments/deployment/gateway",
        "--port",
        "https",
        "--expect",
        "allow",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["summary"]["mismatches"], 1);
    let flow = &report["flows"][0];
    assert_eq!(
        (
            flow["verdict"].as_str(),
            flow["port"].as_u64(),
            flow["ok"].as_bool()
        ),
        (Some("deny"), Some(8443), Some(false))
    );
    assert_eq!(flow["ingress"]["decided_by"], "admin");
    assert_eq!(
        flow["ingress"]["steps"]
            .as_array()
            .expect("steps")
            .last()
            .expect("a step")["rule"]["name"],
        "everyone-else"
    );
}

#[test]
fn bad_input_exits_two_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("netpol-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: a}\nspec:\n  ingress:\n  - ports: [{port: 70000}]\n").expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "check".into(),
                "-f".into(),
                "examples/bookshop".into(),
                "--from".into(),
                "shop/web".into(),
                "--to".into(),
                "shop/deployment/api".into(),
                "--port".into(),
                "80".into(),
            ],
            "did you mean shop/deployment/web?",
        ),
        (
            vec![
                "check".into(),
                "-f".into(),
                "examples/bookshop".into(),
                "--from".into(),
                "shop/deployment/web".into(),
                "--to".into(),
                "203.0.113.9".into(),
                "--port".into(),
                "http".into(),
            ],
            "is not a pod: give a number",
        ),
        (
            vec![
                "check".into(),
                "-f".into(),
                "examples/bookshop".into(),
                "--from".into(),
                "shop/deployment/web".into(),
                "--to".into(),
                "shop/deployment/api".into(),
                "--port".into(),
                "nope".into(),
            ],
            "has no container port named \"nope\"",
        ),
        (
            vec!["explain".into(), "-f".into(), broken.display().to_string()],
            "NetworkPolicy a/x: field spec.ingress[0].ports[0].port: port 70000 is outside 1-65535",
        ),
        (
            vec!["explain".into(), "-f".into(), "no/such/dir".into()],
            "reading no/such/dir",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = netpol(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: stderr {:?} should contain {want:?}",
            text(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Invalid objects do not stop lint: each invalid field is an error finding under its validity
/// rule's id (the engine's `compile::RULES`), beside the findings about valid policies.
#[test]
fn lint_shows_compile_errors_under_their_rule_ids() {
    let dir = std::env::temp_dir().join(format!("netpol-cli-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("invalid.yaml");
    std::fs::write(
        &file,
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {name: baseline}\nspec: {subject: {namespaces: {}}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: a}\nspec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]\n",
    )
    .expect("write");
    let out = netpol(&["lint", "-f", &file.display().to_string(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let found = |check: &str, field: &str| {
        findings
            .as_array()
            .expect("a list")
            .iter()
            .any(|f| f["check"] == check && f["field"] == field && f["severity"] == "error")
    };
    assert!(found("banp-name", "metadata.name"), "{findings:#}");
    assert!(
        found(
            "except-outside-cidr",
            "spec.egress[0].to[0].ipBlock.except[0]"
        ),
        "{findings:#}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_is_spelt_as_a_kubectl_plugin() {
    let out = netpol(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("Usage: kubectl netpol <COMMAND>"),
        "{}",
        text(&out.stdout)
    );
}

/// kubectl finds `kubectl-netpol` on PATH and runs it for `kubectl netpol`.
#[test]
fn kubectl_discovers_the_plugin_on_path() {
    let Some(kubectl) = which("kubectl") else {
        eprintln!("kubectl is not installed: plugin discovery not exercised");
        return;
    };
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&kubectl)
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .expect("kubectl plugin list");
    assert!(
        text(&out.stdout).contains("kubectl-netpol"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = Command::new(&kubectl)
        .args([
            "netpol",
            "check",
            "-f",
            "examples/bookshop",
            "--from",
            "shop/deployment/web",
            "--to",
            "shop/deployment/api",
            "--port",
            "grpc",
            "--expect",
            "allow",
        ])
        .current_dir(repo())
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl netpol");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .starts_with("ALLOWED: shop/deployment/web -> shop/deployment/api TCP/9090"),
        "{}",
        text(&out.stdout)
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `kubectl netpol explain ... | head -0`: the pipe is closed before anything is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(["explain", "-f", "examples/bookshop", "-o", "json"])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn icmp_flows_have_no_port_and_meet_only_portless_rules() {
    let dir = std::env::temp_dir().join(format!("netpol-cli-icmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let traffic = dir.join("icmp.yaml");
    // api admits web on a named port only, so ICMP is denied; coredns is isolated by no
    // policy for that traffic, so ICMP passes.
    std::fs::write(
        &traffic,
        "- {from: shop/deployment/web, to: shop/deployment/api, protocol: icmp, expect: deny}\n\
         - {from: shop/deployment/web, to: kube-system/deployment/coredns, protocol: ICMPv6, expect: allow}\n\
         - {from: shop/deployment/web, to: shop/deployment/api, port: grpc, expect: allow}\n",
    )
    .expect("write");
    let out = netpol(&[
        "check",
        "-f",
        "examples/bookshop",
        "--traffic",
        traffic.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let flows = json["flows"].as_array().expect("flows");
    assert_eq!(flows[0]["protocol"], "ICMP");
    assert_eq!(flows[0]["port"], 0);
    assert_eq!(json["summary"]["mismatches"], 0);

    let single = netpol(&[
        "check",
        "-f",
        "examples/bookshop",
        "--from",
        "shop/deployment/web",
        "--to",
        "shop/deployment/api",
        "--protocol",
        "icmp",
    ]);
    assert!(
        text(&single.stdout).starts_with("DENIED: shop/deployment/web -> shop/deployment/api ICMP")
    );

    for (args, message) in [
        (
            vec![
                "--from",
                "shop/deployment/web",
                "--to",
                "shop/deployment/api",
                "--protocol",
                "icmp",
                "--port",
                "80",
            ],
            "--protocol icmp takes no --port",
        ),
        (
            vec![
                "--from",
                "shop/deployment/web",
                "--to",
                "shop/deployment/api",
            ],
            "--port is required",
        ),
    ] {
        let out = netpol(&[&["check", "-f", "examples/bookshop"][..], &args].concat());
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
    std::fs::write(
        &traffic,
        "- {from: shop/deployment/web, to: shop/deployment/api, port: 80, protocol: icmp}\n",
    )
    .unwrap();
    let out = netpol(&[
        "check",
        "-f",
        "examples/bookshop",
        "--traffic",
        traffic.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("entry 1: icmp has no port"),
        "{}",
        text(&out.stderr)
    );
}

/// The map's views on the bundled example: a pod that does not exist yet, what reaches a
/// namespace from outside, and one row per pair.
#[test]
fn matrix_shows_new_pods_exposure_and_pairs() {
    // `matrix -f examples/bookshop ARGS`, which must succeed: its output.
    let bookshop_map = |args: &[&str]| {
        let mut full = vec!["matrix", "-f", "examples/bookshop"];
        full.extend(args);
        let out = netpol(&full);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out.stdout
    };
    let table = text(&bookshop_map(&[
        "--pod-template",
        "shop:app=web,tier=new",
        "--all-ports",
    ]));
    assert!(table.contains("# what the new pods could reach"), "{table}");
    assert!(table.contains("# what could reach the new pods"), "{table}");
    // The new pod is a subject of shop's policies like web: it may reach api on 9090.
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop/new pod {app=web,tier=new}")
                && l.contains("shop/deployment/api")
                && l.ends_with("TCP 9090")),
        "{table}"
    );

    // Without container ports, web-from-anywhere's `port: http` admits nothing to it; declared,
    // the pod is reachable on 8080 like web, and only there.
    assert!(
        table.contains("# what could reach the new pods\nPorts shown: every port of TCP, UDP and SCTP, and ICMP.\n\nNothing is allowed"),
        "{table}"
    );
    let table = text(&bookshop_map(&[
        "--pod-template",
        "shop:app=web:http=8080,9999/udp",
        "--all-ports",
    ]));
    let reaching = table
        .split("# what could reach the new pods")
        .nth(1)
        .expect("second map");
    assert!(
        reaching.lines().any(|l| l.starts_with("all pods")
            && l.contains("new pod {app=web}")
            && l.ends_with("TCP 8080")),
        "{table}"
    );

    let table = text(&bookshop_map(&["--exposure", "--in", "shop"]));
    assert!(
        table.contains("# what reaches shop from outside"),
        "{table}"
    );
    assert!(table.contains("addresses in 0.0.0.0/0"), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("shop/")), "{table}");

    let stdout = bookshop_map(&["--in", "shop", "--all-ports", "--expand", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    let pairs = json["maps"][0]["pairs"].as_array().expect("pairs");
    let listed: Vec<String> = pairs
        .iter()
        .map(|p| format!("{} -> {}: {}", p["from"], p["to"], p["ports"]))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert!(listed.iter().all(|l| l.contains("TCP ")), "{listed:#?}");

    for (args, message) in [
        (vec!["--pod-template", "shop"], "want NAMESPACE:LABEL=VALUE"),
        (vec!["--pod-template", "shop:app"], "is not KEY=VALUE"),
        (
            vec!["--pod-template", "shop:app=web:http=0"],
            "PORT 1-65535",
        ),
        (
            vec!["--pod-template", "shop:app=web:80/icmp"],
            "want TCP, UDP or SCTP",
        ),
        (
            vec!["--pod-template", "shop:app=web:Not_A_Name=80"],
            "--pod-template \"shop:app=web:Not_A_Name=80\"",
        ),
        (vec!["--in", "nowhere"], "no namespace \"nowhere\""),
    ] {
        let mut full = vec!["matrix", "-f", "examples/bookshop"];
        full.extend(args);
        let out = netpol(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
}

/// An audited policy takes no part in verdicts; `check` marks the flows it would change, and
/// `--audit-as-enforced` decides with it.
#[test]
fn audited_policies_are_marked_and_can_be_treated_as_enforced() {
    let flow = [
        "check",
        "-f",
        "examples/bookshop",
        "-f",
        "kubectl-netpol/tests/testdata/audit",
        "--from",
        "shop/deployment/web",
        "--to",
        "shop/deployment/api",
        "--port",
        "9090",
        "-o",
        "json",
    ];
    let out = netpol(&flow);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let checked = &report["flows"][0];
    assert_eq!(checked["verdict"], "allow", "{report}");
    assert_eq!(checked["audit"]["verdict"], "would-deny", "{report}");
    assert_eq!(
        checked["audit"]["decided_by"][0],
        "ClusterNetworkPolicy deny-web-to-api rule 0"
    );
    // A flow the audited policy does not change carries no mark.
    let mut other = flow;
    other[8] = "payments/deployment/gateway";
    other[10] = "https";
    let out = netpol(&other);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(report["flows"][0].get("audit").is_none(), "{report}");

    let mut enforced = flow.to_vec();
    enforced.push("--audit-as-enforced");
    let out = netpol(&enforced);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["flows"][0]["verdict"], "deny", "{report}");
    assert!(report["flows"][0].get("audit").is_none(), "{report}");
}

/// `observe` over recorded events of two nodes: merged in time order, filtered, as a table or
/// the JSON lines themselves; other log lines are skipped.
#[test]
fn observe_merges_and_filters_recorded_events() {
    let files = [
        "observe",
        "-f",
        "kubectl-netpol/tests/testdata/observe/node-a.jsonl",
        "-f",
        "kubectl-netpol/tests/testdata/observe/node-b.jsonl",
    ];
    let run = |extra: &[&str]| {
        let mut args = files.to_vec();
        args.extend(extra);
        let out = netpol(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{extra:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let all = run(&[]);
    let rows: Vec<&str> = all.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{all}");
    // Ordered by time across the nodes.
    assert!(
        rows[0].contains("shop/api")
            && rows[0].contains("audit: would-deny by ClusterNetworkPolicy lock-db"),
        "{all}"
    );
    assert!(
        rows[1].contains("payments/gw")
            && rows[1].contains("AdminNetworkPolicy no-external-dns rule 1 (deny-dns)"),
        "{all}"
    );
    assert!(
        rows[2].contains("isolated by NetworkPolicy shop/web"),
        "{all}"
    );

    let denied = run(&["--verdict", "denied", "-n", "shop"]);
    assert_eq!(denied.lines().count(), 2, "{denied}");
    let audit = run(&["--verdict", "audit", "-o", "json"]);
    let event: serde_json::Value = serde_json::from_str(audit.trim()).expect("one JSON line");
    assert_eq!(event["audit"]["decidedBy"]["rule"]["name"], "no-api");
    let by_policy = run(&["--policy", "NetworkPolicy/shop/web"]);
    assert_eq!(by_policy.lines().count(), 2, "{by_policy}");
    let to_outside = run(&["--to", "203.0.113.9"]);
    assert!(to_outside.contains("payments/gw"), "{to_outside}");
    let from_namespace = run(&["--from", "payments/"]);
    assert_eq!(from_namespace.lines().count(), 2, "{from_namespace}");

    let out = netpol(&["observe", "-f", "kubectl-netpol/tests/cli.rs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no verdict events"),
        "{}",
        text(&out.stderr)
    );
    let mut bad = files.to_vec();
    bad.extend(["--policy", "NetworkPolicy/web"]);
    assert_eq!(netpol(&bad).status.code(), Some(2));
}

/// Flows to domain names: `--resolve` and `--dns` say what the source learned from DNS, and
/// egress `domainNames` rules match through it as the enforcer's would.
#[test]
fn flows_to_names_decide_with_the_answers_given() {
    let policy = "kubectl-netpol/tests/fixtures/egress-saas.yaml";
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "-f", policy, "--from", "shop/web", "--port", "443"];
        args.extend(extra);
        netpol(&args)
    };
    let out = check(&[
        "--to",
        "api.example.com",
        "--resolve",
        "api.example.com=203.0.113.5",
        "--resolve",
        "API.example.com.=203.0.113.6",
        "--expect",
        "allow",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let flows = report["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2, "a flow per address: {report}");
    assert_eq!(flows[1]["to"], "api.example.com (203.0.113.6)");
    assert_eq!(
        flows[0]["egress"]["steps"][0]["note"],
        "domainNames *.example.com via answer api.example.com → 203.0.113.5 (given by hand, no TTL)"
    );

    let cases: &[(&[&str], Option<&str>)] = &[
        (
            &[
                "--to",
                "203.0.113.5",
                "--dns",
                "api.example.com",
                "--expect",
                "allow",
            ],
            None,
        ),
        (
            &[
                "--to",
                "203.0.113.5",
                "--dns",
                "example.com",
                "--expect",
                "deny",
            ],
            None,
        ),
        (
            &[
                "--to",
                "203.0.113.9",
                "--resolve",
                "api.example.com=203.0.113.5",
                "--expect",
                "deny",
            ],
            None,
        ),
        (
            &["--to", "api.example.com"],
            Some("--resolve api.example.com=ADDRESS"),
        ),
        (
            &[
                "--to",
                "api.example.com",
                "--resolve",
                "api.example.com=1.2.3",
            ],
            Some("--resolve: \"api.example.com=1.2.3\": \"1.2.3\" is not an IP address"),
        ),
        (
            &[
                "--to",
                "a.example.com",
                "--resolve",
                "a..example.com=192.0.2.1",
            ],
            Some("label \"\" is empty"),
        ),
        (
            &["--to", "192.0.2.1", "--resolve", "a.example.com"],
            Some("is not NAME=ADDRESS"),
        ),
        (
            &["--to", "shop/web", "--dns", "a.example.com"],
            Some("must be an IP address"),
        ),
        (
            &["--to", "192.0.2.1", "--dns", "*.example.com"],
            Some("is a wildcard"),
        ),
    ];
    for (args, error) in cases {
        let out = check(args);
        match error {
            None => assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?}: {}",
                text(&out.stdout)
            ),
            Some(want) => {
                assert_eq!(out.status.code(), Some(2), "{args:?}");
                let stderr = text(&out.stderr);
                assert!(stderr.contains(want), "{args:?}: {stderr}");
                assert_eq!(stderr.matches(want).count(), 1, "said once: {stderr}");
            }
        }
    }

    let out = netpol(&[
        "check",
        "-f",
        policy,
        "--traffic",
        "kubectl-netpol/tests/fixtures/egress-saas.traffic.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("6 flow(s): 4 allowed, 2 denied, 0 mismatch(es)"),
        "{}",
        text(&out.stdout)
    );
}
