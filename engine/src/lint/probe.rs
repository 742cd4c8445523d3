//! One admin policy on one flow, as the tier walk sees it: the first rule whose ports and peers
//! match. Mirrors `eval::decide` so that examples in findings agree with `decide`.

use crate::engine::Engine;
use crate::eval::matching::{PeerMatch, Remote, ports_match};
use crate::model::{AdminPeer, AdminRule, Pod, Protocol};

/// The other end and the port of a flow, from the subject pod's point of view.
pub(super) struct Probe<'a> {
    pub remote: &'a Remote<'a>,
    /// The destination pod, on which named ports resolve.
    pub destination: Option<&'a Pod>,
    pub protocol: Protocol,
    pub port: u16,
}

pub(super) fn peer_matches(engine: &Engine, peer: &AdminPeer, remote: &Remote) -> bool {
    // Domain names cannot be resolved offline: like `decide`, treat them as no match.
    engine.admin_peer_matches(peer, remote) == PeerMatch::Yes
}

pub(super) fn first_match<'r>(
    engine: &Engine,
    rules: &'r [AdminRule],
    probe: &Probe,
) -> Option<&'r AdminRule> {
    rules.iter().find(|rule| {
        ports_match(
            rule.ports.as_deref(),
            probe.destination,
            probe.protocol,
            probe.port,
        ) && rule
            .peers
            .iter()
            .any(|p| peer_matches(engine, p, probe.remote))
    })
}
