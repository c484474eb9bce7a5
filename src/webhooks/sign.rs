//! The signature of a webhook notification: `X-Kyc-Signature: v1=` and the hex HMAC-SHA256,
//! keyed with the tenant's webhook secret, of `{X-Kyc-Timestamp}.{body}`. A receiver
//! recomputes it over the bytes it received and refuses a timestamp older than a few minutes
//! (a replay); `kyc webhooks verify` does exactly that.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature's version prefix.
pub const VERSION: &str = "v1=";

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    format!(
        "{VERSION}{}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Why a signature does not hold.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the signature is not `v1=` and 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body and timestamp")]
    Mismatch,
    #[error("the timestamp is {0} s away from now (more than the tolerance)")]
    Stale(u64),
}

/// Checks `signature` over `body` sent at `timestamp` (Unix seconds), `now` within
/// `tolerance_secs` of it. Compared in constant time.
pub fn verify(
    secret: &str,
    timestamp: u64,
    body: &[u8],
    signature: &str,
    now: u64,
    tolerance_secs: u64,
) -> Result<(), Invalid> {
    let hex_part = signature
        .trim()
        .strip_prefix(VERSION)
        .ok_or(Invalid::Malformed)?;
    let given = hex::decode(hex_part).map_err(|_| Invalid::Malformed)?;
    mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| Invalid::Mismatch)?;
    let skew = now.abs_diff(timestamp);
    if skew > tolerance_secs {
        return Err(Invalid::Stale(skew));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_its_secret_body_and_time() {
        let body = br#"{"type":"session.decided"}"#;
        let s = sign("whsec_a", 1_700_000_000, body);
        assert!(s.starts_with("v1=") && s.len() == 3 + 64, "{s}");
        assert_eq!(
            verify("whsec_a", 1_700_000_000, body, &s, 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify("whsec_b", 1_700_000_000, body, &s, 1_700_000_000, 300),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", 1_700_000_001, body, &s, 1_700_000_000, 300),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", 1_700_000_000, b"{}", &s, 1_700_000_000, 300),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", 1_700_000_000, body, &s, 1_700_001_000, 300),
            Err(Invalid::Stale(1000))
        );
        assert_eq!(
            verify("whsec_a", 1_700_000_000, body, "sha256=00", 0, 300),
            Err(Invalid::Malformed)
        );
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").expect("key");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
