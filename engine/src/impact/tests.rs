//! Property test: random small clusters (pods on several nodes, host-network pods, node
//! addresses, addresses outside, policies of all four kinds with node and network peers, ports
//! and named ports) and one random policy change. The impact preview, expanded to every pair of
//! endpoints it stands for, must equal a brute-force comparison of `decide` before and after
//! over every ordered pair of endpoints and every port class; the public report's groups and
//! counts must agree with the same brute force.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use super::cells::{Cells, Pair, Remote, Unit};
use super::nodes::Relation;
use super::ports::PortClass;
use super::{ImpactOptions, Sink, changes, evaluate, impact};
use crate::engine::{Engine, Policy, compile_policies};
use crate::eval::{Endpoint, Flow};
use crate::model::{AdminPeer, NetPeer, PortMatch, Protocol};
use crate::{State, VerdictCache, read_str};

pub(crate) mod random;

use random::{OUTSIDE, Policies, Rng, Scenario, scenario};

const RUNS: u64 = 400;
const SEED: u64 = 0x05ee_d0f0_a0de;

/// The state of these objects; the generator makes only objects that load and compile.
fn load(objects: &[Value], policies: &Policies) -> Result<State, String> {
    let items: Vec<&Value> = objects.iter().chain(policies.values()).collect();
    let text = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    let loaded = read_str("random.json", &text, "default");
    if !loaded.errors.is_empty() || !loaded.skipped.is_empty() {
        return Err(format!("{:?} {:?}\n{text}", loaded.errors, loaded.skipped));
    }
    let state = State::from_loaded(&loaded);
    let (_, errors) = compile_policies(&state);
    if !errors.is_empty() {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(format!("{}\n{text}", errors.join("\n")));
    }
    Ok(state)
}

/// One end of a flow as the comparison names it: a pod by name, a node address, or a class of
/// other addresses (the impact region whose address lies in the same policy CIDRs).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum End {
    Pod(String),
    Node(IpAddr),
    Region(u32),
    /// An address no region of the preview covers.
    Unclassified(IpAddr),
}

/// (from, to, protocol, port) of a flow whose verdict changed, and whether it is now allowed.
type Changes = BTreeMap<(End, End, Protocol, u16), bool>;

/// The preview's changed units, as the evaluation reports them.
#[derive(Default)]
struct Recorder(Vec<(Pair, Relation, PortClass, bool)>);

impl Sink for Recorder {
    fn evaluated(&mut self) {}

    fn changed(&mut self, pair: &Pair, unit: &Unit, class: PortClass, now: bool, _: &Flow) {
        self.0.push((*pair, unit.relation, class, now));
    }
}

/// Every CIDR either state's policies mention, with the exceptions.
fn policy_nets(engines: [&Engine; 2]) -> Vec<IpNet> {
    let mut nets = Vec::new();
    for engine in engines {
        for (_, p) in engine.admin_policies() {
            for rule in p.ingress.iter().chain(&p.egress) {
                for peer in &rule.peers {
                    if let AdminPeer::Networks(blocks) = peer {
                        nets.extend(blocks.iter().map(|b| b.cidr));
                    }
                }
            }
        }
        for (_, p) in engine.network_policies() {
            let rules = p.ingress.iter().flatten().chain(p.egress.iter().flatten());
            for peer in rules.flat_map(|r| r.peers.iter().flatten()) {
                if let NetPeer::IpBlock(b) = peer {
                    nets.push(b.cidr);
                    nets.extend(&b.except);
                }
            }
        }
    }
    nets.sort_unstable();
    nets.dedup();
    nets
}

/// One port per class any policy or container port can draw, per protocol, and ICMP.
pub(crate) fn sample_ports(engines: [&Engine; 2]) -> Vec<(Protocol, u16)> {
    let mut points: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    let mut bound = |protocol: Protocol, start: u16, end: u16| {
        points.insert((protocol, start));
        if let Some(next) = end.checked_add(1) {
            points.insert((protocol, next));
        }
    };
    for engine in engines {
        let admin = engine.admin_policies().flat_map(|(_, p)| {
            let rules = p.ingress.iter().chain(&p.egress);
            rules
                .flat_map(|r| r.ports.iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
        });
        let network = engine.network_policies().flat_map(|(_, p)| {
            let rules = p.ingress.iter().flatten().chain(p.egress.iter().flatten());
            rules
                .flat_map(|r| r.ports.iter())
                .cloned()
                .collect::<Vec<_>>()
        });
        for port in admin.chain(network) {
            match port {
                PortMatch::Port { protocol, port } => bound(protocol, port, port),
                PortMatch::Range {
                    protocol,
                    start,
                    end,
                } => bound(protocol, start, end),
                PortMatch::AllPorts { .. } | PortMatch::Named { .. } => {}
            }
        }
        for pod in &engine.cluster.pods {
            for port in &pod.ports {
                bound(port.protocol, port.port, port.port);
            }
        }
    }
    for protocol in Protocol::ALL {
        points.insert((protocol, 1));
        points.insert((protocol, 65535));
    }
    points.insert((Protocol::Icmp, 0));
    points.into_iter().collect()
}

struct Run<'a> {
    before: &'a Engine,
    after: &'a Engine,
    cells: Cells,
    nets: Vec<IpNet>,
}

