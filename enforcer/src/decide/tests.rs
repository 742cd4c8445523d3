use std::net::IpAddr;

use netpol_engine::eval::Decider;
use netpol_engine::{State, read_str};

use super::*;

/// Two nodes; `web` (10.0.1.2) and `db` (10.0.1.3) on node-a, `api` (10.0.2.2) on node-b.
/// `db` accepts ingress only from `api` on TCP 5432; `web` may not send egress except DNS.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.2, podIPs: [{ip: 10.0.1.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {nodeName: node-a, containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.3, podIPs: [{ip: 10.0.1.3}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {nodeName: node-b, containers: [{name: c, image: i}]}
status: {podIP: 10.0.2.2, podIPs: [{ip: 10.0.2.2}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 5432}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}]}]
"#;

pub(crate) fn snapshot(node: &str) -> Snapshot {
    snapshot_with(node, "")
}

/// The cluster with more objects (YAML documents) added.
pub(crate) fn snapshot_with(node: &str, more: &str) -> Snapshot {
    let text = format!("{CLUSTER}\n---\n{more}");
    let loaded = read_str("cluster.yaml", &text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let (snapshot, errors) = Snapshot::build(&State::from_loaded(&loaded), node);
    assert!(errors.is_empty(), "{errors:?}");
    snapshot
}

fn packet(src: &str, dst: &str, transport: Transport, port: Option<u16>) -> Packet {
    Packet {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        transport,
        dst_port: port,
    }
}

#[test]
fn decides_each_direction_at_its_own_node() {
    let (a, b) = (snapshot("node-a"), snapshot("node-b"));
    use Transport::*;
    #[rustfmt::skip]
    let cases = [
        ("api to db: ingress allowed at node-a", "10.0.2.2", "10.0.1.3", Tcp, Some(5432), true, true),
        ("api to db, wrong port: denied at db's node only", "10.0.2.2", "10.0.1.3", Tcp, Some(80), false, true),
        ("web to db, same node: denied", "10.0.1.2", "10.0.1.3", Tcp, Some(5432), false, true),
        ("web to api: egress denied at web's node", "10.0.1.2", "10.0.2.2", Tcp, Some(80), false, true),
        ("web DNS over UDP: allowed", "10.0.1.2", "10.0.2.2", Udp, Some(53), true, true),
        ("web DNS over TCP: denied", "10.0.1.2", "10.0.2.2", Tcp, Some(53), false, true),
        ("api to web: web has no ingress policy", "10.0.2.2", "10.0.1.2", Tcp, Some(80), true, true),
        ("node-a to db: its own node is always allowed in", "192.168.0.1", "10.0.1.3", Tcp, Some(80), true, true),
        ("node-b to db: denied", "192.168.0.2", "10.0.1.3", Tcp, Some(80), false, true),
        ("ICMP to db: its only rule has ports, which never match ICMP", "10.0.2.2", "10.0.1.3", Icmp, None, false, true),
        ("ICMP api to web: web has no ingress policy", "10.0.2.2", "10.0.1.2", Icmp, None, true, true),
        ("ICMP web to api: web's egress rule names UDP/53 only", "10.0.1.2", "10.0.2.2", Icmp, None, false, true),
        ("GRE to db: portless like ICMP", "10.0.2.2", "10.0.1.3", Other(47), None, false, true),
        ("outside to outside: not ours", "203.0.113.1", "203.0.113.2", Tcp, Some(80), true, true),
    ];
    for (message, src, dst, transport, port, at_a, at_b) in cases {
        let p = packet(src, dst, transport, port);
        assert_eq!(a.decide(&p).allowed, at_a, "node-a: {message}");
        assert_eq!(b.decide(&p).allowed, at_b, "node-b: {message}");
    }
}

fn ips(set: &std::collections::BTreeSet<IpAddr>) -> Vec<String> {
    set.iter().map(IpAddr::to_string).collect()
}

#[test]
fn queues_only_local_pods_in_the_directions_policies_affect() {
    let a = snapshot("node-a");
    assert_eq!(ips(&a.queued().egress), ["10.0.1.2"], "web: egress policy");
    assert_eq!(ips(&a.queued().ingress), ["10.0.1.3"], "db: ingress policy");
    assert!(
        snapshot("node-b").queued().is_empty(),
        "api is selected by no policy"
    );
}

/// Admin policies count in the directions they have rules; a NetworkPolicy in the directions
/// of its policyTypes, rules or not.
#[test]
fn admin_rules_and_policy_types_decide_the_queued_directions() {
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "ANP with ingress rules only",
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}",
            &[],
            &["10.0.1.2", "10.0.1.3"],
        ),
        (
            "CNP with egress rules only",
            "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec: {tier: Baseline, priority: 1, subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}, egress: [{action: Deny, to: [{namespaces: {}}]}]}",
            &["10.0.1.2"],
            &[],
        ),
        (
            "ANP without rules",
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec: {priority: 1, subject: {namespaces: {}}}",
            &[],
            &[],
        ),
        (
            "NetworkPolicy isolating egress without rules",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}",
            &["10.0.1.2", "10.0.1.3"],
            &[],
        ),
    ];
    let pods = &CLUSTER[..CLUSTER.find("apiVersion: networking.k8s.io/v1").unwrap()];
    for (name, policy, egress, ingress) in cases {
        let loaded = read_str("case.yaml", &format!("{pods}\n---\n{policy}\n"), "default");
        assert!(loaded.errors.is_empty(), "{name}: {:?}", loaded.errors);
        let (s, errors) = Snapshot::build(&State::from_loaded(&loaded), "node-a");
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(ips(&s.queued().egress), *egress, "{name}: egress");
        assert_eq!(ips(&s.queued().ingress), *ingress, "{name}: ingress");
    }
}

