//! Writes the CRD manifests generated from the typed APIs into `crds/` at the workspace root.
//!
//! An example rather than a binary: the engine leaves the Kubernetes version to the programs that
//! use it, and examples get one through the dev-dependencies.

use std::path::Path;
use std::{fs, io};

use netpol_engine::api::crd;

fn main() -> io::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ is inside the workspace");
    let dir = workspace.join("crds");
    fs::create_dir_all(&dir)?;
    for shipped in crd::crds() {
        let yaml = crd::to_yaml(&shipped.crd).map_err(io::Error::other)?;
        let path = dir.join(&shipped.file_name);
        fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
