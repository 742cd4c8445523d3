//! Flags (each with an environment fallback) and the program: logs, caches, HTTPS server,
//! certificate reloads and the one shutdown path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum_server::Handle;
use clap::{Args as ClapArgs, Parser};

use crate::metrics::Metrics;
use crate::server::{self, App, Limits};
use crate::settings::{PriorityMode, Settings};
use crate::shared::Shared;
use crate::store::Store;
use crate::{caches, guard, tls};

#[derive(Debug, Parser)]
#[command(
    name = "netpol-webhook",
    version,
    about = "Validating admission webhook for Kubernetes network policies"
)]
pub struct Args {
    /// Address to serve HTTPS on.
    #[arg(long, env = "NETPOL_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub admission: AdmissionArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// How often endpoint changes (pods, namespaces, nodes) are folded into the caches' engine.
    #[arg(long, env = "NETPOL_WEBHOOK_REBUILD_INTERVAL", default_value = "2s")]
    pub rebuild_interval: Span,
    /// How long in-flight requests may take after SIGTERM.
    #[arg(long, env = "NETPOL_WEBHOOK_SHUTDOWN_GRACE", default_value = "20s")]
    pub shutdown_grace: Span,
    /// error, warn, info, debug or trace.
    #[arg(long, env = "NETPOL_WEBHOOK_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing_subscriber::filter::LevelFilter,
}

#[derive(Debug, ClapArgs)]
pub struct TlsArgs {
    /// PEM certificate chain, leaf first; reloaded when it changes.
    #[arg(long, env = "NETPOL_WEBHOOK_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// PEM private key; reloaded when it changes.
    #[arg(long, env = "NETPOL_WEBHOOK_TLS_KEY")]
    pub tls_key: PathBuf,
    /// How often the certificate files are checked for changes.
    #[arg(long, env = "NETPOL_WEBHOOK_TLS_POLL", default_value = "10s")]
    pub tls_poll: Span,
}

#[derive(Debug, ClapArgs)]
pub struct AdmissionArgs {
    /// Equal priorities in one admin tier.
    #[arg(long, env = "NETPOL_WEBHOOK_PRIORITY_MODE", value_enum, default_value_t = PriorityMode::Reject)]
    pub priority_mode: PriorityMode,
    /// Time budget of the impact preview (0 turns it off).
    #[arg(long, env = "NETPOL_WEBHOOK_PREVIEW_BUDGET", default_value = "120ms")]
    pub preview_budget: Span,
    /// Example flow groups shown per direction in the preview.
    #[arg(long, env = "NETPOL_WEBHOOK_PREVIEW_EXAMPLES", default_value_t = 3)]
    pub preview_examples: usize,
    /// Warnings per response; the rest are counted.
    #[arg(long, env = "NETPOL_WEBHOOK_MAX_WARNINGS", default_value_t = 10)]
    pub max_warnings: usize,
    /// YAML list of flows that must stay allowed: {from, to, port, protocol}; from may be "*".
    #[arg(long, env = "NETPOL_WEBHOOK_GUARD_RAILS")]
    pub guard_rails: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct LimitArgs {
    /// Largest request body, in bytes.
    #[arg(long, env = "NETPOL_WEBHOOK_MAX_BODY", default_value_t = 3 * 1024 * 1024)]
    pub max_body: usize,
    /// Evaluations running at once.
    #[arg(long, env = "NETPOL_WEBHOOK_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Longest a request may take (the API server's own timeout is 10 s by default).
    #[arg(long, env = "NETPOL_WEBHOOK_REQUEST_TIMEOUT", default_value = "8s")]
    pub request_timeout: Span,
}

/// A duration written `150ms`, `10s`, `2m` or a bare number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let at = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(at);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: want e.g. 150ms, 10s or 2m"))?;
        Ok(Self(match unit {
            "ms" => Duration::from_millis(value),
            "" | "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
        }))
    }
}

impl AdmissionArgs {
    pub fn settings(&self) -> Result<Settings> {
        let guard_rails = match &self.guard_rails {
            None => Vec::new(),
            Some(path) => guard::read(path).map_err(|errors| {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("{}", list.join("\n"))
            })?,
        };
        Ok(Settings {
            priority_mode: self.priority_mode,
            preview_budget: self.preview_budget.0,
            preview_examples: self.preview_examples,
            max_warnings: self.max_warnings,
            guard_rails,
        })
    }
}

/// Runs the webhook until SIGTERM or Ctrl-C.
pub fn main(args: Args) -> Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(args.log_level)
        .with_current_span(true)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let settings = args.admission.settings()?;
    let tls_config = tls::load(&args.tls.tls_cert, &args.tls.tls_key)
        .context("loading the serving certificate")?;
    tokio::spawn(tls::watch(
        tls_config.clone(),
        args.tls.tls_cert.clone(),
        args.tls.tls_key.clone(),
        args.tls.tls_poll.0,
    ));
    let shared = Arc::new(Shared::new(Store::default(), false));
    let client = kube::Client::try_default()
        .await
        .context("configuring the Kubernetes client (in-cluster or kubeconfig)")?;
    let caches = tokio::spawn(caches::run(client, shared.clone(), args.rebuild_interval.0));
    let limits = Limits {
        body_bytes: args.limits.max_body,
        concurrency: args.limits.concurrency,
        timeout: args.limits.request_timeout.0,
    };
    let app = App::new(
        shared.clone(),
        settings,
        Arc::new(Metrics::default()),
        limits,
    );
    let handle = Handle::new();
    tokio::spawn(shutdown_on_signal(
        handle.clone(),
        shared,
        args.shutdown_grace.0,
    ));
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "serving HTTPS");
    let serving = server::serve_tls(listener, server::router(app), tls_config, handle);
    tokio::select! {
        served = serving => served.context("serving HTTPS")?,
        failed = caches => {
            failed.context("the cache task panicked")??;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The one shutdown path: on SIGTERM (or Ctrl-C) stop being ready, stop accepting, let
/// in-flight requests finish within the grace period, then return from `serve`.
async fn shutdown_on_signal(handle: Handle<SocketAddr>, shared: Arc<Shared>, grace: Duration) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!(grace_seconds = grace.as_secs(), "shutting down");
    shared.set_ready(false);
    handle.graceful_shutdown(Some(grace));
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn spans() {
        for (text, want, what) in [
            ("150ms", Some(Duration::from_millis(150)), "milliseconds"),
            ("10s", Some(Duration::from_secs(10)), "seconds"),
            ("2m", Some(Duration::from_secs(120)), "minutes"),
            ("7", Some(Duration::from_secs(7)), "bare seconds"),
            ("1h", None, "hours are not offered"),
            ("soon", None, "not a number"),
        ] {
            assert_eq!(text.parse::<Span>().ok().map(|s| s.0), want, "{what}");
        }
    }

    #[test]
    fn defaults_and_env_free_parse() {
        let args = Args::try_parse_from([
            "netpol-webhook",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--priority-mode",
            "unique",
        ])
        .unwrap();
        assert_eq!(args.admission.priority_mode, PriorityMode::Unique);
        assert_eq!(args.admission.preview_budget.0, Duration::from_millis(120));
        assert_eq!(args.limits.concurrency, 4);
    }
}
