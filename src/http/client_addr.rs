//! Who the client is, for rate limits: the peer's address, or — only when the peer is one of
//! `server.trusted_proxies` — the address the proxy forwarded for (the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy); anyone else's `X-Forwarded-For`
//! is ignored, so a client cannot pick the address it is limited under. An IPv6 client counts
//! as its /64: one home or phone network holds a whole /64, and rotating within it must not
//! buy a fresh allowance.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};

/// `server.trusted_proxies` parsed: addresses (`10.0.0.5`) and networks (`10.0.0.0/8`).
pub fn parse_proxies(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or network"))
        })
        .collect()
}

/// The address a request is limited under (see the module's doc).
pub fn client_addr(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    forwarded_for
        .into_iter()
        .flat_map(|h| h.rsplit(','))
        .map_while(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// The rate limiter's key of `ip`: an IPv4 address as it is, an IPv6 one as its /64.
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = parse_proxies(&["10.0.0.0/8".into(), " 192.168.1.7 ".into()]).expect("ok");
        assert!(parse_proxies(&["proxy.example".into()]).is_err());
        let xff = Some("203.0.113.9, 198.51.100.4, 10.1.2.3");
        // Not from a proxy: the header is the client's to invent, and ignored.
        assert_eq!(
            client_addr(ip("198.51.100.77"), xff, &trusted),
            ip("198.51.100.77")
        );
        // From a proxy: the right-most entry that is not a proxy (the left ones the client wrote).
        assert_eq!(
            client_addr(ip("10.9.9.9"), xff, &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_addr(ip("192.168.1.7"), None, &trusted),
            ip("192.168.1.7")
        );
        assert_eq!(
            client_addr(ip("10.9.9.9"), Some("junk"), &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(client_addr(ip("10.9.9.9"), xff, &[]), ip("10.9.9.9"));
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:bbbb:cccc::9")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(limit_key(ip("203.0.113.9")), "203.0.113.9");
    }
}
