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
    /// Find conflicting, shadowed, ineffective and invalid policies.
    Lint(LintArgs),
    /// Preview the impact of a change: flows newly denied and newly allowed.
    Diff(DiffArgs),
    /// Connectivity matrix of workloads and ports, as a table, JSON, DOT, Mermaid or SVG.
    Matrix(MatrixArgs),
    /// The verdicts the enforcers report: which policy and rule decided each connection.
    Observe(ObserveArgs),
    /// Print the version.
    Version,
    /// Print a shell completion script (bash, zsh, fish).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Completion candidates in kubectl's plugin protocol (used by `kubectl_complete-netpol`).
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

/// Where the objects come from: manifest files, the live cluster, or the files over the cluster.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Manifest files or directories (read recursively); `-` reads standard input. Repeatable.
    /// Without -f, the live cluster is read; with --cluster too, the files are applied over it.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Namespace for objects and endpoints that name none (default: the context's, else
    /// `default`).
    #[arg(short = 'n', long, env = "NETPOL_NAMESPACE")]
    pub namespace: Option<String>,
    /// All namespaces (netpol always reads every namespace: policies cross them).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Decide with audited policies (annotation netpol.io/enforcement: audit) enforced, as
    /// they will be once the annotation is removed. Without it they take no part, as in the
    /// dataplane, and flows they would change are marked.
    #[arg(long)]
    pub audit_as_enforced: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// kubectl's connection flags.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG, which may list several, else
    /// ~/.kube/config).
    #[arg(long, value_name = "PATH", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Read the live cluster too (with -f: apply the files over it); a value names the
    /// kubeconfig cluster to use.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "", global = true)]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// How long to wait for each request: 30s, 2m, 0 for no limit.
    #[arg(long, value_name = "DURATION", global = true)]
    pub request_timeout: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

/// `check`'s formats: the common ones, and JUnit XML for CI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
    /// JUnit XML: a test case per flow, a failure per mismatch (CI test reports).
    Junit,
}

/// `lint`'s formats: the common ones, and SARIF for code scanning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
    /// SARIF 2.1.0: findings with the file and line of the field (code scanning).
    Sarif,
}

impl CheckFormat {
    /// The format shared with the other commands; None for JUnit.
    pub fn common(self) -> Option<OutputFormat> {
        match self {
            Self::Table => Some(OutputFormat::Table),
            Self::Wide => Some(OutputFormat::Wide),
            Self::Json => Some(OutputFormat::Json),
            Self::Yaml => Some(OutputFormat::Yaml),
            Self::Junit => None,
        }
    }
}

