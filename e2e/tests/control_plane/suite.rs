//! What the trials share: the control plane, kubectl and a client pointed at it, and the CRDs
//! once they are in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use netpol_e2e::cluster::Cluster;
use netpol_e2e::control_plane::ControlPlane;
use netpol_e2e::repo_root;
use netpol_e2e::tools::Kubectl;

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
