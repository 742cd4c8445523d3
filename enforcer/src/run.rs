//! Wiring: arguments, backend choice, the queue threads, the cluster source (Kubernetes API or
//! state directory), rule syncs and connection cuts, and the one shutdown path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::affinity;
use crate::decide::Snapshot;
use crate::dns::config::LearningConfig;
use crate::dns::learn::Learner;
use crate::enforcement::{Enforcement, sync};
use crate::events::{EventSettings, Events};
use crate::kernel::{self, DecisionCache, Kernel, Queues, RuleSet};
use crate::metrics::{self, Metrics};
use crate::source::{ApiSource, Source};
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
    /// A directory of manifests of the whole cluster, re-read when it changes. Without it the
    /// cluster is watched through the Kubernetes API (in-cluster config, else kubeconfig).
    #[arg(long, env = "NETPOL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// With the Kubernetes API: how often pod, namespace and node changes are folded into the
    /// engine, in milliseconds (policy changes apply at once).
    #[arg(long, env = "NETPOL_REBUILD_MS", default_value_t = 1000)]
    pub rebuild_ms: u64,
    /// How many queues (one reader thread each). With more than one, a packet goes to the queue
    /// of the CPU it arrived on (CPU fanout) and each thread runs on its queue's CPUs; one
    /// queue per CPU makes every wake-up local.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,
    /// The first queue number.
    #[arg(long, default_value_t = 0)]
    pub queue_base: u16,
    /// Microseconds a queue thread keeps polling for the next packet before it sleeps (0: it
    /// sleeps at once). Polling saves the thread's wake-up on each new connection when they
    /// come in quick succession, for CPU time while it polls; see docs/performance.md.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub busy_poll_us: u64,
    #[arg(long, value_enum, default_value_t = FailMode::Open)]
    pub fail_mode: FailMode,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Do not cut established connections that a policy change denies.
    #[arg(long)]
    pub no_cut: bool,
    /// Seconds the kernel remembers an accepted (source, destination, protocol, port) tuple,
    /// so that further new connections with it skip the queue (0: every new connection is
    /// queued). Emptied whenever the cluster state changes, so verdicts stay exact.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub decision_cache_seconds: u32,
    /// The packet mark bit an accept verdict sets so that the decision cache records the tuple
    /// (cleared again right after); pick one no other component of the node uses.
    #[arg(long, default_value = "0x2000", value_parser = mark_bit)]
    pub decision_cache_mark: u32,
    /// Where /metrics and /healthz are served.
    #[arg(long, default_value = "0.0.0.0:9401")]
    pub metrics_addr: SocketAddr,
    /// Log at most this many denied flows per second (0: none).
    #[arg(long, default_value_t = 0)]
    pub deny_log_rate: u32,
    /// Verdict events per second for denied connections and those an audited policy would
    /// decide otherwise; beyond it they are counted as dropped (0: no events).
    #[arg(long, default_value_t = 100)]
    pub flow_events_per_second: u32,
    /// One allowed connection in this many yields an event (0: none).
    #[arg(long, default_value_t = 0)]
    pub flow_sample_allowed: u64,
    /// Verdict events kept for readers of /flows.
    #[arg(long, default_value_t = 10_000)]
    pub flow_ring: usize,
    /// Do not write verdict events as JSON lines on standard output.
    #[arg(long)]
    pub no_flow_log: bool,
    /// How often the cluster source is checked for changes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
    /// Load the cluster, log what would be enforced (pods, identities, queued addresses,
    /// resident memory) and exit, without touching rules or queues.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: keep following the cluster and log each new state (and the memory it
    /// takes) until stopped, still without touching rules or queues.
    #[arg(long, requires = "dry_run")]
    pub follow: bool,
    #[command(flatten)]
    pub dns: LearningConfig,
}

/// One bit of the packet mark, as hexadecimal (`0x2000`) or decimal.
fn mark_bit(text: &str) -> Result<u32, String> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|error| format!("{text:?} is not a 32-bit number: {error}"))?;
    if value.count_ones() != 1 {
        return Err(format!("{text:?} must have exactly one bit set"));
    }
    Ok(value)
}

impl Config {
    fn decision_cache(&self) -> Option<DecisionCache> {
        (self.decision_cache_seconds > 0).then_some(DecisionCache {
            mark: self.decision_cache_mark,
            timeout_secs: self.decision_cache_seconds,
        })
    }
}

