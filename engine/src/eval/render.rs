//! Plain-text rendering of verdicts for people: the verdict line, then each direction's
//! walkthrough, one step per line.

use std::fmt;

use crate::model::PolicyKind;

use super::walkthrough::{Decider, Step, StepResult, Verdict, Walkthrough};

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.allowed { "ALLOWED" } else { "DENIED" };
        if self.protocol.has_ports() {
            writeln!(
                f,
                "{word}: {} -> {} {}/{}",
                self.from, self.to, self.protocol, self.port
            )?;
        } else {
            writeln!(f, "{word}: {} -> {} {}", self.from, self.to, self.protocol)?;
        }
        write!(f, "{}", self.egress)?;
        write!(f, "{}", self.ingress)
    }
}

impl fmt::Display for Walkthrough {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.allowed { "allowed" } else { "denied" };
        writeln!(
            f,
            "  {} at {}: {word} ({})",
            self.direction.as_str(),
            self.subject,
            decider(self.decided_by)
        )?;
        for step in &self.steps {
            writeln!(f, "    {step}")?;
        }
        Ok(())
    }
}

fn decider(decider: Decider) -> &'static str {
    match decider {
        Decider::NotSelectable => "no policy applies",
        Decider::ResidentNode => "NetworkPolicy, own node",
        Decider::Admin => "admin tier",
        Decider::NetworkPolicy => "NetworkPolicy",
        Decider::Baseline => "baseline tier",
        Decider::Default => "default allow",
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tier = match self.tier {
            super::TierName::Admin => "Admin",
            super::TierName::NetworkPolicy => "NetworkPolicy",
            super::TierName::Baseline => "Baseline",
            super::TierName::Default => "Default",
        };
        write!(f, "[{tier}]")?;
        if let Some(policy) = &self.policy {
            write!(f, " {policy}")?;
        }
        if let Some(priority) = self.priority {
            write!(f, " (priority {priority})")?;
        }
        if let Some(rule) = &self.rule {
            match &rule.name {
                Some(name) => write!(f, " rule {} {name:?}", rule.index)?,
                None => write!(f, " rule {}", rule.index)?,
            }
        }
        // ANP and BANP spell Accept as Allow.
        let v1alpha1 = self.policy.as_ref().is_some_and(|p| {
            matches!(
                p.kind,
                PolicyKind::AdminNetworkPolicy | PolicyKind::BaselineAdminNetworkPolicy
            )
        });
        let result = match self.result {
            StepResult::Accept if v1alpha1 => Some("Allow"),
            StepResult::Accept => Some("Accept"),
            StepResult::Deny => Some("Deny"),
            StepResult::Pass => Some("Pass"),
            StepResult::NoMatch => Some("no match"),
            StepResult::Allow => Some("allows"),
            StepResult::Isolates => Some("isolates, no rule allows"),
            StepResult::DefaultAllow => Some("default allow"),
            StepResult::Note => None,
        };
        if let Some(result) = result {
            write!(f, ": {result}")?;
        }
        if let Some(note) = &self.note {
            let sep = if result.is_some() { " — " } else { ": " };
            write!(f, "{sep}{note}")?;
        }
        Ok(())
    }
}
