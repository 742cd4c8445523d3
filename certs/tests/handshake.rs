//! The bundle serves real TLS: a rustls client trusting `ca.crt` completes a handshake with
//! a server using `tls.crt`/`tls.key` for the Service's names, and only for them, also
//! across a CA rotation.

use std::sync::Arc;

use netpol_certs::plan::{Decision, Policy, plan};
use netpol_certs::{Bundle, service_dns_names};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use time::{Duration, OffsetDateTime};

fn names() -> Vec<String> {
    service_dns_names("netpol-webhook", "netpol-system")
}

/// Runs a handshake in memory; the client's error, if any.
fn handshake(trusted: &str, serving: &Bundle, name: &str) -> Result<(), rustls::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trusted.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client_config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let chain = CertificateDer::pem_slice_iter(serving.serving.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(serving.serving.key_pem.as_bytes()).unwrap();
    let server_config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let mut client = ClientConnection::new(
        Arc::new(client_config),
        ServerName::try_from(name.to_owned()).unwrap(),
    )
    .unwrap();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
    for _ in 0..10 {
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        server.read_tls(&mut wire.as_slice()).unwrap();
        let _ = server.process_new_packets();
        let mut wire = Vec::new();
        server.write_tls(&mut wire).unwrap();
        client.read_tls(&mut wire.as_slice()).unwrap();
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

fn write(current: Option<&Bundle>, now: OffsetDateTime) -> Bundle {
    match plan(current.map(Ok), &names(), now, &Policy::default()).unwrap() {
        Decision::Write { bundle, .. } => bundle,
        Decision::Keep => current.unwrap().clone(),
    }
}

#[test]
fn serves_the_service_names_to_clients_trusting_the_bundle() {
    let now = OffsetDateTime::now_utc();
    let bundle = write(None, now);
    for name in names() {
        handshake(&bundle.authorities, &bundle, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let wrong_name = handshake(&bundle.authorities, &bundle, "netpol-webhook.elsewhere.svc");
    assert!(wrong_name.is_err(), "another name is refused");
    let other = write(None, now);
    assert!(
        handshake(&other.authorities, &bundle, &names()[2]).is_err(),
        "another CA is refused"
    );
}

#[test]
fn old_and_new_certificates_verify_during_a_ca_rotation() {
    // Checks every 20 days from 4 years and 2 months ago: the CA is replaced once, in one
    // of the last steps, so every certificate involved is valid on today's clock.
    let now = OffsetDateTime::now_utc();
    let mut at = now - Duration::days(4 * 365 + 60);
    let mut bundle = write(None, at);
    let mut rotations = 0;
    while at + Duration::days(20) <= now {
        at += Duration::days(20);
        let next = write(Some(&bundle), at);
        if next.authority_key != bundle.authority_key {
            rotations += 1;
            // The certificate served until now verifies against the new bundle, and so
            // does the next one.
            handshake(&next.authorities, &bundle, &names()[3]).unwrap();
            handshake(&next.authorities, &next, &names()[3]).unwrap();
        }
        bundle = next;
    }
    assert_eq!(rotations, 1);
}
