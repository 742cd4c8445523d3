//! The krew manifest follows krew's rules, and the release archive installs the way krew
//! installs it: unpacked, `bin` on PATH, runnable as `kubectl netpol`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn manifest(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read manifest");
    serde_yaml_ng::from_str(&text).expect("manifest is YAML")
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// Every rule krew's validation applies to a plugin manifest, as a list of problems.
fn krew_problems(m: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    want(
        m["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2",
        "apiVersion",
    );
    want(m["kind"] == "Plugin", "kind");
    let name = m["metadata"]["name"].as_str().unwrap_or_default();
    want(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "metadata.name",
    );
    let spec = &m["spec"];
    let version = spec["version"].as_str().unwrap_or_default();
    let semver = version.strip_prefix('v').is_some_and(|v| {
        let core = v.split(['-', '+']).next().unwrap_or_default();
        core.split('.').count() == 3
            && core
                .split('.')
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    });
    want(semver, "spec.version: semver with a leading v");
    want(
        version == format!("v{}", env!("CARGO_PKG_VERSION")),
        "spec.version matches the crate version",
    );
    for field in ["shortDescription", "description", "caveats", "homepage"] {
        want(
            spec[field].as_str().is_some_and(|s| !s.trim().is_empty()),
            &format!("spec.{field}"),
        );
    }
    want(
        spec["shortDescription"]
            .as_str()
            .is_some_and(|s| s.len() <= 50),
        "spec.shortDescription at most 50 characters",
    );
    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    want(!platforms.is_empty(), "spec.platforms");
    for (i, p) in platforms.iter().enumerate() {
        let labels = &p["selector"]["matchLabels"];
        want(
            ["linux", "darwin", "windows"].contains(&labels["os"].as_str().unwrap_or_default()),
            &format!("platforms[{i}] os"),
        );
        want(
            ["amd64", "arm64"].contains(&labels["arch"].as_str().unwrap_or_default()),
            &format!("platforms[{i}] arch"),
        );
        let uri = p["uri"].as_str().unwrap_or_default();
        want(
            uri.starts_with("https://") && uri.ends_with(".tar.gz") && uri.contains(version),
            &format!("platforms[{i}] uri"),
        );
        want(
            p["sha256"].as_str().is_some_and(is_hex64),
            &format!("platforms[{i}] sha256: 64 lowercase hex"),
        );
        let bin = p["bin"].as_str().unwrap_or_default();
        let windows = labels["os"] == "windows";
        want(
            bin == if windows {
                "kubectl-netpol.exe"
            } else {
                "kubectl-netpol"
            },
            &format!("platforms[{i}] bin"),
        );
    }
    problems
}

#[test]
fn manifest_follows_krew_rules() {
    let problems = krew_problems(&manifest(&repo().join("krew-manifest.yaml")));
    assert!(problems.is_empty(), "krew-manifest.yaml: {problems:?}");
}

#[test]
fn validation_catches_broken_manifests() {
    let good = manifest(&repo().join("krew-manifest.yaml"));
    let mut bad = good.clone();
    bad["spec"]["version"] = "0.1".into();
    bad["spec"]["platforms"][0]["sha256"] = "ABC".into();
    bad["spec"]["platforms"][0]["uri"] = "http://example.com/x.zip".into();
    let problems = krew_problems(&bad);
    assert_eq!(
        problems,
        [
            "spec.version: semver with a leading v",
            "spec.version matches the crate version",
            "platforms[0] uri",
            "platforms[0] sha256: 64 lowercase hex"
        ]
    );
}

#[test]
fn release_archive_installs_like_krew_and_runs() {
    let work = std::env::temp_dir().join(format!("netpol-krew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temp dir");
    let manifest_copy = work.join("krew-manifest.yaml");
    std::fs::copy(repo().join("krew-manifest.yaml"), &manifest_copy).expect("copy manifest");
    let out = Command::new("bash")
        .arg(repo().join("scripts/release-plugin.sh"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_kubectl-netpol"),
            "--os",
            "linux",
            "--arch",
            "amd64",
            "--out",
        ])
        .arg(work.join("dist"))
        .arg("--manifest")
        .arg(&manifest_copy)
        .output()
        .expect("release script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (archive, sha) = stdout.trim().split_once(' ').expect("archive and sha");

    // The manifest now names the archive's digest, as krew will verify it.
    let m = manifest(&manifest_copy);
    assert!(krew_problems(&m).is_empty());
    assert_eq!(m["spec"]["platforms"][0]["sha256"], sha);
    let digest = Command::new("sha256sum")
        .arg(archive)
        .output()
        .expect("sha256sum");
    assert!(String::from_utf8_lossy(&digest.stdout).starts_with(sha));

    // Unpack into a store and put `bin` on PATH, as krew does.
    let store = work.join("store/netpol/v0.1.0");
    std::fs::create_dir_all(&store).expect("store");
    let untar = Command::new("tar")
        .arg("xzf")
        .arg(archive)
        .arg("-C")
        .arg(&store)
        .status()
        .expect("tar");
    assert!(untar.success());
    assert!(store.join("LICENSE").is_file());
    let bin_dir = work.join("bin");
    std::fs::create_dir_all(&bin_dir).expect("bin");
    std::os::unix::fs::symlink(store.join("kubectl-netpol"), bin_dir.join("kubectl-netpol"))
        .expect("link");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("kubectl-netpol")
        .arg("version")
        .env("PATH", &path)
        .output()
        .expect("run installed plugin");
    assert!(
        String::from_utf8_lossy(&run.stdout).starts_with("kubectl-netpol 0.1.0"),
        "{:?}",
        run
    );
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        let run = Command::new("kubectl")
            .args(["netpol", "version"])
            .env("PATH", &path)
            .output()
            .expect("kubectl netpol");
        assert!(
            String::from_utf8_lossy(&run.stdout).starts_with("kubectl-netpol 0.1.0"),
            "{:?}",
            run
        );
    }
    std::fs::remove_dir_all(&work).ok();
}
