//! CIDRs: the same CIDR twice in one rule, and admin `networks` that also match pods. (An
//! `except` outside its block is invalid: compilation refuses it.)

use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::{Check, Findings, Severity, peer_path};
use crate::cluster::PodId;
use crate::engine::Engine;
use crate::model::{AdminPeer, Direction, NetPeer};

pub(super) const DUPLICATE_CIDR: Check = Check {
    id: "duplicate-cidr",
    severity: Severity::Warning,
    summary: "the same CIDR twice in one rule's peers",
};

pub(super) const NETWORKS_CAPTURE_PODS: Check = Check {
    id: "networks-capture-pods",
    severity: Severity::Warning,
    summary: "an admin networks peer (0.0.0.0/0, ::/0, or a CIDR holding pod IPs) that also matches pod traffic",
};

/// Every CIDR of each rule with its field path, in the order written: a policy that compiled
/// kept every peer and network at its index.
fn rule_cidrs(engine: &Engine) -> Vec<(String, Vec<(String, IpNet)>)> {
    let mut rules = Vec::new();
    for (_, policy) in engine.network_policies() {
        for direction in [Direction::Ingress, Direction::Egress] {
            for rule in policy.rules(direction).unwrap_or_default() {
                let cidrs = rule
                    .peers
                    .iter()
                    .flatten()
                    .enumerate()
                    .filter_map(|(j, peer)| match peer {
                        NetPeer::IpBlock(block) => Some((
                            format!("{}.ipBlock.cidr", peer_path(direction, rule.index, j)),
                            block.cidr,
                        )),
                        NetPeer::Pods { .. } => None,
                    })
                    .collect();
                rules.push((policy.id.to_string(), cidrs));
            }
        }
    }
    for (_, policy) in engine.admin_policies() {
        for rule in &policy.egress {
            let mut cidrs = Vec::new();
            for (j, peer) in rule.peers.iter().enumerate() {
                if let AdminPeer::Networks(blocks) = peer {
                    let path = peer_path(Direction::Egress, rule.index, j);
                    cidrs.extend(
                        blocks
                            .iter()
                            .enumerate()
                            .map(|(k, b)| (format!("{path}.networks[{k}]"), b.cidr)),
                    );
                }
            }
            rules.push((policy.id.to_string(), cidrs));
        }
    }
    rules
}

pub(super) fn check_duplicates(engine: &Engine, out: &mut Findings) {
    for (object, cidrs) in rule_cidrs(engine) {
        let mut seen: FxHashMap<IpNet, &str> = FxHashMap::default();
        for (path, cidr) in &cidrs {
            match seen.get(cidr) {
                Some(first) => out.push(
                    &DUPLICATE_CIDR,
                    &object,
                    Some(path.clone()),
                    format!(
                        "{cidr} already appears at {first} in the same rule; the repeat adds nothing"
                    ),
                ),
                None => {
                    seen.insert(*cidr, path);
                }
            }
        }
    }
}

/// Pod-network addresses, sorted, for range look-ups.
struct PodAddresses(Vec<(IpAddr, PodId)>);

impl PodAddresses {
    fn new(engine: &Engine) -> Self {
        let mut all: Vec<(IpAddr, PodId)> = engine
            .cluster
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.host_network)
            .flat_map(|(id, p)| p.ips.iter().map(move |ip| (*ip, id as PodId)))
            .collect();
        all.sort_unstable();
        Self(all)
    }

    /// The pod with the lowest address inside `net`.
    fn first_in(&self, net: &IpNet) -> Option<(IpAddr, PodId)> {
        let at = self.0.partition_point(|(ip, _)| *ip < net.network());
        self.0.get(at).copied().filter(|(ip, _)| net.contains(ip))
    }
}

pub(super) fn check_networks(engine: &Engine, out: &mut Findings) {
    let pods = PodAddresses::new(engine);
    for (_, policy) in engine.admin_policies() {
        for rule in &policy.egress {
            for (j, peer) in rule.peers.iter().enumerate() {
                let AdminPeer::Networks(blocks) = peer else {
                    continue;
                };
                for (k, block) in blocks.iter().enumerate() {
                    let cidr = block.cidr;
                    let why = if cidr.prefix_len() == 0 {
                        format!("{cidr} matches every address, pod addresses included")
                    } else if let Some((ip, pod)) = pods.first_in(&cidr) {
                        format!(
                            "{cidr} contains pod addresses (e.g. {} at {ip})",
                            engine.cluster.pod(pod).key()
                        )
                    } else {
                        continue;
                    };
                    out.push(
                        &NETWORKS_CAPTURE_PODS,
                        &policy.id,
                        Some(format!(
                            "{}.networks[{k}]",
                            peer_path(Direction::Egress, rule.index, j)
                        )),
                        format!(
                            "{why}: networks peers match pod IPs too, so this {:?} rule also applies to traffic to pods, not only to destinations outside the cluster; \
                             if pods are not meant, narrow the CIDR or put a pods/namespaces rule before it",
                            rule.action
                        ),
                    );
                }
            }
        }
    }
}
