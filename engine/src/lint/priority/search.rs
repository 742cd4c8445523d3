//! The flows worth trying for a tie, and the search over them. Candidates are found on
//! identities: the pods both policies' peers match, grouped by which peers match them (theirs and
//! those of the policies below the tie), the first address of each CIDR and node, and every port
//! boundary the rules mention, so the search is exhaustive over the given input. Only flows the
//! two give different actions are walked, in both orders, by the engine's own tier walk.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::super::index::{Index, PodSet};
use super::super::probe::{Probe, first_match, peer_matches};
use crate::cluster::{NodeId, PodId};
use crate::engine::{AdminSlot, Engine, IdentityId, NetpolSlot};
use crate::eval::matching::Remote;
use crate::eval::{Endpoint, Flow};
use crate::model::{
    AdminPeer, AdminPolicy, AdminRule, AdminTier, ContainerPort, Direction, NetPeer, NetworkPolicy,
    Pod, PortMatch, Protocol,
};
use crate::selector::Selector;

/// A flow two tied policies give different actions, with the direction's verdict in each order.
pub(in crate::lint) struct Example<'p> {
    pub direction: Direction,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
    pub port: u16,
    pub rule_a: &'p AdminRule,
    pub rule_b: &'p AdminRule,
    /// Allowed with `a` first, allowed with `b` first.
    pub allowed: [bool; 2],
}

/// What the search found in one direction: a flow whose verdict depends on the order, and
/// else the first flow the two give different actions (both orders agreeing).
#[derive(Default)]
pub(in crate::lint) struct Found<'p> {
    pub conflict: Option<Example<'p>>,
    pub latent: Option<Example<'p>>,
}

/// One of the two tied policies and its footprint in the direction.
pub(in crate::lint) type Side<'p, 'f> = (&'p AdminPolicy, &'f Footprint<'p>);

pub(in crate::lint) fn search<'p>(
    index: &Index<'p>,
    (a, fa): Side<'p, '_>,
    (b, fb): Side<'p, '_>,
    direction: Direction,
    common: &[IdentityId],
) -> Found<'p> {
    let engine = index.engine;
    let (rules_a, rules_b) = (a.rules(direction), b.rules(direction));
    let tied_ports: Vec<&PortMatch> = rules_a
        .iter()
        .chain(rules_b)
        .flat_map(|r| r.ports.iter().flatten())
        .collect();
    let named = |ports: &[&PortMatch]| ports.iter().any(|p| matches!(p, PortMatch::Named { .. }));
    let ingress = direction == Direction::Ingress;
    let tied = [a, b];
    let mut subjects = subjects(engine, tied, common, ingress && named(&tied_ports));
    let mut below = Below::new(engine, tied, direction, &subjects);
    if ingress && !named(&tied_ports) && named(&below.ports) {
        subjects = self::subjects(engine, tied, common, true);
        below = Below::new(engine, tied, direction, &subjects);
    }
    let mut ports = tied_ports;
    ports.extend(below.ports.iter().copied());
    let by_ports = named(&ports);
    // Nodes where the subjects tried run: NetworkPolicy never isolates a pod from its node.
    let hosts: FxHashSet<NodeId> = subjects
        .iter()
        .flat_map(|(id, _)| &engine.identities()[*id as usize].members)
        .filter_map(|m| engine.cluster.pod_node[*m as usize])
        .collect();
    let mut found = Found::default();
    for remote_end in remotes(engine, fa, fb, &below, &hosts, !ingress && by_ports) {
        let remote = engine.remote(remote_end);
        for (subject, before) in &subjects {
            for subject_pod in subject_pods(engine, *subject, remote_end, remote.node) {
                let destination: Option<&Pod> = match direction {
                    Direction::Ingress => Some(engine.cluster.pod(subject_pod)),
                    Direction::Egress => remote.pod.map(|(_, p)| p),
                };
                for (protocol, port) in candidate_ports(&ports, destination) {
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
                    if x.action == y.action
                        || before
                            .iter()
                            .any(|p| first_match(engine, p.rules(direction), &probe).is_some())
                    {
                        continue;
                    }
                    let (src, dst) = match direction {
                        Direction::Ingress => (remote_end, Endpoint::Pod(subject_pod)),
                        Direction::Egress => (Endpoint::Pod(subject_pod), remote_end),
                    };
                    let flow = Flow {
                        src,
                        dst,
                        protocol,
                        port,
                    };
                    let walk = |order| {
                        engine
                            .direction_ordered(direction, &flow, Some(order), &mut ())
                            .allowed
                    };
                    let example = Example {
                        direction,
                        src,
                        dst,
                        protocol,
                        port,
                        rule_a: x,
                        rule_b: y,
                        allowed: [walk((a, b)), walk((b, a))],
                    };
                    if example.allowed[0] != example.allowed[1] {
                        found.conflict = Some(example);
                        return found;
                    }
                    found.latent.get_or_insert(example);
                }
            }
        }
    }
    found
}

