//! `kubectl netpol observe`: the verdicts the enforcers report, which policy and rule decided
//! each connection, merged from every enforcer pod and filtered.
//!
//! Live, the events are read from the enforcer pods' logs through the API server (`pods/log`
//! in the enforcer's namespace): RBAC decides who may watch flows, over the API server's TLS,
//! with no port of its own on the nodes. Recorded events (`-f`) are read from files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{AsyncBufReadExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use netpol_engine::events::FlowEvent;
use netpol_engine::model::{PolicyKind, PolicyRef};

use crate::cli::{ObserveArgs, ObserveFormat, VerdictFilter};
use crate::output::{outln, table};

/// Which events to show.
#[derive(Debug, Default)]
struct Filter {
    namespace: Option<String>,
    pod: Option<String>,
    from: Option<String>,
    to: Option<String>,
    verdict: Option<VerdictFilter>,
    policy: Option<PolicyRef>,
    /// Events at or after this instant (RFC 3339 strings compare in time order).
    since: Option<jiff::Timestamp>,
}

/// An endpoint as a filter names it: a pod (`ns/name`), a namespace (`ns/`) or an address.
fn end_matches(wanted: &str, name: &str, ip: &std::net::IpAddr) -> bool {
    if let Some(namespace) = wanted.strip_suffix('/') {
        return name.split_once('/').is_some_and(|(ns, _)| ns == namespace);
    }
    name == wanted || ip.to_string() == wanted
}

fn policy_matches(wanted: &PolicyRef, event: &FlowEvent) -> bool {
    let by = std::iter::once(&event.decided_by).chain(event.audit.as_ref().map(|a| &a.decided_by));
    by.flat_map(|d| d.policy.iter().chain(&d.isolated_by))
        .any(|p| p == wanted)
}

impl Filter {
    fn keeps(&self, event: &FlowEvent) -> bool {
        let in_namespace = |ns: &str| {
            [&event.from, &event.to]
                .iter()
                .any(|n| n.split_once('/').is_some_and(|(x, _)| x == ns))
        };
        self.namespace.as_deref().is_none_or(in_namespace)
            && self
                .pod
                .as_deref()
                .is_none_or(|p| event.from == p || event.to == p)
            && self
                .from
                .as_deref()
                .is_none_or(|w| end_matches(w, &event.from, &event.from_ip))
            && self
                .to
                .as_deref()
                .is_none_or(|w| end_matches(w, &event.to, &event.to_ip))
            && self.verdict.is_none_or(|v| match v {
                VerdictFilter::Allowed => event.verdict == "allowed",
                VerdictFilter::Denied => event.verdict == "denied",
                VerdictFilter::Audit => event.audit.is_some(),
            })
            && self
                .policy
                .as_ref()
                .is_none_or(|p| policy_matches(p, event))
            && self.since.is_none_or(|since| {
                event
                    .time
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| t >= since)
            })
    }
}

/// `KIND/NAME` or `KIND/NAMESPACE/NAME`, the kind as written in manifests or in lower case.
fn parse_policy(text: &str) -> Result<PolicyRef> {
    let parts: Vec<&str> = text.split('/').collect();
    let kinds = [
        PolicyKind::NetworkPolicy,
        PolicyKind::AdminNetworkPolicy,
        PolicyKind::BaselineAdminNetworkPolicy,
        PolicyKind::ClusterNetworkPolicy,
    ];
    let kind = kinds
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(parts[0]))
        .with_context(|| {
            format!("--policy {text}: kind {:?}: want NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy", parts[0])
        })?;
    let (namespace, name) = match (kind, parts.as_slice()) {
        (PolicyKind::NetworkPolicy, [_, ns, name]) => (Some(ns.to_string()), name.to_string()),
        (PolicyKind::NetworkPolicy, _) => {
            bail!("--policy {text}: a NetworkPolicy is NetworkPolicy/NAMESPACE/NAME")
        }
        (_, [_, name]) => (None, name.to_string()),
        _ => bail!("--policy {text}: want {}/NAME", kind.name()),
    };
    Ok(PolicyRef {
        kind,
        namespace,
        name,
    })
}

/// `30s`, `5m`, `2h`, `1d`.
fn parse_since(text: &str) -> Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("--since {text}: want a number and s, m, h or d"))?;
    let seconds = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--since {text}: unit {unit:?}: want s, m, h or d"),
    };
    Ok(Duration::from_secs(seconds))
}

