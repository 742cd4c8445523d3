//! Equal priorities in one admin tier. Upstream leaves the order of such policies undefined, so
//! when both select a pod and some flow gets different actions from them, implementations may
//! disagree. Candidate flows are found on identities: the pods the two policies' peers match,
//! grouped by which peers match them, the first address of each CIDR and node, and every port
//! boundary the rules mention, so the search is exhaustive over the given input.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::index::{Index, PodSet};
use super::probe::{Probe, first_match, peer_matches};
use super::{Check, Findings, Severity, rule_name};
use crate::engine::{AdminSlot, Engine, IdentityId, order_key};
use crate::eval::Endpoint;
use crate::model::{
    Action, AdminPeer, AdminPolicy, AdminRule, AdminTier, ContainerPort, Direction, Pod,
    PolicyKind, PolicyRef, PortMatch, Protocol,
};
use crate::selector::Selector;

pub(super) const CONFLICT: Check = Check {
    id: "priority-conflict",
    severity: Severity::Error,
    summary: "two admin policies of one tier share a priority, select a common pod, and give some flow different actions: the outcome depends on an order upstream leaves undefined",
};

pub(super) const SHARED: Check = Check {
    id: "priority-shared",
    severity: Severity::Info,
    summary: "two admin policies of one tier share a priority, but select no common pod or give no flow different actions in the given input",
};

pub(super) fn check<'e>(index: &Index<'e>, out: &mut Findings) {
    let mut buckets: BTreeMap<(AdminTier, u32), Vec<(AdminSlot, &'e AdminPolicy)>> =
        BTreeMap::new();
    for (slot, policy) in index.engine.admin_policies() {
        if let Some(priority) = policy.priority {
            buckets
                .entry((policy.tier, priority))
                .or_default()
                .push((slot, policy));
        }
    }
    let mut footprints: FxHashMap<(AdminSlot, Direction), Footprint> = FxHashMap::default();
    for ((tier, priority), mut group) in buckets {
        if group.len() < 2 {
            continue;
        }
        group.sort_by(|a, b| order_key(a.1).cmp(&order_key(b.1)));
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                pair(index, &mut footprints, tier, priority, *a, *b, out);
            }
        }
    }
}

struct Example<'p> {
    direction: Direction,
    src: Endpoint,
    dst: Endpoint,
    protocol: Protocol,
    port: u16,
    rule_a: &'p AdminRule,
    rule_b: &'p AdminRule,
}

/// What two admin policies of one tier and priority do together.
enum Outcome<'p> {
    /// No pod is selected by both.
    Disjoint,
    /// Both select the `common` identities and no flow reaching them gets different actions.
    Agree(Vec<IdentityId>),
    /// Both select the `common` identities and `Example` gets different actions from them.
    Conflict(Vec<IdentityId>, Example<'p>),
}

/// A policy with the identities it selects; `slot` keys its footprints.
type Tied<'e, 's> = (AdminSlot, &'e AdminPolicy, &'s [IdentityId]);

fn examine<'e>(
    index: &Index<'e>,
    footprints: &mut FxHashMap<(AdminSlot, Direction), Footprint<'e>>,
    (slot_a, a, subjects_a): Tied<'e, '_>,
    (slot_b, b, subjects_b): Tied<'e, '_>,
) -> Outcome<'e> {
    let common = intersect(subjects_a, subjects_b);
    if common.is_empty() {
        return Outcome::Disjoint;
    }
    for direction in [Direction::Ingress, Direction::Egress] {
        if agree_by_text(a.rules(direction), b.rules(direction)) {
            continue;
        }
        for (slot, policy) in [(slot_a, a), (slot_b, b)] {
            footprints
                .entry((slot, direction))
                .or_insert_with(|| Footprint::new(index, policy, direction));
        }
        let fa = &footprints[&(slot_a, direction)];
        let fb = &footprints[&(slot_b, direction)];
        if let Some(ex) = find_conflict(index, (a, fa), (b, fb), direction, &common) {
            return Outcome::Conflict(common, ex);
        }
    }
    Outcome::Agree(common)
}

