//! Equal priorities in one admin tier. Upstream leaves the order of such policies undefined, so
//! when the verdict of some flow depends on that order, implementations may disagree. A flow
//! matters only when the two give it different actions and it reaches them; its verdict in the
//! direction is then walked with each policy first, everything else unchanged, by the engine's
//! tier walk. Different actions with equal verdicts (a NetworkPolicy isolates the pod anyway,
//! nothing below but the default) are latent: a change below the tie would make them real.

mod latent;
mod search;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use self::search::{Example, Footprint, Found};
use super::index::Index;
use super::{Check, Findings, Severity, rule_name};
use crate::engine::{AdminSlot, Engine, IdentityId, order_key};
use crate::model::{
    Action, AdminPolicy, AdminRule, AdminTier, Direction, PolicyKind, PolicyRef, Protocol,
};

pub(super) const CONFLICT: Check = Check {
    id: "priority-conflict",
    severity: Severity::Error,
    summary: "two admin policies of one tier share a priority and some flow's verdict (allowed or denied, after everything below the tie) differs between their two orders, which upstream leaves undefined",
};

pub(super) const LATENT: Check = Check {
    id: "priority-latent-conflict",
    severity: Severity::Warning,
    summary: "two admin policies of one tier share a priority and give some flow different actions, but every verdict is the same in either order today; a change below the tie (a NetworkPolicy, a baseline policy) would make the order matter",
};

pub(super) const SHARED: Check = Check {
    id: "priority-shared",
    severity: Severity::Info,
    summary: "two admin policies of one tier share a priority, but select no common pod or give no flow different actions in the given input",
};

pub(super) fn check<'e>(index: &Index<'e>, out: &mut Findings) {
    let mut buckets: BTreeMap<(AdminTier, u32), Vec<(AdminSlot, &'e AdminPolicy)>> =
        BTreeMap::new();
    for (slot, policy) in index.engine.admin_policies() {
        if let Some(priority) = policy.priority {
            buckets
                .entry((policy.tier, priority))
                .or_default()
                .push((slot, policy));
        }
    }
    let mut footprints: FxHashMap<(AdminSlot, Direction), Footprint> = FxHashMap::default();
    for ((tier, priority), mut group) in buckets {
        if group.len() < 2 {
            continue;
        }
        group.sort_by(|a, b| order_key(a.1).cmp(&order_key(b.1)));
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                pair(index, &mut footprints, tier, priority, *a, *b, out);
            }
        }
    }
}

/// What two admin policies of one tier and priority do together.
enum Outcome<'p> {
    /// No pod is selected by both.
    Disjoint,
    /// Both select the `common` identities and no verdict depends on their order; the example
    /// is a flow they give different actions, when there is one.
    Agree(Vec<IdentityId>, Option<Example<'p>>),
    /// Both select the `common` identities and the verdict of `Example` depends on their order.
    Conflict(Vec<IdentityId>, Example<'p>),
}

/// A policy with the identities it selects; `slot` keys its footprints.
type Tied<'e, 's> = (AdminSlot, &'e AdminPolicy, &'s [IdentityId]);

fn examine<'e>(
    index: &Index<'e>,
    footprints: &mut FxHashMap<(AdminSlot, Direction), Footprint<'e>>,
    (slot_a, a, subjects_a): Tied<'e, '_>,
    (slot_b, b, subjects_b): Tied<'e, '_>,
) -> Outcome<'e> {
    let common = intersect(subjects_a, subjects_b);
    if common.is_empty() {
        return Outcome::Disjoint;
    }
    let mut latent = None;
    for direction in [Direction::Ingress, Direction::Egress] {
        if agree_by_text(a.rules(direction), b.rules(direction)) {
            continue;
        }
        for (slot, policy) in [(slot_a, a), (slot_b, b)] {
            footprints
                .entry((slot, direction))
                .or_insert_with(|| Footprint::new(index, policy, direction));
        }
        let fa = &footprints[&(slot_a, direction)];
        let fb = &footprints[&(slot_b, direction)];
        let found: Found = search::search(index, (a, fa), (b, fb), direction, &common);
        if let Some(ex) = found.conflict {
            return Outcome::Conflict(common, ex);
        }
        latent = latent.or(found.latent);
    }
    Outcome::Agree(common, latent)
}

