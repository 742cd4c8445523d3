//! The real HTTPS server over loopback: the handshake with a full chain, TLS versions,
//! certificate reload without a restart, and graceful shutdown.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;
use common::https::{connect, connector, pki, request, temp_dir};
use netpol_webhook::server::serve_tls;
use netpol_webhook::{Settings, tls};

async fn start(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (
    SocketAddr,
    Handle<SocketAddr>,
    axum_server::tls_rustls::RustlsConfig,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = tls::load(cert, key).expect("certificate loads");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Handle::new();
    let router = common::router(Settings::default());
    let server = tokio::spawn(serve_tls(listener, router, config.clone(), handle.clone()));
    (addr, handle, config, server)
}

#[tokio::test]
async fn handshake_verifies_the_full_chain() {
    let dir = temp_dir("handshake");
    let certs = pki("handshake");
    let (cert, key) = certs.write(&dir);
    let (addr, handle, _, server) = start(&cert, &key).await;

    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let mut stream = connect(&connector(&certs.root, versions), addr)
            .await
            .expect("handshake");
        let (_, session) = stream.get_ref();
        assert_eq!(
            session.peer_certificates().map(<[_]>::len),
            Some(2),
            "leaf and intermediate sent"
        );
        let (status, body) = request(&mut stream, "GET", "/healthz", b"").await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
        // The same connection carries an admission request.
        let np = common::yaml(
            "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: n, namespace: shop}, spec: {podSelector: {}}}",
        );
        let review = common::review("CREATE", Some(&np), None, true).to_string();
        let (status, body) = request(&mut stream, "POST", "/validate", review.as_bytes())
            .await
            .unwrap();
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["response"]["allowed"], true);
    }

    // A client trusting another CA refuses the server.
    let other = pki("other");
    assert!(
        connect(&connector(&other.root, &[&rustls::version::TLS13]), addr)
            .await
            .is_err()
    );

    handle.graceful_shutdown(Some(Duration::from_secs(1)));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shuts down")
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn certificate_reloads_on_change() {
    let dir = temp_dir("reload");
    let first = pki("first");
    let (cert, key) = first.write(&dir);
    let (addr, handle, config, _server) = start(&cert, &key).await;
    let watcher = tokio::spawn(tls::watch(
        config,
        cert.clone(),
        key.clone(),
        Duration::from_millis(20),
    ));
    let tls13 = &[&rustls::version::TLS13][..];
    assert!(connect(&connector(&first.root, tls13), addr).await.is_ok());

    let second = pki("second");
    second.write(&dir);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if connect(&connector(&second.root, tls13), addr).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new certificate served in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        connect(&connector(&first.root, tls13), addr).await.is_err(),
        "the old certificate is gone"
    );
    // A broken file keeps the current certificate in service.
    std::fs::write(&cert, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(connect(&connector(&second.root, tls13), addr).await.is_ok());

    watcher.abort();
    handle.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
