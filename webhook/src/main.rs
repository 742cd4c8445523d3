use clap::Parser;

fn main() -> anyhow::Result<()> {
    // One crypto provider for rustls, installed before anything builds a TLS configuration.
    let _ = rustls::crypto::ring::default_provider().install_default();
    netpol_webhook::cli::main(netpol_webhook::cli::Args::parse())
}
