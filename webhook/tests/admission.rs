//! Every admission rule through the router (no TLS): AdmissionReview in, AdmissionReview out.

mod common;

use std::time::Duration;

use common::{message, review, router, validate, warnings, yaml};
use netpol_webhook::{PriorityMode, Settings};
use serde_json::Value;

const ANP_CONFLICTING: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: api-from-db}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: api}}}}
  ingress:
  - name: allow-db
    action: Allow
    from: [{namespaces: {matchLabels: {team: db}}}]
"#;

const ANP_DISJOINT: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: db-guard}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: db}}}
  ingress:
  - name: deny-shop
    action: Deny
    from: [{namespaces: {matchLabels: {team: shop}}}]
"#;

const ANP_FREE: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: db-guard}
spec:
  priority: 30
  subject: {namespaces: {matchLabels: {team: db}}}
  ingress:
  - name: deny-shop
    action: Deny
    from: [{namespaces: {matchLabels: {team: shop}}}]
"#;

const CNP_CONFLICTING: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: a}
spec:
  tier: Admin
  priority: 40
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress:
  - {name: accept-dns, action: Accept, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]}
"#;

const CNP_CONFLICTING_2: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: b}
spec:
  tier: Admin
  priority: 40
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress:
  - {name: deny-dns, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]}
"#;

const BANP_MISNAMED: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: baseline}
spec:
  subject: {namespaces: {}}
  ingress: [{name: deny-all, action: Deny, from: [{namespaces: {}}]}]
"#;

const ANP_DOMAIN_DENY: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-example}
spec:
  priority: 50
  subject: {namespaces: {}}
  egress: [{name: block, action: Deny, to: [{domainNames: ["example.com"]}]}]
"#;

const NP_RANGE_INVERTED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: inverted, namespace: shop}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 9000, endPort: 8000}]}]
"#;

const NP_EXCEPT_OUTSIDE: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: except, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.9.0.0/24]}}]}]
"#;

const NP_HOST_BITS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: host-bits, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.1/8}}]}]
"#;

const ANP_BAD_TYPE: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: bad}
spec:
  priority: high
  subject: {namespaces: {}}
"#;

const NP_SHOP_DENY_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#;

const NP_SHOP_EGRESS_DB_ONLY: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-db-only, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: db}}}]}]
"#;

/// The same policy on trial: it enforces nothing, so no guard rail is broken.
const NP_SHOP_EGRESS_DB_ONLY_AUDITED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-db-only, namespace: shop, annotations: {netpol.io/enforcement: audit}}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: db}}}]}]
"#;

const NP_EXISTING: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pg-from-shop, namespace: db}
spec:
  podSelector: {matchLabels: {app: pg}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: shop}}}]
    ports: [{port: 5432}]
"#;

const ANP_EXISTING: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: shop-guard}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress:
  - name: deny-db
    action: Deny
    from: [{namespaces: {matchLabels: {team: db}}}]
"#;

fn settings(mode: PriorityMode) -> Settings {
    Settings {
        priority_mode: mode,
        ..Settings::default()
    }
}

fn guarded() -> Settings {
    let text = common::fixture("guard-rails.yaml");
    Settings {
        guard_rails: netpol_webhook::guard::parse("guard-rails.yaml", &text).unwrap(),
        ..Settings::default()
    }
}

/// The same rail as `guarded`, naming the port.
fn guarded_by_name() -> Settings {
    let text = r#"- {from: "*", to: kube-system/coredns-1, port: dns}"#;
    Settings {
        guard_rails: netpol_webhook::guard::parse("rails.yaml", text).unwrap(),
        ..Settings::default()
    }
}

