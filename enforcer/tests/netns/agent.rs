//! Drives `netpol-netns-probe` inside a pod namespace: echo servers plus probes on request.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

type Answers = Arc<(Mutex<HashMap<u64, String>>, Condvar)>;

#[derive(Debug)]
pub struct Agent {
    child: Child,
    stdin: ChildStdin,
    answers: Answers,
    next: u64,
    pub sctp: bool,
}

pub const PORTS: [u16; 2] = [8080, 9090];

impl Agent {
    pub fn start(netns: &str) -> anyhow::Result<Self> {
        Self::serving(netns, &PORTS)
    }

    /// An agent whose echo servers listen on `ports` (TCP and UDP). The probe binary is
    /// `crate::probe_binary()`: each test crate that includes this file says where it is.
    pub fn serving(netns: &str, ports: &[u16]) -> anyhow::Result<Self> {
        Self::with_args(netns, ports, &[])
    }

    /// `serving`, with more arguments for the probe (`--dns RECORDS`).
    pub fn with_args(netns: &str, ports: &[u16], extra: &[&str]) -> anyhow::Result<Self> {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(crate::probe_binary())
            .args(["--ports", &ports.join(",")])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the probe agent")?;
        let stdin = child.stdin.take().context("agent stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("agent stdout")?);
        let mut first = String::new();
        stdout.read_line(&mut first)?;
        if !first.starts_with("ready") {
            bail!("agent in {netns} did not start: {first:?}");
        }
        let sctp = first.contains("sctp=true");
        let answers: Answers = Arc::default();
        let shared = answers.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some((id, rest)) = line.split_once(' ')
                    && let Ok(id) = id.parse()
                {
                    shared
                        .0
                        .lock()
                        .expect("answers")
                        .insert(id, rest.to_owned());
                    shared.1.notify_all();
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            answers,
            next: 0,
            sctp,
        })
    }

    /// Sends a command (its id is prepended after the verb) and returns the id to wait on.
    pub fn send(&mut self, verb: &str, rest: &str) -> anyhow::Result<u64> {
        self.next += 1;
        writeln!(self.stdin, "{verb} {} {rest}", self.next)?;
        self.stdin.flush()?;
        Ok(self.next)
    }

    pub fn wait(&self, id: u64, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.answers;
        let mut answers = lock.lock().expect("answers");
        loop {
            if let Some(answer) = answers.remove(&id) {
                return Some(answer);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            answers = ready.wait_timeout(answers, left).expect("answers").0;
        }
    }

    pub fn ask(&mut self, verb: &str, rest: &str, timeout: Duration) -> anyhow::Result<String> {
        let id = self.send(verb, rest)?;
        self.wait(id, timeout)
            .with_context(|| format!("no answer to {verb} {rest}"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
