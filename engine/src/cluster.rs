//! The endpoint topology: namespaces, nodes, pods and workload templates, indexed for lookup by
//! name, IP and workload. Built once from a `State`; policies live in `Engine`.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::{FxHashMap, FxHasher};

use crate::compile;
use crate::load::{Object, ObjectKind, WorkloadKind};
use crate::model::{Namespace, Node, Pod};
use crate::selector::{Labels, Selector};
use crate::state::State;

pub type PodId = u32;
pub type NamespaceId = u32;
pub type NodeId = u32;

fn key_hash(namespace: &str, name: &str) -> u64 {
    let mut hasher = FxHasher::default();
    namespace.hash(&mut hasher);
    name.hash(&mut hasher);
    hasher.finish()
}

fn pod_key_hash(pod: &Pod) -> u64 {
    key_hash(&pod.namespace, &pod.name)
}

fn has_key(pod: &Pod, namespace: &str, name: &str) -> bool {
    pod.namespace == namespace && pod.name == name
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    /// Namespace of each pod.
    pub pod_namespace: Vec<NamespaceId>,
    /// Pods of each namespace.
    pub namespace_pods: Vec<Vec<PodId>>,
    /// Node of each pod, when known and present.
    pub pod_node: Vec<Option<NodeId>>,
    namespace_by_name: FxHashMap<String, NamespaceId>,
    node_by_name: FxHashMap<String, NodeId>,
    node_by_ip: FxHashMap<IpAddr, NodeId>,
    /// Pods by namespace and name: ids only, hashed by the pods' own strings, so that the
    /// index holds no copy of them (a rebuild holds two topologies for a moment).
    pod_by_key: HashTable<PodId>,
    /// Addresses of pods on the pod network (host-network pods share their node's).
    pod_by_ip: FxHashMap<IpAddr, PodId>,
    workload_pods: FxHashMap<(String, WorkloadKind, String), Vec<PodId>>,
}

/// Distinct label sets, so that pods with equal labels share one copy.
#[derive(Debug, Default)]
pub struct LabelSets(rustc_hash::FxHashSet<Arc<Labels>>);

impl LabelSets {
    /// The shared copy of `labels`.
    pub fn intern(&mut self, labels: Arc<Labels>) -> Arc<Labels> {
        if let Some(shared) = self.0.get(&labels) {
            return shared.clone();
        }
        self.0.insert(labels.clone());
        labels
    }
}

impl Cluster {
    pub fn build(state: &State) -> Self {
        let objects = |kind| state.of_kind(kind).map(|located| &located.object);
        let namespaces = objects(ObjectKind::Namespace).filter_map(|o| match o {
            Object::Namespace(ns) => Some(compile::namespace(ns)),
            _ => None,
        });
        let nodes = objects(ObjectKind::Node).filter_map(|o| match o {
            Object::Node(node) => Some(compile::node(node)),
            _ => None,
        });
        let pods = objects(ObjectKind::Pod)
            .filter_map(|o| match o {
                Object::Pod(pod) => Some(compile::pod(pod)),
                _ => None,
            })
            .collect();
        let workloads = state.objects().filter_map(|l| match &l.object {
            Object::Workload(w) => Some(&**w),
            _ => None,
        });
        Self::from_parts(namespaces, nodes, pods, workloads)
    }

