//! Verdict events: one decided connection as the enforcer writes it (a JSON line) and
//! `kubectl netpol observe` and `diff --flows` read it. docs/observe.md describes each field.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::{PolicyRef, Protocol};

/// The policy and rule that decided one direction.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DecidedBy {
    /// `admin`, `networkPolicy`, `baseline`, `default`, `residentNode`, `notSelectable`.
    pub tier: String,
    pub policy: Option<PolicyRef>,
    pub rule: Option<RuleRef>,
    /// For a NetworkPolicy denial: the policies that isolate the pod (none of them allows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolated_by: Vec<PolicyRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleRef {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What the state with its audited policies enforced would do instead.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `would-deny` or `would-allow`.
    pub verdict: String,
    pub direction: String,
    pub decided_by: DecidedBy,
}

/// One line of `kubectl netpol observe`: docs/observe.md describes each field.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlowEvent {
    pub time: String,
    pub node: String,
    pub direction: String,
    pub from: String,
    pub from_ip: IpAddr,
    pub to: String,
    pub to_ip: IpAddr,
    pub protocol: Protocol,
    pub port: u16,
    /// `allowed` or `denied`.
    pub verdict: String,
    pub decided_by: DecidedBy,
    /// The DNS answer an allowed egress rested on, when a `domainNames` rule matched only
    /// through it: `domainNames *.example.com via answer api.example.com → 203.0.113.5, 212 s
    /// left`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_dns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditEvent>,
}
