//! What the person agreed to before anything of theirs is processed: the version of the consent
//! text they were shown, the purposes they agreed to, when, and who recorded it (the business's
//! backend at creation, or the person's own page later). Biometric data needs explicit consent
//! (GDPR art. 9, PIPA art. 23): no upload is accepted before it, and what was agreed stays in
//! the session's record.

use serde::{Deserialize, Serialize};

/// The purposes a person can agree to.
pub const PURPOSES: [&str; 4] = [
    "identity_verification",
    "biometric_processing",
    "fraud_prevention",
    "record_keeping",
];
/// The purposes without which nothing can be verified: reading the document and comparing the
/// faces.
pub const REQUIRED_PURPOSES: [&str; 2] = ["identity_verification", "biometric_processing"];
/// The longest consent text version accepted.
pub const MAX_VERSION_LEN: usize = 64;

/// The consent as the caller sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRequest {
    /// The version of the consent text the person was shown (1–64 printable characters).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub version: String,
    /// What they agreed to: `identity_verification` and `biometric_processing` are required;
    /// `fraud_prevention` and `record_keeping` may be added.
    #[schema(value_type = Vec<Purpose>, min_items = 2)]
    pub purposes: Vec<String>,
}

/// A purpose the person may agree to (the schema of `purposes`' items).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a description only: purposes are checked against `PURPOSES`
pub enum Purpose {
    IdentityVerification,
    BiometricProcessing,
    FraudPrevention,
    RecordKeeping,
}

/// Who recorded the consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentVia {
    /// Sent with `POST /api/v1/sessions` (the business collected it).
    Creation,
    /// Sent by the person's page with the session token.
    Person,
}

/// The consent as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    pub version: String,
    pub purposes: Vec<String>,
    pub at_ms: u64,
    pub via: ConsentVia,
}

/// Why a consent was refused (the message names the field and what is accepted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("consent.version must be 1 to {MAX_VERSION_LEN} printable characters")]
    Version,
    #[error("consent.purposes has an unknown purpose {0:?}; known: {known}", known = PURPOSES.join(", "))]
    UnknownPurpose(String),
    #[error("consent.purposes must include {0:?}: nothing can be verified without it")]
    MissingPurpose(&'static str),
}

impl ConsentRequest {
    /// The consent to record at `at_ms`, or why it cannot be: the purposes sorted, each once.
    pub fn accept(self, via: ConsentVia, at_ms: u64) -> Result<Consent, ConsentError> {
        let version = self.version.trim().to_owned();
        if version.is_empty()
            || version.chars().count() > MAX_VERSION_LEN
            || version.chars().any(char::is_control)
        {
            return Err(ConsentError::Version);
        }
        let mut purposes = self.purposes;
        if let Some(unknown) = purposes.iter().find(|p| !PURPOSES.contains(&p.as_str())) {
            return Err(ConsentError::UnknownPurpose(unknown.clone()));
        }
        if let Some(missing) = REQUIRED_PURPOSES
            .iter()
            .find(|r| !purposes.iter().any(|p| p == *r))
        {
            return Err(ConsentError::MissingPurpose(missing));
        }
        purposes.sort();
        purposes.dedup();
        Ok(Consent {
            version,
            purposes,
            at_ms,
            via,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: &str, purposes: &[&str]) -> ConsentRequest {
        ConsentRequest {
            version: version.into(),
            purposes: purposes.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_full_consent_is_recorded_sorted_and_once() {
        let c = request(
            " v2.1 ",
            &[
                "biometric_processing",
                "identity_verification",
                "biometric_processing",
            ],
        )
        .accept(ConsentVia::Person, 7)
        .expect("accepted");
        assert_eq!(c.version, "v2.1");
        assert_eq!(
            c.purposes,
            vec!["biometric_processing", "identity_verification"]
        );
        assert_eq!((c.at_ms, c.via), (7, ConsentVia::Person));
    }

    #[test]
    fn incomplete_or_unknown_consents_are_refused_with_the_reason() {
        let all = ["identity_verification", "biometric_processing"];
        assert_eq!(
            request("", &all).accept(ConsentVia::Creation, 0),
            Err(ConsentError::Version)
        );
        assert_eq!(
            request(&"x".repeat(65), &all).accept(ConsentVia::Creation, 0),
            Err(ConsentError::Version)
        );
        assert_eq!(
            request("v1", &["identity_verification"]).accept(ConsentVia::Creation, 0),
            Err(ConsentError::MissingPurpose("biometric_processing"))
        );
        let e = request(
            "v1",
            &["identity_verification", "biometric_processing", "ads"],
        )
        .accept(ConsentVia::Creation, 0)
        .expect_err("unknown purpose");
        assert!(e.to_string().contains("\"ads\""), "{e}");
    }
}
