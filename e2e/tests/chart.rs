//! charts/netpol rendered with the real Helm v4 engine (helm-python-sdk) for several value
//! sets: Helm lint, every object checked against its Kubernetes type (unknown fields
//! refused), and the invariants the design fixes (webhooks, RBAC, security contexts, DaemonSet,
//! PDB, values schema). Runs in `cargo test --workspace`; when the Helm engine is missing it is
//! installed into a venv under target/ (see `netpol_e2e::helm`), and failing that the tests fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingWebhook, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, PodSpec, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::PolicyRule;
use netpol_e2e::helm::Helm;
use netpol_e2e::{repo_root, validate};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const NS: &str = "netpol-system";
const RELEASE: &str = "netpol";

fn chart() -> PathBuf {
    repo_root().join("charts/netpol")
}

fn helm() -> Helm {
    Helm::locate().unwrap_or_else(|err| panic!("{err:#}"))
}

use netpol_e2e::values::value_sets;

fn values_of(set: &str) -> Value {
    value_sets()
        .into_iter()
        .find(|(name, _)| *name == set)
        .map(|(_, values)| values)
        .unwrap_or_else(|| panic!("no value set {set}"))
}

/// Rendered objects (NOTES.txt apart), cached per value set: rendering starts a Python.
#[derive(Clone)]
struct Rendered {
    objects: Vec<Value>,
    notes: String,
}

impl Rendered {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one<T: DeserializeOwned>(&self, kind: &str, name: &str) -> T {
        let object = self
            .objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", self.names()));
        serde_json::from_value(object.clone()).unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
    }

    fn names(&self) -> Vec<String> {
        self.objects.iter().map(validate::describe).collect()
    }
}

fn render(set: &str) -> Rendered {
    static CACHE: Mutex<BTreeMap<String, Rendered>> = Mutex::new(BTreeMap::new());
    if let Some(hit) = CACHE.lock().unwrap().get(set) {
        return hit.clone();
    }
    let templates = helm()
        .render(&chart(), RELEASE, NS, &values_of(set))
        .unwrap_or_else(|err| panic!("{set}: {err:#}"));
    let mut rendered = Rendered {
        objects: Vec::new(),
        notes: String::new(),
    };
    for template in templates {
        if template.path.ends_with("NOTES.txt") {
            rendered.notes = template.text;
            continue;
        }
        let docs = validate::documents(&template.text)
            .unwrap_or_else(|e| panic!("{set}: {}: {e:#}", template.path));
        rendered.objects.extend(docs);
    }
    CACHE
        .lock()
        .unwrap()
        .insert(set.to_owned(), rendered.clone());
    rendered
}

