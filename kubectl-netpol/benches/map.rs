//! `kubectl netpol matrix` end to end on generated snapshots of bare pods (no owners, 20 per
//! namespace, four NetworkPolicies per namespace with namespace selectors, named ports and a
//! range): 2,000 and 20,000 pods and their doubles, written as YAML; and the engine bench's
//! 150,000-pod cluster, written as JSON (`kubectl get -o json`'s form; YAML of that size takes
//! several seconds to parse alone). For each: wall time (best of 3), the plugin's peak resident
//! memory (VmHWM, sampled every 2 ms while it runs), the output's size, and its phase timings.
//!
//! `cargo bench -p kubectl-netpol --bench map` (`-- --pods N` for one YAML size, `--no-large`
//! to skip the 150,000-pod cluster, `--large` for it alone, `--keep DIR` to keep the snapshots). Prints figures;
//! asserts nothing.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netpol_engine::synthetic::{self, Shape};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: Option<usize> = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    // `--keep DIR` leaves the snapshots (and the last output) there.
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("netpol-map-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).expect("temp dir");
    // `--large` runs only the 150,000-pod cluster.
    let large_only = args.iter().any(|a| a == "--large");
    let sizes = match pods {
        Some(n) => vec![n],
        None if large_only => vec![],
        None => vec![2_000, 4_000, 20_000, 40_000],
    };
    for pods in sizes {
        let shape = Shape::bare_pods(pods);
        let snapshot = dir.join(format!("bare-{pods}.yaml"));
        write_snapshot(&snapshot, &shape, false);
        measure_all(&format!("{pods} bare pods, YAML"), pods, &snapshot, &dir);
    }
    if pods.is_none() && !args.iter().any(|a| a == "--no-large") {
        let snapshot = dir.join("large.json");
        write_snapshot(&snapshot, &Shape::large(), true);
        let snap = snapshot.to_str().expect("utf-8 path");
        measure(
            "150,000 pods (engine bench cluster), JSON: matrix --all-ports --external -o json",
            &[
                "matrix",
                "-f",
                snap,
                "--all-ports",
                "--external",
                "-o",
                "json",
            ],
            &dir,
            1,
        );
    }
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Pictures refuse more than 200 nodes; above 4,000 pods (200 namespaces) they are drawn for
/// ten namespaces chosen with `--in`, as a user would.
const PICTURE_PODS: usize = 4_000;

fn measure_all(what: &str, pods: usize, snapshot: &Path, dir: &Path) {
    let snap = snapshot.to_str().expect("utf-8 path");
    let size = std::fs::metadata(snapshot).map(|m| m.len()).unwrap_or(0);
    println!("{what}: {:.1} MiB", size as f64 / (1 << 20) as f64);
    let chosen: Vec<String> = (0..10)
        .flat_map(|i| ["--in".to_owned(), synthetic::namespace_name(i)])
        .collect();
    let picture = |format: &'static str| {
        let mut args = vec!["--all-ports", "-o", format];
        if pods > PICTURE_PODS {
            args.extend(chosen.iter().map(String::as_str));
        }
        args
    };
    let ten = if pods > PICTURE_PODS {
        ", ten namespaces"
    } else {
        ""
    };
    for (label, extra) in [
        ("table, container ports".to_owned(), vec![]),
        (
            "--all-ports --external -o json".to_owned(),
            vec!["--all-ports", "--external", "-o", "json"],
        ),
        ("--all-ports table".to_owned(), vec!["--all-ports"]),
        (format!("--all-ports -o svg{ten}"), picture("svg")),
        (format!("--all-ports -o dot{ten}"), picture("dot")),
    ] {
        let mut args = vec!["matrix", "-f", snap];
        args.extend(extra);
        measure(&format!("  {label}"), &args, dir, 3);
    }
}

fn measure(what: &str, args: &[&str], dir: &Path, runs: usize) {
    let output = dir.join("out");
    let mut best = (Duration::MAX, 0u64, String::new());
    for _ in 0..runs {
        let file = std::fs::File::create(&output).expect("output file");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-netpol"))
            .args(args)
            .env("NETPOL_TIMINGS", "1")
            .stdout(file)
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl-netpol");
        let status = format!("/proc/{}/status", child.id());
        let mut peak = 0u64;
        let status_code = loop {
            if let Some(kib) = hwm_kib(&status) {
                peak = peak.max(kib);
            }
            if let Some(code) = child.try_wait().expect("wait") {
                break code;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = started.elapsed();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
        }
        assert!(status_code.success(), "{what}: {stderr}");
        if elapsed < best.0 {
            let phases = stderr
                .lines()
                .map(|l| l.trim_start_matches("timing: "))
                .collect::<Vec<_>>()
                .join("; ");
            best = (elapsed, peak, phases);
        }
    }
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    println!(
        "{what}: {:.2?}, peak RSS {} MiB, output {} [{}]",
        best.0,
        best.1 / 1024,
        human(size),
        best.2
    );
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn hwm_kib(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn write_snapshot(path: &Path, shape: &Shape, json: bool) {
    let items: Vec<serde_json::Value> = synthetic::generate(shape)
        .iter()
        .map(|l| l.object.to_json())
        .collect::<Result<_, _>>()
        .expect("serialize");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let text = if json {
        serde_json::to_string(&list).expect("json")
    } else {
        serde_yaml_ng::to_string(&list).expect("yaml")
    };
    let mut file = std::fs::File::create(path).expect("create snapshot");
    file.write_all(text.as_bytes()).expect("write snapshot");
}
