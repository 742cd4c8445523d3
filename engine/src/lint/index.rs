//! Lookups built once per lint run: which identities each policy selects, and which identities
//! a pod selector can match, found through label postings instead of scans.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::cluster::NamespaceId;
use crate::engine::{Engine, IdentityId};
use crate::model::{AdminPeer, NetPeer, NetworkPolicy};
use crate::selector::{Requirement, Selector};

/// Where a pod selector looks.
#[derive(Clone, Copy, Debug)]
pub(super) enum Scope<'s> {
    /// One namespace (a NetworkPolicy peer without namespaceSelector); `None` when the
    /// namespace is not in the input.
    Namespace(Option<NamespaceId>),
    /// The namespaces a selector selects.
    Namespaces(&'s Selector),
}

/// Pods by namespace scope and label selector.
#[derive(Clone, Copy, Debug)]
pub(super) struct PodSet<'s> {
    pub scope: Scope<'s>,
    pub pods: &'s Selector,
}

impl<'s> PodSet<'s> {
    pub fn of_admin_peer(peer: &'s AdminPeer, everything: &'s Selector) -> Option<Self> {
        match peer {
            AdminPeer::Namespaces(ns) => Some(Self {
                scope: Scope::Namespaces(ns),
                pods: everything,
            }),
            AdminPeer::Pods { namespaces, pods } => Some(Self {
                scope: Scope::Namespaces(namespaces),
                pods,
            }),
            _ => None,
        }
    }

    pub fn of_net_peer(engine: &Engine, policy: &NetworkPolicy, peer: &'s NetPeer) -> Option<Self> {
        match peer {
            NetPeer::Pods {
                namespaces: None,
                pods,
            } => Some(Self {
                scope: Scope::Namespace(engine.cluster.namespace(&policy.namespace)),
                pods,
            }),
            NetPeer::Pods {
                namespaces: Some(ns),
                pods,
            } => Some(Self {
                scope: Scope::Namespaces(ns),
                pods,
            }),
            NetPeer::IpBlock(_) => None,
        }
    }
}

/// A pod set with its namespace scope resolved.
pub(super) struct Resolved<'s> {
    namespaces: Namespaces,
    pods: &'s Selector,
}

enum Namespaces {
    None,
    One(NamespaceId),
    Mask(Rc<[bool]>),
}

pub(super) struct Index<'a> {
    pub engine: &'a Engine,
    /// The identities each admin slot selects, ascending.
    pub admin_subjects: Vec<Vec<IdentityId>>,
    /// The identities each NetworkPolicy slot selects, ascending: built on first need (the
    /// priority analysis of one admin policy never needs them).
    netpol_subjects: OnceCell<Vec<Vec<IdentityId>>>,
    /// True when the input has any pod (or workload template): only then can a selector be
    /// said to select nothing.
    pub has_pods: bool,
    /// Pod-network identities by namespace.
    by_namespace: Vec<Vec<IdentityId>>,
    /// Built on first need: a single policy's analysis (the admission webhook) often gets by
    /// with namespace scans.
    postings: OnceCell<Postings<'a>>,
    namespace_memo: RefCell<FxHashMap<Selector, Rc<[bool]>>>,
}

/// Pod-network identities by label and by label key.
#[derive(Default)]
struct Postings<'a> {
    by_label: FxHashMap<(&'a str, &'a str), Vec<IdentityId>>,
    by_key: FxHashMap<&'a str, Vec<IdentityId>>,
}

/// Below this many candidates, scanning them beats building the label postings.
const SCAN_LIMIT: usize = 4096;