/// The members of a subject identity worth trying against one other end: never the other end
/// itself (a pod's traffic to itself is exempt), and when that end stands on a node, one
/// member on that node and one elsewhere (NetworkPolicy never isolates a pod from its own
/// node).
fn subject_pods(
    engine: &Engine,
    subject: IdentityId,
    remote_end: Endpoint,
    node: Option<NodeId>,
) -> Vec<PodId> {
    let members = engine.identities()[subject as usize]
        .members
        .iter()
        .copied()
        .filter(|m| Endpoint::Pod(*m) != remote_end);
    let Some(node) = node else {
        return members.take(1).collect();
    };
    let on = |m: &PodId| engine.cluster.pod_node[*m as usize] == Some(node);
    let mut out: Vec<PodId> = members.clone().filter(on).take(1).collect();
    out.extend(members.filter(|m| !on(m)).take(1));
    out
}

/// The subjects worth trying, with the policies each meets before the tie in its tier. The
/// subject matters where named ports resolve on it (ingress), through the policies evaluated
/// before the two (a flow they decide never reaches the tie) and after them (they make the
/// verdict), and to avoid a pod's traffic to itself, which no tier sees: two subjects per
/// combination.
fn subjects<'e>(
    engine: &'e Engine,
    [tied, other]: [&AdminPolicy; 2],
    common: &[IdentityId],
    by_ports: bool,
) -> Vec<(IdentityId, Vec<&'e AdminPolicy>)> {
    // `applied` is in evaluation order, so the policies before the tie are one run of it (an
    // older version of one of the two may sit there: the tie replaces it).
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
    type Key<'k> = (
        Option<&'k [ContainerPort]>,
        &'k [AdminSlot],
        &'k [NetpolSlot],
    );
    let mut seen: FxHashMap<Key, usize> = FxHashMap::default();
    let mut out = Vec::new();
    for id in common {
        let ports = by_ports.then(|| representative(engine, *id).ports.as_slice());
        let applied = engine.applied(*id);
        let count = seen
            .entry((ports, &applied.admin, &applied.netpols))
            .or_default();
        if *count < 2 {
            *count += 1;
            let before = before(*id)
                .iter()
                .map(|s| engine.admin_policy(*s))
                .filter(|p| p.id != tied.id && p.id != other.id);
            out.push((*id, before.collect()));
        }
    }
    out
}

fn representative(engine: &Engine, id: IdentityId) -> &Pod {
    engine
        .cluster
        .pod(engine.identities()[id as usize].representative)
}

/// What the policies below a tie look at, for the subjects tried: the peers and ports of the
/// NetworkPolicies that isolate them in the direction and, below an Admin tie, of the baseline
/// policies (below a Baseline tie there is only the default).
struct Below<'e> {
    net: Vec<(&'e NetworkPolicy, &'e NetPeer)>,
    admin: Vec<&'e AdminPeer>,
    ports: Vec<&'e PortMatch>,
    addresses: Vec<IpAddr>,
}