#[test]
fn every_value_set_lints_renders_and_matches_the_kubernetes_types() {
    let namespaced: BTreeSet<&str> = [
        "ServiceAccount",
        "Service",
        "ConfigMap",
        "Deployment",
        "DaemonSet",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Issuer",
        "Certificate",
    ]
    .into();
    for (set, values) in value_sets() {
        let report = helm()
            .lint(&chart(), NS, &values)
            .unwrap_or_else(|e| panic!("{set}: lint: {e:#}"));
        let serious: Vec<&Value> = report["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["severity"].as_u64().unwrap_or(3) >= 2)
            .collect();
        assert!(serious.is_empty(), "{set}: helm lint --strict: {serious:?}");

        let rendered = render(set);
        let mut problems = Vec::new();
        for object in &rendered.objects {
            let what = validate::describe(object);
            problems.extend(
                validate::check(object)
                    .into_iter()
                    .map(|p| format!("{what}: {p}")),
            );
            let kind = object["kind"].as_str().unwrap_or_default();
            let namespace = object["metadata"]["namespace"].as_str();
            if namespaced.contains(kind) {
                if namespace != Some(NS) {
                    problems.push(format!("{what}: namespace {namespace:?}, want {NS}"));
                }
            } else if namespace.is_some() {
                problems.push(format!("{what}: cluster-scoped with a namespace"));
            }
            if object["metadata"]["labels"]["app.kubernetes.io/instance"] != RELEASE
                && kind != "CustomResourceDefinition"
            {
                problems.push(format!("{what}: no app.kubernetes.io/instance label"));
            }
        }
        assert!(problems.is_empty(), "{set}:\n{}", problems.join("\n"));
    }
}

#[test]
fn each_value_set_renders_the_objects_it_should() {
    let webhook = [
        "ServiceAccount netpol-webhook",
        "ClusterRole netpol-webhook",
        "ClusterRoleBinding netpol-webhook",
        "Service netpol-webhook",
        "Deployment netpol-webhook",
        "PodDisruptionBudget netpol-webhook",
        "ValidatingWebhookConfiguration netpol-webhook",
    ];
    let self_managed = ["Role netpol-webhook", "RoleBinding netpol-webhook"];
    let cert_manager = [
        "Issuer netpol-webhook-selfsigned",
        "Certificate netpol-webhook-ca",
        "Issuer netpol-webhook-ca",
        "Certificate netpol-webhook",
    ];
    let enforcer = [
        "ServiceAccount netpol-enforcer",
        "ClusterRole netpol-enforcer",
        "ClusterRoleBinding netpol-enforcer",
        "Role netpol-enforcer-flow-reader",
        "DaemonSet netpol-enforcer",
    ];
    let crds = [
        "CustomResourceDefinition adminnetworkpolicies.policy.networking.k8s.io",
        "CustomResourceDefinition baselineadminnetworkpolicies.policy.networking.k8s.io",
        "CustomResourceDefinition clusternetworkpolicies.policy.networking.k8s.io",
    ];
    let guard = ["ConfigMap netpol-webhook-guard-rails"];
    let cases: Vec<(&str, Vec<&[&str]>)> = vec![
        ("defaults", vec![&webhook, &self_managed, &enforcer]),
        ("cert-manager", vec![&webhook, &cert_manager, &enforcer]),
        ("enforcer off", vec![&webhook, &self_managed]),
        ("webhook off", vec![&enforcer]),
        (
            "crds installed",
            vec![&webhook, &self_managed, &enforcer, &crds],
        ),
        (
            "guard rails, percentages, no cut",
            vec![&webhook, &self_managed, &enforcer, &guard],
        ),
    ];
    for (set, groups) in cases {
        let want: BTreeSet<String> = groups.concat().iter().map(|s| (*s).to_owned()).collect();
        let got: BTreeSet<String> = render(set)
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(got, want, "{set}");
    }
}

fn webhook_named<'a>(
    config: &'a ValidatingWebhookConfiguration,
    name: &str,
) -> &'a ValidatingWebhook {
    config
        .webhooks
        .iter()
        .flatten()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no webhook {name}"))
}

/// A webhook rule: (groups, versions, resources, operations, scope).
type RuleRow = (String, String, Vec<String>, Vec<String>, Option<String>);

