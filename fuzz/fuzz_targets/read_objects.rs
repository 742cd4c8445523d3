//! Arbitrary bytes through the reader, the compiler and one decision: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = read_str("fuzz.yaml", text, "default");
    for error in &loaded.errors {
        let _ = error.to_string();
    }
    let engine = Engine::build(&State::from_loaded(&loaded)).engine;
    if engine.cluster.pods.len() >= 2 {
        let flow = Flow {
            src: Endpoint::Pod(0),
            dst: Endpoint::Pod(1),
            protocol: Protocol::Tcp,
            port: 80,
        };
        let _ = engine.verdict(&flow);
    }
});
