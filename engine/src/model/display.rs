//! Short human descriptions of subjects, peers and rules, for tables and messages.

use std::fmt;

use super::{Action, AdminPeer, NetPeer, PortMatch, Subject};

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Namespaces(ns) => write!(f, "pods in namespaces [{ns}]"),
            Self::Pods { namespaces, pods } => {
                write!(f, "pods [{pods}] in namespaces [{namespaces}]")
            }
        }
    }
}

impl fmt::Display for AdminPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Namespaces(ns) => write!(f, "namespaces [{ns}]"),
            Self::Pods { namespaces, pods } => {
                write!(f, "pods [{pods}] in namespaces [{namespaces}]")
            }
            Self::Nodes(nodes) => write!(f, "nodes [{nodes}]"),
            Self::Networks(blocks) => {
                let list: Vec<String> = blocks.iter().map(ToString::to_string).collect();
                write!(f, "networks {}", list.join(","))
            }
            Self::DomainNames(names) => write!(f, "domains {}", names.join(",")),
        }
    }
}

impl fmt::Display for NetPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pods {
                namespaces: None,
                pods,
            } => write!(f, "pods [{pods}] in the policy's namespace"),
            Self::Pods {
                namespaces: Some(ns),
                pods,
            } if pods.matches_everything() => {
                write!(f, "all pods in namespaces [{ns}]")
            }
            Self::Pods {
                namespaces: Some(ns),
                pods,
            } => write!(f, "pods [{pods}] in namespaces [{ns}]"),
            Self::IpBlock(block) => write!(f, "ipBlock {block}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accept => "Accept",
            Self::Deny => "Deny",
            Self::Pass => "Pass",
        })
    }
}

/// `all ports`, or the list joined by commas.
pub fn ports_text(ports: Option<&[PortMatch]>) -> String {
    match ports {
        None => "all ports".to_owned(),
        Some([]) => "all ports".to_owned(),
        Some(list) => list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}
