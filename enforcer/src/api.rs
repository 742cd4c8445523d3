//! The cluster from the Kubernetes API: netpol-watch's reflectors (the same caches as the
//! webhook's: pods, namespaces, nodes, NetworkPolicies and the admin kinds the server serves)
//! run on a thread of their own and publish engines, which the enforcer picks up by polling.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use anyhow::Context;
use netpol_engine::Engine;
use netpol_watch::{Shared, Store};

#[derive(Debug)]
pub struct ApiSource {
    shared: Arc<Shared>,
    /// The engine last handed out.
    seen: Option<Arc<Engine>>,
    /// Why the reflectors stopped, when they run here.
    failed: Option<Receiver<anyhow::Error>>,
}

impl ApiSource {
    /// Starts the reflectors with `config` (default: in-cluster, else kubeconfig, as kubectl);
    /// endpoint changes are folded into the engine every `rebuild`.
    pub fn start(config: Option<kube::Config>, rebuild: Duration) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::new(Store::default(), false));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the reflectors' runtime")?;
        let (failed_tx, failed) = mpsc::channel();
        let feeding = shared.clone();
        std::thread::Builder::new()
            .name("reflectors".into())
            .spawn(move || {
                let result = runtime.block_on(async move {
                    let config = match config {
                        Some(config) => config,
                        None => kube::Config::infer().await.context(
                            "configuring the Kubernetes client (in-cluster or kubeconfig)",
                        )?,
                    };
                    let client =
                        kube::Client::try_from(config).context("creating the Kubernetes client")?;
                    netpol_watch::caches::run(client, feeding, rebuild).await
                });
                if let Err(error) = result {
                    let _ = failed_tx.send(error);
                }
            })
            .context("spawning the reflectors' thread")?;
        Ok(Self {
            shared,
            seen: None,
            failed: Some(failed),
        })
    }

    /// A source over caches fed elsewhere (tests feed them with `netpol_watch::Feed`).
    pub fn over(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            seen: None,
            failed: None,
        }
    }

    /// The published engine, once the caches have synced and whenever it changes.
    pub fn poll(&mut self) -> anyhow::Result<Option<Arc<Engine>>> {
        if let Some(failed) = &self.failed {
            match failed.try_recv() {
                Ok(error) => return Err(error.context("watching the Kubernetes API")),
                Err(TryRecvError::Disconnected) => anyhow::bail!("the Kubernetes watchers stopped"),
                Err(TryRecvError::Empty) => {}
            }
        }
        if !self.shared.is_ready() {
            return Ok(None);
        }
        let engine = self.shared.engine();
        if self
            .seen
            .as_ref()
            .is_some_and(|seen| Arc::ptr_eq(seen, &engine))
        {
            return Ok(None);
        }
        self.seen = Some(engine.clone());
        Ok(Some(engine))
    }
}