fn filter(args: &ObserveArgs) -> Result<Filter> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let pod = args
        .pod
        .as_ref()
        .map(|p| match (p.contains('/'), &args.namespace) {
            (false, Some(ns)) => format!("{ns}/{p}"),
            _ => p.clone(),
        });
    Ok(Filter {
        namespace: args.namespace.clone(),
        pod,
        from: args.from.clone(),
        to: args.to.clone(),
        verdict: args.verdict,
        policy: args.policy.as_deref().map(parse_policy).transpose()?,
        since: since.and_then(|d| {
            jiff::Timestamp::now()
                .checked_sub(jiff::SignedDuration::try_from(d).ok()?)
                .ok()
        }),
    })
}

/// Events read from lines; lines that are not events (other log lines) are counted.
#[derive(Default)]
struct Read {
    events: Vec<FlowEvent>,
    other_lines: usize,
}

impl Read {
    fn line(&mut self, line: &str) -> Option<FlowEvent> {
        match serde_json::from_str::<FlowEvent>(line.trim()) {
            Ok(event) => Some(event),
            Err(_) => {
                self.other_lines += 1;
                None
            }
        }
    }
}

pub fn run(args: &ObserveArgs) -> Result<u8> {
    let filter = filter(args)?;
    if !args.files.is_empty() {
        let mut read = Read::default();
        for path in &args.files {
            let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ))
            };
            for (i, line) in reader.lines().enumerate() {
                let line = line.with_context(|| format!("{} line {}", path.display(), i + 1))?;
                if let Some(event) = read.line(&line) {
                    read.events.push(event);
                }
            }
        }
        if read.events.is_empty() && read.other_lines > 0 {
            bail!(
                "no verdict events in {} line(s) of input: observe reads the JSON lines netpol-enforcer writes",
                read.other_lines
            );
        }
        read.events.retain(|e| filter.keeps(e));
        read.events.sort_by(|a, b| a.time.cmp(&b.time));
        print(&read.events, args.output, true);
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(live(args, &filter))
}

/// How often `--follow` lists the enforcer pods again, to stream from new ones (a node added,
/// a rolling update) and to reopen streams that ended (a restarted container).
const RELIST: Duration = Duration::from_secs(5);

/// Streams the enforcer pods' logs; without --follow, prints what they hold, ordered by time.
async fn live(args: &ObserveArgs, filter: &Filter) -> Result<u8> {
    let client = crate::live::connect(&args.connection.to_connection()).await?;
    let pods: Api<Pod> = Api::namespaced(client, &args.enforcer_namespace);
    let names = enforcer_pods(&pods, args).await?;
    if names.is_empty() {
        bail!(
            "no enforcer pods match {} in namespace {} (--enforcer-selector, --enforcer-namespace)",
            args.enforcer_selector,
            args.enforcer_namespace
        );
    }
    let params = LogParams {
        follow: args.follow,
        since_seconds: args
            .since
            .as_deref()
            .map(parse_since)
            .transpose()?
            .map(|d| d.as_secs() as i64),
        ..LogParams::default()
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<FlowEvent>(1024);
    let (ended_sender, mut ended) = tokio::sync::mpsc::unbounded_channel::<(String, Timestamp)>();
    for name in &names {
        let stream = open(&pods, name, &params, &args.enforcer_namespace).await?;
        stream_events(stream, name.clone(), sender.clone(), ended_sender.clone());
    }
    if args.follow {
        // Printed as they arrive: each enforcer's lines are in order; the pods interleave.
        let mut streaming: BTreeSet<String> = names;
        // When each pod's last stream ended: a reopened stream starts there.
        let mut ended_at: BTreeMap<String, Timestamp> = BTreeMap::new();
        let mut relist = tokio::time::interval(RELIST);
        relist.tick().await;
        loop {
            tokio::select! {
                Some(event) = receiver.recv() => {
                    if filter.keeps(&event) {
                        print(std::slice::from_ref(&event), args.output, false);
                    }
                }
                Some((name, at)) = ended.recv() => {
                    streaming.remove(&name);
                    ended_at.insert(name, at);
                }
                _ = relist.tick() => {
                    // A failed list (the API server restarting) is tried again next time.
                    let Ok(now) = enforcer_pods(&pods, args).await else { continue };
                    for name in now.difference(&streaming).cloned().collect::<Vec<_>>() {
                        // The API server takes sinceTime or sinceSeconds, not both.
                        let params = match ended_at.get(&name) {
                            Some(at) => LogParams {
                                since_time: Some(*at),
                                since_seconds: None,
                                ..params.clone()
                            },
                            None => params.clone(),
                        };
                        let Ok(stream) = open(&pods, &name, &params, &args.enforcer_namespace).await
                        else {
                            continue;
                        };
                        stream_events(stream, name.clone(), sender.clone(), ended_sender.clone());
                        streaming.insert(name);
                    }
                }
            }
        }
    }
    drop(sender);
    let mut events = Vec::new();
    while let Some(event) = receiver.recv().await {
        if filter.keeps(&event) {
            events.push(event);
        }
    }
    events.sort_by(|a, b| a.time.cmp(&b.time));
    print(&events, args.output, true);
    Ok(0)
}

/// The names of the enforcer pods.
async fn enforcer_pods(pods: &Api<Pod>, args: &ObserveArgs) -> Result<BTreeSet<String>> {
    let list = pods
        .list(&ListParams::default().labels(&args.enforcer_selector))
        .await
        .map_err(|err| crate::live::explain_in(err, "list", "pods", &args.enforcer_namespace))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect())
}

