//! Port classes: the intervals of ports between the boundaries that the policies of a pair
//! mention, per protocol with ports, and ICMP (portless) as a class of its own. Every port inside
//! a class gets the same verdict, so one evaluation covers it.

use rustc_hash::FxHashMap;

use super::candidates::Footprint;
use super::cells::{CellId, Cells, Pair, Remote};
use crate::engine::Engine;
use crate::model::{Direction, PortMatch, Protocol};

/// An inclusive range of ports of one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PortClass {
    pub protocol: Protocol,
    pub start: u16,
    pub end: u16,
}

/// Boundaries: a port where a class starts. 1 always starts one.
pub(crate) type Boundaries = Vec<(Protocol, u32)>;

/// The classes of one protocol that boundaries cut 1–65535 into, as inclusive ranges.
pub(crate) fn windows(points: &Boundaries, protocol: Protocol) -> Vec<(u16, u16)> {
    let mut starts: Vec<u32> = points
        .iter()
        .filter(|(p, s)| *p == protocol && *s >= 1)
        .map(|(_, s)| *s)
        .collect();
    starts.extend([1, 65536]);
    starts.sort_unstable();
    starts.dedup();
    starts
        .windows(2)
        .map(|w| (w[0] as u16, (w[1] - 1) as u16))
        .collect()
}

pub(super) struct PortClasses<'a> {
    before: &'a Engine,
    after: &'a Engine,
    cells: &'a Cells,
    egress: FxHashMap<CellId, Boundaries>,
    ingress: FxHashMap<CellId, Boundaries>,
}

impl<'a> PortClasses<'a> {
    pub fn new(before: &'a Engine, after: &'a Engine, cells: &'a Cells) -> Self {
        Self {
            before,
            after,
            cells,
            egress: FxHashMap::default(),
            ingress: FxHashMap::default(),
        }
    }

    /// The classes of a pair that intersect the footprint of the change.
    pub fn classes(&mut self, pair: &Pair, footprint: &Footprint) -> Vec<PortClass> {
        let mut points: Boundaries = Vec::new();
        if let Remote::Cell(src) = pair.src {
            points.extend(self.boundaries(src, Direction::Egress).iter().copied());
        }
        if let Remote::Cell(dst) = pair.dst {
            points.extend(self.boundaries(dst, Direction::Ingress).iter().copied());
            // Named ports resolve to the destination's container ports.
            for engine in [self.before, self.after] {
                let cell = &self.cells.cells[dst as usize];
                let pod = if std::ptr::eq(engine, self.before) {
                    cell.members[0].0
                } else {
                    cell.members[0].1
                };
                for port in &engine.cluster.pod(pod).ports {
                    push_range(&mut points, port.protocol, port.port, port.port);
                }
            }
        }
        for p in &footprint.ports {
            push_match(&mut points, p);
        }
        let destination_ports = self.destination_ports(pair);
        let mut classes = Vec::new();
        for protocol in Protocol::ALL {
            for (start, end) in windows(&points, protocol) {
                let class = PortClass {
                    protocol,
                    start,
                    end,
                };
                if footprint.all_ports
                    || footprint
                        .ports
                        .iter()
                        .any(|m| intersects(m, &class, &destination_ports))
                {
                    classes.push(class);
                }
            }
        }
        // ICMP has no port: only rules without ports match it, so only they can change it.
        if footprint.all_ports {
            classes.push(PortClass {
                protocol: Protocol::Icmp,
                start: 0,
                end: 0,
            });
        }
        classes
    }

    fn destination_ports(&self, pair: &Pair) -> Vec<(Protocol, u16, &str)> {
        match pair.dst {
            Remote::Cell(dst) => {
                let cell = &self.cells.cells[dst as usize];
                let mut ports: Vec<(Protocol, u16, &str)> = Vec::new();
                for (engine, pod) in [
                    (self.before, cell.members[0].0),
                    (self.after, cell.members[0].1),
                ] {
                    ports.extend(
                        engine
                            .cluster
                            .pod(pod)
                            .ports
                            .iter()
                            .map(|p| (p.protocol, p.port, p.name.as_str())),
                    );
                }
                ports
            }
            Remote::Addresses(_) => Vec::new(),
        }
    }

    /// Boundaries from every policy that applies to the cell in either state.
    fn boundaries(&mut self, cell: CellId, direction: Direction) -> &Boundaries {
        let map = match direction {
            Direction::Egress => &mut self.egress,
            Direction::Ingress => &mut self.ingress,
        };
        map.entry(cell).or_insert_with(|| {
            let mut points = Vec::new();
            let c = &self.cells.cells[cell as usize];
            for (engine, identity) in [(self.before, c.before), (self.after, c.after)] {
                let applied = engine.applied(identity);
                for slot in &applied.admin {
                    for rule in engine.admin_policy(*slot).rules(direction) {
                        rule.ports
                            .iter()
                            .flatten()
                            .for_each(|p| push_match(&mut points, p));
                    }
                }
                for slot in &applied.netpols {
                    for rule in engine
                        .network_policy(*slot)
                        .rules(direction)
                        .unwrap_or_default()
                    {
                        rule.ports.iter().for_each(|p| push_match(&mut points, p));
                    }
                }
            }
            points.sort_unstable();
            points.dedup();
            points
        })
    }
}

pub(crate) fn push_range(points: &mut Boundaries, protocol: Protocol, start: u16, end: u16) {
    points.push((protocol, u32::from(start)));
    points.push((protocol, u32::from(end) + 1));
}

pub(crate) fn push_match(points: &mut Boundaries, port: &PortMatch) {
    match *port {
        PortMatch::Port { protocol, port } => push_range(points, protocol, port, port),
        PortMatch::Range {
            protocol,
            start,
            end,
        } => push_range(points, protocol, start, end),
        // All ports of a protocol, and named ports (resolved per destination), add nothing here.
        PortMatch::AllPorts { .. } | PortMatch::Named { .. } => {}
    }
}

fn intersects(
    port: &PortMatch,
    class: &PortClass,
    destination_ports: &[(Protocol, u16, &str)],
) -> bool {
    let overlaps =
        |p: Protocol, s: u16, e: u16| p == class.protocol && s <= class.end && e >= class.start;
    match port {
        PortMatch::AllPorts { protocol } => *protocol == class.protocol,
        PortMatch::Port { protocol, port } => overlaps(*protocol, *port, *port),
        PortMatch::Range {
            protocol,
            start,
            end,
        } => overlaps(*protocol, *start, *end),
        PortMatch::Named { name, protocol } => destination_ports.iter().any(|(p, n, pname)| {
            pname == name && protocol.is_none_or(|w| w == *p) && overlaps(*p, *n, *n)
        }),
    }
}
