//! AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy into one model, with
//! the CRD's own validation (one-of fields, limits, CEL rules) checked here too, so that objects
//! read from files are held to what the API server would admit.

use crate::api::v1alpha1::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyIngressPeer,
    AdminNetworkPolicyPort, AdminNetworkPolicyRuleAction, AdminNetworkPolicySubject,
    BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyEgressPeer,
    BaselineAdminNetworkPolicyRuleAction,
};
use crate::api::v1alpha2::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyIngressPeer,
    ClusterNetworkPolicyProtocol, ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySubject,
    PodsSelector, Tier,
};
use crate::api::{Cidr, DomainName, LabelSelector};
use crate::compile::{CompileError, Problems, parse_cidr, port_number};
use crate::model::{
    Action, AdminPeer, AdminPolicy, AdminRule, AdminTier, IpBlock, PolicyKind, PolicyRef,
    PortMatch, Protocol, Subject,
};

/// One peer of any of the three APIs, before conversion.
struct RawPeer<'a> {
    namespaces: Option<&'a LabelSelector>,
    pods: Option<PodsSelector>,
    nodes: Option<&'a LabelSelector>,
    networks: Option<&'a [Cidr]>,
    domain_names: Option<&'a [DomainName]>,
}

struct RawRule<'a> {
    name: Option<&'a str>,
    action: Action,
    peers: Vec<RawPeer<'a>>,
    ports: Option<Vec<PortMatch>>,
}

const MAX_PRIORITY: i32 = 1000;

pub fn compile_anp(raw: &AdminNetworkPolicy) -> Result<AdminPolicy, Vec<CompileError>> {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("AdminNetworkPolicy {name}"));
    let priority = priority(&mut problems, raw.spec.priority);
    let subject = anp_subject(&mut problems, &raw.spec.subject);
    let action = |a: AdminNetworkPolicyRuleAction| match a {
        AdminNetworkPolicyRuleAction::Allow => Action::Accept,
        AdminNetworkPolicyRuleAction::Deny => Action::Deny,
        AdminNetworkPolicyRuleAction::Pass => Action::Pass,
    };
    let ingress = raw_rules(
        &mut problems,
        "spec.ingress",
        &raw.spec.ingress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.from.iter().map(anp_ingress_peer).collect(),
            ports: anp_ports(problems, path, r.ports.as_deref()),
        },
    );
    let egress = raw_rules(
        &mut problems,
        "spec.egress",
        &raw.spec.egress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.to.iter().map(anp_egress_peer).collect(),
            ports: anp_ports(problems, path, r.ports.as_deref()),
        },
    );
    let id = PolicyRef {
        kind: PolicyKind::AdminNetworkPolicy,
        namespace: None,
        name,
    };
    let rules = Rules {
        ingress,
        egress,
        max: 100,
    };
    finish(
        problems,
        id,
        AdminTier::Admin,
        Some(priority),
        subject,
        rules,
    )
}

pub fn compile_banp(raw: &BaselineAdminNetworkPolicy) -> Result<AdminPolicy, Vec<CompileError>> {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("BaselineAdminNetworkPolicy {name}"));
    let subject = anp_subject(&mut problems, &raw.spec.subject);
    let action = |a: BaselineAdminNetworkPolicyRuleAction| match a {
        BaselineAdminNetworkPolicyRuleAction::Allow => Action::Accept,
        BaselineAdminNetworkPolicyRuleAction::Deny => Action::Deny,
    };
    let ingress = raw_rules(
        &mut problems,
        "spec.ingress",
        &raw.spec.ingress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.from.iter().map(anp_ingress_peer).collect(),
            ports: anp_ports(problems, path, r.ports.as_deref()),
        },
    );
    let egress = raw_rules(
        &mut problems,
        "spec.egress",
        &raw.spec.egress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.to.iter().map(banp_egress_peer).collect(),
            ports: anp_ports(problems, path, r.ports.as_deref()),
        },
    );
    let id = PolicyRef {
        kind: PolicyKind::BaselineAdminNetworkPolicy,
        namespace: None,
        name,
    };
    let rules = Rules {
        ingress,
        egress,
        max: 100,
    };
    finish(problems, id, AdminTier::Baseline, None, subject, rules)
}

