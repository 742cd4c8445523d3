//! Where the cluster comes from: the Kubernetes API through netpol-watch's reflectors
//! ([`ApiSource`]), or a directory of manifests (`--state-dir`, for standalone use and tests).
//! Either way the enforcer sees a sequence of engines, each replacing the last.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use netpol_engine::Engine;

pub use crate::api::ApiSource;
use crate::state_dir::Watch;

#[derive(Debug)]
pub enum Source {
    Api(ApiSource),
    Dir(Watch),
}

impl Source {
    pub fn dir(dir: PathBuf) -> Self {
        Self::Dir(Watch::new(dir))
    }

    /// The engine to enforce, when the cluster changed since the last one returned.
    pub fn poll(&mut self) -> anyhow::Result<Option<Arc<Engine>>> {
        match self {
            Self::Api(api) => api.poll(),
            Self::Dir(watch) => {
                let started = Instant::now();
                let dir = watch.dir().display().to_string();
                let Some(read) = watch
                    .poll()
                    .with_context(|| format!("reading --state-dir {dir}"))?
                else {
                    return Ok(None);
                };
                for error in &read.load_errors {
                    tracing::warn!(%error, "unreadable object");
                }
                for skipped in &read.skipped {
                    tracing::info!(
                        origin = %skipped.origin,
                        kind = %skipped.kind,
                        name = %skipped.name,
                        "skipped: a kind the enforcer does not use"
                    );
                }
                for error in &read.compile_errors {
                    tracing::warn!(%error, "policy does not compile");
                }
                tracing::debug!(
                    millis = started.elapsed().as_millis() as u64,
                    "state directory read"
                );
                Ok(Some(Arc::new(read.engine)))
            }
        }
    }
}