struct Case {
    what: &'static str,
    settings: Settings,
    operation: &'static str,
    object: &'static str,
    allowed: bool,
    /// Every one must appear in the message (denied) or some warning (allowed).
    says: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    use PriorityMode::*;
    vec![
        Case {
            what: "equal priority, common pod, different actions: rejected naming the other policy, pods, flow, free priorities",
            settings: settings(Reject),
            operation: "CREATE",
            object: ANP_CONFLICTING,
            allowed: false,
            says: &[
                "spec.priority",
                "AdminNetworkPolicy shop-guard",
                "shop/api-1",
                "db/pg-1",
                "Allow",
                "Deny",
                "Nearest free priorities: 9 or 11",
            ],
        },
        Case {
            what: "warn mode: the conflict becomes a warning",
            settings: settings(Warn),
            operation: "CREATE",
            object: ANP_CONFLICTING,
            allowed: true,
            says: &["priority 10 conflicts with AdminNetworkPolicy shop-guard"],
        },
        Case {
            what: "off mode: no priority analysis",
            settings: settings(Off),
            operation: "CREATE",
            object: ANP_CONFLICTING,
            allowed: true,
            says: &[],
        },
        Case {
            what: "equal priority without overlap: allowed with a warning",
            settings: settings(Reject),
            operation: "CREATE",
            object: ANP_DISJOINT,
            allowed: true,
            says: &["priority 10 shared, no conflict with AdminNetworkPolicy shop-guard"],
        },
        Case {
            what: "unique mode: any equal priority is rejected",
            settings: settings(Unique),
            operation: "CREATE",
            object: ANP_DISJOINT,
            allowed: false,
            says: &["AdminNetworkPolicy shop-guard", "select no common pod"],
        },
        Case {
            what: "a free priority: allowed, with the impact preview",
            settings: settings(Reject),
            operation: "CREATE",
            object: ANP_FREE,
            allowed: true,
            says: &[
                "this change newly denies 2 flows, newly allows 0",
                "newly denied: shop/",
            ],
        },
        Case {
            what: "BANP not named default",
            settings: Settings::default(),
            operation: "CREATE",
            object: BANP_MISNAMED,
            allowed: false,
            says: &["field metadata.name", "banp-name", "\"default\""],
        },
        Case {
            what: "domainNames in a Deny rule",
            settings: Settings::default(),
            operation: "CREATE",
            object: ANP_DOMAIN_DENY,
            allowed: false,
            says: &[
                "spec.egress[0].to[0].domainNames",
                "domain-names-not-accept",
            ],
        },
        Case {
            what: "port range end below start",
            settings: Settings::default(),
            operation: "CREATE",
            object: NP_RANGE_INVERTED,
            allowed: false,
            says: &["spec.ingress[0].ports[0].endPort", "below port 9000"],
        },
        Case {
            what: "except outside the CIDR",
            settings: Settings::default(),
            operation: "UPDATE",
            object: NP_EXCEPT_OUTSIDE,
            allowed: false,
            says: &["except-outside-cidr", "spec.egress[0].to[0].ipBlock"],
        },
        Case {
            what: "compile error names the field",
            settings: Settings::default(),
            operation: "CREATE",
            object: NP_HOST_BITS,
            allowed: false,
            says: &["spec.egress[0].to[0].ipBlock.cidr", "host bits"],
        },
        Case {
            what: "a field of the wrong type names its path",
            settings: Settings::default(),
            operation: "CREATE",
            object: ANP_BAD_TYPE,
            allowed: false,
            says: &["spec.priority"],
        },
        Case {
            what: "default deny in shop: previewed",
            settings: Settings::default(),
            operation: "CREATE",
            object: NP_SHOP_DENY_INGRESS,
            allowed: true,
            says: &["this change newly denies", "newly denied: "],
        },
        Case {
            what: "guard rail: cutting shop off DNS is rejected naming the flow",
            settings: guarded(),
            operation: "CREATE",
            object: NP_SHOP_EGRESS_DB_ONLY,
            allowed: false,
            says: &["must stay allowed", "shop/", "kube-system/coredns-1 UDP/53"],
        },
        Case {
            what: "guard rail by port name: the engine resolves it on the destination pod",
            settings: guarded_by_name(),
            operation: "CREATE",
            object: NP_SHOP_EGRESS_DB_ONLY,
            allowed: false,
            says: &[
                "kube-system/coredns-1 UDP/53",
                "guard rail every namespace -> kube-system/coredns-1 dns",
            ],
        },
        Case {
            what: "guard rail: an audited policy enforces nothing, so it is admitted with what enforcing it would deny",
            settings: guarded(),
            operation: "CREATE",
            object: NP_SHOP_EGRESS_DB_ONLY_AUDITED,
            allowed: true,
            says: &["audit only, not enforced", "newly denied: "],
        },
        Case {
            what: "guard rail untouched: allowed",
            settings: guarded(),
            operation: "CREATE",
            object: NP_SHOP_DENY_INGRESS,
            allowed: true,
            says: &["this change newly denies"],
        },
        Case {
            what: "delete of a NetworkPolicy is previewed",
            settings: Settings::default(),
            operation: "DELETE",
            object: NP_EXISTING,
            allowed: true,
            says: &[
                "this change newly denies 0 flows, newly allows",
                "newly allowed: ",
            ],
        },
        Case {
            what: "delete of an admin policy is previewed",
            settings: Settings::default(),
            operation: "DELETE",
            object: ANP_EXISTING,
            allowed: true,
            says: &["newly allows"],
        },
        Case {
            what: "update of an existing policy to itself: no conflict with its old version",
            settings: Settings::default(),
            operation: "UPDATE",
            object: ANP_EXISTING,
            allowed: true,
            says: &["this change newly denies 0 flows, newly allows 0"],
        },
    ]
}