pub fn compile_cnp(raw: &ClusterNetworkPolicy) -> Result<AdminPolicy, Vec<CompileError>> {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("ClusterNetworkPolicy {name}"));
    let priority = priority(&mut problems, raw.spec.priority);
    let subject = cnp_subject(&mut problems, &raw.spec.subject);
    let tier = match raw.spec.tier {
        Tier::Admin => AdminTier::Admin,
        Tier::Baseline => AdminTier::Baseline,
    };
    let action = |a: ClusterNetworkPolicyRuleAction| match a {
        ClusterNetworkPolicyRuleAction::Accept => Action::Accept,
        ClusterNetworkPolicyRuleAction::Deny => Action::Deny,
        ClusterNetworkPolicyRuleAction::Pass => Action::Pass,
    };
    let ingress = raw_rules(
        &mut problems,
        "spec.ingress",
        &raw.spec.ingress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.from.iter().map(cnp_ingress_peer).collect(),
            ports: cnp_protocols(problems, path, r.protocols.as_deref()),
        },
    );
    let egress = raw_rules(
        &mut problems,
        "spec.egress",
        &raw.spec.egress,
        |problems, path, r| RawRule {
            name: r.name.as_deref(),
            action: action(r.action),
            peers: r.to.iter().map(cnp_egress_peer).collect(),
            ports: cnp_protocols(problems, path, r.protocols.as_deref()),
        },
    );
    let id = PolicyRef {
        kind: PolicyKind::ClusterNetworkPolicy,
        namespace: None,
        name,
    };
    let rules = Rules {
        ingress,
        egress,
        max: 25,
    };
    finish(problems, id, tier, Some(priority), subject, rules)
}

/// Converts one list of rules, giving each its field path (`spec.ingress[2]`) for messages.
fn raw_rules<'a, R>(
    problems: &mut Problems,
    path: &str,
    rules: &'a Option<Vec<R>>,
    mut convert: impl FnMut(&mut Problems, &str, &'a R) -> RawRule<'a>,
) -> Vec<RawRule<'a>> {
    rules
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| convert(problems, &format!("{path}[{i}]"), r))
        .collect()
}

/// Both rule lists of a policy and the most each may hold.
struct Rules<'a> {
    ingress: Vec<RawRule<'a>>,
    egress: Vec<RawRule<'a>>,
    max: usize,
}

fn priority(problems: &mut Problems, value: i32) -> u32 {
    if !(0..=MAX_PRIORITY).contains(&value) {
        problems.push(
            "spec.priority",
            format!("priority {value} is outside 0-{MAX_PRIORITY}"),
        );
    }
    value.clamp(0, MAX_PRIORITY) as u32
}

fn anp_subject(problems: &mut Problems, raw: &AdminNetworkPolicySubject) -> Subject {
    let pods = raw.pods.clone().map(PodsSelector::from);
    subject(problems, raw.namespaces.as_ref(), pods.as_ref())
}

fn cnp_subject(problems: &mut Problems, raw: &ClusterNetworkPolicySubject) -> Subject {
    subject(problems, raw.namespaces.as_ref(), raw.pods.as_ref())
}

fn subject(
    problems: &mut Problems,
    namespaces: Option<&LabelSelector>,
    pods: Option<&PodsSelector>,
) -> Subject {
    match (namespaces, pods) {
        (Some(ns), None) => Subject::Namespaces(problems.selector("spec.subject.namespaces", ns)),
        (None, Some(pods)) => pods_subject(problems, "spec.subject.pods", pods),
        _ => {
            problems.push(
                "spec.subject",
                "exactly one of namespaces or pods must be set",
            );
            Subject::Namespaces(crate::selector::Selector::everything())
        }
    }
}

