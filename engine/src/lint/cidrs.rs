//! CIDRs: exceptions outside their block, the same CIDR twice in one rule (both read from the
//! raw objects, where the text and its place survive), and admin `networks` that also match
//! pods.

use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::raw::RawPolicy;
use super::{Check, Findings, Severity, peer_path};
use crate::cluster::PodId;
use crate::compile::parse_cidr;
use crate::engine::Engine;
use crate::model::{AdminPeer, Direction};

pub(super) const EXCEPT_OUTSIDE_CIDR: Check = Check {
    id: "except-outside-cidr",
    severity: Severity::Error,
    summary: "an ipBlock except entry that is not a strict subset of the block's cidr",
};

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

pub(super) fn check_raw(policies: &[RawPolicy], out: &mut Findings) {
    for policy in policies {
        for rule in &policy.rules {
            let mut seen: FxHashMap<IpNet, &str> = FxHashMap::default();
            for peer in &rule.peers {
                for (path, text) in &peer.cidrs {
                    let Ok(cidr) = parse_cidr(text) else { continue };
                    if let Some(first) = seen.get(&cidr) {
                        out.push(
                            &DUPLICATE_CIDR,
                            &policy.object,
                            Some(path.clone()),
                            format!(
                                "{cidr} already appears at {first} in the same rule; the repeat adds nothing"
                            ),
                        );
                    } else {
                        seen.insert(cidr, path);
                    }
                }
                let Some(Ok(cidr)) = peer.cidrs.first().map(|(_, t)| parse_cidr(t)) else {
                    continue;
                };
                for (path, text) in &peer.except {
                    let Ok(except) = parse_cidr(text) else {
                        continue;
                    };
                    let message = if except == cidr {
                        format!(
                            "except {except} equals the cidr: the block matches no address at all"
                        )
                    } else if !cidr.contains(&except) {
                        format!(
                            "except {except} is not inside cidr {cidr}: exceptions must be strict subsets of the block (the API server rejects it)"
                        )
                    } else {
                        continue;
                    };
                    out.push(
                        &EXCEPT_OUTSIDE_CIDR,
                        &policy.object,
                        Some(path.clone()),
                        message,
                    );
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
