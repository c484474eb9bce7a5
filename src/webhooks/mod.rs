//! Webhooks: a tenant registers a URL and gets a secret; every one of its sessions that ends
//! (decided, failed, expired, erased) is POSTed there as JSON, signed
//! (`X-Kyc-Signature: v1=HMAC-SHA256(secret, "{X-Kyc-Timestamp}.{body}")`), from a queue
//! written in the same transaction as the step that ended the session, with retries, every
//! attempt recorded, and a give-up time.

mod deliver;
mod queue;
pub mod sign;

pub use deliver::{Dispatcher, backoff};
pub use queue::{Attempt, Delivery, DeliveryStatus, WebhookQueue, stage};

/// Why a webhook URL is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the webhook URL does not parse: {0}")]
    Parse(String),
    #[error("the webhook URL must be http:// or https://")]
    Scheme,
    #[error("the webhook URL must not carry a user name or password")]
    Credentials,
    #[error("the webhook URL points at this server itself")]
    Itself,
}

/// Checks a webhook URL: http(s), a host, no credentials, and not this server (its public
/// URL, or its own listening port on a loopback or unspecified address).
pub fn check_url(
    url: &str,
    public_url: &str,
    listening: std::net::SocketAddr,
) -> Result<String, UrlError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| UrlError::Parse(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::Credentials);
    }
    let Some(host) = parsed.host_str() else {
        return Err(UrlError::Parse("no host".into()));
    };
    // A host name of letters, digits, dots and dashes (punycode for others), or an address.
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    if !(host.chars().all(plain) || host.starts_with('[')) {
        return Err(UrlError::Parse(format!("{host:?} is not a host name")));
    }
    let port = parsed.port_or_known_default();
    if let Ok(public) = reqwest::Url::parse(public_url)
        && public.host_str() == Some(host)
        && public.port_or_known_default() == port
    {
        return Err(UrlError::Itself);
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified() || ip == listening.ip());
    if local && port == Some(listening.port()) {
        return Err(UrlError::Itself);
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_elsewhere_are_taken() {
        let me: std::net::SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let public = "https://kyc.example.test";
        assert!(check_url("https://hooks.example.com/kyc", public, me).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", public, me).is_ok());
        assert_eq!(
            check_url("ftp://x.example/h", public, me),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("file:///etc/passwd", public, me),
            Err(UrlError::Scheme)
        );
        assert!(matches!(
            check_url("not a url", public, me),
            Err(UrlError::Parse(_))
        ));
        assert!(matches!(
            check_url("http://0*", public, me),
            Err(UrlError::Parse(_))
        ));
        assert_eq!(
            check_url("https://u:p@hooks.example.com/", public, me),
            Err(UrlError::Credentials)
        );
        for itself in [
            "https://kyc.example.test/api/v1/sessions",
            "https://kyc.example.test:443/x",
            "http://127.0.0.1:8080/admin/tree",
            "http://localhost:8080/",
            "http://[::1]:8080/",
            "http://0.0.0.0:8080/",
        ] {
            assert_eq!(
                check_url(itself, public, me),
                Err(UrlError::Itself),
                "{itself}"
            );
        }
    }
}
