//! Running the netfilter tools.

use std::io::Write;
use std::process::{Command, Stdio};

use super::KernelError;

/// Runs `program args`, feeding `input` on stdin, and returns stdout; a non-zero exit is an
/// error carrying stderr.
pub fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<String, KernelError> {
    let spawn = |source| KernelError::Spawn {
        program: program.to_owned(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(spawn)?;
    }
    let output = child.wait_with_output().map_err(spawn)?;
    if !output.status.success() {
        return Err(KernelError::Failed {
            program: format!("{program} {}", args.join(" ")),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