#[test]
fn names_the_denying_rule() {
    let a = snapshot("node-a");
    let outcome = a.decide(&packet("10.0.1.2", "10.0.2.2", Transport::Tcp, Some(80)));
    let refusal = outcome.refusal.expect("denied");
    assert_eq!(
        (refusal.direction, refusal.decision.decider),
        (Direction::Egress, Decider::NetworkPolicy)
    );
    assert_eq!(
        a.describe_refusal(&refusal),
        "egress denied (NetworkPolicy: no rule allows it)"
    );
}

/// Each local end's direction is decided at this node, egress first; the refusal names the
/// direction and the policy and rule that denied.
#[test]
fn names_the_direction_and_rule_that_refused() {
    let anp = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: no-api}\nspec: {priority: 5, subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}, ingress: [{name: allow-5432, action: Allow, from: [{namespaces: {}}], ports: [{portNumber: {port: 5432, protocol: TCP}}]}, {name: block-api, action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: api}}}}]}]}";
    let loaded = read_str(
        "cluster.yaml",
        &format!("{CLUSTER}\n---\n{anp}\n"),
        "default",
    );
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let (a, errors) = Snapshot::build(&State::from_loaded(&loaded), "node-a");
    assert!(errors.is_empty(), "{errors:?}");
    #[rustfmt::skip]
    let cases = [
        ("web to db, both local: web's egress refuses first", "10.0.1.2", "10.0.1.3", 5432, Some(Direction::Egress), "egress denied (NetworkPolicy: no rule allows it)"),
        ("api to db on 80: the ANP's second rule", "10.0.2.2", "10.0.1.3", 80, Some(Direction::Ingress), "ingress denied by AdminNetworkPolicy no-api rule 1 (block-api)"),
        ("api to db on 5432: the ANP's first rule allows", "10.0.2.2", "10.0.1.3", 5432, None, ""),
        ("web to api: only web's egress is decided here", "10.0.1.2", "10.0.2.2", 80, Some(Direction::Egress), "egress denied (NetworkPolicy: no rule allows it)"),
    ];
    for (message, src, dst, port, direction, description) in cases {
        let outcome = a.decide(&packet(src, dst, Transport::Tcp, Some(port)));
        assert_eq!(outcome.allowed, direction.is_none(), "{message}");
        let refusal = outcome.refusal;
        assert_eq!(refusal.map(|r| r.direction), direction, "{message}");
        let described = refusal.map(|r| a.describe_refusal(&r)).unwrap_or_default();
        assert_eq!(described, description, "{message}");
    }
}

#[test]
fn portless_protocols_are_one_portless_flow() {
    for transport in [Transport::Icmp, Transport::Icmpv6, Transport::Other(47)] {
        let f = flow(&packet("10.0.0.1", "10.0.0.2", transport, None));
        assert_eq!((f.protocol, f.port), (Protocol::Icmp, 0), "{transport:?}");
    }
    let f = flow(&packet("10.0.0.1", "10.0.0.2", Transport::Sctp, Some(9)));
    assert_eq!((f.protocol, f.port), (Protocol::Sctp, 9));
}

/// web may reach names under *.example.com on TCP 443 and nothing else outside the cluster;
/// coredns is the cluster DNS pod.
pub(crate) const NAMES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, image: i}]}
status: {podIP: 10.0.1.2, podIPs: [{ip: 10.0.1.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {nodeName: node-b, containers: [{name: c, image: i}]}
status: {podIP: 10.0.9.10, podIPs: [{ip: 10.0.9.10}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: egress-saas}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: shop}}}
  egress:
  - {name: saas, action: Accept, to: [{domainNames: ["*.example.com"]}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
  - {name: deny-rest, action: Deny, to: [{networks: [0.0.0.0/0]}]}
"#;

#[test]
fn egress_by_name_rests_on_what_the_pod_learned() {
    use netpol_engine::dns::{DnsAnswers, NoAnswers};
    let loaded = read_str("names.yaml", NAMES, "default");
    let (a, errors) = Snapshot::build(&State::from_loaded(&loaded), "node-a");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ips(&a.queued().dns), ["10.0.1.2"], "web learns");
    assert!(a.is_cluster_resolver(&"10.0.9.10".parse().unwrap()));
    let mut answers = DnsAnswers::default();
    let learned = |client: &str| {
        let mut answers = DnsAnswers::default();
        answers.add(
            Some(client.parse().unwrap()),
            "api.example.com=203.0.113.5".parse().unwrap(),
            Some(30),
        );
        answers
    };
    let to = |address: &str| packet("10.0.1.2", address, Transport::Tcp, Some(443));
    let outcome = a.decide_with_dns(&to("203.0.113.5"), &learned("10.0.1.2"));
    assert!(outcome.allowed && outcome.learned, "{outcome:?}");
    assert!(!a.decide_with_dns(&to("203.0.113.5"), &NoAnswers).allowed);
    assert!(
        !a.decide_with_dns(&to("203.0.113.6"), &learned("10.0.1.2"))
            .allowed
    );
    assert!(
        !a.decide_with_dns(&to("203.0.113.5"), &learned("10.0.1.3"))
            .allowed,
        "another pod's answer"
    );
    answers.add(None, "api.example.com=10.0.9.10".parse().unwrap(), None);
    let dns = packet("10.0.1.2", "10.0.9.10", Transport::Udp, Some(53));
    let outcome = a.decide_with_dns(&dns, &answers);
    assert!(!outcome.allowed, "the rule's port is 443 only: {outcome:?}");
}
