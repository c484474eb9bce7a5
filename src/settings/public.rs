//! `server.public_url`: the address browsers reach this server at (behind a proxy, the proxy's),
//! from which the URLs handed to clients are built — never from a request's `Host` header,
//! which the client chooses. Required, and `https://`, in production.

use super::{Environment, SettingsError};

const KEY: &str = "server.public_url";

/// Checks `url` (empty: not set) for `environment`; returns it without a trailing `/`.
pub(super) fn validate(url: &str, environment: Environment) -> Result<String, SettingsError> {
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return match environment {
            Environment::Production => Err(SettingsError::invalid(
                KEY,
                "is required in production (KYC__SERVER__PUBLIC_URL=https://kyc.example.com): \
                 the WebSocket URLs given to browsers are built from it",
            )),
            _ => Ok(String::new()),
        };
    }
    let rest = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(r), _) => r,
        (None, Some(_)) if environment == Environment::Production => {
            return Err(SettingsError::invalid(
                KEY,
                "must be https:// in production (browsers then use wss:// for the WebSocket)",
            ));
        }
        (None, Some(r)) => r,
        _ => {
            return Err(SettingsError::invalid(
                KEY,
                "must start with https:// (or http:// outside production)",
            ));
        }
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#', '@', ' '])
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(SettingsError::invalid(
            KEY,
            "must be a base URL like https://kyc.example.com or https://example.com/kyc",
        ));
    }
    Ok(url.to_owned())
}

/// The WebSocket base of the HTTP base `url` (`https://x` → `wss://x`).
pub fn ws_base(url: &str) -> String {
    match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(r), _) => format!("wss://{r}"),
        (None, Some(r)) => format!("ws://{r}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_made_websocket_bases() {
        let dev = Environment::Development;
        let prod = Environment::Production;
        let ok = |url: &str, env| validate(url, env).ok();
        assert_eq!(ok("", dev).as_deref(), Some(""));
        assert!(validate("", prod).is_err());
        assert!(validate("http://kyc.example.com", prod).is_err());
        assert_eq!(
            ok("https://kyc.example.com/", prod).as_deref(),
            Some("https://kyc.example.com")
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/kyc", dev).as_deref(),
            Some("http://127.0.0.1:8080/kyc")
        );
        for bad in [
            "kyc.example.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x?y=1",
        ] {
            assert!(validate(bad, dev).is_err(), "{bad}");
        }
        assert_eq!(ws_base("https://kyc.example.com"), "wss://kyc.example.com");
        assert_eq!(ws_base("http://127.0.0.1:9"), "ws://127.0.0.1:9");
    }
}
