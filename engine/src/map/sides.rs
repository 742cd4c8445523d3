//! One side of every pair: egress at the source, ingress at the destination.
//!
//! Subject classes that the same policies select (with the same named ports, where ingress
//! resolves them) share a behaviour per direction. A behaviour splits the other ends into
//! groups by the peers of its rules they match (and by their named ports, for egress rules
//! that name ports): every member of a group gets the same answer, so each group is evaluated
//! once, on the port classes its rules draw, by the engine's own `decide_direction`. Most
//! classes match none of a behaviour's peers; they share group 0 and are not listed.

use rustc_hash::FxHashMap;

use super::classes::{ClassId, Classes, EndpointClass};
use super::peers::{PeerId, Peers};
use super::portset::PortSet;
use crate::cluster::PodId;
use crate::engine::{Applied, Engine};
use crate::eval::{Endpoint, Flow};
pub(super) use crate::impact::ports::{Boundaries, push_match, push_range, windows};
use crate::model::{ContainerPort, Direction, PortMatch, Protocol};

pub(super) type BehaviourId = u32;
pub(super) type GroupId = u32;
pub(super) type PortSetId = u32;

/// Port sets, each stored once, with their intersections remembered.
#[derive(Default)]
pub(super) struct PortSets {
    sets: Vec<PortSet>,
    ids: FxHashMap<PortSet, PortSetId>,
    meets: FxHashMap<(PortSetId, PortSetId), PortSetId>,
}

pub(super) const ALL: PortSetId = 0;
pub(super) const NONE: PortSetId = 1;

impl PortSets {
    pub fn new() -> Self {
        let mut sets = Self::default();
        sets.intern(PortSet::all());
        sets.intern(PortSet::default());
        sets
    }

    pub fn intern(&mut self, set: PortSet) -> PortSetId {
        if let Some(id) = self.ids.get(&set) {
            return *id;
        }
        self.sets.push(set.clone());
        let id = (self.sets.len() - 1) as PortSetId;
        self.ids.insert(set, id);
        id
    }

    pub fn get(&self, id: PortSetId) -> &PortSet {
        &self.sets[id as usize]
    }

    pub fn meet(&mut self, a: PortSetId, b: PortSetId) -> PortSetId {
        if a == ALL || a == b {
            return b;
        }
        if b == ALL {
            return a;
        }
        if a == NONE || b == NONE {
            return NONE;
        }
        let key = (a.min(b), a.max(b));
        if let Some(id) = self.meets.get(&key) {
            return *id;
        }
        let set = self.sets[a as usize].intersection(&self.sets[b as usize]);
        let id = self.intern(set);
        self.meets.insert(key, id);
        id
    }
}

pub(super) fn push_container_ports(points: &mut Boundaries, ports: &[ContainerPort]) {
    for port in ports {
        push_range(points, port.protocol, port.port, port.port);
    }
}

/// The port set a predicate allows, asking it once per port class and once for ICMP.
pub(super) fn port_set(
    boundaries: &Boundaries,
    mut allowed: impl FnMut(Protocol, u16) -> bool,
) -> PortSet {
    let mut set = PortSet::default();
    for protocol in Protocol::ALL {
        for (start, end) in windows(boundaries, protocol) {
            if allowed(protocol, start) {
                set.insert(protocol, start, end);
            }
        }
    }
    if allowed(Protocol::Icmp, 0) {
        set.insert(Protocol::Icmp, 0, 0);
    }
    set
}

pub(super) struct Behaviour {
    pub direction: Direction,
    pub subjects: Vec<ClassId>,
    /// The port set of each group; group 0 holds the classes matching none of the peers.
    pub groups: Vec<PortSetId>,
    /// Classes outside group 0 with their group (every class, when named ports split them).
    pub sparse: Vec<(ClassId, GroupId)>,
    /// The port classes the rules draw.
    pub boundaries: Boundaries,
}

pub(super) struct Sides {
    pub behaviours: Vec<Behaviour>,
    /// Per class: its egress and ingress behaviour, when policies can select it.
    pub of_class: Vec<Option<[BehaviourId; 2]>>,
    /// How many single-direction evaluations the groups took.
    pub evaluations: usize,
}