fn pair<'e>(
    index: &Index<'e>,
    footprints: &mut FxHashMap<(AdminSlot, Direction), Footprint<'e>>,
    tier: AdminTier,
    priority: u32,
    (slot_a, a): (AdminSlot, &'e AdminPolicy),
    (slot_b, b): (AdminSlot, &'e AdminPolicy),
    out: &mut Findings,
) {
    let engine = index.engine;
    let names = format!(
        "{} and {} share priority {priority} in the {tier:?} tier",
        a.id, b.id
    );
    let field = Some("spec.priority".to_owned());
    let subjects = |slot: AdminSlot| index.admin_subjects[slot as usize].as_slice();
    let outcome = examine(
        index,
        footprints,
        (slot_a, a, subjects(slot_a)),
        (slot_b, b, subjects(slot_b)),
    );
    let common = match outcome {
        Outcome::Disjoint => {
            out.push(
                &SHARED,
                &a.id,
                field,
                format!(
                    "{names} but select no common pod in the given input, so their order does not matter there; distinct priorities would make the intended order explicit"
                ),
            );
            return;
        }
        Outcome::Conflict(_, ex) => {
            out.push(
                &CONFLICT,
                &a.id,
                field,
                format!(
                    "{names} and give the same traffic different actions: {} -> {} {}/{} ({}) gets {} from {} {} but {} from {} {}; \
                     upstream leaves the order of equal priorities undefined, so implementations may disagree (netpol evaluates {} first, by name). \
                     Give them distinct priorities.",
                    engine.describe(ex.src),
                    engine.describe(ex.dst),
                    ex.protocol,
                    ex.port,
                    ex.direction.as_str(),
                    action_name(a.id.kind, ex.rule_a.action),
                    a.id.name,
                    rule_name(ex.rule_a.index, ex.rule_a.name.as_deref()),
                    action_name(b.id.kind, ex.rule_b.action),
                    b.id.name,
                    rule_name(ex.rule_b.index, ex.rule_b.name.as_deref()),
                    a.id.name,
                ),
            );
            return;
        }
        Outcome::Agree(common) => common,
    };
    let pods: usize = common
        .iter()
        .map(|id| engine.identities()[*id as usize].members.len())
        .sum();
    let example = engine
        .cluster
        .pod(engine.identities()[common[0] as usize].representative)
        .key();
    out.push(
        &SHARED,
        &a.id,
        field,
        format!(
            "{names} and both select {example} ({pods} pods in all), but no flow in the given input that reaches them gets different actions from them, so their order does not matter there; \
             distinct priorities would make the intended order explicit"
        ),
    );
}

/// Another admin policy of the same tier and priority as the one asked about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriorityClash {
    pub other: PolicyRef,
    pub tier: AdminTier,
    pub priority: u32,
    /// Pods both select, as `namespace/name`: a sample of at most [`SHARED_SAMPLE`].
    pub shared_pods: Vec<String>,
    pub shared_pod_count: usize,
    /// A flow the two give different actions; `None` when they agree on every flow that
    /// reaches them (or share no pod).
    pub conflict: Option<ClashFlow>,
}

/// How many shared pods a [`PriorityClash`] names.
pub const SHARED_SAMPLE: usize = 3;

/// A flow two equal-priority policies disagree on, and the rules that disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClashFlow {
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    /// The action and rule (`rule 0 "name"`) of the policy asked about.
    pub action: &'static str,
    pub rule: String,
    pub other_action: &'static str,
    pub other_rule: String,
}

/// The admin policies sharing `id`'s tier and priority, each with what the two do together:
/// the same analysis as lint's `priority-conflict`, for one policy, without linting the rest.
/// Empty when `id` is not an admin policy with a priority in `engine`, or nothing shares it.
pub fn conflicts_for(engine: &Engine, id: &PolicyRef) -> Vec<PriorityClash> {
    match engine.admin_policies().find(|(_, p)| p.id == *id) {
        Some((_, policy)) => conflicts_with(engine, policy),
        None => Vec::new(),
    }
}