fn check(case: &Case, response: &Value) {
    let what = case.what;
    assert_eq!(response["allowed"], case.allowed, "{what}: {response}");
    let text = if case.allowed {
        warnings(response).join("\n")
    } else {
        message(response)
    };
    for needle in case.says {
        assert!(text.contains(needle), "{what}: want {needle:?} in:\n{text}");
    }
    for warning in warnings(response) {
        assert!(
            warning.chars().count() < 120,
            "{what}: long warning {warning:?}"
        );
    }
}

#[tokio::test]
async fn every_rule() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for case in cases() {
        let router = router(case.settings.clone());
        let object = yaml(case.object);
        let body = match case.operation {
            "DELETE" => review("DELETE", None, Some(&object), false),
            "UPDATE" => review("UPDATE", Some(&object), Some(&object), false),
            op => review(op, Some(&object), None, false),
        };
        let response = validate(&router, &body).await;
        eprintln!(
            "{}:\n  {}\n  {:#?}",
            case.what,
            message(&response),
            warnings(&response)
        );
        check(&case, &response);
        // Dry-run requests get the same answer (the webhook has no side effects).
        let mut dry = body.clone();
        dry["request"]["dryRun"] = true.into();
        assert_eq!(
            validate(&router, &dry).await,
            response,
            "{}: dry run",
            case.what
        );
    }
}

#[tokio::test]
async fn same_tier_cnp_conflict() {
    // The first CNP goes into the cache; the second, equal and opposite, is then rejected.
    let mut state = common::cluster();
    let first = netpol_engine::read_str("a.yaml", CNP_CONFLICTING, "default");
    state.apply(first.objects[0].clone());
    let router = common::router_over(state, Settings::default(), Default::default(), true);
    let response = validate(
        &router,
        &review("CREATE", Some(&yaml(CNP_CONFLICTING_2)), None, false),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    let text = message(&response);
    assert!(text.contains("ClusterNetworkPolicy a"), "{text}");
    assert!(text.contains("Admin tier"), "{text}");
}

#[tokio::test]
async fn preview_over_budget_says_so() {
    let settings = Settings {
        preview_budget: Duration::from_nanos(1),
        ..Settings::default()
    };
    let router = router(settings);
    let response = validate(
        &router,
        &review("CREATE", Some(&yaml(NP_SHOP_DENY_INGRESS)), None, false),
    )
    .await;
    assert_eq!(response["allowed"], true);
    let all = warnings(&response).join("\n");
    assert!(all.contains("preview cut short"), "{all}");
}

#[tokio::test]
async fn warnings_are_capped() {
    let settings = Settings {
        max_warnings: 2,
        ..Settings::default()
    };
    let router = router(settings);
    let response = validate(
        &router,
        &review("CREATE", Some(&yaml(NP_SHOP_DENY_INGRESS)), None, false),
    )
    .await;
    let list = warnings(&response);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list[1].starts_with("and ") && list[1].ends_with(" more"),
        "{list:?}"
    );
}

#[tokio::test]
async fn update_moving_a_policy_onto_a_taken_priority() {
    // The cached version sits at priority 5, ahead of shop-guard; the update moves it onto
    // shop-guard's priority 10, where the two disagree.
    let mut state = common::cluster();
    let old = ANP_CONFLICTING.replace("priority: 10", "priority: 5");
    let loaded = netpol_engine::read_str("old.yaml", &old, "default");
    state.apply(loaded.objects[0].clone());
    let shared = std::sync::Arc::new(netpol_webhook::shared::Shared::new(
        netpol_webhook::Store::new(state),
        true,
    ));
    for budget in [Duration::ZERO, Duration::from_millis(100)] {
        let settings = Settings {
            preview_budget: budget,
            ..Settings::default()
        };
        let app = netpol_webhook::server::App::new(
            shared.clone(),
            settings,
            Default::default(),
            Default::default(),
        );
        let router = netpol_webhook::server::router(app);
        let body = review(
            "UPDATE",
            Some(&yaml(ANP_CONFLICTING)),
            Some(&yaml(&old)),
            false,
        );
        let response = validate(&router, &body).await;
        assert_eq!(response["allowed"], false, "budget {budget:?}: {response}");
        assert!(message(&response).contains("AdminNetworkPolicy shop-guard"));
    }
}

