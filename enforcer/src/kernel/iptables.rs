//! The iptables(-nft) backend: one dedicated chain per family, jumped to from FORWARD for new
//! connections only, sending to `NFQUEUE` the connections from the addresses in the family's
//! egress ipset and to the addresses in its ingress ipset. A change of queued pods adds and
//! removes just those addresses in the sets (`ipset restore`), each address switching
//! atomically; a full install (first, after a failure, or a change of queues, fail mode or
//! cache) fills the sets beside the ones in force and swaps them in. The chain, a few rules
//! whatever the number of pods, is rewritten at each install with `iptables-restore
//! --noflush`, which replaces it in one transaction.
//!
//! DNS learning: chain `NETPOL-ENFORCER-DNS` in the `mangle` table, jumped to from its FORWARD
//! (resolvers in pods, or elsewhere) and OUTPUT (a resolver on the node itself: NodeLocal
//! DNSCache, a host-network DNS pod) for every packet, queues UDP and TCP from port 53 to the
//! addresses in the family's dns ipset. `mangle` because an accept verdict ends only the table whose rule queued the packet:
//! the response then goes through `filter`'s FORWARD (kube-proxy's, the CNI's and ours) as if
//! it had never been queued, while a queue rule in `filter` would let it skip the rest of
//! that chain.
//!
//! With the decision cache, an ipset per family holds the accepted tuples: the chain's first
//! rule lets a new connection whose tuple is in it through, and a chain in the `security` table
//! (whose FORWARD runs after `filter`'s, so after the queue's verdict) adds the tuples of the
//! packets an accept verdict marked.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use super::command::run;
use super::{
    Backend, Connection, DECISION_CACHE_SIZE, DecisionCache, Installed, Kernel, KernelError,
    Queued, QueuedChanges, RuleSet, conntrack,
};

pub const CHAIN: &str = "NETPOL-ENFORCER";
/// In the `mangle` table: queues DNS responses to the pods that learn names.
pub const DNS_CHAIN: &str = "NETPOL-ENFORCER-DNS";

/// Every packet, not only new connections: a DNS response belongs to a flow the query began.
const DNS_JUMPS: [[&str; 4]; 2] = [
    ["FORWARD", "-j", DNS_CHAIN, "-w"],
    ["OUTPUT", "-j", DNS_CHAIN, "-w"],
];
/// In the `security` table: records the tuples of accepted packets.
pub const CACHE_CHAIN: &str = "NETPOL-ENFORCER-DECIDED";

/// Pod-to-pod and node-to-remote-pod traffic crosses FORWARD on a routed node. Traffic between
/// a pod and its own node (INPUT/OUTPUT) is never queued: the NetworkPolicy documentation keeps
/// it allowed (kubelet probes).
const JUMP: [&str; 8] = new_connections_to(CHAIN);

const CACHE_JUMP: [&str; 8] = new_connections_to(CACHE_CHAIN);

/// The FORWARD rule sending new connections to `chain` (or target), for `-C`/`-I`/`-D`.
pub const fn new_connections_to(chain: &str) -> [&str; 8] {
    [
        "FORWARD",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        chain,
        "-w",
    ]
}

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

    /// The ipsets of the local pods whose egress (new connections from them) and ingress (new
    /// connections to them) are queued.
    pub fn queued_sets(self) -> [&'static str; 2] {
        match self {
            Self::V4 => ["netpol-enforcer-egress-v4", "netpol-enforcer-ingress-v4"],
            Self::V6 => ["netpol-enforcer-egress-v6", "netpol-enforcer-ingress-v6"],
        }
    }

    fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    /// The ipset of the local pods whose DNS responses are queued.
    pub fn dns_set(self) -> &'static str {
        match self {
            Self::V4 => "netpol-enforcer-dns-v4",
            Self::V6 => "netpol-enforcer-dns-v6",
        }
    }

    /// Every set of pod addresses, with the addresses of `queued` it holds.
    fn pod_sets(self, queued: &Queued) -> [(&'static str, &BTreeSet<IpAddr>); 3] {
        let [egress, ingress] = self.queued_sets();
        [
            (egress, &queued.egress),
            (ingress, &queued.ingress),
            (self.dns_set(), &queued.dns),
        ]
    }

    /// The ipset holding this family's accepted tuples.
    pub fn cache_set(self) -> &'static str {
        match self {
            Self::V4 => "netpol-enforcer-v4",
            Self::V6 => "netpol-enforcer-v6",
        }
    }

    fn ipset_family(self) -> &'static str {
        match self {
            Self::V4 => "inet",
            Self::V6 => "inet6",
        }
    }
}

