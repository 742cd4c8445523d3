use clap::Parser;

fn main() -> std::process::ExitCode {
    // One crypto provider for rustls (kube's client and the readiness probe of a local webhook).
    let _ = rustls::crypto::ring::default_provider().install_default();
    netpol_e2e::cli::main(netpol_e2e::cli::Args::parse())
}
