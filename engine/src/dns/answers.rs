//! Answers given by hand: what `kubectl netpol check --resolve` and scenario files say a pod
//! learned, as `name=address` or, through CNAMEs, `name=target=...=address`.

use std::net::IpAddr;
use std::str::FromStr;

use super::name::{NameError, host_name};
use super::{Answer, DnsView, NameChain};

/// One answer as written: `api.example.com=203.0.113.5`, or
/// `www.example.com=cdn.example.net=203.0.113.5` when the resolver followed a CNAME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub chain: NameChain,
    pub address: IpAddr,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsInputError {
    #[error("{0:?} is not NAME=ADDRESS (or NAME=CNAME=...=ADDRESS)")]
    Shape(String),
    #[error("{text:?}: {value:?} is not an IP address")]
    Address { text: String, value: String },
    #[error("{text:?}: {why}")]
    Name { text: String, why: NameError },
}

impl FromStr for Resolution {
    type Err = DnsInputError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('=').map(str::trim).collect();
        let [names @ .., address] = parts.as_slice() else {
            return Err(DnsInputError::Shape(text.to_owned()));
        };
        if names.is_empty() {
            return Err(DnsInputError::Shape(text.to_owned()));
        }
        let address = address.parse().map_err(|_| DnsInputError::Address {
            text: text.to_owned(),
            value: (*address).to_owned(),
        })?;
        let names = names
            .iter()
            .map(|n| {
                host_name(n).map_err(|why| DnsInputError::Name {
                    text: text.to_owned(),
                    why,
                })
            })
            .collect::<Result<Vec<String>, _>>()?;
        let cnames: Vec<&str> = names[1..].iter().map(String::as_str).collect();
        Ok(Self {
            chain: NameChain::new(&names[0], &cnames),
            address,
        })
    }
}

/// A fixed set of answers, each for one client address or for any source.
#[derive(Clone, Debug, Default)]
pub struct DnsAnswers {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    /// The pod address the answer reached; `None`: whatever the source.
    client: Option<IpAddr>,
    resolution: Resolution,
    ttl_left: Option<u32>,
}

impl DnsAnswers {
    /// Records that `client` (any source when `None`) learned `resolution`, for `ttl_left`
    /// more seconds (`None`: no TTL, as given on a command line).
    pub fn add(&mut self, client: Option<IpAddr>, resolution: Resolution, ttl_left: Option<u32>) {
        self.entries.push(Entry {
            client,
            resolution,
            ttl_left,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The addresses learned for `name` (the queried name), in the order given.
    pub fn addresses_of(&self, name: &str) -> Vec<IpAddr> {
        let name = super::name::canonical(name);
        let mut out: Vec<IpAddr> = Vec::new();
        for entry in &self.entries {
            let address = entry.resolution.address;
            if entry.resolution.chain.queried() == name && !out.contains(&address) {
                out.push(address);
            }
        }
        out
    }
}

impl DnsView for DnsAnswers {
    fn find(
        &self,
        client: &[IpAddr],
        address: IpAddr,
        visit: &mut dyn FnMut(Answer<'_>) -> bool,
    ) -> bool {
        self.entries.iter().any(|entry| {
            entry.resolution.address == address
                && entry.client.is_none_or(|c| client.contains(&c))
                && visit(Answer {
                    chain: &entry.resolution.chain,
                    address,
                    ttl_left: entry.ttl_left,
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_as_written() {
        let ok: Resolution = "API.example.com.=203.0.113.5".parse().unwrap();
        assert_eq!(ok.chain.to_string(), "api.example.com");
        assert_eq!(ok.address.to_string(), "203.0.113.5");
        let chain: Resolution = "www.example.com=cdn.example.net=2001:db8::5"
            .parse()
            .unwrap();
        assert_eq!(chain.chain.to_string(), "www.example.com → cdn.example.net");
        assert_eq!(chain.chain.queried(), "www.example.com");
        let errors = [
            ("api.example.com", "not NAME=ADDRESS"),
            ("=203.0.113.5", "empty"),
            ("api.example.com=api.example.net", "not an IP address"),
            ("*.example.com=203.0.113.5", "wildcard"),
            ("a b.com=203.0.113.5", "characters"),
            ("api.example.com=300.0.0.1", "not an IP address"),
        ];
        for (text, want) in errors {
            let err = text.parse::<Resolution>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn answers_reach_their_client_only() {
        let mut answers = DnsAnswers::default();
        let web: IpAddr = "10.0.0.1".parse().unwrap();
        let db: IpAddr = "10.0.0.2".parse().unwrap();
        answers.add(
            Some(web),
            "a.example.com=203.0.113.5".parse().unwrap(),
            Some(30),
        );
        answers.add(None, "b.example.com=203.0.113.6".parse().unwrap(), None);
        let names = |client: &[IpAddr], address: &str| {
            let mut seen = Vec::new();
            answers.find(client, address.parse().unwrap(), &mut |a| {
                seen.push(a.to_string());
                false
            });
            seen
        };
        assert_eq!(
            names(&[web], "203.0.113.5"),
            ["a.example.com → 203.0.113.5, 30 s left"]
        );
        assert!(
            names(&[db], "203.0.113.5").is_empty(),
            "another pod's answer"
        );
        assert_eq!(
            names(&[db], "203.0.113.6"),
            ["b.example.com → 203.0.113.6 (given by hand, no TTL)"]
        );
        assert_eq!(
            answers.addresses_of("B.example.com."),
            ["203.0.113.6".parse::<IpAddr>().unwrap()]
        );
    }
}
