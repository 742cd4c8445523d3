//! Arbitrary bytes through the reader, the field locator, the compiler and one decision:
//! nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpol_engine::load::{FieldRef, locate};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = read_str("fuzz.yaml", text, "default");
    for error in &loaded.errors {
        let _ = error.to_string();
    }
    let paths: Vec<String> = loaded.objects.iter().map(|o| o.origin.field_path(Some("spec.ingress[0]"))).collect();
    let wanted: Vec<FieldRef> = loaded
        .objects
        .iter()
        .zip(&paths)
        .map(|(o, path)| FieldRef { document: o.origin.document, path })
        .collect();
    let _ = locate(text, &wanted);
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
