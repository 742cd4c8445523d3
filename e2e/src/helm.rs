//! The Helm v4 engine through `e2e/helm/helm.py` (helm-python-sdk, which bundles Helm's Go SDK
//! as a shared library: no helm binary). Helm has no Debian package; PyPI has the SDK.
//!
//! The Python used is `NETPOL_PYTHON`, else `python3` when it imports `helm_python`, else a
//! virtual environment under the target directory, made on first use with
//! `pip install helm-python-sdk==0.2.2`. When none of that works the error says what to
//! install: chart tests never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// The PyPI requirement of the Helm engine.
pub const SDK_REQUIREMENT: &str = "helm-python-sdk==0.2.2";

/// A Python able to import `helm_python`, and the script that drives it.
#[derive(Clone, Debug)]
pub struct Helm {
    python: PathBuf,
    script: PathBuf,
}

/// One rendered template: its path in the chart and its text.
#[derive(Clone, Debug)]
pub struct Template {
    pub path: String,
    pub text: String,
}

impl Helm {
    /// Finds (or installs, once per process) the Helm engine.
    pub fn locate() -> Result<Self> {
        static FOUND: OnceLock<Result<Helm, String>> = OnceLock::new();
        FOUND
            .get_or_init(|| find().map_err(|err| format!("{err:#}")))
            .clone()
            .map_err(|message| anyhow!(message))
    }

    /// Renders `chart` as `helm template` would for an install.
    pub fn render(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        values: &Value,
    ) -> Result<Vec<Template>> {
        let answer = self.call(&[
            "render",
            "--chart",
            &chart.to_string_lossy(),
            "--name",
            release,
            "--namespace",
            namespace,
            "--values-json",
            &values.to_string(),
        ])?;
        let manifests = answer["manifests"]
            .as_object()
            .context("helm.py render: no manifests in its answer")?;
        let mut templates: Vec<Template> = manifests
            .iter()
            .map(|(path, text)| Template {
                path: path.clone(),
                text: text.as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        templates.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(templates)
    }

    /// `helm lint --strict`: the report `{messages: [{severity, path, error}], errors: [..]}`.
    pub fn lint(&self, chart: &Path, namespace: &str, values: &Value) -> Result<Value> {
        let answer = self.call(&[
            "lint",
            "--chart",
            &chart.to_string_lossy(),
            "--namespace",
            namespace,
            "--values-json",
            &values.to_string(),
        ])?;
        Ok(answer["report"].clone())
    }

    /// Installs a release and waits until its workloads are ready.
    pub fn install(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        values: &Value,
        timeout_secs: u64,
    ) -> Result<()> {
        self.call(&[
            "install",
            "--chart",
            &chart.to_string_lossy(),
            "--name",
            release,
            "--namespace",
            namespace,
            "--values-json",
            &values.to_string(),
            "--timeout",
            &timeout_secs.to_string(),
        ])
        .map(drop)
    }

    /// Uninstalls a release (absent is fine).
    pub fn uninstall(&self, release: &str, namespace: &str, timeout_secs: u64) -> Result<()> {
        self.call(&[
            "uninstall",
            "--name",
            release,
            "--namespace",
            namespace,
            "--timeout",
            &timeout_secs.to_string(),
        ])
        .map(drop)
    }

    /// Runs helm.py; its one JSON answer, or its error as `ErrorType: message`.
    fn call(&self, args: &[&str]) -> Result<Value> {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.python.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let answer: Value = serde_json::from_str(stdout.trim()).map_err(|_| {
            anyhow!(
                "helm.py {} printed no JSON answer (status {}): {}{}",
                args[0],
                output.status,
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        if answer["ok"] == true {
            return Ok(answer);
        }
        bail!(
            "{}: {}",
            answer["error_type"].as_str().unwrap_or("HelmError"),
            answer["error"].as_str().unwrap_or("(no message)")
        )
    }
}

fn find() -> Result<Helm> {
    let script = crate::repo_root().join("e2e/helm/helm.py");
    let helm = |python: PathBuf| Helm {
        python,
        script: script.clone(),
    };
    if let Some(python) = std::env::var_os("NETPOL_PYTHON") {
        let python = PathBuf::from(python);
        return if imports_helm(&python) {
            Ok(helm(python))
        } else {
            bail!(
                "NETPOL_PYTHON={} cannot import helm_python: pip install {SDK_REQUIREMENT}",
                python.display()
            )
        };
    }
    let system = PathBuf::from("python3");
    if imports_helm(&system) {
        return Ok(helm(system));
    }
    let venv = crate::target_dir().join("helm-venv");
    let venv_python = venv.join("bin/python");
    if imports_helm(&venv_python) {
        return Ok(helm(venv_python));
    }
    make_venv(&venv).with_context(|| {
        format!(
            "the chart is rendered with the Helm v4 engine from PyPI's {SDK_REQUIREMENT}; python3 \
             cannot import helm_python and installing it into {} failed. Install it with \
             `pip install {SDK_REQUIREMENT}` (or set NETPOL_PYTHON to a Python that has it)",
            venv.display()
        )
    })?;
    if imports_helm(&venv_python) {
        Ok(helm(venv_python))
    } else {
        bail!(
            "{} was installed into {} but does not import",
            SDK_REQUIREMENT,
            venv.display()
        )
    }
}

fn imports_helm(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import helm_python"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the venv beside its final place and renames it in, so a concurrent run never sees a
/// half-made one.
fn make_venv(venv: &Path) -> Result<()> {
    let parent = venv.parent().context("venv path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = parent.join(format!("helm-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!("installing {SDK_REQUIREMENT} into {}", venv.display());
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&staging)).and_then(|()| {
        run(Command::new(staging.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK_REQUIREMENT,
        ]))
    });
    if let Err(err) = made {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err);
    }
    let _ = std::fs::remove_dir_all(venv);
    if std::fs::rename(&staging, venv).is_err() {
        // Another run got there first; its venv is as good as ours.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