impl LintFormat {
    /// The format shared with the other commands; None for SARIF.
    pub fn common(self) -> Option<OutputFormat> {
        match self {
            Self::Table => Some(OutputFormat::Table),
            Self::Wide => Some(OutputFormat::Wide),
            Self::Json => Some(OutputFormat::Json),
            Self::Yaml => Some(OutputFormat::Yaml),
            Self::Sarif => None,
        }
    }
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
    /// Destination port: a number, or a container port name of the destination pod (none for
    /// icmp).
    #[arg(long, requires = "from")]
    pub port: Option<String>,
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// The verdict the flow must get; the exit status is 1 when it does not.
    #[arg(long, value_enum, requires = "from")]
    pub expect: Option<Expectation>,
    /// A DNS answer the source received, NAME=ADDRESS (NAME=CNAME=...=ADDRESS through CNAMEs):
    /// egress domainNames rules match through it, as in the enforcer. --to NAME is then a
    /// flow to each of its addresses. Repeatable; with --traffic, every source received it.
    #[arg(long, value_name = "NAME=ADDRESS")]
    pub resolve: Vec<String>,
    /// The name --to (an IP address) was learned for: as --resolve NAME=<--to>. Repeatable.
    #[arg(long, value_name = "NAME", requires = "to")]
    pub dns: Vec<String>,
    /// A YAML or JSON list of flows: {from, to, port, protocol, expect, resolve, dns}.
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: CheckFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Tcp,
    Udp,
    Sctp,
    /// ICMP or ICMPv6: no port; only rules without ports match it.
    Icmp,
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

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The new or changed objects, applied over the current state (create or replace).
    /// Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// The current state as manifest files or directories (repeatable); without it, the live
    /// cluster.
    #[arg(long, value_name = "PATH")]
    pub base: Vec<PathBuf>,
    /// Objects to remove in the new state, as kind/name or kind/namespace/name
    /// (e.g. networkpolicy/shop/allow-web). Repeatable.
    #[arg(long, value_name = "OBJECT")]
    pub delete: Vec<String>,
    /// Namespace for objects that name none.
    #[arg(short = 'n', long, env = "NETPOL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Recorded flows to replay instead of comparing every pair: JSON lines of `kubectl netpol
    /// observe -o json`, `hubble observe -o json` or kube-network-policies' JSON log (`-` for
    /// standard input). Repeatable. Lists the recorded flows whose verdict the change turns.
    #[arg(long = "flows", value_name = "FILE")]
    pub flows: Vec<PathBuf>,
    /// Exit with status 1 when the change newly denies any flow (with --flows: any recorded
    /// flow).
    #[arg(long)]
    pub fail_on_deny: bool,
    /// How many groups to list per direction (counts always cover all of them).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    #[default]
    Table,
    Json,
    Dot,
    Mermaid,
    Svg,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Namespaces to include (repeatable); all when omitted.
    #[arg(long = "in", value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,
    /// Ports to show, as PORT or PROTOCOL/PORT (repeatable, comma-separated allowed); a name
    /// resolves on each destination. Default: the container ports the pods declare.
    #[arg(long = "port", value_delimiter = ',', conflicts_with = "all_ports")]
    pub ports: Vec<String>,
    /// Every port of TCP, UDP and SCTP (as ranges), and ICMP.
    #[arg(long)]
    pub all_ports: bool,
    /// Also show addresses outside the pod network: node addresses, the CIDRs policies name
    /// and the rest of the address space.
    #[arg(long)]
    pub external: bool,
    /// What reaches the chosen namespaces (--in) from outside them, addresses included.
    #[arg(long, requires = "namespaces")]
    pub exposure: bool,
    /// A pod that does not exist yet, as NAMESPACE:LABEL=VALUE[,LABEL=VALUE...] (repeatable),
    /// optionally with its container ports after another colon, [NAME=]PORT[/PROTOCOL],...
    /// (rules that name a port admit only pods declaring it): shows what it could reach and
    /// what could reach it. Example: shop:app=web:http=8080
    #[arg(long = "pod-template", value_name = "NS:LABELS[:PORTS]")]
    pub pod_templates: Vec<String>,
    /// One row per pair of pods (and addresses) instead of groups: as long as pods squared.
    #[arg(long)]
    pub expand: bool,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: MatrixFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ObserveFormat {
    #[default]
    Table,
    /// JSON lines, as the enforcer writes them.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerdictFilter {
    Allowed,
    Denied,
    /// Connections an audited policy would decide otherwise.
    Audit,
}

#[derive(Debug, Args)]
pub struct ObserveArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Recorded events (the enforcers' JSON lines; `-` for stdin) instead of the live
    /// enforcers. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Namespace of the enforcer pods.
    #[arg(long, default_value = "netpol-system")]
    pub enforcer_namespace: String,
    /// Label selector of the enforcer pods.
    #[arg(long, default_value = "app.kubernetes.io/component=enforcer")]
    pub enforcer_selector: String,
    /// Only connections from or to pods of this namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Only connections from or to this pod (NAMESPACE/NAME, or NAME in -n).
    #[arg(long)]
    pub pod: Option<String>,
    /// Only connections from this pod (NAMESPACE/NAME), namespace (NAMESPACE/) or address.
    #[arg(long)]
    pub from: Option<String>,
    /// Only connections to this pod (NAMESPACE/NAME), namespace (NAMESPACE/) or address.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum)]
    pub verdict: Option<VerdictFilter>,
    /// Only connections this policy decided (or would decide, audited): KIND/NAME or
    /// NetworkPolicy/NAMESPACE/NAME.
    #[arg(long)]
    pub policy: Option<String>,
    /// Only events of the last 30s, 5m, 2h, 1d.
    #[arg(long)]
    pub since: Option<String>,
    /// Keep streaming new events.
    #[arg(long)]
    pub follow: bool,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: ObserveFormat,
}

/// The lowest severity that makes `lint` exit with status 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    #[default]
    Error,
    Warning,
    Info,
    None,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Exit with status 1 when a finding of this severity or worse exists.
    #[arg(long, value_enum, default_value_t)]
    pub fail_on: FailOn,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: LintFormat,
}
