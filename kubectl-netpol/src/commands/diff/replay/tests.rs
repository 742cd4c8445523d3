//! Replay agrees with `check`: every recorded flow, resolved and decided as `check` resolves
//! and decides a flow through the engine (`EndpointSpec`, `FlowSpec`, `resolve_flow`,
//! `verdict`), gets the same verdict in the base and in the changed state; on the recordings
//! under tests/testdata/replay and on random flows over a synthetic cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use netpol_engine::load::{Located, Origin};
use netpol_engine::synthetic::{self, Rng, Shape};
use netpol_engine::{EndpointSpec, Engine, FlowSpec, PortSpec, Protocol, State};

use super::decide::{FlowKey, Outcome, Replayed, replay};
use crate::input::{build_engine, check_loaded, load_paths};
use crate::recorded::{End, Place, RecordedFlow, read};

/// `check --from FROM --to TO --port PORT --protocol P` through the engine: the verdict, or
/// None when an end does not resolve.
fn check(engine: &Engine, flow: &RecordedFlow) -> Option<bool> {
    let endpoint = |end: &End| EndpointSpec::parse_in(&end.to_string(), "default").ok();
    let port = flow
        .protocol
        .has_ports()
        .then_some(PortSpec::Number(flow.port));
    let spec = FlowSpec::new(
        endpoint(&flow.from)?,
        endpoint(&flow.to)?,
        Some(flow.protocol),
        port,
    )
    .expect("a recorded flow has a valid shape");
    let resolved = engine.resolve_flow(&spec).ok()?;
    Some(engine.verdict(&resolved).allowed)
}

/// Every record against `check` in both states; returns how many changed verdict.
fn agrees_with_check(before: &Engine, after: &Engine, flows: &[(RecordedFlow, Place)]) -> usize {
    let replayed = replay(before, after, flows);
    let by_key: HashMap<&FlowKey, &Replayed> = replayed.iter().map(|r| (&r.key, r)).collect();
    let find = |flow: &RecordedFlow| -> &Replayed {
        let key = FlowKey {
            from: flow.from.clone(),
            to: flow.to.clone(),
            protocol: flow.protocol,
            port: flow.port,
        };
        by_key.get(&key).expect("every record is replayed")
    };
    let mut changed = 0;
    for (flow, place) in flows {
        let what = format!(
            "{} -> {} {}/{} (line {})",
            flow.from, flow.to, flow.protocol, flow.port, place.line
        );
        match &find(flow).outcome {
            Outcome::Decided {
                before: old,
                after: new,
            } => {
                assert_eq!(
                    Some(old.decision.allowed),
                    check(before, flow),
                    "before: {what}"
                );
                assert_eq!(
                    Some(new.decision.allowed),
                    check(after, flow),
                    "after: {what}"
                );
                changed += usize::from(old.decision.allowed != new.decision.allowed);
            }
            Outcome::Unresolvable(reason) => assert!(
                check(before, flow).is_none() || check(after, flow).is_none(),
                "{what} resolves in both states, yet: {reason}"
            ),
        }
    }
    assert_eq!(
        replayed.iter().map(|r| r.records).sum::<usize>(),
        flows.len(),
        "every record counted once"
    );
    changed
}

fn engine(paths: &[PathBuf], base: Option<&State>) -> Engine {
    let loaded = load_paths(paths, "default").expect("read manifests");
    check_loaded(&loaded).expect("valid manifests");
    let state = match base {
        Some(base) => {
            let mut state = base.clone();
            for located in loaded.objects {
                state.apply(located);
            }
            state
        }
        None => State::from_loaded(&loaded),
    };
    build_engine(&state).expect("valid policies")
}

#[test]
fn recordings_replay_as_check_decides_each_flow() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/replay");
    let loaded = load_paths(&[dir.join("manifests")], "default").expect("read");
    let base = State::from_loaded(&loaded);
    let before = build_engine(&base).expect("base");
    let after = engine(&[dir.join("change.yaml")], Some(&base));
    for format in ["observe", "hubble", "knp"] {
        let recording = read(&[dir.join(format).join("flows.jsonl")]).expect("a recording");
        assert!(!recording.flows.is_empty(), "{format}");
        let changed = agrees_with_check(&before, &after, &recording.flows);
        assert!(
            changed > 0,
            "{format}: the change turns some recorded flows"
        );
    }
}

#[test]
fn random_flows_on_a_synthetic_cluster_replay_as_check_decides_them() {
    let shape = Shape::with_pods(600);
    let objects = synthetic::generate(&shape);
    let base = State::from_objects(objects.clone());
    let mut changed = base.clone();
    changed.apply(Located {
        origin: Origin::new("change", 1, None),
        object: synthetic::changed_cnp(&objects).expect("an Admin CNP"),
    });
    let (before, after) = (
        build_engine(&base).expect("base"),
        build_engine(&changed).expect("changed"),
    );
    let pods: Vec<(String, String, String)> = before
        .cluster
        .pods
        .iter()
        .filter(|p| !p.template)
        .map(|p| {
            let ip = p.ips.first().map(ToString::to_string).unwrap_or_default();
            (p.namespace.clone(), p.name.clone(), ip)
        })
        .collect();
    let mut rng = Rng::new(7);
    let end = |rng: &mut Rng| -> End {
        let (namespace, name, ip) = &pods[rng.below(pods.len())];
        // A gone pod is rare: `check` looks for similar names, slow in a debug build.
        match rng.below(40) {
            0..=3 => End::Address(ip.parse().expect("pod ip")),
            5 | 6 => End::Address("203.0.113.9".parse().expect("ip")),
            7 => End::Address("169.254.169.254".parse().expect("ip")),
            8 => End::Address("172.16.0.1".parse().expect("node ip")),
            4 if rng.below(4) == 0 => End::Pod {
                namespace: namespace.clone(),
                name: format!("{name}-gone"),
            },
            _ => End::Pod {
                namespace: namespace.clone(),
                name: name.clone(),
            },
        }
    };
    let mut flows = Vec::new();
    for line in 1..=2_000 {
        let protocol = [Protocol::Tcp, Protocol::Tcp, Protocol::Udp, Protocol::Icmp][rng.below(4)];
        let port = if protocol.has_ports() {
            [8080, 9090, 53, 443, 5432][rng.below(5)]
        } else {
            0
        };
        let flow = RecordedFlow {
            from: end(&mut rng),
            to: end(&mut rng),
            protocol,
            port,
            verdict: None,
            time: None,
        };
        // Recorders see busy flows again and again.
        let repeats = 1 + usize::from(rng.below(3) == 0);
        for _ in 0..repeats {
            flows.push((flow.clone(), Place { file: 0, line }));
        }
    }
    let changed = agrees_with_check(&before, &after, &flows);
    assert!(
        changed > 0,
        "the change turns some of {} flows",
        flows.len()
    );
}
