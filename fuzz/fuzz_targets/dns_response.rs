//! DNS responses come from the network: reading one must never panic, whether the bytes are a
//! whole queued packet or a bare message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpol_enforcer::dns::response::{parse_message, parse_packet};

fuzz_target!(|data: &[u8]| {
    let _ = parse_packet(data);
    if let Ok(answers) = parse_message(data) {
        for answer in answers {
            // What the cache keeps and the walkthrough prints is made without panicking.
            let _ = answer.chain.to_string();
        }
    }
});
