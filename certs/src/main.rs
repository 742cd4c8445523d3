//! `netpol-certs generate`: a CA and a serving certificate as files, for running the webhook
//! outside a cluster (e.g. against a bare API server) or with certificates you distribute
//! yourself. Inside a cluster the webhook manages them (`--cert-mode self-managed`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use netpol_certs::{Policy, authority, service_dns_names};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Parser)]
#[command(
    name = "netpol-certs",
    version,
    about = "Certificates for the netpol webhook"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write ca.crt, tls.crt and tls.key (mode 0600) for a webhook Service.
    Generate {
        /// The webhook's Service name.
        #[arg(long, default_value = "netpol-webhook")]
        service: String,
        /// The Service's namespace.
        #[arg(long, default_value = "netpol-system")]
        namespace: String,
        /// More names for the certificate: DNS names or IP addresses (repeatable), e.g.
        /// 127.0.0.1 for a webhook on the API server's host.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Days the serving certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Generate {
            service,
            namespace,
            names,
            days,
            out,
        } => generate(&service, &namespace, names, days, &out),
    }
}

fn generate(
    service: &str,
    namespace: &str,
    extra: Vec<String>,
    days: i64,
    out: &Path,
) -> Result<()> {
    anyhow::ensure!(days > 0, "--days must be at least 1");
    let mut names = service_dns_names(service, namespace);
    names.extend(extra);
    let now = OffsetDateTime::now_utc();
    let policy = Policy::default();
    let ca_validity = policy.authority_validity.max(Duration::days(days));
    let ca = authority::new_authority(now, ca_validity)?;
    let serving =
        authority::issue_serving(&ca, now + ca_validity, &names, now, Duration::days(days))?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write(&out.join("ca.crt"), &ca.cert_pem, 0o644)?;
    write(&out.join("tls.crt"), &serving.cert_pem, 0o644)?;
    write(&out.join("tls.key"), &serving.key_pem, 0o600)?;
    println!(
        "wrote ca.crt, tls.crt, tls.key to {} for {}",
        out.display(),
        names.join(", ")
    );
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
