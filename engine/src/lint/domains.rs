//! `domainNames` entries the CRD accepts but that do not say what their author meant: names no
//! answer carries (a label over 63 characters, a name over 253, an IP address written as a
//! name, characters no host name has), one name spelt twice (case, the root's dot: the CRD's
//! set check compares strings), and policies that mix names with and without the root's dot.
//! What the CRD's pattern refuses (`*example.com`, `a.*.com`, `*`, `*.com`) never gets here:
//! compilation refuses it (`invalid-domain-name`).

use std::collections::BTreeMap;

use super::{Check, Findings, Severity, peer_path, rule_name};
use crate::dns::name;
use crate::engine::Engine;
use crate::model::{AdminPeer, Direction};

pub(super) const DOMAIN_NAME_NEVER_MATCHES: Check = Check {
    id: "domain-name-never-matches",
    severity: Severity::Warning,
    summary: "a domainNames entry no DNS answer can carry: a label over 63 characters, a name over 253, an IP address, characters no host name has",
};

pub(super) const DUPLICATE_DOMAIN_NAME: Check = Check {
    id: "duplicate-domain-name",
    severity: Severity::Warning,
    summary: "one name twice in a rule's domainNames, spelt apart only by case or the trailing dot",
};

pub(super) const DOMAIN_NAME_TRAILING_DOT: Check = Check {
    id: "domain-name-trailing-dot",
    severity: Severity::Info,
    summary: "a policy whose domainNames mix names with and without the trailing dot",
};

pub(super) fn check(engine: &Engine, out: &mut Findings) {
    for (_, policy) in engine.admin_policies() {
        let mut dotted: BTreeMap<bool, (String, String)> = BTreeMap::new();
        for rule in &policy.egress {
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            for (j, peer) in rule.peers.iter().enumerate() {
                let AdminPeer::DomainNames(names) = peer else {
                    continue;
                };
                let path = peer_path(Direction::Egress, rule.index, j);
                for (k, entry) in names.iter().enumerate() {
                    let field = format!("{path}.domainNames[{k}]");
                    if let Some(why) = never_matches(entry) {
                        out.push(
                            &DOMAIN_NAME_NEVER_MATCHES,
                            &policy.id,
                            Some(field.clone()),
                            format!("{entry:?} never matches: {why}"),
                        );
                    }
                    let canonical = name::canonical(entry);
                    if let Some(first) = seen.get(&canonical) {
                        out.push(
                            &DUPLICATE_DOMAIN_NAME,
                            &policy.id,
                            Some(field.clone()),
                            format!(
                                "{entry:?} is {first:?} again: names compare without regard to case or the trailing dot; {} lists it twice",
                                rule_name(rule.index, rule.name.as_deref())
                            ),
                        );
                    } else {
                        seen.insert(canonical, entry.clone());
                    }
                    dotted
                        .entry(entry.ends_with('.'))
                        .or_insert((entry.clone(), field));
                }
            }
        }
        if let (Some((with, field)), Some((without, _))) = (dotted.get(&true), dotted.get(&false)) {
            out.push(
                &DOMAIN_NAME_TRAILING_DOT,
                &policy.id,
                Some(field.clone()),
                format!(
                    "{with:?} ends with the root's dot, {without:?} does not: netpol reads both as absolute names, implementations that compare text may not; spell them alike"
                ),
            );
        }
    }
}

/// Why no answer can carry a name `entry` matches, when none can.
fn never_matches(entry: &str) -> Option<String> {
    let bare = entry.strip_suffix('.').unwrap_or(entry);
    let (wildcard, parent) = match bare.strip_prefix("*.") {
        Some(parent) => (true, parent),
        None => (false, bare),
    };
    // The shortest name a wildcard matches has one label more: `x.` before the parent.
    let shortest = parent.len() + if wildcard { 2 } else { 0 };
    if shortest > 253 {
        return Some(format!(
            "DNS names have at most 253 characters; the shortest this matches has {shortest}"
        ));
    }
    if let Some(label) = parent.split('.').find(|l| l.len() > 63) {
        return Some(format!(
            "the label {:?}… has {} characters, DNS labels at most 63",
            label.chars().take(16).collect::<String>(),
            label.len()
        ));
    }
    if !wildcard && parent.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some(
            "it is an IP address, which resolvers do not look up; write it as a networks CIDR"
                .to_owned(),
        );
    }
    // The CRD pattern's first character class is written `[a-zA-z0-9]`, whose `A-z` also takes
    // these; resolvers refuse them in host names.
    if let Some(c) = parent
        .chars()
        .find(|c| matches!(c, '[' | '\\' | ']' | '^' | '`'))
    {
        return Some(format!(
            "{c:?} is no host name character (the CRD pattern lets it through by writing A-z)"
        ));
    }
    None
}
