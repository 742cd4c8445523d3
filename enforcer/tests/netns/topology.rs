//! Nodes and pods as network namespaces, like a simple routed CNI: each node is a namespace
//! linked to the others by one veth (addresses 10.250.0.N), each pod a namespace with a veth
//! to its node, a /32 address, a default route through its node, and proxy ARP on the node side.
//! Everything is created inside namespaces of our own, with names unique to this process, and
//! deleted on drop, failures included.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, bail};

pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> anyhow::Result<Self> {
        sh("ip", &["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend(args);
        sh("ip", &all)
    }

    pub fn sysctl(&self, path: &str, value: &str) -> anyhow::Result<()> {
        let script = format!("echo {value} > /proc/sys/{path}");
        sh("ip", &["netns", "exec", &self.name, "sh", "-c", &script]).map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh("ip", &["netns", "del", &self.name]);
    }
}

#[derive(Debug)]
pub struct PodNs {
    pub netns: Netns,
}

/// Pods are declared before nodes so that they are dropped first.
#[derive(Debug)]
pub struct Topology {
    pub pods: Vec<PodNs>,
    pub nodes: Vec<Netns>,
    pub node_ips: Vec<Ipv4Addr>,
}

/// A prefix unique to this process for namespace names.
pub fn prefix(tag: &str) -> String {
    format!("np{tag}{}", std::process::id())
}

/// Builds `node_count` nodes (10.250.0.1, .2, ...) and the given pods `(key, node index, ip)`;
/// pod addresses of node i are routed to it from the others as 10.251.(i+1).0/24.
pub fn build(
    prefix: &str,
    node_count: usize,
    pods: &[(String, usize, Ipv4Addr)],
) -> anyhow::Result<Topology> {
    let mut topology = Topology {
        pods: Vec::new(),
        nodes: Vec::new(),
        node_ips: Vec::new(),
    };
    for i in 0..node_count {
        let node = Netns::new(format!("{prefix}n{}", i + 1))?;
        node.sysctl("net/ipv4/ip_forward", "1")?;
        topology.nodes.push(node);
        topology
            .node_ips
            .push(Ipv4Addr::new(10, 250, 0, i as u8 + 1));
    }
    // A chain of point-to-point links would do for two nodes; a veth per pair keeps it simple.
    for a in 0..node_count {
        for b in a + 1..node_count {
            let (na, nb) = (&topology.nodes[a], &topology.nodes[b]);
            let (ea, eb) = (format!("to{}", b + 1), format!("to{}", a + 1));
            na.ip(&[
                "link", "add", &ea, "type", "veth", "peer", "name", &eb, "netns", &nb.name,
            ])?;
            for (ns, dev, me, peer, peer_node) in [(na, &ea, a, b, b), (nb, &eb, b, a, a)] {
                let me_ip = topology.node_ips[me];
                ns.ip(&["addr", "add", &format!("{me_ip}/32"), "dev", dev])?;
                ns.ip(&["link", "set", dev, "up"])?;
                let peer_ip = topology.node_ips[peer].to_string();
                ns.ip(&["route", "add", &peer_ip, "dev", dev])?;
                let pod_net = format!("10.251.{}.0/24", peer_node + 1);
                ns.ip(&["route", "add", &pod_net, "via", &peer_ip, "dev", dev])?;
            }
        }
    }
    for (index, (_, node, ip)) in pods.iter().enumerate() {
        let netns = Netns::new(format!("{prefix}p{index}"))?;
        let host = &topology.nodes[*node];
        let dev = format!("pod{index}");
        host.ip(&[
            "link",
            "add",
            &dev,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns.name,
        ])?;
        host.ip(&["link", "set", &dev, "up"])?;
        host.sysctl(&format!("net/ipv4/conf/{dev}/proxy_arp"), "1")?;
        // Proxy ARP answers after a random delay of up to 0.8 s by default.
        host.sysctl(&format!("net/ipv4/neigh/{dev}/proxy_delay"), "0")?;
        host.ip(&["route", "add", &format!("{ip}/32"), "dev", &dev])?;
        netns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"])?;
        netns.ip(&["link", "set", "eth0", "up"])?;
        netns.ip(&["route", "add", "default", "dev", "eth0"])?;
        topology.pods.push(PodNs { netns });
    }
    Ok(topology)
}