#[test]
fn webhook_configuration_invariants() {
    // (webhook, failurePolicy, [(group, version, resources)], scope)
    let expected = [
        (
            "admin-policies.netpol.io",
            "Fail",
            vec![
                (
                    "policy.networking.k8s.io",
                    "v1alpha1",
                    vec!["adminnetworkpolicies", "baselineadminnetworkpolicies"],
                ),
                (
                    "policy.networking.k8s.io",
                    "v1alpha2",
                    vec!["clusternetworkpolicies"],
                ),
            ],
            "Cluster",
        ),
        (
            "network-policies.netpol.io",
            "Ignore",
            vec![("networking.k8s.io", "v1", vec!["networkpolicies"])],
            "Namespaced",
        ),
    ];
    for set in ["defaults", "cert-manager"] {
        let rendered = render(set);
        let config: ValidatingWebhookConfiguration =
            rendered.one("ValidatingWebhookConfiguration", "netpol-webhook");
        let service: Service = rendered.one("Service", "netpol-webhook");
        let service_port = service.spec.unwrap().ports.unwrap()[0].port;
        assert_eq!(config.webhooks.as_ref().map(Vec::len), Some(2), "{set}");
        for (name, failure, rules, scope) in &expected {
            let hook = webhook_named(&config, name);
            let what = format!("{set}: {name}");
            assert_eq!(hook.failure_policy.as_deref(), Some(*failure), "{what}");
            assert_eq!(hook.side_effects, "None", "{what}");
            assert_eq!(hook.admission_review_versions, ["v1"], "{what}");
            assert!(
                hook.timeout_seconds.is_some_and(|t| (1..=5).contains(&t)),
                "{what}: timeoutSeconds"
            );
            assert_eq!(hook.match_policy.as_deref(), Some("Equivalent"), "{what}");
            let client = &hook.client_config;
            assert!(
                client.ca_bundle.is_none(),
                "{what}: caBundle is filled at run time, not rendered"
            );
            let target = client.service.as_ref().expect("a service reference");
            assert_eq!(
                (
                    target.name.as_str(),
                    target.namespace.as_str(),
                    target.path.as_deref(),
                    target.port
                ),
                ("netpol-webhook", NS, Some("/validate"), Some(service_port)),
                "{what}"
            );
            let got: Vec<RuleRow> = hook
                .rules
                .iter()
                .flatten()
                .map(|r| {
                    (
                        r.api_groups.clone().unwrap_or_default().join(","),
                        r.api_versions.clone().unwrap_or_default().join(","),
                        r.resources.clone().unwrap_or_default(),
                        r.operations.clone().unwrap_or_default(),
                        r.scope.clone(),
                    )
                })
                .collect();
            let want: Vec<_> = rules
                .iter()
                .map(|(g, v, resources)| {
                    (
                        g.to_string(),
                        v.to_string(),
                        resources.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                        vec![
                            "CREATE".to_owned(),
                            "UPDATE".to_owned(),
                            "DELETE".to_owned(),
                        ],
                        Some(scope.to_string()),
                    )
                })
                .collect();
            assert_eq!(got, want, "{what}: rules");
            let expressions: BTreeSet<(String, String, Vec<String>)> = hook
                .namespace_selector
                .as_ref()
                .and_then(|s| s.match_expressions.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.key, e.operator, e.values.unwrap_or_default()))
                .collect();
            for (key, values) in [
                ("kubernetes.io/metadata.name", vec![NS.to_owned()]),
                ("netpol.io/webhook", vec!["disabled".to_owned()]),
            ] {
                assert!(
                    expressions.contains(&(key.to_owned(), "NotIn".to_owned(), values.clone())),
                    "{what}: namespaceSelector lacks {key} NotIn {values:?}: {expressions:?}"
                );
            }
        }
        let injected = config
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("cert-manager.io/inject-ca-from"))
            .cloned();
        let want = (set == "cert-manager").then(|| format!("{NS}/netpol-webhook"));
        assert_eq!(injected, want, "{set}: cert-manager.io/inject-ca-from");
    }
}

/// Rules as (apiGroup, resource, verb, resourceNames) rows.
fn rows(rules: &[PolicyRule]) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let names = rule.resource_names.clone().unwrap_or_default().join(",");
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.insert((group.clone(), resource.clone(), verb.clone(), names.clone()));
                }
            }
        }
        assert!(
            rule.non_resource_urls.is_none(),
            "non-resource URLs: {rule:?}"
        );
    }
    out
}

/// (apiGroup, resources, verbs, resourceNames) of an expected rule.
type Grant<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a str);

