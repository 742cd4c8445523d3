//! The verdicts each e2e scenario states agree with the engine on the probe pods' layout, so a
//! scenario that fails on a cluster points at the dataplane, not at the scenario.

use netpol_e2e::matrix::{Protocol, Verdict};
use netpol_e2e::probe;
use netpol_e2e::scenario::Scenario;
use netpol_engine::{EndpointSpec, Engine, Flow, State, read_str};
use serde_json::{Value, json};

/// The probe namespaces and pods, with addresses and nodes as a cluster would give them.
fn layout() -> Vec<Value> {
    let mut objects = probe::namespaces();
    for (index, mut pod) in probe::pods(probe::DEFAULT_IMAGE).into_iter().enumerate() {
        pod["spec"]["nodeName"] = json!(format!("node-{}", index % 2));
        pod["status"] = json!({"podIPs": [{"ip": format!("10.244.0.{}", index + 10)}]});
        objects.push(pod);
    }
    objects
}

fn engine_protocol(protocol: Protocol) -> netpol_engine::Protocol {
    match protocol {
        Protocol::Tcp => netpol_engine::Protocol::Tcp,
        Protocol::Udp => netpol_engine::Protocol::Udp,
        Protocol::Sctp => netpol_engine::Protocol::Sctp,
    }
}

#[test]
fn stated_verdicts_match_the_engine() {
    let dir = netpol_e2e::repo_root().join("e2e/scenarios");
    let scenarios = Scenario::load_dir(&dir).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for scenario in &scenarios {
        let mut objects = layout();
        objects.extend(scenario.policies.iter().cloned());
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
        let loaded = read_str(&scenario.name, &list, "default");
        assert!(
            loaded.errors.is_empty(),
            "{}: {:?}",
            scenario.name,
            loaded.errors
        );
        assert!(
            loaded.skipped.is_empty(),
            "{}: skipped objects",
            scenario.name
        );
        let build = Engine::build(&State::from_loaded(&loaded));
        assert!(
            build.errors.is_empty(),
            "{}: {:?}",
            scenario.name,
            build.errors
        );
        let engine = build.engine;
        let resolve = |text: &str| {
            let spec: EndpointSpec = text.parse().unwrap();
            engine.resolve(&spec).unwrap()
        };
        for stated in &scenario.expect {
            count += 1;
            let flow = Flow {
                src: resolve(&stated.from),
                dst: resolve(&stated.to),
                protocol: engine_protocol(stated.protocol),
                port: stated.port,
            };
            let allowed = engine.verdict(&flow).allowed;
            let engine_says = if allowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            if engine_says != stated.verdict {
                failures.push(format!(
                    "{}: {} -> {} {}/{:?}: the scenario says {:?}, the engine {engine_says:?}",
                    scenario.name,
                    stated.from,
                    stated.to,
                    stated.port,
                    stated.protocol,
                    stated.verdict
                ));
            }
        }
    }
    assert!(count > 10, "only {count} stated verdicts");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn engine_with(extra: Vec<Value>) -> (State, Engine) {
    let mut objects = layout();
    objects.extend(extra);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
    let loaded = read_str("checks", &list, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let state = State::from_loaded(&loaded);
    let build = Engine::build(&state);
    assert!(build.errors.is_empty(), "{:?}", build.errors);
    (state, build.engine)
}

/// The premises of the live webhook and plugin checks hold in the engine: the clashing CNP
/// conflicts with the guard ANP, one priority up it does not, the guard lets e2e-y in, and the
/// lockdown isolates e2e-x/a.
#[test]
fn live_checks_rest_on_what_the_engine_decides() {
    use netpol_e2e::checks;
    let conflicts = |extra: Vec<Value>| {
        let (state, engine) = engine_with(extra);
        netpol_engine::lint::lint(&state, &engine)
            .into_iter()
            .filter(|f| f.check == "priority-conflict")
            .count()
    };
    let cases = [
        (
            "equal priority, opposite actions",
            vec![
                checks::anp_guard(),
                checks::cnp_deny("e2e-clash", checks::PRIORITY),
            ],
            true,
        ),
        (
            "one priority up",
            vec![
                checks::anp_guard(),
                checks::cnp_deny("e2e-free", checks::PRIORITY + 1),
            ],
            false,
        ),
    ];
    for (what, extra, conflict) in cases {
        assert_eq!(conflicts(extra) > 0, conflict, "{what}");
    }
    let flow = |engine: &Engine, from: &str, to: &str| Flow {
        src: engine
            .resolve(&from.parse::<EndpointSpec>().unwrap())
            .unwrap(),
        dst: engine
            .resolve(&to.parse::<EndpointSpec>().unwrap())
            .unwrap(),
        protocol: netpol_engine::Protocol::Tcp,
        port: 80,
    };
    let (_, engine) = engine_with(vec![checks::anp_guard()]);
    assert!(engine.verdict(&flow(&engine, "e2e-y/b", "e2e-x/a")).allowed);
    let (_, engine) = engine_with(vec![checks::np_lockdown()]);
    assert!(!engine.verdict(&flow(&engine, "e2e-x/b", "e2e-x/a")).allowed);
}
