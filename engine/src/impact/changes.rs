//! Which policies a change adds, removes or modifies: what the impact preview starts from.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Engine, Policy};
use crate::model::PolicyRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyChangeKind {
    Added,
    Removed,
    Modified,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyChange {
    pub policy: PolicyRef,
    pub change: PolicyChangeKind,
}

/// The policies added, removed or modified from `before` to `after`, sorted by kind, namespace
/// and name.
pub fn policy_changes(before: &Engine, after: &Engine) -> Vec<PolicyChange> {
    let all = |engine: &Engine| -> BTreeMap<PolicyRef, Policy> {
        let admin = engine
            .admin_policies()
            .map(|(_, p)| (p.id.clone(), Policy::Admin(p.clone())));
        let network = engine
            .network_policies()
            .map(|(_, p)| (p.id.clone(), Policy::Network(p.clone())));
        admin.chain(network).collect()
    };
    let (old, new) = (all(before), all(after));
    let mut changes = Vec::new();
    for (id, policy) in &old {
        match new.get(id) {
            None => changes.push(PolicyChange {
                policy: id.clone(),
                change: PolicyChangeKind::Removed,
            }),
            Some(next) if !same(policy, next) => {
                changes.push(PolicyChange {
                    policy: id.clone(),
                    change: PolicyChangeKind::Modified,
                });
            }
            Some(_) => {}
        }
    }
    for id in new.keys().filter(|id| !old.contains_key(*id)) {
        changes.push(PolicyChange {
            policy: id.clone(),
            change: PolicyChangeKind::Added,
        });
    }
    changes.sort_by(|a, b| a.policy.cmp(&b.policy));
    changes
}

fn same(a: &Policy, b: &Policy) -> bool {
    match (a, b) {
        (Policy::Admin(a), Policy::Admin(b)) => a == b,
        (Policy::Network(a), Policy::Network(b)) => a == b,
        _ => false,
    }
}
