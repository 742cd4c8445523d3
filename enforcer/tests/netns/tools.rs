//! Preconditions of the privileged tests: root, and the tools (installed with apt-get when
//! missing). When they cannot be met the test says so loudly, and fails under CI.

use std::process::{Command, Stdio};

const TOOLS: [(&str, &str); 6] = [
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("iptables-restore", "iptables"),
    ("conntrack", "conntrack"),
    ("nft", "nftables"),
    ("ipset", "ipset"),
];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Why the privileged tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    if !is_root() {
        return Some("not running as root".into());
    }
    let absent: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(_, package)| *package)
        .collect();
    if absent.is_empty() {
        return None;
    }
    eprintln!("installing {absent:?} with apt-get");
    let script = format!(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
        absent.join(" ")
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .status();
    let still: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(tool, _)| *tool)
        .collect();
    (!still.is_empty())
        .then(|| format!("missing tools {still:?} and apt-get could not install them"))
}

/// Returns false (after saying why, loudly) when the test must be skipped; panics under CI.
pub fn ready(test: &str) -> bool {
    let Some(why) = missing() else { return true };
    let banner = "!".repeat(78);
    eprintln!("{banner}\n!! {test} NOT RUN: {why}\n{banner}");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run under CI: {why}"
    );
    false
}
