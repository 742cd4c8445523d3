//! The reader and compiler never panic, whatever the bytes: mutated copies of real manifests
//! (flipped bytes, cut documents, swapped lines) go through reading, compiling and deciding.

use netpol_engine::load::{FieldRef, locate};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

fn seeds() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bookshop");
    let mut texts: Vec<String> = std::fs::read_dir(&root)
        .expect("examples/bookshop")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    texts.sort();
    texts.push(texts.join("\n---\n"));
    texts
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&str] = &[
    "",
    "-",
    "[",
    "]",
    "{",
    "}",
    ":",
    "'",
    "\"",
    "*",
    "&a",
    "!!binary",
    "~",
    "null",
    "-1",
    "0",
    "65536",
    "1e999",
    "0.0.0.0/0",
    "::/0",
    "10.0.0.1/33",
    "In",
    "NotIn",
    "Exists",
    "Pass",
    "Allow",
    "Accept",
    "Deny",
    "Baseline",
    "\u{0}",
    "é",
    "\t",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                let alphabet = b" :-[]{}0aZ\n\"'";
                bytes[at] = alphabet[rng.below(alphabet.len())];
            }
            1 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len())),
            2 => {
                let at = rng.below(bytes.len() + 1);
                let insert = INTERESTING[rng.below(INTERESTING.len())].as_bytes();
                bytes.splice(at..at, insert.iter().copied());
            }
            3 => {
                let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                bytes = lines.join(&b'\n');
            }
            _ => {
                // Replace a scalar value after a colon with an interesting one.
                if let Some(at) = bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b':')
                    .map(|(i, _)| i)
                    .nth(rng.below(64))
                {
                    let end = bytes[at..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(bytes.len(), |p| at + p);
                    let value = format!(" {}", INTERESTING[rng.below(INTERESTING.len())]);
                    bytes.splice(at + 1..end, value.into_bytes());
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_manifests_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut read_ok = 0;
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let text = mutate(&mut rng, seed);
        let loaded = read_str("fuzz.yaml", &text, "default");
        for error in &loaded.errors {
            // Messages must render (no panics in Display) and name the source.
            assert!(error.to_string().starts_with("fuzz.yaml"), "{error}");
        }
        // Finding fields in the same text (lint's SARIF) must not panic either.
        let paths: Vec<String> = loaded
            .objects
            .iter()
            .map(|o| o.origin.field_path(Some("spec.ingress[0].from[1]")))
            .collect();
        let wanted: Vec<FieldRef> = loaded
            .objects
            .iter()
            .zip(&paths)
            .map(|(o, path)| FieldRef {
                document: o.origin.document,
                path,
            })
            .collect();
        assert_eq!(locate(&text, &wanted).len(), wanted.len());
        let build = Engine::build(&State::from_loaded(&loaded));
        let engine = build.engine;
        let pods = engine.cluster.pods.len() as u32;
        for src in 0..pods.min(4) {
            for dst in 0..pods.min(4) {
                let flow = Flow {
                    src: Endpoint::Pod(src),
                    dst: Endpoint::Pod(dst),
                    protocol: Protocol::Tcp,
                    port: 8080,
                };
                assert_eq!(engine.verdict(&flow).allowed, engine.decide(&flow).allowed);
            }
        }
        read_ok += usize::from(loaded.errors.is_empty());
    }
    assert!(
        read_ok > 100,
        "mutations should leave many inputs readable, got {read_ok}"
    );
}
