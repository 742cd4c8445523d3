//! Reading the live cluster: kubeconfig as kubectl reads it, discovery of the policy APIs the
//! server serves, paged lists of every kind the engine needs, and errors that say what is
//! missing (unreachable server, or the verb and resource RBAC forbids).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, networking::v1 as net,
};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use netpol_engine::Loaded;
use netpol_engine::api::v1alpha1::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
use netpol_engine::api::v1alpha2::ClusterNetworkPolicy;
use netpol_engine::load::read_json_values;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// kubectl's connection flags.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    /// kubectl's syntax: `0` (no timeout), `30`, `30s`, `2m`, `1h`.
    pub request_timeout: Option<String>,
}

/// Everything the engine needs from the cluster, read with one client, and the namespace of
/// the kubeconfig context (unless `namespace` overrides it).
pub fn read_cluster(connection: &Connection, namespace: Option<&str>) -> Result<(Loaded, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(read(connection, namespace))
}

async fn read(connection: &Connection, namespace: Option<&str>) -> Result<(Loaded, String)> {
    let (client, url) = client(connection).await?;
    let namespace = namespace.map_or_else(|| client.default_namespace().to_owned(), str::to_owned);
    let loaded = read_with(&client, &namespace).await.map_err(|err| {
        match err.downcast::<Unreachable>() {
            Ok(Unreachable(message)) => anyhow!("cannot reach the API server at {url}: {message}"),
            Err(other) => other,
        }
    })?;
    Ok((loaded, namespace))
}

/// A transport failure, reported once with the server's address.
#[derive(Debug)]
struct Unreachable(String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

async fn read_with(client: &Client, default_namespace: &str) -> Result<Loaded> {
    let client = client.clone();
    let served = Served::discover(&client).await?;
    let mut reader = Reader {
        client: &client,
        default_namespace,
        loaded: Loaded::default(),
    };
    reader.list::<core::Namespace>().await?;
    reader.list::<core::Node>().await?;
    reader.list::<core::Pod>().await?;
    reader.list::<net::NetworkPolicy>().await?;
    // Controllers let `ns/deployment/name` resolve even when scaled to zero; reading them is
    // a convenience, so missing permission only costs that.
    for result in [
        reader.list::<apps::Deployment>().await,
        reader.list::<apps::StatefulSet>().await,
        reader.list::<apps::DaemonSet>().await,
        reader.list::<batch::CronJob>().await,
    ] {
        if let Err(err) = result {
            eprintln!("note: {err:#}; workloads without pods will not resolve");
        }
    }
    if served.v1alpha1 {
        reader.list::<AdminNetworkPolicy>().await?;
        reader.list::<BaselineAdminNetworkPolicy>().await?;
    }
    if served.v1alpha2 {
        reader.list::<ClusterNetworkPolicy>().await?;
    }
    Ok(reader.loaded)
}

/// Reads lists page by page into one [`Loaded`]: each page is decoded as it arrives, so a large
/// cluster is never held as API objects and JSON at once.
struct Reader<'a> {
    client: &'a Client,
    default_namespace: &'a str,
    loaded: Loaded,
}

impl Reader<'_> {
    async fn list<K>(&mut self) -> Result<()>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let resource = format!("{}{}", K::plural(&()), group_suffix(&K::group(&())));
        let source = format!("cluster {resource}");
        let mut params = ListParams::default().limit(500);
        let mut read = 0;
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|err| explain(err, "list", &resource))?;
            let mut items = Vec::with_capacity(page.items.len());
            for mut item in page.items {
                // Server-side apply's bookkeeping is often most of an object; nothing reads it.
                item.meta_mut().managed_fields = None;
                // Typed lists drop apiVersion and kind from items; the reader needs them.
                let mut value = serde_json::to_value(&item)?;
                if let Some(map) = value.as_object_mut() {
                    map.insert("apiVersion".into(), K::api_version(&()).into());
                    map.insert("kind".into(), K::kind(&()).into());
                }
                items.push(value);
            }
            let count = items.len();
            let page_loaded = read_json_values(&source, read, items, self.default_namespace);
            read += count;
            self.loaded.extend(page_loaded);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(()),
            }
        }
    }
}