impl Run<'_> {
    /// Which policy CIDRs contain an address: equal vectors, same region.
    fn membership(&self, ip: &IpAddr) -> Vec<bool> {
        self.nets.iter().map(|n| n.contains(ip)).collect()
    }

    fn is_node_address(&self, ip: &IpAddr) -> bool {
        [self.before, self.after]
            .iter()
            .any(|e| e.cluster.node_by_ip(ip).is_some())
    }

    /// How the comparison names an address.
    fn address_end(&self, ip: IpAddr) -> End {
        if self.is_node_address(&ip) {
            return End::Node(ip);
        }
        let wanted = self.membership(&ip);
        let region =
            self.cells.addresses.iter().enumerate().find(|(_, class)| {
                !class.on_node && self.membership(&class.members[0].0) == wanted
            });
        match region {
            Some((id, _)) => End::Region(id as u32),
            None => End::Unclassified(ip),
        }
    }

    /// How the report labels an end (its workload, or its address class).
    fn label(&self, end: &End) -> String {
        match end {
            End::Pod(key) => {
                let (ns, name) = key.split_once('/').expect("ns/name");
                let id = self.after.cluster.pod_by_name(ns, name).expect("a pod");
                self.after.cluster.workload_name(id)
            }
            End::Node(ip) => self
                .cells
                .addresses
                .iter()
                .find(|c| c.members.iter().any(|(m, _)| m == ip))
                .map_or_else(|| ip.to_string(), |c| c.label.to_string()),
            End::Region(id) => self.cells.addresses[*id as usize].label.to_string(),
            End::Unclassified(ip) => ip.to_string(),
        }
    }

    /// Whether a flow's ends are a pod on the pod network and its own node (an address of
    /// it, or a host-network pod on it), in the after state.
    fn own_node(&self, from: &End, to: &End) -> bool {
        let cluster = &self.after.cluster;
        let place = |end: &End| -> Option<(bool, Option<u32>)> {
            match end {
                End::Pod(key) => {
                    let (ns, name) = key.split_once('/')?;
                    let id = cluster.pod_by_name(ns, name)?;
                    Some((cluster.pod(id).host_network, cluster.pod_node[id as usize]))
                }
                End::Node(ip) => Some((true, cluster.node_by_ip(ip))),
                _ => None,
            }
        };
        match (place(from), place(to)) {
            (Some((a_on_node, a)), Some((b_on_node, b))) => {
                a_on_node != b_on_node && a.is_some() && a == b
            }
            _ => false,
        }
    }

    fn end_of(&self, pair_end: Remote, endpoint: Endpoint) -> End {
        match (pair_end, endpoint) {
            (_, Endpoint::Pod(id)) => End::Pod(self.after.cluster.pod(id).key()),
            (Remote::Addresses(a), Endpoint::Address(_))
                if !self.cells.addresses[a as usize].on_node =>
            {
                End::Region(a)
            }
            (_, Endpoint::Address(ip)) => End::Node(ip),
        }
    }

    /// The preview's changes, every unit expanded to the member pairs it stands for, on every
    /// sample port of its class.
    fn expanded(
        &self,
        changes: &[changes::PolicyChange],
        ports: &[(Protocol, u16)],
    ) -> (Changes, Vec<String>, usize) {
        let mut recorder = Recorder::default();
        assert!(evaluate(
            self.before,
            self.after,
            &self.cells,
            changes,
            None,
            &mut recorder
        ));
        // Pairs and classes where some own-node relation changed and another did not.
        let mut relations: BTreeMap<(Pair, PortClass), usize> = BTreeMap::new();
        for (pair, relation, class, _) in &recorder.0 {
            if relation.is_some() {
                *relations.entry((*pair, *class)).or_default() += 1;
            }
        }
        let split = relations
            .iter()
            .filter(|((pair, _), changed)| **changed < self.cells.units(pair).len())
            .count();
        let mut out = Changes::new();
        let mut problems = Vec::new();
        for (pair, relation, class, now) in recorder.0 {
            let covered: Vec<u16> = ports
                .iter()
                .filter(|(p, n)| *p == class.protocol && (class.start..=class.end).contains(n))
                .map(|(_, n)| *n)
                .collect();
            if covered.is_empty() {
                problems.push(format!("class {class:?} holds no sample port"));
            }
            for (i, j) in self.cells.expand(&pair, relation) {
                let from = self.end_of(pair.src, self.cells.endpoints(pair.src, i).1);
                let to = self.end_of(pair.dst, self.cells.endpoints(pair.dst, j).1);
                for port in &covered {
                    let key = (from.clone(), to.clone(), class.protocol, *port);
                    if out.insert(key.clone(), now).is_some_and(|was| was != now) {
                        problems.push(format!("{key:?} reported both ways"));
                    }
                }
            }
        }
        (out, problems, split)
    }
}

