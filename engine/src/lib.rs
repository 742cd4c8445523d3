//! netpol's evaluation engine: reads Kubernetes objects, compiles the network policies of every
//! tier into checked form, decides flows with a walkthrough, lints policies and previews impact.
//! Pure logic: no client, no runtime, no I/O beyond the reader's byte input.

pub mod api;
mod cidr_index;
pub mod cluster;
pub mod compile;
pub mod dns;
pub mod engine;
pub mod eval;
pub mod events;
pub mod explain;
pub mod impact;
pub mod lint;
pub mod load;
pub mod map;
pub mod model;
pub mod selector;
pub mod state;
pub mod synthetic;

pub use cluster::Cluster;
pub use engine::{Build, Engine, Policy};
pub use eval::{Decision, Endpoint, EndpointSpec, Flow, FlowSpec, PortSpec, Verdict, VerdictCache};
pub use load::{Loaded, read_str};
pub use model::Protocol;
pub use state::State;