/// The ipset match and add flags of a tuple: source address, destination port (with its
/// protocol), destination address.
const TUPLE: &str = "src,dst,dst";

#[derive(Debug, Default)]
pub struct Iptables {
    installed: Installed,
    /// Whether the last install of the IPv6 family succeeded.
    v6_installed: AtomicBool,
}

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
    // Declaring the chain in a --noflush restore empties it first.
    let mut text = format!("*filter\n:{CHAIN} - [0:0]\n");
    let [egress, ingress] = family.queued_sets();
    // A mid-stream TCP packet new to conntrack, in the reverse orientation of a queued
    // direction: the reply side of a connection whose entry was cut. Let through, it would
    // track the connection the other way round and the cut one would pass as its replies.
    for (set, side) in [(egress, "dst"), (ingress, "src")] {
        let _ = writeln!(
            text,
            "-A {CHAIN} -p tcp ! --syn -m set --match-set {set} {side} -j DROP"
        );
    }
    if rules.decision_cache.is_some() {
        let set = family.cache_set();
        let _ = writeln!(
            text,
            "-A {CHAIN} -m set --match-set {set} {TUPLE} -j RETURN"
        );
    }
    for (set, side) in [(egress, "src"), (ingress, "dst")] {
        let _ = writeln!(
            text,
            "-A {CHAIN} -m set --match-set {set} {side} -j {target}{bypass}"
        );
    }
    text.push_str("COMMIT\n");
    if let Some(queue) = rules.dns_queue {
        let set = family.dns_set();
        let _ = writeln!(text, "*mangle\n:{DNS_CHAIN} - [0:0]");
        for protocol in ["udp", "tcp"] {
            let _ = writeln!(
                text,
                "-A {DNS_CHAIN} -p {protocol} --sport 53 -m set --match-set {set} dst -j NFQUEUE --queue-num {queue}{bypass}"
            );
        }
        text.push_str("COMMIT\n");
    }
    if let Some(cache) = rules.decision_cache {
        let (set, mark) = (family.cache_set(), cache.mark);
        let _ = write!(
            text,
            "*security\n:{CACHE_CHAIN} - [0:0]\n\
             -A {CACHE_CHAIN} -m mark --mark {mark:#x}/{mark:#x} -j SET --add-set {set} {TUPLE} --exist\n\
             -A {CACHE_CHAIN} -m mark --mark {mark:#x}/{mark:#x} -j MARK --set-xmark 0x0/{mark:#x}\n\
             COMMIT\n"
        );
    }
    text
}

/// The `ipset restore` input that fills the family's queued sets with `queued` and nothing
/// else: each is built beside the set in force and swapped in, so it changes at once.
pub fn render_queued(queued: &Queued, family: Family) -> String {
    let mut text = String::new();
    for (set, addresses) in family.pod_sets(queued) {
        let (kind, fresh) = (family.ipset_family(), format!("{set}-new"));
        let _ = writeln!(text, "create {fresh} hash:ip family {kind}\nflush {fresh}");
        for ip in addresses.iter().filter(|ip| Family::of(ip) == family) {
            let _ = writeln!(text, "add {fresh} {ip}");
        }
        let _ = writeln!(
            text,
            "create {set} hash:ip family {kind}\nswap {fresh} {set}\ndestroy {fresh}"
        );
    }
    text
}

