//! The serving certificate: PEM files (a full chain is sent as is), TLS 1.2 and 1.3 only, and
//! reloaded when the files change so that rotation needs no restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key.
pub fn server_config(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<ServerConfig, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_protocol_versions(&[
        &rustls::version::TLS13,
        &rustls::version::TLS12,
    ])
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Reads the two files into a server configuration.
pub fn read(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    server_config(cert, &read(cert)?, key, &read(key)?)
}

/// Loads the certificate for serving.
pub fn load(cert: &Path, key: &Path) -> Result<RustlsConfig, TlsError> {
    Ok(RustlsConfig::from_config(Arc::new(read(cert, key)?)))
}

/// What tells a rewritten file: its modification time and size.
fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Polls the files' modification times and reloads `config` when either changes. A bad new
/// pair (e.g. the certificate written before the key) keeps the old one in service and is
/// retried at the next change or poll.
pub async fn watch(config: RustlsConfig, cert: PathBuf, key: PathBuf, every: Duration) {
    let mut seen = (modified(&cert), modified(&key));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = (modified(&cert), modified(&key));
        if now == seen {
            continue;
        }
        match read(&cert, &key) {
            Ok(next) => {
                config.reload_from_config(Arc::new(next));
                seen = now;
                tracing::info!(cert = %cert.display(), "serving certificate reloaded");
            }
            Err(err) => tracing::warn!(error = %err, "new serving certificate not usable yet"),
        }
    }
}
