//! The in-memory cache of the cluster and the engine compiled from it. Watch events arrive
//! through small synchronous `apply` / `delete` / `reset` methods. Policy changes update the
//! engine at once with `Engine::with_changes` (cheap: the topology is shared); endpoint changes
//! (pods, namespaces, nodes) only mark the topology stale, and a rebuild folds a whole batch of
//! them in at once.
//!
//! Objects are kept compiled, never as API objects: even trimmed, a pod takes several KiB as
//! a typed object and ~0.3 KiB compiled. Pods, by far the most numerous, are not even kept
//! twice: they live in the engine's topology, and the store keeps only the pod changes since
//! that topology was built.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use netpol_engine::compile;
use netpol_engine::engine::compile_policy;
use netpol_engine::load::{Located, Object, ObjectKind, Workload};
use netpol_engine::model::{Namespace, Node, Pod, PolicyKind, PolicyRef};
use netpol_engine::state::{ObjectKey, State};
use netpol_engine::{Cluster, Engine, Policy};

/// An object compiled for the store, ready to apply.
#[derive(Debug)]
pub enum Entry {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Workload(ObjectKey, Box<Workload>),
    /// A policy and its compiled form (`None`: the engine cannot evaluate it, so any previous
    /// version no longer holds).
    Policy(ObjectKey, Option<Policy>),
}

impl Entry {
    /// Compiles an object as it arrives, so that no raw object is kept.
    pub fn compile(object: Object) -> Self {
        match object {
            Object::Namespace(raw) => Self::Namespace(compile::namespace(&raw)),
            Object::Node(raw) => Self::Node(compile::node(&raw)),
            Object::Pod(raw) => Self::Pod(compile::pod(&raw)),
            // Only these are kept by key (pods, the many, need none).
            keyed => {
                let key = ObjectKey::of(&keyed);
                match keyed {
                    Object::Workload(workload) => Self::Workload(key, workload),
                    policy => Self::Policy(key, compile_policy(&policy).and_then(Result::ok)),
                }
            }
        }
    }
}

/// Pod changes since the engine's topology was built.
#[derive(Debug, Default)]
struct PodChanges {
    /// A re-list: all the pods there are, in place of the topology's.
    replacement: Option<Vec<Pod>>,
    /// Later changes by namespace and name (`None`: deleted).
    changes: BTreeMap<(String, String), Option<Pod>>,
}

impl PodChanges {
    /// A re-list under way: the pods it brings replace the topology's.
    fn relist() -> Self {
        Self {
            replacement: Some(Vec::new()),
            changes: BTreeMap::new(),
        }
    }

    /// The pods of `base` (or of the re-list) with the changes applied, sorted by namespace
    /// and name.
    fn apply_to(self, base: &Cluster) -> Vec<Pod> {
        // Sized once (a rebuild runs beside the engine in use): room for every change to be
        // a new pod.
        let mut pods = match self.replacement {
            Some(mut pods) => {
                pods.reserve_exact(self.changes.len());
                pods
            }
            None => {
                let mut pods = Vec::with_capacity(base.pods.len() + self.changes.len());
                pods.extend(base.pods.iter().filter(|p| !p.template).cloned());
                pods
            }
        };
        // Stable: of two definitions of one pod in a re-list, the later one is kept.
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods.dedup_by(|later, kept| {
            let same = later.namespace == kept.namespace && later.name == kept.name;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        if self.changes.is_empty() {
            return pods;
        }
        // In place: each change finds its pod by binary search; deleted pods go in one pass,
        // new ones are appended and the whole put back in order (one sorted run and a short
        // tail: a linear sort).
        let sorted_len = pods.len();
        let mut deleted = Vec::new();
        for ((namespace, name), change) in self.changes {
            let key = (namespace.as_str(), name.as_str());
            let found = pods[..sorted_len]
                .binary_search_by(|p| (p.namespace.as_str(), p.name.as_str()).cmp(&key));
            match (found, change) {
                (Ok(index), Some(pod)) => pods[index] = pod,
                (Ok(index), None) => deleted.push(index),
                (Err(_), Some(pod)) => pods.push(pod),
                (Err(_), None) => {}
            }
        }
        if !deleted.is_empty() {
            // Changes come in key order, so `deleted` is sorted.
            let mut index = 0;
            pods.retain(|_| {
                let keep = deleted.binary_search(&index).is_err();
                index += 1;
                keep
            });
        }
        if pods.len() != sorted_len - deleted.len() {
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        }
        pods
    }
}

/// What a rebuild needs, taken from the store so that the build runs outside its lock.
#[derive(Debug)]
pub struct Rebuild {
    base: Arc<Cluster>,
    namespaces: Vec<Namespace>,
    nodes: Vec<Node>,
    workloads: Vec<Workload>,
    pods: PodChanges,
    policies: Vec<Policy>,
}

impl Rebuild {
    /// The engine: the base topology with the pod changes, and the policies.
    pub fn build(self) -> Engine {
        let pods = self.pods.apply_to(&self.base);
        drop(self.base);
        let cluster = Cluster::from_parts(self.namespaces, self.nodes, pods, &self.workloads);
        Engine::new(Arc::new(cluster), self.policies)
    }
}

#[derive(Debug)]
pub struct Store {
    engine: Arc<Engine>,
    namespaces: BTreeMap<String, Namespace>,
    nodes: BTreeMap<String, Node>,
    workloads: BTreeMap<ObjectKey, Box<Workload>>,
    /// Only the changes: the pods themselves are in the engine's topology.
    pods: PodChanges,
    /// Policies that compiled (shared with the engine, which holds the same `Arc`s).
    policies: BTreeMap<ObjectKey, Policy>,
    /// The engine must be rebuilt: endpoints changed since it was built, or policies were
    /// re-listed.
    stale: bool,
    /// Policies changed since a rebuild began, to fold into the engine it produces.
    pending: BTreeSet<ObjectKey>,
    rebuilding: bool,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(State::new())
    }
}

/// Sizes reported as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    pub objects: usize,
    pub pods: usize,
    pub namespaces: usize,
    pub nodes: usize,
    pub admin_policies: usize,
    pub network_policies: usize,
    pub identities: usize,
}

