//! What the Secret holds: the trusted CAs (`ca.crt`: the signing CA first, then older CAs
//! kept until they expire so that certificates they signed stay trusted during a rotation),
//! the signing CA's key (`ca.key`) and the serving pair (`tls.crt`, `tls.key`, the keys a
//! `kubernetes.io/tls` Secret has).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use crate::authority::Pair;

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const TLS_CERT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the Secret has no {0:?} key")]
    Missing(&'static str),
    #[error("the Secret's {0:?} is not UTF-8 text")]
    NotText(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// PEM certificates of the trusted CAs, the signing CA first: the webhook's `caBundle`.
    pub authorities: String,
    /// PEM key of the signing CA.
    pub authority_key: String,
    /// The serving certificate and key.
    pub serving: Pair,
}

impl Bundle {
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Result<Self, BundleError> {
        let text = |key: &'static str| {
            let bytes = data.get(key).ok_or(BundleError::Missing(key))?;
            String::from_utf8(bytes.0.clone()).map_err(|_| BundleError::NotText(key))
        };
        Ok(Self {
            authorities: text(CA_CERT)?,
            authority_key: text(CA_KEY)?,
            serving: Pair {
                cert_pem: text(TLS_CERT)?,
                key_pem: text(TLS_KEY)?,
            },
        })
    }

    pub fn to_secret_data(&self) -> BTreeMap<String, ByteString> {
        [
            (CA_CERT, &self.authorities),
            (CA_KEY, &self.authority_key),
            (TLS_CERT, &self.serving.cert_pem),
            (TLS_KEY, &self.serving.key_pem),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), ByteString(value.as_bytes().to_vec())))
        .collect()
    }
}
