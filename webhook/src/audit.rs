//! The audit: conflicts that reached the cluster anyway (two creates racing, objects created
//! while the webhook was down or in `warn` mode) are found periodically in the caches and
//! surfaced as Warning Events on both policies and as a metric. A tie is a conflict only while
//! the policies below it let its order change a verdict, so the audit also runs as soon as the
//! policies in the caches change: a latent tie made real by a NetworkPolicy deleted (or a
//! baseline policy added) gets its Event then, not at the next period.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use netpol_engine::Engine;
use netpol_engine::lint::{PriorityClash, conflicts_with};
use netpol_engine::model::{AdminTier, PolicyKind, PolicyRef};

use crate::metrics::Metrics;
use crate::shared::Shared;

/// Two admin policies of one tier and priority whose order changes some flow's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The first of the two by name, as the engine orders ties.
    pub policy: PolicyRef,
    pub clash: PriorityClash,
}

impl Conflict {
    /// The Event note for `about` (one of the two), under the API's 1 kB limit.
    pub fn note(&self, about: &PolicyRef) -> String {
        let other = if *about == self.policy {
            &self.clash.other
        } else {
            &self.policy
        };
        let mut note = format!(
            "same {} priority {} as {other}, and the order of the two changes a verdict",
            tier_name(&self.clash),
            self.clash.priority
        );
        if let Some(flow) = &self.clash.conflict {
            let verdict = |allowed: bool| if allowed { "allowed" } else { "denied" };
            note.push_str(&format!(
                ": {} -> {} {}/{} ({}) gets {} from {} but {} from {}, so it is {} with {} first, {} with {} first",
                flow.from,
                flow.to,
                flow.protocol.as_str(),
                flow.port,
                flow.direction.as_str(),
                flow.action,
                self.policy.name,
                flow.other_action,
                self.clash.other.name,
                verdict(flow.allowed_first),
                self.policy.name,
                verdict(flow.allowed_other_first),
                self.clash.other.name,
            ));
        }
        note.push_str(
            ": the upstream API leaves their order undefined; give one a distinct priority",
        );
        note.truncate(1000);
        note
    }
}

fn tier_name(clash: &PriorityClash) -> &'static str {
    match clash.tier {
        AdminTier::Admin => "admin",
        AdminTier::Baseline => "baseline",
    }
}

/// Every conflicting pair in `engine`, each once.
pub fn conflicts(engine: &Engine) -> Vec<Conflict> {
    // Only priorities held by two or more policies need the (costly) analysis.
    let mut tied = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (_, policy) in engine.admin_policies() {
        if let Some(priority) = policy.priority
            && !seen.insert((policy.tier, priority))
        {
            tied.insert((policy.tier, priority));
        }
    }
    let mut out = Vec::new();
    let mut pairs = BTreeSet::new();
    for (_, policy) in engine.admin_policies() {
        let Some(priority) = policy.priority else {
            continue;
        };
        if !tied.contains(&(policy.tier, priority)) {
            continue;
        }
        for clash in conflicts_with(engine, policy) {
            if clash.conflict.is_none() {
                continue;
            }
            let (a, b) = (policy.id.to_string(), clash.other.to_string());
            if pairs.insert(if a < b { (a, b) } else { (b, a) }) {
                out.push(Conflict {
                    policy: policy.id.clone(),
                    clash,
                });
            }
        }
    }
    out
}

/// How often the audit looks whether the policies in the caches changed.
pub const CHANGE_POLL: Duration = Duration::from_secs(1);

/// Runs the audit every `every` once the caches are ready, and within [`CHANGE_POLL`] of a
/// change to the policies.
pub async fn run(client: Client, shared: Arc<Shared>, metrics: Arc<Metrics>, every: Duration) {
    run_polling(client, shared, metrics, every, CHANGE_POLL).await
}

/// What the audit's answer depends on besides pods: every policy, admin and NetworkPolicy.
pub fn policies_fingerprint(engine: &Engine) -> u64 {
    let mut hasher = DefaultHasher::new();
    for (slot, policy) in engine.admin_policies() {
        (slot, policy).hash(&mut hasher);
    }
    for (slot, policy) in engine.network_policies() {
        (slot, policy).hash(&mut hasher);
    }
    hasher.finish()
}

/// [`run`], looking for policy changes every `poll`.
pub async fn run_polling(
    client: Client,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    every: Duration,
    poll: Duration,
) {
    let reporter = Reporter {
        controller: "netpol-webhook".to_owned(),
        instance: std::env::var("HOSTNAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let mut ticker = tokio::time::interval(poll.min(every));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The engine last audited (weak: it may go, and its address is not reused while this
    // lives) and its policies; `None` until the first audit.
    let mut last: Option<(Weak<Engine>, u64, Instant)> = None;
    loop {
        ticker.tick().await;
        if !shared.is_ready() {
            continue;
        }
        let engine = shared.engine();
        if let Some((seen, policies, at)) = &mut last
            && at.elapsed() < every
        {
            if Weak::ptr_eq(seen, &Arc::downgrade(&engine)) {
                continue;
            }
            // A new engine: pods or policies changed; only the policies trigger an audit.
            let now = policies_fingerprint(&engine);
            *seen = Arc::downgrade(&engine);
            if now == *policies {
                continue;
            }
        }
        last = Some((
            Arc::downgrade(&engine),
            policies_fingerprint(&engine),
            Instant::now(),
        ));
        let found = match tokio::task::spawn_blocking(move || conflicts(&engine)).await {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(error = %err, "the audit panicked");
                continue;
            }
        };
        metrics.audit_conflicts.set(found.len() as i64);
        metrics.audit_runs.inc();
        for conflict in &found {
            tracing::warn!(
                policy = %conflict.policy,
                other = %conflict.clash.other,
                priority = conflict.clash.priority,
                "priority conflict in the cluster"
            );
            for about in [&conflict.policy, &conflict.clash.other] {
                if let Err(err) = publish(&client, &recorder, conflict, about).await {
                    tracing::warn!(policy = %about, error = %err, "cannot record the conflict as an Event");
                }
            }
        }
    }
}

/// A Warning Event on `about`. The object is read for its uid, which `kubectl describe`
/// needs to find the Event.
async fn publish(
    client: &Client,
    recorder: &Recorder,
    conflict: &Conflict,
    about: &PolicyRef,
) -> Result<(), kube::Error> {
    let resource = api_resource(about.kind);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let object = api.get(&about.name).await?;
    let reference = object.object_ref(&resource);
    let event = Event {
        type_: EventType::Warning,
        reason: "PriorityConflict".to_owned(),
        note: Some(conflict.note(about)),
        action: "Audit".to_owned(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await
}

fn api_resource(kind: PolicyKind) -> ApiResource {
    let (version, kind, plural) = match kind {
        PolicyKind::ClusterNetworkPolicy => {
            ("v1alpha2", "ClusterNetworkPolicy", "clusternetworkpolicies")
        }
        PolicyKind::BaselineAdminNetworkPolicy => (
            "v1alpha1",
            "BaselineAdminNetworkPolicy",
            "baselineadminnetworkpolicies",
        ),
        _ => ("v1alpha1", "AdminNetworkPolicy", "adminnetworkpolicies"),
    };
    ApiResource {
        group: "policy.networking.k8s.io".to_owned(),
        version: version.to_owned(),
        api_version: format!("policy.networking.k8s.io/{version}"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}
