use clap::Parser;

// jemalloc (configured in .cargo/config.toml) gives freed engines back to the system; glibc
// kept them, so resident memory stayed near two engines after every rebuild.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// netpol NFQUEUE enforcer: decides the first packet of each new connection of this node's
/// pods with the netpol engine.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: netpol_enforcer::run::Config,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "NETPOL_LOG", default_value = "info")]
    log_level: tracing::Level,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .init();
    netpol_enforcer::run::run(cli.config)
}
