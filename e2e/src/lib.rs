//! netpol's end-to-end suite and chart checks.
//!
//! - `helm` runs the real Helm v4 engine (helm-python-sdk) to render, lint and install
//!   `charts/netpol`; `validate` checks rendered objects against the Kubernetes types.
//! - `cli` is the `netpol-e2e` program: against the cluster of `KUBECONFIG` it installs the
//!   chart, probes traffic between pods (`probe`, `scenario`, compared with `matrix`), and checks
//!   the webhook and the plugin live (`checks`); `--no-nodes` runs the webhook locally
//!   (`local_webhook`) against a bare API server. `preflight` decides whether it can run at all.
//! - `control_plane` starts a private kube-apiserver (envtest-style) for the tests that need a
//!   real API server (`tests/control_plane/`).

pub mod checks;
pub mod cli;
pub mod cluster;
pub mod control_plane;
pub mod helm;
pub mod local_webhook;
pub mod matrix;
pub mod preflight;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod tools;
pub mod validate;
pub mod values;

use std::path::PathBuf;

/// The repository root (the workspace this crate was built in).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` or `<repo>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// A program of the workspace as cargo built it: in `$NETPOL_BIN_DIR` when set (e.g.
/// `target/release` for benchmarks; relative to the repository), else in the debug profile's
/// folder.
pub fn binary(name: &str) -> PathBuf {
    std::env::var_os("NETPOL_BIN_DIR")
        .map(|dir| repo_root().join(dir))
        .unwrap_or_else(|| target_dir().join("debug"))
        .join(name)
}
