//! The cluster from a directory of manifests (`--state-dir`), re-read when any file changes.
//! Changes are noticed by polling names, sizes and modification times: cheap for a directory
//! of a few files and independent of inotify limits inside containers.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use netpol_engine::load::LoadError;
use netpol_engine::{Loaded, State, read_str};

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

/// Reads every manifest of `dir` in name order (later definitions win, as with `kubectl apply`).
pub fn read(dir: &Path) -> std::io::Result<(State, Vec<LoadError>)> {
    let mut loaded = Loaded::default();
    for (path, _, _) in fingerprint(dir)? {
        let text = std::fs::read_to_string(&path)?;
        loaded.extend(read_str(&path.display().to_string(), &text, "default"));
    }
    let mut state = State::new();
    for located in loaded.objects {
        state.apply(located);
    }
    Ok((state, loaded.errors))
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

    /// The new state when the directory changed since the last call that returned one.
    pub fn poll(&mut self) -> std::io::Result<Option<(State, Vec<LoadError>)>> {
        let now = fingerprint(&self.dir)?;
        if self.applied.as_ref() == Some(&now) {
            return Ok(None);
        }
        let (state, errors) = read(&self.dir)?;
        if !errors.is_empty() && self.unsettled.as_ref() != Some(&now) {
            self.unsettled = Some(now);
            return Ok(None);
        }
        self.unsettled = None;
        self.applied = Some(now);
        Ok(Some((state, errors)))
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
        let mut watch = Watch::new(dir.clone());
        let (state, errors) = watch.poll().unwrap().expect("first read");
        assert_eq!((state.len(), errors.len()), (1, 0));
        assert!(watch.poll().unwrap().is_none(), "unchanged");
        std::fs::write(dir.join("half.yaml"), "kind: [").unwrap();
        assert!(watch.poll().unwrap().is_none(), "broken: wait one poll");
        let (_, errors) = watch.poll().unwrap().expect("still broken: applied");
        assert_eq!(errors.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