impl<'e> Below<'e> {
    fn new(
        engine: &'e Engine,
        tied: [&AdminPolicy; 2],
        direction: Direction,
        subjects: &[(IdentityId, Vec<&'e AdminPolicy>)],
    ) -> Self {
        let tier = tied[0].tier;
        let mut netpols: Vec<NetpolSlot> = Vec::new();
        let mut baseline: Vec<AdminSlot> = Vec::new();
        for (id, _) in subjects {
            let applied = engine.applied(*id);
            netpols.extend(&applied.netpols);
            if tier == AdminTier::Admin {
                baseline.extend(applied.admin.iter().filter(|s| {
                    let policy = engine.admin_policy(**s);
                    policy.tier == AdminTier::Baseline && tied.iter().all(|t| t.id != policy.id)
                }));
            }
        }
        for slots in [&mut netpols, &mut baseline] {
            slots.sort_unstable();
            slots.dedup();
        }
        let mut below = Self {
            net: Vec::new(),
            admin: Vec::new(),
            ports: Vec::new(),
            addresses: Vec::new(),
        };
        for slot in netpols {
            let policy = engine.network_policy(slot);
            for rule in policy.rules(direction).unwrap_or_default() {
                below.ports.extend(&rule.ports);
                for peer in rule.peers.iter().flatten() {
                    if let NetPeer::IpBlock(block) = peer {
                        below.addresses.push(block.cidr.network());
                        for except in &block.except {
                            below.addresses.push(except.network());
                            below.addresses.extend(next_address(except.broadcast()));
                        }
                    }
                    below.net.push((policy, peer));
                }
            }
        }
        for slot in baseline {
            for rule in engine.admin_policy(slot).rules(direction) {
                below.ports.extend(rule.ports.iter().flatten());
                for peer in &rule.peers {
                    if let AdminPeer::Networks(blocks) = peer {
                        below
                            .addresses
                            .extend(blocks.iter().map(|b| b.cidr.network()));
                    }
                    below.admin.push(peer);
                }
            }
        }
        below
    }

    /// Which of the peers below the tie match the other end.
    fn key(&self, engine: &Engine, remote: &Remote) -> Vec<bool> {
        let net = self
            .net
            .iter()
            .map(|(policy, peer)| engine.net_peer_matches(policy, peer, remote));
        let admin = self.admin.iter().map(|p| peer_matches(engine, p, remote));
        net.chain(admin).collect()
    }
}

fn next_address(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => u32::from(v4).checked_add(1).map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(v6) => u128::from(v6).checked_add(1).map(|n| IpAddr::V6(n.into())),
    }
}

/// What one policy's peers in one direction see of the other end: the pod identities some
/// peer matches, each with the set of peers that match it, and the addresses the peers name.
pub(in crate::lint) struct Footprint<'e> {
    peers: Vec<&'e AdminPeer>,
    ids: Vec<IdentityId>,
    /// `words` bits per identity of `ids`: which peers match it.
    bits: Vec<u64>,
    words: usize,
    addresses: Vec<IpAddr>,
}

impl<'e> Footprint<'e> {
    pub fn new(index: &Index<'e>, policy: &'e AdminPolicy, direction: Direction) -> Self {
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

/// What both policies' peers and the peers below the tie see of a pod, and its ports where
/// named ports resolve on it.
type GroupKey<'f> = (&'f [u64], &'f [u64], Vec<bool>, Option<&'f [ContainerPort]>);

/// The other ends worth trying: one pod per group that all the peers see alike (a pod only one
/// tied policy can match cannot make them disagree), then the addresses the peers name.
fn remotes(
    engine: &Engine,
    fa: &Footprint,
    fb: &Footprint,
    below: &Below,
    hosts: &FxHashSet<NodeId>,
    by_ports: bool,
) -> Vec<Endpoint> {
    let mut seen: FxHashSet<GroupKey> = FxHashSet::default();
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < fa.ids.len() && j < fb.ids.len() {
        match fa.ids[i].cmp(&fb.ids[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let end = Endpoint::Pod(engine.identities()[fa.ids[i] as usize].representative);
                let pod = representative(engine, fa.ids[i]);
                let ports = by_ports.then_some(pod.ports.as_slice());
                let below = below.key(engine, &engine.remote(end));
                if seen.insert((fa.bits_of(i), fb.bits_of(j), below, ports)) {
                    out.push(end);
                }
                i += 1;
                j += 1;
            }
        }
    }
    let mut addresses: Vec<IpAddr> = fa
        .addresses
        .iter()
        .chain(&fb.addresses)
        .chain(&below.addresses)
        .copied()
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    let mut seen: FxHashSet<(Vec<bool>, Option<bool>)> = FxHashSet::default();
    for ip in addresses {
        let end = engine.normalize(Endpoint::Address(ip));
        let remote = engine.remote(end);
        let mut key: Vec<bool> = fa
            .peers
            .iter()
            .chain(&fb.peers)
            .map(|p| peer_matches(engine, p, &remote))
            .collect();
        key.extend(below.key(engine, &remote));
        // A node that runs a subject is its own node to it, one that runs none is not.
        let node = remote.node.map(|n| hosts.contains(&n));
        if seen.insert((key, node)) {
            out.push(end);
        }
    }
    out
}

/// Every port class the rules can tell apart, per protocol: each port and range start (and
/// named port resolved on the destination), then the port after each end, then a default for
/// the ports no rule names, then ICMP (which only rules without ports match). Explicit ports
/// come first so examples use them.
fn candidate_ports(ports: &[&PortMatch], destination: Option<&Pod>) -> Vec<(Protocol, u16)> {
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
    for port in ports {
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
            Protocol::Icmp => continue,
        };
        let low = lowest[protocol as usize];
        all.push((protocol, if friendly < low { friendly } else { 1 }));
    }
    all.extend(after);
    // Portless: only rules without ports match it, and they match TCP too, so ICMP can differ
    // only through the rules below the tie (a baseline Deny without ports under Accepts on
    // every port).
    all.push((Protocol::Icmp, 0));
    let mut seen = FxHashSet::default();
    all.retain(|p| seen.insert(*p));
    all
}
