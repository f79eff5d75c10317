//! Who the client is, behind proxies. The TCP peer is the client unless it is one of the
//! configured trusted proxies (`--trusted-proxies`); then the client is the rightmost address in
//! the forwarding headers that is not itself a trusted proxy. Headers from anyone else are
//! ignored, so a client cannot choose its own address by sending them. Pure: the caller hands in
//! the peer and the header values.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of CIDR ranges or single addresses: `10.0.0.0/8, 192.168.1.7`.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("'{entry}' is neither an address nor a CIDR range (such as 10.0.0.0/8)"))?,
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client of a request that came from `peer` with these `Forwarded` and
    /// `X-Forwarded-For` header values (each header as often as it was sent, in order). A
    /// `Forwarded` header wins over `X-Forwarded-For` when both came.
    pub fn client(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = if forwarded.iter().any(|h| !h.trim().is_empty()) {
            forwarded.iter().flat_map(|h| h.split(',')).map(forwarded_for).collect()
        } else {
            x_forwarded_for.iter().flat_map(|h| h.split(',')).map(|hop| parse_hop(hop.trim())).collect()
        };
        // From the right: each trusted proxy vouches for the hop before it. The first hop it
        // cannot vouch for (not a trusted proxy) is the client. A hop that is no address
        // (`unknown`, an obfuscated name) ends the walk: the proxy that reported it is the
        // furthest known.
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The address of one `Forwarded` element's `for=` parameter (RFC 7239), if it is one.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| parse_hop(value.trim().trim_matches('"'))).flatten()
    })
}

/// An address as a forwarding header writes it: `203.0.113.5`, `203.0.113.5:4711`, `[2001:db8::1]`
/// or `[2001:db8::1]:4711`, or a bare IPv6 address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok()).map(canonical);
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    #[test]
    fn lists_of_ranges_and_addresses_parse() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.7,2001:db8::/32");
        assert!(trusted.trusts(ip("10.1.2.3")) && trusted.trusts(ip("192.168.1.7")));
        assert!(!trusted.trusts(ip("192.168.1.8")) && !trusted.trusts(ip("11.0.0.1")));
        assert!(trusted.trusts(ip("2001:db8::1")) && trusted.trusts(ip("::ffff:10.0.0.1")));
        assert!(proxies("").is_empty());
        let error = "10.0.0.0/33".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("'10.0.0.0/33'"), "{error}");
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("198.51.100.9"), &[], &["203.0.113.5"]), ip("198.51.100.9"));
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(trusted.client(ip("198.51.100.9"), &["for=203.0.113.5"], &["203.0.113.5"]), ip("198.51.100.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        // The client wrote a header of its own: the proxy appended the real address.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &["1.2.3.4, 203.0.113.5"]), ip("203.0.113.5"));
        // Two proxies of ours: the inner one is skipped.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &["203.0.113.5, 10.0.0.3"]), ip("203.0.113.5"));
        // Several headers count as one list, in order.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &["1.2.3.4", "203.0.113.5:4711"]), ip("203.0.113.5"));
        // Only proxies of ours: the leftmost of them.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &["10.0.0.9, 10.0.0.3"]), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &[]), ip("10.0.0.2"));
        // A hop that is no address stops the walk at the proxy that reported it.
        assert_eq!(trusted.client(ip("10.0.0.2"), &[], &["203.0.113.5, unknown"]), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_and_wins_over_x_forwarded_for() {
        let trusted = proxies("10.0.0.0/8");
        let forwarded = [r#"for=1.2.3.4;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.2"#];
        assert_eq!(trusted.client(ip("10.0.0.2"), &forwarded, &["203.0.113.5"]), ip("2001:db8:cafe::17"));
        assert_eq!(trusted.client(ip("10.0.0.2"), &["for=_hidden"], &["203.0.113.5"]), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("::ffff:10.0.0.2"), &[], &["203.0.113.5"]), ip("203.0.113.5"));
    }
}