pub(super) fn side(direction: Direction) -> usize {
    match direction {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

/// The rules of one direction of one subject's policies.
struct Rules<'a> {
    peers: Vec<PeerId>,
    ports: Vec<&'a PortMatch>,
    named: bool,
    /// Some policy takes part in this direction.
    any: bool,
}

fn rules<'a>(
    engine: &'a Engine,
    peers: &Peers,
    applied: &Applied,
    direction: Direction,
) -> Rules<'a> {
    let mut out = Rules {
        peers: Vec::new(),
        ports: Vec::new(),
        named: false,
        any: false,
    };
    for slot in &applied.admin {
        let policy = engine.admin_policy(*slot);
        let rules = policy.rules(direction);
        out.any |= !rules.is_empty();
        out.peers.extend(peers.of_admin(*slot, direction));
        out.ports
            .extend(rules.iter().flat_map(|r| r.ports.iter().flatten()));
    }
    for slot in &applied.netpols {
        let policy = engine.network_policy(*slot);
        let Some(rules) = policy.rules(direction) else {
            continue;
        };
        out.any = true;
        out.peers.extend(peers.of_netpol(*slot, direction));
        out.ports.extend(rules.iter().flat_map(|r| r.ports.iter()));
    }
    out.peers.sort_unstable();
    out.peers.dedup();
    out.named = out
        .ports
        .iter()
        .any(|p| matches!(p, PortMatch::Named { .. }));
    out
}

/// Two members of a group (by class and member index), skipping classes on a node: pairs with
/// those ends are evaluated per own-node relation elsewhere.
type Reps = Vec<(ClassId, usize)>;

fn add_rep(reps: &mut Reps, class: ClassId, c: &EndpointClass) {
    for i in 0..c.members.len().min(2) {
        if reps.len() < 2 {
            reps.push((class, i));
        }
    }
}

impl Sides {
    pub fn new(engine: &Engine, peers: &Peers, classes: &Classes, sets: &mut PortSets) -> Self {
        let list = &classes.classes;
        type Key<'a> = (usize, &'a Applied, &'a [ContainerPort]);
        let mut by_key: FxHashMap<Key, BehaviourId> = FxHashMap::default();
        let mut behaviours: Vec<Behaviour> = Vec::new();
        let mut of_class = vec![None; list.len()];
        for (c, class) in list.iter().enumerate() {
            let Some(identity) = class.identity.filter(|_| class.selectable()) else {
                continue;
            };
            let applied = engine.applied(identity);
            let pod = class.pod(0).expect("a pod class");
            let mut ids = [0; 2];
            for direction in [Direction::Egress, Direction::Ingress] {
                // Ingress resolves named ports on the subject itself.
                let ports: &[ContainerPort] = match direction {
                    Direction::Ingress => &engine.cluster.pod(pod).ports,
                    Direction::Egress => &[],
                };
                let id = *by_key
                    .entry((side(direction), applied, ports))
                    .or_insert_with(|| {
                        behaviours.push(Behaviour {
                            direction,
                            subjects: Vec::new(),
                            groups: Vec::new(),
                            sparse: Vec::new(),
                            boundaries: Vec::new(),
                        });
                        (behaviours.len() - 1) as BehaviourId
                    });
                behaviours[id as usize].subjects.push(c as ClassId);
                ids[side(direction)] = id;
            }
            of_class[c] = Some(ids);
        }
        let mut sides = Self {
            behaviours,
            of_class,
            evaluations: 0,
        };
        let mut group_of = vec![0 as GroupId; list.len()];
        for b in 0..sides.behaviours.len() {
            sides.build(b, engine, peers, classes, sets, &mut group_of);
        }
        sides
    }

