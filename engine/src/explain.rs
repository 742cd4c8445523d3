//! What the policies do, as rows in evaluation order: tier, policy, priority, subject,
//! direction, rule, action, peers and ports. Narrowed to one pod, only the policies that select
//! it, in the order they apply.

use serde::Serialize;

use crate::cluster::PodId;
use crate::engine::{AdminSlot, Engine, NetpolSlot, order_key};
use crate::eval::TierName;
use crate::model::{
    AdminPolicy, AdminTier, Direction, NetworkPolicy, PolicyKind, PolicyRef, ports_text,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExplainRow {
    pub tier: TierName,
    pub policy: PolicyRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    pub subject: String,
    pub direction: Direction,
    /// None for a NetworkPolicy that isolates a direction without any rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Accept, Deny or Pass for admin rules; Allow for NetworkPolicy rules; Isolate for a
    /// NetworkPolicy direction with no rules.
    pub action: String,
    pub peers: String,
    pub ports: String,
}

/// Every policy grouped by subject and direction, or those selecting `pod`; rows are in
/// evaluation order within each group.
pub fn explain(engine: &Engine, pod: Option<PodId>) -> Vec<ExplainRow> {
    let (admin, netpols): (Vec<AdminSlot>, Vec<NetpolSlot>) = match pod {
        Some(pod) => {
            let applied = engine.applied(engine.identity_of(pod));
            (applied.admin.clone(), applied.netpols.clone())
        }
        None => {
            let mut admin: Vec<AdminSlot> = engine.admin_policies().map(|(s, _)| s).collect();
            admin.sort_by(|a, b| {
                order_key(engine.admin_policy(*a)).cmp(&order_key(engine.admin_policy(*b)))
            });
            let mut netpols: Vec<NetpolSlot> = engine.network_policies().map(|(s, _)| s).collect();
            netpols.sort_by(|a, b| {
                engine
                    .network_policy(*a)
                    .id
                    .cmp(&engine.network_policy(*b).id)
            });
            (admin, netpols)
        }
    };
    let mut rows = Vec::new();
    for tier in [AdminTier::Admin, AdminTier::Baseline] {
        if tier == AdminTier::Baseline {
            for slot in &netpols {
                network_rows(engine.network_policy(*slot), &mut rows);
            }
        }
        for slot in &admin {
            let policy = engine.admin_policy(*slot);
            if policy.tier == tier {
                admin_rows(policy, &mut rows);
            }
        }
    }
    if pod.is_none() {
        // Grouped by subject and direction; the sort is stable, so evaluation order stays
        // within each group.
        rows.sort_by(|a, b| (&a.subject, a.direction).cmp(&(&b.subject, b.direction)));
    }
    rows
}

fn admin_rows(policy: &AdminPolicy, rows: &mut Vec<ExplainRow>) {
    let tier = match policy.tier {
        AdminTier::Admin => TierName::Admin,
        AdminTier::Baseline => TierName::Baseline,
    };
    for direction in [Direction::Ingress, Direction::Egress] {
        for rule in policy.rules(direction) {
            rows.push(ExplainRow {
                tier,
                policy: policy.id.clone(),
                priority: policy.priority,
                subject: policy.subject.to_string(),
                direction,
                rule: Some(rule.index),
                rule_name: rule.name.clone(),
                action: action_word(policy, rule.action),
                peers: rule
                    .peers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                ports: ports_text(rule.ports.as_deref()),
            });
        }
    }
}

fn network_rows(policy: &NetworkPolicy, rows: &mut Vec<ExplainRow>) {
    let subject = format!(
        "pods [{}] in namespace {}",
        policy.pod_selector, policy.namespace
    );
    for direction in [Direction::Ingress, Direction::Egress] {
        let Some(rules) = policy.rules(direction) else {
            continue;
        };
        let base = ExplainRow {
            tier: TierName::NetworkPolicy,
            policy: policy.id.clone(),
            priority: None,
            subject: subject.clone(),
            direction,
            rule: None,
            rule_name: None,
            action: "Isolate".into(),
            peers: "-".into(),
            ports: "-".into(),
        };
        if rules.is_empty() {
            rows.push(base);
            continue;
        }
        for rule in rules {
            let peers = match &rule.peers {
                None => "all sources and destinations".to_owned(),
                Some(peers) => peers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            rows.push(ExplainRow {
                rule: Some(rule.index),
                action: "Allow".into(),
                peers,
                ports: ports_text(Some(&rule.ports)),
                ..base.clone()
            });
        }
    }
}

/// The action as the policy's own API spells it (ANP and BANP say Allow for Accept).
fn action_word(policy: &AdminPolicy, action: crate::model::Action) -> String {
    let v1alpha1 = matches!(
        policy.id.kind,
        PolicyKind::AdminNetworkPolicy | PolicyKind::BaselineAdminNetworkPolicy
    );
    match action {
        crate::model::Action::Accept if v1alpha1 => "Allow".to_owned(),
        other => other.to_string(),
    }
}
