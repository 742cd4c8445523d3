//! Cluster mode against a mocked API server on loopback: kubeconfig, discovery with and
//! without the policy CRDs, paged lists, overlays of files, and clear errors for 403s.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Canned answers by request path (query strings ignored); unknown paths get a 404 Status.
struct FakeApiServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeApiServer {
    fn start(routes: BTreeMap<String, (u16, Value)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let target = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                let path = target.split('?').next().unwrap_or("/").to_owned();
                seen.lock().expect("lock").push(target);
                let (code, body) = routes.get(&path).cloned().unwrap_or_else(|| {
                    (404, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{path} not found")}))
                });
                let body = body.to_string();
                let reason = match code {
                    200 => "OK",
                    403 => "Forbidden",
                    _ => "Not Found",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, requests }
    }

    fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\nusers:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: nobody, namespace: shop}}\ncurrent-context: fake\n",
            self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

fn list(api_version: &str, kind: &str, items: Vec<Value>) -> (u16, Value) {
    (
        200,
        json!({"apiVersion": api_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items}),
    )
}

fn pod(ns: &str, name: &str, app: &str, ip: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
           "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"podIPs": [{"ip": ip}]}})
}

fn cluster_routes(with_cnp_api: bool, pods_forbidden: bool) -> BTreeMap<String, (u16, Value)> {
    let mut routes = BTreeMap::new();
    routes.insert(
        "/api/v1/namespaces".into(),
        list(
            "v1",
            "Namespace",
            vec![
                json!({"metadata": {"name": "shop", "labels": {"team": "shop"}}}),
                json!({"metadata": {"name": "bank", "labels": {"team": "bank"}}}),
            ],
        ),
    );
    routes.insert("/api/v1/nodes".into(), list("v1", "Node", vec![]));
    routes.insert("/api/v1/pods".into(), if pods_forbidden {
        (403, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                     "message": "pods is forbidden: User \"nobody\" cannot list resource \"pods\" in API group \"\" at the cluster scope"}))
    } else {
        list("v1", "Pod", vec![pod("shop", "web-1", "web", "10.0.0.1"), pod("bank", "api-1", "api", "10.0.1.1")])
    });
    routes.insert("/apis/networking.k8s.io/v1/networkpolicies".into(), list("networking.k8s.io/v1", "NetworkPolicy", vec![
        json!({"metadata": {"name": "deny-all", "namespace": "bank"}, "spec": {"podSelector": {}}}),
    ]));
    for (group, plural, kind) in [
        ("apps/v1", "deployments", "Deployment"),
        ("apps/v1", "statefulsets", "StatefulSet"),
        ("apps/v1", "daemonsets", "DaemonSet"),
        ("batch/v1", "cronjobs", "CronJob"),
    ] {
        routes.insert(format!("/apis/{group}/{plural}"), list(group, kind, vec![]));
    }
    if with_cnp_api {
        routes.insert("/apis/policy.networking.k8s.io/v1alpha2".into(), (200, json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy.networking.k8s.io/v1alpha2",
            "resources": [{"name": "clusternetworkpolicies", "singularName": "clusternetworkpolicy", "namespaced": false, "kind": "ClusterNetworkPolicy", "verbs": ["list", "get", "watch"]}]
        })));
        routes.insert("/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies".into(), list("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy", vec![
            json!({"metadata": {"name": "open-bank"}, "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {"matchLabels": {"team": "bank"}}},
                   "ingress": [{"name": "from-shop", "action": "Accept", "from": [{"namespaces": {"matchLabels": {"team": "shop"}}}]}]}}),
        ]));
    }
    routes
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl-netpol")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpol-live-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn reads_the_live_cluster_with_the_cnp_api() {
    let server = FakeApiServer::start(cluster_routes(true, false));
    let dir = temp_dir("cnp");
    let kubeconfig = server.kubeconfig(&dir);
    let kc = kubeconfig.to_str().expect("path");
    let out = run(
        &[
            "check",
            "--kubeconfig",
            kc,
            "--from",
            "shop/web-1",
            "--to",
            "bank/api-1",
            "--port",
            "8080",
            "--expect",
            "allow",
        ],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ClusterNetworkPolicy open-bank (priority 5) rule 0 \"from-shop\": Accept"),
        "{stdout}"
    );
    let requests = server.requests.lock().expect("lock").clone();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/pods?") && r.contains("limit=500")),
        "{requests:?}"
    );
    // v1alpha1 is not served (404): its kinds are not listed.
    assert!(
        !requests.iter().any(|r| r.contains("adminnetworkpolicies")),
        "{requests:?}"
    );
    // In SARIF, objects of the live cluster are in no file: the object alone locates a finding.
    let out = run(&["lint", "--kubeconfig", kc, "-o", "sarif"], &dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let deny_all = results
        .iter()
        .find(|r| r["ruleId"] == "blocks-all")
        .expect("the default deny is reported");
    let location = &deny_all["locations"][0];
    assert!(location.get("physicalLocation").is_none(), "{location:#}");
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "NetworkPolicy bank/deny-all"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn without_policy_crds_networkpolicy_alone_decides_and_files_overlay_the_cluster() {
    let server = FakeApiServer::start(cluster_routes(false, false));
    let dir = temp_dir("nocrd");
    let kubeconfig = server.kubeconfig(&dir);
    let kc = kubeconfig.to_str().expect("path");
    let out = run(
        &[
            "check",
            "--kubeconfig",
            kc,
            "--from",
            "shop/web-1",
            "--to",
            "bank/api-1",
            "--port",
            "8080",
            "--expect",
            "deny",
        ],
        &dir,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves no admin network policy API"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NetworkPolicy bank/deny-all: isolates"));

    // The same check with a file that opens bank to shop, applied over the live state.
    let file = dir.join("open.yaml");
    std::fs::write(&file, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: bank}\nspec:\n  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {team: shop}}}]}]\n").expect("write");
    let out = run(
        &[
            "check",
            "--kubeconfig",
            kc,
            "--cluster",
            "-f",
            "open.yaml",
            "--from",
            "shop/web-1",
            "--to",
            "bank/api-1",
            "--port",
            "8080",
            "--expect",
            "allow",
        ],
        &dir,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // diff without --base compares the live cluster with the files applied.
    let out = run(
        &["diff", "--kubeconfig", kc, "-f", "open.yaml", "-o", "json"],
        &dir,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let impact: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        impact["newly_allowed_count"].as_u64().map(|n| n > 0),
        Some(true),
        "{impact}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn forbidden_lists_name_the_missing_verb_and_resource() {
    let server = FakeApiServer::start(cluster_routes(true, true));
    let dir = temp_dir("403");
    let kubeconfig = server.kubeconfig(&dir);
    let out = run(
        &[
            "explain",
            "--kubeconfig",
            kubeconfig.to_str().expect("path"),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("forbidden: netpol needs the `list` verb on `pods` across all namespaces"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kubectl auth can-i list pods -A"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unreachable_server_is_named() {
    let dir = temp_dir("down");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let path = dir.join("kubeconfig");
    std::fs::write(&path, format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{url}\"}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n")).expect("write");
    let out = run(
        &[
            "explain",
            "--kubeconfig",
            path.to_str().expect("path"),
            "--request-timeout",
            "5s",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the API server at {url}")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
