//! Kubernetes API reflectors feeding the netpol engine, shared by the webhook and the
//! enforcer: one kube watcher per kind with trimmed objects ([`caches`]), the in-memory store
//! that applies their events and keeps an engine current ([`store`]), and the published engine
//! that readers take without waiting for the store ([`shared`]).

pub mod caches;
pub mod shared;
pub mod store;

pub use caches::{Cached, Feed, Served};
pub use shared::Shared;
pub use store::{Entry, Rebuild, Sizes, Store};