fn choose_backend(choice: BackendChoice) -> (Box<dyn Kernel>, String) {
    match choice {
        BackendChoice::Auto => kernel::detect(),
        BackendChoice::Iptables => (
            Box::new(kernel::iptables::Iptables::default()),
            "chosen with --backend".into(),
        ),
        BackendChoice::Nftables => (
            Box::new(kernel::nftables::Nftables::default()),
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
    let mut source = match &config.state_dir {
        Some(dir) => Source::dir(dir.clone()),
        None => Source::Api(ApiSource::start(
            None,
            Duration::from_millis(config.rebuild_ms),
        )?),
    };
    let engine = loop {
        if let Some(engine) = source.poll()? {
            break engine;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(config.poll_ms));
    };
    let started = Instant::now();
    let snapshot = Snapshot::new(engine, &config.node_name);
    log_snapshot(&snapshot, started);
    if config.dry_run {
        if config.follow {
            drop(snapshot);
            return watch_loop(&config, &stop, &mut source, drop);
        }
        return Ok(());
    }
    let (kernel, why) = choose_backend(config.backend);
    tracing::info!(backend = kernel.backend().name(), reason = %why, "rule backend");

    let queues = Queues {
        first: config.queue_base,
        count: config.queues,
    };
    let dns_queue = config.dns.queue(queues).map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::default());
    let fail_open = config.fail_mode == FailMode::Open;
    let mut shared = Shared::new(snapshot, metrics.clone(), fail_open);
    shared.dns = Learner::new(
        config.dns.limits().map_err(anyhow::Error::msg)?,
        config.dns.dns_resolver.clone(),
    );
    if config.deny_log_rate > 0 {
        shared.deny_log = Some(RateLimit::new(config.deny_log_rate));
    }
    if config.flow_events_per_second > 0 || config.flow_sample_allowed > 0 {
        let settings = EventSettings {
            node: config.node_name.clone(),
            denied_per_second: config.flow_events_per_second,
            sample_allowed: config.flow_sample_allowed,
            ring: config.flow_ring,
            log: !config.no_flow_log,
        };
        shared.events = Some(Events::start(settings, metrics.clone())?);
    }
    if config.busy_poll_us > 0 {
        shared.busy_poll = Some(Duration::from_micros(config.busy_poll_us));
    }
    let shared = Arc::new(shared);
    // Readers are bound before rules exist, so that fail-closed never drops for want of one.
    let allowed = affinity::allowed_cpus().context("reading this process's CPU set")?;
    for number in queues.numbers() {
        // One queue takes every CPU's packets: nothing to pin.
        let cpus = match queues.count {
            1 => Vec::new(),
            count => affinity::cpus_for_queue(number - queues.first, count, &allowed),
        };
        verdict::spawn(number, cpus, shared.clone())
            .with_context(|| format!("binding queue {number}"))?;
    }
    if let Some(number) = dns_queue {
        crate::dns::queue::spawn(number, shared.clone())
            .with_context(|| format!("binding DNS queue {number}"))?;
    }
    let bound = metrics::serve(config.metrics_addr, metrics.clone())
        .with_context(|| format!("serving metrics on {}", config.metrics_addr))?;

    let mut rules = RuleSet {
        queues,
        fail_open,
        queued: shared.snapshot().queued().clone(),
        decision_cache: config.decision_cache(),
        dns_queue,
    };
    // A set kept from an earlier run (fail-closed leaves it) holds verdicts of an older state.
    let with_cache = |rules: &RuleSet| {
        sync(kernel.as_ref(), rules, &metrics)?;
        if rules.decision_cache.is_some() {
            kernel.forget_decisions()?;
        }
        Ok::<_, kernel::KernelError>(())
    };
    let installed = match with_cache(&rules) {
        Err(error) if rules.decision_cache.is_some() => {
            // No security table, or no SET target: enforce without the cache rather than not
            // at all. (The iptables backend needs ipset either way.)
            tracing::warn!(%error, "decision cache unavailable; every new connection is queued");
            rules.decision_cache = None;
            sync(kernel.as_ref(), &rules, &metrics)
        }
        other => other,
    };
    installed.context("installing rules")?;
    if let Some(cache) = rules.decision_cache {
        shared.set_decision_mark(cache.mark);
    }
    metrics.ready.store(true, Ordering::Relaxed);
    tracing::info!(
        node = %config.node_name,
        queues = config.queues,
        queued_pods = rules.queued.addresses().len(),
        queued_egress = rules.queued.egress.len(),
        queued_ingress = rules.queued.ingress.len(),
        dns_learning_pods = rules.queued.dns.len(),
        dns_queue = rules.dns_queue,
        decision_cache_seconds = rules.decision_cache.map_or(0, |c| c.timeout_secs),
        metrics = %bound,
        "ready"
    );

    let mut enforcement = Enforcement::new(kernel.as_ref(), &shared, rules, !config.no_cut);
    let result = watch_loop(&config, &stop, &mut source, |snapshot| match snapshot {
        Some(snapshot) => enforcement.put_in_force(snapshot, Instant::now()),
        None => enforcement.retry_if_due(Instant::now()),
    });
    match config.fail_mode {
        FailMode::Open => match kernel.remove() {
            Ok(()) => tracing::info!("rules removed"),
            Err(error) => tracing::error!(%error, "removing rules"),
        },
        FailMode::Closed => {
            // Without a reader nothing is accepted, not even tuples accepted before: verdicts
            // stop recording first (the queue threads run until the process exits).
            if enforcement.rules().decision_cache.is_some() {
                shared.stop_decision_marks();
                if let Err(error) = kernel.forget_decisions() {
                    tracing::error!(%error, "emptying the decision cache");
                }
            }
            tracing::info!("fail-closed: rules left in place")
        }
    }
    result
}

/// Hands each new state of the cluster, as this node sees it, to `on_poll` until stopped;
/// polls that find no new state call it with `None` (time to retry what failed).
fn watch_loop(
    config: &Config,
    stop: &AtomicBool,
    source: &mut Source,
    mut on_poll: impl FnMut(Option<Snapshot>),
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(config.poll_ms));
        let engine = match source.poll() {
            Ok(Some(engine)) => engine,
            Ok(None) => {
                on_poll(None);
                continue;
            }
            Err(error) if matches!(source, Source::Dir(_)) => {
                tracing::warn!(error = format!("{error:#}"), "reading the cluster");
                on_poll(None);
                continue;
            }
            // The reflectors retry by themselves: when they give up, so does the enforcer.
            Err(error) => return Err(error),
        };
        let started = Instant::now();
        let snapshot = Snapshot::new(engine, &config.node_name);
        log_snapshot(&snapshot, started);
        on_poll(Some(snapshot));
    }
    tracing::info!("stopping");
    Ok(())
}

