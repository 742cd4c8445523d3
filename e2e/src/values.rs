//! The chart's value sets that the tests render, lint and install: each one a way a user is
//! expected to run the chart.

use serde_json::{Value, json};

/// The value sets every test looks at: (name, values).
pub fn value_sets() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "cert-manager",
            json!({"webhook": {"certs": {"mode": "cert-manager"}}}),
        ),
        ("enforcer off", json!({"enforcer": {"enabled": false}})),
        ("webhook off", json!({"webhook": {"enabled": false}})),
        ("crds installed", json!({"crds": {"install": true}})),
        (
            "guard rails, percentages, no cut",
            json!({
                "webhook": {
                    "guardRails": [{"from": "*", "to": "kube-system/deployment/coredns", "port": 53, "protocol": "UDP"}],
                    "podDisruptionBudget": {"minAvailable": "50%"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
                },
                "enforcer": {"maxUnavailable": "10%", "cut": false, "failMode": "closed", "backend": "nftables", "queues": 4, "decisionCacheSeconds": 0, "decisionCacheMark": "0x100000"},
            }),
        ),
    ]
}
