//! Whether the suite can run at all: a cluster configured (kubeconfig or in-cluster) and an API
//! server that answers. When not, the suite says it did not run, and why, and exits 0.

use std::time::Duration;

use kube::{Client, Config};

pub enum Preflight {
    /// A client of an API server that answered `/version`, its URL and version.
    Ready {
        client: Client,
        url: String,
        version: String,
    },
    /// Why the suite cannot run here.
    NotRun(String),
    /// The server answered with an error: a real problem, not a missing cluster.
    Broken(String),
}

pub async fn check(timeout: Duration) -> Preflight {
    let config = match Config::infer().await {
        Ok(config) => config,
        Err(err) => {
            return Preflight::NotRun(format!(
                "no cluster is configured ({err}); set KUBECONFIG to a cluster's kubeconfig, \
                 e.g. one made by `kind create cluster`"
            ));
        }
    };
    let url = config.cluster_url.to_string();
    let mut config = config;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    let client = match Client::try_from(config) {
        Ok(client) => client,
        Err(err) => return Preflight::NotRun(format!("the kubeconfig is not usable: {err}")),
    };
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(info)) => Preflight::Ready {
            client,
            url,
            version: info.git_version,
        },
        Ok(Err(kube::Error::Api(status))) => Preflight::Broken(format!(
            "the API server at {url} refused /version: {} ({})",
            status.message, status.code
        )),
        Ok(Err(err)) => {
            Preflight::NotRun(format!("the API server at {url} is not reachable: {err}"))
        }
        Err(_) => Preflight::NotRun(format!(
            "the API server at {url} did not answer within {timeout:?}"
        )),
    }
}