/// The `ipset restore` input that applies `changes` to the family's queued sets: additions
/// first (an address queued in both states never leaves its set); `None` when the family has
/// no change.
pub fn render_changes(changes: &QueuedChanges, family: Family) -> Option<String> {
    let mut text = String::new();
    for (verb, queued) in [("add", &changes.added), ("del", &changes.removed)] {
        for (set, addresses) in family.pod_sets(queued) {
            for ip in addresses.iter().filter(|ip| Family::of(ip) == family) {
                let _ = writeln!(text, "{verb} {set} {ip}");
            }
        }
    }
    (!text.is_empty()).then_some(text)
}

/// Creates the family's cache set, or gives an existing one (left by an enforcer that failed
/// closed, whose rules still refer to it) this cache's parameters by swapping in a new set.
fn ensure_cache_set(family: Family, cache: DecisionCache) -> Result<(), KernelError> {
    let (timeout, size) = (
        cache.timeout_secs.to_string(),
        DECISION_CACHE_SIZE.to_string(),
    );
    let create = |name: &str| {
        let args = [
            "create",
            name,
            "hash:ip,port,ip",
            "family",
            family.ipset_family(),
            "timeout",
            &timeout,
            "maxelem",
            &size,
            "-exist",
        ];
        run("ipset", &args, None)
    };
    let set = family.cache_set();
    if create(set).is_ok() {
        return Ok(());
    }
    // `-exist` refuses a set of the same name with other parameters.
    let fresh = format!("{set}-new");
    let _ = run("ipset", &["destroy", &fresh], None);
    create(&fresh)?;
    let swapped = run("ipset", &["swap", &fresh, set], None);
    let _ = run("ipset", &["destroy", &fresh], None);
    swapped.map(drop)
}

/// Removes the cache's recording chain and, once no rule refers to it, its set (both absent
/// unless the cache was on).
fn remove_cache(tool: &str, family: Family) {
    delete_rule(tool, "security", &CACHE_JUMP);
    let _ = delete_chain(tool, "security", CACHE_CHAIN);
    let _ = run("ipset", &["destroy", family.cache_set()], None);
}

/// Removes the DNS chain (absent unless learning was on).
fn remove_dns(tool: &str) {
    for jump in &DNS_JUMPS {
        delete_rule(tool, "mangle", jump);
    }
    let _ = delete_chain(tool, "mangle", DNS_CHAIN);
}

/// `tool -t table VERB rule...`.
fn rule_args<'a>(table: &'a str, verb: &'a str, rule: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-t", table, verb];
    args.extend(rule);
    args
}

/// Inserts `rule` into `table` unless it is there already (`-C`).
fn ensure_rule(tool: &str, table: &str, rule: &[&str]) -> Result<(), KernelError> {
    let with = |verb| rule_args(table, verb, rule);
    if run(tool, &with("-C"), None).is_err() {
        run(tool, &with("-I"), None)?;
    }
    Ok(())
}

/// Deletes every copy of `rule` from `table`.
fn delete_rule(tool: &str, table: &str, rule: &[&str]) {
    let args = rule_args(table, "-D", rule);
    while run(tool, &args, None).is_ok() {}
}

/// Flushes and deletes `chain` of `table` when it exists.
fn delete_chain(tool: &str, table: &str, chain: &str) -> Result<(), KernelError> {
    if run(tool, &["-w", "-t", table, "-L", chain, "-n"], None).is_ok() {
        run(tool, &["-w", "-t", table, "-F", chain], None)?;
        run(tool, &["-w", "-t", table, "-X", chain], None)?;
    }
    Ok(())
}

/// Runs `ipset restore` on `text`; `-exist` makes creating a set that exists, adding an
/// address that is there and deleting one that is not no errors.
fn ipset_restore(text: &str) -> Result<(), KernelError> {
    run("ipset", &["-exist", "restore"], Some(text)).map(drop)
}

