use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_netpol::run(std::env::args_os())
}
