//! The webhook as the chart deploys it, against the real API server: installed by the chart,
//! run with the Deployment's own arguments as the chart's ServiceAccount (a token from the
//! TokenRequest API, so only the chart's RBAC applies), managing its own certificates, and
//! called by the API server through the chart's ValidatingWebhookConfiguration and Service.
//!
//! The Service's cluster IP is on loopback (see `control_plane::SERVICE_RANGE`), so the webhook
//! listens on that IP's port 443 and the API server reaches it exactly as it would a pod behind
//! the Service, checking the certificate against the Service's DNS name.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use netpol_e2e::checks;
use netpol_e2e::helm::Wait;
use netpol_e2e::probe;
use netpol_e2e::target_dir;
use netpol_e2e::tools::Kubectl;
use serde_json::{Value, json};

use crate::suite::{NAMESPACE, RELEASE, Suite};

pub const NAME: &str = "netpol-webhook";
/// A priority of the conflict that exists before the webhook does (the audit finds it).
const AUDIT_PRIORITY: u32 = 600;

pub fn as_service_account(suite: &Suite) -> Result<()> {
    suite.ensure_crds()?;
    let kubectl = &suite.kubectl;
    suite.fresh_namespaces()?;
    kubectl.apply_ok(&probe::pods(probe::DEFAULT_IMAGE))?;
    // Written before any webhook exists: only the audit can find this tie.
    kubectl.apply_ok(&audit_pair())?;

    let helm = suite.install_chart()?;
    let scratch = target_dir().join("control-plane-webhook");
    std::fs::create_dir_all(&scratch)?;
    let result = checks_against(suite, &scratch);
    let uninstalled = helm.uninstall_with(RELEASE, NAMESPACE, Wait::Ready(120));
    let mut leftovers = checks::objects();
    leftovers.extend(audit_pair());
    leftovers.push(invalid_anp());
    let deleted = kubectl.delete(&leftovers, false);
    result?;
    uninstalled?;
    deleted.map(drop)
}

/// Every check, in order, with the webhook running; the first failure ends them.
fn checks_against(suite: &Suite, scratch: &Path) -> Result<()> {
    let kubectl = &suite.kubectl;
    let launch = Launch::of_chart(suite, scratch)?;
    let (args, address, kubeconfig, log) = (
        &launch.args,
        &launch.address,
        &launch.kubeconfig,
        &launch.log,
    );
    let mut webhook = launch.start()?;
    let wait = Duration::from_secs(60);

    step("the Secret is created and the caBundle set", || {
        wait_for(wait, || ca_bundle(kubectl).map(|b| !b.is_empty()))
    })?;
    step(
        "conflicting ANP and CNP: the second is refused naming the first",
        || checks::conflict_is_rejected(kubectl, wait),
    )?;
    step("the same CNP at a free priority is admitted", || {
        checks::free_priority_is_admitted(kubectl)
    })?;
    step("an invalid object is refused with its field path", || {
        let out = kubectl.apply(&[invalid_anp()], false)?;
        ensure!(!out.success, "admitted: {}", out.stdout.trim());
        ensure!(
            out.stderr.contains("denied the request")
                && out.stderr.contains("spec.ingress[0].ports[0].portRange"),
            "not refused by the webhook with the field: {}",
            out.stderr.trim()
        );
        Ok(())
    })?;
    step(
        "--dry-run=server shows the impact preview as warnings",
        || checks::dry_run_warns(kubectl, wait),
    )?;
    step(
        "a namespace with the opt-out label gets no warnings",
        || opted_out_gets_no_warnings(kubectl),
    )?;
    step(
        "the audit posts a PriorityConflict Event kubectl describe shows",
        || {
            wait_for(wait, || {
                let out = kubectl.run(&["describe", "clusternetworkpolicy", "audit-b"], None)?;
                Ok(out.stdout.contains("PriorityConflict"))
            })
        },
    )?;
    step(
        "garbage and oversize bodies at the webhook: no admission fails",
        || garbage_beside_admissions(kubectl, address),
    )?;
    step(
        "a short certificate life: rotated while the API server keeps calling",
        || rotation(kubectl, &mut webhook, args, address, kubeconfig, log),
    )?;
    step(
        "webhook down: NetworkPolicies admitted (Ignore), admin policies not (Fail)",
        || {
            webhook.stop();
            fail_policies_when_down(kubectl)
        },
    )?;
    step(
        "no request of the webhook was forbidden by the chart's RBAC",
        || forbidden_lines(log),
    )
}

