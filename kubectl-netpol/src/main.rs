use std::process::ExitCode;

// jemalloc: reading a large snapshot allocates on one thread and frees on the decoding threads,
// where glibc's arenas serialise on their locks (half the reading time went to them).
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    kubectl_netpol::run(std::env::args_os())
}
