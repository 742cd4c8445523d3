//! Flags (each with an environment fallback) and the program: logs, caches, HTTPS server,
//! certificate reloads and the one shutdown path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use clap::{Args as ClapArgs, Parser};

use crate::metrics::Metrics;
use crate::server::{self, App, Limits};
use crate::settings::{PriorityMode, Settings};
use crate::shared::Shared;
use crate::store::Store;
use crate::{audit, caches, guard, self_managed, tls};

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
    /// How often the cluster's admin policies are audited for priority conflicts (0: never).
    #[arg(long, env = "NETPOL_WEBHOOK_AUDIT_INTERVAL", default_value = "60s")]
    pub audit_interval: Span,
    /// How long in-flight requests may take after SIGTERM.
    #[arg(long, env = "NETPOL_WEBHOOK_SHUTDOWN_GRACE", default_value = "20s")]
    pub shutdown_grace: Span,
    /// error, warn, info, debug or trace.
    #[arg(long, env = "NETPOL_WEBHOOK_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing_subscriber::filter::LevelFilter,
}

/// Where the serving certificate comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CertMode {
    /// PEM files (--tls-cert, --tls-key), e.g. a cert-manager Secret mounted as a volume.
    #[default]
    Files,
    /// A CA and serving certificate the webhook keeps in a Secret itself, with the webhook
    /// configuration's caBundle kept in sync and renewal before expiry.
    SelfManaged,
}

#[derive(Debug, ClapArgs)]
pub struct TlsArgs {
    #[arg(long, env = "NETPOL_WEBHOOK_CERT_MODE", value_enum, default_value_t = CertMode::Files)]
    pub cert_mode: CertMode,
    /// PEM certificate chain, leaf first; reloaded when it changes (files mode).
    #[arg(
        long,
        env = "NETPOL_WEBHOOK_TLS_CERT",
        required_unless_present = "cert_mode",
        required_if_eq("cert_mode", "files")
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; reloaded when it changes (files mode).
    #[arg(
        long,
        env = "NETPOL_WEBHOOK_TLS_KEY",
        required_unless_present = "cert_mode",
        required_if_eq("cert_mode", "files")
    )]
    pub tls_key: Option<PathBuf>,
    /// How often the files (files mode) or the Secret (self-managed) are checked.
    #[arg(long, env = "NETPOL_WEBHOOK_TLS_POLL", default_value = "10s")]
    pub tls_poll: Span,
    /// The webhook's namespace, where the Secret lives (self-managed).
    #[arg(
        long,
        env = "NETPOL_WEBHOOK_NAMESPACE",
        required_if_eq("cert_mode", "self-managed")
    )]
    pub namespace: Option<String>,
    /// The webhook's Service: the certificate covers its in-cluster DNS names (self-managed).
    #[arg(
        long,
        env = "NETPOL_WEBHOOK_SERVICE",
        required_if_eq("cert_mode", "self-managed")
    )]
    pub service: Option<String>,
    /// The Secret holding the CA and serving certificate (self-managed).
    #[arg(
        long,
        env = "NETPOL_WEBHOOK_CERT_SECRET",
        default_value = "netpol-webhook-tls"
    )]
    pub cert_secret: String,
    /// The ValidatingWebhookConfiguration whose caBundle is kept in sync (self-managed).
    #[arg(long, env = "NETPOL_WEBHOOK_WEBHOOK_CONFIG")]
    pub webhook_config: Option<String>,
    /// More names for the serving certificate besides the Service's: DNS names or IP addresses
    /// (repeatable, self-managed), e.g. 127.0.0.1 for a webhook the API server calls by URL.
    #[arg(
        long = "cert-extra-name",
        env = "NETPOL_WEBHOOK_CERT_EXTRA_NAMES",
        value_delimiter = ','
    )]
    pub cert_extra_names: Vec<String>,
    /// How long a serving certificate is valid (self-managed).
    #[arg(long, env = "NETPOL_WEBHOOK_CERT_VALIDITY", default_value = "365d")]
    pub cert_validity: Span,
    /// How long before its expiry the serving certificate is replaced (self-managed).
    #[arg(long, env = "NETPOL_WEBHOOK_CERT_RENEW_BEFORE", default_value = "30d")]
    pub cert_renew_before: Span,
}

