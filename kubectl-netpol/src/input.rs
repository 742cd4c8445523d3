//! Reading manifests from files, directories and standard input into an engine.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use netpol_engine::{Endpoint, EndpointSpec, Engine, Loaded, State, read_str};

use crate::cli::{ConnectionArgs, SourceArgs};
use crate::live::{Connection, read_cluster};

/// An engine and the namespace of names given without one (`-n`, else the kubeconfig
/// context's, else `default`), as kubectl reads them.
pub struct Input {
    pub engine: Engine,
    pub namespace: String,
    /// The state with its audited policies enforced, when some are audited and the engine
    /// leaves them out: what marks the flows they would change.
    pub audit: Option<Engine>,
}

impl Input {
    /// A user's endpoint: `pod`, `kind/name`, `namespace/pod`, `namespace/kind/name` or an IP.
    pub fn endpoint(&self, text: &str) -> Result<Endpoint> {
        let spec = EndpointSpec::parse_in(text, &self.namespace)?;
        Ok(self.engine.resolve(&spec)?)
    }
}

/// The engine over everything the sources hold. Any unreadable object is an error (all of
/// them are listed); kinds netpol does not evaluate are listed on stderr and skipped.
pub fn load_engine(source: &SourceArgs) -> Result<Input> {
    let (state, namespace) = load_state_in(
        &source.files,
        source.namespace.as_deref(),
        &source.connection,
    )?;
    let started = std::time::Instant::now();
    let mut engine = build_engine(&state)?;
    let mut audit = engine.with_audited_enforced();
    if source.audit_as_enforced
        && let Some(enforced) = audit.take()
    {
        engine = enforced;
    }
    timing("build the engine", started);
    Ok(Input {
        engine,
        namespace,
        audit,
    })
}

/// Files alone; the live cluster alone (no files); or the files applied over the cluster
/// (`--cluster`).
pub fn load_state(
    files: &[PathBuf],
    namespace: Option<&str>,
    connection: &ConnectionArgs,
) -> Result<State> {
    load_state_in(files, namespace, connection).map(|(state, _)| state)
}

/// [`load_state`] and the namespace of objects and names given without one.
pub fn load_state_in(
    files: &[PathBuf],
    namespace: Option<&str>,
    connection: &ConnectionArgs,
) -> Result<(State, String)> {
    load(files, namespace, connection, false).map(|(state, namespace, _)| (state, namespace))
}

/// [`load_state`] and the texts of the manifest files, for reports that point into them.
pub fn load_state_with_manifests(
    files: &[PathBuf],
    namespace: Option<&str>,
    connection: &ConnectionArgs,
) -> Result<(State, Vec<Manifest>)> {
    load(files, namespace, connection, true).map(|(state, _, manifests)| (state, manifests))
}

/// A manifest file's text, under the name its objects' origins give it (`Origin::source`).
pub struct Manifest {
    pub source: String,
    pub text: String,
}

/// The state, the namespace of names given without one, and, when asked, the manifests'
/// texts (otherwise dropped once read: a large snapshot's text is as large as its objects).
fn load(
    files: &[PathBuf],
    namespace: Option<&str>,
    connection: &ConnectionArgs,
    keep_texts: bool,
) -> Result<(State, String, Vec<Manifest>)> {
    let live = files.is_empty() || connection.cluster.is_some();
    let started = std::time::Instant::now();
    let mut state = State::new();
    let requested = namespace;
    let mut namespace = requested.unwrap_or("default").to_owned();
    let mut kept = Vec::new();
    if live {
        // Without -n, objects without a namespace land in the context's, as with kubectl.
        let (loaded, context_namespace) = read_cluster(&connection.to_connection(), requested)?;
        check_loaded(&loaded)?;
        state = State::from_objects(loaded.objects);
        namespace = context_namespace;
        timing("read the cluster", started);
    }
    if !files.is_empty() {
        let started = std::time::Instant::now();
        let mut loaded = Loaded::default();
        read_manifests(files, |manifest| {
            loaded.extend(read_str(&manifest.source, &manifest.text, &namespace));
            if keep_texts {
                kept.push(manifest);
            }
        })?;
        check_loaded(&loaded)?;
        if live {
            for located in loaded.objects {
                state.apply(located);
            }
        } else {
            state = State::from_objects(loaded.objects);
        }
        timing("read and parse manifests", started);
    }
    Ok((state, namespace, kept))
}

/// With NETPOL_TIMINGS set, prints how long a phase took to stderr (where the time goes).
/// On Linux it adds the process's resident and peak resident memory at the phase's end.
pub fn timing(phase: &str, started: std::time::Instant) {
    if std::env::var_os("NETPOL_TIMINGS").is_some() {
        eprintln!("timing: {phase}: {:.1?}{}", started.elapsed(), memory());
    }
}

/// ", RSS r MiB (peak p MiB)" from /proc/self/status, or nothing where it cannot be read.
fn memory() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return String::new();
    };
    let mib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib / 1024)
    };
    match (mib("VmRSS:"), mib("VmHWM:")) {
        (Some(rss), Some(peak)) => format!(", RSS {rss} MiB (peak {peak} MiB)"),
        _ => String::new(),
    }
}

/// Fails when any object could not be read; notes skipped kinds on stderr.
pub fn check_loaded(loaded: &Loaded) -> Result<()> {
    report_skipped(loaded);
    if !loaded.errors.is_empty() {
        let list: Vec<String> = loaded.errors.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "{} object(s) could not be read:\n{}",
            loaded.errors.len(),
            list.join("\n")
        );
    }
    Ok(())
}

/// Builds the engine; any invalid policy field is an error, all of them listed.
pub fn build_engine(state: &State) -> Result<Engine> {
    let build = Engine::build(state);
    if !build.errors.is_empty() {
        let list: Vec<String> = build.errors.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "{} invalid field(s) in policies:\n{}",
            build.errors.len(),
            list.join("\n")
        );
    }
    Ok(build.engine)
}

/// Reads files, directories (recursively) and `-` (standard input).
pub fn load_paths(paths: &[PathBuf], namespace: &str) -> Result<Loaded> {
    let mut loaded = Loaded::default();
    read_manifests(paths, |manifest| {
        loaded.extend(read_str(&manifest.source, &manifest.text, namespace));
    })?;
    Ok(loaded)
}

/// The texts of files, of the files under directories, and of standard input (`-`), one at a
/// time: each is handed to `each` before the next is read.
fn read_manifests(paths: &[PathBuf], mut each: impl FnMut(Manifest)) -> Result<()> {
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            each(Manifest {
                source: STDIN.to_owned(),
                text,
            });
            continue;
        }
        for file in manifest_files(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            each(Manifest {
                source: file.display().to_string(),
                text,
            });
        }
    }
    Ok(())
}

/// The source name of objects read from standard input.
pub const STDIN: &str = "<stdin>";

/// A file as given, or the .yaml/.yml/.json files under a directory, sorted.
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn report_skipped(loaded: &Loaded) {
    if loaded.skipped.is_empty() {
        return;
    }
    let mut kinds: Vec<String> = loaded
        .skipped
        .iter()
        .map(|s| format!("{} {}", s.kind, s.name))
        .collect();
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "note: skipped {} object(s) of kinds netpol does not evaluate: {}",
        loaded.skipped.len(),
        kinds.join(", ")
    );
}

impl ConnectionArgs {
    pub fn to_connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            cluster: self.cluster.clone().filter(|c| !c.is_empty()),
            user: self.user.clone(),
            request_timeout: self.request_timeout.clone(),
        }
    }
}
