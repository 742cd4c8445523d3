//! Structural containment: whether everything one selector, peer, port list or rule matches is
//! matched by another, provable from the text alone (so it stays true whatever pods come and
//! go). Every answer of `true` is sound; `false` only means "not provable this way".

use crate::model::{AdminPeer, AdminRule, IpBlock, NetPeer, NetRule, PortMatch, Subject};
use crate::selector::{Requirement, Selector};

/// Every object `narrow` matches, `wide` matches: each requirement of `wide` is implied by one
/// of `narrow`.
pub(super) fn selector(wide: &Selector, narrow: &Selector) -> bool {
    wide.requirements
        .iter()
        .all(|w| narrow.requirements.iter().any(|n| implies(n, w)))
}

fn implies(n: &Requirement, w: &Requirement) -> bool {
    use Requirement::*;
    match (n, w) {
        _ if n == w => true,
        (In { key: a, values: va }, In { key: b, values: vb }) => {
            a == b && va.iter().all(|v| vb.contains(v))
        }
        (In { key: a, .. }, Exists { key: b }) => a == b,
        (In { key: a, values: va }, NotIn { key: b, values: vb }) => {
            a == b && va.iter().all(|v| !vb.contains(v))
        }
        (NotIn { key: a, values: va }, NotIn { key: b, values: vb }) => {
            a == b && vb.iter().all(|v| va.contains(v))
        }
        (DoesNotExist { key: a }, NotIn { key: b, .. }) => a == b,
        _ => false,
    }
}

pub(super) fn subject(wide: &Subject, narrow: &Subject) -> bool {
    match (wide, narrow) {
        (Subject::Namespaces(w), Subject::Namespaces(n))
        | (Subject::Namespaces(w), Subject::Pods { namespaces: n, .. }) => selector(w, n),
        (
            Subject::Pods {
                namespaces: wn,
                pods: wp,
            },
            Subject::Pods {
                namespaces: nn,
                pods: np,
            },
        ) => selector(wn, nn) && selector(wp, np),
        (Subject::Pods { namespaces, pods }, Subject::Namespaces(n)) => {
            pods.matches_everything() && selector(namespaces, n)
        }
    }
}

/// CIDR blocks: `narrow`'s addresses all lie in `wide`'s. Each exception of `wide` must miss
/// `narrow` or lie inside one of `narrow`'s own exceptions.
pub(super) fn ip_block(wide: &IpBlock, narrow: &IpBlock) -> bool {
    wide.cidr.contains(&narrow.cidr)
        && wide.except.iter().all(|e| {
            let disjoint = !e.contains(&narrow.cidr) && !narrow.cidr.contains(e);
            disjoint || narrow.except.iter().any(|ne| ne.contains(e))
        })
}

fn port(wide: &PortMatch, narrow: &PortMatch) -> bool {
    use PortMatch::*;
    match (wide, narrow) {
        (AllPorts { protocol }, n) => n.protocol() == Some(*protocol),
        (
            Port {
                protocol: p,
                port: a,
            },
            Port {
                protocol: q,
                port: b,
            },
        ) => p == q && a == b,
        (
            Port { protocol: p, port },
            Range {
                protocol: q,
                start,
                end,
            },
        ) => p == q && start == port && end == port,
        (
            Range {
                protocol: p,
                start,
                end,
            },
            Port { protocol: q, port },
        ) => p == q && (start..=end).contains(&port),
        (
            Range {
                protocol: p,
                start: s1,
                end: e1,
            },
            Range {
                protocol: q,
                start: s2,
                end: e2,
            },
        ) => p == q && s1 <= s2 && e2 <= e1,
        (
            Named {
                name: a,
                protocol: pa,
            },
            Named {
                name: b,
                protocol: pb,
            },
        ) => a == b && (pa.is_none() || pa == pb),
        _ => false,
    }
}

/// Port lists; `None` matches every port of every protocol, and ICMP, which no list of
/// ports covers.
pub(super) fn ports(wide: Option<&[PortMatch]>, narrow: Option<&[PortMatch]>) -> bool {
    match (wide, narrow) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(wide), Some(narrow)) => narrow.iter().all(|n| wide.iter().any(|w| port(w, n))),
    }
}

