//! Audit mode (`netpol.io/enforcement: audit`): an audited policy of any kind takes no part in
//! verdicts; `with_audited_enforced` gives the state with it enforced.

use netpol_engine::{EndpointSpec, Engine, FlowSpec, PortSpec, State, read_str};

const STATE: &str = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- apiVersion: v1
  kind: Pod
  metadata: {name: web, namespace: shop, labels: {app: web}}
  status: {podIP: 10.0.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: api, namespace: shop, labels: {app: api}}
  status: {podIP: 10.0.0.2}
"#;

fn engine(policy: &str) -> Engine {
    let text = format!("{STATE}\n---\n{policy}");
    let loaded = read_str("audit.yaml", &text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let built = Engine::build(&State::from_loaded(&loaded));
    assert!(built.errors.is_empty(), "{:?}", built.errors);
    built.engine
}

fn allowed(engine: &Engine) -> bool {
    let spec = FlowSpec::new(
        EndpointSpec::parse_in("shop/web", "shop").expect("endpoint"),
        EndpointSpec::parse_in("shop/api", "shop").expect("endpoint"),
        None,
        Some(PortSpec::Number(80)),
    )
    .expect("flow");
    engine
        .decide(&engine.resolve_flow(&spec).expect("resolves"))
        .allowed
}

#[test]
fn audited_policies_of_every_kind_take_no_part_until_enforced() {
    let cases = [
        (
            "NetworkPolicy",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock, namespace: shop, annotations: {netpol.io/enforcement: ANNOTATION}}
spec: {podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}",
        ),
        (
            "AdminNetworkPolicy",
            "apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: lock, annotations: {netpol.io/enforcement: ANNOTATION}}
spec:
  priority: 5
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]",
        ),
        (
            "BaselineAdminNetworkPolicy",
            "apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default, annotations: {netpol.io/enforcement: ANNOTATION}}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]",
        ),
        (
            "ClusterNetworkPolicy",
            "apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: lock, annotations: {netpol.io/enforcement: ANNOTATION}}
spec:
  tier: Baseline
  priority: 5
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]",
        ),
    ];
    for (kind, policy) in cases {
        // `enforce`, an unknown value and no annotation all enforce.
        for value in ["enforce", "bogus", "\"\""] {
            let enforced = engine(&policy.replace("ANNOTATION", value));
            assert!(!allowed(&enforced), "{kind} with {value}: enforced");
            assert!(enforced.audited().is_empty(), "{kind} with {value}");
            assert!(enforced.with_audited_enforced().is_none(), "{kind}");
        }
        for value in ["audit", "Audit"] {
            let audited = engine(&policy.replace("ANNOTATION", value));
            assert!(
                allowed(&audited),
                "{kind} with {value}: audited, not enforced"
            );
            assert_eq!(audited.audited().len(), 1, "{kind}");
            assert_eq!(audited.audited()[0].kind.name(), kind);
            let enforced = audited.with_audited_enforced().expect("an audited policy");
            assert!(!allowed(&enforced), "{kind}: enforced on request");
            assert!(enforced.audited_enforced());
        }
    }
}