fn table(entries: &[Grant]) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for (group, resources, verbs, names) in entries {
        for resource in *resources {
            for verb in *verbs {
                out.insert((
                    group.to_string(),
                    resource.to_string(),
                    verb.to_string(),
                    names.to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_the_least_verbs() {
    const READ: &[&str] = &["get", "list", "watch"];
    let reads: Vec<Grant> = vec![
        ("", &["pods", "namespaces", "nodes"], READ, ""),
        ("networking.k8s.io", &["networkpolicies"], READ, ""),
        (
            "policy.networking.k8s.io",
            &[
                "adminnetworkpolicies",
                "baselineadminnetworkpolicies",
                "clusternetworkpolicies",
            ],
            READ,
            "",
        ),
    ];
    let events: Grant = ("events.k8s.io", &["events"], &["create", "patch"], "");
    let ca_bundle: Grant = (
        "admissionregistration.k8s.io",
        &["validatingwebhookconfigurations"],
        &["get", "update"],
        "netpol-webhook",
    );
    let webhook_self_managed = [reads.clone(), vec![events, ca_bundle]].concat();
    let webhook_cert_manager = [reads.clone(), vec![events]].concat();
    let secret_role: Vec<Grant> = vec![
        ("", &["secrets"], &["create"], ""),
        ("", &["secrets"], &["get", "update"], "netpol-webhook-tls"),
    ];
    // (value set, kind, name, expected rows; None: must not exist)
    let cases: Vec<(&str, &str, &str, Option<Vec<Grant>>)> = vec![
        (
            "defaults",
            "ClusterRole",
            "netpol-webhook",
            Some(webhook_self_managed),
        ),
        ("defaults", "Role", "netpol-webhook", Some(secret_role)),
        (
            "defaults",
            "ClusterRole",
            "netpol-enforcer",
            Some(reads.clone()),
        ),
        (
            "cert-manager",
            "ClusterRole",
            "netpol-webhook",
            Some(webhook_cert_manager),
        ),
        ("cert-manager", "Role", "netpol-webhook", None),
        (
            "defaults",
            "Role",
            "netpol-enforcer-flow-reader",
            Some(vec![
                ("", &["pods"], &["list"], ""),
                ("", &["pods/log"], &["get"], ""),
            ]),
        ),
        ("enforcer off", "Role", "netpol-enforcer-flow-reader", None),
        ("webhook off", "ClusterRole", "netpol-webhook", None),
        ("enforcer off", "ClusterRole", "netpol-enforcer", None),
    ];
    for (set, kind, name, want) in cases {
        let rendered = render(set);
        let found = rendered
            .all(kind)
            .into_iter()
            .find(|o| o["metadata"]["name"] == name);
        match (found, want) {
            (None, None) => {}
            (Some(object), Some(want)) => {
                let rules: Vec<PolicyRule> =
                    serde_json::from_value(object["rules"].clone()).unwrap();
                assert_eq!(rows(&rules), table(&want), "{set}: {kind} {name}");
            }
            (found, want) => panic!(
                "{set}: {kind} {name}: found {}, expected {}",
                found.is_some(),
                want.is_some()
            ),
        }
    }
    // Every binding gives its role to its own component's service account, in the release namespace.
    for set in ["defaults", "cert-manager"] {
        let rendered = render(set);
        for binding in rendered
            .all("ClusterRoleBinding")
            .into_iter()
            .chain(rendered.all("RoleBinding"))
        {
            let name = &binding["metadata"]["name"];
            assert_eq!(&binding["roleRef"]["name"], name, "{set}");
            assert_eq!(
                binding["subjects"],
                json!([{"kind": "ServiceAccount", "name": name, "namespace": NS}]),
                "{set}"
            );
        }
    }
}

fn pod_spec_of(template: Option<k8s_openapi::api::core::v1::PodTemplateSpec>) -> PodSpec {
    template.and_then(|t| t.spec).expect("a pod spec")
}

fn only_container(spec: &PodSpec) -> &Container {
    assert_eq!(spec.containers.len(), 1);
    &spec.containers[0]
}

#[test]
fn webhook_deployment_is_spread_locked_down_and_probed() {
    for set in ["defaults", "cert-manager"] {
        let rendered = render(set);
        let deployment: Deployment = rendered.one("Deployment", "netpol-webhook");
        let spec = deployment.spec.unwrap();
        assert_eq!(spec.replicas, Some(2), "{set}");
        let pod = pod_spec_of(Some(spec.template));
        let pod_security = pod.security_context.clone().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true), "{set}");
        assert_eq!(pod_security.run_as_user, Some(65532), "{set}");
        assert_eq!(
            pod_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault",
            "{set}"
        );
        let spread = &pod.topology_spread_constraints.clone().unwrap()[0];
        assert_eq!(
            (spread.topology_key.as_str(), spread.max_skew),
            ("kubernetes.io/hostname", 1)
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("netpol-webhook"));
        let container = only_container(&pod);
        let security = container.security_context.clone().unwrap();
        assert_eq!(security.allow_privilege_escalation, Some(false), "{set}");
        assert_eq!(security.read_only_root_filesystem, Some(true), "{set}");
        let caps = security.capabilities.unwrap();
        assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]), "{set}");
        assert!(caps.add.is_none(), "{set}: no capability added");
        for (probe, path) in [
            (&container.readiness_probe, "/readyz"),
            (&container.liveness_probe, "/healthz"),
        ] {
            let get = probe
                .clone()
                .and_then(|p| p.http_get)
                .expect("an HTTP probe");
            assert_eq!(get.path.as_deref(), Some(path), "{set}");
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "{set}");
        }
        let resources = container.resources.clone().unwrap();
        assert!(
            resources.requests.is_some() && resources.limits.is_some(),
            "{set}: resources"
        );
        let args = container.args.clone().unwrap();
        let mode = if set == "cert-manager" {
            "--cert-mode=files"
        } else {
            "--cert-mode=self-managed"
        };
        assert!(args.iter().any(|a| a == mode), "{set}: {args:?}");
        let mounts: Vec<String> = container
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.mount_path.clone())
            .collect();
        assert_eq!(
            mounts.contains(&"/tls".to_owned()),
            set == "cert-manager",
            "{set}: {mounts:?}"
        );

        let pdb: PodDisruptionBudget = rendered.one("PodDisruptionBudget", "netpol-webhook");
        let pdb = pdb.spec.unwrap();
        assert_eq!(
            serde_json::to_value(&pdb.min_available).unwrap(),
            json!(1),
            "{set}: PDB minAvailable"
        );
        assert_eq!(
            pdb.selector.unwrap().match_labels,
            spec.selector.match_labels,
            "{set}: the PDB selects the webhook pods"
        );
    }
}

