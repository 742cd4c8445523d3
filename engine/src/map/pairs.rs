//! Every ordered pair of classes: egress of the source's behaviour met with ingress of the
//! destination's, then restricted to the ports shown; pairs with an end on a node are decided
//! per own-node relation. Each source's row is grouped by port set into destination sets, and
//! sources with equal rows share one edge per port set.

use rustc_hash::FxHashMap;

use super::classes::{ClassId, EndpointClass};
use super::sides::{
    ALL, Behaviour, BehaviourId, Boundaries, NONE, PortSetId, PortSets, Sides, port_set,
    push_container_ports,
};
use super::{NodeRelation, SetId};
use crate::engine::Engine;
use crate::eval::Flow;
use crate::impact::nodes::{self, Places};

/// An entry of a row: the destination, the own-node relation it holds for, the ports.
type Entry = (ClassId, Option<NodeRelation>, PortSetId);

/// What a source's row reduces to: (relation, ports, destination set) sorted.
type RowKey = Vec<(Option<NodeRelation>, PortSetId, SetId)>;

/// A destination as the pair loop reads it.
struct Target {
    class: ClassId,
    pods: bool,
    selectable: bool,
    on_node: bool,
    /// One member: the class is not paired with itself.
    single: bool,
    /// The ports shown to it.
    view: PortSetId,
    /// Its ingress behaviour, and the ports that admits from sources in no peer group of it.
    ingress: Option<BehaviourId>,
    ingress_default: PortSetId,
}

impl Target {
    fn new(
        class: ClassId,
        of: &EndpointClass,
        view: PortSetId,
        sides: &Sides,
        behaviours: &[Behaviour],
    ) -> Self {
        let ingress = sides.of_class[class as usize].map(|b| b[1]);
        Self {
            class,
            pods: of.kind.is_pods(),
            selectable: of.selectable(),
            on_node: of.on_node(),
            single: of.members.len() < 2,
            view,
            ingress,
            ingress_default: ingress.map_or(ALL, |b| behaviours[b as usize].groups[0]),
        }
    }
}

pub(super) struct Pairs<'a> {
    pub engine: &'a Engine,
    pub classes: &'a [EndpointClass],
    pub sides: &'a Sides,
    pub sets: &'a mut PortSets,
    /// The classes shown as sources and as destinations.
    pub shown: (Vec<ClassId>, Vec<ClassId>),
    /// Restricts the ports of a destination: the port set id to meet with, per class.
    pub view: &'a dyn Fn(ClassId, &mut PortSets) -> PortSetId,
    pub evaluations: usize,
    places: FxHashMap<ClassId, Places>,
    class_sets: FxHashMap<Vec<ClassId>, SetId>,
}

/// The grouped result: destination and source sets, and edges between them.
pub(super) struct Grouped {
    pub sets: Vec<Vec<ClassId>>,
    pub edges: Vec<(SetId, SetId, Option<NodeRelation>, PortSetId)>,
}

impl<'a> Pairs<'a> {
    pub fn new(
        engine: &'a Engine,
        classes: &'a [EndpointClass],
        sides: &'a Sides,
        sets: &'a mut PortSets,
        shown: (Vec<ClassId>, Vec<ClassId>),
        view: &'a dyn Fn(ClassId, &mut PortSets) -> PortSetId,
    ) -> Self {
        Self {
            engine,
            classes,
            sides,
            sets,
            shown,
            view,
            evaluations: 0,
            places: FxHashMap::default(),
            class_sets: FxHashMap::default(),
        }
    }

    fn intern_set(&mut self, list: Vec<ClassId>) -> SetId {
        let next = self.class_sets.len() as SetId;
        *self.class_sets.entry(list).or_insert(next)
    }

