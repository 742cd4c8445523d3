//! End-to-end timing of the plugin on a generated 20,000-pod snapshot file: `check` of one
//! flow, `explain`, and `check` of 10,000 flows from a traffic file. Prints figures and the
//! plugin's own phase timings (NETPOL_TIMINGS); asserts nothing.
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
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
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