#[test]
fn enforcer_daemonset_runs_everywhere_with_two_capabilities() {
    for set in ["defaults", "guard rails, percentages, no cut"] {
        let rendered = render(set);
        let daemonset: DaemonSet = rendered.one("DaemonSet", "netpol-enforcer");
        let spec = daemonset.spec.unwrap();
        let strategy = spec.update_strategy.unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let unavailable =
            serde_json::to_value(strategy.rolling_update.unwrap().max_unavailable).unwrap();
        assert_eq!(
            unavailable,
            if set == "defaults" {
                json!(1)
            } else {
                json!("10%")
            },
            "{set}"
        );
        let pod = pod_spec_of(Some(spec.template));
        assert_eq!(pod.host_network, Some(true), "{set}");
        assert_eq!(
            pod.dns_policy.as_deref(),
            Some("ClusterFirstWithHostNet"),
            "{set}"
        );
        assert_eq!(
            pod.priority_class_name.as_deref(),
            Some("system-node-critical"),
            "{set}"
        );
        let tolerations = serde_json::to_value(&pod.tolerations).unwrap();
        assert_eq!(tolerations, json!([{"operator": "Exists"}]), "{set}");
        let container = only_container(&pod);
        let security = container.security_context.clone().unwrap();
        assert_eq!(security.run_as_user, Some(0), "{set}");
        assert_eq!(security.allow_privilege_escalation, Some(false), "{set}");
        assert_eq!(security.read_only_root_filesystem, Some(true), "{set}");
        assert!(
            security.privileged.is_none_or(|p| !p),
            "{set}: not privileged"
        );
        let caps = security.capabilities.unwrap();
        assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]), "{set}");
        assert_eq!(
            caps.add,
            Some(vec!["NET_ADMIN".to_owned(), "NET_RAW".to_owned()]),
            "{set}"
        );
        let lock = pod
            .volumes
            .iter()
            .flatten()
            .find_map(|v| v.host_path.clone())
            .expect("a hostPath volume");
        assert_eq!(
            (lock.path.as_str(), lock.type_.as_deref()),
            ("/run/xtables.lock", Some("FileOrCreate"))
        );
        let node_name = container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "NODE_NAME")
            .and_then(|e| e.value_from.clone())
            .and_then(|v| v.field_ref)
            .map(|f| f.field_path);
        assert_eq!(node_name.as_deref(), Some("spec.nodeName"), "{set}");
        for probe in [&container.readiness_probe, &container.liveness_probe] {
            let get = probe
                .clone()
                .and_then(|p| p.http_get)
                .expect("an HTTP probe");
            assert_eq!(get.path.as_deref(), Some("/healthz"), "{set}");
            assert!(get.scheme.is_none(), "{set}: plain HTTP");
        }
        let args = container.args.clone().unwrap();
        assert!(
            args.iter().all(|a| !a.starts_with("--state-dir")),
            "{set}: reads the API, not a directory"
        );
        assert_eq!(
            args.contains(&"--no-cut".to_owned()),
            set != "defaults",
            "{set}: {args:?}"
        );
        let cache: &[&str] = if set == "defaults" {
            &[
                "--decision-cache-seconds=60",
                "--decision-cache-mark=0x2000",
            ]
        } else {
            &[
                "--decision-cache-seconds=0",
                "--decision-cache-mark=0x100000",
            ]
        };
        for arg in cache {
            assert!(
                args.contains(&(*arg).to_owned()),
                "{set}: {arg} in {args:?}"
            );
        }
    }
}

