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
    /// The kubeconfig of installs, upgrades and uninstalls (default: the environment's).
    kubeconfig: Option<PathBuf>,
}

/// How an install, upgrade or uninstall ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Until the workloads are ready (or gone), at most this many seconds.
    Ready(u64),
    /// As soon as the objects are written: a control plane without nodes runs no pods.
    Written,
}

impl Wait {
    fn args(self) -> Vec<String> {
        match self {
            Wait::Ready(seconds) => vec!["--timeout".into(), seconds.to_string()],
            Wait::Written => vec!["--no-wait".into()],
        }
    }
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

    /// The same engine acting on the cluster of `kubeconfig`.
    pub fn with_kubeconfig(mut self, kubeconfig: &Path) -> Self {
        self.kubeconfig = Some(kubeconfig.to_owned());
        self
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
        self.deploy(
            "install",
            chart,
            release,
            namespace,
            values,
            Wait::Ready(timeout_secs),
        )
        .map(drop)
    }

    /// `helm install` or `helm upgrade` (`verb`); the release as Helm describes it.
    pub fn deploy(
        &self,
        verb: &str,
        chart: &Path,
        release: &str,
        namespace: &str,
        values: &Value,
        wait: Wait,
    ) -> Result<Value> {
        let chart = chart.to_string_lossy();
        let values = values.to_string();
        let wait = wait.args();
        let mut args = vec![
            verb,
            "--chart",
            &chart,
            "--name",
            release,
            "--namespace",
            namespace,
            "--values-json",
            &values,
        ];
        args.extend(wait.iter().map(String::as_str));
        Ok(self.call(&args)?["release"].clone())
    }

    /// Helm's record of a release.
    pub fn status(&self, release: &str, namespace: &str) -> Result<Value> {
        Ok(self.call(&["status", "--name", release, "--namespace", namespace])?["release"].clone())
    }

    /// Uninstalls a release (absent is fine).
    pub fn uninstall(&self, release: &str, namespace: &str, timeout_secs: u64) -> Result<()> {
        self.uninstall_with(release, namespace, Wait::Ready(timeout_secs))
    }

    /// Uninstalls a release (absent is fine), waiting as `wait` says.
    pub fn uninstall_with(&self, release: &str, namespace: &str, wait: Wait) -> Result<()> {
        let wait = wait.args();
        let mut args = vec!["uninstall", "--name", release, "--namespace", namespace];
        args.extend(wait.iter().map(String::as_str));
        self.call(&args).map(drop)
    }

    /// Runs helm.py; its one JSON answer, or its error as `ErrorType: message`.
    fn call(&self, args: &[&str]) -> Result<Value> {
        let mut command = Command::new(&self.python);
        command.arg(&self.script).args(args);
        if let Some(kubeconfig) = &self.kubeconfig
            && !matches!(args.first(), Some(&"render" | &"lint" | &"version"))
        {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        let output = command
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
        kubeconfig: None,
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
