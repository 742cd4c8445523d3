//! A private Kubernetes control plane for tests, in the style of controller-runtime's envtest:
//! etcd, kube-apiserver and kube-controller-manager run on loopback through the script
//! `../shared/k8s/control-plane` beside the repository (which uses the plain binaries of
//! `$NETPOL_K8S_BIN` when that is set). Each [`ControlPlane`] has its own work directory and
//! free ports, so a test run can go on beside a developer's cluster, and is torn down (processes
//! stopped, data deleted) when dropped.

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cluster::Cluster;
use crate::repo_root;

/// Cluster IPs of Services: a loopback range (see [`ControlPlane::command`]).
pub const SERVICE_RANGE: &str = "127.0.100.0/24";

/// Where the script is when `NETPOL_K8S_CONTROL_PLANE` does not say.
const DEFAULT_SCRIPT: &str = "../shared/k8s/control-plane";

/// Whether the control plane can be had on this machine.
pub enum Availability {
    /// The script that runs it.
    Present(PathBuf),
    /// Why not, in words for the test output.
    Absent(String),
}

/// Finds the script: `$NETPOL_K8S_CONTROL_PLANE`, else `../shared/k8s/control-plane` beside the
/// repository. With `$NETPOL_K8S_BIN` set, that folder must hold the three binaries.
pub fn availability() -> Availability {
    let script = std::env::var_os("NETPOL_K8S_CONTROL_PLANE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(DEFAULT_SCRIPT));
    if !script.is_file() {
        return Availability::Absent(format!(
            "no control-plane script at {} (set NETPOL_K8S_CONTROL_PLANE, or check out the \
             repository beside shared/)",
            script.display()
        ));
    }
    if let Some(bin) = std::env::var_os("NETPOL_K8S_BIN").map(PathBuf::from) {
        for binary in ["etcd", "kube-apiserver", "kube-controller-manager"] {
            if !bin.join(binary).is_file() {
                return Availability::Absent(format!(
                    "NETPOL_K8S_BIN={} has no {binary}",
                    bin.display()
                ));
            }
        }
    }
    Availability::Present(script)
}

/// Whether a missing control plane fails the run instead of skipping: under CI it must be there.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The ports of one control plane, all on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub apiserver: u16,
    pub etcd: u16,
    pub etcd_peer: u16,
    pub controller_manager: u16,
}

impl Ports {
    /// Four ports free now, below the kernel's ephemeral range (32768 and up by default): a port
    /// the kernel handed out for `:0` can be handed out again, for the next outgoing connection
    /// (the API server's to etcd), before the component binds it.
    fn free(attempt: u16) -> Result<Self> {
        const LOW: u16 = 20_000;
        const SPAN: u16 = 12_000;
        // Where to start looking differs per process, so that parallel runs rarely meet.
        let start = ((std::process::id() + 97 * u32::from(attempt)) % u32::from(SPAN)) as u16;
        let mut found = Vec::new();
        let mut held = Vec::new();
        for offset in 0..SPAN {
            let port = LOW + (start + offset) % SPAN;
            if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                held.push(listener);
                found.push(port);
                if found.len() == 4 {
                    return Ok(Self {
                        apiserver: found[0],
                        etcd: found[1],
                        etcd_peer: found[2],
                        controller_manager: found[3],
                    });
                }
            }
        }
        bail!(
            "no four free ports on 127.0.0.1 between {LOW} and {}",
            LOW + SPAN
        )
    }
}

/// A running control plane of our own.
pub struct ControlPlane {
    script: PathBuf,
    dir: PathBuf,
    pub ports: Ports,
    /// The admin kubeconfig (user kubernetes-admin, group system:masters).
    pub kubeconfig: PathBuf,
    /// How long the first start took.
    pub started_in: Duration,
}

