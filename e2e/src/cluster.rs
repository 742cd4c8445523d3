//! What the suite asks of the API server directly (kube client): discovery, pod readiness and
//! addresses, service accounts on a bare API server, and the local webhook's registration.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::probe::SUITE_LABEL;

pub struct Cluster {
    pub client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Cluster {
    pub fn new(client: Client, runtime: tokio::runtime::Runtime) -> Self {
        Self { client, runtime }
    }

    /// Runs a future of the client to completion.
    pub fn block<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Whether the server serves `group/version`.
    pub fn serves(&self, group_version: &str) -> bool {
        self.block(self.client.list_api_group_resources(group_version))
            .is_ok()
    }

    /// Both policy API versions netpol reads (ANP/BANP v1alpha1, CNP v1alpha2).
    pub fn serves_policy_apis(&self) -> bool {
        self.serves("policy.networking.k8s.io/v1alpha1")
            && self.serves("policy.networking.k8s.io/v1alpha2")
    }

    pub fn wait_for_policy_apis(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while !self.serves_policy_apis() {
            if start.elapsed() > timeout {
                bail!(
                    "policy.networking.k8s.io v1alpha1 and v1alpha2 not served after {timeout:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }

    /// Waits until every suite pod is ready and has an address: `namespace/name` → address.
    pub fn wait_for_pods(
        &self,
        expected: usize,
        timeout: Duration,
    ) -> Result<BTreeMap<String, IpAddr>> {
        let start = Instant::now();
        let pods: Api<Pod> = Api::all(self.client.clone());
        let params = ListParams::default().labels(&format!("{SUITE_LABEL}=true"));
        loop {
            let list = self
                .block(pods.list(&params))
                .context("listing the probe pods")?;
            let ready: BTreeMap<String, IpAddr> =
                list.items.iter().filter_map(ready_address).collect();
            if ready.len() >= expected {
                return Ok(ready);
            }
            if start.elapsed() > timeout {
                let waiting: Vec<String> = list
                    .items
                    .iter()
                    .filter(|p| ready_address(p).is_none())
                    .map(|p| {
                        format!(
                            "{}/{} ({})",
                            p.metadata.namespace.as_deref().unwrap_or_default(),
                            p.metadata.name.as_deref().unwrap_or_default(),
                            p.status
                                .as_ref()
                                .and_then(|s| s.phase.as_deref())
                                .unwrap_or("no status")
                        )
                    })
                    .collect();
                bail!(
                    "{} of {expected} probe pods ready after {timeout:?}; waiting for {}",
                    ready.len(),
                    waiting.join(", ")
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// A bare API server has no controller making `default` service accounts; pods need one.
    pub fn ensure_default_service_account(&self, namespace: &str) -> Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let account = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match self.block(accounts.create(&PostParams::default(), &account)) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(err) => {
                Err(err).with_context(|| format!("creating {namespace}/default service account"))
            }
        }
    }

    pub fn create_webhook_config(&self, config: &ValidatingWebhookConfiguration) -> Result<()> {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        let name = config.metadata.name.clone().unwrap_or_default();
        let _ = self.block(api.delete(&name, &DeleteParams::default()));
        self.block(api.create(&PostParams::default(), config))
            .with_context(|| format!("registering ValidatingWebhookConfiguration {name}"))?;
        Ok(())
    }

    pub fn delete_webhook_config(&self, name: &str) -> Result<()> {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        match self.block(api.delete(name, &DeleteParams::default())) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => {
                Err(err).with_context(|| format!("deleting ValidatingWebhookConfiguration {name}"))
            }
        }
    }
}

/// `namespace/name` and address of a pod that is Ready.
fn ready_address(pod: &Pod) -> Option<(String, IpAddr)> {
    let status = pod.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let ip: IpAddr = status.pod_ip.as_deref()?.parse().ok()?;
    ready.then(|| {
        (
            format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default()
            ),
            ip,
        )
    })
}
