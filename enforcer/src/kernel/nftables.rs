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
    let queue = if rules.queues.count <= 1 {
        format!("queue num {}", rules.queues.first)
    } else {
        format!("queue num {}-{}", rules.queues.first, rules.queues.last())
    };
    let bypass = if rules.fail_open { " bypass" } else { "" };
    let elements = |v4: bool| {
        rules
            .addresses
            .iter()
            .filter(|ip| ip.is_ipv4() == v4)
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Creating then deleting makes the first install and every later one the same text.
    let mut text =
        format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
    for (set, kind, v4) in [("pods4", "ipv4_addr", true), ("pods6", "ipv6_addr", false)] {
        let _ = write!(text, " set {set} {{ type {kind};");
        let list = elements(v4);
        if !list.is_empty() {
            let _ = write!(text, " elements = {{ {list} }};");
        }
        text.push_str(" }\n");
    }
    text.push_str(" chain forward {\n  type filter hook forward priority 0; policy accept;\n  ct state != new accept\n");
    for (family, set) in [("ip", "pods4"), ("ip6", "pods6")] {
        for side in ["saddr", "daddr"] {
            let _ = writeln!(text, "  {family} {side} @{set} {queue}{bypass}");
        }
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
            addresses: ["10.0.0.2", "10.0.0.3", "fd00::2"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
        };
        let text = render(&rules);
        assert!(
            text.contains("set pods4 { type ipv4_addr; elements = { 10.0.0.2, 10.0.0.3 }; }"),
            "{text}"
        );
        assert!(
            text.contains("ip saddr @pods4 queue num 0-1 bypass"),
            "{text}"
        );
        assert!(
            text.contains("ip6 daddr @pods6 queue num 0-1 bypass"),
            "{text}"
        );
        assert!(
            text.starts_with("table inet netpol_enforcer {}\ndelete table inet netpol_enforcer\n")
        );
    }
}
