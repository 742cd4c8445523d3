//! What the trials share: the control plane, kubectl and a client pointed at it, and the CRDs
//! once they are in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use netpol_e2e::cluster::Cluster;
use netpol_e2e::control_plane::ControlPlane;
use netpol_e2e::helm::{Helm, Wait};
use netpol_e2e::repo_root;
use netpol_e2e::tools::Kubectl;
use serde_json::{Value, json};

/// The release and namespace of the chart as the trials install it.
pub const RELEASE: &str = "netpol";
pub const NAMESPACE: &str = "netpol-system";

pub struct Suite {
    pub plane: ControlPlane,
    pub kubectl: Kubectl,
    pub cluster: Cluster,
    crds: OnceLock<Result<(), String>>,
}

impl Suite {
    pub fn new(plane: ControlPlane) -> Result<Self> {
        let kubectl = Kubectl::new(PathBuf::from("kubectl"))?.with_env(plane.env());
        let cluster = plane.cluster()?;
        Ok(Self {
            plane,
            kubectl,
            cluster,
            crds: OnceLock::new(),
        })
    }

    /// The repository's CRDs applied and Established (once per run).
    pub fn ensure_crds(&self) -> Result<()> {
        self.crds
            .get_or_init(|| {
                self.apply_crds(&repo_root().join("crds"))
                    .map(drop)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
            .map_err(|e| anyhow!(e))
    }

    /// Applies every CRD file of `dir` and waits until each is Established; their names.
    pub fn apply_crds(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let text = std::fs::read_to_string(&path)?;
            let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a CRD", path.display()))?;
            let out = self.kubectl.run(
                &[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    &path.to_string_lossy(),
                ],
                None,
            )?;
            if !out.success {
                bail!(
                    "the API server refused {}: {}",
                    path.display(),
                    out.stderr.trim()
                );
            }
            names.push(crd.metadata.name.context("a CRD without a name")?);
        }
        for name in &names {
            self.wait_established(name, Duration::from_secs(30))?;
        }
        Ok(names)
    }

    /// The suite's namespaces as a trial expects to find them: present, with their labels only,
    /// and no pods (a trial's pods are bound to its own nodes, which a pod cannot change). Pods
    /// on a node without a kubelet are only gone when deleted with no grace period.
    pub fn fresh_namespaces(&self) -> Result<()> {
        self.kubectl.apply_ok(&netpol_e2e::probe::namespaces())?;
        for namespace in netpol_e2e::probe::NAMESPACES {
            let out = self.kubectl.run(
                &[
                    "delete",
                    "pods",
                    "--all",
                    "-n",
                    namespace,
                    "--grace-period=0",
                    "--force",
                    "--ignore-not-found",
                    "--wait=true",
                ],
                None,
            )?;
            ensure!(out.success, "clearing {namespace}: {}", out.stderr.trim());
            let out = self.kubectl.run(
                &["label", "namespace", namespace, "netpol.io/webhook-"],
                None,
            )?;
            ensure!(
                out.success,
                "unlabelling {namespace}: {}",
                out.stderr.trim()
            );
            self.wait_service_account(namespace, "default")?;
        }
        Ok(())
    }

    /// A Node object with an internal address (nothing runs it: there is no kubelet).
    pub fn create_node(&self, name: &str, address: &str) -> Result<()> {
        self.kubectl.apply_ok(&[json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        })])?;
        self.patch_status(
            &["node", name],
            json!({"status": {"addresses": [{"type": "InternalIP", "address": address}]}}),
        )
    }

    /// The pod `namespace/name` (labelled `pod: name`) on `node`, made to look as a kubelet
    /// would report it: Running, Ready, `ip`.
    pub fn running_pod(&self, pod: &str, node: &str, ip: &str) -> Result<()> {
        let (namespace, name) = pod.split_once('/').context("want namespace/pod")?;
        self.wait_service_account(namespace, "default")?;
        self.kubectl.apply_ok(&[json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"pod": name}},
            "spec": {
                "nodeName": node,
                "automountServiceAccountToken": false,
                "containers": [{"name": "serve", "image": netpol_e2e::probe::DEFAULT_IMAGE,
                                "ports": [{"name": "http", "containerPort": 80},
                                          {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}],
            },
        })])?;
        self.patch_status(
            &["pod", name, "-n", namespace],
            json!({"status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }}),
        )
    }

    /// The chart installed with its default values as release `RELEASE` in `NAMESPACE`
    /// (objects written, nothing waited for: no pod runs here); the engine that installed it.
    pub fn install_chart(&self) -> Result<Helm> {
        let helm = Helm::locate()?.with_kubeconfig(&self.plane.kubeconfig);
        helm.deploy(
            "install",
            &repo_root().join("charts/netpol"),
            RELEASE,
            NAMESPACE,
            &json!({}),
            Wait::Written,
        )?;
        Ok(helm)
    }

    /// `kubectl patch --subresource=status` with a merge patch, as a kubelet's reports.
    pub fn patch_status(&self, what: &[&str], patch: Value) -> Result<()> {
        let patch = patch.to_string();
        let mut args = vec!["patch"];
        args.extend(what);
        args.extend(["--subresource=status", "--type=merge", "-p", &patch]);
        let out = self.kubectl.run(&args, None)?;
        ensure!(
            out.success,
            "kubectl {}: {}",
            args.join(" "),
            out.stderr.trim()
        );
        Ok(())
    }

    /// A kubeconfig (mode 0600) acting as a ServiceAccount through a bound token: exactly the
    /// rights its RBAC gives, as a pod of it would have.
    pub fn token_kubeconfig(&self, namespace: &str, account: &str, path: &Path) -> Result<PathBuf> {
        let out = self.kubectl.run(
            &["create", "token", account, "-n", namespace, "--duration=2h"],
            None,
        )?;
        ensure!(
            out.success,
            "no token for {namespace}/{account}: {}",
            out.stderr.trim()
        );
        let admin: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&self.plane.kubeconfig)?)?;
        let user = format!("{namespace}/{account}");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "control-plane", "cluster": admin["clusters"][0]["cluster"]}],
            "users": [{"name": user, "user": {"token": out.stdout.trim()}}],
            "contexts": [{"name": user, "context": {"cluster": "control-plane", "user": user}}],
            "current-context": user,
        });
        write_private(path, &serde_json::to_string(&config)?)?;
        Ok(path.to_owned())
    }

    /// Waits for a ServiceAccount (the controller-manager makes each namespace's `default`).
    pub fn wait_service_account(&self, namespace: &str, name: &str) -> Result<()> {
        let api: Api<ServiceAccount> = Api::namespaced(self.cluster.client.clone(), namespace);
        let begun = Instant::now();
        while self.cluster.block(api.get_opt(name))?.is_none() {
            if begun.elapsed() > Duration::from_secs(30) {
                bail!("no ServiceAccount {namespace}/{name} after 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    pub fn wait_established(&self, name: &str, timeout: Duration) -> Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.cluster.client.clone());
        let begun = Instant::now();
        loop {
            let crd = self.cluster.block(api.get(name))?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            let is = |kind: &str| {
                conditions
                    .iter()
                    .any(|c| c.type_ == kind && c.status == "True")
            };
            if is("Established") {
                return Ok(());
            }
            if begun.elapsed() > timeout {
                bail!("CRD {name} is not Established after {timeout:?}: {conditions:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(())
}
