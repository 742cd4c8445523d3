//! Reading recordings: files (or standard input) of JSON lines, each line's format found on
//! its own, so that a file may mix them. Nothing is dropped unsaid: lines of a known format
//! that are not new connections are counted by kind, the others counted and the first listed.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::{Line, RecordedFlow, RecordedVerdict, Skip, parse_line};

/// How many unreadable lines are kept for the report (all are counted).
const UNREAD_KEPT: usize = 10;

/// A line of a recording: the file's index in [`Recording::files`] and its line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: usize,
    pub line: usize,
}

/// A line that is not a record of a known format, and why.
#[derive(Clone, Debug)]
pub struct Unread {
    pub place: Place,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Recording {
    /// The files as named, `<stdin>` for `-`.
    pub files: Vec<String>,
    pub flows: Vec<(RecordedFlow, Place)>,
    pub skipped: BTreeMap<Skip, usize>,
    /// The first unreadable lines.
    pub unread: Vec<Unread>,
    pub unread_count: usize,
}

impl Recording {
    /// `file:line`.
    pub fn at(&self, place: Place) -> String {
        format!("{}:{}", self.files[place.file], place.line)
    }
}

/// Reads every file; `-` is standard input. A file none of whose lines is a record of a known
/// format is an error: it is most likely not a recording at all.
pub fn read(paths: &[PathBuf]) -> Result<Recording> {
    let mut recording = Recording::default();
    for path in paths {
        let file = recording.files.len();
        let name = if path.as_os_str() == "-" {
            crate::input::STDIN.to_owned()
        } else {
            path.display().to_string()
        };
        recording.files.push(name.clone());
        let reader: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(path).with_context(|| format!("reading {name}"))?)
        };
        let first_unread = recording.unread_count;
        let known = read_lines(&mut recording, file, BufReader::new(reader))
            .with_context(|| format!("reading {name}"))?;
        if known == 0 {
            let why = match recording.unread.get(first_unread) {
                Some(unread) => format!("; line {}: {}", unread.place.line, unread.reason),
                None => " (it is empty)".to_owned(),
            };
            bail!(
                "{name}: no recorded flows: no line is a flow of netpol observe, hubble observe -o json or kube-network-policies' JSON log{why}"
            );
        }
    }
    Ok(recording)
}

/// Reads one file's lines into `recording`; returns how many were of a known format.
fn read_lines(recording: &mut Recording, file: usize, reader: impl BufRead) -> Result<usize> {
    let mut known = 0;
    // kube-network-policies' packet entries waiting for their verdict, by packet id; ids are
    // per node, so only within one file.
    let mut waiting: HashMap<u64, usize> = HashMap::new();
    for (index, bytes) in reader.split(b'\n').enumerate() {
        let bytes = bytes?;
        let place = Place {
            file,
            line: index + 1,
        };
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_line(text.trim_end_matches('\r')),
            Err(err) => Err(format!("not UTF-8: {err}")),
        };
        let line = match parsed {
            Ok(line) => line,
            Err(reason) => {
                recording.unread_count += 1;
                if recording.unread.len() < UNREAD_KEPT {
                    recording.unread.push(Unread { place, reason });
                }
                continue;
            }
        };
        known += 1;
        match line {
            Line::Flow(flow) => recording.flows.push((flow, place)),
            Line::Packet { id, flow } => {
                waiting.insert(id, recording.flows.len());
                recording.flows.push((flow, place));
            }
            Line::Skipped(skip) => *recording.skipped.entry(skip).or_default() += 1,
            Line::PacketVerdict { id, allowed } => {
                // One node evaluates both directions of a packet: the verdict is the flow's.
                if let Some(index) = waiting.remove(&id) {
                    recording.flows[index].0.verdict = Some(RecordedVerdict {
                        allowed,
                        direction: None,
                    });
                }
                *recording.skipped.entry(Skip::KnpVerdictEntry).or_default() += 1;
            }
        }
    }
    Ok(known)
}