    pub fn run(mut self) -> (Grouped, usize) {
        let n = self.classes.len();
        let behaviours = &self.sides.behaviours;
        // Per class, the ingress behaviours (other than their group 0) it falls in.
        let mut ingress_groups: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        for (b, behaviour) in behaviours.iter().enumerate() {
            if behaviour.direction == crate::model::Direction::Ingress {
                for (c, g) in &behaviour.sparse {
                    ingress_groups[*c as usize].push((b as u32, *g));
                }
            }
        }
        let mut egress_group = vec![0u32; n];
        let mut ingress_group = vec![0u32; behaviours.len()];
        let mut rows: FxHashMap<RowKey, Vec<ClassId>> = FxHashMap::default();
        let (sources, destinations) = std::mem::take(&mut self.shown);
        // What the pair loop reads of each destination, packed in the order it is walked: at
        // 150,000 pods the loop meets 22,000² pairs, and reading the classes themselves for
        // each was most of its time in cache misses.
        let mut targets: Vec<Target> = Vec::with_capacity(destinations.len());
        for &d in &destinations {
            let view = (self.view)(d, self.sets);
            let class = &self.classes[d as usize];
            targets.push(Target::new(d, class, view, self.sides, behaviours));
        }
        let mut row: Vec<Entry> = Vec::new();
        for &s in &sources {
            let src = &self.classes[s as usize];
            let (src_pods, src_selectable, src_on_node) =
                (src.kind.is_pods(), src.selectable(), src.on_node());
            let egress = self.sides.of_class[s as usize].map(|b| b[0]);
            if let Some(b) = egress {
                for (c, g) in &behaviours[b as usize].sparse {
                    egress_group[*c as usize] = *g;
                }
            }
            let egress_groups = egress.map(|b| behaviours[b as usize].groups.as_slice());
            for (b, g) in &ingress_groups[s as usize] {
                ingress_group[*b as usize] = *g;
            }
            row.clear();
            for target in &targets {
                let d = target.class;
                if !src_pods && !target.pods {
                    continue;
                }
                if s == d && target.single {
                    continue;
                }
                if (src_selectable && target.on_node) || (src_on_node && target.selectable) {
                    for (relation, ports) in self.on_node_pair(s, d) {
                        let ports = self.restrict(ports, target.view);
                        if ports != NONE {
                            row.push((d, relation, ports));
                        }
                    }
                    continue;
                }
                let e =
                    egress_groups.map_or(ALL, |groups| groups[egress_group[d as usize] as usize]);
                let i = match target.ingress {
                    None => ALL,
                    Some(b) => match ingress_group[b as usize] {
                        0 => target.ingress_default,
                        g => behaviours[b as usize].groups[g as usize],
                    },
                };
                let ports = self.sets.meet(e, i);
                let ports = self.restrict(ports, target.view);
                if ports != NONE {
                    row.push((d, None, ports));
                }
            }
            if let Some(b) = egress {
                for (c, _) in &behaviours[b as usize].sparse {
                    egress_group[*c as usize] = 0;
                }
            }
            for (b, _) in &ingress_groups[s as usize] {
                ingress_group[*b as usize] = 0;
            }
            if row.is_empty() {
                continue;
            }
            let mut by_ports: FxHashMap<(Option<NodeRelation>, PortSetId), Vec<ClassId>> =
                FxHashMap::default();
            for (d, relation, ports) in row.drain(..) {
                by_ports.entry((relation, ports)).or_default().push(d);
            }
            let mut key: RowKey = by_ports
                .into_iter()
                .map(|((relation, ports), list)| (relation, ports, self.intern_set(list)))
                .collect();
            key.sort_unstable();
            rows.entry(key).or_default().push(s);
        }
        let mut edges = Vec::new();
        for (key, sources) in rows {
            let from = self.intern_set(sources);
            for (relation, ports, to) in key {
                edges.push((from, to, relation, ports));
            }
        }
        let mut sets = vec![Vec::new(); self.class_sets.len()];
        for (list, id) in self.class_sets {
            sets[id as usize] = list;
        }
        (Grouped { sets, edges }, self.evaluations)
    }

    /// `ports` within the ports shown of the destination (its `view`).
    fn restrict(&mut self, ports: PortSetId, view: PortSetId) -> PortSetId {
        if ports == NONE {
            return NONE;
        }
        self.sets.meet(ports, view)
    }

    fn places(&mut self, c: ClassId) -> &Places {
        let class = &self.classes[c as usize];
        self.places
            .entry(c)
            .or_insert_with(|| Places::new(class.nodes.iter().map(|n| (*n, *n))))
    }

    /// A pair with one end on a node and the other pods on the pod network: decided once per
    /// own-node relation its members have. When both relations get the same ports, one entry.
    fn on_node_pair(&mut self, s: ClassId, d: ClassId) -> Vec<(Option<NodeRelation>, PortSetId)> {
        let mut boundaries = Boundaries::new();
        let behaviours = &self.sides.behaviours;
        if let Some(b) = self.sides.of_class[s as usize] {
            boundaries.extend(&behaviours[b[0] as usize].boundaries);
        }
        if let Some(b) = self.sides.of_class[d as usize] {
            boundaries.extend(&behaviours[b[1] as usize].boundaries);
        }
        let (src, dst) = (&self.classes[s as usize], &self.classes[d as usize]);
        if let Some(pod) = dst.pod(0) {
            push_container_ports(&mut boundaries, &self.engine.cluster.pod(pod).ports);
        }
        self.places(s);
        self.places(d);
        let relations = nodes::relations(&self.places[&s], &self.places[&d]);
        let mut out: Vec<(Option<NodeRelation>, PortSetId)> = Vec::new();
        for ((same, _), i, j) in relations {
            let (from, to) = (src.members[i], dst.members[j]);
            let mut evaluations = 0;
            let set = port_set(&boundaries, |protocol, port| {
                evaluations += 1;
                let flow = Flow {
                    src: from,
                    dst: to,
                    protocol,
                    port,
                };
                self.engine.decide(&flow).allowed
            });
            self.evaluations += evaluations;
            let relation = if same {
                NodeRelation::SameNode
            } else {
                NodeRelation::OtherNode
            };
            out.push((Some(relation), self.sets.intern(set)));
        }
        if out.len() == 2 && out[0].1 == out[1].1 {
            return vec![(None, out[0].1)];
        }
        if out.len() == 1 && out[0].0 == Some(NodeRelation::OtherNode) {
            // Every member pair is on different nodes: nothing to set apart.
            return vec![(None, out[0].1)];
        }
        out
    }
}
