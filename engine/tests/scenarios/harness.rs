//! Shared by the scenario and conformance runners: a case (one flow and what the upstream
//! semantics say about it) and its check against an engine. A failing check explains itself
//! with the case's reason and the verdict's walkthrough as JSON.
//!
//! `decided_by` and `rule` speak of one direction of the flow: the one named by `direction`, or
//! else the one that settled it: for a denied flow the first denying direction (egress, then
//! ingress); for an allowed flow the direction where a policy acted, else the one whose end is a
//! pod (ingress when both are alike).
//! `rule` names the last step that acted there: `Kind name#index`, `Kind ns/name#index` or
//! `#rule-name` instead of the index; a NetworkPolicy that only isolates is named without `#`.

use netpol_engine::dns::{DnsAnswers, Resolution};
use netpol_engine::eval::{Decider, Decision, DirectionDecision, Step, StepResult, Walkthrough};
use netpol_engine::model::Direction;
use netpol_engine::{Endpoint, EndpointSpec, Engine, Flow, Protocol, Verdict, VerdictCache};
use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Egress,
    Ingress,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Why upstream semantics give this answer.
    pub reason: String,
    pub from: String,
    pub to: String,
    #[serde(default = "tcp")]
    pub protocol: Protocol,
    /// The destination port; ICMP flows have none (0).
    #[serde(default)]
    pub port: u16,
    pub expect: Expect,
    #[serde(default)]
    pub direction: Option<Side>,
    /// admin, network-policy, baseline, default, not-selectable or resident-node.
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    /// DNS answers the source received (`name=address`, `name=cname=...=address`), each
    /// with `ttl` seconds left: egress `domainNames` peers match through them.
    #[serde(default)]
    pub dns: Vec<String>,
    /// The pod that received `dns` instead of the source.
    #[serde(default)]
    pub learned_by: Option<String>,
    #[serde(default = "ttl")]
    pub ttl: u32,
    /// Text the walkthrough, as printed, must contain.
    #[serde(default)]
    pub walkthrough: Option<String>,
}

