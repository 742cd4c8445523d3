//! Reading DNS responses on their way to pods (`response`), for egress `domainNames` rules.

pub mod response;
