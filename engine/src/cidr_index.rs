//! Which policy CIDRs contain an address: the part of an IP that policies can tell apart.

use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

/// All CIDRs (and exceptions) the policies mention, looked up by prefix length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrIndex {
    by_prefix: Vec<(u8, bool, FxHashMap<IpNet, u32>)>,
    count: u32,
}

impl CidrIndex {
    pub fn new<'a>(cidrs: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut index = Self::default();
        let mut all: Vec<IpNet> = cidrs.into_iter().map(IpNet::trunc).collect();
        all.sort();
        all.dedup();
        for net in all {
            let v6 = matches!(net, IpNet::V6(_));
            let prefix = net.prefix_len();
            let slot = match index
                .by_prefix
                .iter()
                .position(|(p, six, _)| *p == prefix && *six == v6)
            {
                Some(slot) => slot,
                None => {
                    index.by_prefix.push((prefix, v6, FxHashMap::default()));
                    index.by_prefix.len() - 1
                }
            };
            index.by_prefix[slot].2.insert(net, index.count);
            index.count += 1;
        }
        index
    }

    /// The sorted ids of the CIDRs containing `ip`: equal signatures mean no policy can tell
    /// the two addresses apart.
    pub fn signature(&self, ip: &IpAddr) -> Vec<u32> {
        let v6 = ip.is_ipv6();
        let mut ids: Vec<u32> = self
            .by_prefix
            .iter()
            .filter(|(_, six, _)| *six == v6)
            .filter_map(|(prefix, _, nets)| {
                let net = IpNet::new(*ip, *prefix).ok()?.trunc();
                nets.get(&net).copied()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
