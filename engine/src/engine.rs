//! The evaluation index: the topology, the compiled policies in stable slots, the identities
//! (pods no policy can tell apart) and, per identity, the policies that select it.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::cidr_index::CidrIndex;
use crate::cluster::{Cluster, NamespaceId, PodId};
use crate::compile::{self, CompileError};
use crate::load::Object;
use crate::model::{
    AdminPeer, AdminPolicy, AdminTier, ContainerPort, Enforcement, NetPeer, NetworkPolicy,
    PolicyRef, Subject,
};
use crate::selector::Labels;
use crate::state::State;

pub type IdentityId = u32;
pub type AdminSlot = u32;
pub type NetpolSlot = u32;

/// Pods that every policy treats alike: same namespace, labels, named ports, host networking
/// and CIDR signature.
#[derive(Clone, Debug)]
pub struct Identity {
    pub namespace: NamespaceId,
    /// The first member, used to evaluate for all of them.
    pub representative: PodId,
    pub members: Vec<PodId>,
    pub host_network: bool,
}

/// The policies selecting one identity, in evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Applied {
    /// Admin-tier then baseline-tier policies, each by priority then name.
    pub admin: Vec<AdminSlot>,
    pub netpols: Vec<NetpolSlot>,
}

#[derive(Clone, Debug)]
pub struct Engine {
    pub cluster: Arc<Cluster>,
    admin: Vec<Option<Arc<AdminPolicy>>>,
    admin_slots: FxHashMap<PolicyRef, AdminSlot>,
    netpols: Vec<Option<Arc<NetworkPolicy>>>,
    netpol_slots: FxHashMap<PolicyRef, NetpolSlot>,
    cidrs: Arc<CidrIndex>,
    identities: Arc<Vec<Identity>>,
    pod_identity: Arc<Vec<IdentityId>>,
    applied: Vec<Applied>,
    /// Audited policies (`netpol.io/enforcement: audit`) select pods too: the state as it
    /// would be enforced with them.
    audited_enforced: bool,
}

/// The engine and the policies that did not compile.
#[derive(Debug)]
pub struct Build {
    pub engine: Engine,
    pub errors: Vec<CompileError>,
}

/// A compiled policy of any kind.
#[derive(Clone, Debug)]
pub enum Policy {
    Admin(Arc<AdminPolicy>),
    Network(Arc<NetworkPolicy>),
}

impl Policy {
    pub fn id(&self) -> &PolicyRef {
        match self {
            Self::Admin(p) => &p.id,
            Self::Network(p) => &p.id,
        }
    }

    pub fn enforcement(&self) -> Enforcement {
        match self {
            Self::Admin(p) => p.enforcement,
            Self::Network(p) => p.enforcement,
        }
    }

    /// This policy enforced: an audited one as it will be once its annotation is removed.
    pub fn enforced(&self) -> Policy {
        match self {
            Self::Admin(p) => Self::Admin(Arc::new(AdminPolicy {
                enforcement: Enforcement::Enforce,
                ..(**p).clone()
            })),
            Self::Network(p) => Self::Network(Arc::new(NetworkPolicy {
                enforcement: Enforcement::Enforce,
                ..(**p).clone()
            })),
        }
    }
}

/// Compiles one raw object into a policy; `None` for endpoint kinds.
pub fn compile_policy(object: &Object) -> Option<Result<Policy, Vec<CompileError>>> {
    let admin =
        |r: Result<AdminPolicy, Vec<CompileError>>| Some(r.map(|p| Policy::Admin(Arc::new(p))));
    match object {
        Object::NetworkPolicy(np) => {
            Some(compile::compile_network_policy(np).map(|p| Policy::Network(Arc::new(p))))
        }
        Object::AdminNetworkPolicy(p) => admin(compile::compile_anp(p)),
        Object::BaselineAdminNetworkPolicy(p) => admin(compile::compile_banp(p)),
        Object::ClusterNetworkPolicy(p) => admin(compile::compile_cnp(p)),
        _ => None,
    }
}

