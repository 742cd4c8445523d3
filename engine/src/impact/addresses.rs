//! The addresses impact compares, in classes that every policy of both states treats alike:
//! node addresses, grouped by their node's labels and the policy CIDRs that contain them; and
//! every other address that is no pod's and no node's, in regions between the CIDRs the policies
//! mention (the rest of the address space included), each region stood for by one address.

use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::nodes::Place;
use crate::cidr_index::CidrIndex;
use crate::engine::Engine;
use crate::selector::Labels;

/// Addresses the policies of both states cannot tell apart, but for the own-node rule.
#[derive(Debug)]
pub(crate) struct AddressClass {
    /// Node addresses with their node in each state; or the one address standing for a region.
    pub members: Vec<(IpAddr, Place)>,
    /// How the report names the class.
    pub label: Rc<str>,
    /// Node addresses: the own-node rule applies to them.
    pub on_node: bool,
}

pub(crate) fn classes(before: &Engine, after: &Engine) -> Vec<AddressClass> {
    let mut nets: Vec<IpNet> = before.cidrs_mentioned();
    nets.extend(after.cidrs_mentioned());
    let mut nets: Vec<IpNet> = nets.iter().map(IpNet::trunc).collect();
    nets.sort_unstable();
    nets.dedup();
    let engines = [before, after];
    let is_pod = |ip: &IpAddr| engines.iter().any(|e| e.cluster.pod_by_ip(ip).is_some());
    let is_node = |ip: &IpAddr| engines.iter().any(|e| e.cluster.node_by_ip(ip).is_some());
    let mut out = node_classes(before, after, &nets, is_pod);
    let (mut v4, mut v6) = (false, false);
    let mut family = |ip: IpAddr| match ip {
        IpAddr::V4(_) => v4 = true,
        IpAddr::V6(_) => v6 = true,
    };
    nets.iter().for_each(|n| family(n.network()));
    for engine in engines {
        let nodes = engine.cluster.nodes.iter().flat_map(|n| &n.addresses);
        let pods = engine.cluster.pods.iter().filter_map(|p| p.ips.first());
        nodes.chain(pods).for_each(|ip| family(*ip));
    }
    // Without any address in the input, the cluster is taken to be IPv4.
    let roots: [Option<IpNet>; 2] = [
        (v4 || !v6).then(|| "0.0.0.0/0".parse().expect("a CIDR")),
        v6.then(|| "::/0".parse().expect("a CIDR")),
    ];
    nets.extend(roots.into_iter().flatten());
    for (ip, label) in regions(nets, |ip| is_pod(ip) || is_node(ip)) {
        out.push(AddressClass {
            members: vec![(ip, (None, None))],
            label: Rc::from(label),
            on_node: false,
        });
    }
    out
}

/// Node addresses by what policies see of them: the CIDRs containing them and their node's
/// labels, in each state. An address that is also a pod's is the pod's.
fn node_classes(
    before: &Engine,
    after: &Engine,
    nets: &[IpNet],
    is_pod: impl Fn(&IpAddr) -> bool,
) -> Vec<AddressClass> {
    let index = CidrIndex::new(nets.iter());
    let mut addresses: Vec<IpAddr> = [before, after]
        .iter()
        .flat_map(|e| {
            e.cluster
                .nodes
                .iter()
                .flat_map(|n| n.addresses.iter().copied())
        })
        .filter(|ip| !is_pod(ip))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    type Key<'a> = (Vec<u32>, Option<&'a Labels>, Option<&'a Labels>);
    let mut by_key: FxHashMap<Key, usize> = FxHashMap::default();
    let mut groups: Vec<Vec<(IpAddr, Place)>> = Vec::new();
    for ip in addresses {
        let place = (
            before.cluster.node_by_ip(&ip),
            after.cluster.node_by_ip(&ip),
        );
        let key = (
            index.signature(&ip),
            place.0.map(|n| &before.cluster.nodes[n as usize].labels),
            place.1.map(|n| &after.cluster.nodes[n as usize].labels),
        );
        let group = *by_key.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push((ip, place));
    }
    groups
        .into_iter()
        .map(|members| {
            let (ip, (b, a)) = members[0];
            let name = |engine: &Engine, n: u32| engine.cluster.nodes[n as usize].name.clone();
            let node = a
                .map(|n| name(after, n))
                .or_else(|| b.map(|n| name(before, n)))
                .unwrap_or_default();
            let label = match members.len() {
                1 => format!("{ip} (node {node})"),
                n => format!("{ip} (node {node}) and {} other node addresses", n - 1),
            };
            AddressClass {
                members,
                label: Rc::from(label),
                on_node: true,
            }
        })
        .collect()
}