impl TlsArgs {
    /// The lifetimes of self-managed certificates.
    fn cert_policy(&self) -> Result<netpol_certs::Policy> {
        let to_time = |span: &Span| {
            time::Duration::try_from(span.0).context("a certificate lifetime out of range")
        };
        let policy = netpol_certs::Policy {
            serving_validity: to_time(&self.cert_validity)?,
            renew_before: to_time(&self.cert_renew_before)?,
            ..netpol_certs::Policy::default()
        };
        anyhow::ensure!(
            policy.renew_before < policy.serving_validity,
            "--cert-renew-before ({:?}) must be shorter than --cert-validity ({:?})",
            self.cert_renew_before.0,
            self.cert_validity.0
        );
        Ok(policy)
    }

    /// The serving configuration, kept current in the background.
    async fn serving(&self, client: &kube::Client) -> Result<RustlsConfig> {
        match self.cert_mode {
            CertMode::Files => {
                let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
                    anyhow::bail!("--cert-mode files needs --tls-cert and --tls-key");
                };
                let config = tls::load(cert, key).context("loading the serving certificate")?;
                tokio::spawn(tls::watch(
                    config.clone(),
                    cert.clone(),
                    key.clone(),
                    self.tls_poll.0,
                ));
                Ok(config)
            }
            CertMode::SelfManaged => {
                let (Some(namespace), Some(service)) = (&self.namespace, &self.service) else {
                    anyhow::bail!("--cert-mode self-managed needs --namespace and --service");
                };
                let target = netpol_certs::Target {
                    namespace: namespace.clone(),
                    secret: self.cert_secret.clone(),
                    webhook_configuration: self.webhook_config.clone(),
                    names: netpol_certs::service_dns_names(service, namespace)
                        .into_iter()
                        .chain(self.cert_extra_names.iter().cloned())
                        .collect(),
                };
                let manager =
                    netpol_certs::Manager::new(client.clone(), target, self.cert_policy()?);
                self_managed::start(manager, self.tls_poll.0)
                    .await
                    .context("serving the self-managed certificate")
            }
        }
    }
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

/// A duration written `150ms`, `10s`, `2m`, `3h`, `30d` or a bare number of seconds.
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
            .map_err(|_| format!("{text:?}: want e.g. 150ms, 10s, 2m or 30d"))?;
        let seconds = |per: u64| {
            value
                .checked_mul(per)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{text:?}: too long"))
        };
        Ok(Self(match unit {
            "ms" => Duration::from_millis(value),
            "" | "s" => seconds(1)?,
            "m" => seconds(60)?,
            "h" => seconds(3600)?,
            "d" => seconds(86_400)?,
            _ => return Err(format!("{text:?}: the unit must be ms, s, m, h or d")),
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
    let client = kube::Client::try_default()
        .await
        .context("configuring the Kubernetes client (in-cluster or kubeconfig)")?;
    let tls_config = args.tls.serving(&client).await?;
    let shared = Arc::new(Shared::new(Store::default(), false));
    let caches = tokio::spawn(caches::run(
        client.clone(),
        shared.clone(),
        args.rebuild_interval.0,
    ));
    let metrics = Arc::new(Metrics::default());
    if !args.audit_interval.0.is_zero() {
        tokio::spawn(audit::run(
            client,
            shared.clone(),
            metrics.clone(),
            args.audit_interval.0,
        ));
    }
    let limits = Limits {
        body_bytes: args.limits.max_body,
        concurrency: args.limits.concurrency,
        timeout: args.limits.request_timeout.0,
    };
    let app = App::new(shared.clone(), settings, metrics, limits);
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
            ("3h", Some(Duration::from_secs(3 * 3600)), "hours"),
            ("30d", Some(Duration::from_secs(30 * 86_400)), "days"),
            ("1w", None, "weeks are not offered"),
            ("99999999999999999d", None, "too long"),
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
        assert_eq!(args.tls.cert_mode, CertMode::Files);
    }

    #[test]
    fn each_cert_mode_names_what_it_needs() {
        let parse = |extra: &[&str]| {
            Args::try_parse_from(["netpol-webhook"].iter().chain(extra)).map_err(|e| e.to_string())
        };
        let files = parse(&[]).unwrap_err();
        assert!(files.contains("--tls-cert"), "{files}");
        let managed = parse(&["--cert-mode", "self-managed"]).unwrap_err();
        assert!(
            managed.contains("--namespace") && managed.contains("--service"),
            "{managed}"
        );
        let ok = parse(&[
            "--cert-mode",
            "self-managed",
            "--namespace",
            "netpol-system",
            "--service",
            "netpol-webhook",
            "--webhook-config",
            "netpol",
        ])
        .unwrap();
        assert_eq!(ok.tls.cert_secret, "netpol-webhook-tls");
        assert_eq!(ok.tls.tls_cert, None);
    }
}