/// Every endpoint of the comparison: pods (by their after id), node addresses, addresses outside
/// (the fixed ones and each region's own).
fn endpoints(run: &Run) -> Vec<(End, Endpoint, Endpoint)> {
    let (before, after) = (run.before, run.after);
    let mut out = Vec::new();
    for (id, pod) in after.cluster.pods.iter().enumerate() {
        let b = before
            .cluster
            .pod_by_name(&pod.namespace, &pod.name)
            .expect("the same pods");
        out.push((
            End::Pod(pod.key()),
            Endpoint::Pod(b),
            Endpoint::Pod(id as u32),
        ));
    }
    let mut addresses: BTreeSet<IpAddr> = after
        .cluster
        .nodes
        .iter()
        .flat_map(|n| n.addresses.iter().copied())
        .collect();
    addresses.extend(
        OUTSIDE
            .iter()
            .map(|ip| ip.parse::<IpAddr>().expect("an address")),
    );
    addresses.extend(
        run.cells
            .addresses
            .iter()
            .filter(|c| !c.on_node)
            .map(|c| c.members[0].0),
    );
    for ip in addresses {
        out.push((
            run.address_end(ip),
            Endpoint::Address(ip),
            Endpoint::Address(ip),
        ));
    }
    out
}

/// `decide` before and after over every ordered pair and sample port; the cache must agree.
fn brute_force(
    run: &Run,
    ends: &[(End, Endpoint, Endpoint)],
    ports: &[(Protocol, u16)],
) -> (Changes, Vec<String>) {
    let cache = VerdictCache::new(64);
    let mut out = Changes::new();
    let mut problems = Vec::new();
    for (from, src_b, src_a) in ends {
        for (to, dst_b, dst_a) in ends {
            if src_a == dst_a {
                continue;
            }
            for (protocol, port) in ports {
                let flow = |src: &Endpoint, dst: &Endpoint| Flow {
                    src: *src,
                    dst: *dst,
                    protocol: *protocol,
                    port: *port,
                };
                let was = run.before.decide(&flow(src_b, dst_b)).allowed;
                let decision = run.after.decide(&flow(src_a, dst_a));
                if cache.decide(run.after, &flow(src_a, dst_a)) != decision {
                    problems.push(format!(
                        "the cache disagrees with decide on {from:?} -> {to:?} {protocol}/{port}"
                    ));
                }
                if was != decision.allowed {
                    out.insert(
                        (from.clone(), to.clone(), *protocol, *port),
                        decision.allowed,
                    );
                }
            }
        }
    }
    (out, problems)
}

/// The public report against brute force: for every group and every sample port of its range,
/// the pairs with its labels that changed its way number its count; every change is in a group.
fn report_problems(run: &Run, truth: &Changes, ports: &[(Protocol, u16)]) -> Vec<String> {
    let result = impact(run.before, run.after, &ImpactOptions::default());
    let mut problems = Vec::new();
    if !result.complete {
        problems.push("incomplete".into());
    }
    let mut by_labels: BTreeMap<(String, String, Protocol, u16, bool), u64> = BTreeMap::new();
    for ((from, to, protocol, port), now) in truth {
        *by_labels
            .entry((run.label(from), run.label(to), *protocol, *port, *now))
            .or_default() += 1;
    }
    // Groups of one label pair may overlap (their cells draw different port classes): on each
    // port, the groups covering it add up.
    let mut reported: BTreeMap<(String, String, Protocol, u16, bool), u64> = BTreeMap::new();
    for (groups, now) in [(&result.newly_denied, false), (&result.newly_allowed, true)] {
        for g in groups {
            for (protocol, port) in ports {
                if *protocol == g.protocol && (g.port_start..=g.port_end).contains(port) {
                    let key = (g.from.clone(), g.to.clone(), *protocol, *port, now);
                    *reported.entry(key).or_default() += g.count;
                }
            }
        }
    }
    for key in by_labels
        .keys()
        .chain(reported.keys())
        .collect::<BTreeSet<_>>()
    {
        let (said, actual) = (reported.get(key), by_labels.get(key));
        if said != actual {
            problems.push(format!(
                "{key:?}: the report counts {said:?}, brute force {actual:?}"
            ));
        }
    }
    let sum = |groups: &[super::ImpactGroup]| groups.iter().map(|g| g.count).sum::<u64>();
    if sum(&result.newly_denied) != result.newly_denied_count
        || sum(&result.newly_allowed) != result.newly_allowed_count
    {
        problems.push("totals are not the sums of the groups".into());
    }
    problems
}

