//! Verdict events through the real decision path: a denied connection names its policy and
//! rule; an audited policy's would-deny is reported for exactly the connections it would deny;
//! allowed connections are sampled; per-policy counters count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::verdict::Shared;

/// A CNP on trial: db may no longer take connections from api.
const AUDITED: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: lock-db, annotations: {netpol.io/enforcement: audit}}
spec:
  tier: Admin
  priority: 5
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress: [{name: no-api, action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: api}}}}]}]
"#;

/// IPv4 TCP bytes from `src` to `dst` port `port`.
fn tcp(src: [u8; 4], dst: [u8; 4], port: u16) -> Vec<u8> {
    let mut bytes = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
    bytes.extend(src);
    bytes.extend(dst);
    bytes.extend([0x30, 0x39]);
    bytes.extend(port.to_be_bytes());
    bytes.extend([0; 16]);
    bytes
}

/// The ring's lines, once `count` are there (or after 5 s).
fn lines(events: &Events, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (lines, _) = events.ring.since(0, Duration::from_millis(50));
        if lines.len() >= count || Instant::now() > deadline {
            return lines
                .iter()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect();
        }
    }
}

fn counter(text: &str, prefix: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn denied_and_audited_connections_name_their_policy_and_rule() {
    let metrics = Arc::new(Metrics::default());
    let snapshot = crate::decide::tests::snapshot_with("node-a", AUDITED);
    let mut shared = Shared::new(snapshot, metrics.clone(), false);
    let settings = EventSettings {
        node: "node-a".into(),
        denied_per_second: 1000,
        sample_allowed: 2,
        ring: 100,
        log: false,
    };
    let events = Events::start(settings, metrics.clone()).expect("writer");
    shared.events = Some(events.clone());
    let judge = |bytes: Vec<u8>| shared.judge_with(&shared.snapshot(), &bytes, Instant::now());
    let (web, db, api) = ([10, 0, 1, 2], [10, 0, 1, 3], [10, 0, 2, 2]);
    // web -> db 5432: web may send nothing but DNS. Denied, at web's egress (both are local;
    // egress is decided first).
    assert!(!judge(tcp(web, db, 5432)).accept);
    // api -> db 5432: allowed by db's policy rule 0; the audited CNP would deny it.
    assert!(judge(tcp(api, db, 5432)).accept);
    // web -> db again: still denied, and the audited CNP does not change that.
    assert!(!judge(tcp(web, db, 80)).accept);
    // Allowed and unchanged: sampled, one in two (the first one is).
    assert!(judge(tcp(db, api, 80)).accept);
    assert!(judge(tcp(db, api, 81)).accept);

    let got = lines(&events, 4);
    assert_eq!(got.len(), 4, "{got:#?}");
    let first = &got[0];
    assert_eq!(first["verdict"], "denied");
    assert_eq!(first["from"], "shop/web");
    assert_eq!(first["to"], "shop/db");
    assert_eq!(first["direction"], "egress");
    assert_eq!(first["port"], 5432);
    assert_eq!(first["decidedBy"]["tier"], "networkPolicy");
    assert_eq!(first["decidedBy"]["isolatedBy"][0]["name"], "web");
    assert!(first.get("audit").is_none(), "{first}");

    let audited = &got[1];
    assert_eq!(audited["verdict"], "allowed");
    assert_eq!(audited["decidedBy"]["policy"]["name"], "db");
    assert_eq!(audited["decidedBy"]["rule"]["index"], 0);
    assert_eq!(audited["audit"]["verdict"], "would-deny");
    assert_eq!(audited["audit"]["decidedBy"]["policy"]["name"], "lock-db");
    assert_eq!(audited["audit"]["decidedBy"]["rule"]["name"], "no-api");

    assert!(got[2].get("audit").is_none() && got[2]["verdict"] == "denied");
    assert_eq!(got[3]["verdict"], "allowed");
    assert_eq!(got[3]["port"], 80);

    let text = metrics.encode();
    let policy = |kind: &str, namespace: &str, name: &str, verdict: &str| {
        counter(
            &text,
            &format!(
                "netpol_enforcer_policy_verdicts_total{{kind=\"{kind}\",namespace=\"{namespace}\",name=\"{name}\",verdict=\"{verdict}\"}}"
            ),
        )
    };
    assert_eq!(
        policy("ClusterNetworkPolicy", "", "lock-db", "would-deny"),
        1,
        "{text}"
    );
    assert_eq!(
        policy("NetworkPolicy", "shop", "web", "denied"),
        2,
        "{text}"
    );
    assert_eq!(
        policy("NetworkPolicy", "shop", "db", "allowed"),
        1,
        "{text}"
    );
    assert_eq!(
        counter(
            &text,
            r#"netpol_enforcer_flow_verdicts_total{verdict="denied",tier="networkPolicy",direction="egress"}"#
        ),
        2,
        "{text}"
    );
}

#[test]
fn events_over_the_rate_are_counted_not_lost_silently() {
    let metrics = Arc::new(Metrics::default());
    let mut shared = Shared::new(
        crate::decide::tests::snapshot("node-a"),
        metrics.clone(),
        false,
    );
    let settings = EventSettings {
        node: "node-a".into(),
        denied_per_second: 2,
        sample_allowed: 0,
        ring: 100,
        log: false,
    };
    shared.events = Some(Events::start(settings, metrics.clone()).expect("writer"));
    for port in 0..10 {
        let bytes = tcp([10, 0, 1, 2], [10, 0, 1, 3], 6000 + port);
        assert!(
            !shared
                .judge_with(&shared.snapshot(), &bytes, Instant::now())
                .accept
        );
    }
    let events = shared.events.as_ref().expect("events");
    let written = lines(events, 2).len() as u64;
    let dropped = counter(
        &metrics.encode(),
        r#"netpol_enforcer_flow_events_dropped_total{reason="rate-limit"}"#,
    );
    // A second boundary may fall inside the loop: 2 to 4 written; every other one counted.
    assert!((2..=4).contains(&written), "{written}");
    assert_eq!(written + dropped, 10);
}
