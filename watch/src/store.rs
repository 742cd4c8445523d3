//! The in-memory cache of the cluster: its (trimmed) objects and the engine compiled from
//! them. Watch events arrive through small synchronous `apply` / `delete` /
//! `reset` methods. Policy changes update the engine at once with `Engine::with_changes`
//! (cheap: the topology is shared); endpoint changes (pods, namespaces, nodes) only mark the
//! topology stale, and `refresh` rebuilds it once for a whole batch of events.

use std::collections::BTreeSet;
use std::sync::Arc;

use netpol_engine::Engine;
use netpol_engine::engine::compile_policy;
use netpol_engine::load::{Located, Object, ObjectKind};
use netpol_engine::model::{PolicyKind, PolicyRef};
use netpol_engine::state::{ObjectKey, State};

#[derive(Debug)]
pub struct Store {
    state: State,
    engine: Arc<Engine>,
    /// An endpoint changed since the engine was built.
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
        let engine = Arc::new(Engine::build(&state).engine);
        Self {
            state,
            engine,
            stale: false,
            pending: BTreeSet::new(),
            rebuilding: false,
        }
    }

    /// The current engine; cheap to clone and keep across a request or a batch of packets.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// True when endpoint changes await `refresh`.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Creates or replaces an object (a watch event).
    pub fn apply(&mut self, located: Located) {
        let kind = located.object.kind();
        if let Some(id) = policy_ref(&located.object) {
            if self.rebuilding {
                self.pending.insert(ObjectKey::of(&located.object));
            }
            match compile_policy(&located.object) {
                Some(Ok(policy)) => {
                    self.engine = Arc::new(self.engine.with_changes(vec![policy], &[]));
                }
                // A policy the engine cannot evaluate: the previous version no longer holds.
                _ => self.engine = Arc::new(self.engine.with_changes(Vec::new(), &[id])),
            }
        } else if is_endpoint(kind) {
            self.stale = true;
        }
        self.state.apply(located);
    }

    /// Removes an object (a watch event).
    pub fn delete(&mut self, key: &ObjectKey) {
        if self.state.delete(key).is_none() {
            return;
        }
        if let Some(kind) = policy_kind(key.kind) {
            if self.rebuilding {
                self.pending.insert(key.clone());
            }
            let id = PolicyRef {
                kind,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            };
            self.engine = Arc::new(self.engine.with_changes(Vec::new(), &[id]));
        } else if is_endpoint(key.kind) {
            self.stale = true;
        }
    }

    /// Replaces every object of one kind (a watch re-list): the engine is rebuilt at the next
    /// `refresh`.
    pub fn reset(&mut self, kind: ObjectKind, objects: impl IntoIterator<Item = Located>) {
        self.state.reset(kind, objects);
        self.stale = true;
    }

    /// Rebuilds the engine if endpoints changed since the last build; returns whether it did.
    pub fn refresh(&mut self) -> bool {
        let Some(state) = self.begin_rebuild() else {
            return false;
        };
        self.finish_rebuild(Engine::build(&state).engine);
        true
    }

    /// Starts a rebuild when endpoints changed: a copy of the state to build from, outside
    /// any lock. Changes arriving meanwhile are kept for [`Store::finish_rebuild`].
    pub fn begin_rebuild(&mut self) -> Option<State> {
        if !self.stale {
            return None;
        }
        self.stale = false;
        self.rebuilding = true;
        self.pending.clear();
        Some(self.state.clone())
    }

    /// Installs an engine built from [`Store::begin_rebuild`]'s state, with the policies
    /// changed since then applied to it (endpoint changes since then leave the store stale).
    pub fn finish_rebuild(&mut self, engine: Engine) {
        self.rebuilding = false;
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for key in std::mem::take(&mut self.pending) {
            let Some(kind) = policy_kind(key.kind) else {
                continue;
            };
            let compiled = self
                .state
                .get(&key)
                .and_then(|located| compile_policy(&located.object));
            match compiled {
                Some(Ok(policy)) => upserts.push(policy),
                _ => removals.push(PolicyRef {
                    kind,
                    namespace: key.namespace,
                    name: key.name,
                }),
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
            objects: self.state.len(),
            pods: engine.cluster.pods.len(),
            namespaces: engine.cluster.namespaces.len(),
            nodes: engine.cluster.nodes.len(),
            admin_policies: engine.admin_policies().count(),
            network_policies: engine.network_policies().count(),
            identities: engine.identities().len(),
        }
    }
}

fn is_endpoint(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Pod | ObjectKind::Namespace | ObjectKind::Node | ObjectKind::Workload(_)
    )
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

/// Names a policy object the way the engine does.
pub fn policy_ref(object: &Object) -> Option<PolicyRef> {
    Some(PolicyRef {
        kind: policy_kind(object.kind())?,
        namespace: object.namespace().map(str::to_owned),
        name: object.name().to_owned(),
    })
}
