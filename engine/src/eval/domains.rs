//! Egress `domainNames` peers against what the subject pod learned from DNS. The name that
//! must match is the one the pod queried: NPEP-133 lets an implementation allow the addresses
//! a single response gives for the selected name, CNAME chain included ("www.kubernetes.io
//! CNAME kubernetes.io, kubernetes.io A 1.2.3.4": a rule on `www.kubernetes.io` allows
//! 1.2.3.4), and the pod asked for that name; a CNAME target is the resolver's business.

use std::net::IpAddr;

use super::DirectionDecision;
use super::matching::{PeerMatch, Remote};
use crate::dns::{Answer, DnsView, name};
use crate::engine::Engine;
use crate::model::{AdminPeer, AdminRule, Direction};
use crate::{Endpoint, Flow};

/// Whether `peer` is a `domainNames` peer with a live answer that the subject (at `client`)
/// received for the remote address under a name one of its entries matches; `found` gets the
/// entry and the answer.
pub(crate) fn learned(
    peer: &AdminPeer,
    remote: &Remote,
    client: &[IpAddr],
    dns: &dyn DnsView,
    found: &mut dyn FnMut(&str, Answer<'_>),
) -> bool {
    let (AdminPeer::DomainNames(patterns), Some(address)) = (peer, remote.ip) else {
        return false;
    };
    dns.find(client, address, &mut |answer| {
        let entry = patterns
            .iter()
            .find(|p| name::matches(p, answer.chain.queried()));
        if let Some(entry) = entry {
            found(entry, answer);
        }
        entry.is_some()
    })
}

/// The walkthrough's note for a policy whose `domainNames` peers matched nothing.
pub(crate) fn unmatched_note(remote: &Remote) -> String {
    let address = remote.ip.map_or_else(
        || "the destination's address".to_owned(),
        |ip| ip.to_string(),
    );
    format!(
        "domainNames match only addresses from DNS answers the pod received; none gives {address} for a name these entries match: no match"
    )
}

impl Engine {
    /// How a matched rule matched when only a `domainNames` peer did: `domainNames
    /// *.example.com via answer api.example.com → 203.0.113.5, 212 s left`.
    pub(crate) fn via_answer(
        &self,
        rule: &AdminRule,
        remote: &Remote,
        client: &[IpAddr],
        dns: &dyn DnsView,
    ) -> Option<String> {
        if rule
            .peers
            .iter()
            .any(|p| self.admin_peer_matches(p, remote) == PeerMatch::Yes)
        {
            return None;
        }
        let mut note = None;
        rule.peers.iter().find(|peer| {
            learned(peer, remote, client, dns, &mut |entry, answer| {
                let through = if answer.chain.cnames().next().is_some() {
                    format!(
                        " (a CNAME chain: the entry matches the name the pod queried, {})",
                        answer.chain.queried()
                    )
                } else {
                    String::new()
                };
                note = Some(format!("domainNames {entry} via answer {answer}{through}"));
            })
        });
        note
    }

    /// When an egress `decision` of `flow` was made by a rule that matched only through a
    /// learned answer, that match in words (`domainNames *.example.com via answer
    /// api.example.com → 203.0.113.5, 212 s left`), for verdict events to name the answer.
    pub fn answer_used(
        &self,
        flow: &Flow,
        decision: &DirectionDecision,
        dns: &dyn DnsView,
    ) -> Option<String> {
        let (slot, index) = decision.admin_rule?;
        let rule = self
            .admin_policy(slot)
            .rules(Direction::Egress)
            .get(index as usize)?;
        let Endpoint::Pod(source) = self.normalize(flow.src) else {
            return None;
        };
        let remote = self.remote(self.normalize(flow.dst));
        self.via_answer(rule, &remote, &self.cluster.pod(source).ips, dns)
    }
}
