//! Packet parsing must never panic, whatever bytes the kernel queues.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = netpol_enforcer::packet::parse(data) {
        // A parsed packet turns into a flow without panicking either.
        let _ = netpol_enforcer::decide::flow(&packet);
    }
});
