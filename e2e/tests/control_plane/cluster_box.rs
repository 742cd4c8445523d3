//! A cluster in a box: Node objects and pods whose addresses are real network namespaces on this
//! machine (two nodes, the suite's nine pods), one enforcer per node namespace in API mode with
//! the DaemonSet's arguments and the chart's ServiceAccount, the chart's webhook admitting every
//! policy applied with `kubectl apply`, and traffic probed between the pod namespaces. For every
//! scenario of `e2e/scenarios/`, what the traffic does equals `kubectl netpol check` on the live
//! cluster, which equals the scenario's expectation.
//!
//! Then the control plane is stopped and started again under the running enforcers and webhook:
//! the enforcers keep enforcing meanwhile, and both follow a change made after the restart.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use netpol_e2e::helm::Wait;
use netpol_e2e::matrix::{self, Flow, Matrix, Protocol, Verdict};
use netpol_e2e::scenario::Scenario;
use netpol_e2e::tools::Plugin;
use netpol_e2e::{probe, repo_root, target_dir};
use serde_json::json;

use crate::agent::Agent;
use crate::observe;
use crate::suite::Suite;
use crate::suite::{NAMESPACE, RELEASE};
use crate::topology::{self, Topology};
use crate::webhook::{self, Launch};

pub const NODES: [&str; 2] = ["box-n1", "box-n2"];
const ENFORCER: &str = "netpol-enforcer";
const PROBE_TIMEOUT_MS: u64 = 300;
/// How long a change may take to be enforced before a mismatch counts.
const CONVERGE: Duration = Duration::from_secs(5);

pub fn traffic(suite: &Suite) -> Result<()> {
    if !crate::tools::ready("cluster in a box") {
        return Ok(());
    }
    suite.ensure_crds()?;
    let helm = suite.install_chart()?;
    let scratch = target_dir().join("control-plane-box");
    std::fs::create_dir_all(&scratch)?;
    let result = (|| -> Result<()> {
        let pods = place_pods();
        let prefix = topology::prefix("box");
        let topology = topology::build(&prefix, NODES.len(), &pods)?;
        suite.fresh_namespaces()?;
        for (index, node) in NODES.iter().enumerate() {
            suite.create_node(node, &topology.node_ips[index].to_string())?;
        }
        for (key, node, ip) in &pods {
            suite.running_pod(key, NODES[*node], &ip.to_string())?;
        }
        let mut webhook = Launch::of_chart(suite, &scratch)?.start()?;
        let enforcers = start_enforcers(suite, &topology, &scratch)?;
        let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
        for ((key, _, _), pod) in pods.iter().zip(&topology.pods) {
            agents.insert(key.clone(), Agent::serving(&pod.netns.name, &[80, 81])?);
        }
        let addresses: BTreeMap<String, Ipv4Addr> =
            pods.iter().map(|(k, _, ip)| (k.clone(), *ip)).collect();
        let plugin = Plugin {
            binary: netpol_e2e::binary("kubectl-netpol"),
            env: suite.plane.env(),
        };
        let mut box_ = Box_ {
            suite,
            enforcer_logs: enforcers.iter().map(|(_, e)| e.log.clone()).collect(),
            agents,
            addresses,
            plugin,
            scratch: scratch.clone(),
        };
        let scenarios = Scenario::load_dir(&repo_root().join("e2e/scenarios"))?;
        for scenario in &scenarios {
            let begun = Instant::now();
            box_.scenario(scenario)
                .with_context(|| format!("scenario {}", scenario.name))?;
            println!(
                "    {}: observed = check = expected ({:.1} s)",
                scenario.name,
                begun.elapsed().as_secs_f64()
            );
        }
        let events: Vec<(String, PathBuf)> = enforcers
            .iter()
            .map(|(node, e)| (node.clone(), e.events.clone()))
            .collect();
        box_.observed(&events)?;
        box_.restart(&mut webhook)?;
        webhook.stop();
        drop(enforcers);
        Ok(())
    })();
    let uninstalled = helm.uninstall_with(RELEASE, NAMESPACE, Wait::Ready(120));
    result?;
    uninstalled
}