/// What a run exercised: flows that changed, and those among them between a pod and its own
/// node (a node address or a host-network pod on the pod's node).
#[derive(Default)]
struct Exercised {
    changed: usize,
    own_node: usize,
    /// Pairs of the preview where the own-node relation made a difference.
    split: usize,
}

/// One random state and change; the problems found, with what it takes to read them.
fn check(seed: u64) -> Result<Exercised, String> {
    let Scenario {
        objects,
        before: policies,
        after: next,
        change,
    } = scenario(seed);
    let before_state = load(&objects, &policies).map_err(|e| format!("seed {seed:#x}: {e}"))?;
    let after_state = load(&objects, &next).map_err(|e| format!("seed {seed:#x}: {e}"))?;
    let before = Engine::build(&before_state).engine;
    // Half the runs share the topology as the webhook does (with_changes), half build the new
    // state apart as `kubectl netpol diff` does.
    let after = if seed.is_multiple_of(2) {
        let (upserts, _) = compile_policies(&after_state);
        let kept: BTreeSet<_> = upserts.iter().map(|p: &Policy| p.id().clone()).collect();
        let removals: Vec<_> = compile_policies(&before_state)
            .0
            .iter()
            .map(|p| p.id().clone())
            .filter(|id| !kept.contains(id))
            .collect();
        before.with_changes(upserts, &removals)
    } else {
        Engine::build(&after_state).engine
    };
    let run = Run {
        cells: Cells::new(&before, &after),
        nets: policy_nets([&before, &after]),
        before: &before,
        after: &after,
    };
    let ports = sample_ports([&before, &after]);
    let changes = changes::policy_changes(&before, &after);
    let (claimed, mut problems, split) = run.expanded(&changes, &ports);
    let ends = endpoints(&run);
    let (truth, cache_problems) = brute_force(&run, &ends, &ports);
    problems.extend(cache_problems);
    for (key, now) in &truth {
        match claimed.get(key) {
            Some(said) if said == now => {}
            Some(_) => problems.push(format!("{key:?}: the preview says the other way")),
            None => problems.push(format!("{key:?}: now {now}, the preview misses it")),
        }
    }
    for (key, now) in &claimed {
        if !truth.contains_key(key) {
            problems.push(format!(
                "{key:?}: the preview says now {now}, but it did not change"
            ));
        }
    }
    problems.extend(report_problems(&run, &truth, &ports));
    if problems.is_empty() {
        let own_node = truth
            .keys()
            .filter(|(from, to, _, _)| run.own_node(from, to))
            .count();
        return Ok(Exercised {
            changed: truth.len(),
            own_node,
            split,
        });
    }
    let mut text = format!("seed {seed:#x}: {change}; {} problems:\n", problems.len());
    for p in problems.iter().take(12) {
        let _ = writeln!(text, "  {p}");
    }
    let _ = writeln!(
        text,
        "before: {}",
        serde_json::to_string(&policies.values().collect::<Vec<_>>()).unwrap_or_default()
    );
    let _ = writeln!(
        text,
        "after: {}",
        serde_json::to_string(&next.values().collect::<Vec<_>>()).unwrap_or_default()
    );
    let _ = writeln!(
        text,
        "topology: {}",
        serde_json::to_string(&objects).unwrap_or_default()
    );
    Err(text)
}

#[test]
fn the_preview_equals_brute_force_on_random_changes() {
    let mut seeds = Rng(SEED);
    let mut failures = Vec::new();
    let (mut changed, mut own_node, mut split) = (0, 0, 0);
    for _ in 0..RUNS {
        match check(seeds.next()) {
            Ok(exercised) => {
                changed += usize::from(exercised.changed > 0);
                own_node += usize::from(exercised.own_node > 0);
                split += usize::from(exercised.split > 0);
            }
            Err(report) => failures.push(report),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Not vacuous: most changes change flows; many change flows between a pod and its own node,
    // and many change some flows of a pod and not the same flows of a pod on another node.
    println!(
        "{RUNS} runs: {changed} changed flows, {own_node} flows with a pod's own node, \
         {split} flows the own-node rule told apart"
    );
    assert!(
        changed >= RUNS as usize * 2 / 5,
        "{changed} runs changed flows"
    );
    assert!(
        own_node >= RUNS as usize / 20,
        "{own_node} runs changed own-node flows"
    );
    assert!(
        split >= RUNS as usize / 20,
        "{split} runs told pods apart by node"
    );
}
