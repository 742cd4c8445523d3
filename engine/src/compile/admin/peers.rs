//! Admin policy peers: exactly one kind of peer each, and the CRD's limits on `networks` and
//! `domainNames` (1 to 25 entries, a set, each a CIDR or a DNS name).

use super::{RawPeer, pods_subject};
use crate::compile::rules::{EXACTLY_ONE_FIELD, INVALID_CIDR, INVALID_DOMAIN_NAME};
use crate::compile::{Problems, parse_cidr, syntax};
use crate::model::{AdminPeer, IpBlock, Subject};

/// The longest CIDR text the CRD accepts.
const MAX_CIDR_CHARS: usize = 43;

pub(super) fn peer(problems: &mut Problems, path: &str, raw: &RawPeer) -> Option<AdminPeer> {
    let set = [
        raw.namespaces.is_some(),
        raw.pods.is_some(),
        raw.nodes.is_some(),
        raw.networks.is_some(),
        raw.domain_names.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        problems.push(
            &EXACTLY_ONE_FIELD,
            path,
            "exactly one of namespaces, pods, nodes, networks or domainNames must be set",
        );
        return None;
    }
    if let Some(ns) = raw.namespaces {
        return Some(AdminPeer::Namespaces(
            problems.selector(&format!("{path}.namespaces"), ns),
        ));
    }
    if let Some(pods) = &raw.pods {
        return match pods_subject(problems, &format!("{path}.pods"), pods) {
            Subject::Pods { namespaces, pods } => Some(AdminPeer::Pods { namespaces, pods }),
            Subject::Namespaces(_) => None,
        };
    }
    if let Some(nodes) = raw.nodes {
        return Some(AdminPeer::Nodes(
            problems.selector(&format!("{path}.nodes"), nodes),
        ));
    }
    if let Some(networks) = raw.networks {
        let field = format!("{path}.networks");
        problems.length(&field, networks.len(), 1, 25);
        problems.set(&field, networks.iter().map(|c| c.0.as_str()));
        let blocks = networks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let parsed = if c.0.chars().count() > MAX_CIDR_CHARS {
                    Err(format!(
                        "{:?} is longer than {MAX_CIDR_CHARS} characters",
                        c.0
                    ))
                } else {
                    parse_cidr(&c.0)
                };
                match parsed {
                    Ok(cidr) => Some(IpBlock {
                        cidr,
                        except: Vec::new(),
                    }),
                    Err(m) => {
                        problems.push(&INVALID_CIDR, format!("{field}[{i}]"), m);
                        None
                    }
                }
            })
            .collect();
        return Some(AdminPeer::Networks(blocks));
    }
    let names = raw.domain_names.unwrap_or_default();
    let field = format!("{path}.domainNames");
    problems.length(&field, names.len(), 1, 25);
    problems.set(&field, names.iter().map(|n| n.0.as_str()));
    for (i, name) in names.iter().enumerate() {
        if let Some(why) = syntax::domain_name_problem(&name.0) {
            problems.push(
                &INVALID_DOMAIN_NAME,
                format!("{field}[{i}]"),
                format!("{:?} is not a domain name the CRD accepts: {why}", name.0),
            );
        }
    }
    Some(AdminPeer::DomainNames(
        names.iter().map(|n| n.0.clone()).collect(),
    ))
}