fn ttl() -> u32 {
    300
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

/// Resolves `ns/pod`, `ns/kind/name` or an address with the engine's own parser.
pub fn resolve(engine: &Engine, text: &str) -> Result<Endpoint, String> {
    let spec: EndpointSpec = text.parse().map_err(|e| format!("{text}: {e}"))?;
    engine.resolve(&spec).map_err(|e| format!("{text}: {e}"))
}

/// Checks one case: the expectation, and that `decide`, the cache and `verdict` agree, and that
/// engines built another way (`alternates`, over the same topology) decide the same.
/// `Err` holds a report ready to print.
pub fn check(
    engine: &Engine,
    alternates: &[(&str, &Engine)],
    cache: &VerdictCache,
    case: &Case,
    src: Endpoint,
    dst: Endpoint,
) -> Result<(), String> {
    let flow = Flow {
        src,
        dst,
        protocol: case.protocol,
        port: case.port,
    };
    let dns = answers(engine, case, src)?;
    let verdict = engine.verdict_with_dns(&flow, &dns);
    let mut problems = Vec::new();

    let decision = engine.decide_with_dns(&flow, &dns);
    problems.extend(agreement(engine, &decision, &verdict));
    // An answer can only make a rule with Accept match earlier: never less allowed.
    let without = engine.decide(&flow);
    for (with, without, side) in [
        (decision.egress, without.egress, "egress"),
        (decision.ingress, without.ingress, "ingress"),
    ] {
        if without.allowed && !with.allowed {
            problems.push(format!(
                "{side}: allowed without DNS answers, denied with them"
            ));
        }
    }
    for direction in [Direction::Egress, Direction::Ingress] {
        let half = engine.decide_direction_with_dns(direction, &flow, &dns);
        let whole = match direction {
            Direction::Egress => decision.egress,
            Direction::Ingress => decision.ingress,
        };
        if half != whole {
            problems.push(format!(
                "{direction:?} alone with DNS says {half:?}, decide {whole:?}"
            ));
        }
    }
    // The cache knows nothing of DNS: compared only without answers.
    let rounds: &[&str] = if dns.is_empty() {
        &["first", "second"]
    } else {
        &[]
    };
    // Twice: the first call may fill the cache, the second may answer from it.
    for &round in rounds {
        let cached = cache.decide(engine, &flow);
        if cached != decision {
            problems.push(format!(
                "cache ({round} call) says {cached:?}, decide says {decision:?}"
            ));
        }
        for (direction, half) in [
            (Direction::Egress, decision.egress),
            (Direction::Ingress, decision.ingress),
        ] {
            let alone = engine.decide_direction(direction, &flow);
            let cached = cache.decide_direction(engine, direction, &flow);
            if alone != half || cached != half {
                problems.push(format!(
                    "{direction:?} alone says {alone:?}, cached ({round} call) {cached:?}, decide {half:?}"
                ));
            }
        }
    }

    for (how, other) in alternates {
        let (mine, theirs) = (
            comparable(engine, &decision),
            comparable(other, &other.decide_with_dns(&flow, &dns)),
        );
        if mine != theirs {
            problems.push(format!(
                "the engine {how} says {theirs:?}, the one built at once says {mine:?}"
            ));
        }
    }

    let wanted = case.expect == Expect::Allow;
    if verdict.allowed != wanted {
        problems.push(format!(
            "expected {:?}, got {}",
            case.expect,
            if verdict.allowed { "allow" } else { "deny" }
        ));
    }
    let walk = deciding(&verdict, case.direction);
    if let Some(want) = &case.decided_by {
        const DECIDERS: [&str; 6] = [
            "admin",
            "network-policy",
            "baseline",
            "default",
            "not-selectable",
            "resident-node",
        ];
        if !DECIDERS.contains(&want.as_str()) {
            problems.push(format!("decided_by {want:?} is not one of {DECIDERS:?}"));
        }
        let got = decider_name(walk.decided_by);
        if *want != got {
            problems.push(format!(
                "expected {} decided by {want}, got {got}",
                walk.direction.as_str()
            ));
        }
    }
    if let Some(want) = &case.rule {
        let acting = acting_step(walk);
        // A NetworkPolicy denial names every isolating policy; any of them will do.
        let mut isolating = walk
            .steps
            .iter()
            .filter(|s| s.result == StepResult::Isolates);
        if !acting.is_some_and(|s| rule_matches(want, s))
            && !isolating.any(|s| rule_matches(want, s))
        {
            problems.push(format!(
                "expected {} rule {want}, got {}",
                walk.direction.as_str(),
                acting.map_or_else(|| "no acting rule".to_owned(), describe_step)
            ));
        }
    }

    if let Some(want) = &case.walkthrough {
        let text = verdict.to_string();
        if !text.contains(want.as_str()) {
            problems.push(format!("the walkthrough lacks {want:?}:\n{text}"));
        }
    }

    if problems.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string_pretty(&verdict).unwrap_or_else(|e| e.to_string());
    Err(format!(
        "case {:?}: {} -> {} {}/{}\n  reason: {}\n  {}\n  walkthrough: {json}",
        case.name,
        case.from,
        case.to,
        case.protocol,
        case.port,
        case.reason,
        problems.join("\n  ")
    ))
}

/// The case's DNS answers, learned at every address of the source (or of `learned_by`).
fn answers(engine: &Engine, case: &Case, src: Endpoint) -> Result<DnsAnswers, String> {
    let by = match &case.learned_by {
        Some(text) => resolve(engine, text)?,
        None => src,
    };
    let clients = match engine.normalize(by) {
        Endpoint::Pod(id) => engine.cluster.pod(id).ips.clone(),
        Endpoint::Address(ip) => vec![ip],
    };
    let mut dns = DnsAnswers::default();
    for text in &case.dns {
        let resolution: Resolution = text.parse().map_err(|e| format!("dns: {e}"))?;
        for client in &clients {
            dns.add(Some(*client), resolution.clone(), Some(case.ttl));
        }
    }
    Ok(dns)
}

/// A decision with admin rules named by policy rather than by slot, which depends on how the
/// engine was built.
fn comparable(engine: &Engine, decision: &Decision) -> [(bool, Decider, Option<String>); 2] {
    [decision.egress, decision.ingress].map(|d| {
        let rule = d
            .admin_rule
            .map(|(slot, index)| format!("{}#{index}", engine.admin_policy(slot).id));
        (d.allowed, d.decider, rule)
    })
}

/// The fast path must say what the walkthrough says, down to the deciding admin rule.
fn agreement(engine: &Engine, decision: &Decision, verdict: &Verdict) -> Vec<String> {
    let mut problems = Vec::new();
    if decision.allowed != verdict.allowed {
        problems.push(format!(
            "decide says allowed={}, verdict says allowed={}",
            decision.allowed, verdict.allowed
        ));
    }
    for (fast, walk) in [
        (&decision.egress, &verdict.egress),
        (&decision.ingress, &verdict.ingress),
    ] {
        let side = walk.direction.as_str();
        if fast.allowed != walk.allowed || fast.decider != walk.decided_by {
            problems.push(format!(
                "{side}: decide says {}/{:?}, verdict says {}/{:?}",
                fast.allowed, fast.decider, walk.allowed, walk.decided_by
            ));
        }
        problems.extend(admin_rule_agreement(engine, side, fast, walk));
    }
    problems
}

fn admin_rule_agreement(
    engine: &Engine,
    side: &str,
    fast: &DirectionDecision,
    walk: &Walkthrough,
) -> Option<String> {
    let step = walk
        .steps
        .iter()
        .rev()
        .find(|s| matches!(s.result, StepResult::Accept | StepResult::Deny));
    match (fast.admin_rule, step) {
        (None, None) => None,
        (Some((slot, index)), Some(step)) => {
            let policy = &engine.admin_policy(slot).id;
            let same = step.policy.as_ref() == Some(policy)
                && step.rule.as_ref().map(|r| r.index) == Some(index as usize);
            (!same).then(|| {
                format!(
                    "{side}: decide names {policy}#{index}, the walkthrough {}",
                    describe_step(step)
                )
            })
        }
        (fast_rule, step) => Some(format!(
            "{side}: decide's admin rule {fast_rule:?} but walkthrough step {:?}",
            step.map(describe_step)
        )),
    }
}

/// How much a direction says about an allowed flow: a policy acted, or it was a pod nothing
/// decided for, or it was not a pod at all.
fn weight(decider: Decider) -> u8 {
    match decider {
        Decider::NotSelectable => 0,
        Decider::Default => 1,
        _ => 2,
    }
}

fn deciding(verdict: &Verdict, direction: Option<Side>) -> &Walkthrough {
    match direction {
        Some(Side::Egress) => &verdict.egress,
        Some(Side::Ingress) => &verdict.ingress,
        None if !verdict.egress.allowed => &verdict.egress,
        None if !verdict.ingress.allowed => &verdict.ingress,
        None if weight(verdict.egress.decided_by) > weight(verdict.ingress.decided_by) => {
            &verdict.egress
        }
        None => &verdict.ingress,
    }
}

/// The last step that did something to the flow: a rule with an action, or a NetworkPolicy
/// rule that allows.
fn acting_step(walk: &Walkthrough) -> Option<&Step> {
    walk.steps.iter().rev().find(|s| {
        matches!(
            s.result,
            StepResult::Accept | StepResult::Deny | StepResult::Pass | StepResult::Allow
        )
    })
}

fn rule_matches(want: &str, step: &Step) -> bool {
    let Some(policy) = &step.policy else {
        return false;
    };
    let (name, rule) = match want.split_once('#') {
        Some((name, rule)) => (name, Some(rule)),
        None => (want, None),
    };
    if name != policy.to_string() {
        return false;
    }
    match (rule, &step.rule) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(rule), Some(r)) => rule == r.index.to_string() || r.name.as_deref() == Some(rule),
    }
}

fn describe_step(step: &Step) -> String {
    let policy = step
        .policy
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let rule = step
        .rule
        .as_ref()
        .map(|r| format!("#{}", r.index))
        .unwrap_or_default();
    format!("{policy}{rule} ({:?})", step.result)
}

fn decider_name(decider: Decider) -> String {
    serde_json::to_value(decider)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{decider:?}"))
}
