//! netpol's NFQUEUE enforcer: the kernel queues the first packet of each new connection from or
//! to a local pod that some policy selects; a thread per queue decides it with the engine and
//! accepts or silently drops it. Rules, queues and conntrack go through the `kernel` seam.

pub mod affinity;
pub mod api;
pub mod cut;
pub mod decide;
pub mod dns;
pub mod enforcement;
pub mod events;
pub mod kernel;
pub mod metrics;
pub mod packet;
pub mod run;
pub mod source;
pub mod state_dir;
pub mod verdict;
