//! Reading certificates back: validity, names, CA flag, who signed them, whether a key
//! belongs to them.

use std::net::IpAddr;

use rcgen::{KeyPair, PublicKeyData};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("not PEM: {0}")]
    Pem(String),
    #[error("no certificate in the PEM text")]
    Empty,
    #[error("not an X.509 certificate: {0}")]
    X509(String),
    #[error("the private key cannot be read: {0}")]
    Key(String),
}

/// What matters of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// DNS names and IP addresses of the subjectAltName extension, sorted.
    pub names: Vec<String>,
    pub is_ca: bool,
    /// The DER encoding, to check signatures and keys against.
    pub der: Vec<u8>,
    /// The PEM block it was read from.
    pub pem: String,
}

impl CertInfo {
    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// True when `issuer`'s key made this certificate's signature.
    pub fn is_signed_by(&self, issuer: &CertInfo) -> bool {
        let (Ok((_, cert)), Ok((_, issuer))) = (
            x509_parser::parse_x509_certificate(&self.der),
            x509_parser::parse_x509_certificate(&issuer.der),
        ) else {
            return false;
        };
        cert.verify_signature(Some(issuer.public_key())).is_ok()
    }

    /// True when `key_pem` is the private key of this certificate.
    pub fn matches_key(&self, key_pem: &str) -> Result<bool, InspectError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| InspectError::Key(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&self.der)
            .map_err(|e| InspectError::X509(e.to_string()))?;
        Ok(cert.public_key().raw == key.subject_public_key_info().as_slice())
    }
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Every certificate of a PEM text, in order (text between blocks is ignored).
pub fn certificates(text: &str) -> Result<Vec<CertInfo>, InspectError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            return Err(InspectError::Pem(format!("{BEGIN} without {END}")));
        };
        let block = &rest[start..start + len + END.len()];
        let (pem, _) = Pem::read(std::io::Cursor::new(block.as_bytes()))
            .map_err(|e| InspectError::Pem(e.to_string()))?;
        out.push(info(pem.contents, format!("{block}\n"))?);
        rest = &rest[start + len + END.len()..];
    }
    if out.is_empty() {
        return Err(InspectError::Empty);
    }
    Ok(out)
}

fn info(der: Vec<u8>, pem: String) -> Result<CertInfo, InspectError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| InspectError::X509(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names.sort();
    names.dedup();
    let validity = cert.validity();
    let info = CertInfo {
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        names,
        is_ca: cert.is_ca(),
        der: Vec::new(),
        pem,
    };
    Ok(CertInfo { der, ..info })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}
