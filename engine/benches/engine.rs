//! Engine benchmark on the synthetic cluster: index build time and memory, uncached and
//! cached verdict latency, and the impact of changing one ClusterNetworkPolicy.
//!
//! `cargo bench -p netpol-engine --bench engine` (the 150,000-pod cluster);
//! `-- --pods 20000` for a smaller one. Prints figures; asserts nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use netpol_engine::engine::compile_policy;
use netpol_engine::impact::{ImpactOptions, impact};
use netpol_engine::synthetic::{self, Shape};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, VerdictCache};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let shape = pods.map_or_else(Shape::large, Shape::with_pods);
    println!(
        "synthetic cluster: {} pods, {} namespaces, {} nodes, {} NetworkPolicies, {} ANP/CNP, 1 BANP",
        shape.pods(),
        shape.namespaces,
        shape.nodes,
        shape.namespaces * shape.network_policies_per_namespace,
        shape.admin_policies
    );

    let started = Instant::now();
    let objects = synthetic::generate(&shape);
    let changed = synthetic::changed_cnp(&objects).expect("the synthetic cluster has an Admin CNP");
    let mut state = State::new();
    for located in objects {
        state.insert_new(located);
    }
    println!(
        "generate objects: {:.2?} ({} objects)",
        started.elapsed(),
        state.len()
    );
    let rss_before = rss_kib();

    let started = Instant::now();
    let build = Engine::build(&state);
    let build_time = started.elapsed();
    assert!(
        build.errors.is_empty(),
        "synthetic policies compile: {:?}",
        &build.errors[..build.errors.len().min(3)]
    );
    let engine = build.engine;
    let rss_after = rss_kib();
    println!(
        "index build: {build_time:.2?}; {} identities; RSS grew {} MiB during the build (the index); \
         the process held {} MiB of parsed objects before it (peak {} MiB)",
        engine.identities().len(),
        rss_after.saturating_sub(rss_before) / 1024,
        rss_before / 1024,
        peak_rss_kib() / 1024
    );

    let started = Instant::now();
    let findings = netpol_engine::lint::lint(&state, &engine);
    let mut counts = std::collections::BTreeMap::new();
    for finding in &findings {
        *counts.entry(finding.check).or_insert(0usize) += 1;
    }
    println!(
        "lint: {:.2?} ({} findings: {counts:?})",
        started.elapsed(),
        findings.len()
    );
    drop(state);
    let flows = sample_flows(&engine, 200_000);
    let mut latencies = time_each(&flows, |f| {
        black_box(engine.decide(f));
    });
    report("uncached decision (no walkthrough)", &mut latencies);
    let mut latencies = time_each(&flows[..20_000], |f| {
        black_box(engine.verdict(f));
    });
    report("uncached verdict with walkthrough", &mut latencies);

    let cache = VerdictCache::new(1 << 20);
    let hot = &flows[..50_000];
    for f in hot {
        cache.decide(&engine, f);
    }
    let mut latencies = time_each(hot, |f| {
        black_box(cache.decide(&engine, f));
    });
    report("cached decision", &mut latencies);
    let started = Instant::now();
    for _ in 0..4 {
        for f in hot {
            black_box(cache.decide(&engine, f));
        }
    }
    println!(
        "cached decision, batch mean: {:.0} ns",
        started.elapsed().as_nanos() as f64 / (4 * hot.len()) as f64
    );

    let policy = compile_policy(&changed)
        .expect("a policy kind")
        .expect("compiles");
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        let after = engine.with_changes(vec![policy.clone()], &[]);
        let result = impact(&engine, &after, &ImpactOptions::default());
        times.push(started.elapsed());
        last = Some(result);
    }
    times.sort();
    let result = last.expect("ran");
    println!(
        "impact of changing one CNP: median {:.2?}, max {:.2?} ({} evaluations; {} pod pairs newly denied in {} groups, {} newly allowed)",
        times[times.len() / 2],
        times[times.len() - 1],
        result.evaluations,
        result.newly_denied_count,
        result.newly_denied.len(),
        result.newly_allowed_count
    );
}

/// Random pod-to-pod flows on ports the policies mention, plus some external addresses.
fn sample_flows(engine: &Engine, count: usize) -> Vec<Flow> {
    let pods = engine.cluster.pods.len() as u64;
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ports = [8080, 9090, 8443, 53, 5432];
    (0..count)
        .map(|i| {
            let src = Endpoint::Pod((next() % pods) as u32);
            let dst = if i % 10 == 0 {
                Endpoint::Address(format!("198.51.{}.7", next() % 256).parse().expect("ip"))
            } else {
                Endpoint::Pod((next() % pods) as u32)
            };
            let protocol = if i % 7 == 0 {
                Protocol::Udp
            } else {
                Protocol::Tcp
            };
            Flow {
                src,
                dst,
                protocol,
                port: ports[(next() % ports.len() as u64) as usize],
            }
        })
        .collect()
}

fn time_each(flows: &[Flow], mut run: impl FnMut(&Flow)) -> Vec<Duration> {
    flows
        .iter()
        .map(|f| {
            let started = Instant::now();
            run(f);
            started.elapsed()
        })
        .collect()
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "{what}: p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, mean {:.2?} over {} flows",
        at(0.5),
        at(0.99),
        at(0.999),
        mean,
        latencies.len()
    );
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}