fn pods_subject(problems: &mut Problems, path: &str, pods: &PodsSelector) -> Subject {
    let namespaces = pods
        .namespace_selector
        .as_ref()
        .map(|s| problems.selector(&format!("{path}.namespaceSelector"), s))
        .unwrap_or_default();
    let pods = problems.selector(&format!("{path}.podSelector"), &pods.pod_selector);
    Subject::Pods { namespaces, pods }
}

fn anp_ingress_peer(p: &AdminNetworkPolicyIngressPeer) -> RawPeer<'_> {
    RawPeer {
        namespaces: p.namespaces.as_ref(),
        pods: p.pods.clone().map(PodsSelector::from),
        nodes: None,
        networks: None,
        domain_names: None,
    }
}

fn anp_egress_peer(p: &AdminNetworkPolicyEgressPeer) -> RawPeer<'_> {
    RawPeer {
        namespaces: p.namespaces.as_ref(),
        pods: p.pods.clone().map(PodsSelector::from),
        nodes: p.nodes.as_ref(),
        networks: p.networks.as_deref(),
        domain_names: p.domain_names.as_deref(),
    }
}

fn banp_egress_peer(p: &BaselineAdminNetworkPolicyEgressPeer) -> RawPeer<'_> {
    RawPeer {
        namespaces: p.namespaces.as_ref(),
        pods: p.pods.clone().map(PodsSelector::from),
        nodes: p.nodes.as_ref(),
        networks: p.networks.as_deref(),
        domain_names: None,
    }
}

fn cnp_ingress_peer(p: &ClusterNetworkPolicyIngressPeer) -> RawPeer<'_> {
    RawPeer {
        namespaces: p.namespaces.as_ref(),
        pods: p.pods.clone(),
        nodes: None,
        networks: None,
        domain_names: None,
    }
}

fn cnp_egress_peer(p: &ClusterNetworkPolicyEgressPeer) -> RawPeer<'_> {
    RawPeer {
        namespaces: p.namespaces.as_ref(),
        pods: p.pods.clone(),
        nodes: p.nodes.as_ref(),
        networks: p.networks.as_deref(),
        domain_names: p.domain_names.as_deref(),
    }
}

fn anp_ports(
    problems: &mut Problems,
    rule_path: &str,
    raw: Option<&[AdminNetworkPolicyPort]>,
) -> Option<Vec<PortMatch>> {
    let raw = raw?;
    if raw.is_empty() {
        problems.push(
            format!("{rule_path}.ports"),
            "must have at least one entry when present",
        );
    }
    let ports = raw.iter().enumerate().filter_map(|(i, p)| {
        let path = format!("{rule_path}.ports[{i}]");
        match (&p.port_number, &p.named_port, &p.port_range) {
            (Some(n), None, None) => {
                let protocol = protocol(
                    problems,
                    &format!("{path}.portNumber.protocol"),
                    &n.protocol,
                )?;
                let port = port_number(n.port)
                    .map_err(|m| problems.push(format!("{path}.portNumber.port"), m))
                    .ok()?;
                Some(PortMatch::Port { protocol, port })
            }
            (None, Some(name), None) => Some(PortMatch::Named {
                name: name.clone(),
                protocol: None,
            }),
            (None, None, Some(r)) => {
                let protocol =
                    protocol(problems, &format!("{path}.portRange.protocol"), &r.protocol)?;
                range(
                    problems,
                    &format!("{path}.portRange"),
                    protocol,
                    r.start,
                    r.end,
                    true,
                )
            }
            _ => {
                problems.push(
                    path,
                    "exactly one of portNumber, namedPort or portRange must be set",
                );
                None
            }
        }
    });
    Some(ports.collect())
}

