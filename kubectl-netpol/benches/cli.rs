//! End-to-end timing of the plugin on a generated 20,000-pod snapshot file: `check` of one
//! flow, `explain`, `check` of 10,000 flows from a traffic file, and `diff --flows` replaying
//! 100,000 recorded flows. Prints figures and the plugin's own phase timings
//! (NETPOL_TIMINGS); asserts nothing.
//!
//! `cargo bench -p kubectl-netpol --bench cli` (`-- --pods N` for another size).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netpol_engine::synthetic::{self, Shape};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let shape = Shape::with_pods(pods.unwrap_or(20_000));
    // `--keep DIR` leaves the snapshot and traffic file there for profiling.
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("netpol-cli-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).expect("temp dir");
    let snapshot = dir.join("snapshot.yaml");
    let objects = synthetic::generate(&shape);
    write_snapshot(&snapshot, &objects);
    let size = std::fs::metadata(&snapshot).map(|m| m.len()).unwrap_or(0);
    println!(
        "snapshot: {} pods, {} objects, {:.1} MiB of YAML",
        shape.pods(),
        objects.len(),
        size as f64 / (1 << 20) as f64
    );

    let traffic = dir.join("traffic.yaml");
    write_traffic(&traffic, &shape, 10_000);
    let snap = snapshot.to_str().expect("utf-8 path");
    let from = format!(
        "{}/deployment/{}",
        synthetic::namespace_name(0),
        synthetic::deployment_name(1)
    );
    let to = format!(
        "{}/deployment/{}",
        synthetic::namespace_name(1),
        synthetic::deployment_name(0)
    );
    run(
        "check one flow",
        &[
            "check", "-f", snap, "--from", &from, "--to", &to, "--port", "http",
        ],
    );
    run("explain", &["explain", "-f", snap]);
    run("explain --pod", &["explain", "-f", snap, "--pod", &to]);
    run(
        "check 10,000 flows (--traffic)",
        &[
            "check",
            "-f",
            snap,
            "--traffic",
            traffic.to_str().expect("path"),
        ],
    );
    run(
        "check 10,000 flows (--traffic, -o json)",
        &[
            "check",
            "-f",
            snap,
            "--traffic",
            traffic.to_str().expect("path"),
            "-o",
            "json",
        ],
    );
    let change = dir.join("change.yaml");
    let changed = synthetic::changed_cnp(&objects).expect("an Admin CNP");
    std::fs::write(
        &change,
        serde_yaml_ng::to_string(&changed.to_json().expect("serialize")).expect("yaml"),
    )
    .expect("write change");
    let flows = dir.join("flows.jsonl");
    let distinct = write_flows(&flows, &objects, 100_000);
    println!("recorded flows: 100,000 events, {distinct} distinct");
    for (what, output) in [
        ("diff --flows: replay 100,000 recorded flows", "table"),
        (
            "diff --flows: replay 100,000 recorded flows, -o json",
            "json",
        ),
    ] {
        run(
            what,
            &[
                "diff",
                "--base",
                snap,
                "-f",
                change.to_str().expect("path"),
                "--flows",
                flows.to_str().expect("path"),
                "-o",
                output,
            ],
        );
    }
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// `count` netpol observe events, as the enforcers would record them: conversations between
/// the snapshot's pods (a tenth to or from addresses outside the cluster), busy ones seen more
/// often, as in real traffic; returns how many records are distinct flows.
fn write_flows(path: &Path, objects: &[netpol_engine::load::Located], count: usize) -> usize {
    let pods: Vec<(String, String)> = objects
        .iter()
        .filter_map(|l| match &l.object {
            netpol_engine::load::Object::Pod(pod) => {
                let name = format!(
                    "{}/{}",
                    pod.metadata.namespace.as_deref()?,
                    pod.metadata.name.as_deref()?
                );
                let ip = pod.status.as_ref()?.pod_ips.as_ref()?.first()?.ip.clone();
                Some((name, ip))
            }
            _ => None,
        })
        .collect();
    let mut rng = synthetic::Rng::new(11);
    let conversations: Vec<(String, String, String, String)> = (0..count / 2)
        .map(|_| {
            let (from, from_ip) = pods[rng.below(pods.len())].clone();
            let (to, to_ip) = pods[rng.below(pods.len())].clone();
            let outside = format!("203.0.113.{}", rng.below(250) + 1);
            match rng.below(20) {
                0 => (outside.clone(), outside, to, to_ip),
                1 => (from, from_ip, outside.clone(), outside),
                _ => (from, from_ip, to, to_ip),
            }
        })
        .collect();
    let mut text = String::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..count {
        // The smaller of two draws: low-numbered conversations are the busy ones.
        let n = conversations.len();
        let c = rng.below(n).min(rng.below(n));
        let (from, from_ip, to, to_ip) = &conversations[c];
        let (protocol, port) = [("TCP", 8080), ("TCP", 9090), ("UDP", 53), ("TCP", 443)][c % 4];
        seen.insert((from.to_owned(), to.to_owned(), port));
        text.push_str(&format!(
            "{{\"time\":\"2026-12-03T19:{:02}:{:02}.{:06}Z\",\"node\":\"node-{:05}\",\"direction\":\"egress\",\"from\":\"{from}\",\"fromIp\":\"{from_ip}\",\"to\":\"{to}\",\"toIp\":\"{to_ip}\",\"protocol\":\"{protocol}\",\"port\":{port},\"verdict\":\"allowed\",\"decidedBy\":{{\"tier\":\"default\",\"policy\":null,\"rule\":null}}}}\n",
            i / 6000 % 60,
            i / 100 % 60,
            i % 100 * 10_000,
            i % 500,
        ));
    }
    std::fs::write(path, text).expect("write flows");
    seen.len()
}

fn run(what: &str, args: &[&str]) {
    let mut best = Duration::MAX;
    let mut phases = String::new();
    for _ in 0..3 {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
            .args(args)
            .env("NETPOL_TIMINGS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run kubectl-netpol");
        let elapsed = started.elapsed();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if elapsed < best {
            best = elapsed;
            phases = String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(|l| l.trim_start_matches("timing: "))
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    println!("{what}: {best:.2?} end to end (best of 3) [{phases}]");
}

fn write_snapshot(path: &Path, objects: &[netpol_engine::load::Located]) {
    let items: Vec<serde_json::Value> = objects
        .iter()
        .map(|l| l.object.to_json())
        .collect::<Result<_, _>>()
        .expect("serialize");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut file = std::fs::File::create(path).expect("create snapshot");
    file.write_all(serde_yaml_ng::to_string(&list).expect("yaml").as_bytes())
        .expect("write snapshot");
}

fn write_traffic(path: &Path, shape: &Shape, count: usize) {
    let mut text = String::new();
    for i in 0..count {
        let src = format!(
            "{}/deployment/{}",
            synthetic::namespace_name(i % shape.namespaces),
            synthetic::deployment_name(i % 5)
        );
        let dst = format!(
            "{}/deployment/{}",
            synthetic::namespace_name((i * 7 + 1) % shape.namespaces),
            synthetic::deployment_name((i + 1) % 5)
        );
        let port = ["8080", "http", "9090", "53"][i % 4];
        text.push_str(&format!("- {{from: {src}, to: {dst}, port: {port}}}\n"));
    }
    std::fs::write(path, text).expect("write traffic");
}
