//! What the source learned from DNS, for flows to domain names: `--resolve NAME=ADDRESS`
//! (repeatable; `NAME=CNAME=...=ADDRESS` when the resolver followed CNAMEs) and `--dns NAME`
//! (the name `--to`'s address was learned for); in traffic files, `resolve:` and `dns:` per
//! entry. A destination that is a name given by `--resolve` is a flow to each of its
//! addresses, decided as the enforcer would after the source pod received that answer.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow};
use netpol_engine::dns::{DnsAnswers, NameChain, Resolution, name};

/// How the options are spelt where they were given: flags or traffic file keys.
#[derive(Clone, Copy)]
pub(super) struct Words {
    pub resolve: &'static str,
    pub dns: &'static str,
}

pub(super) const FLAGS: Words = Words {
    resolve: "--resolve",
    dns: "--dns",
};

pub(super) const KEYS: Words = Words {
    resolve: "resolve",
    dns: "dns",
};

/// Parses `NAME=ADDRESS` answers.
pub(super) fn parse_resolve(texts: &[String], words: Words) -> Result<Vec<Resolution>> {
    texts
        .iter()
        .map(|text| text.parse::<Resolution>().context(words.resolve))
        .collect()
}

/// `--dns NAME` answers: each name gave the destination address `to`.
pub(super) fn parse_dns(names: &[String], to: &str, words: Words) -> Result<Vec<Resolution>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let address: IpAddr = to.parse().map_err(|_| {
        anyhow!(
            "{} says which name the destination's address was learned for: the destination must be an IP address, not {to:?}",
            words.dns
        )
    })?;
    names
        .iter()
        .map(|text| {
            let queried = name::host_name(text).context(words.dns)?;
            Ok(Resolution {
                chain: NameChain::new(&queried, &[]),
                address,
            })
        })
        .collect()
}

/// A destination as shown in reports, and the endpoint it is decided as.
pub(super) struct Target {
    pub shown: String,
    pub endpoint: String,
}

/// The destinations `to` stands for: each address the answers give the name `to`, or `to`
/// itself when it is not such a name (a pod, a workload, an address).
pub(super) fn targets(to: &str, resolutions: &[Resolution]) -> Vec<Target> {
    let addresses = match name::host_name(to) {
        Ok(queried) if !to.contains('/') => answers(resolutions).addresses_of(&queried),
        _ => Vec::new(),
    };
    if addresses.is_empty() {
        return vec![Target {
            shown: to.to_owned(),
            endpoint: to.to_owned(),
        }];
    }
    addresses
        .into_iter()
        .map(|ip| Target {
            shown: format!("{to} ({ip})"),
            endpoint: ip.to_string(),
        })
        .collect()
}

/// The answers, as received by whatever source the flow has.
pub(super) fn answers(resolutions: &[Resolution]) -> DnsAnswers {
    let mut answers = DnsAnswers::default();
    for resolution in resolutions {
        answers.add(None, resolution.clone(), None);
    }
    answers
}

/// A hint for a destination taken as a pod name that looks like a domain name.
pub(super) fn name_hint(to: &str, words: Words) -> Option<String> {
    (to.contains('.') && !to.contains('/') && to.parse::<IpAddr>().is_err()).then(|| {
        format!(
            "{to} was read as a pod name; for a flow to a domain name, say what it resolved to with {} {to}=ADDRESS",
            words.resolve
        )
    })
}
