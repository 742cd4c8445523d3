//! The enforcer's DNS learning flags.

use std::net::IpAddr;

use clap::Args;
use ipnet::IpNet;

use super::cache::Limits;
use crate::kernel::Queues;

#[derive(Clone, Debug, Args)]
pub struct LearningConfig {
    /// Do not learn DNS answers: egress domainNames rules then match nothing.
    #[arg(long)]
    pub no_dns_learning: bool,
    /// The queue DNS responses to learning pods go to (default: the one after the connection
    /// queues).
    #[arg(long)]
    pub dns_queue: Option<u16>,
    /// Answers count for at least this many seconds, whatever their TTL: an answer with TTL 0
    /// is still used for the connection that follows it.
    #[arg(long, default_value_t = Limits::default().min_ttl)]
    pub dns_min_ttl: u32,
    /// Answers count for at most this many seconds: how long an address stays allowed after
    /// its name has moved away.
    #[arg(long, default_value_t = Limits::default().max_ttl)]
    pub dns_max_ttl: u32,
    /// Entries (name, address) kept per pod; beyond, the one closest to expiry goes.
    #[arg(long, default_value_t = Limits::default().per_pod,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub dns_max_entries_per_pod: usize,
    /// Entries kept on the node; beyond, the pod holding the most loses its entry closest to
    /// expiry.
    #[arg(long, default_value_t = Limits::default().per_node,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub dns_max_entries: usize,
    /// A resolver trusted besides the cluster DNS pods, as an address or CIDR (repeatable):
    /// the kube-dns Service address, NodeLocal DNSCache's, an upstream resolver of pods with
    /// dnsPolicy Default.
    #[arg(long, value_name = "ADDRESS|CIDR", value_parser = address_or_cidr)]
    pub dns_resolver: Vec<IpNet>,
}

fn address_or_cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR"))
}

impl LearningConfig {
    pub fn limits(&self) -> Result<Limits, String> {
        if self.dns_min_ttl > self.dns_max_ttl {
            return Err(format!(
                "--dns-min-ttl {} is above --dns-max-ttl {}",
                self.dns_min_ttl, self.dns_max_ttl
            ));
        }
        Ok(Limits {
            min_ttl: self.dns_min_ttl,
            max_ttl: self.dns_max_ttl,
            per_pod: self.dns_max_entries_per_pod,
            per_node: self.dns_max_entries,
        })
    }

    /// The DNS queue's number, none when learning is off; an error when it is one of the
    /// connection queues.
    pub fn queue(&self, connections: Queues) -> Result<Option<u16>, String> {
        if self.no_dns_learning {
            return Ok(None);
        }
        let number = self
            .dns_queue
            .unwrap_or_else(|| connections.last().saturating_add(1));
        if connections.numbers().any(|n| n == number) {
            return Err(format!(
                "--dns-queue {number} is one of the connection queues {}-{}",
                connections.first,
                connections.last()
            ));
        }
        Ok(Some(number))
    }
}