pub(super) fn admin_peer(wide: &AdminPeer, narrow: &AdminPeer) -> bool {
    use AdminPeer::*;
    match (wide, narrow) {
        (Namespaces(w), Namespaces(n)) | (Namespaces(w), Pods { namespaces: n, .. }) => {
            selector(w, n)
        }
        (
            Pods {
                namespaces: wn,
                pods: wp,
            },
            Pods {
                namespaces: nn,
                pods: np,
            },
        ) => selector(wn, nn) && selector(wp, np),
        (Pods { namespaces, pods }, Namespaces(n)) => {
            pods.matches_everything() && selector(namespaces, n)
        }
        (Nodes(w), Nodes(n)) => selector(w, n),
        (Networks(w), Networks(n)) => n.iter().all(|nb| w.iter().any(|wb| ip_block(wb, nb))),
        (DomainNames(w), DomainNames(n)) => n
            .iter()
            .all(|name| w.iter().any(|wide| crate::dns::name::covers(wide, name))),
        _ => false,
    }
}

pub(super) fn admin_rule(wide: &AdminRule, narrow: &AdminRule) -> bool {
    ports(wide.ports.as_deref(), narrow.ports.as_deref())
        && narrow
            .peers
            .iter()
            .all(|n| wide.peers.iter().any(|w| admin_peer(w, n)))
}

fn net_peer(wide: &NetPeer, narrow: &NetPeer) -> bool {
    match (wide, narrow) {
        (
            NetPeer::Pods {
                namespaces: None,
                pods: wp,
            },
            NetPeer::Pods {
                namespaces: None,
                pods: np,
            },
        ) => selector(wp, np),
        (
            NetPeer::Pods {
                namespaces: Some(wn),
                pods: wp,
            },
            NetPeer::Pods {
                namespaces: Some(nn),
                pods: np,
            },
        ) => selector(wn, nn) && selector(wp, np),
        // Every namespace includes the policy's own.
        (
            NetPeer::Pods {
                namespaces: Some(wn),
                pods: wp,
            },
            NetPeer::Pods {
                namespaces: None,
                pods: np,
            },
        ) => wn.matches_everything() && selector(wp, np),
        (NetPeer::IpBlock(w), NetPeer::IpBlock(n)) => ip_block(w, n),
        _ => false,
    }
}

