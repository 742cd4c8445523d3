//! `kubectl netpol diff`: what a change newly denies and newly allows; with `--flows`, which
//! recorded flows it turns.

mod replay;

use crate::output::out;
use anyhow::{Context, Result, bail};
use netpol_engine::impact::{Impact, ImpactGroup, ImpactOptions, impact};
use netpol_engine::load::{ObjectKind, WorkloadKind};
use netpol_engine::state::ObjectKey;

use crate::cli::DiffArgs;
use crate::input::{build_engine, check_loaded, load_paths, load_state, timing};
use crate::output::{Style, structured, table};

pub fn run(args: &DiffArgs) -> Result<u8> {
    // Recordings are read first: a file that is not one fails before the cluster is read.
    let recording = replay::read(args)?;
    let namespace = args.namespace.as_deref().unwrap_or("default");
    // Without --base the current state is the live cluster.
    let before_state = load_state(&args.base, Some(namespace), &args.connection)?;
    let changes = load_paths(&args.files, namespace)?;
    check_loaded(&changes)?;
    let mut after_state = before_state.clone();
    for located in changes.objects {
        after_state.apply(located);
    }
    for text in &args.delete {
        let key = object_key(text)?;
        if after_state.delete(&key).is_none() {
            bail!("--delete {text}: no {key} in the base");
        }
    }
    let started = std::time::Instant::now();
    let before = build_engine(&before_state).context("the base")?;
    let after = build_engine(&after_state).context("the new state")?;
    timing("build both engines", started);
    if let Some(recording) = &recording {
        return replay::run(args, &before, &after, recording);
    }
    let result = impact(
        &before,
        &after,
        &ImpactOptions {
            deadline: None,
            max_groups: Some(args.limit),
        },
    );
    let exit = u8::from(args.fail_on_deny && result.newly_denied_count > 0);
    if !structured(args.output, &result)? {
        out!("{}", render(&result, Style::detect()));
    }
    Ok(exit)
}

/// `kind/name` or `kind/namespace/name`, kinds as kubectl spells them.
fn object_key(text: &str) -> Result<ObjectKey> {
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [kind, name] => (*kind, None, *name),
        [kind, namespace, name] => (*kind, Some((*namespace).to_owned()), *name),
        _ => bail!("--delete {text}: want kind/name or kind/namespace/name"),
    };
    let kind = match kind.to_ascii_lowercase().as_str() {
        "networkpolicy" | "networkpolicies" | "netpol" => ObjectKind::NetworkPolicy,
        "adminnetworkpolicy" | "adminnetworkpolicies" | "anp" => ObjectKind::AdminNetworkPolicy,
        "baselineadminnetworkpolicy" | "baselineadminnetworkpolicies" | "banp" => {
            ObjectKind::BaselineAdminNetworkPolicy
        }
        "clusternetworkpolicy" | "clusternetworkpolicies" | "cnp" => {
            ObjectKind::ClusterNetworkPolicy
        }
        "namespace" | "namespaces" | "ns" => ObjectKind::Namespace,
        "pod" | "pods" | "po" => ObjectKind::Pod,
        "node" | "nodes" | "no" => ObjectKind::Node,
        other => match WorkloadKind::parse(other) {
            Some(workload) => ObjectKind::Workload(workload),
            None => bail!("--delete {text}: unknown kind {other:?}"),
        },
    };
    if kind.is_namespaced() && namespace.is_none() {
        bail!(
            "--delete {text}: a {} needs kind/namespace/name",
            kind.name()
        );
    }
    if !kind.is_namespaced() && namespace.is_some() {
        bail!(
            "--delete {text}: a {} is not namespaced: want kind/name",
            kind.name()
        );
    }
    Ok(ObjectKey {
        kind,
        namespace,
        name: name.to_owned(),
    })
}

fn render(result: &Impact, style: Style) -> String {
    let mut out = String::new();
    if result.changed_policies.is_empty() {
        out.push_str("No policy changes.\n");
    } else {
        out.push_str("Changed policies:\n");
        for change in &result.changed_policies {
            out.push_str(&format!("  {:?}: {}\n", change.change, change.policy));
        }
    }
    if result.pods_added + result.pods_removed > 0 {
        out.push_str(&format!(
            "Pods only in one state (not compared): {} added, {} removed\n",
            result.pods_added, result.pods_removed
        ));
    }
    for (title, groups, count, paint) in [
        (
            "Newly denied",
            &result.newly_denied,
            result.newly_denied_count,
            true,
        ),
        (
            "Newly allowed",
            &result.newly_allowed,
            result.newly_allowed_count,
            false,
        ),
    ] {
        let heading = format!(
            "{title}: {count} (pairs of pods or addresses, counted once per port range below)"
        );
        out.push_str(&format!(
            "\n{}\n",
            if paint && count > 0 {
                style.bad(&heading)
            } else {
                heading
            }
        ));
        if !groups.is_empty() {
            out.push_str(&table(
                &["FROM", "TO", "PORTS", "PAIRS", "EXAMPLE"],
                &rows(groups),
            ));
        }
    }
    if result.groups_omitted > 0 {
        out.push_str(&format!(
            "\n{} more group(s) not listed (raise --limit)\n",
            result.groups_omitted
        ));
    }
    if !result.complete {
        out.push_str("\nThe preview was cut short: counts are lower bounds.\n");
    }
    out
}

fn rows(groups: &[ImpactGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            // ICMP has no port.
            let ports = if !g.protocol.has_ports() {
                g.protocol.to_string()
            } else if g.port_start == g.port_end {
                format!("{}/{}", g.protocol, g.port_start)
            } else if (g.port_start, g.port_end) == (1, 65535) {
                format!("{}/*", g.protocol)
            } else {
                format!("{}/{}-{}", g.protocol, g.port_start, g.port_end)
            };
            vec![
                g.from.clone(),
                g.to.clone(),
                ports,
                g.count.to_string(),
                format!("{} -> {}", g.example_from, g.example_to),
            ]
        })
        .collect()
}
