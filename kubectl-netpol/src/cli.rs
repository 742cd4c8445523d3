//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl netpol",
    bin_name = "kubectl netpol",
    version,
    about = "Is this traffic allowed, and why? Explains Kubernetes network policies of every tier."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide flows and walk through every tier and rule that decided them.
    Check(CheckArgs),
    /// Show what the policies do, in evaluation order.
    Explain(ExplainArgs),
    /// Print the version.
    Version,
}

/// Where the objects come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Manifest files or directories (read recursively); `-` reads standard input. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Namespace for objects that name none.
    #[arg(short = 'n', long, default_value = "default", env = "NETPOL_NAMESPACE")]
    pub namespace: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Expectation {
    Allow,
    Deny,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Source: namespace/pod, namespace/kind/name (deployment, statefulset, ...) or an IP.
    #[arg(long, requires = "to", conflicts_with = "traffic")]
    pub from: Option<String>,
    /// Destination, as for --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Destination port: a number, or a container port name of the destination pod.
    #[arg(long, requires = "from")]
    pub port: Option<String>,
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// The verdict the flow must get; the exit status is 1 when it does not.
    #[arg(long, value_enum, requires = "from")]
    pub expect: Option<Expectation>,
    /// A YAML or JSON list of flows: {from, to, port, protocol, expect}.
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only the policies that select this pod (namespace/pod or namespace/kind/name), in the
    /// order they apply.
    #[arg(long)]
    pub pod: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
}
