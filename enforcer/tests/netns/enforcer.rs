//! One `netpol-enforcer` per node namespace, stopped with SIGTERM on drop (its one shutdown
//! path, which removes its rules); its JSON log is kept for failure reports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(Debug)]
pub struct Enforcer {
    child: Child,
    pub log: PathBuf,
    /// Its verdict events (JSON lines on its standard output).
    #[allow(dead_code)] // Read by the netns test, not by every test that starts enforcers.
    pub events: PathBuf,
}

impl Enforcer {
    /// Starts one, with `extra` arguments, and waits until it says it is ready.
    pub fn start(
        netns: &str,
        node: &str,
        state_dir: &Path,
        log: PathBuf,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log)?;
        let events = log.with_extension("events.jsonl");
        let events_file = std::fs::File::create(&events)?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                env!("CARGO_BIN_EXE_netpol-enforcer"),
            ])
            .args(["--node-name", node, "--state-dir"])
            .arg(state_dir)
            .args(["--queues", "2", "--metrics-addr", "127.0.0.1:9401"])
            .args(["--deny-log-rate", "20", "--poll-ms", "50"])
            .args(["--flow-events-per-second", "100000"])
            .args(extra)
            .stdout(events_file)
            .stderr(file)
            .spawn()
            .context("starting the enforcer")?;
        let mut enforcer = Self { child, log, events };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !enforcer.log_text().contains("\"ready\"") {
            if let Some(status) = enforcer.child.try_wait()? {
                bail!("enforcer exited ({status}): {}", enforcer.log_text());
            }
            if Instant::now() > deadline {
                bail!("enforcer not ready: {}", enforcer.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(enforcer)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("enforcer ignored SIGTERM")
    }
}

impl Drop for Enforcer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
