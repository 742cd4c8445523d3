//! The nftables backend: one table of our own, queueing new connections from or to the local
//! selected pods with the native `queue` statement. The table is replaced whole in one `nft -f`
//! transaction when the rules' shape changes (queues, fail mode, cache); a change of queued
//! pods adds and deletes just those set elements, also in one transaction. Used only when the
//! kernel has the queue expression (`probe`). DNS learning: base chains `dns` (forward) and
//! `dns_local` (output: a resolver on the node itself) at the mangle priority queue UDP and TCP
//! from port 53 to the addresses of sets `dns4`/`dns6`; each base chain is a hook of its own,
//! so an accept verdict there leaves every later chain (ours at priority 0 included) to see
//! the response as usual.

use std::fmt::Write;
use std::net::IpAddr;

use super::command::run;
use super::{
    Backend, Connection, DECISION_CACHE_SIZE, Installed, Kernel, KernelError, Queued,
    QueuedChanges, RuleSet, conntrack,
};

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
pub struct Nftables {
    installed: Installed,
}

/// The table's sets of queued addresses: name, element type, the addresses of `queued` it
/// holds (by direction and family), and the match that uses it.
#[rustfmt::skip]
fn queued_sets(queued: &Queued) -> [(&'static str, &'static str, Vec<IpAddr>, &'static str); 4] {
    let pick = |set: &std::collections::BTreeSet<IpAddr>, v4: bool| {
        set.iter().filter(|ip| ip.is_ipv4() == v4).copied().collect()
    };
    [
        ("egress4", "ipv4_addr", pick(&queued.egress, true), "ip saddr"),
        ("ingress4", "ipv4_addr", pick(&queued.ingress, true), "ip daddr"),
        ("egress6", "ipv6_addr", pick(&queued.egress, false), "ip6 saddr"),
        ("ingress6", "ipv6_addr", pick(&queued.ingress, false), "ip6 daddr"),
    ]
}

/// The sets of pods whose DNS responses are queued: name, element type, addresses, match.
#[rustfmt::skip]
fn dns_sets(queued: &Queued) -> [(&'static str, &'static str, Vec<IpAddr>, &'static str); 2] {
    let pick = |v4: bool| queued.dns.iter().filter(|ip| ip.is_ipv4() == v4).copied().collect();
    [
        ("dns4", "ipv4_addr", pick(true), "ip daddr"),
        ("dns6", "ipv6_addr", pick(false), "ip6 daddr"),
    ]
}

fn joined(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `nft -f` input that applies `changes` to the queued sets in one transaction; `None`
/// when nothing changes.
pub fn render_changes(changes: &QueuedChanges) -> Option<String> {
    let mut text = String::new();
    for (verb, queued) in [("add", &changes.added), ("delete", &changes.removed)] {
        for (name, _, addresses, _) in queued_sets(queued).into_iter().chain(dns_sets(queued)) {
            if !addresses.is_empty() {
                let _ = writeln!(
                    text,
                    "{verb} element inet {TABLE} {name} {{ {} }}",
                    joined(&addresses)
                );
            }
        }
    }
    (!text.is_empty()).then_some(text)
}

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
    // Creating then deleting makes the first install and every later one the same text.
    let mut text =
        format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
    let sets = queued_sets(&rules.queued);
    let dns = dns_sets(&rules.queued);
    for (name, kind, addresses, _) in sets.iter().chain(&dns) {
        let _ = write!(text, " set {name} {{ type {kind};");
        if !addresses.is_empty() {
            let _ = write!(text, " elements = {{ {} }};", joined(addresses));
        }
        text.push_str(" }\n");
    }
    if let Some(cache) = rules.decision_cache {
        for (name, kind) in [("decided4", "ipv4_addr"), ("decided6", "ipv6_addr")] {
            let _ = writeln!(
                text,
                " set {name} {{ type {kind} . inet_proto . inet_service . {kind}; flags dynamic,timeout; timeout {}s; size {DECISION_CACHE_SIZE}; }}",
                cache.timeout_secs
            );
        }
    }
    text.push_str(" chain forward {\n  type filter hook forward priority 0; policy accept;\n  ct state != new accept\n");
    // A mid-stream TCP packet new to conntrack, in the reverse orientation of a queued
    // direction: the reply side of a connection whose entry was cut (see iptables.rs).
    for (ip, v) in [("ip", 4), ("ip6", 6)] {
        for (side, set) in [("daddr", "egress"), ("saddr", "ingress")] {
            let _ = writeln!(
                text,
                "  tcp flags & (fin | syn | rst | ack) != syn {ip} {side} @{set}{v} drop"
            );
        }
    }
    if rules.decision_cache.is_some() {
        for (name, ip) in [("decided4", "ip"), ("decided6", "ip6")] {
            let _ = writeln!(text, "  {} @{name} accept", tuple(ip));
        }
    }
    for (name, _, _, matches) in &sets {
        let _ = writeln!(text, "  {matches} @{name} {queue}{flags}");
    }
    text.push_str(" }\n");
    if let Some(queue) = rules.dns_queue {
        let bypass = if rules.fail_open { " bypass" } else { "" };
        for (chain, hook) in [("dns", "forward"), ("dns_local", "output")] {
            let _ = writeln!(
                text,
                " chain {chain} {{\n  type filter hook {hook} priority mangle; policy accept;"
            );
            for (name, _, _, matches) in &dns {
                let _ = writeln!(
                    text,
                    "  meta l4proto {{ udp, tcp }} th sport 53 {matches} @{name} queue num {queue}{bypass}"
                );
            }
            text.push_str(" }\n");
        }
    }
    if let Some(cache) = rules.decision_cache {
        // After the queue's chain (priority 0): records what an accept verdict marked. Ports
        // are read only for the protocols that have them.
        let mark = cache.mark;
        let _ = writeln!(
            text,
            " chain decided {{\n  type filter hook forward priority 10; policy accept;\n  meta mark & {mark:#x} == 0 accept"
        );
        for (name, ip) in [("decided4", "ip"), ("decided6", "ip6")] {
            let _ = writeln!(
                text,
                "  meta nfproto {} meta l4proto {{ tcp, udp, sctp }} add @{name} {{ {} }}",
                if ip == "ip" { "ipv4" } else { "ipv6" },
                tuple(ip)
            );
        }
        let _ = writeln!(text, "  meta mark set meta mark & {:#x}\n }}", !mark);
    }
    text.push_str("}\n");
    text
}

/// A connection's tuple as an nftables concatenation: source, protocol, destination port,
/// destination.
fn tuple(ip: &str) -> String {
    format!("{ip} saddr . meta l4proto . th dport . {ip} daddr")
}

impl Kernel for Nftables {
    fn backend(&self) -> Backend {
        Backend::Nftables
    }

    fn install(&self, rules: &RuleSet) -> Result<(), KernelError> {
        let nft = |text: &str| run("nft", &["-f", "-"], Some(text)).map(drop);
        self.installed.install(
            rules,
            || nft(&render(rules)),
            |changes| render_changes(changes).map_or(Ok(()), |text| nft(&text)),
        )
    }

    fn remove(&self) -> Result<(), KernelError> {
        self.installed.forget();
        let text = format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n");
        run("nft", &["-f", "-"], Some(&text)).map(drop)
    }

    fn connections(&self) -> Result<Vec<Connection>, KernelError> {
        conntrack::list()
    }

    fn forget(&self, connections: &[Connection]) -> Result<(), KernelError> {
        conntrack::delete(connections)
    }

    fn forget_decisions(&self) -> Result<(), KernelError> {
        let text = format!("flush set inet {TABLE} decided4\nflush set inet {TABLE} decided6\n");
        run("nft", &["-f", "-"], Some(&text)).map(drop)
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
                dns: ["10.0.0.2".parse().unwrap()].into(),
            },
            decision_cache: None,
            dns_queue: Some(4),
        };
        let text = render(&rules);
        for expected in [
            "set egress4 { type ipv4_addr; elements = { 10.0.0.2 }; }",
            "set ingress4 { type ipv4_addr; elements = { 10.0.0.2, 10.0.0.3 }; }",
            "set egress6 { type ipv6_addr; elements = { fd00::2 }; }",
            "set ingress6 { type ipv6_addr; }",
            "  ct state != new accept\n  tcp flags & (fin | syn | rst | ack) != syn ip daddr @egress4 drop\n  tcp flags & (fin | syn | rst | ack) != syn ip saddr @ingress4 drop\n",
            "ip saddr @egress4 queue num 0-1 bypass,fanout",
            "ip daddr @ingress4 queue num 0-1 bypass,fanout",
            "ip6 saddr @egress6 queue num 0-1 bypass,fanout",
            "set dns4 { type ipv4_addr; elements = { 10.0.0.2 }; }",
            " chain dns_local {\n  type filter hook output priority mangle; policy accept;\n",
            " chain dns {\n  type filter hook forward priority mangle; policy accept;\n  meta l4proto { udp, tcp } th sport 53 ip daddr @dns4 queue num 4 bypass\n  meta l4proto { udp, tcp } th sport 53 ip6 daddr @dns6 queue num 4 bypass\n }\n",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(
            text.starts_with("table inet netpol_enforcer {}\ndelete table inet netpol_enforcer\n")
        );
        assert!(!text.contains("decided"), "no cache asked for: {text}");
    }

    #[test]
    fn a_change_of_queued_pods_is_one_transaction_of_element_changes() {
        let ips = |list: &[&str]| list.iter().map(|a| a.parse().unwrap()).collect();
        let before = crate::kernel::Queued {
            egress: ips(&["10.0.0.2", "fd00::2"]),
            ingress: ips(&["10.0.0.3"]),
            dns: ips(&[]),
        };
        let after = crate::kernel::Queued {
            egress: ips(&["10.0.0.2"]),
            ingress: ips(&["10.0.0.3", "10.0.0.4", "10.0.0.5"]),
            dns: ips(&["10.0.0.2"]),
        };
        assert_eq!(
            render_changes(&before.changes_to(&after)).as_deref(),
            Some(
                "add element inet netpol_enforcer ingress4 { 10.0.0.4, 10.0.0.5 }\n\
                 add element inet netpol_enforcer dns4 { 10.0.0.2 }\n\
                 delete element inet netpol_enforcer egress6 { fd00::2 }\n"
            )
        );
        assert_eq!(render_changes(&after.changes_to(&after)), None);
    }

    #[test]
    fn decision_cache_skips_known_tuples_and_records_accepted_ones() {
        let rules = RuleSet {
            queues: Queues { first: 0, count: 1 },
            fail_open: true,
            queued: crate::kernel::Queued {
                egress: ["10.0.0.2".parse().unwrap()].into(),
                ..Default::default()
            },
            decision_cache: Some(crate::kernel::DecisionCache {
                mark: 0x2000,
                timeout_secs: 30,
            }),
            dns_queue: None,
        };
        let text = render(&rules);
        for expected in [
            " set decided4 { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags dynamic,timeout; timeout 30s; size 65536; }\n",
            " set decided6 { type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags dynamic,timeout; timeout 30s; size 65536; }\n",
            "  tcp flags & (fin | syn | rst | ack) != syn ip6 saddr @ingress6 drop\n  ip saddr . meta l4proto . th dport . ip daddr @decided4 accept\n  ip6 saddr . meta l4proto . th dport . ip6 daddr @decided6 accept\n  ip saddr @egress4 queue num 0 bypass\n",
            " chain decided {\n  type filter hook forward priority 10; policy accept;\n  meta mark & 0x2000 == 0 accept\n",
            "  meta nfproto ipv4 meta l4proto { tcp, udp, sctp } add @decided4 { ip saddr . meta l4proto . th dport . ip daddr }\n",
            "  meta nfproto ipv6 meta l4proto { tcp, udp, sctp } add @decided6 { ip6 saddr . meta l4proto . th dport . ip6 daddr }\n",
            "  meta mark set meta mark & 0xffffdfff\n }\n}\n",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }
}
