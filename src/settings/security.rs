//! `[security]`: the master key that wraps every session's data key. Kept apart so the one rule
//! that matters — production never starts without a good key — sits in one place.

use super::{Environment, SettingsError};
use crate::crypto::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The environment variable that sets `security.master_key`, named in every error about it.
pub const MASTER_KEY_VAR: &str = "KYC__SECURITY__MASTER_KEY";

/// `[security]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// 32 bytes, standard base64 (`kyc keys generate`). Required in production; in development
    /// and test a key kept in the data folder is used when it is unset (see
    /// `crate::media::master`).
    pub master_key: Option<SecretString>,
}

impl SecuritySettings {
    /// A set key must parse in every environment; production needs one.
    pub fn validate(&self, environment: Environment) -> Result<(), SettingsError> {
        match &self.master_key {
            None if environment == Environment::Production => Err(SettingsError::invalid(
                "security.master_key",
                format!(
                    "is required in production: set {MASTER_KEY_VAR} to a key from \
                     `kyc keys generate` (32 bytes, base64)"
                ),
            )),
            None => Ok(()),
            Some(k) => self::parse(k).map(|_| ()),
        }
    }

    /// The configured master key, if one is set (checked by [`SecuritySettings::validate`]).
    pub fn master_key(&self) -> Result<Option<MasterKey>, SettingsError> {
        self.master_key.as_ref().map(parse).transpose()
    }
}

fn parse(key: &SecretString) -> Result<MasterKey, SettingsError> {
    MasterKey::from_base64(key.expose_secret()).map_err(|e| {
        SettingsError::invalid(
            "security.master_key",
            format!(
                "{e}: set {MASTER_KEY_VAR} to a key from `kyc keys generate` (32 bytes, base64)"
            ),
        )
    })
}