async fn client(connection: &Connection) -> Result<(Client, String)> {
    let kubeconfig = match &connection.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?,
        None => Kubeconfig::read().context("reading kubeconfig (KUBECONFIG or ~/.kube/config)")?,
    };
    let options = KubeConfigOptions {
        context: connection.context.clone(),
        cluster: connection.cluster.clone(),
        user: connection.user.clone(),
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .context("loading the kubeconfig context")?;
    if let Some(text) = &connection.request_timeout {
        let timeout = parse_timeout(text)?;
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        config.connect_timeout = timeout;
    }
    let url = config.cluster_url.to_string();
    let client =
        Client::try_from(config).with_context(|| format!("configuring a client for {url}"))?;
    Ok((client, url))
}

/// kubectl's --request-timeout: a number of seconds or a duration with s/m/h; 0 means none.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| anyhow!("--request-timeout {text:?}: want e.g. 30s, 2m or 0"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => bail!("--request-timeout {text:?}: unit must be s, m or h"),
    };
    Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
}

/// Which admin policy APIs the server serves.
struct Served {
    v1alpha1: bool,
    v1alpha2: bool,
}

impl Served {
    async fn discover(client: &Client) -> Result<Self> {
        let has = |resources: Option<
            &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
        >,
                   name: &str| {
            resources.is_some_and(|list| list.resources.iter().any(|r| r.name == name))
        };
        let v1alpha1 = group_resources(client, "policy.networking.k8s.io/v1alpha1").await?;
        let v1alpha2 = group_resources(client, "policy.networking.k8s.io/v1alpha2").await?;
        let served = Self {
            v1alpha1: has(v1alpha1.as_ref(), "adminnetworkpolicies")
                && has(v1alpha1.as_ref(), "baselineadminnetworkpolicies"),
            v1alpha2: has(v1alpha2.as_ref(), "clusternetworkpolicies"),
        };
        if !served.v1alpha1 && !served.v1alpha2 {
            eprintln!(
                "note: the server serves no admin network policy API (policy.networking.k8s.io): NetworkPolicy only"
            );
        }
        Ok(served)
    }
}

/// The resources of a group version, or None when the server does not serve it.
async fn group_resources(
    client: &Client,
    group_version: &str,
) -> Result<Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList>> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(Some(list)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(explain(
            err,
            "get",
            &format!("API discovery for {group_version}"),
        )),
    }
}

/// `.group` for a resource name; nothing for the core group.
fn group_suffix(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(".{group}")
    }
}

/// Turns client errors into what the user must fix.
/// A client for the kubeconfig context, and the server's address, for commands that talk to
/// the API server themselves.
pub async fn connect(connection: &Connection) -> Result<Client> {
    client(connection).await.map(|(client, _)| client)
}

/// A failed request said as what is missing: the verb and resource RBAC forbids, or the
/// server that could not be reached.
pub fn explain(err: kube::Error, verb: &str, resource: &str) -> anyhow::Error {
    explain_scoped(err, verb, resource, None)
}

/// [`explain`] for a resource read in one namespace only.
pub fn explain_in(err: kube::Error, verb: &str, resource: &str, namespace: &str) -> anyhow::Error {
    explain_scoped(err, verb, resource, Some(namespace))
}

fn explain_scoped(
    err: kube::Error,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
) -> anyhow::Error {
    let (scope, flag) = match namespace {
        Some(ns) => (format!("in namespace {ns}"), format!("-n {ns}")),
        None => ("across all namespaces".to_owned(), "-A".to_owned()),
    };
    match err {
        kube::Error::Api(status) if status.code == 403 => anyhow!(
            "forbidden: netpol needs the `{verb}` verb on `{resource}` {scope} \
             (check with `kubectl auth can-i {verb} {resource} {flag}`): {}",
            status.message
        ),
        kube::Error::Api(status) if status.code == 401 => {
            anyhow!(
                "unauthorized: the kubeconfig credentials were rejected while trying to {verb} {resource}: {}",
                status.message
            )
        }
        kube::Error::Api(status) => anyhow!(
            "the API server refused to {verb} {resource}: {} ({})",
            status.message,
            status.code
        ),
        other => anyhow::Error::new(Unreachable(format!(
            "{other} (while trying to {verb} {resource})"
        ))),
    }
}
