//! The commands the suite drives: kubectl (apply, delete, exec, and server-side dry runs whose
//! warnings only kubectl prints) and the `kubectl-netpol` plugin binary.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::matrix::{Flow, Matrix, Verdict};

/// What a command said.
#[derive(Clone, Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// `Warning: ...` lines (how kubectl prints admission warnings).
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("Warning: "))
            .collect()
    }
}

fn run(mut command: Command, stdin: Option<&str>) -> Result<Output> {
    let what = format!("{command:?}");
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().context("stdin")?;
        pipe.write_all(text.as_bytes())
            .with_context(|| format!("writing to {what}"))?;
    }
    let output = child
        .wait_with_output()
        .with_context(|| format!("waiting for {what}"))?;
    Ok(Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A JSON `List` of objects, for `kubectl ... -f -`.
fn list(objects: &[Value]) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string()
}

/// kubectl with the environment's kubeconfig, or the one [`with_env`](Kubectl::with_env) says.
#[derive(Clone, Debug)]
pub struct Kubectl {
    pub binary: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Kubectl {
    pub fn new(binary: PathBuf) -> Result<Self> {
        let version = run(
            {
                let mut c = Command::new(&binary);
                c.args(["version", "--client"]);
                c
            },
            None,
        );
        match version {
            Ok(out) if out.success => Ok(Self {
                binary,
                env: Vec::new(),
            }),
            _ => bail!("kubectl ({}) is needed and does not run", binary.display()),
        }
    }

    /// The same kubectl with more environment (e.g. `KUBECONFIG` of a test's control plane).
    pub fn with_env(mut self, env: Vec<(OsString, OsString)>) -> Self {
        self.env.extend(env);
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).envs(self.env.iter().cloned());
        command
    }

    /// Any kubectl command, with `stdin` when given.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        run(self.command(args), stdin)
    }

    /// `kubectl apply -f -` (server-side dry run when `dry_run`).
    pub fn apply(&self, objects: &[Value], dry_run: bool) -> Result<Output> {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        run(self.command(&args), Some(&list(objects)))
    }

    /// Applies and fails with kubectl's words when it refuses.
    pub fn apply_ok(&self, objects: &[Value]) -> Result<()> {
        let out = self.apply(objects, false)?;
        if !out.success {
            bail!("kubectl apply failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    pub fn apply_files(&self, path: &Path) -> Result<()> {
        let out = run(
            self.command(&["apply", "--server-side", "-f", &path.to_string_lossy()]),
            None,
        )?;
        if !out.success {
            bail!(
                "kubectl apply -f {} failed: {}",
                path.display(),
                out.stderr.trim()
            );
        }
        Ok(())
    }

    /// Deletes, absent objects being fine; `wait` waits for them to be gone.
    pub fn delete(&self, objects: &[Value], wait: bool) -> Result<Output> {
        let wait = if wait { "--wait=true" } else { "--wait=false" };
        run(
            self.command(&["delete", "--ignore-not-found", wait, "-f", "-"]),
            Some(&list(objects)),
        )
    }

    pub fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        argv: &[String],
    ) -> Result<Output> {
        let mut command = self.command(&["exec", "-n", namespace, pod, "-c", container, "--"]);
        command.args(argv);
        run(command, None)
    }
}

/// The `kubectl-netpol` binary, run against the live cluster (no `-f`).
#[derive(Clone, Debug)]
pub struct Plugin {
    pub binary: PathBuf,
    /// More environment for each run (e.g. `KUBECONFIG`).
    pub env: Vec<(OsString, OsString)>,
}

impl Plugin {
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut command = Command::new(&self.binary);
        command.args(args).envs(self.env.iter().cloned());
        run(command, None)
    }

    /// Runs with `-o json` and parses the answer; a non-zero exit other than 1 (a mismatch or
    /// a tripped `--fail-on`) is an error.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.run(&all)?;
        serde_json::from_str(&out.stdout).with_context(|| {
            format!(
                "kubectl-netpol {} printed no JSON: {}{}",
                args.join(" "),
                out.stdout.trim(),
                out.stderr.trim()
            )
        })
    }

    /// The plugin's verdict for every flow, from one `check --traffic` run on the live cluster.
    pub fn verdicts(&self, flows: &[Flow], scratch: &Path) -> Result<Matrix> {
        let traffic: Vec<Value> = flows
            .iter()
            .map(|f| {
                serde_json::json!({"from": f.from, "to": f.to, "port": f.port,
                                   "protocol": format!("{:?}", f.protocol).to_uppercase()})
            })
            .collect();
        let file = scratch.join("traffic.json");
        std::fs::write(&file, serde_json::to_string(&traffic)?)
            .with_context(|| format!("writing {}", file.display()))?;
        let answer = self.json(&["check", "--traffic", &file.to_string_lossy()])?;
        parse_check(flows, &answer)
    }
}

/// Pairs `check -o json`'s `flows[]` (in the order asked) with the flows asked about.
pub fn parse_check(flows: &[Flow], answer: &Value) -> Result<Matrix> {
    let rows = answer["flows"]
        .as_array()
        .context("check -o json: no flows")?;
    if rows.len() != flows.len() {
        bail!(
            "check -o json answered {} flows for {} asked",
            rows.len(),
            flows.len()
        );
    }
    flows
        .iter()
        .zip(rows)
        .map(|(flow, row)| {
            let verdict = match row["verdict"].as_str() {
                Some("allow") => Verdict::Allow,
                Some("deny") => Verdict::Deny,
                other => bail!("check -o json: verdict {other:?} for {flow:?}"),
            };
            Ok((flow.clone(), verdict))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Protocol;
    use serde_json::json;

    #[test]
    fn parse_check_cases() {
        let flow = |to: &str| Flow {
            from: "e2e-x/a".into(),
            to: to.into(),
            port: 80,
            protocol: Protocol::Tcp,
        };
        let flows = [flow("e2e-y/b"), flow("e2e-z/c")];
        let good = json!({"flows": [{"verdict": "allow"}, {"verdict": "deny"}]});
        let got = parse_check(&flows, &good).unwrap();
        assert_eq!(got[&flows[0]], Verdict::Allow);
        assert_eq!(got[&flows[1]], Verdict::Deny);
        let cases = [
            (
                json!({"flows": [{"verdict": "allow"}]}),
                "1 flows for 2 asked",
            ),
            (
                json!({"flows": [{"verdict": "allow"}, {"verdict": "maybe"}]}),
                "verdict Some(\"maybe\")",
            ),
            (json!({}), "no flows"),
        ];
        for (answer, want) in cases {
            let err = parse_check(&flows, &answer).unwrap_err();
            assert!(format!("{err:#}").contains(want), "{err:#}");
        }
    }

    #[test]
    fn warnings_are_kubectl_warning_lines() {
        let out = Output {
            success: true,
            stdout: String::new(),
            stderr: "Warning: this change newly denies 3 flows\nnetworkpolicy/x created (server dry run)\n"
                .into(),
        };
        assert_eq!(out.warnings(), vec!["this change newly denies 3 flows"]);
    }
}