/// The suite's nine pods, alternately on the two nodes: (namespace/pod, node, address).
fn place_pods() -> Vec<(String, usize, Ipv4Addr)> {
    probe::pod_names()
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let node = i % NODES.len();
            (
                key,
                node,
                Ipv4Addr::new(10, 251, node as u8 + 1, 10 + i as u8),
            )
        })
        .collect()
}

struct Box_<'a> {
    suite: &'a Suite,
    enforcer_logs: Vec<PathBuf>,
    agents: BTreeMap<String, Agent>,
    addresses: BTreeMap<String, Ipv4Addr>,
    plugin: Plugin,
    scratch: PathBuf,
}

impl Box_<'_> {
    /// Applies a scenario's policies through the webhook and compares the three answers.
    fn scenario(&mut self, scenario: &Scenario) -> Result<()> {
        let kubectl = &self.suite.kubectl;
        if !scenario.policies.is_empty() {
            kubectl.apply_ok(&scenario.policies)?;
        }
        let result = (|| -> Result<()> {
            let flows = scenario.flows(&probe::pod_names());
            let checked = self.plugin.verdicts(&flows, &self.scratch)?;
            scenario.agrees_with(&checked)?;
            self.converge(&flows, &checked, CONVERGE).map(drop)
        })();
        if !scenario.policies.is_empty() {
            kubectl.delete(&scenario.policies, true)?;
        }
        result
    }

    /// A Deny in force, its denials watched with `kubectl netpol observe` through the API
    /// server ([`observe`](crate::observe)).
    fn observed(&mut self, events: &[(String, PathBuf)]) -> Result<()> {
        let kubectl = &self.suite.kubectl;
        kubectl.apply_ok(&[observe::policy()])?;
        let flow = Flow {
            from: "e2e-z/a".into(),
            to: "e2e-x/a".into(),
            port: 80,
            protocol: Protocol::Tcp,
        };
        let result = (|| -> Result<()> {
            let expected = Matrix::from([(flow.clone(), Verdict::Deny)]);
            self.converge(std::slice::from_ref(&flow), &expected, CONVERGE)?;
            let (suite, scratch) = (self.suite, self.scratch.clone());
            observe::through_the_api_server(suite, &scratch, events, &mut || {
                self.observe(std::slice::from_ref(&flow)).map(drop)
            })
        })();
        self.suite.kubectl.delete(&[observe::policy()], true)?;
        result
    }

    /// Probes `flows` until every one does what `expected` says, or `within` has passed; how
    /// long that took.
    fn converge(
        &mut self,
        flows: &[Flow],
        expected: &Matrix,
        within: Duration,
    ) -> Result<Duration> {
        let begun = Instant::now();
        loop {
            let observed = self.observe(flows)?;
            let differ = matrix::compare(expected, &observed);
            if differ.is_empty() {
                return Ok(begun.elapsed());
            }
            if begun.elapsed() > within {
                bail!(
                    "{} of {} flows differ from check after {within:?} (expected/observed):\n{}",
                    differ.len(),
                    flows.len(),
                    matrix::render(expected, &observed)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What the traffic does: one probe per flow from the source pod's namespace.
    fn observe(&mut self, flows: &[Flow]) -> Result<Matrix> {
        let mut pending = Vec::new();
        for flow in flows {
            let to = self.addresses.get(&flow.to).context("unknown pod")?;
            let agent = self.agents.get_mut(&flow.from).context("unknown pod")?;
            let protocol = match flow.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                other => bail!("cannot probe {other:?}"),
            };
            let id = agent.send(
                "probe",
                &format!("{protocol} {to} {} {PROBE_TIMEOUT_MS}", flow.port),
            )?;
            pending.push((flow, id));
        }
        let mut observed = Matrix::new();
        for (flow, id) in pending {
            let agent = &self.agents[&flow.from];
            let answer = agent
                .wait(id, Duration::from_millis(PROBE_TIMEOUT_MS * 4 + 2000))
                .with_context(|| format!("no answer probing {flow:?}"))?;
            let verdict = if answer == "ok" {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            observed.insert(flow.clone(), verdict);
        }
        Ok(observed)
    }

    /// Stops the control plane under the running enforcers and webhook, probes that the last
    /// state is still enforced, starts it again, and measures how long each takes to follow a
    /// policy applied after the return.
    fn restart(&mut self, webhook: &mut webhook::Webhook) -> Result<()> {
        let kubectl = &self.suite.kubectl;
        let deny = deny_y_to_x();
        kubectl.apply_ok(std::slice::from_ref(&deny))?;
        let flows: Vec<Flow> = ["e2e-y/a", "e2e-z/a"]
            .iter()
            .map(|from| Flow {
                from: (*from).into(),
                to: "e2e-x/a".into(),
                port: 80,
                protocol: Protocol::Tcp,
            })
            .collect();
        let before: Matrix = flows
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    if f.from == "e2e-y/a" {
                        Verdict::Deny
                    } else {
                        Verdict::Allow
                    },
                )
            })
            .collect();
        self.converge(&flows, &before, CONVERGE)?;

        let log_size = |log: &PathBuf| std::fs::metadata(log).map_or(0, |m| m.len() as usize);
        let stopped_at: Vec<usize> = self.enforcer_logs.iter().map(log_size).collect();
        self.suite.plane.stop()?;
        let down = Instant::now();
        while down.elapsed() < Duration::from_secs(5) {
            self.converge(&flows, &before, Duration::ZERO)
                .context("while the API server was down")?;
        }
        let back = self.suite.plane.resume()?;
        println!(
            "    control plane down 5 s, back in {:.1} s; enforced meanwhile",
            back.as_secs_f64()
        );

        // After the return: z is denied too. The enforcers must see it, and the webhook must
        // know of the new policy (it refuses a CNP that ties with it).
        let returned = Instant::now();
        let widened = deny_y_and_z_to_x();
        crate::webhook::wait_for(Duration::from_secs(30), || {
            Ok(kubectl
                .apply(std::slice::from_ref(&widened), false)?
                .success)
        })?;
        let applied_after = returned.elapsed();
        let after: Matrix = flows.iter().map(|f| (f.clone(), Verdict::Deny)).collect();
        let enforced = self.converge(&flows, &after, CONVERGE)?;
        // Right after its start the API server refuses requests for a moment (its RBAC caches
        // are still filling): 403s from the stop until now are the restart's, not the chart's.
        let resumed: Vec<usize> = self.enforcer_logs.iter().map(log_size).collect();
        let clash = json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "box-clash"},
            "spec": {"tier": "Admin", "priority": 310,
                     "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
                     "ingress": [{"name": "allow-z", "action": "Accept",
                                  "from": [{"namespaces": {"matchLabels": {"e2e": "z"}}}]}]},
        });
        let known = Instant::now();
        crate::webhook::wait_for(CONVERGE, || {
            let out = kubectl.apply(std::slice::from_ref(&clash), true)?;
            Ok(!out.success && out.stderr.contains("denied the request"))
        })
        .context("the webhook did not learn the policy applied after the restart")?;
        println!(
            "    after the return: applied in {:.1} s, enforced {:.1} s later, known to the webhook {:.1} s later",
            applied_after.as_secs_f64(),
            enforced.as_secs_f64(),
            known.elapsed().as_secs_f64()
        );
        kubectl.delete(&[widened], true)?;
        webhook.stop();
        for ((log, stop), resume) in self.enforcer_logs.iter().zip(stopped_at).zip(resumed) {
            let text = std::fs::read_to_string(log)?;
            let outside = format!("{}{}", &text[..stop], &text[resume.min(text.len())..]);
            webhook::forbidden_in(&outside)
                .with_context(|| format!("the enforcer log {}", log.display()))?;
        }
        Ok(())
    }
}