/// Like [`conflicts_for`], for a policy that need not be in `engine` (one about to be
/// created or replaced): a version of it in `engine` is not compared with it. That version
/// must not be evaluated before the tie (a lower priority in the same tier), since it would
/// then count among the policies that decide flows before the tie is reached; apply the
/// change to the engine first in that case.
pub fn conflicts_with(engine: &Engine, policy: &AdminPolicy) -> Vec<PriorityClash> {
    let Some(priority) = policy.priority else {
        return Vec::new();
    };
    let mut others: Vec<(AdminSlot, &AdminPolicy)> = engine
        .admin_policies()
        .filter(|(_, p)| p.id != policy.id && p.tier == policy.tier && p.priority == Some(priority))
        .map(|(s, p)| (s, p.as_ref()))
        .collect();
    if others.is_empty() {
        return Vec::new();
    }
    others.sort_by(|a, b| order_key(a.1).cmp(&order_key(b.1)));
    let index = Index::new(engine);
    let subjects = engine.selected_identities(&policy.subject);
    // Footprints are keyed by slot; the policy asked about may have none.
    const ASKED: AdminSlot = AdminSlot::MAX;
    let mut footprints = FxHashMap::default();
    let mut out = Vec::new();
    for (other_slot, other) in others {
        let outcome = examine(
            &index,
            &mut footprints,
            (ASKED, policy, &subjects),
            (
                other_slot,
                other,
                &index.admin_subjects[other_slot as usize],
            ),
        );
        let (common, conflict) = match outcome {
            Outcome::Disjoint => (Vec::new(), None),
            Outcome::Agree(common) => (common, None),
            Outcome::Conflict(common, ex) => {
                let flow = ClashFlow {
                    direction: ex.direction,
                    from: engine.describe(ex.src),
                    to: engine.describe(ex.dst),
                    protocol: ex.protocol,
                    port: ex.port,
                    action: action_name(policy.id.kind, ex.rule_a.action),
                    rule: rule_name(ex.rule_a.index, ex.rule_a.name.as_deref()),
                    other_action: action_name(other.id.kind, ex.rule_b.action),
                    other_rule: rule_name(ex.rule_b.index, ex.rule_b.name.as_deref()),
                };
                (common, Some(flow))
            }
        };
        let members = common
            .iter()
            .flat_map(|id| &engine.identities()[*id as usize].members);
        out.push(PriorityClash {
            other: other.id.clone(),
            tier: policy.tier,
            priority,
            shared_pods: members
                .clone()
                .take(SHARED_SAMPLE)
                .map(|pod| engine.cluster.pod(*pod).key())
                .collect(),
            shared_pod_count: members.count(),
            conflict,
        });
    }
    out
}

fn action_name(kind: PolicyKind, action: Action) -> &'static str {
    match (kind, action) {
        (PolicyKind::ClusterNetworkPolicy, Action::Accept) => "Accept",
        (_, Action::Accept) => "Allow",
        (_, Action::Deny) => "Deny",
        (_, Action::Pass) => "Pass",
    }
}

fn intersect(a: &[IdentityId], b: &[IdentityId]) -> Vec<IdentityId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// What one policy's peers in one direction see of the other end: the pod identities some
/// peer matches, each with the set of peers that match it, and the addresses the peers name.
struct Footprint<'e> {
    peers: Vec<&'e AdminPeer>,
    ids: Vec<IdentityId>,
    /// `words` bits per identity of `ids`: which peers match it.
    bits: Vec<u64>,
    words: usize,
    addresses: Vec<IpAddr>,
}

impl<'e> Footprint<'e> {
    fn new(index: &Index<'e>, policy: &'e AdminPolicy, direction: Direction) -> Self {
        let engine = index.engine;
        let everything = Selector::everything();
        let peers: Vec<&AdminPeer> = policy
            .rules(direction)
            .iter()
            .flat_map(|r| &r.peers)
            .collect();
        // The identities each peer matches; the same as `peer_matches` on their representative.
        let mut matched: Vec<Vec<IdentityId>> = Vec::with_capacity(peers.len());
        let mut addresses: Vec<IpAddr> = Vec::new();
        for peer in &peers {
            let ids = match peer {
                AdminPeer::Namespaces(_) | AdminPeer::Pods { .. } => {
                    PodSet::of_admin_peer(peer, &everything)
                        .map(|set| index.members(&set, false))
                        .unwrap_or_default()
                }
                AdminPeer::Networks(blocks) => {
                    addresses.extend(blocks.iter().map(|b| b.cidr.network()));
                    // Networks match pod and node addresses too.
                    let inside = |ip: &IpAddr| blocks.iter().any(|b| b.contains(ip));
                    addresses.extend(
                        engine
                            .cluster
                            .nodes
                            .iter()
                            .filter_map(|n| n.addresses.first().copied())
                            .filter(inside),
                    );
                    engine
                        .identities()
                        .iter()
                        .enumerate()
                        .filter(|(_, identity)| {
                            !identity.host_network
                                && engine
                                    .cluster
                                    .pod(identity.representative)
                                    .ips
                                    .first()
                                    .is_some_and(inside)
                        })
                        .map(|(id, _)| id as IdentityId)
                        .collect()
                }
                AdminPeer::Nodes(selector) => {
                    addresses.extend(
                        engine
                            .cluster
                            .nodes
                            .iter()
                            .filter(|n| selector.matches(&n.labels))
                            .filter_map(|n| n.addresses.first().copied()),
                    );
                    Vec::new()
                }
                AdminPeer::DomainNames(_) => Vec::new(),
            };
            matched.push(ids);
        }
        let mut ids: Vec<IdentityId> = matched.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        addresses.sort_unstable();
        addresses.dedup();
        let words = peers.len().div_ceil(64).max(1);
        let mut bits = vec![0u64; ids.len() * words];
        for (k, members) in matched.iter().enumerate() {
            for id in members {
                let i = ids.binary_search(id).expect("collected above");
                bits[i * words + k / 64] |= 1 << (k % 64);
            }
        }
        Self {
            peers,
            ids,
            bits,
            words,
            addresses,
        }
    }

