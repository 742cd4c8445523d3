//! The cluster from a directory of manifests (`--state-dir`), re-read when any file changes.
//! Changes are noticed by polling names, sizes and modification times: cheap for a directory
//! of a few files and independent of inotify limits inside containers.
//!
//! Each object is compiled into the engine's compact form as soon as its file is read, and the
//! raw Kubernetes object dropped: typed API objects take several KiB each even trimmed, and
//! memory freed after a load mostly stays with the process (the allocator keeps the pages), so
//! a 150,000-pod state must never be held raw all at once. A file is parsed whole: split large
//! states over several files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use netpol_engine::cluster::LabelSets;
use netpol_engine::compile::{self, CompileError};
use netpol_engine::engine::compile_policy;
use netpol_engine::load::{LoadError, Object, Skipped, Workload};
use netpol_engine::model::{Namespace, Node, Pod};
use netpol_engine::state::ObjectKey;
use netpol_engine::{Cluster, Engine, Policy, read_str};

/// What identifies the directory's content without reading it.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Manifest files of `dir`, sorted, with size and modification time.
pub fn fingerprint(dir: &Path) -> std::io::Result<Fingerprint> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if !is_manifest(&path) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            files.push((path, meta.len(), meta.modified().ok()));
        }
    }
    files.sort();
    Ok(files)
}

/// What a read produced: the engine, and what could not be read or compiled.
#[derive(Debug)]
pub struct Read {
    pub engine: Engine,
    pub load_errors: Vec<LoadError>,
    pub compile_errors: Vec<CompileError>,
    /// Documents of kinds the enforcer does not use (reported, not silently dropped).
    pub skipped: Vec<Skipped>,
}

/// Objects compiled as they arrive, keyed as a `State` keys them, so that the engine is the
/// one `Engine::build` would give (the same order, the last definition winning).
#[derive(Debug, Default)]
struct Compiled {
    namespaces: BTreeMap<String, Namespace>,
    nodes: BTreeMap<String, Node>,
    /// In reading order; sorted and deduplicated at the end (a map keyed by name would hold
    /// a second copy of every name meanwhile).
    pods: Vec<Pod>,
    labels: LabelSets,
    workloads: BTreeMap<ObjectKey, Box<Workload>>,
    policies: BTreeMap<ObjectKey, Result<Policy, Vec<CompileError>>>,
}

impl Compiled {
    fn add(&mut self, object: Object) {
        match object {
            Object::Namespace(raw) => {
                let namespace = compile::namespace(&raw);
                self.namespaces.insert(namespace.name.clone(), namespace);
            }
            Object::Node(raw) => {
                let node = compile::node(&raw);
                self.nodes.insert(node.name.clone(), node);
            }
            Object::Pod(raw) => {
                let mut pod = compile::pod(&raw);
                drop(raw);
                pod.labels = self.labels.intern(pod.labels);
                self.pods.push(pod);
            }
            object @ Object::Workload(_) => {
                let key = ObjectKey::of(&object);
                if let Object::Workload(workload) = object {
                    self.workloads.insert(key, workload);
                }
            }
            policy => {
                if let Some(compiled) = compile_policy(&policy) {
                    self.policies.insert(ObjectKey::of(&policy), compiled);
                }
            }
        }
    }

    fn build(mut self) -> (Engine, Vec<CompileError>) {
        // Stable: definitions of one pod stay in reading order, and the last one is kept.
        self.pods
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        self.pods.dedup_by(|later, kept| {
            let same = later.namespace == kept.namespace && later.name == kept.name;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        let cluster = Cluster::from_parts(
            self.namespaces.into_values(),
            self.nodes.into_values(),
            self.pods,
            self.workloads.values().map(|w| &**w),
        );
        let mut policies = Vec::new();
        let mut errors = Vec::new();
        for compiled in self.policies.into_values() {
            match compiled {
                Ok(policy) => policies.push(policy),
                Err(errs) => errors.extend(errs),
            }
        }
        (Engine::new(Arc::new(cluster), policies), errors)
    }
}

/// Reads every manifest of `dir` in name order (later definitions win, as with `kubectl apply`)
/// and builds the engine.
pub fn read(dir: &Path) -> std::io::Result<Read> {
    let mut compiled = Compiled::default();
    let mut load_errors = Vec::new();
    let mut skipped = Vec::new();
    for (path, _, _) in fingerprint(dir)? {
        let text = std::fs::read_to_string(&path)?;
        let loaded = read_str(&path.display().to_string(), &text, "default");
        drop(text);
        load_errors.extend(loaded.errors);
        skipped.extend(loaded.skipped);
        for located in loaded.objects {
            compiled.add(located.object);
        }
    }
    let (engine, compile_errors) = compiled.build();
    Ok(Read {
        engine,
        load_errors,
        compile_errors,
        skipped,
    })
}

/// Remembers the last content applied and says when the directory has a new one.
#[derive(Debug)]
pub struct Watch {
    dir: PathBuf,
    applied: Option<Fingerprint>,
    /// A content that read with errors once: applied only if it is still there next poll,
    /// so that a file caught half-written is not taken for the new state.
    unsettled: Option<Fingerprint>,
}

impl Watch {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            applied: None,
            unsettled: None,
        }
    }

    /// The new content when the directory changed since the last call that returned one.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn poll(&mut self) -> std::io::Result<Option<Read>> {
        let now = fingerprint(&self.dir)?;
        if self.applied.as_ref() == Some(&now) {
            return Ok(None);
        }
        let read = read(&self.dir)?;
        if !read.load_errors.is_empty() && self.unsettled.as_ref() != Some(&now) {
            self.unsettled = Some(now);
            return Ok(None);
        }
        self.unsettled = None;
        self.applied = Some(now);
        Ok(Some(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";

    #[test]
    fn reports_changes_once_and_waits_out_broken_files() {
        let dir = std::env::temp_dir().join(format!("netpol-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ns.yaml"), NS).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n";
        std::fs::write(dir.join("cm.yaml"), config_map).unwrap();
        let mut watch = Watch::new(dir.clone());
        let read = watch.poll().unwrap().expect("first read");
        assert_eq!(read.engine.cluster.namespaces.len(), 1);
        assert!(read.load_errors.is_empty());
        let skipped: Vec<&str> = read.skipped.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(skipped, ["ConfigMap"], "reported, not dropped");
        assert!(watch.poll().unwrap().is_none(), "unchanged");
        std::fs::write(dir.join("half.yaml"), "kind: [").unwrap();
        assert!(watch.poll().unwrap().is_none(), "broken: wait one poll");
        let read = watch.poll().unwrap().expect("still broken: applied");
        assert_eq!(read.load_errors.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
