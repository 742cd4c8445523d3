//! `kubectl netpol observe` on a live cluster: the enforcers' verdict events reach the plugin
//! through the API server (`pods/log`), which lets only users the chart's flow-reader Role is
//! bound to read them. The enforcers are the cluster in a box's, deciding real packets; their
//! standard output is served by a stand-in kubelet ([`Kubelet`]) for Pod objects of theirs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use netpol_engine::events::FlowEvent;
use serde_json::{Value, json};

use crate::kubelet::Kubelet;
use crate::suite::{NAMESPACE, Suite};

/// The Node the stand-in kubelet answers for.
const LOG_NODE: &str = "box-logs";
/// Labels of the enforcers' Pod objects here (the chart's DaemonSet has pods of its own, which
/// no kubelet runs).
const SELECTOR: &str = "netpol-e2e/flows=enforcer";
/// The policy whose denials are watched, and its rule.
pub const POLICY: &str = "box-observed";
const RULE: &str = "deny-z";
/// Samples of the time from a denied connection to its line in `observe`.
const SAMPLES: usize = 5;
/// The enforcer pod created while `observe` runs.
const LATE: &str = "netpol-enforcer-late";

/// An admin Deny from `e2e-z` into `e2e-x`, whose denials the test watches.
pub fn policy() -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": POLICY},
        "spec": {"tier": "Admin", "priority": 30,
                 "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
                 "ingress": [{"name": RULE, "action": "Deny",
                              "from": [{"namespaces": {"matchLabels": {"e2e": "z"}}}]}]},
    })
}

/// With `policy()` enforced: an unauthorised user cannot read the flows; an authorised one
/// sees each denial of `deny` (one refused connection from e2e-z/a to e2e-x/a port 80) with
/// its policy and rule; prints how long each took to reach `observe`.
pub fn through_the_api_server(
    suite: &Suite,
    scratch: &Path,
    events: &[(String, PathBuf)],
    deny: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let logs: BTreeMap<String, PathBuf> = events
        .iter()
        .map(|(node, file)| (format!("{NAMESPACE}/netpol-enforcer-{node}"), file.clone()))
        .collect();
    // An enforcer pod that appears while `observe --follow` runs (a node added).
    let late_file = scratch.join("late.events");
    std::fs::write(&late_file, "")?;
    let mut served = logs.clone();
    served.insert(format!("{NAMESPACE}/{LATE}"), late_file.clone());
    let kubelet = Kubelet::start(served)?;
    let mut objects = objects(&logs);
    objects.push(enforcer_pod(LATE));
    suite.kubectl.apply_ok(&objects[..objects.len() - 1])?;
    let result = (|| -> Result<()> {
        suite.create_node(LOG_NODE, "127.0.0.1")?;
        suite.patch_status(
            &["node", LOG_NODE],
            json!({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}),
        )?;
        let outsider = suite.token_kubeconfig(
            NAMESPACE,
            "flow-outsider",
            &scratch.join("outsider.kubeconfig"),
        )?;
        let reader =
            suite.token_kubeconfig(NAMESPACE, "flow-reader", &scratch.join("reader.kubeconfig"))?;

        let refused = Command::new(netpol_e2e::binary("kubectl-netpol"))
            .args(["observe", "--enforcer-namespace", NAMESPACE])
            .args(["--enforcer-selector", SELECTOR])
            .env("KUBECONFIG", &outsider)
            .output()?;
        let said = String::from_utf8_lossy(&refused.stderr);
        ensure!(
            !refused.status.success() && said.contains("forbidden"),
            "a user without the flow-reader Role read flows ({}): {said}",
            refused.status
        );

        let mut observe = Observe::start(&reader)?;
        // What the files held already (the denials that showed the policy in force) comes
        // first; the samples start once the stream is quiet.
        while observe.next(Duration::from_millis(1500))?.is_some() {}
        let mut taken = Vec::new();
        for _ in 0..SAMPLES {
            let begun = Instant::now();
            deny()?;
            let (at, event) = observe
                .next(Duration::from_secs(10))?
                .context("no event in observe within 10 s of a denied connection")?;
            check(&event)?;
            taken.push(at.saturating_duration_since(begun));
            // Retransmitted SYNs are denied too: let them through before the next sample.
            while observe.next(Duration::from_millis(300))?.is_some() {}
        }
        // A new enforcer pod is found at the next listing, and its events follow.
        let (_, last) = observe.last.clone().context("no event seen")?;
        suite.kubectl.apply_ok(&[enforcer_pod(LATE)])?;
        let late = FlowEvent {
            node: "late".into(),
            ..last
        };
        std::fs::write(&late_file, format!("{}\n", serde_json::to_string(&late)?))?;
        let (_, seen) = observe
            .next(Duration::from_secs(20))?
            .context("observe --follow did not pick up an enforcer pod created after it started")?;
        ensure!(seen.node == "late", "unexpected event: {seen:?}");
        taken.sort();
        println!(
            "    observe through the API server: denied connection → its line in {:.0} ms \
             (median of {SAMPLES}; {:.0}–{:.0} ms); a user without the flow-reader Role: forbidden",
            taken[SAMPLES / 2].as_secs_f64() * 1e3,
            taken[0].as_secs_f64() * 1e3,
            taken[SAMPLES - 1].as_secs_f64() * 1e3,
        );
        Ok(())
    })();
    suite.kubectl.delete(&objects, false)?;
    suite
        .kubectl
        .run(&["delete", "node", LOG_NODE, "--ignore-not-found"], None)?;
    drop(kubelet);
    result
}

