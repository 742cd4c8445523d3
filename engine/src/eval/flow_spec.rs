//! Flows as users write them (`kubectl netpol check`, the webhook's guard rails, `matrix`):
//! endpoints by name, a protocol, a destination port by number or by name. The engine resolves
//! them, a named port on the destination pod exactly as policies resolve one
//! ([`crate::model::Pod::named_port`]).

use serde::Serialize;

use super::flow::{Endpoint, EndpointSpec, Flow, ResolveError};
use crate::engine::Engine;
use crate::model::Protocol;

/// A destination port as written: a number, or the name of a container port of the destination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PortSpec {
    Number(u16),
    Name(String),
}

impl std::str::FromStr for PortSpec {
    type Err = ResolveError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<u16>() {
            Ok(0) => Err(ResolveError::PortZero),
            Ok(n) => Ok(Self::Number(n)),
            Err(_) if text.chars().all(|c| c.is_ascii_digit()) => {
                Err(ResolveError::PortSyntax(text.to_owned()))
            }
            Err(_) if text.is_empty() => Err(ResolveError::PortSyntax(text.to_owned())),
            Err(_) => Ok(Self::Name(text.to_owned())),
        }
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// A flow as written, checked for shape: every protocol but ICMP has a port, ICMP none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowSpec {
    pub from: EndpointSpec,
    pub to: EndpointSpec,
    /// As written: `None` is TCP for a port number, and for a port name the protocol of the
    /// destination's container port of that name.
    pub protocol: Option<Protocol>,
    /// `None` only for ICMP.
    pub port: Option<PortSpec>,
}

impl FlowSpec {
    pub fn new(
        from: EndpointSpec,
        to: EndpointSpec,
        protocol: Option<Protocol>,
        port: Option<PortSpec>,
    ) -> Result<Self, ResolveError> {
        match (protocol, &port) {
            (Some(Protocol::Icmp), Some(_)) => return Err(ResolveError::IcmpPort),
            (Some(Protocol::Icmp), None) => {}
            (_, None) => return Err(ResolveError::PortRequired),
            _ => {}
        }
        Ok(Self {
            from,
            to,
            protocol,
            port,
        })
    }
}

impl Engine {
    /// Resolves both endpoints and the port of a written flow.
    pub fn resolve_flow(&self, spec: &FlowSpec) -> Result<Flow, ResolveError> {
        let src = self.resolve(&spec.from)?;
        let dst = self.resolve(&spec.to)?;
        let (protocol, port) = match &spec.port {
            // Only ICMP comes without a port (`FlowSpec::new`).
            None => (Protocol::Icmp, 0),
            Some(port) => self.resolve_port(dst, spec.protocol, port)?,
        };
        Ok(Flow {
            src,
            dst,
            protocol,
            port,
        })
    }

    /// The protocol and port number of a flow to `dst`: a number as given (TCP unless said
    /// otherwise), a name looked up on the destination pod as policies look it up.
    pub fn resolve_port(
        &self,
        dst: Endpoint,
        protocol: Option<Protocol>,
        port: &PortSpec,
    ) -> Result<(Protocol, u16), ResolveError> {
        let name = match port {
            PortSpec::Number(n) => return Ok((protocol.unwrap_or(Protocol::Tcp), *n)),
            PortSpec::Name(name) => name,
        };
        let Endpoint::Pod(id) = self.normalize(dst) else {
            return Err(ResolveError::NamedPortNotOnPod {
                name: name.clone(),
                to: self.describe(dst),
            });
        };
        let pod = self.cluster.pod(id);
        match pod.named_port(name, protocol) {
            Some(found) => Ok((found.protocol, found.port)),
            None => Err(ResolveError::UnknownNamedPort {
                name: name.clone(),
                to: pod.key(),
                have: pod
                    .ports
                    .iter()
                    .map(|p| format!("{}({}/{})", p.name, p.protocol, p.port))
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_shapes() {
        let cases: &[(&str, Result<PortSpec, ResolveError>, &str)] = &[
            ("443", Ok(PortSpec::Number(443)), "a number"),
            ("http", Ok(PortSpec::Name("http".into())), "a name"),
            ("0", Err(ResolveError::PortZero), "port 0"),
            (
                "70000",
                Err(ResolveError::PortSyntax("70000".into())),
                "beyond 65535",
            ),
        ];
        for (text, want, what) in cases {
            assert_eq!(&text.parse::<PortSpec>(), want, "{what}");
        }
        let pod = || "a/b".parse::<EndpointSpec>().unwrap();
        let port = Some(PortSpec::Number(1));
        let icmp = Some(Protocol::Icmp);
        assert_eq!(
            FlowSpec::new(pod(), pod(), icmp, port.clone()),
            Err(ResolveError::IcmpPort)
        );
        assert_eq!(
            FlowSpec::new(pod(), pod(), None, None),
            Err(ResolveError::PortRequired)
        );
        assert!(FlowSpec::new(pod(), pod(), icmp, None).is_ok());
        assert!(FlowSpec::new(pod(), pod(), None, port).is_ok());
    }
}