/// Compiles every policy of a state, collecting errors.
pub fn compile_policies(state: &State) -> (Vec<Policy>, Vec<CompileError>) {
    let mut policies = Vec::new();
    let mut errors = Vec::new();
    for located in state.objects() {
        match compile_policy(&located.object) {
            Some(Ok(policy)) => policies.push(policy),
            Some(Err(errs)) => errors.extend(errs),
            None => {}
        }
    }
    (policies, errors)
}

impl Engine {
    /// Builds the topology and compiles every policy of `state`.
    pub fn build(state: &State) -> Build {
        let cluster = Arc::new(Cluster::build(state));
        let (policies, errors) = compile_policies(state);
        Build {
            engine: Engine::new(cluster, policies),
            errors,
        }
    }

    /// An engine over an existing topology with these policies.
    pub fn new(cluster: Arc<Cluster>, policies: Vec<Policy>) -> Self {
        let mut engine = Engine {
            cluster,
            admin: Vec::new(),
            admin_slots: FxHashMap::default(),
            netpols: Vec::new(),
            netpol_slots: FxHashMap::default(),
            cidrs: Arc::default(),
            identities: Arc::default(),
            pod_identity: Arc::default(),
            applied: Vec::new(),
            audited_enforced: false,
        };
        for policy in policies {
            engine.store(policy);
        }
        engine.rebuild_identities();
        engine
    }

    /// Returns an engine with policies added, replaced (same kind, namespace and name) or
    /// removed, sharing the topology. Identities are regrouped only when the set of CIDRs the
    /// policies mention changes; otherwise only the changed policies are re-matched.
    pub fn with_changes(&self, upserts: Vec<Policy>, removals: &[PolicyRef]) -> Self {
        let mut next = self.clone();
        let mut touched = Vec::new();
        for id in removals {
            if let Some(slot) = next.admin_slots.remove(id) {
                next.admin[slot as usize] = None;
                touched.push(Slot::Admin(slot));
            }
            if let Some(slot) = next.netpol_slots.remove(id) {
                next.netpols[slot as usize] = None;
                touched.push(Slot::Network(slot));
            }
        }
        for policy in upserts {
            touched.push(next.store(policy));
        }
        let cidrs = CidrIndex::new(next.cidrs_mentioned().iter());
        if cidrs != *next.cidrs {
            next.cidrs = Arc::new(cidrs);
            next.rebuild_identities();
            return next;
        }
        for slot in touched {
            next.rematch(slot);
        }
        next
    }

    fn store(&mut self, policy: Policy) -> Slot {
        match policy {
            Policy::Admin(p) => {
                let slot = *self.admin_slots.entry(p.id.clone()).or_insert_with(|| {
                    self.admin.push(None);
                    (self.admin.len() - 1) as AdminSlot
                });
                self.admin[slot as usize] = Some(p);
                Slot::Admin(slot)
            }
            Policy::Network(p) => {
                let slot = *self.netpol_slots.entry(p.id.clone()).or_insert_with(|| {
                    self.netpols.push(None);
                    (self.netpols.len() - 1) as NetpolSlot
                });
                self.netpols[slot as usize] = Some(p);
                Slot::Network(slot)
            }
        }
    }

    pub(crate) fn cidrs_mentioned(&self) -> Vec<ipnet::IpNet> {
        let mut nets = Vec::new();
        for policy in self.admin.iter().flatten() {
            for rule in policy.ingress.iter().chain(&policy.egress) {
                for peer in &rule.peers {
                    if let AdminPeer::Networks(blocks) = peer {
                        nets.extend(
                            blocks.iter().flat_map(|b| {
                                std::iter::once(b.cidr).chain(b.except.iter().copied())
                            }),
                        );
                    }
                }
            }
        }
        for policy in self.netpols.iter().flatten() {
            for rule in policy
                .ingress
                .iter()
                .flatten()
                .chain(policy.egress.iter().flatten())
            {
                for peer in rule.peers.iter().flatten() {
                    if let NetPeer::IpBlock(b) = peer {
                        nets.push(b.cidr);
                        nets.extend(b.except.iter().copied());
                    }
                }
            }
        }
        nets
    }