fn step(what: &str, check: impl FnOnce() -> Result<()>) -> Result<()> {
    let begun = Instant::now();
    let result = check().with_context(|| what.to_owned());
    let mark = if result.is_ok() { "ok" } else { "FAILED" };
    println!(
        "    {what}: {mark} ({:.1} s)",
        begun.elapsed().as_secs_f64()
    );
    result
}

pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let begun = Instant::now();
    loop {
        let last = done();
        if matches!(last, Ok(true)) {
            return Ok(());
        }
        if begun.elapsed() > timeout {
            return match last {
                Err(err) => Err(err.context(format!("still failing after {timeout:?}"))),
                _ => bail!("not so after {timeout:?}"),
            };
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// An ANP and a CNP at one priority, same subjects, opposite actions.
fn audit_pair() -> Vec<Value> {
    let subject = json!({"namespaces": {"matchLabels": {"e2e": "z"}}});
    let from = json!([{"namespaces": {"matchLabels": {"e2e": "y"}}}]);
    vec![
        json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": "audit-a"},
            "spec": {"priority": AUDIT_PRIORITY, "subject": subject,
                     "ingress": [{"name": "allow-y", "action": "Allow", "from": from}]},
        }),
        json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "audit-b"},
            "spec": {"tier": "Admin", "priority": AUDIT_PRIORITY, "subject": subject,
                     "ingress": [{"name": "deny-y", "action": "Deny", "from": from}]},
        }),
    ]
}

/// The CRD admits a backwards port range; upstream's documentation does not, nor does netpol.
fn invalid_anp() -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "backwards-range"},
        "spec": {"priority": 900, "subject": {"namespaces": {}},
                 "ingress": [{"name": "r", "action": "Deny",
                              "from": [{"namespaces": {}}],
                              "ports": [{"portRange": {"start": 2000, "end": 1000}}]}]},
    })
}

/// A NetworkPolicy isolating a pod warns (impact) in e2e-y; the same in e2e-z, once labelled
/// out of the webhook, gets no word from it.
fn opted_out_gets_no_warnings(kubectl: &Kubectl) -> Result<()> {
    let lockdown = |namespace: &str| {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "lockdown", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        })
    };
    let out = kubectl.apply(&[lockdown("e2e-y")], true)?;
    ensure!(
        !out.warnings().is_empty(),
        "no warnings for e2e-y, so the opt-out proves nothing: {}",
        out.stderr.trim()
    );
    let label = kubectl.run(
        &[
            "label",
            "namespace",
            "e2e-z",
            "netpol.io/webhook=disabled",
            "--overwrite",
        ],
        None,
    )?;
    ensure!(label.success, "labelling e2e-z: {}", label.stderr.trim());
    let out = kubectl.apply(&[lockdown("e2e-z")], true)?;
    ensure!(out.success, "refused: {}", out.stderr.trim());
    ensure!(
        out.warnings().is_empty(),
        "opted out, yet warned: {:?}",
        out.warnings()
    );
    Ok(())
}

