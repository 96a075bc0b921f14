//! The client address the per-IP limits key on.
//!
//! The TCP peer is the client unless it is one of `server.trusted_proxies`; only then is
//! `X-Forwarded-For` read, from the right: each trusted proxy appends the address it saw, so the
//! rightmost entry that is not a trusted proxy is the first address no proxy of ours vouches
//! for. Everything to its left was written by the client and is ignored. `Forwarded` is never
//! read: nginx passes a client's own `Forwarded` through untouched, so trusting it (as actix's
//! `realip_remote_addr()` does) let anyone choose the address their limits were counted against.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.5`, `::1`) and networks (`10.0.0.0/8`).
    ///
    /// # Errors
    /// The first entry that is neither, quoted.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of `req` (see the module comment).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| canonical(a.ip()));
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        self.resolve(peer, &forwarded)
    }

    /// Walks `forwarded` (header order, left to right) from the right while the hop we stand on
    /// is trusted. An entry that does not parse ends the walk at the last address we could
    /// believe: a trusted proxy never writes garbage, so garbage came from the client.
    fn resolve(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            if !self.contains(client) {
                break;
            }
            match parse_hop(entry) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip())).ok().map(canonical)
}

/// What a per-address limit counts against: an IPv4 address itself, an IPv6 address's /64
/// network. A single host is commonly given a whole /64 and can use any address in it, so keyed on
/// the full address every limit would be as many budgets as the host cares to make.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        IpAddr::V4(_) => ip,
    }
}

/// [`limit_key`] of an address the server wrote down (a support session's `visitor_address`), as
/// text: what a support block by address matches. An address that does not parse is its own key.
pub fn address_key(address: &str) -> String {
    address.parse::<IpAddr>().map_or_else(|_| address.to_owned(), |ip| limit_key(canonical(ip)).to_string())
}

/// An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`; limits and the proxy list
/// speak of it as `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("valid list")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_written_address_keys_as_its_limit() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("not an address"), "not an address");
    }

    #[test]
    fn an_ipv6_address_is_limited_as_its_64_and_an_ipv4_one_as_itself() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = proxies(&[]);
        assert_eq!(none.resolve(ip("203.0.113.9"), &["1.1.1.1"]), ip("203.0.113.9"));
        let lan = proxies(&["10.0.0.0/8"]);
        assert_eq!(lan.resolve(ip("203.0.113.9"), &["10.0.0.1", "1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The client wrote "1.1.1.1"; nginx appended what it saw; a CDN in front of nginx (trusted)
        // appended the real client before that.
        let xff = ["1.1.1.1", "198.51.100.4", "192.0.2.7"];
        assert_eq!(p.resolve(ip("10.1.2.3"), &xff), ip("198.51.100.4"));
        assert_eq!(p.resolve(ip("10.1.2.3"), &[" 198.51.100.4:5555 "]), ip("198.51.100.4"));
        // Only trusted hops: the leftmost is as far as anyone vouches.
        assert_eq!(p.resolve(ip("10.1.2.3"), &["10.9.9.9"]), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(p.resolve(ip("10.1.2.3"), &[]), ip("10.1.2.3"));
        // Garbage ends the walk at the last believable hop.
        assert_eq!(p.resolve(ip("10.1.2.3"), &["1.1.1.1", "unknown"]), ip("10.1.2.3"));
    }

    #[test]
    fn mapped_ipv4_matches_ipv4_entries_and_bad_entries_are_named() {
        let p = proxies(&["127.0.0.1", "::1"]);
        assert!(p.contains(ip("::ffff:127.0.0.1")));
        assert!(p.contains(ip("::1")));
        assert!(!p.contains(ip("127.0.0.2")));
        let err = TrustedProxies::parse(&["10.0.0.0/33".to_owned()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }
}