/// NetworkPolicy rules: absent peers match every peer, an empty port list every port.
pub(super) fn net_rule(wide: &NetRule, narrow: &NetRule) -> bool {
    fn as_option(p: &[PortMatch]) -> Option<&[PortMatch]> {
        (!p.is_empty()).then_some(p)
    }
    let ports_ok = ports(as_option(&wide.ports), as_option(&narrow.ports));
    let peers_ok = match (&wide.peers, &narrow.peers) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(wide), Some(narrow)) => narrow.iter().all(|n| wide.iter().any(|w| net_peer(w, n))),
    };
    ports_ok && peers_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::Labels;

    fn sel(reqs: Vec<Requirement>) -> Selector {
        Selector { requirements: reqs }
    }
    fn is(key: &str, values: &[&str]) -> Requirement {
        Requirement::In {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
    fn not_in(key: &str, values: &[&str]) -> Requirement {
        Requirement::NotIn {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn selector_containment_table() {
        let exists = |k: &str| Requirement::Exists { key: k.into() };
        let absent = |k: &str| Requirement::DoesNotExist { key: k.into() };
        let cases = [
            (
                "empty covers anything",
                sel(vec![]),
                sel(vec![is("a", &["1"])]),
                true,
            ),
            (
                "anything does not cover empty",
                sel(vec![is("a", &["1"])]),
                sel(vec![]),
                false,
            ),
            (
                "fewer requirements cover more",
                sel(vec![is("a", &["1"])]),
                sel(vec![is("a", &["1"]), is("b", &["2"])]),
                true,
            ),
            (
                "In with more values covers fewer",
                sel(vec![is("a", &["1", "2"])]),
                sel(vec![is("a", &["1"])]),
                true,
            ),
            (
                "In with fewer values does not",
                sel(vec![is("a", &["1"])]),
                sel(vec![is("a", &["1", "2"])]),
                false,
            ),
            (
                "Exists covers In",
                sel(vec![exists("a")]),
                sel(vec![is("a", &["1"])]),
                true,
            ),
            (
                "NotIn covers disjoint In",
                sel(vec![not_in("a", &["2"])]),
                sel(vec![is("a", &["1"])]),
                true,
            ),
            (
                "NotIn does not cover overlapping In",
                sel(vec![not_in("a", &["1"])]),
                sel(vec![is("a", &["1"])]),
                false,
            ),
            (
                "NotIn covers larger NotIn",
                sel(vec![not_in("a", &["1"])]),
                sel(vec![not_in("a", &["1", "2"])]),
                true,
            ),
            (
                "NotIn covers DoesNotExist",
                sel(vec![not_in("a", &["1"])]),
                sel(vec![absent("a")]),
                true,
            ),
        ];
        for (message, wide, narrow, want) in cases {
            assert_eq!(selector(&wide, &narrow), want, "{message}");
        }
    }

    /// Soundness on samples: whenever `selector` says covered, every label set the narrow one
    /// matches is matched by the wide one.
    #[test]
    fn selector_containment_is_sound_on_samples() {
        let reqs = [
            is("a", &["1"]),
            is("a", &["1", "2"]),
            not_in("a", &["1"]),
            not_in("a", &["1", "2"]),
            Requirement::Exists { key: "a".into() },
            Requirement::DoesNotExist { key: "a".into() },
            is("b", &["1"]),
        ];
        let label_sets: Vec<Labels> = [None, Some("1"), Some("2"), Some("3")]
            .iter()
            .flat_map(|a| {
                [None, Some("1")].iter().map(move |b| {
                    let mut l = Labels::new();
                    if let Some(a) = a {
                        l.insert("a".into(), a.to_string());
                    }
                    if let Some(b) = b {
                        l.insert("b".into(), b.to_string());
                    }
                    l
                })
            })
            .collect();
        for w in &reqs {
            for n in &reqs {
                let (wide, narrow) = (sel(vec![w.clone()]), sel(vec![n.clone()]));
                if selector(&wide, &narrow) {
                    for labels in &label_sets {
                        assert!(
                            !narrow.matches(labels) || wide.matches(labels),
                            "{w:?} ⊇ {n:?} on {labels:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ip_block_containment() {
        let block = |cidr: &str, except: &[&str]| IpBlock {
            cidr: cidr.parse().unwrap(),
            except: except.iter().map(|e| e.parse().unwrap()).collect(),
        };
        assert!(ip_block(
            &block("10.0.0.0/8", &[]),
            &block("10.1.0.0/16", &[])
        ));
        assert!(!ip_block(
            &block("10.1.0.0/16", &[]),
            &block("10.0.0.0/8", &[])
        ));
        assert!(!ip_block(
            &block("10.0.0.0/8", &["10.1.0.0/16"]),
            &block("10.1.2.0/24", &[])
        ));
        assert!(ip_block(
            &block("10.0.0.0/8", &["10.2.0.0/16"]),
            &block("10.1.0.0/16", &[])
        ));
        assert!(ip_block(
            &block("10.0.0.0/8", &["10.1.2.0/24"]),
            &block("10.1.0.0/16", &["10.1.0.0/20", "10.1.2.0/23"])
        ));
    }

    #[test]
    fn port_containment() {
        use crate::model::Protocol::*;
        let p = |port| PortMatch::Port {
            protocol: Tcp,
            port,
        };
        let r = |start, end| PortMatch::Range {
            protocol: Tcp,
            start,
            end,
        };
        assert!(ports(None, Some(&[p(80)])));
        assert!(!ports(Some(&[p(80)]), None));
        assert!(ports(Some(&[r(1, 1024)]), Some(&[p(80), r(443, 443)])));
        assert!(!ports(Some(&[r(1, 100)]), Some(&[r(90, 110)])));
        assert!(ports(
            Some(&[PortMatch::AllPorts { protocol: Tcp }]),
            Some(&[r(90, 110)])
        ));
        assert!(!ports(
            Some(&[PortMatch::AllPorts { protocol: Udp }]),
            Some(&[p(53)])
        ));
        // Every port of every protocol with ports still leaves ICMP to a rule without ports.
        let every = [Tcp, Udp, Sctp].map(|protocol| PortMatch::AllPorts { protocol });
        assert!(!ports(Some(&every), None));
    }
}
