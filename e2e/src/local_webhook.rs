//! `--no-nodes`: the webhook binary runs on this machine with an rcgen-made CA and serving
//! certificate for 127.0.0.1, registered with `clientConfig.url: https://127.0.0.1:PORT/validate`.
//! That works when the API server runs on this machine too (a bare kube-apiserver, envtest).
//!
//! Both webhooks are registered with `failurePolicy: Ignore` and an objectSelector on the
//! suite's label: a run that dies without cleaning up leaves nothing that blocks the cluster.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::probe::SUITE_LABEL;

/// The name of the suite's ValidatingWebhookConfiguration.
pub const CONFIG_NAME: &str = "netpol-e2e-local";

/// A CA and a serving certificate for 127.0.0.1 and localhost, as PEM.
pub struct Pki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

pub fn pki() -> Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netpol-e2e CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "netpol-webhook");
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The webhook process; killed when dropped.
pub struct LocalWebhook {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for LocalWebhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalWebhook {
    /// Starts `binary` serving on a free loopback port with the certificate of `pki`.
    pub fn start(binary: &Path, pki: &Pki, scratch: &Path) -> Result<Self> {
        let (cert, key) = (scratch.join("tls.crt"), scratch.join("tls.key"));
        std::fs::write(&key, &pki.key)?;
        std::fs::write(&cert, &pki.cert)?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = scratch.join("webhook.log");
        let mut command = Command::new(binary);
        command
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--tls-cert={}", cert.display()))
            .arg(format!("--tls-key={}", key.display()));
        if knows_flag(binary, "--cert-mode") {
            command.arg("--cert-mode=files");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { child, port, log })
    }

    /// Waits for `/readyz` to answer 200 (the caches have synced).
    pub fn wait_ready(&mut self, ca_pem: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the webhook exited ({status}); its log {}: {}",
                    self.log.display(),
                    tail(&self.log)
                );
            }
            match get_status(ca_pem, self.port, "/readyz") {
                Ok(200) => return Ok(()),
                Ok(code) => last = format!("/readyz answered {code}"),
                Err(err) => last = format!("{err:#}"),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        bail!(
            "the webhook was not ready after {timeout:?} ({last}); its log {}: {}",
            self.log.display(),
            tail(&self.log)
        )
    }

    /// The registration of this webhook for the suite's objects.
    pub fn config(&self, ca_pem: &str) -> ValidatingWebhookConfiguration {
        registration(self.port, ca_pem)
    }
}

/// Both webhooks of the chart, at `https://127.0.0.1:port/validate`, for the suite's objects only.
pub fn registration(port: u16, ca_pem: &str) -> ValidatingWebhookConfiguration {
    let url = format!("https://127.0.0.1:{port}/validate");
    let selector = LabelSelector {
        match_labels: Some([(SUITE_LABEL.to_owned(), "true".to_owned())].into()),
        ..Default::default()
    };
    let webhook = |name: &str, rules: Vec<RuleWithOperations>| ValidatingWebhook {
        name: name.to_owned(),
        client_config: WebhookClientConfig {
            url: Some(url.clone()),
            ca_bundle: Some(ByteString(ca_pem.as_bytes().to_vec())),
            service: None,
        },
        rules: Some(rules),
        failure_policy: Some("Ignore".into()),
        side_effects: "None".into(),
        admission_review_versions: vec!["v1".into()],
        timeout_seconds: Some(5),
        match_policy: Some("Equivalent".into()),
        object_selector: Some(selector.clone()),
        ..Default::default()
    };
    let rule = |group: &str, version: &str, resources: &[&str]| RuleWithOperations {
        api_groups: Some(vec![group.to_owned()]),
        api_versions: Some(vec![version.to_owned()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into(), "DELETE".into()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        scope: None,
    };
    ValidatingWebhookConfiguration {
        metadata: kube::api::ObjectMeta {
            name: Some(CONFIG_NAME.into()),
            labels: Some([(SUITE_LABEL.to_owned(), "true".to_owned())].into()),
            ..Default::default()
        },
        webhooks: Some(vec![
            webhook(
                "admin-policies.netpol.io",
                vec![
                    rule(
                        "policy.networking.k8s.io",
                        "v1alpha1",
                        &["adminnetworkpolicies", "baselineadminnetworkpolicies"],
                    ),
                    rule(
                        "policy.networking.k8s.io",
                        "v1alpha2",
                        &["clusternetworkpolicies"],
                    ),
                ],
            ),
            webhook(
                "network-policies.netpol.io",
                vec![rule("networking.k8s.io", "v1", &["networkpolicies"])],
            ),
        ]),
    }
}

fn knows_flag(binary: &Path, flag: &str) -> bool {
    Command::new(binary)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// `GET path` over TLS trusting only `ca_pem`: the response status.
fn get_status(ca_pem: &str, port: u16, path: &str) -> Result<u16> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost")?.to_owned();
    let connection = rustls::ClientConnection::new(Arc::new(config), name)?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_matches_the_charts_webhooks_but_fails_open() {
        let pki = pki().unwrap();
        let hook = registration(18443, &pki.ca);
        let webhooks = hook.webhooks.unwrap();
        let names: Vec<&str> = webhooks.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            ["admin-policies.netpol.io", "network-policies.netpol.io"]
        );
        for webhook in &webhooks {
            assert_eq!(
                webhook.client_config.url.as_deref(),
                Some("https://127.0.0.1:18443/validate")
            );
            assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
            assert_eq!(webhook.side_effects, "None");
            assert!(webhook.object_selector.is_some());
        }
        assert!(pki.ca.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