fn cnp_protocols(
    problems: &mut Problems,
    rule_path: &str,
    raw: Option<&[ClusterNetworkPolicyProtocol]>,
) -> Option<Vec<PortMatch>> {
    let raw = raw?;
    if raw.is_empty() {
        problems.push(
            format!("{rule_path}.protocols"),
            "must have at least one entry when present",
        );
    }
    let ports = raw.iter().enumerate().filter_map(|(i, p)| {
        let path = format!("{rule_path}.protocols[{i}]");
        let set = [
            p.tcp.is_some(),
            p.udp.is_some(),
            p.sctp.is_some(),
            p.destination_named_port.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            problems.push(
                path,
                "exactly one of tcp, udp, sctp or destinationNamedPort must be set",
            );
            return None;
        }
        if let Some(name) = &p.destination_named_port {
            return Some(PortMatch::Named {
                name: name.clone(),
                protocol: None,
            });
        }
        let (protocol, ports, field) = match (&p.tcp, &p.udp, &p.sctp) {
            (Some(t), _, _) => (Protocol::Tcp, t, "tcp"),
            (_, Some(u), _) => (Protocol::Udp, u, "udp"),
            (_, _, Some(s)) => (Protocol::Sctp, s, "sctp"),
            _ => unreachable!("one protocol is set"),
        };
        let path = format!("{path}.{field}.destinationPort");
        let Some(dest) = &ports.destination_port else {
            // minProperties: 1 on the protocol object forbids this; without it, all ports.
            problems.push(path, "destinationPort is required");
            return None;
        };
        match (dest.number, &dest.range) {
            (Some(n), None) => {
                let port = port_number(n)
                    .map_err(|m| problems.push(format!("{path}.number"), m))
                    .ok()?;
                Some(PortMatch::Port { protocol, port })
            }
            (None, Some(r)) => range(
                problems,
                &format!("{path}.range"),
                protocol,
                r.start,
                r.end,
                false,
            ),
            _ => {
                problems.push(path, "exactly one of number or range must be set");
                None
            }
        }
    });
    Some(ports.collect())
}

/// ANP port ranges must not be inverted; CNP ranges must have start strictly below end (CEL).
fn range(
    problems: &mut Problems,
    path: &str,
    protocol: Protocol,
    start: i32,
    end: i32,
    allow_equal: bool,
) -> Option<PortMatch> {
    let start_port = port_number(start)
        .map_err(|m| problems.push(format!("{path}.start"), m))
        .ok();
    let end_port = port_number(end)
        .map_err(|m| problems.push(format!("{path}.end"), m))
        .ok();
    let (start, end) = (start_port?, end_port?);
    if start > end || (!allow_equal && start == end) {
        let want = if allow_equal { "at most" } else { "less than" };
        problems.push(
            path,
            format!("start port {start} must be {want} end port {end}"),
        );
        return None;
    }
    Some(PortMatch::Range {
        protocol,
        start,
        end,
    })
}

fn protocol(problems: &mut Problems, path: &str, text: &str) -> Option<Protocol> {
    match Protocol::parse(text) {
        Some(p) if text == p.as_str() => Some(p),
        _ => {
            problems.push(
                path,
                format!("unsupported protocol {text:?} (want TCP, UDP or SCTP)"),
            );
            None
        }
    }
}

fn finish(
    mut problems: Problems,
    id: PolicyRef,
    tier: AdminTier,
    priority: Option<u32>,
    subject: Subject,
    rules: Rules,
) -> Result<AdminPolicy, Vec<CompileError>> {
    for (field, count) in [
        ("spec.ingress", rules.ingress.len()),
        ("spec.egress", rules.egress.len()),
    ] {
        if count > rules.max {
            problems.push(
                field,
                format!("{count} rules, at most {} are allowed", rules.max),
            );
        }
    }
    let ingress = compile_rules(&mut problems, "spec.ingress", "from", rules.ingress);
    let egress = compile_rules(&mut problems, "spec.egress", "to", rules.egress);
    problems.finish(AdminPolicy {
        id,
        tier,
        priority,
        subject,
        ingress,
        egress,
    })
}

