//! The iptables(-nft) backend: one dedicated chain per family, jumped to from FORWARD for new
//! connections only, holding one `NFQUEUE` rule per queued address and direction. The chain is
//! rewritten whole with `iptables-restore --noflush`, which replaces it in one transaction.

use std::fmt::Write;
use std::net::IpAddr;

use super::command::run;
use super::{Backend, Connection, Kernel, KernelError, RuleSet, conntrack};

pub const CHAIN: &str = "NETPOL-ENFORCER";

/// Pod-to-pod and node-to-remote-pod traffic crosses FORWARD on a routed node. Traffic between
/// a pod and its own node (INPUT/OUTPUT) is never queued: the NetworkPolicy documentation keeps
/// it allowed (kubelet probes).
const JUMP: [&str; 8] = [
    "FORWARD",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    CHAIN,
    "-w",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn tools(self) -> (&'static str, &'static str) {
        match self {
            Self::V4 => ("iptables", "iptables-restore"),
            Self::V6 => ("ip6tables", "ip6tables-restore"),
        }
    }

    fn host_prefix(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }

    fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }
}

#[derive(Debug, Default)]
pub struct Iptables;

/// The `iptables-restore --noflush` input that replaces the chain's rules for one family.
pub fn render(rules: &RuleSet, family: Family) -> String {
    let target = if rules.queues.count <= 1 {
        format!("NFQUEUE --queue-num {}", rules.queues.first)
    } else {
        format!(
            "NFQUEUE --queue-balance {}:{} --queue-cpu-fanout",
            rules.queues.first,
            rules.queues.last()
        )
    };
    let bypass = if rules.fail_open {
        " --queue-bypass"
    } else {
        ""
    };
    let prefix = family.host_prefix();
    // Declaring the chain in a --noflush restore empties it first.
    let mut text = format!("*filter\n:{CHAIN} - [0:0]\n");
    let queued = &rules.queued;
    for ip in queued
        .addresses()
        .iter()
        .filter(|ip| Family::of(ip) == family)
    {
        for (side, set) in [("-s", &queued.egress), ("-d", &queued.ingress)] {
            if set.contains(ip) {
                let _ = writeln!(text, "-A {CHAIN} {side} {ip}/{prefix} -j {target}{bypass}");
            }
        }
    }
    text.push_str("COMMIT\n");
    text
}

impl Iptables {
    fn install_family(&self, rules: &RuleSet, family: Family) -> Result<(), KernelError> {
        let (tool, restore) = family.tools();
        run(restore, &["-w", "--noflush"], Some(&render(rules, family)))?;
        let mut check = vec!["-C"];
        check.extend(JUMP);
        if run(tool, &check, None).is_err() {
            let mut insert = vec!["-I"];
            insert.extend(JUMP);
            run(tool, &insert, None)?;
        }
        Ok(())
    }

    fn remove_family(&self, family: Family) -> Result<(), KernelError> {
        let (tool, _) = family.tools();
        let mut delete = vec!["-D"];
        delete.extend(JUMP);
        while run(tool, &delete, None).is_ok() {}
        if run(tool, &["-w", "-L", CHAIN, "-n"], None).is_ok() {
            run(tool, &["-w", "-F", CHAIN], None)?;
            run(tool, &["-w", "-X", CHAIN], None)?;
        }
        Ok(())
    }
}

impl Kernel for Iptables {
    fn backend(&self) -> Backend {
        Backend::Iptables
    }

    fn install(&self, rules: &RuleSet) -> Result<(), KernelError> {
        self.install_family(rules, Family::V4)?;
        // IPv6 is best effort when the node has no IPv6 pods (ip6tables may be missing).
        match self.install_family(rules, Family::V6) {
            Err(e) if rules.queued.addresses().iter().any(IpAddr::is_ipv6) => Err(e),
            _ => Ok(()),
        }
    }

    fn remove(&self) -> Result<(), KernelError> {
        let v4 = self.remove_family(Family::V4);
        let _ = self.remove_family(Family::V6);
        v4
    }

    fn connections(&self) -> Result<Vec<Connection>, KernelError> {
        conntrack::list()
    }

    fn forget(&self, connections: &[Connection]) -> Result<(), KernelError> {
        conntrack::delete(connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Queues;

    fn rules(count: u16, fail_open: bool, addresses: &[&str]) -> RuleSet {
        let set: std::collections::BTreeSet<IpAddr> =
            addresses.iter().map(|a| a.parse().unwrap()).collect();
        RuleSet {
            queues: Queues { first: 0, count },
            fail_open,
            queued: crate::kernel::Queued {
                egress: set.clone(),
                ingress: set,
            },
        }
    }

    #[test]
    fn queues_each_direction_only_where_a_policy_affects_it() {
        let mut r = rules(1, true, &[]);
        r.queued.egress.insert("10.0.0.2".parse().unwrap());
        r.queued.ingress.insert("10.0.0.3".parse().unwrap());
        assert_eq!(
            render(&r, Family::V4),
            "*filter\n:NETPOL-ENFORCER - [0:0]\n\
             -A NETPOL-ENFORCER -s 10.0.0.2/32 -j NFQUEUE --queue-num 0 --queue-bypass\n\
             -A NETPOL-ENFORCER -d 10.0.0.3/32 -j NFQUEUE --queue-num 0 --queue-bypass\n\
             COMMIT\n"
        );
    }

    #[test]
    fn renders_one_chain_per_family() {
        let r = rules(4, true, &["10.0.0.2", "fd00::2"]);
        assert_eq!(
            render(&r, Family::V4),
            "*filter\n:NETPOL-ENFORCER - [0:0]\n\
             -A NETPOL-ENFORCER -s 10.0.0.2/32 -j NFQUEUE --queue-balance 0:3 --queue-cpu-fanout --queue-bypass\n\
             -A NETPOL-ENFORCER -d 10.0.0.2/32 -j NFQUEUE --queue-balance 0:3 --queue-cpu-fanout --queue-bypass\n\
             COMMIT\n"
        );
        let v6 = render(&rules(1, false, &["10.0.0.2", "fd00::2"]), Family::V6);
        assert!(v6.contains("-A NETPOL-ENFORCER -s fd00::2/128 -j NFQUEUE --queue-num 0\n"));
        assert!(!v6.contains("10.0.0.2"), "{v6}");
    }

    #[test]
    fn empty_set_still_declares_the_chain() {
        assert_eq!(
            render(&rules(1, true, &[]), Family::V4),
            "*filter\n:NETPOL-ENFORCER - [0:0]\nCOMMIT\n"
        );
    }
}
