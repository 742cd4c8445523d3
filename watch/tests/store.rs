//! The store keeps only compiled objects (and, for pods, only the changes since the engine's
//! topology was built). Whatever the order of events, rebuilds and rebuilds in flight, its
//! engine must equal the one built from scratch from the same objects.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netpol_engine::load::{Located, Object, ObjectKind};
use netpol_engine::state::{ObjectKey, State};
use netpol_engine::synthetic::{Rng, Shape, generate};
use netpol_engine::{Endpoint, Engine, Flow, Protocol};
use netpol_watch::Store;

/// A copy of `object` with its labels changed (pods and namespaces) or its pod IP moved, so
/// that selectors see a different object.
fn mutated(object: &Object, rng: &mut Rng) -> Object {
    let mut object = object.clone();
    let relabel = |labels: &mut Option<BTreeMap<String, String>>, rng: &mut Rng| {
        let labels = labels.get_or_insert_default();
        match rng.below(3) {
            0 => drop(labels.remove("app")),
            1 => drop(labels.insert("app".into(), format!("app-{}", rng.below(4)))),
            _ => drop(labels.insert("team".into(), format!("team-{}", rng.below(3)))),
        }
    };
    match &mut object {
        Object::Pod(pod) => {
            if rng.below(2) == 0 {
                relabel(&mut pod.metadata.labels, rng);
            } else if let Some(status) = pod.status.as_mut() {
                let ip = format!(
                    "10.{}.{}.{}",
                    200 + rng.below(50),
                    rng.below(250),
                    rng.below(250)
                );
                status.pod_ip = Some(ip.clone());
                status.pod_ips = None;
            }
        }
        Object::Namespace(ns) => relabel(&mut ns.metadata.labels, rng),
        _ => {}
    }
    object
}

fn located(object: Object) -> Located {
    Located {
        origin: Default::default(),
        object,
    }
}

/// Pods as (key, labels, addresses, node), namespaces and nodes as (name, labels): what the
/// engine's topology holds, in its order.
fn topology(engine: &Engine) -> (Vec<String>, Vec<String>, Vec<String>) {
    let pods = engine
        .cluster
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {:?} {:?} {}",
                p.key(),
                p.labels,
                p.ips,
                p.node,
                p.template
            )
        })
        .collect();
    let namespaces = engine
        .cluster
        .namespaces
        .iter()
        .map(|n| format!("{} {:?}", n.name, n.labels))
        .collect();
    let nodes = engine
        .cluster
        .nodes
        .iter()
        .map(|n| format!("{} {:?}", n.name, n.addresses))
        .collect();
    (pods, namespaces, nodes)
}

fn policies(engine: &Engine) -> Vec<String> {
    let mut ids: Vec<String> = engine
        .admin_policies()
        .map(|(_, p)| p.id.to_string())
        .chain(engine.network_policies().map(|(_, p)| p.id.to_string()))
        .collect();
    ids.sort();
    ids
}

/// Same topology, same policies and the same verdicts on flows between pod addresses.
fn assert_same(store: &Engine, fresh: &Engine, rng: &mut Rng, step: &str) {
    let (ours, theirs) = (topology(store), topology(fresh));
    for (part, ours, theirs) in [
        ("pods", &ours.0, &theirs.0),
        ("namespaces", &ours.1, &theirs.1),
        ("nodes", &ours.2, &theirs.2),
        ("policies", &policies(store), &policies(fresh)),
    ] {
        if let Some(at) = (0..ours.len().max(theirs.len())).find(|i| ours.get(*i) != theirs.get(*i))
        {
            panic!(
                "{part} differ after {step} at {at} (store has {}, a fresh build {}): store {:?}, fresh {:?}",
                ours.len(),
                theirs.len(),
                ours.get(at),
                theirs.get(at)
            );
        }
    }
    let addresses: Vec<IpAddr> = fresh
        .cluster
        .pods
        .iter()
        .filter_map(|p| p.ips.first().copied())
        .collect();
    for _ in 0..400 {
        let flow = Flow {
            src: Endpoint::Address(addresses[rng.below(addresses.len())]),
            dst: Endpoint::Address(addresses[rng.below(addresses.len())]),
            protocol: Protocol::Tcp,
            port: [80, 443, 5432, 8080][rng.below(4)],
        };
        let (a, b) = (store.decide(&flow), fresh.decide(&flow));
        assert_eq!(
            (a.egress.allowed, a.ingress.allowed),
            (b.egress.allowed, b.ingress.allowed),
            "{flow:?} after {step}"
        );
    }
}

#[test]
fn store_engine_equals_a_fresh_build_whatever_the_order_of_events() {
    let objects = generate(&Shape::with_pods(600));
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut reference = State::new();
    for located in &objects {
        reference.apply(located.clone());
    }
    let mut store = Store::new(reference.clone());
    assert_same(
        &store.engine(),
        &Engine::build(&reference).engine,
        &mut rng,
        "start",
    );

    let all: Vec<Object> = objects.into_iter().map(|l| l.object).collect();
    let mut in_flight = None;
    for step in 0..1500 {
        let object = &all[rng.below(all.len())];
        let key = ObjectKey::of(object);
        match rng.below(10) {
            // Delete (a later step may bring it back as it was).
            0 | 1 => {
                store.delete(&key);
                reference.delete(&key);
            }
            // Back as listed.
            2 | 3 => {
                store.apply(located(object.clone()));
                reference.apply(located(object.clone()));
            }
            // Changed.
            4..=6 => {
                let changed = mutated(reference.get(&key).map_or(object, |l| &l.object), &mut rng);
                store.apply(located(changed.clone()));
                reference.apply(located(changed));
            }
            // A rebuild now, or begun now and finished after later events.
            7 => drop(store.refresh()),
            8 => {
                if let Some(rebuild) = in_flight.take() {
                    store.finish_rebuild(netpol_watch::Rebuild::build(rebuild));
                } else {
                    in_flight = store.begin_rebuild();
                }
            }
            // A re-list of one kind: everything of that kind as the reference has it.
            _ => {
                let kind = [
                    ObjectKind::Pod,
                    ObjectKind::Namespace,
                    ObjectKind::NetworkPolicy,
                ][rng.below(3)];
                let listed: Vec<_> = reference
                    .of_kind(kind)
                    .map(|l| netpol_watch::Entry::compile(l.object.clone()))
                    .collect();
                store.reset(kind, listed);
            }
        }
        if step % 250 == 249 {
            if let Some(rebuild) = in_flight.take() {
                store.finish_rebuild(rebuild.build());
            }
            store.refresh();
            let fresh = Engine::build(&reference).engine;
            assert_same(&store.engine(), &fresh, &mut rng, &format!("step {step}"));
        }
    }
}
