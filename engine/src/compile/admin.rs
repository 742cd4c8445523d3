//! AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy into one model, with
//! the CRD's own validation (one-of fields, limits, CEL rules) checked here too, so that objects
//! read from files are held to what the API server would admit.

mod peers;
mod ports;

use self::peers::peer;
use self::ports::{anp_ports, cnp_protocols};
use crate::api::v1alpha1::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyIngressPeer,
    AdminNetworkPolicyRuleAction, AdminNetworkPolicySubject, BaselineAdminNetworkPolicy,
    BaselineAdminNetworkPolicyEgressPeer, BaselineAdminNetworkPolicyRuleAction,
};
use crate::api::v1alpha2::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyIngressPeer,
    ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySubject, PodsSelector, Tier,
};
use crate::api::{Cidr, DomainName, LabelSelector};
use crate::compile::rules::{
    BANP_NAME, DOMAIN_NAMES_NOT_ACCEPT, EXACTLY_ONE_FIELD, LIST_LENGTH, NAMED_PORT_ADDRESS_PEER,
    PRIORITY_RANGE, RULE_NAME_LENGTH,
};
use crate::compile::{CompileError, Problems};
use crate::model::{
    Action, AdminPeer, AdminPolicy, AdminRule, AdminTier, Enforcement, PolicyKind, PolicyRef,
    PortMatch, Subject,
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
    problems.name(&name);
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
        accepting: "Allow",
    };
    let compiled = finish(
        problems,
        id,
        AdminTier::Admin,
        Some(priority),
        subject,
        rules,
    );
    annotated(compiled, &raw.metadata)
}

pub fn compile_banp(raw: &BaselineAdminNetworkPolicy) -> Result<AdminPolicy, Vec<CompileError>> {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("BaselineAdminNetworkPolicy {name}"));
    problems.name(&name);
    if name != "default" {
        problems.push(
            &BANP_NAME,
            "metadata.name",
            format!(
                "the BaselineAdminNetworkPolicy is a singleton that must be named \"default\", not {name:?}"
            ),
        );
    }
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
        accepting: "Allow",
    };
    let compiled = finish(problems, id, AdminTier::Baseline, None, subject, rules);
    annotated(compiled, &raw.metadata)
}

pub fn compile_cnp(raw: &ClusterNetworkPolicy) -> Result<AdminPolicy, Vec<CompileError>> {
    let name = raw.metadata.name.clone().unwrap_or_default();
    let mut problems = Problems::new(format!("ClusterNetworkPolicy {name}"));
    problems.name(&name);
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
        accepting: "Accept",
    };
    let compiled = finish(problems, id, tier, Some(priority), subject, rules);
    annotated(compiled, &raw.metadata)
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

/// Both rule lists of a policy, with what its API allows in them.
struct Rules<'a> {
    ingress: Vec<RawRule<'a>>,
    egress: Vec<RawRule<'a>>,
    /// The most rules in a list, and peers and ports in a rule.
    max: usize,
    /// The accepting action as the API spells it.
    accepting: &'static str,
}

fn priority(problems: &mut Problems, value: i32) -> u32 {
    if !(0..=MAX_PRIORITY).contains(&value) {
        problems.push(
            &PRIORITY_RANGE,
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
                &EXACTLY_ONE_FIELD,
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
                &LIST_LENGTH,
                field,
                format!("{count} rules, at most {} are allowed", rules.max),
            );
        }
    }
    let (max, accepting) = (rules.max, rules.accepting);
    let ingress = compile_rules(
        &mut problems,
        "spec.ingress",
        "from",
        rules.ingress,
        max,
        accepting,
    );
    let egress = compile_rules(
        &mut problems,
        "spec.egress",
        "to",
        rules.egress,
        max,
        accepting,
    );
    problems.finish(AdminPolicy {
        id,
        tier,
        priority,
        subject,
        ingress,
        egress,
        enforcement: Enforcement::Enforce,
    })
}

/// The policy with the enforcement its object's annotations ask for.
fn annotated(
    result: Result<AdminPolicy, Vec<CompileError>>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<AdminPolicy, Vec<CompileError>> {
    result.map(|policy| AdminPolicy {
        enforcement: Enforcement::of(meta.annotations.as_ref()),
        ..policy
    })
}

fn compile_rules(
    problems: &mut Problems,
    path: &str,
    peers_field: &str,
    raw: Vec<RawRule>,
    max: usize,
    accepting: &str,
) -> Vec<AdminRule> {
    raw.into_iter()
        .enumerate()
        .map(|(index, rule)| {
            let rule_path = format!("{path}[{index}]");
            if let Some(name) = rule.name
                && name.chars().count() > 100
            {
                problems.push(
                    &RULE_NAME_LENGTH,
                    format!("{rule_path}.name"),
                    format!("{} characters, at most 100", name.chars().count()),
                );
            }
            let peers_path = format!("{rule_path}.{peers_field}");
            problems.length(&peers_path, rule.peers.len(), 1, max);
            let peers: Vec<AdminPeer> = rule
                .peers
                .iter()
                .enumerate()
                .filter_map(|(i, p)| peer(problems, &format!("{peers_path}[{i}]"), p))
                .collect();
            // Upstream: a name's addresses are only known after the traffic that would have to
            // be stopped, so names may only let traffic through.
            if rule.action != Action::Accept {
                for (i, p) in rule.peers.iter().enumerate() {
                    if p.domain_names.is_some() {
                        problems.push(
                            &DOMAIN_NAMES_NOT_ACCEPT,
                            format!("{peers_path}[{i}].domainNames"),
                            format!(
                                "a domainNames peer in a rule whose action is not {accepting}: domain names may only be used in {accepting} rules"
                            ),
                        );
                    }
                }
            }
            let named = rule
                .ports
                .iter()
                .flatten()
                .any(|p| matches!(p, PortMatch::Named { .. }));
            let address_peer = peers.iter().any(|p| {
                matches!(
                    p,
                    AdminPeer::Nodes(_) | AdminPeer::Networks(_) | AdminPeer::DomainNames(_)
                )
            });
            if named && address_peer {
                problems.push(
                    &NAMED_PORT_ADDRESS_PEER,
                    rule_path.clone(),
                    "networks/nodes/domainNames peers cannot be combined with named ports: those peers have no named ports",
                );
            }
            AdminRule {
                index,
                name: rule.name.map(str::to_owned),
                action: rule.action,
                peers,
                ports: rule.ports,
            }
        })
        .collect()
}
