//! What to write, given what the Secret holds and the time: nothing, a new serving
//! certificate, or a new CA. Pure, so every case is a table test.
//!
//! A CA is replaced while it still has more than a serving certificate's lifetime left, and
//! the old one stays in the bundle until it expires: the `caBundle` reaches the API server
//! before any certificate of the new CA is served. The serving certificate is replaced when
//! it comes within `renew_before` of expiry, names other hosts, or was not made by a trusted
//! CA.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::authority::{self, IssueError, Pair};
use crate::bundle::Bundle;
use crate::inspect::{self, CertInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub authority_validity: Duration,
    pub serving_validity: Duration,
    /// How long before expiry a certificate is replaced.
    pub renew_before: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            authority_validity: Duration::days(5 * 365),
            serving_validity: Duration::days(365),
            renew_before: Duration::days(30),
        }
    }
}

/// How much longer than a fresh certificate a stored one may last before it is replaced: room
/// for clocks of replicas that disagree a little.
const OUTLIVE_SLACK: Duration = Duration::minutes(5);

/// Why a new bundle is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Missing,
    /// The Secret's contents could not be used (they are replaced).
    Unreadable(String),
    AuthorityExpiring {
        not_after: OffsetDateTime,
    },
    /// Expired CAs are dropped from the bundle.
    AuthorityExpired {
        count: usize,
    },
    ServingExpiring {
        not_after: OffsetDateTime,
    },
    /// The serving certificate would outlive a fresh one: the policy was shortened.
    ServingOutlivesPolicy {
        not_after: OffsetDateTime,
    },
    NamesChanged {
        had: Vec<String>,
    },
    ServingNotTrusted,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "no certificate yet"),
            Self::Unreadable(why) => write!(f, "the stored certificates cannot be used: {why}"),
            Self::AuthorityExpiring { not_after } => {
                write!(
                    f,
                    "the CA expires at {not_after}: a new CA joins the bundle"
                )
            }
            Self::AuthorityExpired { count } => {
                write!(f, "{count} expired CA(s) dropped from the bundle")
            }
            Self::ServingExpiring { not_after } => {
                write!(f, "the serving certificate expires at {not_after}")
            }
            Self::ServingOutlivesPolicy { not_after } => {
                write!(
                    f,
                    "the serving certificate lasts until {not_after}, longer than the validity now set"
                )
            }
            Self::NamesChanged { had } => {
                write!(f, "the serving certificate names {}", had.join(", "))
            }
            Self::ServingNotTrusted => {
                write!(f, "the serving certificate was not signed by a trusted CA")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Write {
        bundle: Bundle,
        reasons: Vec<Reason>,
    },
}

/// Decides what the Secret should hold. `current` is `None` when there is no Secret and an
/// error when its data lacks keys; `names` are the serving certificate's DNS names and IPs.
pub fn plan(
    current: Option<Result<&Bundle, String>>,
    names: &[String],
    now: OffsetDateTime,
    policy: &Policy,
) -> Result<Decision, IssueError> {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    let existing = match current {
        None => return fresh(&names, now, policy, Reason::Missing),
        Some(Err(why)) => return fresh(&names, now, policy, Reason::Unreadable(why)),
        Some(Ok(bundle)) => match Parsed::read(bundle) {
            Ok(parsed) => parsed,
            Err(why) => return fresh(&names, now, policy, Reason::Unreadable(why)),
        },
    };
    let mut reasons = Vec::new();
    let mut authorities: Vec<CertInfo> = existing
        .authorities
        .iter()
        .filter(|ca| now < ca.not_after)
        .cloned()
        .collect();
    let expired = existing.authorities.len() - authorities.len();
    if expired > 0 {
        reasons.push(Reason::AuthorityExpired { count: expired });
    }
    let mut signer = Pair {
        cert_pem: existing.authorities[0].pem.clone(),
        key_pem: existing.authority_key.clone(),
    };
    let signer_end = existing.authorities[0].not_after;
    if signer_end - now < policy.serving_validity + policy.renew_before {
        reasons.push(Reason::AuthorityExpiring {
            not_after: signer_end,
        });
        signer = authority::new_authority(now, policy.authority_validity)?;
        authorities.insert(0, only(&signer.cert_pem)?);
    }
    let serving = &existing.serving;
    let trusted = authorities.iter().any(|ca| serving.is_signed_by(ca));
    let serving_reason = if serving.names != names {
        Some(Reason::NamesChanged {
            had: serving.names.clone(),
        })
    } else if !trusted {
        Some(Reason::ServingNotTrusted)
    } else if serving.not_after - now < policy.renew_before {
        Some(Reason::ServingExpiring {
            not_after: serving.not_after,
        })
    } else if serving.not_after - now > policy.serving_validity + OUTLIVE_SLACK {
        Some(Reason::ServingOutlivesPolicy {
            not_after: serving.not_after,
        })
    } else {
        None
    };
    let serving_pair = match serving_reason {
        None => existing.serving_pair.clone(),
        Some(reason) => {
            reasons.push(reason);
            let signer_not_after = authorities[0].not_after;
            authority::issue_serving(
                &signer,
                signer_not_after,
                &names,
                now,
                policy.serving_validity,
            )?
        }
    };
    if reasons.is_empty() {
        return Ok(Decision::Keep);
    }
    Ok(Decision::Write {
        bundle: Bundle {
            authorities: authorities.iter().map(|ca| ca.pem.as_str()).collect(),
            authority_key: signer.key_pem,
            serving: serving_pair,
        },
        reasons,
    })
}

/// A new CA and a serving certificate from it.
fn fresh(
    names: &[String],
    now: OffsetDateTime,
    policy: &Policy,
    reason: Reason,
) -> Result<Decision, IssueError> {
    let ca = authority::new_authority(now, policy.authority_validity)?;
    let serving = authority::issue_serving(
        &ca,
        now + policy.authority_validity,
        names,
        now,
        policy.serving_validity,
    )?;
    Ok(Decision::Write {
        bundle: Bundle {
            authorities: ca.cert_pem,
            authority_key: ca.key_pem,
            serving,
        },
        reasons: vec![reason],
    })
}

fn only(pem: &str) -> Result<CertInfo, IssueError> {
    Ok(inspect::certificates(pem)?.remove(0))
}

/// A stored bundle, read and checked for consistency.
struct Parsed {
    authorities: Vec<CertInfo>,
    authority_key: String,
    serving: CertInfo,
    serving_pair: Pair,
}

impl Parsed {
    fn read(bundle: &Bundle) -> Result<Self, String> {
        let authorities =
            inspect::certificates(&bundle.authorities).map_err(|e| format!("ca.crt: {e}"))?;
        let signer = &authorities[0];
        if !signer.is_ca {
            return Err("ca.crt: the first certificate is not a CA".to_owned());
        }
        if !signer
            .matches_key(&bundle.authority_key)
            .map_err(|e| format!("ca.key: {e}"))?
        {
            return Err("ca.key is not the key of the first certificate in ca.crt".to_owned());
        }
        let serving = inspect::certificates(&bundle.serving.cert_pem)
            .map_err(|e| format!("tls.crt: {e}"))?
            .remove(0);
        if !serving
            .matches_key(&bundle.serving.key_pem)
            .map_err(|e| format!("tls.key: {e}"))?
        {
            return Err("tls.key is not the key of tls.crt".to_owned());
        }
        Ok(Self {
            authorities,
            authority_key: bundle.authority_key.clone(),
            serving,
            serving_pair: bundle.serving.clone(),
        })
    }
}
