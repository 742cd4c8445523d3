//! Deciding recorded flows in the state before and after a change. Records of the same flow
//! (ends, protocol, port) are decided once and counted; an end is resolved as `check` resolves
//! it: a pod by name, an address as it is (a pod's address stands for the pod).

use netpol_engine::model::Direction;
use netpol_engine::{Decision, Endpoint, Engine, Flow, Protocol, VerdictCache};
use rustc_hash::FxHashMap;

use crate::recorded::{End, Place, RecordedFlow, RecordedVerdict};

/// Decisions are memoised per engine by identity; one bounded cache each is plenty.
const CACHE_FLOWS: usize = 1 << 16;

/// A flow as recorded, the same for all its records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub from: End,
    pub to: End,
    pub protocol: Protocol,
    pub port: u16,
}

/// One distinct recorded flow and what became of it.
#[derive(Debug)]
pub struct Replayed {
    pub key: FlowKey,
    pub records: usize,
    /// Where its first record is.
    pub first: Place,
    /// Its records' verdicts: how many say allowed or denied, per direction decided, and the
    /// first to say so (at most six).
    recorded: Vec<(RecordedVerdict, usize, Place)>,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// A pod that one of the states does not have.
    Unresolvable(String),
    Decided {
        before: Side,
        after: Side,
    },
}

/// The flow resolved in one state, and its decision there.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    pub flow: Flow,
    pub decision: Decision,
}

impl Replayed {
    /// The recorded verdicts the base does not give: each with its count of records and the
    /// first of them.
    pub fn recorded_differs(&self) -> Vec<(RecordedVerdict, usize, Place)> {
        let Outcome::Decided { before, .. } = &self.outcome else {
            return Vec::new();
        };
        let decision = &before.decision;
        let mut differs: Vec<_> = self
            .recorded
            .iter()
            .copied()
            .filter(|(verdict, _, _)| {
                let base = match verdict.direction {
                    None => decision.allowed,
                    Some(Direction::Egress) => decision.egress.allowed,
                    Some(Direction::Ingress) => decision.ingress.allowed,
                };
                base != verdict.allowed
            })
            .collect();
        differs.sort_by_key(|(_, _, first)| (first.file, first.line));
        differs
    }
}

/// Decides every distinct flow of `flows` in both states, in the order first recorded.
pub fn replay(before: &Engine, after: &Engine, flows: &[(RecordedFlow, Place)]) -> Vec<Replayed> {
    // Keyed by reference into the records: a key is cloned once per distinct flow.
    let mut index: FxHashMap<(&End, &End, Protocol, u16), usize> = FxHashMap::default();
    let mut distinct: Vec<Replayed> = Vec::new();
    for (flow, place) in flows {
        let at = *index
            .entry((&flow.from, &flow.to, flow.protocol, flow.port))
            .or_insert_with(|| {
                distinct.push(Replayed {
                    key: FlowKey {
                        from: flow.from.clone(),
                        to: flow.to.clone(),
                        protocol: flow.protocol,
                        port: flow.port,
                    },
                    records: 0,
                    first: *place,
                    recorded: Vec::new(),
                    outcome: Outcome::Unresolvable(String::new()),
                });
                distinct.len() - 1
            });
        let replayed = &mut distinct[at];
        replayed.records += 1;
        if let Some(verdict) = flow.verdict {
            match replayed.recorded.iter_mut().find(|(v, _, _)| *v == verdict) {
                Some((_, count, _)) => *count += 1,
                None => replayed.recorded.push((verdict, 1, *place)),
            }
        }
    }
    let caches = (
        VerdictCache::new(CACHE_FLOWS),
        VerdictCache::new(CACHE_FLOWS),
    );
    for replayed in &mut distinct {
        replayed.outcome = decide(before, after, &caches, &replayed.key);
    }
    distinct
}

fn decide(
    before: &Engine,
    after: &Engine,
    (before_cache, after_cache): &(VerdictCache, VerdictCache),
    key: &FlowKey,
) -> Outcome {
    let (old, new) = (flow(before, key), flow(after, key));
    match (old, new) {
        (Ok(old), Ok(new)) => Outcome::Decided {
            before: Side {
                flow: old,
                decision: before_cache.decide(before, &old),
            },
            after: Side {
                flow: new,
                decision: after_cache.decide(after, &new),
            },
        },
        (old, new) => Outcome::Unresolvable(missing(old.err(), new.err())),
    }
}

/// The flow in one state, or the pods it lacks.
fn flow(engine: &Engine, key: &FlowKey) -> Result<Flow, Vec<String>> {
    let (src, dst) = (endpoint(engine, &key.from), endpoint(engine, &key.to));
    match (src, dst) {
        (Some(src), Some(dst)) => Ok(Flow {
            src,
            dst,
            protocol: key.protocol,
            port: key.port,
        }),
        _ => Err([&key.from, &key.to]
            .into_iter()
            .filter(|end| endpoint(engine, end).is_none())
            .map(ToString::to_string)
            .collect()),
    }
}

/// A pod by name, as `check` resolves `namespace/pod`; an address as it is.
pub fn endpoint(engine: &Engine, end: &End) -> Option<Endpoint> {
    match end {
        End::Pod { namespace, name } => engine
            .cluster
            .pod_by_name(namespace, name)
            .map(Endpoint::Pod),
        End::Address(ip) => Some(Endpoint::Address(*ip)),
    }
}

/// "no pod a/b in the base; no pod c/d in the base or the new state".
fn missing(before: Option<Vec<String>>, after: Option<Vec<String>>) -> String {
    let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
    let only_after = after.iter().filter(|pod| !before.contains(pod));
    before
        .iter()
        .chain(only_after)
        .map(|pod| {
            let states = match (before.contains(pod), after.contains(pod)) {
                (true, true) => "the base or the new state",
                (true, false) => "the base",
                _ => "the new state",
            };
            format!("no pod {pod} in {states}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
