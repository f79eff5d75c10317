//! Where a webhook may be sent. An endpoint must be an http(s) URL with a host; unless the
//! server runs with `--allow-private-webhooks`, it may not be (or resolve to) a loopback,
//! link-local or private address, so that a workflow's admin cannot make Gatehouse call into
//! the network it runs in. The check runs when an endpoint is added and again on every
//! delivery (the resolver below), since a name can be pointed elsewhere after it was added.

use crate::error::AppError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Whether private destinations are allowed (`--allow-private-webhooks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    pub allow_private: bool,
}

/// Loopback, link-local, private (RFC 1918, unique local), shared (CGNAT), unspecified,
/// broadcast or multicast: nothing a public webhook receiver has.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        }
    }
}

/// The host and port of an http(s) URL, or why it is no webhook URL.
pub fn host_and_port(url: &str) -> Result<(String, u16), AppError> {
    let invalid = || AppError::invalid("url", "Give an http:// or https:// URL with a host.");
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (rest, default_port) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (rest, 443),
        (None, Some(rest)) => (rest, 80),
        _ => return Err(invalid()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        let port = after.strip_prefix(':').map(str::parse::<u16>).transpose().map_err(|_| invalid())?;
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse::<u16>().map_err(|_| invalid())?)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_ascii_lowercase(), port.unwrap_or(default_port)))
}

fn refused(host: &str, ip: IpAddr) -> AppError {
    AppError::invalid(
        "url",
        format!(
            "{host} is a private, loopback or link-local address ({ip}): webhooks go to public receivers \
             unless the server runs with --allow-private-webhooks."
        ),
    )
}

/// Checks a URL for a new endpoint: its form, and (unless allowed) that neither it nor what its
/// name resolves to now is a private address. A name that does not resolve yet is accepted: each
/// delivery checks it again.
pub async fn check(url: &str, policy: DestinationPolicy) -> Result<(), AppError> {
    let (host, port) = host_and_port(url)?;
    if policy.allow_private {
        return Ok(());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_private(ip) { Err(refused(&host, ip)) } else { Ok(()) };
    }
    let lookup = tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host((host.as_str(), port))).await;
    if let Ok(Ok(addrs)) = lookup {
        for addr in addrs {
            if is_private(addr.ip()) {
                return Err(refused(&host, addr.ip()));
            }
        }
    }
    Ok(())
}

/// Why a delivery to `url` is refused before anything is sent (an address written in the URL
/// itself; names are checked by [`PublicResolver`]), if it is.
pub fn refused_literal(url: &str, policy: DestinationPolicy) -> Option<String> {
    if policy.allow_private {
        return None;
    }
    let (host, _) = host_and_port(url).ok()?;
    let ip = host.parse::<IpAddr>().ok()?;
    is_private(ip).then(|| format!("refused: {ip} is a private address (--allow-private-webhooks is off)"))
}

/// The delivery client's resolver: the system's, with private addresses left out, so a name
/// that resolves only to private addresses fails to connect.
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                let message =
                    format!("refused: {host} resolves to a private address (--allow-private-webhooks is off)");
                return Err(message.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver for the delivery client under `policy`.
pub fn resolver(policy: DestinationPolicy) -> Option<Arc<PublicResolver>> {
    (!policy.allow_private).then(|| Arc::new(PublicResolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd12:3456::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_private(ip(public)), "{public}");
        }
    }

    #[test]
    fn urls_are_read_for_host_and_port() {
        assert_eq!(host_and_port("https://hooks.example.com/x?y").unwrap(), ("hooks.example.com".into(), 443));
        assert_eq!(host_and_port("http://127.0.0.1:9000/x").unwrap(), ("127.0.0.1".into(), 9000));
        assert_eq!(host_and_port("http://[::1]:8080/").unwrap(), ("::1".into(), 8080));
        assert_eq!(host_and_port("https://user@Example.COM").unwrap(), ("example.com".into(), 443));
        for bad in ["ftp://x", "https://", "https://a b", "https://x:port/", "http://[::1/"] {
            assert!(host_and_port(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let strict = DestinationPolicy::default();
        let error = check("http://10.0.0.5/hook", strict).await.unwrap_err();
        assert_eq!(error.field(), Some("url"));
        assert!(error.to_string().contains("--allow-private-webhooks"), "{error}");
        assert!(check("http://localhost:9/hook", strict).await.is_err(), "a name that resolves to loopback");
        assert!(check("https://8.8.8.8/hook", strict).await.is_ok());
        assert!(check("http://10.0.0.5/hook", DestinationPolicy { allow_private: true }).await.is_ok());
        assert!(refused_literal("http://[::1]:9/hook", strict).is_some());
        assert!(refused_literal("https://hooks.example.com/hook", strict).is_none());
    }
}