type LogLines = std::pin::Pin<Box<dyn futures::AsyncBufRead + Send>>;

async fn open(
    pods: &Api<Pod>,
    name: &str,
    params: &LogParams,
    namespace: &str,
) -> Result<LogLines> {
    let stream = pods
        .log_stream(name, params)
        .await
        .map_err(|err| crate::live::explain_in(err, "get", "pods/log", namespace))?;
    Ok(Box::pin(stream))
}

/// Sends the verdict events of one pod's log to `sender`; says on `ended` when the stream ends.
fn stream_events(
    stream: LogLines,
    name: String,
    sender: tokio::sync::mpsc::Sender<FlowEvent>,
    ended: tokio::sync::mpsc::UnboundedSender<(String, Timestamp)>,
) {
    tokio::spawn(async move {
        let mut lines = stream.lines();
        let mut read = Read::default();
        while let Some(Ok(line)) = lines.next().await {
            if let Some(event) = read.line(&line)
                && sender.send(event).await.is_err()
            {
                return;
            }
        }
        let _ = ended.send((name, Timestamp::now()));
    });
}

/// What decided an event, in a few words: `ClusterNetworkPolicy x rule 2 (name)`.
fn decided_text(event: &FlowEvent) -> String {
    let by = &event.decided_by;
    let mut text = match (&by.policy, &by.rule) {
        (Some(policy), Some(rule)) => match &rule.name {
            Some(name) => format!("{policy} rule {} ({name})", rule.index),
            None => format!("{policy} rule {}", rule.index),
        },
        (Some(policy), None) => policy.to_string(),
        _ if !by.isolated_by.is_empty() => {
            let names: Vec<String> = by.isolated_by.iter().map(ToString::to_string).collect();
            format!("isolated by {} (no rule allows)", names.join(", "))
        }
        _ => format!("{} tier", by.tier),
    };
    if let Some(answer) = &event.via_dns {
        text.push_str(&format!(": {answer}"));
    }
    if let Some(audit) = &event.audit {
        let policy = audit
            .decided_by
            .policy
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| audit.decided_by.tier.clone());
        text.push_str(&format!("; audit: {} by {policy}", audit.verdict));
    }
    text
}

fn print(events: &[FlowEvent], format: ObserveFormat, headers: bool) {
    match format {
        ObserveFormat::Json => {
            for event in events {
                if let Ok(line) = serde_json::to_string(event) {
                    outln!("{line}");
                }
            }
        }
        ObserveFormat::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        e.time.clone(),
                        e.node.clone(),
                        e.from.clone(),
                        e.to.clone(),
                        format!("{}/{}", e.protocol, e.port),
                        e.verdict.to_uppercase(),
                        decided_text(e),
                    ]
                })
                .collect();
            let text = table(
                &[
                    "TIME",
                    "NODE",
                    "FROM",
                    "TO",
                    "PORT",
                    "VERDICT",
                    "DECIDED BY",
                ],
                &rows,
            );
            // Following, the header is printed once, before the first line.
            let text = if headers {
                text
            } else {
                text.lines().skip(1).map(|l| format!("{l}\n")).collect()
            };
            crate::output::out!("{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_policies_durations_and_ends() {
        assert_eq!(
            parse_policy("networkpolicy/shop/db").unwrap().to_string(),
            "NetworkPolicy shop/db"
        );
        assert_eq!(
            parse_policy("ClusterNetworkPolicy/lock-db")
                .unwrap()
                .to_string(),
            "ClusterNetworkPolicy lock-db"
        );
        assert!(parse_policy("NetworkPolicy/db").is_err());
        assert!(parse_policy("Ingress/x").is_err());
        assert_eq!(parse_since("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_since("5w").is_err());
        let ip = "10.0.0.1".parse().unwrap();
        assert!(end_matches("shop/", "shop/web", &ip));
        assert!(end_matches("10.0.0.1", "203.0.113.9", &ip));
        assert!(!end_matches("shop/web", "shop/web-2", &ip));
    }
}