/// How an install gives a family's queued sets their members.
#[derive(Clone, Copy)]
enum Members<'a> {
    /// Filled beside the sets in force and swapped in.
    Whole(&'a Queued),
    /// Just these addresses added and removed.
    Changes(&'a QueuedChanges),
}

impl Iptables {
    fn install_family(
        &self,
        rules: &RuleSet,
        family: Family,
        members: Members,
    ) -> Result<(), KernelError> {
        let (tool, restore) = family.tools();
        // The cache's set and leftovers follow the shape, which a change of pods keeps: only
        // a whole install sees to them.
        let whole = matches!(members, Members::Whole(_));
        if let (true, Some(cache)) = (whole, rules.decision_cache) {
            ensure_cache_set(family, cache)?;
        }
        let fill = match members {
            Members::Whole(queued) => Some(render_queued(queued, family)),
            Members::Changes(changes) => render_changes(changes, family),
        };
        if let Some(text) = fill {
            ipset_restore(&text)?;
        }
        // A few rules whatever the number of pods, rewritten at each install: that also puts
        // them back if another tool flushed the chain or FORWARD.
        run(restore, &["-w", "--noflush"], Some(&render(rules, family)))?;
        ensure_rule(tool, "filter", &JUMP)?;
        if rules.dns_queue.is_some() {
            for jump in &DNS_JUMPS {
                ensure_rule(tool, "mangle", jump)?;
            }
        } else if whole {
            remove_dns(tool);
        }
        if rules.decision_cache.is_some() {
            ensure_rule(tool, "security", &CACHE_JUMP)?;
        } else if whole {
            // Left by a run with the cache (or by turning it off): it would go on recording
            // and clearing a mark bit nobody sets for it any more.
            remove_cache(tool, family);
        }
        Ok(())
    }

    fn remove_family(&self, family: Family) -> Result<(), KernelError> {
        let (tool, _) = family.tools();
        delete_rule(tool, "filter", &JUMP);
        let removed = delete_chain(tool, "filter", CHAIN);
        remove_cache(tool, family);
        remove_dns(tool);
        // Once no rule refers to them; with the spare a failed refill may have left.
        for set in family.queued_sets().into_iter().chain([family.dns_set()]) {
            for name in [set.to_owned(), format!("{set}-new")] {
                let _ = run("ipset", &["destroy", &name], None);
            }
        }
        removed
    }

    /// Installs the rule set family by family. IPv6 is best effort while the node has no
    /// IPv6 pods (ip6tables may be missing); after it failed, its sets are filled whole the
    /// next time, so that no change is applied to sets that never got their members.
    fn install_all(&self, rules: &RuleSet, members: Members) -> Result<(), KernelError> {
        self.install_family(rules, Family::V4, members)?;
        let v6_members = if self.v6_installed.load(Ordering::Relaxed) {
            members
        } else {
            Members::Whole(&rules.queued)
        };
        let v6 = self.install_family(rules, Family::V6, v6_members);
        self.v6_installed.store(v6.is_ok(), Ordering::Relaxed);
        match v6 {
            Err(e) if has_ipv6(&rules.queued) => Err(e),
            _ => Ok(()),
        }
    }
}

fn has_ipv6(queued: &Queued) -> bool {
    queued
        .egress
        .iter()
        .chain(&queued.ingress)
        .chain(&queued.dns)
        .any(IpAddr::is_ipv6)
}

impl Kernel for Iptables {
    fn backend(&self) -> Backend {
        Backend::Iptables
    }

    fn install(&self, rules: &RuleSet) -> Result<(), KernelError> {
        self.installed.install(
            rules,
            || self.install_all(rules, Members::Whole(&rules.queued)),
            |changes| self.install_all(rules, Members::Changes(changes)),
        )
    }

    fn remove(&self) -> Result<(), KernelError> {
        self.installed.forget();
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

    fn forget_decisions(&self) -> Result<(), KernelError> {
        run("ipset", &["flush", Family::V4.cache_set()], None)?;
        let v6 = Family::V6.cache_set();
        match run("ipset", &["flush", v6], None) {
            // A node without IPv6 may have no IPv6 set (its install is best effort): nothing
            // was cached there.
            Err(_)
                if !run("ipset", &["list", "-n"], None)?
                    .lines()
                    .any(|l| l == v6) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
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
                dns: Default::default(),
            },
            decision_cache: None,
            dns_queue: None,
        }
    }

    #[test]
    fn the_chain_queues_by_the_familys_sets() {
        assert_eq!(
            render(&rules(1, true, &["10.0.0.2"]), Family::V4),
            "*filter\n:NETPOL-ENFORCER - [0:0]\n\
             -A NETPOL-ENFORCER -p tcp ! --syn -m set --match-set netpol-enforcer-egress-v4 dst -j DROP\n\
             -A NETPOL-ENFORCER -p tcp ! --syn -m set --match-set netpol-enforcer-ingress-v4 src -j DROP\n\
             -A NETPOL-ENFORCER -m set --match-set netpol-enforcer-egress-v4 src -j NFQUEUE --queue-num 0 --queue-bypass\n\
             -A NETPOL-ENFORCER -m set --match-set netpol-enforcer-ingress-v4 dst -j NFQUEUE --queue-num 0 --queue-bypass\n\
             COMMIT\n"
        );
        let v6 = render(&rules(4, false, &[]), Family::V6);
        assert!(
            v6.contains("-A NETPOL-ENFORCER -m set --match-set netpol-enforcer-egress-v6 src -j NFQUEUE --queue-balance 0:3 --queue-cpu-fanout\n"),
            "{v6}"
        );
        assert_eq!(
            render(&rules(1, true, &["10.0.0.2"]), Family::V4),
            render(&rules(1, true, &["10.0.0.3", "10.0.0.4"]), Family::V4),
            "the chain does not depend on which pods are queued"
        );
    }

    #[test]
    fn sets_are_filled_beside_and_swapped_in() {
        let mut r = rules(1, true, &[]);
        r.queued.egress.insert("10.0.0.2".parse().unwrap());
        r.queued.ingress.insert("10.0.0.3".parse().unwrap());
        r.queued.ingress.insert("fd00::3".parse().unwrap());
        assert_eq!(
            render_queued(&r.queued, Family::V4),
            "create netpol-enforcer-egress-v4-new hash:ip family inet\n\
             flush netpol-enforcer-egress-v4-new\n\
             add netpol-enforcer-egress-v4-new 10.0.0.2\n\
             create netpol-enforcer-egress-v4 hash:ip family inet\n\
             swap netpol-enforcer-egress-v4-new netpol-enforcer-egress-v4\n\
             destroy netpol-enforcer-egress-v4-new\n\
             create netpol-enforcer-ingress-v4-new hash:ip family inet\n\
             flush netpol-enforcer-ingress-v4-new\n\
             add netpol-enforcer-ingress-v4-new 10.0.0.3\n\
             create netpol-enforcer-ingress-v4 hash:ip family inet\n\
             swap netpol-enforcer-ingress-v4-new netpol-enforcer-ingress-v4\n\
             destroy netpol-enforcer-ingress-v4-new\n\
             create netpol-enforcer-dns-v4-new hash:ip family inet\n\
             flush netpol-enforcer-dns-v4-new\n\
             create netpol-enforcer-dns-v4 hash:ip family inet\n\
             swap netpol-enforcer-dns-v4-new netpol-enforcer-dns-v4\n\
             destroy netpol-enforcer-dns-v4-new\n"
        );
        let v6 = render_queued(&r.queued, Family::V6);
        assert!(
            v6.contains("add netpol-enforcer-ingress-v6-new fd00::3\n"),
            "{v6}"
        );
        assert!(v6.contains("hash:ip family inet6"), "{v6}");
        assert!(!v6.contains("10.0.0"), "{v6}");
    }

    #[test]
    fn a_change_of_queued_pods_touches_only_their_addresses() {
        let before = rules(1, true, &["10.0.0.2", "10.0.0.3"]).queued;
        let mut after = before.clone();
        after.egress.remove(&"10.0.0.3".parse().unwrap());
        after.ingress.insert("10.0.0.4".parse().unwrap());
        after.ingress.insert("fd00::4".parse().unwrap());
        let changes = before.changes_to(&after);
        assert_eq!(
            render_changes(&changes, Family::V4).as_deref(),
            Some(
                "add netpol-enforcer-ingress-v4 10.0.0.4\n\
                 del netpol-enforcer-egress-v4 10.0.0.3\n"
            )
        );
        assert_eq!(
            render_changes(&changes, Family::V6).as_deref(),
            Some("add netpol-enforcer-ingress-v6 fd00::4\n")
        );
        assert_eq!(
            render_changes(&before.changes_to(&before), Family::V4),
            None
        );
    }

    #[test]
    fn dns_responses_to_learning_pods_are_queued_in_mangle() {
        let mut r = rules(1, false, &["10.0.0.2"]);
        r.dns_queue = Some(7);
        r.queued.dns.insert("10.0.0.2".parse().unwrap());
        let text = render(&r, Family::V4);
        assert!(
            text.ends_with(
                "COMMIT\n*mangle\n:NETPOL-ENFORCER-DNS - [0:0]\n\
                 -A NETPOL-ENFORCER-DNS -p udp --sport 53 -m set --match-set netpol-enforcer-dns-v4 dst -j NFQUEUE --queue-num 7\n\
                 -A NETPOL-ENFORCER-DNS -p tcp --sport 53 -m set --match-set netpol-enforcer-dns-v4 dst -j NFQUEUE --queue-num 7\n\
                 COMMIT\n"
            ),
            "{text}"
        );
        assert!(
            !render(&rules(1, false, &[]), Family::V4).contains("mangle"),
            "no learning, no chain"
        );
        let mut after = r.queued.clone();
        after.dns.insert("10.0.0.9".parse().unwrap());
        assert_eq!(
            render_changes(&r.queued.changes_to(&after), Family::V4).as_deref(),
            Some("add netpol-enforcer-dns-v4 10.0.0.9\n")
        );
    }

    #[test]
    fn decision_cache_skips_known_tuples_and_records_accepted_ones() {
        let mut r = rules(1, true, &["10.0.0.2"]);
        r.decision_cache = Some(crate::kernel::DecisionCache {
            mark: 0x2000,
            timeout_secs: 60,
        });
        assert_eq!(
            render(&r, Family::V4),
            "*filter\n:NETPOL-ENFORCER - [0:0]\n\
             -A NETPOL-ENFORCER -p tcp ! --syn -m set --match-set netpol-enforcer-egress-v4 dst -j DROP\n\
             -A NETPOL-ENFORCER -p tcp ! --syn -m set --match-set netpol-enforcer-ingress-v4 src -j DROP\n\
             -A NETPOL-ENFORCER -m set --match-set netpol-enforcer-v4 src,dst,dst -j RETURN\n\
             -A NETPOL-ENFORCER -m set --match-set netpol-enforcer-egress-v4 src -j NFQUEUE --queue-num 0 --queue-bypass\n\
             -A NETPOL-ENFORCER -m set --match-set netpol-enforcer-ingress-v4 dst -j NFQUEUE --queue-num 0 --queue-bypass\n\
             COMMIT\n\
             *security\n:NETPOL-ENFORCER-DECIDED - [0:0]\n\
             -A NETPOL-ENFORCER-DECIDED -m mark --mark 0x2000/0x2000 -j SET --add-set netpol-enforcer-v4 src,dst,dst --exist\n\
             -A NETPOL-ENFORCER-DECIDED -m mark --mark 0x2000/0x2000 -j MARK --set-xmark 0x0/0x2000\n\
             COMMIT\n"
        );
        let v6 = render(&r, Family::V6);
        assert!(
            v6.contains("--match-set netpol-enforcer-v6 src,dst,dst -j RETURN"),
            "{v6}"
        );
        assert!(
            v6.contains("--add-set netpol-enforcer-v6 src,dst,dst"),
            "{v6}"
        );
    }
}
