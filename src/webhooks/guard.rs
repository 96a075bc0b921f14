//! Keeps webhook deliveries out of the deployment's own network (server-side request forgery):
//! an endpoint's host must resolve only to public addresses, unless `webhooks.allow_private` or
//! `webhooks.allowed_networks` say otherwise. The check is made when an endpoint is registered
//! (a clear error for the admin) and again for every delivery, inside the HTTP client's resolver
//! ([`GuardedResolver`]): the client connects to exactly the addresses that passed, so a DNS
//! answer that changes between check and connection (rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::config::WebhookSettings;

/// What deliveries may reach.
#[derive(Debug, Clone)]
pub struct Guard {
    allow_private: bool,
    allowed: Vec<IpNet>,
}

impl Guard {
    /// # Errors
    /// An entry of `allowed_networks` that is not a CIDR network or an address.
    pub fn new(settings: &WebhookSettings) -> anyhow::Result<Self> {
        let allowed = settings
            .allowed_networks
            .iter()
            .map(|n| {
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("webhooks.allowed_networks: '{n}' is not a network or address"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { allow_private: settings.allow_private, allowed })
    }

    /// A guard with these rules (Web Push, which has its own settings).
    pub fn with(allow_private: bool, allowed: Vec<IpNet>) -> Self {
        Self { allow_private, allowed }
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || !is_internal(ip) || self.allowed.iter().any(|n| n.contains(&ip))
    }

    /// The addresses of `host` (a name or an address literal), all of which must be permitted.
    ///
    /// # Errors
    /// The name does not resolve, or resolves to an address that is not permitted (named in the
    /// message).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("{host} does not resolve: {e}"))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{host} does not resolve"));
        }
        // One internal address refuses the host: the client could pick any of them.
        if let Some(bad) = addrs.iter().find(|a| !self.permits(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, an internal address (loopback, private, link-local or similar); \
                 webhooks.allow_private or webhooks.allowed_networks would allow it",
                bad.ip()
            ));
        }
        Ok(addrs)
    }
}

/// Loopback, private, link-local, unspecified, multicast, broadcast, shared (CGNAT),
/// documentation and other special-purpose ranges, IPv4 and IPv6; IPv4-mapped, -compatible and
/// 6to4 IPv6 judged as the IPv4 address they carry, Teredo refused. Hand-written: `std`'s
/// `is_global` is unstable.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (IETF protocol assignments) and 198.18.0.0/15 (benchmarking).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4, reserved.
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let segments = ip.segments();
    // ::a.b.c.d (IPv4-compatible, deprecated) still reaches the IPv4 address on some stacks.
    if segments[..6].iter().all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        return is_internal_v4(Ipv4Addr::from(((u32::from(segments[6])) << 16) | u32::from(segments[7])));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // 2002::/16, 6to4: the relay delivers to the IPv4 address in bits 16-47, so it is judged
        // by that (2002:7f00:1:: reaches 127.0.0.1 where a relay runs).
        || (segments[0] == 0x2002
            && is_internal_v4(Ipv4Addr::from((u32::from(segments[1]) << 16) | u32::from(segments[2]))))
        // 2001::/32, Teredo: tunnelled to an obfuscated IPv4 address behind a NAT the guard cannot
        // see; no webhook receiver needs it, so it is refused outright.
        || (segments[0] == 0x2001 && segments[1] == 0)
        // 100::/64, discard-only.
        || (segments[0] == 0x100 && segments[1..4].iter().all(|s| *s == 0))
        // 2001:db8::/32, documentation.
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        // 64:ff9b:1::/48, local-use NAT64 (the well-known 64:ff9b::/96 maps public IPv4 and is
        // judged by the address it carries).
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1)
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6].iter().all(|s| *s == 0)
            && is_internal_v4(Ipv4Addr::from((u32::from(segments[6]) << 16) | u32::from(segments[7]))))
}

/// The HTTP client's resolver: resolves with the system resolver and hands the client only
/// addresses the guard permits (or an error), so the connection goes to a checked address.
pub struct GuardedResolver(pub Arc<Guard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            // Port 0: the client puts in the URL's port.
            let addrs = guard
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(s: &str) -> bool {
        is_internal(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_of_both_families_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(internal(ip), "{ip} should be internal");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
            "2001:4860:4860::8888",
        ] {
            assert!(!internal(ip), "{ip} should be public");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_their_range() {
        let settings = WebhookSettings {
            allow_private: false,
            allowed_networks: vec!["10.1.2.0/24".into(), "fd00::7".into()],
            connect_timeout_ms: 1,
            timeout_ms: 1,
            max_consecutive_failures: 1,
            max_attempts: 1,
            retry_base_ms: 1,
            retry_max_ms: 1,
            poll_interval_ms: 1,
            batch_size: 1,
            refresh_interval_ms: 1,
        };
        let guard = Guard::new(&settings).unwrap();
        assert!(guard.permits("10.1.2.9".parse().unwrap()));
        assert!(guard.permits("fd00::7".parse().unwrap()));
        assert!(!guard.permits("10.1.3.9".parse().unwrap()));
        assert!(Guard::new(&WebhookSettings { allowed_networks: vec!["nope".into()], ..settings }).is_err());
    }
}
