//! Generation of the CRD manifests from the typed APIs.