/// Shop isolated for ingress, admitting only shop.
const NP_SHOP_ONLY_SHOP: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-shop, namespace: shop}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
"#;

/// Shop isolated for ingress, admitting db.
const NP_SHOP_FROM_DB: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-db, namespace: shop}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: db}}}]}]
"#;

/// Passes what shop-guard (priority 10) denies.
const ANP_PASS_DB: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: shop-pass-db}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress: [{name: pass-db, action: Pass, from: [{namespaces: {matchLabels: {team: db}}}]}]
"#;

const CNP_PASS_DNS: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: b}
spec:
  tier: Admin
  priority: 40
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress:
  - {name: pass-dns, action: Pass, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]}
"#;

/// Ties are refused only when the order changes a verdict after everything below the tie;
/// a tie whose actions differ with equal verdicts is admitted with warnings saying what would
/// make it real. `cached` objects are added to the fixture cluster first.
#[tokio::test]
async fn ties_are_refused_only_when_a_verdict_depends_on_the_order() {
    struct Tie {
        what: &'static str,
        cached: &'static [&'static str],
        object: &'static str,
        allowed: bool,
        says: &'static [&'static str],
    }
    let cases = [
        Tie {
            what: "Pass vs shop-guard's Deny with nothing below: the Pass ends allowed",
            cached: &[],
            object: ANP_PASS_DB,
            allowed: false,
            says: &[
                "AdminNetworkPolicy shop-guard",
                "db/pg-1 -> shop/",
                "(ingress)",
                "allowed with this policy first but denied with shop-guard first",
            ],
        },
        Tie {
            what: "the same while a NetworkPolicy isolates shop admitting only shop: denied either way",
            cached: &[NP_SHOP_ONLY_SHOP],
            object: ANP_PASS_DB,
            allowed: true,
            says: &[
                "priority 10 shared, latent conflict with AdminNetworkPolicy shop-guard",
                "gets Pass here, Deny there, denied either way",
                "it would conflict if NetworkPolicy shop/only-shop stops isolating shop/",
            ],
        },
        Tie {
            what: "the same while the NetworkPolicy admits db: the Pass ends allowed again",
            cached: &[NP_SHOP_FROM_DB],
            object: ANP_PASS_DB,
            allowed: false,
            says: &["allowed with this policy first but denied with shop-guard first"],
        },
        Tie {
            what: "CNP Pass vs CNP Accept with nothing below but the default: allowed either way",
            cached: &[CNP_CONFLICTING],
            object: CNP_PASS_DNS,
            allowed: true,
            says: &[
                "priority 40 shared, latent conflict with ClusterNetworkPolicy a",
                "kube-system/coredns-1 -> shop/",
                "gets Pass here, Accept there, allowed either way",
                "it would conflict if a NetworkPolicy came to isolate shop/",
            ],
        },
        Tie {
            what: "CNP Deny vs CNP Accept: a verdict always depends on the order",
            cached: &[CNP_CONFLICTING],
            object: CNP_CONFLICTING_2,
            allowed: false,
            says: &["denied with this policy first but allowed with a first"],
        },
    ];
    for case in cases {
        let mut state = common::cluster();
        for text in case.cached {
            let loaded = netpol_engine::read_str("cached.yaml", text, "default");
            state.apply(loaded.objects[0].clone());
        }
        let router = common::router_over(state, Settings::default(), Default::default(), true);
        let response = validate(
            &router,
            &review("CREATE", Some(&yaml(case.object)), None, false),
        )
        .await;
        let text = if case.allowed {
            warnings(&response).join("\n")
        } else {
            message(&response)
        };
        assert_eq!(
            response["allowed"], case.allowed,
            "{}: {response}",
            case.what
        );
        for want in case.says {
            assert!(text.contains(want), "{}: {want:?} not in {text}", case.what);
        }
    }
}
