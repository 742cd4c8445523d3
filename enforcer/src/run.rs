//! Wiring: arguments, backend choice, the queue threads, the state directory watch, rule syncs
//! and connection cuts, and the one shutdown path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::cut;
use crate::decide::Snapshot;
use crate::kernel::{self, Kernel, Queues, RuleSet};
use crate::metrics::{self, Metrics, ResultLabels};
use crate::state_dir::Watch;
use crate::verdict::{self, RateLimit, Shared};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailMode {
    /// The kernel accepts when no reader is bound or the queue is full; rules are removed on
    /// exit.
    Open,
    /// The kernel drops instead; rules stay on exit, so selected pods get no new connections
    /// until the enforcer is back.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// nftables when the kernel has the queue statement, else iptables.
    Auto,
    Nftables,
    Iptables,
}

#[derive(Clone, Debug, Args)]
pub struct Config {
    /// This node: pods with this spec.nodeName are local.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// A directory of manifests of the whole cluster, re-read when it changes. (Reading from
    /// the Kubernetes API is not implemented yet.)
    #[arg(long, env = "NETPOL_STATE_DIR")]
    pub state_dir: PathBuf,
    /// How many queues (one reader thread each); connections are spread over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,
    /// The first queue number.
    #[arg(long, default_value_t = 0)]
    pub queue_base: u16,
    #[arg(long, value_enum, default_value_t = FailMode::Open)]
    pub fail_mode: FailMode,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Do not cut established connections that a policy change denies.
    #[arg(long)]
    pub no_cut: bool,
    /// Where /metrics and /healthz are served.
    #[arg(long, default_value = "0.0.0.0:9401")]
    pub metrics_addr: SocketAddr,
    /// Log at most this many denied flows per second (0: none).
    #[arg(long, default_value_t = 0)]
    pub deny_log_rate: u32,
    /// How often the state directory is checked for changes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
}

fn choose_backend(choice: BackendChoice) -> (Box<dyn Kernel>, String) {
    match choice {
        BackendChoice::Auto => kernel::detect(),
        BackendChoice::Iptables => (
            Box::new(kernel::iptables::Iptables),
            "chosen with --backend".into(),
        ),
        BackendChoice::Nftables => (
            Box::new(kernel::nftables::Nftables),
            "chosen with --backend".into(),
        ),
    }
}

/// Runs until SIGTERM or SIGINT.
pub fn run(config: Config) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let (kernel, why) = choose_backend(config.backend);
    tracing::info!(backend = kernel.backend().name(), reason = %why, "rule backend");

    let mut watch = Watch::new(config.state_dir.clone());
    let (state, errors) = loop {
        if let Some(read) = watch.poll().context("reading --state-dir")? {
            break read;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(config.poll_ms));
    };
    for error in &errors {
        tracing::warn!(%error, "unreadable object");
    }
    let started = Instant::now();
    let (snapshot, compile_errors) = Snapshot::build(&state, &config.node_name);
    drop(state);
    log_build(&snapshot, &compile_errors, started);

    let metrics = Arc::new(Metrics::default());
    let fail_open = config.fail_mode == FailMode::Open;
    let mut shared = Shared::new(snapshot, metrics.clone(), fail_open);
    if config.deny_log_rate > 0 {
        shared.deny_log = Some(RateLimit::new(config.deny_log_rate));
    }
    let shared = Arc::new(shared);
    let queues = Queues {
        first: config.queue_base,
        count: config.queues,
    };
    // Readers are bound before rules exist, so that fail-closed never drops for want of one.
    for number in queues.numbers() {
        verdict::spawn(number, shared.clone())
            .with_context(|| format!("binding queue {number}"))?;
    }
    let bound = metrics::serve(config.metrics_addr, metrics.clone())
        .with_context(|| format!("serving metrics on {}", config.metrics_addr))?;

    let mut rules = RuleSet {
        queues,
        fail_open,
        addresses: shared.snapshot().queued_addresses().clone(),
    };
    sync(kernel.as_ref(), &rules, &metrics).context("installing rules")?;
    metrics.ready.store(true, Ordering::Relaxed);
    tracing::info!(
        node = %config.node_name,
        queues = config.queues,
        queued_pods = rules.addresses.len(),
        metrics = %bound,
        "ready"
    );

    let result = watch_loop(
        &config,
        &stop,
        &mut watch,
        kernel.as_ref(),
        &shared,
        &mut rules,
    );
    match config.fail_mode {
        FailMode::Open => match kernel.remove() {
            Ok(()) => tracing::info!("rules removed"),
            Err(error) => tracing::error!(%error, "removing rules"),
        },
        FailMode::Closed => tracing::info!("fail-closed: rules left in place"),
    }
    result
}

fn watch_loop(
    config: &Config,
    stop: &AtomicBool,
    watch: &mut Watch,
    kernel: &dyn Kernel,
    shared: &Shared,
    rules: &mut RuleSet,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(config.poll_ms));
        let (state, errors) = match watch.poll() {
            Ok(Some(read)) => read,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "reading --state-dir");
                continue;
            }
        };
        for error in &errors {
            tracing::warn!(%error, "unreadable object");
        }
        let started = Instant::now();
        let (snapshot, compile_errors) = Snapshot::build(&state, &config.node_name);
        log_build(&snapshot, &compile_errors, started);
        let snapshot = Arc::new(snapshot);
        shared.replace(snapshot.clone());
        if snapshot.queued_addresses() != &rules.addresses {
            rules.addresses = snapshot.queued_addresses().clone();
            if let Err(error) = sync(kernel, rules, &shared.metrics) {
                tracing::error!(%error, "rule sync failed");
            }
        }
        if !config.no_cut {
            match cut::cut_denied(kernel, &snapshot) {
                Ok(0) => {}
                Ok(cut) => {
                    shared.metrics.connections_cut.inc_by(cut as u64);
                    tracing::info!(cut, "cut connections that are now denied");
                }
                Err(error) => tracing::error!(%error, "cutting denied connections"),
            }
        }
    }
    tracing::info!("stopping");
    Ok(())
}

fn sync(
    kernel: &dyn Kernel,
    rules: &RuleSet,
    metrics: &Metrics,
) -> Result<(), kernel::KernelError> {
    let result = kernel.install(rules);
    let label = ResultLabels {
        result: if result.is_ok() { "ok" } else { "error" },
    };
    metrics.rule_syncs.get_or_create(&label).inc();
    result
}

fn log_build(
    snapshot: &Snapshot,
    errors: &[netpol_engine::compile::CompileError],
    started: Instant,
) {
    for error in errors {
        tracing::warn!(%error, "policy does not compile");
    }
    tracing::info!(
        pods = snapshot.engine.cluster.pods.len(),
        identities = snapshot.engine.identities().len(),
        queued_pods = snapshot.queued_addresses().len(),
        millis = started.elapsed().as_millis() as u64,
        "state loaded"
    );
}
