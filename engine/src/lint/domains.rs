//! `domainNames` peers only in accepting rules: upstream forbids denying (or passing) by name,
//! since a name's addresses are only known after the traffic it would have to stop.

use super::raw::RawPolicy;
use super::{Check, Findings, Severity};

pub(super) const DOMAIN_NAMES_NOT_ACCEPT: Check = Check {
    id: "domain-names-not-accept",
    severity: Severity::Error,
    summary: "a domainNames peer in a rule whose action is not Allow (ANP) or Accept (CNP)",
};

pub(super) fn check(policies: &[RawPolicy], out: &mut Findings) {
    for policy in policies {
        for rule in &policy.rules {
            let Some(action) = rule.action else { continue };
            if matches!(action, "Allow" | "Accept") {
                continue;
            }
            let accepting = match policy.kind {
                crate::load::ObjectKind::ClusterNetworkPolicy => "Accept",
                _ => "Allow",
            };
            for peer in rule.peers.iter().filter(|p| p.domain_names.is_some()) {
                out.push(
                    &DOMAIN_NAMES_NOT_ACCEPT,
                    &policy.object,
                    Some(format!("{}.domainNames", peer.path)),
                    format!(
                        "{} has action {action} but a domainNames peer: domain names may only be used in {accepting} rules (upstream rejects the policy)",
                        rule.path
                    ),
                );
            }
        }
    }
}
