//! Self-managed serving certificates (`--cert-mode self-managed`): netpol-certs keeps a CA
//! and a serving certificate in a Secret and the webhook configuration's caBundle in sync;
//! this serves what the Secret holds and reloads it when a check renews it (here or in
//! another replica).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use netpol_certs::{Manager, Pair, manager::now};

use crate::tls::{self, TlsError};

/// Longest wait between attempts while the first certificate cannot be had.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Reconciles until a certificate is available (retrying while the API server cannot be
/// reached or refuses), then keeps it current every `every`.
pub async fn start(manager: Manager, every: Duration) -> Result<RustlsConfig, TlsError> {
    let mut backoff = Duration::from_secs(1);
    let serving = loop {
        match manager.reconcile(now()).await {
            Ok(outcome) => break outcome.bundle.serving,
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), retry_in_s = backoff.as_secs(), "no serving certificate yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    let config = RustlsConfig::from_config(Arc::new(server_config(&manager, &serving)?));
    tokio::spawn(keep_current(manager, config.clone(), serving, every));
    Ok(config)
}

async fn keep_current(manager: Manager, config: RustlsConfig, mut serving: Pair, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let next = match manager.reconcile(now()).await {
            Ok(outcome) => outcome.bundle.serving,
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "certificate check failed; serving the current one");
                continue;
            }
        };
        if next == serving {
            continue;
        }
        match server_config(&manager, &next) {
            Ok(fresh) => {
                config.reload_from_config(Arc::new(fresh));
                serving = next;
                tracing::info!("serving certificate reloaded from the Secret");
            }
            Err(err) => tracing::warn!(error = %err, "the Secret's certificate is not usable"),
        }
    }
}

fn server_config(manager: &Manager, pair: &Pair) -> Result<rustls::ServerConfig, TlsError> {
    let target = manager.target();
    let origin = format!("Secret {}/{}", target.namespace, target.secret);
    tls::server_config(
        Path::new(&format!("{origin} tls.crt")),
        pair.cert_pem.as_bytes(),
        Path::new(&format!("{origin} tls.key")),
        pair.key_pem.as_bytes(),
    )
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
