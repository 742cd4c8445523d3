//! Conversion of raw API objects into the checked model. Validation is this conversion: what
//! compiles is exactly what the engine can evaluate, and every problem of an object is reported,
//! not only the first.

mod admin;
pub(crate) mod endpoints;
mod netpol;

pub use admin::{compile_anp, compile_banp, compile_cnp};
pub use endpoints::{namespace, node, pod, workload_template};
pub use netpol::compile_network_policy;

use serde::Serialize;

use crate::selector::Selector;

/// A problem in one field of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{object}: field {field}: {message}")]
pub struct CompileError {
    /// `Kind namespace/name`.
    pub object: String,
    /// JSON-path-like location inside the object, e.g. `spec.ingress[0].ports[1].port`.
    pub field: String,
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

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(CompileError {
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn selector(&mut self, field: &str, raw: &crate::api::LabelSelector) -> Selector {
        Selector::try_from(raw).unwrap_or_else(|err| {
            self.push(field, err.to_string());
            Selector::everything()
        })
    }

    pub fn k8s_selector(
        &mut self,
        field: &str,
        raw: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Selector {
        Selector::try_from(raw).unwrap_or_else(|err| {
            self.push(field, err.to_string());
            Selector::everything()
        })
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
/// server's `isCIDR` and NetworkPolicy validation demand.
pub(crate) fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let net: ipnet::IpNet = text
        .parse()
        .map_err(|_| format!("{text:?} is not a CIDR (want e.g. 10.0.0.0/8)"))?;
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