impl<'a> Index<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        let cluster = &engine.cluster;
        let admin_len = engine
            .admin_policies()
            .map(|(s, _)| s + 1)
            .max()
            .unwrap_or(0);
        let mut admin_subjects = vec![Vec::new(); admin_len as usize];
        let mut by_namespace = vec![Vec::new(); cluster.namespaces.len()];
        for (id, identity) in engine.identities().iter().enumerate() {
            let id = id as IdentityId;
            let applied = engine.applied(id);
            for slot in &applied.admin {
                admin_subjects[*slot as usize].push(id);
            }
            if identity.host_network {
                continue;
            }
            by_namespace[identity.namespace as usize].push(id);
        }
        Self {
            engine,
            admin_subjects,
            netpol_subjects: OnceCell::new(),
            has_pods: !cluster.pods.is_empty(),
            by_namespace,
            postings: OnceCell::new(),
            namespace_memo: RefCell::default(),
        }
    }

    /// The identities each NetworkPolicy slot selects, ascending.
    pub fn netpol_subjects(&self) -> &[Vec<IdentityId>] {
        self.netpol_subjects.get_or_init(|| {
            let engine = self.engine;
            let len = engine
                .network_policies()
                .map(|(s, _)| s + 1)
                .max()
                .unwrap_or(0);
            let mut subjects = vec![Vec::new(); len as usize];
            for id in 0..engine.identities().len() {
                let id = id as IdentityId;
                for slot in &engine.applied(id).netpols {
                    subjects[*slot as usize].push(id);
                }
            }
            subjects
        })
    }

    fn postings(&self) -> &Postings<'a> {
        self.postings.get_or_init(|| {
            let engine: &'a Engine = self.engine;
            let mut postings = Postings::default();
            for (id, identity) in engine.identities().iter().enumerate() {
                if identity.host_network {
                    continue;
                }
                for (key, value) in engine.cluster.pod(identity.representative).labels.iter() {
                    let id = id as IdentityId;
                    postings.by_label.entry((key, value)).or_default().push(id);
                    postings.by_key.entry(key).or_default().push(id);
                }
            }
            postings
        })
    }

    /// Which namespaces a selector selects, by namespace id.
    pub fn namespaces(&self, selector: &Selector) -> Rc<[bool]> {
        if let Some(hit) = self.namespace_memo.borrow().get(selector) {
            return hit.clone();
        }
        let mask: Rc<[bool]> = self
            .engine
            .cluster
            .namespaces
            .iter()
            .map(|ns| selector.matches(&ns.labels))
            .collect();
        self.namespace_memo
            .borrow_mut()
            .insert(selector.clone(), mask.clone());
        mask
    }

    pub fn any_namespace(&self, selector: &Selector) -> bool {
        self.namespaces(selector).iter().any(|m| *m)
    }

    /// Resolves a set's namespace scope once, for many membership tests.
    pub fn resolve<'s>(&self, set: &PodSet<'s>) -> Resolved<'s> {
        let namespaces = match set.scope {
            Scope::Namespace(None) => Namespaces::None,
            Scope::Namespace(Some(ns)) => Namespaces::One(ns),
            Scope::Namespaces(selector) => Namespaces::Mask(self.namespaces(selector)),
        };
        Resolved {
            namespaces,
            pods: set.pods,
        }
    }

    /// Whether a pod-network identity is in the set.
    pub fn contains(&self, set: &Resolved, id: IdentityId) -> bool {
        let identity = &self.engine.identities()[id as usize];
        if identity.host_network {
            return false;
        }
        let in_scope = match &set.namespaces {
            Namespaces::None => false,
            Namespaces::One(ns) => *ns == identity.namespace,
            Namespaces::Mask(mask) => mask[identity.namespace as usize],
        };
        in_scope
            && set
                .pods
                .matches(&self.engine.cluster.pod(identity.representative).labels)
    }

    /// The pod-network identities in the set, ascending; with `first_only`, at most one.
    pub fn members(&self, set: &PodSet, first_only: bool) -> Vec<IdentityId> {
        let resolved = self.resolve(set);
        // Candidates from the smallest posting: the scope's namespaces, or one requirement.
        let mut sources: Vec<&[IdentityId]> = match &resolved.namespaces {
            Namespaces::None => return Vec::new(),
            Namespaces::One(ns) => vec![&self.by_namespace[*ns as usize]],
            Namespaces::Mask(mask) => mask
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(ns, _)| self.by_namespace[ns].as_slice())
                .collect(),
        };
        let size = |lists: &[&[IdentityId]]| lists.iter().map(|l| l.len()).sum::<usize>();
        let requirements = if size(&sources) <= SCAN_LIMIT {
            &[][..]
        } else {
            set.pods.requirements.as_slice()
        };
        for requirement in requirements {
            let postings = self.postings();
            let lists: Vec<&[IdentityId]> = match requirement {
                Requirement::In { key, values } => values
                    .iter()
                    .filter_map(|v| postings.by_label.get(&(key.as_str(), v.as_str())))
                    .map(Vec::as_slice)
                    .collect(),
                Requirement::Exists { key } => postings
                    .by_key
                    .get(key.as_str())
                    .map(Vec::as_slice)
                    .into_iter()
                    .collect(),
                _ => continue,
            };
            if size(&lists) < size(&sources) {
                sources = lists;
            }
        }
        let mut found = Vec::new();
        for id in sources.into_iter().flatten() {
            if self.contains(&resolved, *id) {
                found.push(*id);
                if first_only {
                    break;
                }
            }
        }
        found.sort_unstable();
        found
    }

    pub fn is_empty(&self, set: &PodSet) -> bool {
        self.members(set, true).is_empty()
    }
}