    fn bits_of(&self, i: usize) -> &[u64] {
        &self.bits[i * self.words..(i + 1) * self.words]
    }
}

/// Whether order cannot matter in one direction, whatever the pods: one policy has no rules,
/// every rule has the same action, or both have the same rules.
fn agree_by_text(a: &[AdminRule], b: &[AdminRule]) -> bool {
    let same_rules = a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.action == y.action && x.peers == y.peers && x.ports == y.ports);
    let one_action = a
        .iter()
        .chain(b)
        .all(|r| Some(r.action) == a.first().map(|f| f.action));
    a.is_empty() || b.is_empty() || one_action || same_rules
}

fn find_conflict<'p>(
    index: &Index<'p>,
    (a, fa): (&'p AdminPolicy, &Footprint),
    (b, fb): (&'p AdminPolicy, &Footprint),
    direction: Direction,
    common: &[IdentityId],
) -> Option<Example<'p>> {
    let engine = index.engine;
    let (rules_a, rules_b) = (a.rules(direction), b.rules(direction));
    let rules: Vec<&AdminRule> = rules_a.iter().chain(rules_b).collect();
    let named = rules
        .iter()
        .flat_map(|r| r.ports.iter().flatten())
        .any(|p| matches!(p, PortMatch::Named { .. }));
    let subjects = subjects(engine, a, common, direction == Direction::Ingress && named);
    for remote_end in remotes(engine, fa, fb, direction == Direction::Egress && named) {
        let remote = engine.remote(remote_end);
        for (subject, before) in &subjects {
            let Some(subject_pod) = engine.identities()[*subject as usize]
                .members
                .iter()
                .copied()
                .find(|m| Endpoint::Pod(*m) != remote_end)
            else {
                continue;
            };
            let destination: Option<&Pod> = match direction {
                Direction::Ingress => Some(engine.cluster.pod(subject_pod)),
                Direction::Egress => remote.pod.map(|(_, p)| p),
            };
            for (protocol, port) in candidate_ports(&rules, destination) {
                let probe = Probe {
                    remote: &remote,
                    destination,
                    protocol,
                    port,
                };
                let (Some(x), Some(y)) = (
                    first_match(engine, rules_a, &probe),
                    first_match(engine, rules_b, &probe),
                ) else {
                    continue;
                };
                let reached = || {
                    before
                        .iter()
                        .all(|p| first_match(engine, p.rules(direction), &probe).is_none())
                };
                if x.action != y.action && reached() {
                    let (src, dst) = match direction {
                        Direction::Ingress => (remote_end, Endpoint::Pod(subject_pod)),
                        Direction::Egress => (Endpoint::Pod(subject_pod), remote_end),
                    };
                    return Some(Example {
                        direction,
                        src,
                        dst,
                        protocol,
                        port,
                        rule_a: x,
                        rule_b: y,
                    });
                }
            }
        }
    }
    None
}

/// The subjects worth trying, with the policies each meets before the tie. The subject matters
/// where named ports resolve on it (ingress), through the policies evaluated before the two (a
/// flow they decide never reaches the tie), and to avoid a pod's traffic to itself, which the
/// admin tiers never see: two subjects per combination.
fn subjects<'e>(
    engine: &'e Engine,
    tied: &AdminPolicy,
    common: &[IdentityId],
    by_ports: bool,
) -> Vec<(IdentityId, Vec<&'e AdminPolicy>)> {
    // `applied` is in evaluation order, so the policies before the tie are one run of it.
    let before = |id: IdentityId| -> &'e [AdminSlot] {
        let applied = &engine.applied(id).admin;
        let key = |s: &AdminSlot| {
            let p = engine.admin_policy(*s);
            (p.tier, p.priority.unwrap_or(u32::MAX))
        };
        let tier_start = applied.partition_point(|s| key(s).0 < tied.tier);
        let tie_start =
            applied.partition_point(|s| key(s) < (tied.tier, tied.priority.unwrap_or(u32::MAX)));
        &applied[tier_start..tie_start.max(tier_start)]
    };
    let mut seen: FxHashMap<(Option<&[ContainerPort]>, &[AdminSlot]), usize> = FxHashMap::default();
    let mut out = Vec::new();
    for id in common {
        let ports = by_ports.then(|| representative(engine, *id).ports.as_slice());
        let slots = before(*id);
        let count = seen.entry((ports, slots)).or_default();
        if *count < 2 {
            *count += 1;
            out.push((*id, slots.iter().map(|s| engine.admin_policy(*s)).collect()));
        }
    }
    out
}