/// Serving certificates of 15 s renewed 10 s before expiry: over 20 s the served certificate
/// changes at least twice while an admission request goes through every half second.
fn rotation(
    kubectl: &Kubectl,
    webhook: &mut Webhook,
    args: &[String],
    address: &str,
    kubeconfig: &Path,
    log: &Path,
) -> Result<()> {
    webhook.stop();
    let short = overriding(
        args,
        &[
            ("--cert-validity", "15s"),
            ("--cert-renew-before", "10s"),
            ("--tls-poll", "1s"),
        ],
    );
    *webhook = Webhook::start(&short, address, kubeconfig, log)?;
    let probe = checks::cnp_deny("rotation-probe", 901);
    let begun = Instant::now();
    let mut served = Vec::new();
    let mut calls = 0;
    while begun.elapsed() < Duration::from_secs(20) {
        let out = kubectl.apply(std::slice::from_ref(&probe), true)?;
        ensure!(
            out.success,
            "admission failed after {:.1} s, certificates served {served:?}: {}",
            begun.elapsed().as_secs_f64(),
            out.stderr.trim()
        );
        calls += 1;
        let serial = served_serial(address)?;
        if served.last() != Some(&serial) {
            served.push(serial);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    ensure!(
        served.len() >= 3,
        "only {} certificates served in 20 s: {served:?}",
        served.len()
    );
    println!(
        "      {calls} admissions, all admitted, across {} certificates",
        served.len()
    );
    Ok(())
}

/// While one thread throws garbage at the webhook's port (broken TLS, broken JSON, bodies past
/// the limit, connections left hanging), every admission the API server sends goes through.
fn garbage_beside_admissions(kubectl: &Kubectl, address: &str) -> Result<()> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let url = format!("https://{address}/validate");
    std::thread::scope(|scope| {
        let thrower = scope.spawn(|| {
            let big = "x".repeat(4 * 1024 * 1024);
            let bodies = ["{", "null", "{\"kind\":\"AdmissionReview\"}", big.as_str()];
            let mut thrown = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for body in bodies {
                    let _ = Command::new("curl")
                        .args(["-sk", "-m", "2", "-o", "/dev/null", "-X", "POST"])
                        .args([
                            "-H",
                            "Content-Type: application/json",
                            "--data-binary",
                            "@-",
                        ])
                        .arg(&url)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .spawn()
                        .and_then(|mut c| {
                            if let Some(mut stdin) = c.stdin.take() {
                                let _ = std::io::Write::write_all(&mut stdin, body.as_bytes());
                            }
                            c.wait()
                        });
                    // Not TLS at all.
                    if let Ok(mut raw) = std::net::TcpStream::connect(address) {
                        let _ = std::io::Write::write_all(&mut raw, b"GET / HTTP/1.1\r\n\r\n");
                    }
                    thrown += 2;
                }
            }
            thrown
        });
        let mut admitted = 0;
        let probe = checks::cnp_deny("garbage-probe", 903);
        let result = (|| -> Result<()> {
            for _ in 0..20 {
                let out = kubectl.apply(std::slice::from_ref(&probe), true)?;
                ensure!(out.success, "an admission failed: {}", out.stderr.trim());
                admitted += 1;
            }
            Ok(())
        })();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let thrown = thrower.join().unwrap_or(0);
        println!("      {admitted} admissions beside {thrown} garbage requests");
        result
    })
}

/// The serial number of the certificate the webhook serves now.
fn served_serial(address: &str) -> Result<String> {
    let server = format!("{NAME}.{NAMESPACE}.svc");
    let child = Command::new("openssl")
        .args(["s_client", "-connect", address, "-servername", &server])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running openssl s_client")?;
    let pem = child.wait_with_output()?.stdout;
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(x509.stdin.as_mut().context("stdin")?, &pem)?;
    let out = x509.wait_with_output()?;
    ensure!(out.status.success(), "no certificate served at {address}");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn fail_policies_when_down(kubectl: &Kubectl) -> Result<()> {
    let policy = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "while-down", "namespace": "e2e-x"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    });
    let out = kubectl.apply(&[policy], true)?;
    ensure!(
        out.success,
        "a NetworkPolicy was refused: {}",
        out.stderr.trim()
    );
    let out = kubectl.apply(&[checks::cnp_deny("while-down", 902)], true)?;
    ensure!(
        !out.success,
        "an admin policy was admitted without the webhook"
    );
    ensure!(
        out.stderr.contains("failed calling webhook"),
        "refused, but not for the webhook's absence: {}",
        out.stderr.trim()
    );
    Ok(())
}

/// Log lines of a refused API request: the chart's RBAC lacks something the webhook needs.
pub fn forbidden_lines(log: &Path) -> Result<()> {
    forbidden_in(&std::fs::read_to_string(log)?)
}

/// [`forbidden_lines`] of a log's text.
pub fn forbidden_in(text: &str) -> Result<()> {
    // How kube's errors spell a refusal (not any "403" a uid may hold).
    const MARKS: [&str; 3] = ["is forbidden", "code: 403", "403 Forbidden"];
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .collect();
    ensure!(
        bad.is_empty(),
        "{} forbidden requests:\n{}",
        bad.len(),
        bad.join("\n")
    );
    Ok(())
}

