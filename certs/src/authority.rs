//! Making certificates: a private CA, and serving certificates it signs.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Certificates start a little in the past so that nodes whose clocks lag still accept them.
const CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("making a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("reading a certificate back: {0}")]
    Read(#[from] crate::inspect::InspectError),
}

/// A PEM certificate and its PEM private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Pair {
    // Never print a private key, not even in a debug log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A new self-signed CA, valid from now for `validity`. It may sign end-entity certificates
/// only (path length 0).
pub fn new_authority(now: OffsetDateTime, validity: Duration) -> Result<Pair, IssueError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&format!("netpol-webhook-ca@{}", now.unix_timestamp()));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + validity;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A serving certificate for `names` (DNS names or IP addresses) signed by `authority`. It
/// never outlives the authority: `not_after` is capped at `authority_not_after`.
pub fn issue_serving(
    authority: &Pair,
    authority_not_after: OffsetDateTime,
    names: &[String],
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Pair, IssueError> {
    let issuer =
        Issuer::from_ca_cert_pem(&authority.cert_pem, KeyPair::from_pem(&authority.key_pem)?)?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name = common_name(names.first().map_or("netpol-webhook", String::as_str));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - CLOCK_SKEW;
    params.not_after = (now + validity).min(authority_not_after);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}