/// Every flag the chart passes exists in the binary's sources: webhook flags by their
/// `NETPOL_WEBHOOK_*` environment variable, enforcer flags by their field name.
#[test]
fn chart_flags_are_flags_of_the_binaries() {
    fn sources(crate_dir: &str) -> String {
        let mut text = String::new();
        let mut stack = vec![repo_root().join(crate_dir).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    text.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        text
    }
    let webhook = sources("webhook");
    let enforcer = sources("enforcer");
    for set in [
        "defaults",
        "cert-manager",
        "guard rails, percentages, no cut",
    ] {
        let rendered = render(set);
        let deployment: Deployment = rendered.one("Deployment", "netpol-webhook");
        let container =
            only_container(&pod_spec_of(Some(deployment.spec.unwrap().template))).clone();
        let args = container.args.clone().unwrap();
        // Helm holds numbers as floats: 3145728 would print as 3.145728e+06 without int64.
        assert!(
            args.contains(&"--max-body=3145728".to_owned()),
            "{set}: {args:?}"
        );
        for arg in args {
            assert!(!arg.contains("e+"), "{set}: {arg} is a float");
            let flag = arg.trim_start_matches("--").split('=').next().unwrap();
            let env = format!("NETPOL_WEBHOOK_{}", flag.to_uppercase().replace('-', "_"));
            assert!(
                webhook.contains(&format!("\"{env}\"")),
                "{set}: webhook flag --{flag} ({env}) not in webhook/src"
            );
        }
        for env in container.env.unwrap() {
            assert!(
                webhook.contains(&format!("\"{}\"", env.name)),
                "{set}: {} not in webhook/src",
                env.name
            );
        }
        let daemonset: DaemonSet = rendered.one("DaemonSet", "netpol-enforcer");
        let container =
            only_container(&pod_spec_of(Some(daemonset.spec.unwrap().template))).clone();
        for arg in container.args.unwrap() {
            let field = arg
                .trim_start_matches("--")
                .split('=')
                .next()
                .unwrap()
                .replace('-', "_");
            assert!(
                enforcer.contains(&format!("pub {field}:"))
                    || enforcer.contains(&format!(" {field}:")),
                "{set}: enforcer flag {arg} not in enforcer/src"
            );
        }
    }
}

#[test]
fn values_schema_refuses_bad_values_with_the_path() {
    let cases = [
        (
            "webhook timeout over 5 s",
            json!({"webhook": {"timeoutSeconds": 30}}),
            "/webhook/timeoutSeconds",
            "maximum",
        ),
        (
            "webhook timeout 0",
            json!({"webhook": {"timeoutSeconds": 0}}),
            "/webhook/timeoutSeconds",
            "minimum",
        ),
        (
            "a decision cache mark of two bits",
            json!({"enforcer": {"decisionCacheMark": "0x3000"}}),
            "/enforcer/decisionCacheMark",
            "",
        ),
        (
            "unknown priority mode",
            json!({"webhook": {"priorityMode": "maybe"}}),
            "/webhook/priorityMode",
            "",
        ),
        (
            "unknown certificate mode",
            json!({"webhook": {"certs": {"mode": "vault"}}}),
            "/webhook/certs/mode",
            "",
        ),
        (
            "a typo in a key",
            json!({"webhook": {"replica": 3}}),
            "/webhook",
            "additional properties 'replica' not allowed",
        ),
        (
            "unknown top-level key",
            json!({"webhooks": {}}),
            "",
            "additional properties 'webhooks' not allowed",
        ),
        (
            "replicas as a string",
            json!({"webhook": {"replicas": "2"}}),
            "/webhook/replicas",
            "",
        ),
        (
            "a duration without unit syntax",
            json!({"webhook": {"previewBudget": "2 hours"}}),
            "/webhook/previewBudget",
            "",
        ),
        (
            "fail mode neither open nor closed",
            json!({"enforcer": {"failMode": "sometimes"}}),
            "/enforcer/failMode",
            "",
        ),
        (
            "zero queues",
            json!({"enforcer": {"queues": 0}}),
            "/enforcer/queues",
            "minimum",
        ),
        (
            "a guard rail without a port",
            json!({"webhook": {"guardRails": [{"from": "*", "to": "a/b"}]}}),
            "/webhook/guardRails/0",
            "port",
        ),
        (
            "an unknown resources key",
            json!({"enforcer": {"resources": {"requets": {}}}}),
            "/enforcer/resources",
            "requets",
        ),
    ];
    let helm = helm();
    for (what, values, path, word) in cases {
        let err = match helm.render(&chart(), RELEASE, NS, &values) {
            Ok(_) => panic!("{what}: rendered"),
            Err(err) => format!("{err:#}"),
        };
        assert!(err.contains("HelmValuesError"), "{what}: {err}");
        assert!(
            err.contains(&format!("at '{path}")),
            "{what}: want the path {path}: {err}"
        );
        assert!(err.contains(word), "{what}: want {word:?}: {err}");
    }
}

#[test]
fn values_schema_closes_every_object_and_documents_every_value() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    fn walk(node: &Value, path: &str, out: &mut Vec<String>) {
        if node.get("properties").is_some() && node["additionalProperties"] != false {
            out.push(format!("{path}: additionalProperties is not false"));
        }
        for (key, child) in node["properties"].as_object().into_iter().flatten() {
            if child.get("type").is_none() {
                out.push(format!("{path}/{key}: no type"));
            }
            walk(child, &format!("{path}/{key}"), out);
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), out);
        }
    }
    let mut problems = Vec::new();
    walk(&schema, "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");

    // Every value in values.yaml sits under a comment, or inside an object that does.
    let text = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let documented = |index: usize| {
        lines[..index]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with('#'))
    };
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let header = trimmed.ends_with(':');
        if trimmed.is_empty() || trimmed.starts_with('#') || !trimmed.contains(':') || header {
            continue;
        }
        // This line or one of the keys it is nested in has a comment.
        let mut at = index;
        let mut ok = documented(at);
        while !ok && indent(lines[at]) > 0 {
            let Some(parent) = (0..at).rev().find(|&i| {
                let l = lines[i];
                !l.trim().is_empty()
                    && !l.trim_start().starts_with('#')
                    && indent(l) < indent(lines[at])
            }) else {
                break;
            };
            at = parent;
            ok = documented(at);
        }
        assert!(
            ok,
            "values.yaml line {}: {line:?} has no comment",
            index + 1
        );
    }
}

