//! The connectivity map on synthetic clusters: time, peak memory and size of the map with every
//! port and protocol and the addresses outside, for clusters of bare pods (no owners, 20 per
//! namespace, four NetworkPolicies per namespace) of 2,000 and 20,000 pods, doubled once each to
//! show growth, and the 150,000-pod cluster of the engine bench.
//!
//! `cargo bench -p netpol-engine --bench map` (`-- --pods N` for one size, `--large` for the
//! 150,000-pod cluster only). Prints figures; asserts nothing. The plugin's end-to-end figures
//! (from the YAML file) come from `cargo bench -p kubectl-netpol --bench map`.

use std::time::Instant;

use netpol_engine::map::{Ends, MapOptions, PortView, map};
use netpol_engine::synthetic::{self, Shape};
use netpol_engine::{Engine, State};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: Option<usize> = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let shapes: Vec<(String, Shape)> = if args.iter().any(|a| a == "--large") {
        vec![("engine bench cluster".into(), Shape::large())]
    } else if let Some(pods) = pods {
        vec![("bare pods".into(), Shape::bare_pods(pods))]
    } else {
        [2_000, 4_000, 20_000, 40_000]
            .into_iter()
            .map(|n| ("bare pods".to_owned(), Shape::bare_pods(n)))
            .chain([("engine bench cluster".to_owned(), Shape::large())])
            .collect()
    };
    for (what, shape) in shapes {
        measure(&what, &shape);
    }
}

fn measure(what: &str, shape: &Shape) {
    let mut state = State::new();
    for located in synthetic::generate(shape) {
        state.insert_new(located);
    }
    let engine = Engine::build(&state).engine;
    drop(state);
    let rss_before = status_kib("VmRSS:");
    let everything = Ends::namespaces(&[], true);
    let options = MapOptions {
        from: everything.clone(),
        to: everything,
        ports: PortView::All,
    };
    let started = Instant::now();
    let result = map(&engine, &options);
    let elapsed = started.elapsed();
    let set_entries: usize = result.sets.iter().map(Vec::len).sum();
    println!(
        "{what}: {} pods, {} NetworkPolicies, {} ANP/CNP: map in {elapsed:.2?}; {} classes \
         ({} identities), {} edges over {} class sets ({set_entries} entries), {} evaluations; \
         RSS {} MiB before, peak {} MiB",
        shape.pods(),
        shape.namespaces * shape.network_policies_per_namespace,
        shape.admin_policies,
        result.stats.classes,
        engine.identities().len(),
        result.edges.len(),
        result.sets.len(),
        result.stats.evaluations,
        rss_before / 1024,
        status_kib("VmHWM:") / 1024,
    );
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
