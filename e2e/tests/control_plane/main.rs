//! Everything that must hold against a real API server, run against a private control plane
//! (kube-apiserver v1.36, etcd, kube-controller-manager from `../shared/k8s`) started for this
//! test binary and torn down at its end.
//!
//! Without the control plane the trials are reported as ignored with the reason; under
//! `CI=true` its absence fails the run. The trials run one at a time: they share one API server,
//! and some (the webhook's registration) change what the others see.

// Shared with the enforcer's network-namespace tests, which use all of it.
#[allow(dead_code)]
#[path = "../../../enforcer/tests/netns/agent.rs"]
mod agent;
mod chart;
mod cluster_box;
mod crds;
mod kubelet;
mod observe;
mod plugin;
mod suite;
#[path = "../../../enforcer/tests/netns/tools.rs"]
mod tools;
#[path = "../../../enforcer/tests/netns/topology.rs"]
mod topology;
mod validity;
mod webhook;

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Trial};
use netpol_e2e::control_plane::{self, Availability, ControlPlane};

use suite::Suite;

type Check = fn(&Suite) -> anyhow::Result<()>;

/// Every trial, in the order they run.
const CHECKS: &[(&str, Check)] = &[
    // First: one value set installs the CRDs through the chart, which needs them absent.
    ("chart_installs_upgrades_and_uninstalls", chart::lifecycle),
    (
        "crds_install_and_become_established",
        crds::install_and_establish,
    ),
    (
        "server_and_engine_agree_on_validity",
        validity::server_agrees,
    ),
    ("plugin_reads_the_live_cluster", plugin::live),
    (
        "webhook_as_the_charts_service_account",
        webhook::as_service_account,
    ),
    // Last: it stops and restarts the control plane.
    (
        "cluster_in_a_box_traffic_equals_check",
        cluster_box::traffic,
    ),
];

/// The pod agent of the network-namespace tests (`agent.rs`), built by `cargo test --workspace`.
fn probe_binary() -> std::path::PathBuf {
    netpol_e2e::binary("netpol-netns-probe")
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // One API server for all: the trials take turns.
    args.test_threads = Some(1);
    let wanted = |name: &str| {
        args.filter.as_deref().is_none_or(|f| {
            if args.exact {
                name == f
            } else {
                name.contains(f)
            }
        }) && !args.skip.iter().any(|s| name.contains(s.as_str()))
    };
    let starting = !args.list && CHECKS.iter().any(|(name, _)| wanted(name));

    let plane = match control_plane::availability() {
        Availability::Present(script) if starting => match ControlPlane::start(&script) {
            Ok(plane) => {
                println!(
                    "control plane: {} ready in {:.1} s (work dir {})",
                    plane.server(),
                    plane.started_in.as_secs_f64(),
                    plane.log_dir().display()
                );
                Some(plane)
            }
            Err(err) => {
                eprintln!("control plane did not start: {err:#}");
                return ExitCode::FAILURE;
            }
        },
        Availability::Present(_) => None,
        Availability::Absent(why) if control_plane::required() => {
            eprintln!("CI=true and the control plane is missing: {why}");
            return ExitCode::FAILURE;
        }
        Availability::Absent(why) => {
            println!("control-plane tests skipped: {why}");
            None
        }
    };

    let suite = match plane.map(Suite::new).transpose() {
        Ok(suite) => suite.map(Arc::new),
        Err(err) => {
            eprintln!("control plane: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let trials = CHECKS
        .iter()
        .map(|&(name, check)| match &suite {
            Some(suite) => {
                let suite = Arc::clone(suite);
                Trial::test(name, move || {
                    check(&suite).map_err(|e| format!("{e:#}").into())
                })
            }
            None => Trial::test(name, || Ok(())).with_ignored_flag(true),
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // The trials are gone: the last handle stops the control plane and deletes its data.
    drop(suite);
    conclusion.exit_code()
}