fn log_snapshot(snapshot: &Snapshot, started: Instant) {
    tracing::info!(
        pods = snapshot.engine.cluster.pods.len(),
        identities = snapshot.engine.identities().len(),
        queued_pods = snapshot.queued().addresses().len(),
        millis = started.elapsed().as_millis() as u64,
        resident_mib = memory_mib("VmRSS:"),
        peak_resident_mib = memory_mib("VmHWM:"),
        "state loaded"
    );
}

/// A memory figure of this process from /proc/self/status, in MiB (0 when unreadable).
fn memory_mib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn flags_parse_and_refuse_what_makes_no_sense() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["netpol-enforcer", "--node-name", "n1"].iter().chain(args))
                .map(|cli| cli.config)
        };
        let config = parse(&["--dry-run", "--follow"]).expect("follow with dry-run");
        assert!(config.dry_run && config.follow);
        assert!(parse(&["--follow"]).is_err(), "follow needs --dry-run");
        assert_eq!(parse(&["--busy-poll-us", "50"]).unwrap().busy_poll_us, 50);
        assert!(
            parse(&["--busy-poll-us", "20000"]).is_err(),
            "at most 10 ms"
        );
        assert!(parse(&["--queues", "0"]).is_err());
        let cache = parse(&[]).unwrap().decision_cache().expect("on by default");
        assert_eq!((cache.mark, cache.timeout_secs), (0x2000, 60));
        let config = parse(&[
            "--decision-cache-mark",
            "256",
            "--decision-cache-seconds",
            "5",
        ]);
        let cache = config.unwrap().decision_cache().unwrap();
        assert_eq!((cache.mark, cache.timeout_secs), (0x100, 5));
        assert!(
            parse(&["--decision-cache-seconds", "0"])
                .unwrap()
                .decision_cache()
                .is_none()
        );
        for bad in ["0x3000", "0", "0x", "mark", "0x100000000"] {
            assert!(parse(&["--decision-cache-mark", bad]).is_err(), "{bad}");
        }
        assert_eq!(
            parse(&[]).unwrap().busy_poll_us,
            0,
            "sleeps at once by default"
        );
    }
}
