//! The validity rules compilation enforces, each with a stable id: what the API server's
//! NetworkPolicy validation, the CRDs' schemas and CEL rules, and upstream's documented
//! constraints refuse. `kubectl netpol lint` shows compile errors under these ids, beside lint's
//! own checks (which are about valid policies only).

use serde::Serialize;

/// One validity rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// A stable kebab-case id, distinct from every lint check's.
    pub id: &'static str,
    /// What the rule refuses, and who enforces it.
    pub summary: &'static str,
}

pub const INVALID_NAME: Rule = Rule {
    id: "invalid-name",
    summary: "metadata.name is not a lowercase RFC 1123 subdomain (API server, every kind)",
};

pub const BANP_NAME: Rule = Rule {
    id: "banp-name",
    summary: "a BaselineAdminNetworkPolicy not named `default` (CRD CEL rule: the BANP is a singleton)",
};

pub const INVALID_SELECTOR: Rule = Rule {
    id: "invalid-selector",
    summary: "a label selector with an unknown operator, missing or forbidden values, or (NetworkPolicy) label keys and values that are not label syntax",
};

pub const INVALID_POLICY_TYPE: Rule = Rule {
    id: "invalid-policy-type",
    summary: "a NetworkPolicy policyTypes entry other than Ingress or Egress, or more than two entries (API server)",
};

pub const INVALID_PEER: Rule = Rule {
    id: "invalid-peer",
    summary: "a NetworkPolicy peer with neither podSelector, namespaceSelector nor ipBlock, or an ipBlock beside a selector (API server)",
};

pub const EXACTLY_ONE_FIELD: Rule = Rule {
    id: "exactly-one-field",
    summary: "an admin policy subject, peer, port, protocol or destinationPort with no field or several set (CRD minProperties/maxProperties)",
};

pub const INVALID_CIDR: Rule = Rule {
    id: "invalid-cidr",
    summary: "a CIDR that does not parse, has host bits set or is longer than 43 characters (API server, CRD isCIDR and maxLength)",
};

pub const EXCEPT_OUTSIDE_CIDR: Rule = Rule {
    id: "except-outside-cidr",
    summary: "an ipBlock except entry that is not a strict subset of the block's cidr (API server)",
};

pub const INVALID_PORT: Rule = Rule {
    id: "invalid-port",
    summary: "a port number outside 1-65535 (API server, CRD minimum/maximum)",
};

pub const INVALID_PORT_NAME: Rule = Rule {
    id: "invalid-port-name",
    summary: "a NetworkPolicy named port that is not an IANA service name (API server)",
};

pub const INVALID_END_PORT: Rule = Rule {
    id: "invalid-end-port",
    summary: "a NetworkPolicy endPort without a numeric port (API server)",
};

pub const PORT_RANGE_INVERTED: Rule = Rule {
    id: "port-range-inverted",
    summary: "a port range whose start is above its end (ClusterNetworkPolicy: not below it, CEL rule; NetworkPolicy: API server; AdminNetworkPolicy: documented by upstream)",
};

pub const INVALID_PROTOCOL: Rule = Rule {
    id: "invalid-protocol",
    summary: "a protocol other than TCP, UDP or SCTP (API server; documented by upstream for admin policies)",
};

pub const LIST_LENGTH: Rule = Rule {
    id: "list-length",
    summary: "a list with fewer or more entries than the CRD allows: rules, peers, ports, protocols, networks, domainNames (CRD minItems/maxItems)",
};

pub const DUPLICATE_ENTRY: Rule = Rule {
    id: "duplicate-entry",
    summary: "the same entry twice in a networks or domainNames list, which are sets (CRD x-kubernetes-list-type: set)",
};

pub const PRIORITY_RANGE: Rule = Rule {
    id: "priority-out-of-range",
    summary: "an admin policy priority outside 0-1000 (CRD minimum/maximum)",
};

pub const RULE_NAME_LENGTH: Rule = Rule {
    id: "rule-name-too-long",
    summary: "a rule name longer than 100 characters (CRD maxLength)",
};

pub const NAMED_PORT_ADDRESS_PEER: Rule = Rule {
    id: "named-port-address-peer",
    summary: "named ports in a rule with networks, nodes or domainNames peers, which have no named ports (CRD CEL rule)",
};

pub const INVALID_DOMAIN_NAME: Rule = Rule {
    id: "invalid-domain-name",
    summary: "a domainNames entry that is not a DNS name with an optional leading `*.` (CRD pattern)",
};

pub const DOMAIN_NAMES_NOT_ACCEPT: Rule = Rule {
    id: "domain-names-not-accept",
    summary: "a domainNames peer in a rule whose action is not Allow (ANP) or Accept (CNP) (documented by upstream)",
};

/// Every rule compilation enforces.
pub const RULES: &[Rule] = &[
    INVALID_NAME,
    BANP_NAME,
    INVALID_SELECTOR,
    INVALID_POLICY_TYPE,
    INVALID_PEER,
    EXACTLY_ONE_FIELD,
    INVALID_CIDR,
    EXCEPT_OUTSIDE_CIDR,
    INVALID_PORT,
    INVALID_PORT_NAME,
    INVALID_END_PORT,
    PORT_RANGE_INVERTED,
    INVALID_PROTOCOL,
    LIST_LENGTH,
    DUPLICATE_ENTRY,
    PRIORITY_RANGE,
    RULE_NAME_LENGTH,
    NAMED_PORT_ADDRESS_PEER,
    INVALID_DOMAIN_NAME,
    DOMAIN_NAMES_NOT_ACCEPT,
];
