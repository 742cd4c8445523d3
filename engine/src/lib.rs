//! netpol's evaluation engine: reads Kubernetes objects, compiles the network policies of every
//! tier into checked form, decides flows with a walkthrough, lints policies and previews impact.
//! Pure logic: no client, no runtime, no I/O beyond the reader's byte input.

pub mod api;
