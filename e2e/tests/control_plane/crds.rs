//! The CRDs we ship (in `crds/` and in the chart) install on a real API server.

use anyhow::{Result, ensure};
use netpol_e2e::repo_root;

use crate::suite::Suite;

pub fn install_and_establish(suite: &Suite) -> Result<()> {
    let shipped = suite.apply_crds(&repo_root().join("crds"))?;
    let chart = suite.apply_crds(&repo_root().join("charts/netpol/crds-files"))?;
    ensure!(
        shipped.len() == 3,
        "crds/ holds {} CRDs, not 3",
        shipped.len()
    );
    ensure!(
        chart == shipped,
        "the chart ships {chart:?}, crds/ {shipped:?}"
    );
    suite.ensure_crds()?;
    for kind in [
        "adminnetworkpolicies",
        "baselineadminnetworkpolicies",
        "clusternetworkpolicies",
    ] {
        let out = suite.kubectl.run(&["get", kind, "-o", "name"], None)?;
        ensure!(out.success, "kubectl get {kind}: {}", out.stderr.trim());
    }
    Ok(())
}
