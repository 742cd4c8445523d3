//! A deterministic synthetic cluster for benchmarks: namespaces of deployments spread over
//! nodes, a few NetworkPolicies per namespace, a few hundred admin policies and the BANP.
//! The same seed and shape always give the same objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::v1alpha1::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyEgressRule,
    AdminNetworkPolicyIngressPeer, AdminNetworkPolicyIngressRule, AdminNetworkPolicyPort,
    AdminNetworkPolicyRuleAction, AdminNetworkPolicySpec, AdminNetworkPolicySubject,
    BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyEgressPeer,
    BaselineAdminNetworkPolicyEgressRule, BaselineAdminNetworkPolicyRuleAction,
    BaselineAdminNetworkPolicySpec, NamespacedPod, PortNumber,
};
use crate::api::v1alpha2::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyEgressRule,
    ClusterNetworkPolicyIngressPeer, ClusterNetworkPolicyIngressRule, ClusterNetworkPolicyProtocol,
    ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySpec, ClusterNetworkPolicySubject,
    DestinationPort, DestinationPortRange, PodsSelector, ProtocolPorts, Tier,
};
use crate::api::{Cidr, LabelSelector as CrdSelector};
use crate::load::{Located, Object, Origin};

/// The size of a synthetic cluster.
#[derive(Clone, Debug)]
pub struct Shape {
    pub seed: u64,
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    pub deployments_per_namespace: usize,
    pub nodes: usize,
    pub network_policies_per_namespace: usize,
    pub admin_policies: usize,
    pub teams: usize,
    /// Pods belong to Deployments (ReplicaSet owners); bare pods otherwise.
    pub owners: bool,
}

impl Shape {
    /// The benchmark cluster: 150,000 pods in 5,000 namespaces on 5,000 nodes, 10,000
    /// NetworkPolicies, 300 ANP/CNP and one BANP.
    pub fn large() -> Self {
        Self {
            seed: 42,
            namespaces: 5_000,
            pods_per_namespace: 30,
            deployments_per_namespace: 5,
            nodes: 5_000,
            network_policies_per_namespace: 2,
            admin_policies: 300,
            teams: 100,
            owners: true,
        }
    }

    /// A cluster scaled to `pods` pods with the same proportions as `large`.
    pub fn with_pods(pods: usize) -> Self {
        let large = Self::large();
        let namespaces = (pods / large.pods_per_namespace).max(1);
        Self {
            namespaces,
            nodes: namespaces.max(1),
            admin_policies: (large.admin_policies * namespaces / large.namespaces)
                .clamp(10, large.admin_policies),
            teams: (namespaces / 50).clamp(2, large.teams),
            ..large
        }
    }

    /// The cluster of the map benchmark: 20 bare pods (no owners) per namespace, four
    /// NetworkPolicies per namespace (named ports, a port range, a namespace selector), one node
    /// per namespace and the admin policies of `with_pods`: 2,000 pods give 100 namespaces and
    /// 400 NetworkPolicies.
    pub fn bare_pods(pods: usize) -> Self {
        let namespaces = (pods / 20).max(1);
        Self {
            pods_per_namespace: 20,
            network_policies_per_namespace: 4,
            owners: false,
            // Ten namespaces per team: tenant isolation between teams, not a deny-all.
            teams: (namespaces / 10).max(2),
            ..Self::with_pods(pods)
        }
        .with_namespaces(namespaces)
    }

    fn with_namespaces(self, namespaces: usize) -> Self {
        Self {
            namespaces,
            nodes: namespaces,
            ..self
        }
    }

    pub fn pods(&self) -> usize {
        self.namespaces * self.pods_per_namespace
    }
}

/// SplitMix64: tiny, fast and good enough to spread labels and priorities; the same seed gives
/// the same cluster, and tests and benches use it for reproducible random choices.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

pub fn namespace_name(i: usize) -> String {
    format!("ns-{i:05}")
}

pub fn deployment_name(i: usize) -> String {
    format!("app-{i}")
}

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn meta(name: String, namespace: Option<String>, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: (!labels.is_empty()).then_some(labels),
        ..ObjectMeta::default()
    }
}

fn crd_selector(pairs: &[(&str, String)]) -> CrdSelector {
    CrdSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    }
}

