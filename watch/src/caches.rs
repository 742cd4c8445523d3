//! The caches: one kube watcher per kind (pods, namespaces, nodes, NetworkPolicies and the
//! admin policy kinds the API server serves), with trimmed objects, feeding the store. Watch
//! events are applied by [`Feed`], a small synchronous handler tested without a cluster;
//! endpoint changes are folded into the engine by a periodic rebuild.

mod kinds;
mod reconnect;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use netpol_engine::cluster::LabelSets;
use netpol_engine::load::ObjectKind;
use netpol_engine::state::ObjectKey;
use tokio::sync::mpsc;
use tracing::Instrument;

pub use kinds::{Cached, trim};

use crate::shared::Shared;
use crate::store::{Entry, Store};

/// Applies one kind's watch events to a store. A re-list (`Init` … `InitDone`) is collected
/// (compiled as it arrives: never a list of API objects) and then replaces every object of the
/// kind at once, so objects deleted while the watch was down disappear.
#[derive(Debug)]
pub struct Feed<K> {
    relist: Option<Vec<Entry>>,
    /// Pods of a re-list share one copy of each label set (replicas have equal labels).
    labels: LabelSets,
    _kind: std::marker::PhantomData<K>,
}

impl<K: Cached> Default for Feed<K> {
    fn default() -> Self {
        Self {
            relist: None,
            labels: LabelSets::default(),
            _kind: std::marker::PhantomData,
        }
    }
}

impl<K: Cached> Feed<K> {
    /// Handles an event; true when it completed a (re-)list.
    pub fn handle(&mut self, event: Event<K>, store: &mut Store) -> bool {
        match event {
            Event::Init => self.relist = Some(Vec::new()),
            Event::InitApply(object) => self.keep_relisted(object),
            Event::InitDone => {
                self.labels = LabelSets::default();
                store.reset(K::KIND, self.relist.take().unwrap_or_default());
                return true;
            }
            Event::Apply(object) => store.apply_entry(entry(object)),
            Event::Delete(object) => store.delete(&ObjectKey::of(&object.into_object())),
        }
        false
    }

    fn keep_relisted(&mut self, object: K) {
        let mut entry = entry(object);
        if let Entry::Pod(pod) = &mut entry {
            pod.labels = self.labels.intern(pod.labels.clone());
        }
        self.relist.get_or_insert_default().push(entry);
    }

    /// Keeps an object of a re-list in progress (it needs no store yet); other events are
    /// handed back for [`Feed::handle`].
    pub fn buffer(&mut self, event: Event<K>) -> Option<Event<K>> {
        match event {
            Event::InitApply(object) if self.relist.is_some() => {
                self.keep_relisted(object);
                None
            }
            event => Some(event),
        }
    }
}

fn entry<K: Cached>(object: K) -> Entry {
    Entry::compile(object.into_object())
}

/// Which admin policy APIs the server serves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    pub v1alpha1: bool,
    pub v1alpha2: bool,
}

impl Served {
    pub async fn discover(client: &Client) -> kube::Result<Self> {
        let has = |group_version: &'static str, names: &'static [&'static str]| {
            let client = client.clone();
            async move {
                match client.list_api_group_resources(group_version).await {
                    Ok(list) => Ok(names
                        .iter()
                        .all(|n| list.resources.iter().any(|r| r.name == *n))),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                    Err(err) => Err(err),
                }
            }
        };
        Ok(Self {
            v1alpha1: has(
                "policy.networking.k8s.io/v1alpha1",
                &["adminnetworkpolicies", "baselineadminnetworkpolicies"],
            )
            .await?,
            v1alpha2: has(
                "policy.networking.k8s.io/v1alpha2",
                &["clusternetworkpolicies"],
            )
            .await?,
        })
    }
}

/// Watches every kind until the process ends; marks `shared` ready once each kind has been
/// listed and the engine built from them. `every` paces rebuilds after endpoint changes.
pub async fn run(client: Client, shared: Arc<Shared>, every: Duration) -> anyhow::Result<()> {
    use k8s_openapi::api::{core::v1 as core, networking::v1 as net};
    use netpol_engine::api::v1alpha1::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
    use netpol_engine::api::v1alpha2::ClusterNetworkPolicy;

    let served = Served::discover(&client).await?;
    tracing::info!(
        v1alpha1 = served.v1alpha1,
        v1alpha2 = served.v1alpha2,
        "admin policy APIs discovered"
    );
    let (synced_tx, mut synced) = mpsc::unbounded_channel();
    let mut kinds = 0;
    let mut spawn = |task: tokio::task::JoinHandle<()>| {
        kinds += 1;
        drop(task);
    };
    spawn(watch::<core::Namespace>(&client, &shared, &synced_tx));
    spawn(watch::<core::Node>(&client, &shared, &synced_tx));
    spawn(watch::<core::Pod>(&client, &shared, &synced_tx));
    spawn(watch::<net::NetworkPolicy>(&client, &shared, &synced_tx));
    if served.v1alpha1 {
        spawn(watch::<AdminNetworkPolicy>(&client, &shared, &synced_tx));
        spawn(watch::<BaselineAdminNetworkPolicy>(
            &client, &shared, &synced_tx,
        ));
    }
    if served.v1alpha2 {
        spawn(watch::<ClusterNetworkPolicy>(&client, &shared, &synced_tx));
    }
    let mut pending: std::collections::BTreeSet<ObjectKind> = std::collections::BTreeSet::new();
    let mut seen = 0;
    while seen < kinds {
        let Some(kind) = synced.recv().await else {
            anyhow::bail!("the watchers stopped before the caches synced");
        };
        if pending.insert(kind) {
            seen += 1;
        }
    }
    rebuild(&shared).await;
    shared.set_ready(true);
    tracing::info!(sizes = ?shared.sizes(), "caches synced");
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        rebuild(&shared).await;
    }
}

async fn rebuild(shared: &Arc<Shared>) {
    let shared = shared.clone();
    let started = std::time::Instant::now();
    let rebuilt = tokio::task::spawn_blocking(move || shared.rebuild_if_stale())
        .await
        .unwrap_or(false);
    if rebuilt {
        tracing::debug!(
            millis = started.elapsed().as_millis() as u64,
            "engine rebuilt"
        );
    }
}

fn watch<K: Cached>(
    client: &Client,
    shared: &Arc<Shared>,
    synced: &mpsc::UnboundedSender<ObjectKind>,
) -> tokio::task::JoinHandle<()> {
    let api: Api<K> = Api::all(client.clone());
    let shared = shared.clone();
    let synced = synced.clone();
    let span = tracing::info_span!("watch", kind = K::KIND.name());
    tokio::spawn(
        async move {
            let mut feed = Feed::<K>::default();
            let stream = watcher::watcher(api, watcher::Config::default().page_size(500))
                .backoff(reconnect::Reconnect::default());
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event.map(|e| feed.buffer(e)) {
                    Ok(None) => {}
                    Ok(Some(event)) => {
                        if shared.update(|store| feed.handle(event, store)) {
                            let _ = synced.send(K::KIND);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "watch failed; retrying"),
                }
            }
        }
        .instrument(span),
    )
}
