//! The nftables backend: one table of our own, replaced whole in one `nft -f` transaction,
//! queueing new connections from or to the local selected pods with the native `queue`
//! statement. Used only when the kernel has the queue expression (`probe`).

use std::fmt::Write;
use std::net::IpAddr;

use super::command::run;
use super::{Backend, Connection, Kernel, KernelError, RuleSet, conntrack};

pub const TABLE: &str = "netpol_enforcer";

/// Asks the kernel, without changing anything (`nft --check` runs the transaction and aborts
/// it), whether it accepts a rule with the queue statement.
pub fn probe() -> Result<(), KernelError> {
    let table = format!("netpol_probe_{}", std::process::id());
    let text = format!(
        "table inet {table} {{\n chain c {{ type filter hook forward priority 0; policy accept;\n  ip daddr 192.0.2.1 queue num 0 bypass\n }}\n}}\n"
    );
    run("nft", &["--check", "-f", "-"], Some(&text)).map(drop)
}

#[derive(Debug, Default)]
pub struct Nftables;

/// The `nft -f` input that replaces the table.
pub fn render(rules: &RuleSet) -> String {
    let mut flags = Vec::new();
    if rules.fail_open {
        flags.push("bypass");
    }
    let queue = if rules.queues.count <= 1 {
        format!("queue num {}", rules.queues.first)
    } else {
        // By the CPU the packet arrived on, as the threads are pinned.
        flags.push("fanout");
        format!("queue num {}-{}", rules.queues.first, rules.queues.last())
    };
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" {}", flags.join(","))
    };
    let elements = |set: &std::collections::BTreeSet<IpAddr>, v4: bool| {
        set.iter()
            .filter(|ip| ip.is_ipv4() == v4)
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Creating then deleting makes the first install and every later one the same text.
    let mut text =
        format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
    let queued = &rules.queued;
    let sets = [
        ("egress4", "ipv4_addr", &queued.egress, true, "ip saddr"),
        ("ingress4", "ipv4_addr", &queued.ingress, true, "ip daddr"),
        ("egress6", "ipv6_addr", &queued.egress, false, "ip6 saddr"),
        ("ingress6", "ipv6_addr", &queued.ingress, false, "ip6 daddr"),
    ];
    for (name, kind, set, v4, _) in sets {
        let _ = write!(text, " set {name} {{ type {kind};");
        let list = elements(set, v4);
        if !list.is_empty() {
            let _ = write!(text, " elements = {{ {list} }};");
        }
        text.push_str(" }\n");
    }
    text.push_str(" chain forward {\n  type filter hook forward priority 0; policy accept;\n  ct state != new accept\n");
    for (name, _, _, _, matches) in sets {
        let _ = writeln!(text, "  {matches} @{name} {queue}{flags}");
    }
    text.push_str(" }\n}\n");
    text
}

impl Kernel for Nftables {
    fn backend(&self) -> Backend {
        Backend::Nftables
    }

    fn install(&self, rules: &RuleSet) -> Result<(), KernelError> {
        run("nft", &["-f", "-"], Some(&render(rules))).map(drop)
    }

    fn remove(&self) -> Result<(), KernelError> {
        let text = format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n");
        run("nft", &["-f", "-"], Some(&text)).map(drop)
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

    #[test]
    fn renders_sets_and_queue_rules() {
        let rules = RuleSet {
            queues: Queues { first: 0, count: 2 },
            fail_open: true,
            queued: crate::kernel::Queued {
                egress: ["10.0.0.2", "fd00::2"]
                    .iter()
                    .map(|a| a.parse().unwrap())
                    .collect(),
                ingress: ["10.0.0.2", "10.0.0.3"]
                    .iter()
                    .map(|a| a.parse().unwrap())
                    .collect(),
            },
        };
        let text = render(&rules);
        for expected in [
            "set egress4 { type ipv4_addr; elements = { 10.0.0.2 }; }",
            "set ingress4 { type ipv4_addr; elements = { 10.0.0.2, 10.0.0.3 }; }",
            "set egress6 { type ipv6_addr; elements = { fd00::2 }; }",
            "set ingress6 { type ipv6_addr; }",
            "ip saddr @egress4 queue num 0-1 bypass,fanout",
            "ip daddr @ingress4 queue num 0-1 bypass,fanout",
            "ip6 saddr @egress6 queue num 0-1 bypass,fanout",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(
            text.starts_with("table inet netpol_enforcer {}\ndelete table inet netpol_enforcer\n")
        );
    }
}
