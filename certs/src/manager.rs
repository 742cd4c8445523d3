//! The API side: the Secret written with optimistic concurrency (create, or replace at the
//! resourceVersion read), and the ValidatingWebhookConfiguration's `caBundle` kept equal to
//! the Secret's CAs. Replicas running this at once converge: a conflict means another one
//! wrote first, so the Secret is read again and its bundle used when it is good.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use time::OffsetDateTime;

use crate::authority::IssueError;
use crate::bundle::Bundle;
use crate::plan::{self, Decision, Policy};

/// Attempts before giving up when other writers keep winning.
const ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("{action} {what}: {source}")]
    Api {
        action: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error("{what} kept changing under us ({ATTEMPTS} conflicts in a row)")]
    Contended { what: String },
    #[error("ValidatingWebhookConfiguration {0} does not exist")]
    NoWebhookConfiguration(String),
}

/// Where the certificates live and what they are for.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub secret: String,
    /// The ValidatingWebhookConfiguration whose webhooks get the `caBundle`, if any.
    pub webhook_configuration: Option<String>,
    /// DNS names (and IPs) the serving certificate covers.
    pub names: Vec<String>,
}

/// What one reconciliation did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub bundle: Bundle,
    /// Reasons when this call wrote the Secret.
    pub wrote: Vec<plan::Reason>,
    /// Webhooks whose caBundle this call updated.
    pub ca_bundle_updated: usize,
}

pub struct Manager {
    secrets: Api<Secret>,
    webhook_configurations: Api<ValidatingWebhookConfiguration>,
    target: Target,
    policy: Policy,
}

impl Manager {
    pub fn new(client: Client, target: Target, policy: Policy) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), &target.namespace),
            webhook_configurations: Api::all(client),
            target,
            policy,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Makes the Secret hold a good bundle and the webhook configuration trust it.
    pub async fn reconcile(&self, now: OffsetDateTime) -> Result<Outcome, CertsError> {
        let (bundle, wrote) = self.ensure_secret(now).await?;
        let ca_bundle_updated = match &self.target.webhook_configuration {
            Some(name) => self.sync_ca_bundle(name, &bundle).await?,
            None => 0,
        };
        Ok(Outcome {
            bundle,
            wrote,
            ca_bundle_updated,
        })
    }

    async fn ensure_secret(
        &self,
        now: OffsetDateTime,
    ) -> Result<(Bundle, Vec<plan::Reason>), CertsError> {
        let what = format!("Secret {}/{}", self.target.namespace, self.target.secret);
        for _ in 0..ATTEMPTS {
            let existing = self
                .secrets
                .get_opt(&self.target.secret)
                .await
                .map_err(|source| api("reading", &what, source))?;
            let current = existing.as_ref().map(|secret| {
                Bundle::from_secret_data(secret.data.as_ref().unwrap_or(&BTreeMap::new()))
                    .map_err(|e| e.to_string())
            });
            let decision = plan::plan(
                current.as_ref().map(|r| r.as_ref().map_err(Clone::clone)),
                &self.target.names,
                now,
                &self.policy,
            )?;
            let (bundle, reasons) = match decision {
                Decision::Keep => {
                    let bundle = current
                        .and_then(Result::ok)
                        .expect("kept bundles were read");
                    return Ok((bundle, Vec::new()));
                }
                Decision::Write { bundle, reasons } => (bundle, reasons),
            };
            let written = match existing {
                None => {
                    self.secrets
                        .create(&PostParams::default(), &self.secret(&bundle, None))
                        .await
                }
                Some(old) => {
                    let secret = self.secret(&bundle, Some(old.metadata));
                    self.secrets
                        .replace(&self.target.secret, &PostParams::default(), &secret)
                        .await
                }
            };
            match written {
                Ok(_) => {
                    for reason in &reasons {
                        tracing::info!(secret = %what, %reason, "wrote webhook certificates");
                    }
                    return Ok((bundle, reasons));
                }
                // Another replica wrote first: read its bundle on the next round.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(source) => return Err(api("writing", &what, source)),
            }
        }
        Err(CertsError::Contended { what })
    }

    /// The Secret to write; `previous` keeps resourceVersion (for the conflict check), labels
    /// and annotations of the one read.
    fn secret(&self, bundle: &Bundle, previous: Option<ObjectMeta>) -> Secret {
        let mut metadata = previous.unwrap_or_default();
        metadata.name = Some(self.target.secret.clone());
        metadata.namespace = Some(self.target.namespace.clone());
        metadata.managed_fields = None;
        metadata.labels.get_or_insert_default().insert(
            "app.kubernetes.io/managed-by".to_owned(),
            "netpol-webhook".to_owned(),
        );
        Secret {
            metadata,
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(bundle.to_secret_data()),
            ..Secret::default()
        }
    }

    /// Sets every webhook's `clientConfig.caBundle` to the bundle's CAs; returns how many
    /// changed.
    async fn sync_ca_bundle(&self, name: &str, bundle: &Bundle) -> Result<usize, CertsError> {
        let what = format!("ValidatingWebhookConfiguration {name}");
        let wanted = ByteString(bundle.authorities.as_bytes().to_vec());
        for _ in 0..ATTEMPTS {
            let Some(mut config) = self
                .webhook_configurations
                .get_opt(name)
                .await
                .map_err(|source| api("reading", &what, source))?
            else {
                return Err(CertsError::NoWebhookConfiguration(name.to_owned()));
            };
            let mut changed = 0;
            for webhook in config.webhooks.iter_mut().flatten() {
                if webhook.client_config.ca_bundle.as_ref() != Some(&wanted) {
                    webhook.client_config.ca_bundle = Some(wanted.clone());
                    changed += 1;
                }
            }
            if changed == 0 {
                return Ok(0);
            }
            config.metadata.managed_fields = None;
            match self
                .webhook_configurations
                .replace(name, &PostParams::default(), &config)
                .await
            {
                Ok(_) => {
                    tracing::info!(
                        webhook_configuration = name,
                        webhooks = changed,
                        "caBundle updated"
                    );
                    return Ok(changed);
                }
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(source) => return Err(api("updating", &what, source)),
            }
        }
        Err(CertsError::Contended { what })
    }
}

fn api(action: &'static str, what: &str, source: kube::Error) -> CertsError {
    CertsError::Api {
        action,
        what: what.to_owned(),
        source,
    }
}

/// The time now, for [`Manager::reconcile`].
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