impl Store {
    /// A store holding `state`, with the engine built from it. Policies that do not compile
    /// are left out of the engine (netpol's webhook would not have admitted them).
    pub fn new(state: State) -> Self {
        let mut store = Self {
            engine: Arc::new(Engine::new(Arc::default(), Vec::new())),
            namespaces: BTreeMap::new(),
            nodes: BTreeMap::new(),
            workloads: BTreeMap::new(),
            pods: PodChanges::relist(),
            policies: BTreeMap::new(),
            stale: true,
            pending: BTreeSet::new(),
            rebuilding: false,
        };
        for located in state.objects() {
            store.keep(Entry::compile(located.object.clone()));
        }
        store.refresh();
        store
    }

    /// The current engine; cheap to clone and keep across a request or a batch of packets.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// True when endpoint changes await a rebuild.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Creates or replaces an object (a watch event).
    pub fn apply(&mut self, located: Located) {
        self.apply_entry(Entry::compile(located.object));
    }

    /// Creates or replaces an object already compiled.
    pub fn apply_entry(&mut self, entry: Entry) {
        if let Entry::Policy(key, compiled) = &entry {
            if self.rebuilding {
                self.pending.insert(key.clone());
            }
            let changed = match (compiled, policy_id(key)) {
                (Some(policy), _) => self.engine.with_changes(vec![policy.clone()], &[]),
                (None, Some(id)) => self.engine.with_changes(Vec::new(), &[id]),
                (None, None) => return,
            };
            self.engine = Arc::new(changed);
        } else {
            self.stale = true;
        }
        self.keep(entry);
    }

    /// Records an entry without touching the engine.
    fn keep(&mut self, entry: Entry) {
        match entry {
            Entry::Namespace(namespace) => {
                self.namespaces.insert(namespace.name.clone(), namespace);
            }
            Entry::Node(node) => {
                self.nodes.insert(node.name.clone(), node);
            }
            Entry::Pod(pod) => match &mut self.pods.replacement {
                // Still loading a re-list: append (no key map for 150,000 pods).
                Some(pods) if self.pods.changes.is_empty() => pods.push(pod),
                _ => {
                    let key = (pod.namespace.clone(), pod.name.clone());
                    self.pods.changes.insert(key, Some(pod));
                }
            },
            Entry::Workload(key, workload) => {
                self.workloads.insert(key, workload);
            }
            Entry::Policy(key, Some(policy)) => {
                self.policies.insert(key, policy);
            }
            Entry::Policy(key, None) => {
                self.policies.remove(&key);
            }
        }
    }

    /// Removes an object (a watch event).
    pub fn delete(&mut self, key: &ObjectKey) {
        if let Some(id) = policy_id(key) {
            if self.rebuilding {
                self.pending.insert(key.clone());
            }
            if self.policies.remove(key).is_some() {
                self.engine = Arc::new(self.engine.with_changes(Vec::new(), &[id]));
            }
            return;
        }
        match key.kind {
            ObjectKind::Namespace => drop(self.namespaces.remove(&key.name)),
            ObjectKind::Node => drop(self.nodes.remove(&key.name)),
            ObjectKind::Pod => {
                let namespace = key.namespace.clone().unwrap_or_default();
                self.pods
                    .changes
                    .insert((namespace, key.name.clone()), None);
            }
            _ => drop(self.workloads.remove(key)),
        }
        self.stale = true;
    }

