//! How the map's classes and sets are named. A class of pods is named by its workloads; bare
//! pods by the labels they share that some policy's pod selector looks at (other labels do not
//! matter to any verdict); a host-network pod is marked so; a new pod by its labels. Addresses
//! are named by their CIDR or node. A set of classes is written as the namespaces it covers whole
//! (`*`), `all pods` when it covers every pod, and the same name in several namespaces once:
//! `deployment/web in shop, payments`.

use std::collections::{BTreeMap, BTreeSet};

use netpol_engine::map::{ClassId, ClassKind, EndpointClass, Map, SetId};
use netpol_engine::model::{AdminPeer, NetPeer, Subject};
use netpol_engine::selector::Labels;
use netpol_engine::{Endpoint, Engine};

use super::template::Template;

pub struct Names {
    /// Per class: its namespace and its name within it (the whole name for addresses).
    classes: Vec<(Option<String>, String)>,
    /// Items of each set, in order.
    sets: Vec<Vec<String>>,
}

/// Labels every pod of a list has, among `keys`.
fn common_labels<'a>(labels: impl Iterator<Item = &'a Labels>, keys: &BTreeSet<&str>) -> Labels {
    let mut common: Option<Labels> = None;
    for l in labels {
        let mine = l.iter().filter(|(k, _)| keys.contains(k.as_str()));
        common = Some(match common {
            None => mine.map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(c) => c.into_iter().filter(|(k, v)| l.get(k) == Some(v)).collect(),
        });
    }
    common.unwrap_or_default()
}

pub fn label_text(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// The label keys any pod selector of any policy looks at.
fn selector_keys(engine: &Engine) -> BTreeSet<&str> {
    let mut keys = BTreeSet::new();
    for (_, policy) in engine.network_policies() {
        keys.extend(policy.pod_selector.keys());
        let rules = policy
            .ingress
            .iter()
            .flatten()
            .chain(policy.egress.iter().flatten());
        for peer in rules.flat_map(|r| r.peers.iter().flatten()) {
            if let NetPeer::Pods { pods, .. } = peer {
                keys.extend(pods.keys());
            }
        }
    }
    for (_, policy) in engine.admin_policies() {
        if let Subject::Pods { pods, .. } = &policy.subject {
            keys.extend(pods.keys());
        }
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for peer in &rule.peers {
                if let AdminPeer::Pods { pods, .. } = peer {
                    keys.extend(pods.keys());
                }
            }
        }
    }
    keys
}

/// A class's name within its namespace.
fn local_name(
    engine: &Engine,
    class: &EndpointClass,
    templates: &[Template],
    keys: &BTreeSet<&str>,
) -> String {
    let cluster = &engine.cluster;
    match class.kind {
        ClassKind::Addresses => match &class.label {
            Some(label) => format!("addresses in {label}"),
            None => "addresses".into(),
        },
        ClassKind::NodeAddresses => {
            let nodes: BTreeSet<&str> = class
                .nodes
                .iter()
                .flatten()
                .map(|n| cluster.nodes[*n as usize].name.as_str())
                .collect();
            let list: Vec<&str> = nodes.into_iter().collect();
            match list.as_slice() {
                [one] => format!("node {one}"),
                _ => format!("nodes {}", list.join(",")),
            }
        }
        ClassKind::Pods | ClassKind::HostNetwork => {
            let mut items: BTreeSet<String> = BTreeSet::new();
            let mut bare: Vec<u32> = Vec::new();
            for member in &class.members {
                let Endpoint::Pod(id) = member else { continue };
                let pod = cluster.pod(*id);
                if let Some(t) = templates.iter().find(|t| t.is(pod)) {
                    items.insert(t.to_string());
                } else if let Some(w) = &pod.workload {
                    items.insert(format!("{}/{}", w.kind.name().to_ascii_lowercase(), w.name));
                } else {
                    bare.push(*id);
                }
            }
            let mut items: Vec<String> = items.into_iter().collect();
            if bare.len() <= 2 {
                items.extend(bare.iter().map(|p| cluster.pod(*p).name.clone()));
            } else {
                let labels = common_labels(bare.iter().map(|p| &*cluster.pod(*p).labels), keys);
                items.push(format!("pods{} ×{}", label_text(&labels), bare.len()));
            }
            let name = items.join(", ");
            if class.kind == ClassKind::HostNetwork {
                format!("{name} (host network)")
            } else {
                name
            }
        }
    }
}