    /// Groups the other ends of one behaviour and evaluates each group. `group_of` is all
    /// zeros on entry and on return.
    fn build(
        &mut self,
        b: usize,
        engine: &Engine,
        peers: &Peers,
        classes: &Classes,
        sets: &mut PortSets,
        group_of: &mut [GroupId],
    ) {
        let list = &classes.classes;
        let direction = self.behaviours[b].direction;
        let subject_class = &list[self.behaviours[b].subjects[0] as usize];
        let subject_pod = subject_class.pod(0).expect("a pod class");
        let applied = engine.applied(subject_class.identity.expect("selectable"));
        let rules = rules(engine, peers, applied, direction);
        if !rules.any {
            self.behaviours[b].groups = vec![ALL];
            return;
        }
        let mut boundaries = Boundaries::new();
        for port in &rules.ports {
            push_match(&mut boundaries, port);
        }
        let mut touched: Vec<ClassId> = Vec::new();
        let mut groups: GroupId = 1;
        for peer in &rules.peers {
            let mut split: FxHashMap<GroupId, GroupId> = FxHashMap::default();
            for c in &classes.peer_members[*peer as usize] {
                let old = group_of[*c as usize];
                if old == 0 {
                    touched.push(*c);
                }
                group_of[*c as usize] = *split.entry(old).or_insert_with(|| {
                    groups += 1;
                    groups - 1
                });
            }
        }
        let named_egress = rules.named && direction == Direction::Egress;
        if named_egress {
            // Egress rules naming ports resolve them on the destination: split by its ports.
            let mut split: FxHashMap<(GroupId, &[ContainerPort]), GroupId> = FxHashMap::default();
            touched = (0..list.len() as ClassId).collect();
            for (c, class) in list.iter().enumerate() {
                let ports: &[ContainerPort] = class
                    .pod(0)
                    .map_or(&[], |p| engine.cluster.pod(p).ports.as_slice());
                let key = (group_of[c], ports);
                group_of[c] = *split.entry(key).or_insert_with(|| {
                    groups += 1;
                    groups - 1
                });
            }
        }
        let mut reps: Vec<Reps> = vec![Vec::new(); groups as usize];
        for c in &touched {
            let class = &list[*c as usize];
            if !class.on_node() {
                add_rep(&mut reps[group_of[*c as usize] as usize], *c, class);
            }
        }
        if !named_egress {
            for (c, class) in list.iter().enumerate() {
                if reps[0].len() >= 2 {
                    break;
                }
                if group_of[c] == 0 && !class.on_node() {
                    add_rep(&mut reps[0], c as ClassId, class);
                }
            }
        }
        // A second subject, for a group whose only member is the first subject itself.
        let other_subject = self.behaviours[b]
            .subjects
            .get(1)
            .and_then(|c| list[*c as usize].pod(0));
        let mut results = Vec::with_capacity(groups as usize);
        for group in &reps {
            let members = group.iter().map(|(c, i)| list[*c as usize].members[*i]);
            let pair = [Some(subject_pod), other_subject]
                .into_iter()
                .flatten()
                .find_map(|s| {
                    let remote = members.clone().find(|e| *e != Endpoint::Pod(s))?;
                    Some((s, remote))
                });
            let Some((subject, remote)) = pair else {
                // Empty, or only the subject itself (a one-pod class paired with itself, which
                // is no pair).
                results.push(NONE);
                continue;
            };
            results.push(self.evaluate(engine, direction, subject, remote, &boundaries, sets));
        }
        let behaviour = &mut self.behaviours[b];
        behaviour.groups = results;
        behaviour.sparse = touched
            .iter()
            .map(|c| (*c, group_of[*c as usize]))
            .collect();
        behaviour.boundaries = boundaries;
        for c in touched {
            group_of[c as usize] = 0;
        }
    }

    fn evaluate(
        &mut self,
        engine: &Engine,
        direction: Direction,
        subject: PodId,
        remote: Endpoint,
        boundaries: &Boundaries,
        sets: &mut PortSets,
    ) -> PortSetId {
        let mut points = boundaries.clone();
        let destination = match direction {
            Direction::Ingress => Some(subject),
            Direction::Egress => match remote {
                Endpoint::Pod(p) => Some(p),
                Endpoint::Address(_) => None,
            },
        };
        if let Some(pod) = destination {
            push_container_ports(&mut points, &engine.cluster.pod(pod).ports);
        }
        let mut evaluations = 0;
        let set = port_set(&points, |protocol, port| {
            evaluations += 1;
            let flow = match direction {
                Direction::Egress => Flow {
                    src: Endpoint::Pod(subject),
                    dst: remote,
                    protocol,
                    port,
                },
                Direction::Ingress => Flow {
                    src: remote,
                    dst: Endpoint::Pod(subject),
                    protocol,
                    port,
                },
            };
            engine.decide_direction(direction, &flow).allowed
        });
        self.evaluations += evaluations;
        sets.intern(set)
    }
}
