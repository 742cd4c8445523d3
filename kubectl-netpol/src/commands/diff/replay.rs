//! `kubectl netpol diff --flows FILE`: recorded flows decided before and after a change; the
//! report lists those whose verdict changes, with the deciding rules on both sides.

mod decide;
mod deciding;
mod render;
mod report;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use netpol_engine::Engine;
use netpol_engine::impact::policy_changes;

use crate::cli::{DiffArgs, OutputFormat};
use crate::input::timing;
use crate::output::{Style, out, structured};
use crate::recorded::Recording;

/// The recordings `--flows` names, if any.
pub fn read(args: &DiffArgs) -> Result<Option<Recording>> {
    if args.flows.is_empty() {
        return Ok(None);
    }
    let stdin = |paths: &[PathBuf]| paths.iter().any(|p| p.as_os_str() == "-");
    if stdin(&args.flows) && (stdin(&args.files) || stdin(&args.base)) {
        bail!("standard input (-) can be read once: give the flows or the manifests as a file");
    }
    let started = Instant::now();
    let recording = crate::recorded::read(&args.flows)?;
    timing("read recorded flows", started);
    Ok(Some(recording))
}

/// Replays `recording`; the exit status is 1 with `--fail-on-deny` when a recorded flow
/// becomes denied.
pub fn run(args: &DiffArgs, before: &Engine, after: &Engine, recording: &Recording) -> Result<u8> {
    let started = Instant::now();
    let replayed = decide::replay(before, after, &recording.flows);
    let report = report::build(
        recording,
        &replayed,
        (before, after),
        policy_changes(before, after),
        args.limit,
    );
    timing("replay recorded flows", started);
    let exit = u8::from(args.fail_on_deny && report.summary.newly_denied > 0);
    if !structured(args.output, &report)? {
        let wide = args.output == OutputFormat::Wide;
        out!("{}", render::render(&report, Style::detect(), wide));
    }
    Ok(exit)
}