    /// Groups pods into identities and matches every policy against them.
    fn rebuild_identities(&mut self) {
        self.cidrs = Arc::new(CidrIndex::new(self.cidrs_mentioned().iter()));
        type Key<'a> = (NamespaceId, &'a Labels, &'a [ContainerPort], bool, Vec<u32>);
        let mut by_key: FxHashMap<Key, IdentityId> = FxHashMap::default();
        let mut identities: Vec<Identity> = Vec::new();
        let mut pod_identity = Vec::with_capacity(self.cluster.pods.len());
        for (id, pod) in self.cluster.pods.iter().enumerate() {
            let namespace = self.cluster.pod_namespace[id];
            let signature = match pod.ips.first() {
                Some(ip) if !self.cidrs.is_empty() => self.cidrs.signature(ip),
                _ => Vec::new(),
            };
            let key = (
                namespace,
                &*pod.labels,
                pod.ports.as_slice(),
                pod.host_network,
                signature,
            );
            let identity = *by_key.entry(key).or_insert_with(|| {
                identities.push(Identity {
                    namespace,
                    representative: id as PodId,
                    members: Vec::new(),
                    host_network: pod.host_network,
                });
                (identities.len() - 1) as IdentityId
            });
            identities[identity as usize].members.push(id as PodId);
            pod_identity.push(identity);
        }
        self.identities = Arc::new(identities);
        self.pod_identity = Arc::new(pod_identity);
        self.applied = vec![Applied::default(); self.identities.len()];
        let mut by_namespace: Vec<Vec<IdentityId>> =
            vec![Vec::new(); self.cluster.namespaces.len()];
        for (id, identity) in self.identities.iter().enumerate() {
            by_namespace[identity.namespace as usize].push(id as IdentityId);
        }
        for slot in 0..self.admin.len() as AdminSlot {
            self.rematch(Slot::Admin(slot));
        }
        for (slot, policy) in self.netpols.iter().enumerate() {
            let Some(policy) = policy.as_ref().filter(|p| self.takes_part(p.enforcement)) else {
                continue;
            };
            let Some(ns) = self.cluster.namespace(&policy.namespace) else {
                continue;
            };
            for identity in &by_namespace[ns as usize] {
                let pod = self
                    .cluster
                    .pod(self.identities[*identity as usize].representative);
                if !pod.host_network && policy.pod_selector.matches(&pod.labels) {
                    self.applied[*identity as usize]
                        .netpols
                        .push(slot as NetpolSlot);
                }
            }
        }
    }

    /// Re-matches one policy slot against every identity, keeping each list in order.
    fn rematch(&mut self, slot: Slot) {
        let identities = self.identities.clone();
        match slot {
            Slot::Admin(slot) => {
                let policy = self.admin[slot as usize]
                    .clone()
                    .filter(|p| self.takes_part(p.enforcement));
                let key = policy.as_deref().map(order_key);
                for (id, identity) in identities.iter().enumerate() {
                    let selects = policy
                        .as_ref()
                        .is_some_and(|p| self.subject_selects(&p.subject, identity));
                    let admin = &self.admin;
                    let list = &mut self.applied[id].admin;
                    list.retain(|s| *s != slot);
                    if let (true, Some(key)) = (selects, key) {
                        let at = list.partition_point(|s| {
                            order_key(admin[*s as usize].as_deref().expect("live slot")) < key
                        });
                        list.insert(at, slot);
                    }
                }
            }
            Slot::Network(slot) => {
                let policy = self.netpols[slot as usize]
                    .clone()
                    .filter(|p| self.takes_part(p.enforcement));
                for (id, identity) in identities.iter().enumerate() {
                    let selects = policy.as_ref().is_some_and(|p| {
                        !identity.host_network
                            && self.cluster.namespaces[identity.namespace as usize].name
                                == p.namespace
                            && p.pod_selector
                                .matches(&self.cluster.pod(identity.representative).labels)
                    });
                    let list = &mut self.applied[id].netpols;
                    list.retain(|s| *s != slot);
                    if selects {
                        let at = list.partition_point(|s| *s < slot);
                        list.insert(at, slot);
                    }
                }
            }
        }
    }

    /// Whether a policy of this enforcement selects pods in this engine.
    fn takes_part(&self, enforcement: Enforcement) -> bool {
        enforcement == Enforcement::Enforce || self.audited_enforced
    }

