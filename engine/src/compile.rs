//! Conversion of raw API objects into the checked model. Validation is this conversion: what
//! compiles is exactly what the engine can evaluate, every rule the API server or the CRDs
//! enforce is a compile error under a stable id ([`RULES`]), and every problem of an object is
//! reported with its field path, not only the first.

mod admin;
pub(crate) mod endpoints;
mod netpol;
pub mod rules;
mod syntax;

pub use admin::{compile_anp, compile_banp, compile_cnp};
pub use endpoints::{namespace, node, pod, workload_template};
pub use netpol::compile_network_policy;
pub use rules::{RULES, Rule};
pub use syntax::port_name;

use serde::Serialize;

use crate::selector::Selector;

/// A problem in one field of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{object}: field {field}: {message} ({check})")]
pub struct CompileError {
    /// `Kind namespace/name`.
    pub object: String,
    /// JSON-path-like location inside the object, e.g. `spec.ingress[0].ports[1].port`.
    pub field: String,
    /// The id of the rule broken, one of [`RULES`].
    pub check: &'static str,
    pub message: String,
}

/// Collects the problems of one object.
pub(crate) struct Problems {
    object: String,
    errors: Vec<CompileError>,
}

impl Problems {
    pub fn new(object: String) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, rule: &Rule, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(CompileError {
            object: self.object.clone(),
            field: field.into(),
            check: rule.id,
            message: message.into(),
        });
    }

    /// The object's name: an RFC 1123 subdomain, as the API server requires of every kind.
    pub fn name(&mut self, name: &str) {
        if let Err(message) = syntax::dns_subdomain(name) {
            self.push(&rules::INVALID_NAME, "metadata.name", message);
        }
    }

    /// An admin policy's selector: the CRD takes any strings, but only the four operators with
    /// values where they belong can be evaluated.
    pub fn selector(&mut self, field: &str, raw: &crate::api::LabelSelector) -> Selector {
        Selector::try_from(raw).unwrap_or_else(|err| {
            let field = format!("{field}.{}", err.field());
            self.push(&rules::INVALID_SELECTOR, field, err.to_string());
            Selector::everything()
        })
    }

    /// A NetworkPolicy's selector, which the API server also holds to label syntax.
    pub fn k8s_selector(
        &mut self,
        field: &str,
        raw: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Selector {
        for (key, value) in raw.match_labels.iter().flatten() {
            for message in [syntax::label_key(key), syntax::label_value(value)]
                .into_iter()
                .filter_map(Result::err)
            {
                self.push(
                    &rules::INVALID_SELECTOR,
                    format!("{field}.matchLabels"),
                    message,
                );
            }
        }
        for (i, expr) in raw.match_expressions.iter().flatten().enumerate() {
            let path = format!("{field}.matchExpressions[{i}]");
            if !expr.key.is_empty()
                && let Err(message) = syntax::label_key(&expr.key)
            {
                self.push(&rules::INVALID_SELECTOR, format!("{path}.key"), message);
            }
            for (j, value) in expr.values.iter().flatten().enumerate() {
                if let Err(message) = syntax::label_value(value) {
                    self.push(
                        &rules::INVALID_SELECTOR,
                        format!("{path}.values[{j}]"),
                        message,
                    );
                }
            }
        }
        Selector::try_from(raw).unwrap_or_else(|err| {
            let field = format!("{field}.{}", err.field());
            self.push(&rules::INVALID_SELECTOR, field, err.to_string());
            Selector::everything()
        })
    }

    /// A list's length against the CRD's minItems and maxItems.
    pub fn length(&mut self, field: &str, len: usize, min: usize, max: usize) {
        if len < min || len > max {
            let message = if min == 1 && len == 0 {
                format!("must have at least one entry (at most {max})")
            } else {
                format!("{len} entries, {min} to {max} are allowed")
            };
            self.push(&rules::LIST_LENGTH, field, message);
        }
    }

    /// A list the CRD declares a set (`x-kubernetes-list-type: set`): no entry twice.
    pub fn set<'a>(&mut self, field: &str, entries: impl Iterator<Item = &'a str>) {
        let mut seen = rustc_hash::FxHashSet::default();
        for (i, entry) in entries.enumerate() {
            if !seen.insert(entry) {
                self.push(
                    &rules::DUPLICATE_ENTRY,
                    format!("{field}[{i}]"),
                    format!("{entry:?} appears twice; the list is a set"),
                );
            }
        }
    }

    pub fn finish<T>(self, value: T) -> Result<T, Vec<CompileError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Parses `a.b.c.d/n` or an IPv6 CIDR; the address must be the network address, as the API
/// server's NetworkPolicy validation demands, and no number may have a leading zero (which
/// some parsers read as octal), as both the server and the CRDs' `isCIDR` demand.
pub(crate) fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    if text.is_empty() {
        return Err("a CIDR is required".into());
    }
    let not_cidr = || format!("{text:?} is not a CIDR (want e.g. 10.0.0.0/8)");
    let (address, prefix) = text.split_once('/').ok_or_else(not_cidr)?;
    let address: std::net::IpAddr = address.parse().map_err(|_| not_cidr())?;
    let digits = prefix.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = prefix.len() > 1 && prefix.starts_with('0');
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|_| digits && !leading_zero)
        .ok_or_else(not_cidr)?;
    let net = ipnet::IpNet::new(address, prefix).map_err(|_| not_cidr())?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set (the network is {})",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A 1..=65535 port number from an i32 API field.
pub(crate) fn port_number(value: i32) -> Result<u16, String> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("port {value} is outside 1-65535"))
}
