//! One module per subcommand; each returns the exit status.

mod check;
mod complete;
mod diff;
mod explain;
mod lint;
mod matrix;
mod observe;

use crate::output::{out, outln};
use anyhow::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Matrix(args) => matrix::run(&args),
        Command::Observe(args) => observe::run(&args),
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(
                shell,
                &mut command,
                "kubectl-netpol",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Complete { words } => {
            out!("{}", complete::candidates(&words));
            Ok(0)
        }
        Command::Version => {
            outln!("kubectl-netpol {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    }
}