pub fn deny_y_to_x() -> serde_json::Value {
    deny_to_x(&["y"])
}

fn deny_y_and_z_to_x() -> serde_json::Value {
    deny_to_x(&["y", "z"])
}

fn deny_to_x(from: &[&str]) -> serde_json::Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "box-deny-to-x"},
        "spec": {"priority": 310, "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
                 "ingress": [{"name": "deny", "action": "Deny",
                              "from": [{"namespaces": {"matchExpressions": [
                                  {"key": "e2e", "operator": "In", "values": from}]}}]}]},
    })
}

/// An enforcer process in a node's namespace; SIGTERM (its clean shutdown) on drop.
pub struct NodeEnforcer {
    child: Child,
    pub log: PathBuf,
    /// Its standard output: the verdict events.
    pub events: PathBuf,
}

impl Drop for NodeEnforcer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One enforcer per node namespace with the DaemonSet's arguments, as the chart's enforcer
/// ServiceAccount, reaching the API server through a forwarder on the node's loopback.
pub fn start_enforcers(
    suite: &Suite,
    topology: &Topology,
    scratch: &Path,
) -> Result<Vec<(String, NodeEnforcer)>> {
    let args = webhook::workload_args(&suite.kubectl, "daemonset", ENFORCER)?;
    let args = webhook::overriding(&args, &[("--metrics-addr", "127.0.0.1:9401")]);
    let kubeconfig =
        suite.token_kubeconfig(NAMESPACE, ENFORCER, &scratch.join("enforcer.kubeconfig"))?;
    let binary = netpol_e2e::binary("netpol-enforcer");
    ensure!(
        binary.is_file(),
        "{} is missing: `cargo test --workspace` builds it",
        binary.display()
    );
    let mut enforcers = Vec::new();
    for (node, netns) in NODES.iter().zip(&topology.nodes) {
        forward_api(&netns.name, suite.plane.ports.apiserver)?;
        let log = scratch.join(format!("enforcer-{node}.log"));
        // Its verdict events, one JSON line each, as a kubelet would keep them.
        let events = scratch.join(format!("enforcer-{node}.events"));
        let child = Command::new("ip")
            .args(["netns", "exec", &netns.name])
            .arg(&binary)
            .args(&args)
            .env("NODE_NAME", node)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&events)?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting an enforcer")?;
        let mut enforcer = NodeEnforcer { child, log, events };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&enforcer.log).unwrap_or_default();
            if text.contains("\"ready\"") {
                break;
            }
            if let Some(status) = enforcer.child.try_wait()? {
                bail!("the enforcer of {node} exited ({status}): {text}");
            }
            ensure!(
                Instant::now() < deadline,
                "the enforcer of {node} is not ready: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        enforcers.push((node.to_string(), enforcer));
    }
    Ok(enforcers)
}

/// Listens on 127.0.0.1:`port` inside the namespace `netns` and forwards each connection to
/// 127.0.0.1:`port` of this (the root) namespace, where the API server is. The listening socket
/// is made inside the namespace by a thread that enters it and comes back; a socket keeps the
/// namespace it was made in, so the connections out are made here.
fn forward_api(netns: &str, port: u16) -> Result<()> {
    let target = std::fs::File::open(format!("/run/netns/{netns}"))
        .with_context(|| format!("opening namespace {netns}"))?;
    let listener = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<TcpListener> {
                let home = std::fs::File::open("/proc/thread-self/ns/net")?;
                nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
                nix::sched::setns(home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
                Ok(listener?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the namespace thread panicked"))?
    })?;
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                continue;
            };
            for (mut from, mut to) in [
                (inbound.try_clone(), outbound.try_clone()),
                (Ok(outbound), Ok(inbound)),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    Ok(())
}
