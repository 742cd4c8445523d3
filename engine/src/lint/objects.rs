//! Checks on whole objects: definitions repeated in the input, and both generations of the
//! admin policy API in one cluster.

use super::{Check, Findings, Severity};
use crate::load::ObjectKind;
use crate::state::State;

pub(super) const DUPLICATE_OBJECT: Check = Check {
    id: "duplicate-object",
    severity: Severity::Warning,
    summary: "the same object is defined more than once in the input; the last definition wins",
};

pub(super) const MIXED_ADMIN_APIS: Check = Check {
    id: "mixed-admin-apis",
    severity: Severity::Info,
    summary: "AdminNetworkPolicy/BaselineAdminNetworkPolicy (v1alpha1) and ClusterNetworkPolicy (v1alpha2) are both present",
};

pub(super) fn check(state: &State, out: &mut Findings) {
    for duplicate in state.duplicates() {
        out.push(
            &DUPLICATE_OBJECT,
            &duplicate.key,
            None,
            format!(
                "defined twice: at {} and again at {}; the later definition is used, as with `kubectl apply` of the files in order",
                duplicate.first, duplicate.second
            ),
        );
    }
    let v1alpha1 = state
        .of_kind(ObjectKind::AdminNetworkPolicy)
        .chain(state.of_kind(ObjectKind::BaselineAdminNetworkPolicy))
        .count();
    let mut cnps = state.of_kind(ObjectKind::ClusterNetworkPolicy);
    if let (true, Some(first)) = (v1alpha1 > 0, cnps.next()) {
        let count = 1 + cnps.count();
        out.push(
            &MIXED_ADMIN_APIS,
            first.object.display_name(),
            None,
            format!(
                "the input has {v1alpha1} AdminNetworkPolicy/BaselineAdminNetworkPolicy (v1alpha1) and {count} ClusterNetworkPolicy (v1alpha2) objects; \
                 netpol evaluates both, but a cluster usually serves only one of the two APIs: check which one your network plugin enforces"
            ),
        );
    }
}