impl ControlPlane {
    /// Starts a control plane in a new directory under the system's temporary directory. A
    /// start that still fails after [`launch`](Self::launch)'s own tries is tried once more on
    /// other ports (a port chosen free can be taken before the component binds it); the first
    /// failure is printed.
    pub fn start(script: &Path) -> Result<Self> {
        match Self::start_once(script, 0) {
            Ok(plane) => Ok(plane),
            Err(first) => {
                eprintln!("control plane: the first start failed, trying again: {first:#}");
                Self::start_once(script, 1)
            }
        }
    }

    fn start_once(script: &Path, attempt: u16) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("netpol-control-plane-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the stale {}", dir.display()))?;
        }
        let mut plane = Self {
            script: script.to_owned(),
            kubeconfig: dir.join("kubeconfig"),
            dir,
            ports: Ports::free(attempt)?,
            started_in: Duration::ZERO,
        };
        plane.warm_binaries();
        let begun = Instant::now();
        // A failed start is dropped: what did start is stopped and the directory removed.
        plane.launch()?;
        plane.started_in = begun.elapsed();
        Ok(plane)
    }

    /// Starts what is not running, in two stages (etcd and kube-apiserver, then the
    /// controller-manager), each tried up to five times on the same ports.
    ///
    /// Why: the script decides that a component "exited" when its pid's `/proc/PID/exe` is not
    /// yet the binary. On a machine slow to fork and exec (a CI runner under I/O load) its first
    /// health poll can come before the launched shell has exec'd the binary, and the start fails
    /// with an empty log although nothing went wrong. A failed `start` stops only what that call
    /// launched, so staging keeps a slow controller-manager from taking the API server down with
    /// it, and a retry launches only what is missing. A busy port is not retried here: the
    /// caller picks other ports.
    fn launch(&self) -> Result<()> {
        const TRIES: u32 = 5;
        for with_controller_manager in ["0", "1"] {
            let mut tries = 0;
            loop {
                tries += 1;
                match self.run_with(
                    "start",
                    &[("WITH_CONTROLLER_MANAGER", with_controller_manager)],
                ) {
                    Ok(()) => break,
                    Err(err) if tries < TRIES && !format!("{err:#}").contains("already in use") => {
                        eprintln!("control plane: start try {tries} failed, trying again: {err:#}");
                        self.stop_strays();
                        // Slowness comes in spells (a neighbour's build): wait longer each time.
                        std::thread::sleep(Duration::from_secs(u64::from(tries)));
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    }

    /// Stops processes started for this work directory that the script no longer tracks: a
    /// component it gave up on as "exited" while it was still being exec'd lives on without a
    /// pid file. Only processes whose command line points into this directory, which belongs
    /// to this test process alone, are signalled.
    fn stop_strays(&self) {
        let strays = || -> Vec<u32> {
            let dir = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
            let mine = format!("{}/", dir.display());
            let Ok(entries) = std::fs::read_dir("/proc") else {
                return Vec::new();
            };
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != std::process::id())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                        cmdline
                            .split(|b| *b == 0)
                            .any(|arg| String::from_utf8_lossy(arg).contains(&mine))
                    })
                })
                .collect()
        };
        for signal in ["-TERM", "-KILL"] {
            let pids = strays();
            if pids.is_empty() {
                return;
            }
            eprintln!("control plane: stopping strays {pids:?} ({signal})");
            let _ = Command::new("kill")
                .arg(signal)
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
            let begun = Instant::now();
            while !strays().is_empty() && begun.elapsed() < Duration::from_secs(15) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// Unpacks the shipped binaries (the script's `bin`) and reads them once, so that their
    /// first exec does not wait on the disk. Best effort: `start` reports what is really wrong.
    fn warm_binaries(&self) {
        let Ok(output) = self.command("bin").stderr(Stdio::null()).output() else {
            return;
        };
        let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        for binary in ["etcd", "kube-apiserver", "kube-controller-manager"] {
            if let Ok(mut file) = std::fs::File::open(folder.join(binary)) {
                let _ = std::io::copy(&mut file, &mut std::io::sink());
            }
        }
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    /// Where the logs of etcd, kube-apiserver and kube-controller-manager are.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Stops every process, keeping the data (for a restart).
    pub fn stop(&self) -> Result<()> {
        self.run("stop")
    }

    /// Starts again after [`stop`](Self::stop), on the same ports and data.
    pub fn resume(&self) -> Result<Duration> {
        let begun = Instant::now();
        self.launch()?;
        Ok(begun.elapsed())
    }

    /// Whether the API server answers `/readyz`.
    pub fn ready(&self) -> bool {
        self.command("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn command(&self, verb: &str) -> Command {
        let mut command = Command::new("bash");
        command.arg(&self.script).arg(verb);
        let ports = [
            ("APISERVER_PORT", self.ports.apiserver),
            ("ETCD_PORT", self.ports.etcd),
            ("ETCD_PEER_PORT", self.ports.etcd_peer),
            ("KCM_PORT", self.ports.controller_manager),
        ];
        for (name, port) in ports {
            command.env(name, port.to_string());
        }
        command
            .env("NETPOL_K8S_DIR", &self.dir)
            // A test's etcd need not survive a power cut: without fsync it is several times
            // faster on a busy disk.
            .env("ETCD_EXTRA_ARGS", "--unsafe-no-fsync")
            // The API server calls a Service (a webhook's, an aggregated API's) at its cluster
            // IP. Taken from loopback, those calls stay on this machine: a test can listen on a
            // Service's address itself, and nothing else is ever dialled.
            .env(
                "APISERVER_EXTRA_ARGS",
                format!("--service-cluster-ip-range={SERVICE_RANGE}"),
            )
            // Nodes here never post status: without this the lifecycle controller would taint
            // and evict on its own schedule, in the middle of a test.
            .env(
                "KCM_EXTRA_ARGS",
                "--controllers=*,-node-lifecycle-controller",
            )
            .stdin(Stdio::null());
        command
    }

    fn run(&self, verb: &str) -> Result<()> {
        self.run_with(verb, &[])
    }

    fn run_with(&self, verb: &str, env: &[(&str, &str)]) -> Result<()> {
        let output = self
            .command(verb)
            .envs(env.iter().copied())
            .output()
            .with_context(|| format!("running {} {verb}", self.script.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The script's own lines say what failed; the components' log tails follow them.
            let said: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("[control-plane]"))
                .collect();
            bail!(
                "control-plane {verb} failed ({}):\n{}\n{}",
                output.status,
                said.join("\n"),
                tail(&stderr, 40),
            );
        }
        Ok(())
    }

    /// An environment for child processes (kubectl, the plugin, helm): this kubeconfig only.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![(
            "KUBECONFIG".into(),
            self.kubeconfig.clone().into_os_string(),
        )]
    }

    /// A client as kubernetes-admin, with a runtime of its own.
    pub fn cluster(&self) -> Result<Cluster> {
        cluster_of(&self.kubeconfig)
    }

    /// Waits until `ready` or the timeout; how long it took.
    pub fn wait_ready(&self, timeout: Duration) -> Result<Duration> {
        let begun = Instant::now();
        while !self.ready() {
            if begun.elapsed() > timeout {
                bail!("the control plane is not ready after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(begun.elapsed())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Err(err) = self.run("stop") {
            eprintln!("control plane: {err:#}");
        }
        self.stop_strays();
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("control plane: removing {}: {err}", self.dir.display());
        }
    }
}

/// A client of the cluster a kubeconfig file names (its current context), with a runtime.
pub fn cluster_of(kubeconfig: &Path) -> Result<Cluster> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    let client = runtime.block_on(async {
        let file = Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("using {}", kubeconfig.display()))?;
        Client::try_from(config).context("making a client")
    })?;
    Ok(Cluster::new(client, runtime))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