/// How many namespaces an item lists before "+N".
const NAMESPACES: usize = 6;

impl Names {
    pub fn new(engine: &Engine, map: &Map, templates: &[Template]) -> Self {
        let keys = selector_keys(engine);
        let classes: Vec<(Option<String>, String)> = map
            .classes
            .iter()
            .map(|c| {
                let namespace = c
                    .namespace
                    .map(|n| engine.cluster.namespaces[n as usize].name.clone());
                (namespace, local_name(engine, c, templates, &keys))
            })
            .collect();
        // Classes per namespace, and pod classes in all: what `*` and "all pods" stand for.
        let mut per_namespace: BTreeMap<&str, usize> = BTreeMap::new();
        for ns in classes.iter().filter_map(|(ns, _)| ns.as_deref()) {
            *per_namespace.entry(ns).or_default() += 1;
        }
        let pod_classes = map.classes.iter().filter(|c| c.kind.is_pods()).count();
        let sets = map
            .sets
            .iter()
            .map(|set| {
                let mut in_namespace: BTreeMap<&str, Vec<ClassId>> = BTreeMap::new();
                let mut addresses = Vec::new();
                for c in set {
                    match &classes[*c as usize] {
                        (Some(ns), _) => in_namespace.entry(ns).or_default().push(*c),
                        (None, name) => addresses.push(name.clone()),
                    }
                }
                let pods: usize = in_namespace.values().map(Vec::len).sum();
                let mut items = Vec::new();
                if pods == pod_classes && pods > 1 {
                    items.push("all pods".to_owned());
                } else {
                    // The same local name in several namespaces is written once.
                    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                    for (ns, list) in &in_namespace {
                        if list.len() == per_namespace[ns] && list.len() > 1 {
                            by_name.entry("*").or_default().push(ns);
                        } else {
                            for c in list {
                                by_name.entry(&classes[*c as usize].1).or_default().push(ns);
                            }
                        }
                    }
                    let mut named: Vec<(&str, String)> = by_name
                        .into_iter()
                        .map(|(name, namespaces)| (namespaces[0], item(name, &namespaces)))
                        .collect();
                    named.sort();
                    items.extend(named.into_iter().map(|(_, text)| text));
                }
                items.extend(addresses);
                items
            })
            .collect();
        Self { classes, sets }
    }

    /// A class's full name: `namespace/name`, or the address class's name.
    pub fn class(&self, id: ClassId) -> String {
        match &self.classes[id as usize] {
            (Some(ns), name) => format!("{ns}/{name}"),
            (None, name) => name.clone(),
        }
    }

    pub fn namespace(&self, id: ClassId) -> Option<&str> {
        self.classes[id as usize].0.as_deref()
    }

    pub fn set_items(&self, id: SetId) -> &[String] {
        &self.sets[id as usize]
    }
}

/// `ns/name`, or `name in ns1, ns2, … (+N)` for several namespaces; `*` is every pod.
fn item(name: &str, namespaces: &[&str]) -> String {
    let name = if name == "*" { "all pods" } else { name };
    match namespaces {
        [one] if name == "all pods" => format!("{one}/*"),
        [one] => format!("{one}/{name}"),
        _ => {
            let shown: Vec<&str> = namespaces.iter().take(NAMESPACES).copied().collect();
            let more = namespaces.len().saturating_sub(NAMESPACES);
            let tail = if more > 0 {
                format!(" +{more} namespaces")
            } else {
                String::new()
            };
            format!("{name} in {}{tail}", shown.join(", "))
        }
    }
}
