//! `kubectl netpol`: answers whether traffic is allowed and why, explains what policies do,
//! and works offline on manifest files.

mod cli;
mod commands;
mod input;
mod live;
mod output;
mod recorded;
mod xml;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Exit status for bad input (unreadable files, invalid objects, unknown endpoints).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Parses arguments, runs the command and maps the outcome to an exit status.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // The one TLS provider, installed before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_BAD_INPUT } else { 0 });
        }
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