fn compile_rules(
    problems: &mut Problems,
    path: &str,
    peers_field: &str,
    raw: Vec<RawRule>,
) -> Vec<AdminRule> {
    raw.into_iter()
        .enumerate()
        .map(|(index, rule)| {
            let rule_path = format!("{path}[{index}]");
            if rule.name.is_some_and(|n| n.len() > 100) {
                problems.push(format!("{rule_path}.name"), "at most 100 characters");
            }
            if rule.peers.is_empty() {
                problems.push(format!("{rule_path}.{peers_field}"), "must have at least one peer");
            }
            let peers: Vec<AdminPeer> = rule
                .peers
                .iter()
                .enumerate()
                .filter_map(|(i, p)| peer(problems, &format!("{rule_path}.{peers_field}[{i}]"), p))
                .collect();
            let named = rule.ports.iter().flatten().any(|p| matches!(p, PortMatch::Named { .. }));
            let address_peer = peers
                .iter()
                .any(|p| matches!(p, AdminPeer::Nodes(_) | AdminPeer::Networks(_) | AdminPeer::DomainNames(_)));
            if named && address_peer {
                problems.push(
                    rule_path.clone(),
                    "networks/nodes/domainNames peers cannot be combined with named ports: those peers have no named ports",
                );
            }
            AdminRule { index, name: rule.name.map(str::to_owned), action: rule.action, peers, ports: rule.ports }
        })
        .collect()
}

fn peer(problems: &mut Problems, path: &str, raw: &RawPeer) -> Option<AdminPeer> {
    let set = [
        raw.namespaces.is_some(),
        raw.pods.is_some(),
        raw.nodes.is_some(),
        raw.networks.is_some(),
        raw.domain_names.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        problems.push(
            path,
            "exactly one of namespaces, pods, nodes, networks or domainNames must be set",
        );
        return None;
    }
    if let Some(ns) = raw.namespaces {
        return Some(AdminPeer::Namespaces(
            problems.selector(&format!("{path}.namespaces"), ns),
        ));
    }
    if let Some(pods) = &raw.pods {
        return match pods_subject(problems, &format!("{path}.pods"), pods) {
            Subject::Pods { namespaces, pods } => Some(AdminPeer::Pods { namespaces, pods }),
            Subject::Namespaces(_) => None,
        };
    }
    if let Some(nodes) = raw.nodes {
        return Some(AdminPeer::Nodes(
            problems.selector(&format!("{path}.nodes"), nodes),
        ));
    }
    if let Some(networks) = raw.networks {
        if networks.is_empty() || networks.len() > 25 {
            problems.push(format!("{path}.networks"), "must have 1 to 25 entries");
        }
        let blocks = networks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match parse_cidr(&c.0) {
                Ok(cidr) => Some(IpBlock {
                    cidr,
                    except: Vec::new(),
                }),
                Err(m) => {
                    problems.push(format!("{path}.networks[{i}]"), m);
                    None
                }
            })
            .collect();
        return Some(AdminPeer::Networks(blocks));
    }
    let names = raw.domain_names.unwrap_or_default();
    if names.is_empty() || names.len() > 25 {
        problems.push(format!("{path}.domainNames"), "must have 1 to 25 entries");
    }
    for (i, name) in names.iter().enumerate() {
        if !valid_domain_name(&name.0) {
            problems.push(
                format!("{path}.domainNames[{i}]"),
                format!("{:?} is not a DNS name (a leading *. is allowed)", name.0),
            );
        }
    }
    Some(AdminPeer::DomainNames(
        names.iter().map(|n| n.0.clone()).collect(),
    ))
}

/// The CRD's pattern: optional `*.`, then two or more labels of letters, digits, `-` and `_`
/// (not at the ends), optional trailing dot.
fn valid_domain_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            ends_ok(l.chars().next())
                && ends_ok(l.chars().last())
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}
