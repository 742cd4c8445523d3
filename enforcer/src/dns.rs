//! Learning DNS answers for egress `domainNames` rules: the responses addressed to the pods
//! those rules apply to are queued on their way to the pod (`queue`), read (`response`),
//! checked against the resolvers trusted and recorded per pod with their TTL (`learn`,
//! `cache`), and only then released, so that the pod's first connection to a learned address
//! can never outrun the answer. Decisions read the cache as a `netpol_engine::dns::DnsView`.

pub mod cache;
pub mod config;
pub mod learn;
pub mod queue;
pub mod response;
