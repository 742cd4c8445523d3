//! The one kubelet endpoint `kubectl logs` needs, for pods whose logs are files on this machine:
//! `GET /containerLogs/{namespace}/{pod}/{container}`, with `follow=true` streaming what is
//! appended. The API server finds it from a Node's InternalIP and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, authorises the reader (RBAC on `pods/log`)
//! and relays the stream, as it would a real kubelet's; it does not check the kubelet's
//! certificate here (no `--kubelet-certificate-authority`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A log server on 127.0.0.1; stops when dropped.
pub struct Kubelet {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Kubelet {
    /// Serves `logs` (`namespace/pod` → the file holding its one container's output).
    pub fn start(logs: BTreeMap<String, PathBuf>) -> Result<Self> {
        let pki = netpol_e2e::local_webhook::pki()?;
        let certs = CertificateDer::pem_slice_iter(pki.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("the serving certificate")?;
        let key = PrivateKeyDer::from_pem_slice(pki.key.as_bytes()).context("the key")?;
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(certs, key)?,
        );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let logs = Arc::new(logs);
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        let (config, logs, stop) = (config.clone(), logs.clone(), stopping.clone());
                        std::thread::spawn(move || {
                            if let Err(err) = serve(socket, config, &logs, &stop) {
                                eprintln!("    kubelet: {err:#}");
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self { port, stop })
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    socket: TcpStream,
    config: Arc<rustls::ServerConfig>,
    logs: &BTreeMap<String, PathBuf>,
    stop: &AtomicBool,
) -> Result<()> {
    socket.set_nonblocking(false)?;
    let connection = rustls::ServerConnection::new(config)?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let mut head = Vec::new();
    {
        let mut reader = BufReader::new(&mut stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            head.push(line);
        }
    }
    let target = head
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no request line")?
        .to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let follow = query.split('&').any(|p| p == "follow=true");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let file = match parts.as_slice() {
        ["containerLogs", namespace, pod, _container] => logs.get(&format!("{namespace}/{pod}")),
        _ => None,
    };
    let Some(file) = file else {
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    // The body ends when the connection does, as the kubelet's own streams.
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
    )?;
    stream.flush()?;
    let mut log = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
    let mut offset = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        log.seek(SeekFrom::Start(offset))?;
        let read = log.read(&mut chunk)?;
        if read > 0 {
            offset += read as u64;
            // A write fails once the API server has closed the stream (the reader left).
            if stream.write_all(&chunk[..read]).is_err() || stream.flush().is_err() {
                return Ok(());
            }
            continue;
        }
        if !follow {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}