fn representative(engine: &Engine, id: IdentityId) -> &Pod {
    engine
        .cluster
        .pod(engine.identities()[id as usize].representative)
}

/// What both policies' peers see of a pod, and its ports where named ports resolve on it.
type GroupKey<'f> = (&'f [u64], &'f [u64], Option<&'f [ContainerPort]>);

/// The other ends worth trying: one pod per group that both policies' peers see alike (a pod
/// only one policy can match cannot make them disagree), then the addresses they name.
fn remotes(engine: &Engine, fa: &Footprint, fb: &Footprint, by_ports: bool) -> Vec<Endpoint> {
    let mut seen: FxHashSet<GroupKey> = FxHashSet::default();
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < fa.ids.len() && j < fb.ids.len() {
        match fa.ids[i].cmp(&fb.ids[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let pod = representative(engine, fa.ids[i]);
                let ports = by_ports.then_some(pod.ports.as_slice());
                if seen.insert((fa.bits_of(i), fb.bits_of(j), ports)) {
                    out.push(Endpoint::Pod(
                        engine.identities()[fa.ids[i] as usize].representative,
                    ));
                }
                i += 1;
                j += 1;
            }
        }
    }
    let mut addresses: Vec<IpAddr> = fa.addresses.iter().chain(&fb.addresses).copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    let mut seen: FxHashSet<Vec<bool>> = FxHashSet::default();
    for ip in addresses {
        let end = engine.normalize(Endpoint::Address(ip));
        let remote = engine.remote(end);
        let key: Vec<bool> = fa
            .peers
            .iter()
            .chain(&fb.peers)
            .map(|p| peer_matches(engine, p, &remote))
            .collect();
        if seen.insert(key) {
            out.push(end);
        }
    }
    out
}

/// Every port class the rules can tell apart, per protocol: each port and range start (and
/// named port resolved on the destination), then the port after each end, then a default for
/// the ports no rule names. Explicit ports come first so examples use them.
fn candidate_ports(rules: &[&AdminRule], destination: Option<&Pod>) -> Vec<(Protocol, u16)> {
    let mut named_first = Vec::new();
    let mut after = Vec::new();
    // Indexed by protocol; rules name only those with ports.
    let mut lowest = [u16::MAX; Protocol::ALL.len()];
    let mut note = |protocol: Protocol, start: u16, end: u16, first: &mut Vec<(Protocol, u16)>| {
        first.push((protocol, start));
        if let Some(next) = end.checked_add(1) {
            after.push((protocol, next));
        }
        let slot = &mut lowest[protocol as usize];
        *slot = (*slot).min(start);
    };
    for port in rules.iter().flat_map(|r| r.ports.iter().flatten()) {
        match port {
            PortMatch::Port { protocol, port } => note(*protocol, *port, *port, &mut named_first),
            PortMatch::Range {
                protocol,
                start,
                end,
            } => note(*protocol, *start, *end, &mut named_first),
            PortMatch::AllPorts { .. } => {}
            PortMatch::Named { name, protocol } => {
                for cp in destination.iter().flat_map(|pod| &pod.ports) {
                    if cp.name == *name && protocol.is_none_or(|p| p == cp.protocol) {
                        note(cp.protocol, cp.port, cp.port, &mut named_first);
                    }
                }
            }
        }
    }
    let mut all = named_first;
    for protocol in Protocol::ALL {
        // The class below the lowest boundary: a familiar port when no rule names this protocol.
        let friendly = match protocol {
            Protocol::Tcp => 80,
            Protocol::Udp => 53,
            Protocol::Sctp => 9,
            // Portless: a rule matching ICMP has no ports, so matches TCP as well.
            Protocol::Icmp => continue,
        };
        let low = lowest[protocol as usize];
        all.push((protocol, if friendly < low { friendly } else { 1 }));
    }
    all.extend(after);
    let mut seen = FxHashSet::default();
    all.retain(|p| seen.insert(*p));
    all
}