/// Generates every object of the cluster, in a stable order.
pub fn generate(shape: &Shape) -> Vec<Located> {
    let mut rng = Rng(shape.seed);
    let mut objects = Vec::with_capacity(shape.pods() + shape.namespaces * 3 + shape.nodes);
    let mut push = |object: Object| {
        let document = objects.len() + 1;
        objects.push(Located {
            origin: Origin::new("synthetic", document, None),
            object,
        });
    };
    for n in 0..shape.nodes {
        let node = core::Node {
            metadata: meta(
                format!("node-{n:05}"),
                None,
                labels(&[("topology.kubernetes.io/zone", format!("zone-{}", n % 3))]),
            ),
            status: Some(core::NodeStatus {
                addresses: Some(vec![core::NodeAddress {
                    type_: "InternalIP".into(),
                    address: format!("172.16.{}.{}", n / 250, n % 250 + 1),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        push(Object::Node(Box::new(node)));
    }
    for ns in 0..shape.namespaces {
        let name = namespace_name(ns);
        let team = format!("team-{}", ns % shape.teams);
        let env = ["prod", "staging", "dev"][ns % 3].to_owned();
        let ns_labels = labels(&[("team", team.clone()), ("env", env)]);
        push(Object::Namespace(Box::new(core::Namespace {
            metadata: meta(name.clone(), None, ns_labels),
            ..Default::default()
        })));
        for p in 0..shape.pods_per_namespace {
            let deployment = deployment_name(p % shape.deployments_per_namespace);
            let index = ns * shape.pods_per_namespace + p;
            push(Object::Pod(Box::new(pod(
                &name,
                &deployment,
                p,
                index,
                shape,
                &mut rng,
            ))));
        }
        for k in 0..shape.network_policies_per_namespace {
            push(Object::NetworkPolicy(Box::new(network_policy(
                &name, k, shape,
            ))));
        }
    }
    for a in 0..shape.admin_policies {
        push(admin_policy(a, shape, &mut rng));
    }
    push(Object::BaselineAdminNetworkPolicy(Box::new(baseline())));
    objects
}

fn pod(
    namespace: &str,
    deployment: &str,
    ordinal: usize,
    index: usize,
    shape: &Shape,
    rng: &mut Rng,
) -> core::Pod {
    let hash = "7c9d5f".to_owned();
    let name = if shape.owners {
        format!("{deployment}-{hash}-{ordinal:02}")
    } else {
        format!("{deployment}-{ordinal:02}")
    };
    let mut meta = meta(
        name,
        Some(namespace.to_owned()),
        labels(&[
            ("app", deployment.to_owned()),
            ("pod-template-hash", hash.clone()),
        ]),
    );
    meta.owner_references = shape.owners.then(|| {
        vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("{deployment}-{hash}"),
            uid: format!("rs-{index}"),
            controller: Some(true),
            ..Default::default()
        }]
    });
    let port = |name: &str, number: i32| core::ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let spec = core::PodSpec {
        node_name: Some(format!("node-{:05}", rng.below(shape.nodes))),
        containers: vec![core::Container {
            name: "main".into(),
            ports: Some(vec![port("http", 8080), port("metrics", 9090)]),
            ..Default::default()
        }],
        ..Default::default()
    };
    // 10.0.0.0/8 holds 16M addresses: enough for every pod of the large shape.
    let ip = format!(
        "10.{}.{}.{}",
        index >> 16 & 0xff,
        index >> 8 & 0xff,
        index & 0xff
    );
    let status = core::PodStatus {
        pod_ips: Some(vec![core::PodIP { ip }]),
        ..Default::default()
    };
    core::Pod {
        metadata: meta,
        spec: Some(spec),
        status: Some(status),
    }
}

fn k8s_selector(pairs: &[(&str, String)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    }
}

fn network_policy(namespace: &str, k: usize, shape: &Shape) -> net::NetworkPolicy {
    let app = deployment_name(k % shape.deployments_per_namespace);
    let from_app = deployment_name((k + 1) % shape.deployments_per_namespace);
    let spec = net::NetworkPolicySpec {
        pod_selector: Some(k8s_selector(&[("app", app.clone())])),
        policy_types: Some(vec!["Ingress".into()]),
        ingress: Some(vec![
            net::NetworkPolicyIngressRule {
                from: Some(vec![net::NetworkPolicyPeer {
                    pod_selector: Some(k8s_selector(&[("app", from_app)])),
                    ..Default::default()
                }]),
                ports: Some(vec![net::NetworkPolicyPort {
                    port: Some(IntOrString::String("http".into())),
                    ..Default::default()
                }]),
            },
            net::NetworkPolicyIngressRule {
                from: Some(vec![net::NetworkPolicyPeer {
                    namespace_selector: Some(k8s_selector(&[("team", "team-0".into())])),
                    ..Default::default()
                }]),
                ports: Some(vec![net::NetworkPolicyPort {
                    port: Some(IntOrString::Int(9090)),
                    end_port: Some(9100),
                    ..Default::default()
                }]),
            },
        ]),
        egress: None,
    };
    net::NetworkPolicy {
        metadata: meta(
            format!("allow-{app}-{k}"),
            Some(namespace.to_owned()),
            BTreeMap::new(),
        ),
        spec: Some(spec),
    }
}

/// Half ANPs, half CNPs (Admin and Baseline tiers): tenant isolation between teams, a DNS
/// allowance, pass-through for monitoring, and egress limits to external networks.
fn admin_policy(a: usize, shape: &Shape, rng: &mut Rng) -> Object {
    let team = |i: usize| format!("team-{}", i % shape.teams);
    let priority = (a % 1000) as i32;
    let subject_team = team(rng.below(shape.teams));
    let peer_team = team(rng.below(shape.teams));
    if a.is_multiple_of(2) {
        let spec = AdminNetworkPolicySpec {
            priority,
            subject: AdminNetworkPolicySubject {
                namespaces: Some(crd_selector(&[("team", subject_team)])),
                pods: None,
            },
            ingress: Some(vec![
                AdminNetworkPolicyIngressRule {
                    name: Some("monitoring-pass".into()),
                    action: AdminNetworkPolicyRuleAction::Pass,
                    from: vec![AdminNetworkPolicyIngressPeer {
                        namespaces: Some(crd_selector(&[("team", team(0))])),
                        pods: None,
                    }],
                    ports: Some(vec![AdminNetworkPolicyPort {
                        named_port: Some("metrics".into()),
                        ..Default::default()
                    }]),
                },
                AdminNetworkPolicyIngressRule {
                    name: Some("deny-other-team".into()),
                    action: AdminNetworkPolicyRuleAction::Deny,
                    from: vec![AdminNetworkPolicyIngressPeer {
                        namespaces: Some(crd_selector(&[("team", peer_team)])),
                        pods: None,
                    }],
                    ports: None,
                },
            ]),
            egress: Some(vec![AdminNetworkPolicyEgressRule {
                name: Some("allow-dns".into()),
                action: AdminNetworkPolicyRuleAction::Allow,
                to: vec![AdminNetworkPolicyEgressPeer {
                    pods: Some(NamespacedPod {
                        namespace_selector: crd_selector(&[(
                            "kubernetes.io/metadata.name",
                            "kube-system".into(),
                        )]),
                        pod_selector: crd_selector(&[("k8s-app", "kube-dns".into())]),
                    }),
                    ..Default::default()
                }],
                ports: Some(vec![AdminNetworkPolicyPort {
                    port_number: Some(PortNumber {
                        protocol: "UDP".into(),
                        port: 53,
                    }),
                    ..Default::default()
                }]),
            }]),
        };
        return Object::AdminNetworkPolicy(Box::new(AdminNetworkPolicy::new(
            &format!("anp-{a:03}"),
            spec,
        )));
    }
    let tier = if a % 10 == 1 {
        Tier::Baseline
    } else {
        Tier::Admin
    };
    let spec = ClusterNetworkPolicySpec {
        tier,
        priority,
        subject: ClusterNetworkPolicySubject {
            namespaces: None,
            pods: Some(PodsSelector {
                namespace_selector: Some(crd_selector(&[("team", subject_team)])),
                pod_selector: crd_selector(&[(
                    "app",
                    deployment_name(a % shape.deployments_per_namespace),
                )]),
            }),
        },
        ingress: Some(vec![ClusterNetworkPolicyIngressRule {
            name: Some("accept-partner".into()),
            action: ClusterNetworkPolicyRuleAction::Accept,
            from: vec![ClusterNetworkPolicyIngressPeer {
                namespaces: Some(crd_selector(&[("team", peer_team)])),
                pods: None,
            }],
            protocols: Some(vec![ClusterNetworkPolicyProtocol {
                tcp: Some(ProtocolPorts {
                    destination_port: Some(DestinationPort {
                        number: None,
                        range: Some(DestinationPortRange {
                            start: 8000,
                            end: 8999,
                        }),
                    }),
                }),
                ..Default::default()
            }]),
        }]),
        egress: Some(vec![ClusterNetworkPolicyEgressRule {
            name: Some("deny-external".into()),
            action: ClusterNetworkPolicyRuleAction::Deny,
            to: vec![ClusterNetworkPolicyEgressPeer {
                networks: Some(vec![Cidr(format!("198.51.{}.0/24", a % 256))]),
                ..Default::default()
            }],
            protocols: None,
        }]),
    };
    Object::ClusterNetworkPolicy(Box::new(ClusterNetworkPolicy::new(
        &format!("cnp-{a:03}"),
        spec,
    )))
}

fn baseline() -> BaselineAdminNetworkPolicy {
    let spec = BaselineAdminNetworkPolicySpec {
        subject: AdminNetworkPolicySubject {
            namespaces: Some(CrdSelector::default()),
            pods: None,
        },
        ingress: None,
        egress: Some(vec![BaselineAdminNetworkPolicyEgressRule {
            name: Some("deny-metadata-service".into()),
            action: BaselineAdminNetworkPolicyRuleAction::Deny,
            to: vec![BaselineAdminNetworkPolicyEgressPeer {
                networks: Some(vec![Cidr("169.254.169.254/32".into())]),
                ..Default::default()
            }],
            ports: None,
        }]),
    };
    BaselineAdminNetworkPolicy::new("default", spec)
}

/// The example change for impact benchmarks: one CNP replaced by a version whose ingress rule
/// denies instead of accepting.
pub fn changed_cnp(objects: &[Located]) -> Option<Object> {
    objects.iter().find_map(|l| match &l.object {
        Object::ClusterNetworkPolicy(cnp) if cnp.spec.tier == Tier::Admin => {
            let mut changed = (**cnp).clone();
            for rule in changed.spec.ingress.iter_mut().flatten() {
                rule.action = ClusterNetworkPolicyRuleAction::Deny;
            }
            Some(Object::ClusterNetworkPolicy(Box::new(changed)))
        }
        _ => None,
    })
}