    /// The topology from endpoints already compiled (with `compile::namespace`, `node` and
    /// `pod`), so that a reader can drop each raw object as soon as it is read. Given in the
    /// order of a `State` (by namespace and name), the result is the one `build` gives.
    ///
    /// `pods` becomes the topology's own vector and every per-pod index is sized once: a
    /// rebuild runs beside the engine in use, so it must not also hold growing copies.
    pub fn from_parts<'a>(
        namespaces: impl IntoIterator<Item = Namespace>,
        nodes: impl IntoIterator<Item = Node>,
        mut pods: Vec<Pod>,
        workloads: impl IntoIterator<Item = &'a crate::load::Workload>,
    ) -> Self {
        let mut cluster = Cluster::default();
        for namespace in namespaces {
            cluster.add_namespace(namespace);
        }
        for node in nodes {
            let id = cluster.nodes.len() as NodeId;
            for ip in &node.addresses {
                cluster.node_by_ip.insert(*ip, id);
            }
            cluster.node_by_name.insert(node.name.clone(), id);
            cluster.nodes.push(node);
        }
        let count = pods.len();
        cluster.pod_namespace.reserve_exact(count);
        cluster.pod_node.reserve_exact(count);
        cluster.pod_by_ip.reserve(count);
        let mut labels = LabelSets::default();
        for (id, pod) in pods.iter_mut().enumerate() {
            pod.labels = labels.intern(pod.labels.clone());
            cluster.index_pod(id as PodId, pod);
        }
        cluster.pods = pods;
        for workload in workloads {
            cluster.add_workload(workload);
        }
        cluster.pods.shrink_to_fit();
        cluster.index_pod_keys();
        cluster
    }

    /// Fills `pod_by_key`; a later pod of the same namespace and name wins.
    fn index_pod_keys(&mut self) {
        let (pods, table) = (&self.pods, &mut self.pod_by_key);
        let rehash = |id: &PodId| pod_key_hash(&pods[*id as usize]);
        table.reserve(pods.len(), rehash);
        for (id, pod) in pods.iter().enumerate() {
            let same = |other: &PodId| has_key(&pods[*other as usize], &pod.namespace, &pod.name);
            match table.entry(pod_key_hash(pod), same, rehash) {
                Entry::Occupied(mut entry) => *entry.get_mut() = id as PodId,
                Entry::Vacant(entry) => {
                    entry.insert(id as PodId);
                }
            }
        }
    }

    fn add_namespace(&mut self, namespace: Namespace) -> NamespaceId {
        let id = self.namespaces.len() as NamespaceId;
        self.namespace_by_name.insert(namespace.name.clone(), id);
        self.namespaces.push(namespace);
        self.namespace_pods.push(Vec::new());
        id
    }

    fn namespace_or_implied(&mut self, name: &str) -> NamespaceId {
        match self.namespace_by_name.get(name) {
            Some(id) => *id,
            None => self.add_namespace(compile::endpoints::implied_namespace(name)),
        }
    }

    fn add_pod(&mut self, pod: Pod) -> PodId {
        let id = self.pods.len() as PodId;
        self.index_pod(id, &pod);
        self.pods.push(pod);
        id
    }

    /// Enters pod `id` in every per-pod index.
    fn index_pod(&mut self, id: PodId, pod: &Pod) {
        let ns = self.namespace_or_implied(&pod.namespace);
        if !pod.host_network {
            for ip in &pod.ips {
                self.pod_by_ip.insert(*ip, id);
            }
        }
        if let Some(workload) = &pod.workload {
            self.workload_pods
                .entry((pod.namespace.clone(), workload.kind, workload.name.clone()))
                .or_default()
                .push(id);
        }
        self.pod_node.push(
            pod.node
                .as_ref()
                .and_then(|n| self.node_by_name.get(n).copied()),
        );
        self.pod_namespace.push(ns);
        self.namespace_pods[ns as usize].push(id);
    }

    fn add_workload(&mut self, workload: &crate::load::Workload) {
        let namespace = workload.metadata.namespace.clone().unwrap_or_default();
        let name = workload.metadata.name.clone().unwrap_or_default();
        let key = (namespace.clone(), workload.kind, name);
        if self.workload_pods.contains_key(&key) {
            return;
        }
        // Pods of the workload may lack owner references (e.g. hand-written manifests):
        // its selector finds them.
        let selector = workload
            .selector
            .as_ref()
            .and_then(|s| Selector::try_from(s).ok());
        if let Some(selector) = selector.filter(|s| !s.matches_everything()) {
            let in_namespace = self
                .namespace(&namespace)
                .map(|ns| self.namespace_pods[ns as usize].as_slice());
            let owned: Vec<PodId> = in_namespace
                .unwrap_or_default()
                .iter()
                .filter(|id| {
                    !self.pods[**id as usize].template
                        && selector.matches(&self.pods[**id as usize].labels)
                })
                .copied()
                .collect();
            if !owned.is_empty() {
                self.workload_pods.insert(key, owned);
                return;
            }
        }
        let id = self.add_pod(compile::workload_template(workload));
        self.workload_pods.insert(key, vec![id]);
    }

    pub fn namespace(&self, name: &str) -> Option<NamespaceId> {
        self.namespace_by_name.get(name).copied()
    }

    pub fn namespace_labels(&self, pod: PodId) -> &Labels {
        &self.namespaces[self.pod_namespace[pod as usize] as usize].labels
    }

    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id as usize]
    }

    pub fn pod_by_name(&self, namespace: &str, name: &str) -> Option<PodId> {
        self.pod_by_key
            .find(key_hash(namespace, name), |id| {
                has_key(&self.pods[*id as usize], namespace, name)
            })
            .copied()
    }

    /// The pods of a workload (or its template), sorted by name.
    pub fn workload_pods(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Option<Vec<PodId>> {
        let mut pods = self
            .workload_pods
            .get(&(namespace.to_owned(), kind, name.to_owned()))?
            .clone();
        pods.sort_by(|a, b| {
            self.pods[*a as usize]
                .name
                .cmp(&self.pods[*b as usize].name)
        });
        Some(pods)
    }

    /// `namespace/kind/name` for a workload's pods (and templates), `namespace/pod` otherwise.
    pub fn workload_name(&self, id: PodId) -> String {
        let pod = self.pod(id);
        match &pod.workload {
            Some(w) => format!(
                "{}/{}/{}",
                pod.namespace,
                w.kind.name().to_ascii_lowercase(),
                w.name
            ),
            None => pod.key(),
        }
    }

    pub fn pod_by_ip(&self, ip: &IpAddr) -> Option<PodId> {
        self.pod_by_ip.get(ip).copied()
    }

    pub fn node_by_ip(&self, ip: &IpAddr) -> Option<NodeId> {
        self.node_by_ip.get(ip).copied()
    }

    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }

    /// Pod keys (`namespace/name`) close to a misspelt one, for "did you mean" hints.
    pub fn similar_pods(&self, namespace: &str, name: &str, limit: usize) -> Vec<String> {
        let wanted = format!("{namespace}/{name}");
        let workloads = self
            .workload_pods
            .keys()
            .map(|(ns, kind, name)| format!("{ns}/{}/{name}", kind.name().to_ascii_lowercase()));
        // `ns/web` most likely means the workload `ns/<kind>/web`.
        let exact: Vec<String> = workloads
            .clone()
            .filter(|w| w.starts_with(&format!("{namespace}/")) && w.ends_with(&format!("/{name}")))
            .collect();
        if !exact.is_empty() {
            return exact.into_iter().take(limit).collect();
        }
        let mut scored: Vec<(usize, String)> = self
            .pods
            .iter()
            .filter(|p| !p.template)
            .map(|p| p.key())
            .chain(workloads)
            .map(|k| (edit_distance(&wanted, &k), k))
            .filter(|(d, _)| *d <= wanted.len().max(3) / 3 + 1)
            .collect();
        scored.sort();
        scored.into_iter().take(limit).map(|(_, k)| k).collect()
    }

    /// Workloads whose names are close to `name` (edit distance, the same kind breaking ties),
    /// as `namespace/kind/name`: those of `namespace` first, then of other namespaces.
    pub fn similar_workloads(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        limit: usize,
    ) -> Vec<String> {
        let within = name.chars().count().max(3) / 3 + 1;
        let mut scored: Vec<(bool, usize, bool, String)> = self
            .workload_pods
            .keys()
            .filter_map(|(ns, k, n)| {
                let distance = edit_distance(name, n);
                (distance <= within).then(|| {
                    let shown = format!("{ns}/{}/{n}", k.name().to_ascii_lowercase());
                    (ns != namespace, distance, *k != kind, shown)
                })
            })
            .collect();
        scored.sort();
        scored.into_iter().take(limit).map(|s| s.3).collect()
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(previous + cost);
            previous = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, ip: &str) -> Pod {
        Pod {
            namespace: namespace.into(),
            name: name.into(),
            labels: Arc::default(),
            ips: vec![ip.parse().unwrap()],
            node: None,
            host_network: false,
            ports: Vec::new(),
            workload: None,
            template: false,
        }
    }

    #[test]
    fn pods_are_found_by_namespace_and_name_the_later_of_two_winning() {
        let pods = vec![
            pod("shop", "web", "10.0.0.1"),
            pod("shop", "db", "10.0.0.2"),
            pod("pay", "web", "10.0.0.3"),
            pod("shop", "web", "10.0.0.4"),
        ];
        let cluster = Cluster::from_parts([], [], pods, []);
        #[rustfmt::skip]
        let cases = [
            ("shop", "web", Some(3)), ("shop", "db", Some(1)), ("pay", "web", Some(2)),
            ("pay", "db", None), ("shopw", "eb", None), ("", "", None),
        ];
        for (namespace, name, expected) in cases {
            assert_eq!(
                cluster.pod_by_name(namespace, name),
                expected,
                "{namespace}/{name}"
            );
        }
    }
}