#[test]
fn chart_crds_are_the_repositorys_crds() {
    let read_dir = |dir: PathBuf| -> BTreeMap<String, String> {
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    };
    let source = read_dir(repo_root().join("crds"));
    let copy = read_dir(chart().join("crds-files"));
    assert_eq!(
        source.keys().collect::<Vec<_>>(),
        copy.keys().collect::<Vec<_>>(),
        "charts/netpol/crds-files must hold the files of crds/: cp crds/*.yaml charts/netpol/crds-files/"
    );
    for (name, text) in &source {
        assert!(
            copy[name] == *text,
            "charts/netpol/crds-files/{name} differs from crds/{name}: cp crds/*.yaml charts/netpol/crds-files/"
        );
    }
    // Rendered through fromYaml/toYaml, they stay the same objects, plus the keep annotation.
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    for text in source.values() {
        for mut crd in validate::documents(text).unwrap() {
            crd["metadata"]["annotations"]["helm.sh/resource-policy"] = json!("keep");
            want.insert(crd["metadata"]["name"].as_str().unwrap().to_owned(), crd);
        }
    }
    let rendered = render("crds installed");
    let got: BTreeMap<String, Value> = rendered
        .all("CustomResourceDefinition")
        .into_iter()
        .map(|c| {
            (
                c["metadata"]["name"].as_str().unwrap().to_owned(),
                c.clone(),
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, crd) in &want {
        let mut differences = Vec::new();
        validate::differences(crd, &got[name], "", &mut differences);
        validate::differences(&got[name], crd, "", &mut differences);
        assert!(differences.is_empty(), "{name}: {differences:?}");
    }
}

#[test]
fn chart_metadata_and_notes() {
    let meta: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(
        meta["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion = workspace version"
    );
    let deployment: Deployment = render("defaults").one("Deployment", "netpol-webhook");
    let image = only_container(&pod_spec_of(Some(deployment.spec.unwrap().template)))
        .image
        .clone();
    assert_eq!(
        image.as_deref(),
        Some(concat!(
            "ghcr.io/netpol/netpol-webhook:",
            env!("CARGO_PKG_VERSION")
        ))
    );
    let notes = render("defaults").notes;
    for needle in [
        "kubectl krew install netpol",
        "kubectl netpol check",
        "--dry-run=server",
        "netpol.io/webhook=disabled",
    ] {
        assert!(
            notes.contains(needle),
            "NOTES.txt lacks {needle:?}:\n{notes}"
        );
    }
    assert!(
        render("crds installed")
            .notes
            .find("were not installed")
            .is_none()
    );
}