fn pair<'e>(
    index: &Index<'e>,
    footprints: &mut FxHashMap<(AdminSlot, Direction), Footprint<'e>>,
    tier: AdminTier,
    priority: u32,
    (slot_a, a): (AdminSlot, &'e AdminPolicy),
    (slot_b, b): (AdminSlot, &'e AdminPolicy),
    out: &mut Findings,
) {
    let engine = index.engine;
    let names = format!(
        "{} and {} share priority {priority} in the {tier:?} tier",
        a.id, b.id
    );
    let field = Some("spec.priority".to_owned());
    let subjects = |slot: AdminSlot| index.admin_subjects[slot as usize].as_slice();
    let outcome = examine(
        index,
        footprints,
        (slot_a, a, subjects(slot_a)),
        (slot_b, b, subjects(slot_b)),
    );
    let (common, latent) = match outcome {
        Outcome::Disjoint => {
            out.push(
                &SHARED,
                &a.id,
                field,
                format!(
                    "{names} but select no common pod in the given input, so their order does not matter there; distinct priorities would make the intended order explicit"
                ),
            );
            return;
        }
        Outcome::Conflict(_, ex) => {
            out.push(
                &CONFLICT,
                &a.id,
                field,
                format!(
                    "{names} and the verdict of some traffic depends on their order: {}, so it is {} with {} first but {} with {} first; \
                     upstream leaves the order of equal priorities undefined, so implementations may disagree (netpol evaluates {} first, by name). \
                     Give them distinct priorities.",
                    actions(engine, &ex, a, b),
                    verdict(ex.allowed[0]),
                    a.id.name,
                    verdict(ex.allowed[1]),
                    b.id.name,
                    a.id.name,
                ),
            );
            return;
        }
        Outcome::Agree(common, latent) => (common, latent),
    };
    if let Some(ex) = latent {
        let why = latent::explain(engine, &ex, (a, b));
        out.push(
            &LATENT,
            &a.id,
            field,
            format!(
                "{names} and give the same traffic different actions: {}, yet it is {} in either order because {}; \
                 it would become a priority-conflict {}. Distinct priorities would make the intended order explicit.",
                actions(engine, &ex, a, b),
                verdict(ex.allowed[0]),
                why.because,
                why.would_conflict_if,
            ),
        );
        return;
    }
    let pods: usize = common
        .iter()
        .map(|id| engine.identities()[*id as usize].members.len())
        .sum();
    let example = engine
        .cluster
        .pod(engine.identities()[common[0] as usize].representative)
        .key();
    out.push(
        &SHARED,
        &a.id,
        field,
        format!(
            "{names} and both select {example} ({pods} pods in all), but no flow in the given input that reaches them gets different actions from them, so their order does not matter there; \
             distinct priorities would make the intended order explicit"
        ),
    );
}

/// `src -> dst TCP/443 (egress) gets Deny from a rule 0 but Allow from b rule 1`.
fn actions(engine: &Engine, ex: &Example, a: &AdminPolicy, b: &AdminPolicy) -> String {
    format!(
        "{} -> {} {}/{} ({}) gets {} from {} {} but {} from {} {}",
        engine.describe(ex.src),
        engine.describe(ex.dst),
        ex.protocol,
        ex.port,
        ex.direction.as_str(),
        action_name(a.id.kind, ex.rule_a.action),
        a.id.name,
        rule_name(ex.rule_a.index, ex.rule_a.name.as_deref()),
        action_name(b.id.kind, ex.rule_b.action),
        b.id.name,
        rule_name(ex.rule_b.index, ex.rule_b.name.as_deref()),
    )
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "denied" }
}

/// Another admin policy of the same tier and priority as the one asked about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriorityClash {
    pub other: PolicyRef,
    pub tier: AdminTier,
    pub priority: u32,
    /// Pods both select, as `namespace/name`: a sample of at most [`SHARED_SAMPLE`].
    pub shared_pods: Vec<String>,
    pub shared_pod_count: usize,
    /// A flow whose verdict depends on the order of the two; `None` when no verdict does.
    pub conflict: Option<ClashFlow>,
    /// When there is no conflict: a flow the two give different actions, with the same
    /// verdict in either order today (`because` and `would_conflict_if` say why and until
    /// when).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latent: Option<ClashFlow>,
}

/// How many shared pods a [`PriorityClash`] names.
pub const SHARED_SAMPLE: usize = 3;

/// A flow two equal-priority policies disagree on, and the rules that disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClashFlow {
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    /// The action and rule (`rule 0 "name"`) of the policy asked about.
    pub action: &'static str,
    pub rule: String,
    pub other_action: &'static str,
    pub other_rule: String,
    /// The direction's verdict when the policy asked about goes first.
    pub allowed_first: bool,
    /// The direction's verdict when the other policy goes first.
    pub allowed_other_first: bool,
    /// For a latent clash: what decides the flow alike in both orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// For a latent clash: the change below the tie that would make it a conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_conflict_if: Option<String>,
}