/// An enforcer's Pod object on the stand-in kubelet's node.
fn enforcer_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "labels": {"netpol-e2e/flows": "enforcer"}},
        "spec": {"nodeName": LOG_NODE, "hostNetwork": true,
                 "automountServiceAccountToken": false,
                 "containers": [{"name": "enforcer", "image": "netpol-enforcer"}]},
    })
}

/// The enforcers' Pod objects, the two ServiceAccounts, and the chart's flow-reader Role bound
/// to one of them.
fn objects(logs: &BTreeMap<String, PathBuf>) -> Vec<Value> {
    let mut objects: Vec<Value> = logs
        .keys()
        .map(|key| enforcer_pod(key.split_once('/').map_or(key.as_str(), |(_, n)| n)))
        .collect();
    for account in ["flow-reader", "flow-outsider"] {
        objects.push(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": NAMESPACE},
        }));
    }
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "flow-reader", "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "netpol-enforcer-flow-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "flow-reader", "namespace": NAMESPACE}],
    }));
    objects
}

/// The event names the flow, the policy and the rule.
fn check(event: &FlowEvent) -> Result<()> {
    let policy = event.decided_by.policy.as_ref().context("no policy")?;
    let rule = event.decided_by.rule.as_ref().context("no rule")?;
    ensure!(
        event.verdict == "denied"
            && event.from == "e2e-z/a"
            && event.to == "e2e-x/a"
            && event.port == 80
            && policy.name == POLICY
            && rule.index == 0
            && rule.name.as_deref() == Some(RULE),
        "unexpected event: {event:?}"
    );
    Ok(())
}

/// `kubectl netpol observe --follow -o json` as a user, its lines timed as they arrive.
struct Observe {
    child: Child,
    lines: Receiver<(Instant, String)>,
    /// The last event read.
    last: Option<(Instant, FlowEvent)>,
}

impl Observe {
    fn start(kubeconfig: &Path) -> Result<Self> {
        let mut child = Command::new(netpol_e2e::binary("kubectl-netpol"))
            .args(["observe", "--follow", "-o", "json"])
            .args([
                "--enforcer-namespace",
                NAMESPACE,
                "--enforcer-selector",
                SELECTOR,
            ])
            .args(["--verdict", "denied", "--policy"])
            .arg(format!("ClusterNetworkPolicy/{POLICY}"))
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kubectl-netpol observe")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            last: None,
        })
    }

    /// The next event, or None when `wait` passes without one.
    fn next(&mut self, wait: Duration) -> Result<Option<(Instant, FlowEvent)>> {
        match self.lines.recv_timeout(wait) {
            Ok((at, line)) => {
                let event: FlowEvent = serde_json::from_str(&line)
                    .with_context(|| format!("observe printed {line:?}"))?;
                self.last = Some((at, event.clone()));
                Ok(Some((at, event)))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.child.wait();
                let mut said = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut said);
                }
                bail!("observe ended: {said}")
            }
        }
    }
}

impl Drop for Observe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