/// How the chart's webhook is run here: the Deployment's arguments, but listening on the
/// Service's address (where the API server calls) and auditing every 2 s instead of every
/// minute, as the chart's ServiceAccount.
pub struct Launch {
    pub args: Vec<String>,
    pub address: String,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
}

impl Launch {
    pub fn of_chart(suite: &Suite, scratch: &Path) -> Result<Self> {
        let kubectl = &suite.kubectl;
        let address = format!("{}:443", cluster_ip(kubectl)?);
        let args = overriding(
            &deployment_args(kubectl)?,
            &[("--listen", &address), ("--audit-interval", "2s")],
        );
        let kubeconfig =
            suite.token_kubeconfig(NAMESPACE, NAME, &scratch.join("webhook.kubeconfig"))?;
        Ok(Self {
            args,
            address,
            kubeconfig,
            log: scratch.join("webhook.log"),
        })
    }

    /// Starts it and waits until the API server can call it (its caBundle published).
    pub fn start(&self) -> Result<Webhook> {
        let webhook = Webhook::start(&self.args, &self.address, &self.kubeconfig, &self.log)?;
        Ok(webhook)
    }
}

/// `args` with each `--flag=value` of `flags` replacing the flag's value there, if any.
pub fn overriding(args: &[String], flags: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = args
        .iter()
        .filter(|a| !flags.iter().any(|(f, _)| a.split('=').next() == Some(f)))
        .cloned()
        .collect();
    out.extend(flags.iter().map(|(f, v)| format!("{f}={v}")));
    out
}

/// The webhook container's arguments as the installed Deployment has them.
fn deployment_args(kubectl: &Kubectl) -> Result<Vec<String>> {
    workload_args(kubectl, "deployment", NAME)
}

/// The first container's arguments of a workload of the release, as installed.
pub fn workload_args(kubectl: &Kubectl, kind: &str, name: &str) -> Result<Vec<String>> {
    let out = kubectl.run(&["get", kind, name, "-n", NAMESPACE, "-o", "json"], None)?;
    ensure!(out.success, "reading {kind} {name}: {}", out.stderr.trim());
    let workload: Value = serde_json::from_str(&out.stdout)?;
    let args = workload["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .with_context(|| format!("the {kind} {name} container has no args"))?
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    Ok(args)
}

pub fn cluster_ip(kubectl: &Kubectl) -> Result<String> {
    let out = kubectl.run(
        &[
            "get",
            "service",
            NAME,
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        None,
    )?;
    ensure!(
        out.success && !out.stdout.is_empty(),
        "no cluster IP: {}",
        out.stderr.trim()
    );
    Ok(out.stdout.trim().to_owned())
}

fn ca_bundle(kubectl: &Kubectl) -> Result<String> {
    let out = kubectl.run(
        &[
            "get",
            "validatingwebhookconfiguration",
            NAME,
            "-o",
            "jsonpath={.webhooks[*].clientConfig.caBundle}",
        ],
        None,
    )?;
    ensure!(out.success, "{}", out.stderr.trim());
    Ok(out.stdout.trim().to_owned())
}

/// The webhook binary with the Deployment's arguments (the listen address aside); killed when
/// dropped.
pub struct Webhook {
    child: Option<Child>,
}

impl Webhook {
    pub fn start(args: &[String], address: &str, kubeconfig: &Path, log: &Path) -> Result<Self> {
        let binary = netpol_e2e::binary("netpol-webhook");
        ensure!(
            binary.is_file(),
            "{} is missing: `cargo test --workspace` builds it (or cargo build -p netpol-webhook)",
            binary.display()
        );
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(&binary)
            .args(args)
            // What the Deployment's fieldRef gives it.
            .env("NETPOL_WEBHOOK_NAMESPACE", NAMESPACE)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let webhook = Self { child: Some(child) };
        webhook.wait_ready(address, Duration::from_secs(60))?;
        Ok(webhook)
    }

    /// `/readyz` over TLS (the certificate is not checked here: the API server checks it).
    fn wait_ready(&self, address: &str, timeout: Duration) -> Result<()> {
        wait_for(timeout, || {
            let status = Command::new("curl")
                .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("https://{address}/readyz"))
                .output()?;
            Ok(String::from_utf8_lossy(&status.stdout) == "200")
        })
        .context("the webhook did not become ready")
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}