/// The admin policies sharing `id`'s tier and priority, each with what the two do together:
/// the same analysis as lint's `priority-conflict`, for one policy, without linting the rest.
/// Empty when `id` is not an admin policy with a priority in `engine`, or nothing shares it.
pub fn conflicts_for(engine: &Engine, id: &PolicyRef) -> Vec<PriorityClash> {
    match engine.admin_policies().find(|(_, p)| p.id == *id) {
        Some((_, policy)) => conflicts_with(engine, policy),
        None => Vec::new(),
    }
}

/// Like [`conflicts_for`], for a policy that need not be in `engine` (one about to be
/// created or replaced): a version of it in `engine` is not compared with it, and the tie is
/// walked with this version in its place.
pub fn conflicts_with(engine: &Engine, policy: &AdminPolicy) -> Vec<PriorityClash> {
    let Some(priority) = policy.priority else {
        return Vec::new();
    };
    let mut others: Vec<(AdminSlot, &AdminPolicy)> = engine
        .admin_policies()
        .filter(|(_, p)| p.id != policy.id && p.tier == policy.tier && p.priority == Some(priority))
        .map(|(s, p)| (s, p.as_ref()))
        .collect();
    if others.is_empty() {
        return Vec::new();
    }
    others.sort_by(|a, b| order_key(a.1).cmp(&order_key(b.1)));
    let index = Index::new(engine);
    let subjects = engine.selected_identities(&policy.subject);
    // Footprints are keyed by slot; the policy asked about may have none.
    const ASKED: AdminSlot = AdminSlot::MAX;
    let mut footprints = FxHashMap::default();
    let mut out = Vec::new();
    for (other_slot, other) in others {
        let outcome = examine(
            &index,
            &mut footprints,
            (ASKED, policy, &subjects),
            (
                other_slot,
                other,
                &index.admin_subjects[other_slot as usize],
            ),
        );
        let flow = |ex: &Example| ClashFlow {
            direction: ex.direction,
            from: engine.describe(ex.src),
            to: engine.describe(ex.dst),
            protocol: ex.protocol,
            port: ex.port,
            action: action_name(policy.id.kind, ex.rule_a.action),
            rule: rule_name(ex.rule_a.index, ex.rule_a.name.as_deref()),
            other_action: action_name(other.id.kind, ex.rule_b.action),
            other_rule: rule_name(ex.rule_b.index, ex.rule_b.name.as_deref()),
            allowed_first: ex.allowed[0],
            allowed_other_first: ex.allowed[1],
            because: None,
            would_conflict_if: None,
        };
        let (common, conflict, latent) = match outcome {
            Outcome::Disjoint => (Vec::new(), None, None),
            Outcome::Agree(common, latent) => {
                let latent = latent.map(|ex| {
                    let why = latent::explain(engine, &ex, (policy, other));
                    ClashFlow {
                        because: Some(why.because),
                        would_conflict_if: Some(why.would_conflict_if),
                        ..flow(&ex)
                    }
                });
                (common, None, latent)
            }
            Outcome::Conflict(common, ex) => (common, Some(flow(&ex)), None),
        };
        let members = common
            .iter()
            .flat_map(|id| &engine.identities()[*id as usize].members);
        out.push(PriorityClash {
            other: other.id.clone(),
            tier: policy.tier,
            priority,
            shared_pods: members
                .clone()
                .take(SHARED_SAMPLE)
                .map(|pod| engine.cluster.pod(*pod).key())
                .collect(),
            shared_pod_count: members.count(),
            conflict,
            latent,
        });
    }
    out
}

fn action_name(kind: PolicyKind, action: Action) -> &'static str {
    match (kind, action) {
        (PolicyKind::ClusterNetworkPolicy, Action::Accept) => "Accept",
        (_, Action::Accept) => "Allow",
        (_, Action::Deny) => "Deny",
        (_, Action::Pass) => "Pass",
    }
}

fn intersect(a: &[IdentityId], b: &[IdentityId]) -> Vec<IdentityId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Whether order cannot matter in one direction, whatever the pods: one policy has no rules,
/// every rule has the same action, or both have the same rules.
fn agree_by_text(a: &[AdminRule], b: &[AdminRule]) -> bool {
    let same_rules = a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.action == y.action && x.peers == y.peers && x.ports == y.ports);
    let one_action = a
        .iter()
        .chain(b)
        .all(|r| Some(r.action) == a.first().map(|f| f.action));
    a.is_empty() || b.is_empty() || one_action || same_rules
}