    /// The audited policies (`netpol.io/enforcement: audit`): stored, listed, but taking no
    /// part in verdicts here.
    pub fn audited(&self) -> Vec<PolicyRef> {
        let admin = self
            .admin
            .iter()
            .flatten()
            .filter(|p| p.enforcement == Enforcement::Audit)
            .map(|p| p.id.clone());
        let netpols = self
            .netpols
            .iter()
            .flatten()
            .filter(|p| p.enforcement == Enforcement::Audit)
            .map(|p| p.id.clone());
        admin.chain(netpols).collect()
    }

    /// Whether audited policies take part in this engine's verdicts.
    pub fn audited_enforced(&self) -> bool {
        self.audited_enforced
    }

    /// This state with its audited policies enforced: what the dataplane would do once their
    /// annotation is removed. None when no policy is audited.
    pub fn with_audited_enforced(&self) -> Option<Engine> {
        if self.audited_enforced || self.audited().is_empty() {
            return None;
        }
        let mut next = self.clone();
        next.audited_enforced = true;
        next.rebuild_identities();
        Some(next)
    }

    /// Host-network pods are never subjects of any policy.
    fn subject_selects(&self, subject: &Subject, identity: &Identity) -> bool {
        if identity.host_network {
            return false;
        }
        let ns_labels = &self.cluster.namespaces[identity.namespace as usize].labels;
        match subject {
            Subject::Namespaces(ns) => ns.matches(ns_labels),
            Subject::Pods { namespaces, pods } => {
                namespaces.matches(ns_labels)
                    && pods.matches(&self.cluster.pod(identity.representative).labels)
            }
        }
    }

    /// The slot of a live admin policy.
    pub fn admin_slot(&self, id: &PolicyRef) -> Option<AdminSlot> {
        self.admin_slots.get(id).copied()
    }

    pub fn admin_policy(&self, slot: AdminSlot) -> &AdminPolicy {
        self.admin[slot as usize].as_ref().expect("slot in use")
    }

    pub fn network_policy(&self, slot: NetpolSlot) -> &NetworkPolicy {
        self.netpols[slot as usize].as_ref().expect("slot in use")
    }

    /// Every live admin policy (ANP, BANP, CNP) with its slot.
    pub fn admin_policies(&self) -> impl Iterator<Item = (AdminSlot, &Arc<AdminPolicy>)> {
        self.admin
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as AdminSlot, p.as_ref()?)))
    }

    /// Every live NetworkPolicy with its slot.
    pub fn network_policies(&self) -> impl Iterator<Item = (NetpolSlot, &Arc<NetworkPolicy>)> {
        self.netpols
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as NetpolSlot, p.as_ref()?)))
    }

    pub fn policy(&self, id: &PolicyRef) -> Option<Policy> {
        if let Some(slot) = self.admin_slots.get(id) {
            return self.admin[*slot as usize].clone().map(Policy::Admin);
        }
        self.netpol_slots
            .get(id)
            .and_then(|slot| self.netpols[*slot as usize].clone().map(Policy::Network))
    }

    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    pub fn identity_of(&self, pod: PodId) -> IdentityId {
        self.pod_identity[pod as usize]
    }

    pub fn applied(&self, identity: IdentityId) -> &Applied {
        &self.applied[identity as usize]
    }

    /// Identities whose members a subject selects.
    pub fn selected_identities(&self, subject: &Subject) -> Vec<IdentityId> {
        (0..self.identities.len() as IdentityId)
            .filter(|id| self.subject_selects(subject, &self.identities[*id as usize]))
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Admin(AdminSlot),
    Network(NetpolSlot),
}

/// Evaluation order of admin policies: Admin tier before Baseline, lower priority number first;
/// equal priorities are ordered by name (upstream leaves this undefined; we make it
/// deterministic and report it), then kind. The BANP, which has no priority, comes after every
/// baseline ClusterNetworkPolicy.
pub fn order_key(policy: &AdminPolicy) -> (AdminTier, u32, &str, crate::model::PolicyKind) {
    (
        policy.tier,
        policy.priority.unwrap_or(u32::MAX),
        policy.id.name.as_str(),
        policy.id.kind,
    )
}
