//! The checked internal form of the cluster: endpoints and policies, converted once from the
//! raw API objects (see `compile`) and used by evaluation, lint and impact.

mod display;
mod endpoint;
mod ipblock;
mod policy;
mod ports;

pub use display::ports_text;
pub use endpoint::{ContainerPort, Namespace, Node, Pod, WorkloadRef};
pub use ipblock::IpBlock;
pub use policy::{
    Action, AdminPeer, AdminPolicy, AdminRule, AdminTier, Direction, ENFORCEMENT_ANNOTATION,
    Enforcement, NetPeer, NetRule, NetworkPolicy, PolicyKind, PolicyRef, Subject,
};
pub use ports::{PortMatch, Protocol};
