//! Typed Kubernetes APIs for the admin policy CRDs, field for field as upstream defines them.
//! The CRD YAML in `crds/` is generated from these types (see `crd` and `examples/gen-crds.rs`).

pub mod crd;
mod selector;
mod status;
pub mod v1alpha1;
pub mod v1alpha2;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use selector::{LabelSelector, LabelSelectorRequirement};
pub use status::{Condition, ConditionStatus, PolicyStatus};

/// An IP range in CIDR notation, as written in a policy; checked when the policy is compiled.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend(
    "maxLength" = 43,
    "x-kubernetes-validations" = [{"rule": "isCIDR(self)", "message": "Invalid CIDR format provided"}]
))]
pub struct Cidr(pub String);

/// A DNS name, optionally with a leading `*.` wildcard label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("pattern" = r"^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$"))]
pub struct DomainName(pub String);
