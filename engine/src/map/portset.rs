//! Sets of destination ports: inclusive ranges over 1–65535 per protocol with ports, and ICMP
//! (portless) as a flag. The map's verdicts are port sets, so an edge says at once which ports
//! of which protocols a pair may use.

use std::fmt;

use serde::Serialize;

use crate::model::Protocol;

/// Inclusive ranges, sorted, disjoint and never adjacent (adjacent ranges are merged).
pub type Ranges = Vec<(u16, u16)>;

/// Allowed ports per protocol. The empty set allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSet {
    /// Indexed like `Protocol::ALL`: TCP, UDP, SCTP.
    ranges: [Ranges; 3],
    icmp: bool,
}

const FULL: (u16, u16) = (1, u16::MAX);

fn slot(protocol: Protocol) -> Option<usize> {
    Protocol::ALL.iter().position(|p| *p == protocol)
}

impl PortSet {
    /// Every port of every protocol, ICMP included.
    pub fn all() -> Self {
        Self {
            ranges: [vec![FULL], vec![FULL], vec![FULL]],
            icmp: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.icmp && self.ranges.iter().all(Vec::is_empty)
    }

    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    /// Adds a range (or ICMP, whose range is ignored).
    pub fn insert(&mut self, protocol: Protocol, start: u16, end: u16) {
        let Some(i) = slot(protocol) else {
            self.icmp = true;
            return;
        };
        let ranges = &mut self.ranges[i];
        ranges.push((start.max(1), end));
        ranges.sort_unstable();
        let mut merged: Ranges = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if u32::from(s) <= u32::from(last.1) + 1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ranges = merged;
    }

    /// Whether a flow of this protocol to this port is in the set.
    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        match slot(protocol) {
            None => self.icmp,
            Some(i) => self.ranges[i]
                .iter()
                .any(|(s, e)| (*s..=*e).contains(&port)),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let mut out = Self {
            icmp: self.icmp && other.icmp,
            ..Self::default()
        };
        for i in 0..3 {
            let (a, b) = (&self.ranges[i], &other.ranges[i]);
            let (mut x, mut y) = (0, 0);
            while x < a.len() && y < b.len() {
                let start = a[x].0.max(b[y].0);
                let end = a[x].1.min(b[y].1);
                if start <= end {
                    out.ranges[i].push((start, end));
                }
                if a[x].1 < b[y].1 {
                    x += 1;
                } else {
                    y += 1;
                }
            }
        }
        out
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        out.icmp |= other.icmp;
        for (protocol, ranges) in Protocol::ALL.iter().zip(&other.ranges) {
            for (s, e) in ranges {
                out.insert(*protocol, *s, *e);
            }
        }
        out
    }

    /// The ranges of one protocol with ports (empty for ICMP).
    pub fn ranges(&self, protocol: Protocol) -> &[(u16, u16)] {
        slot(protocol).map_or(&[], |i| self.ranges[i].as_slice())
    }

    pub fn icmp(&self) -> bool {
        self.icmp
    }

    /// How many (protocol, port) pairs the set holds, ICMP counting as one: a size for sorting.
    pub fn size(&self) -> u64 {
        let ports: u64 = self
            .ranges
            .iter()
            .flatten()
            .map(|(s, e)| u64::from(*e - *s) + 1)
            .sum();
        ports + u64::from(self.icmp)
    }
}

/// `TCP 1-79,81-65535; UDP all; ICMP`, `all` for every port of every protocol, `none` when empty.
impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut parts: Vec<String> = Vec::new();
        for (protocol, ranges) in Protocol::ALL.iter().zip(&self.ranges) {
            if ranges.is_empty() {
                continue;
            }
            if ranges.as_slice() == [FULL] {
                parts.push(format!("{protocol} all"));
                continue;
            }
            let list: Vec<String> = ranges
                .iter()
                .map(|(s, e)| {
                    if s == e {
                        s.to_string()
                    } else {
                        format!("{s}-{e}")
                    }
                })
                .collect();
            parts.push(format!("{protocol} {}", list.join(",")));
        }
        if self.icmp {
            parts.push("ICMP".into());
        }
        f.write_str(&parts.join("; "))
    }
}

impl Serialize for PortSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_intersect_and_print_like_a_reader_writes_them() {
        let mut a = PortSet::default();
        a.insert(Protocol::Tcp, 1, 79);
        a.insert(Protocol::Tcp, 81, 65535);
        a.insert(Protocol::Udp, 1, 65535);
        assert_eq!(a.to_string(), "TCP 1-79,81-65535; UDP all");
        a.insert(Protocol::Tcp, 80, 80);
        assert_eq!(a.to_string(), "TCP all; UDP all");
        a.insert(Protocol::Sctp, 1, 65535);
        a.insert(Protocol::Icmp, 0, 0);
        assert!(a.is_all());
        assert_eq!(a.to_string(), "all");

        let mut b = PortSet::default();
        b.insert(Protocol::Tcp, 8080, 8080);
        b.insert(Protocol::Tcp, 9000, 9100);
        let mut c = PortSet::default();
        c.insert(Protocol::Tcp, 9050, 20000);
        c.insert(Protocol::Tcp, 8080, 8081);
        c.insert(Protocol::Icmp, 0, 0);
        assert_eq!(b.intersection(&c).to_string(), "TCP 8080,9050-9100");
        assert_eq!(b.union(&c).to_string(), "TCP 8080-8081,9000-20000; ICMP");
        assert!(b.intersection(&PortSet::default()).is_empty());
        assert_eq!(PortSet::default().to_string(), "none");
        assert!(c.contains(Protocol::Icmp, 0) && !b.contains(Protocol::Icmp, 0));
        assert!(b.contains(Protocol::Tcp, 9100) && !b.contains(Protocol::Tcp, 9101));
        assert!(!b.contains(Protocol::Udp, 8080));
    }
}