    /// Replaces every object of one kind (a watch re-list): the engine is rebuilt at the next
    /// refresh.
    pub fn reset(&mut self, kind: ObjectKind, entries: impl IntoIterator<Item = Entry>) {
        match kind {
            ObjectKind::Namespace => self.namespaces.clear(),
            ObjectKind::Node => self.nodes.clear(),
            ObjectKind::Pod => self.pods = PodChanges::relist(),
            ObjectKind::Workload(_) => self.workloads.retain(|key, _| key.kind != kind),
            policies => {
                let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut self.policies)
                        .into_iter()
                        .partition(|(key, _)| key.kind == policies);
                self.policies = kept;
                if self.rebuilding {
                    self.pending.extend(gone.into_keys());
                }
            }
        }
        for entry in entries {
            if let (Entry::Policy(key, _), true) = (&entry, self.rebuilding) {
                self.pending.insert(key.clone());
            }
            self.keep(entry);
        }
        self.stale = true;
    }

    /// Rebuilds the engine if endpoints changed since the last build; returns whether it did.
    pub fn refresh(&mut self) -> bool {
        let Some(rebuild) = self.begin_rebuild() else {
            return false;
        };
        self.finish_rebuild(rebuild.build());
        true
    }

    /// Starts a rebuild when one is due and none is under way: what to build from, outside
    /// any lock. Changes arriving meanwhile are kept for [`Store::finish_rebuild`] (policies)
    /// or the next rebuild (endpoints).
    pub fn begin_rebuild(&mut self) -> Option<Rebuild> {
        // One at a time: a second would build on a topology the first is about to replace.
        if !self.stale || self.rebuilding {
            return None;
        }
        self.stale = false;
        self.rebuilding = true;
        self.pending.clear();
        Some(Rebuild {
            base: self.engine.cluster.clone(),
            namespaces: self.namespaces.values().cloned().collect(),
            nodes: self.nodes.values().cloned().collect(),
            workloads: self.workloads.values().map(|w| (**w).clone()).collect(),
            pods: std::mem::take(&mut self.pods),
            policies: self.policies.values().cloned().collect(),
        })
    }

    /// Installs an engine built from [`Store::begin_rebuild`]'s parts, with the policies
    /// changed since then applied to it.
    pub fn finish_rebuild(&mut self, engine: Engine) {
        self.rebuilding = false;
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for key in std::mem::take(&mut self.pending) {
            match (self.policies.get(&key), policy_id(&key)) {
                (Some(policy), _) => upserts.push(policy.clone()),
                (None, Some(id)) => removals.push(id),
                (None, None) => {}
            }
        }
        self.engine = if upserts.is_empty() && removals.is_empty() {
            Arc::new(engine)
        } else {
            Arc::new(engine.with_changes(upserts, &removals))
        };
    }

    pub fn sizes(&self) -> Sizes {
        let engine = &self.engine;
        Sizes {
            objects: self.namespaces.len()
                + self.nodes.len()
                + self.workloads.len()
                + self.policies.len()
                + engine.cluster.pods.iter().filter(|p| !p.template).count(),
            pods: engine.cluster.pods.len(),
            namespaces: engine.cluster.namespaces.len(),
            nodes: engine.cluster.nodes.len(),
            admin_policies: engine.admin_policies().count(),
            network_policies: engine.network_policies().count(),
            identities: engine.identities().len(),
        }
    }
}

/// The policy kind of an object kind, if it is one.
pub fn policy_kind(kind: ObjectKind) -> Option<PolicyKind> {
    Some(match kind {
        ObjectKind::NetworkPolicy => PolicyKind::NetworkPolicy,
        ObjectKind::AdminNetworkPolicy => PolicyKind::AdminNetworkPolicy,
        ObjectKind::BaselineAdminNetworkPolicy => PolicyKind::BaselineAdminNetworkPolicy,
        ObjectKind::ClusterNetworkPolicy => PolicyKind::ClusterNetworkPolicy,
        _ => return None,
    })
}

/// Names a policy the way the engine does, from its key.
pub fn policy_id(key: &ObjectKey) -> Option<PolicyRef> {
    Some(PolicyRef {
        kind: policy_kind(key.kind)?,
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    })
}