/// One address per region of the address space that the CIDRs (which nest or are disjoint, and
/// include a root per family) cut out: a CIDR minus the narrower CIDRs inside it. Addresses
/// `taken` (pods', nodes') are not picked; a region made only of them, or covered by narrower
/// CIDRs, has none. Each comes with a label: the CIDR, or "rest of" it when narrower ones are cut
/// out.
fn regions(mut nets: Vec<IpNet>, taken: impl Fn(&IpAddr) -> bool) -> Vec<(IpAddr, String)> {
    nets.sort_unstable();
    nets.dedup();
    // Sorted by network then prefix, a CIDR follows every CIDR that contains it.
    let mut children: Vec<Vec<IpNet>> = vec![Vec::new(); nets.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        while open.last().is_some_and(|top| !nets[*top].contains(net)) {
            open.pop();
        }
        if let Some(parent) = open.last() {
            children[*parent].push(*net);
        }
        open.push(i);
    }
    let mut out = Vec::new();
    for (net, children) in nets.iter().zip(&children) {
        let outside_children = |ip: &IpAddr| !children.iter().any(|c| c.contains(ip));
        let first = if net.prefix_len() == net.max_prefix_len() {
            Some(net.network())
        } else {
            next(net.network())
        };
        // Outside every CIDR, an example from the ranges reserved for documentation (RFC 5737,
        // RFC 3849) reads better than 0.0.0.1.
        let documentation: Option<IpAddr> = match net {
            IpNet::V4(_) if net.prefix_len() == 0 => "203.0.113.1".parse().ok(),
            IpNet::V6(_) if net.prefix_len() == 0 => "2001:db8::1".parse().ok(),
            _ => None,
        };
        let mut starts = documentation
            .into_iter()
            .chain(first)
            .chain(children.iter().filter_map(|c| next(c.broadcast())));
        let pick = starts.find_map(|start| {
            std::iter::successors(Some(start), |ip| next(*ip))
                .take(16)
                .take_while(|ip| net.contains(ip))
                .find(|ip| outside_children(ip) && !taken(ip))
        });
        if let Some(ip) = pick {
            let label = if children.is_empty() {
                net.to_string()
            } else {
                format!("rest of {net}")
            };
            out.push((ip, label));
        }
    }
    out
}

fn next(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => u32::from(v4).checked_add(1).map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(v6) => u128::from(v6).checked_add(1).map(|n| IpAddr::V6(n.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_between_nested_cidrs_gets_an_address_of_its_own() {
        let nets: Vec<IpNet> = [
            "0.0.0.0/0",
            "10.0.0.0/16",
            "10.0.0.0/24",
            "10.0.1.0/24",
            "192.168.0.0/30",
            "192.168.0.0/31",
            "192.168.0.2/31",
        ]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
        let taken = |ip: &IpAddr| *ip == "10.0.0.1".parse::<IpAddr>().unwrap();
        let got: Vec<(String, String)> = regions(nets, taken)
            .into_iter()
            .map(|(ip, label)| (ip.to_string(), label))
            .collect();
        #[rustfmt::skip]
        let want = [
            ("203.0.113.1", "rest of 0.0.0.0/0"),
            ("10.0.2.0", "rest of 10.0.0.0/16"),
            ("10.0.0.2", "10.0.0.0/24"),
            ("10.0.1.1", "10.0.1.0/24"),
            ("192.168.0.1", "192.168.0.0/31"),
            ("192.168.0.3", "192.168.0.2/31"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(ip, label)| (ip.to_string(), label.to_string()))
            .collect();
        // 192.168.0.0/30 is covered by its two halves: no region of its own.
        assert_eq!(got, want);
    }
}
