//! Outbound requests to addresses that untrusted input chooses (client metadata documents of
//! MCP clients, webhook subscribers): the host must resolve, and unless the operator allows
//! private targets, every address it resolves to must be public. Callers then pin the
//! connection to the checked address (`reqwest::ClientBuilder::resolve`) so a second lookup
//! cannot rebind it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Why a host was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResolveError {
    Timeout,
    NoAddress,
    NotPublic,
}

/// Resolves `host` (without brackets) and returns the first address, refusing hosts with any
/// non-public address unless `allow_private`.
pub(crate) async fn resolve_checked(
    host: &str,
    port: u16,
    timeout: Duration,
    allow_private: bool,
) -> Result<SocketAddr, ResolveError> {
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| ResolveError::Timeout)?
            .map_err(|_| ResolveError::NoAddress)?
            .collect();
    let first = addrs.first().copied().ok_or(ResolveError::NoAddress)?;
    if !allow_private && !addrs.iter().all(|a| is_public(a.ip())) {
        return Err(ResolveError::NotPublic);
    }
    Ok(first)
}

/// Addresses jiragate may fetch from or post to without the operator's allowance: not
/// private, loopback, link-local, shared (CGNAT), documentation, benchmarking or reserved.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
