//! Which network addresses count as public: what a relying party may point a device at (logos),
//! and what a device may fetch. Pure functions; resolving names is the caller's job (a device must
//! check every address a name resolves to, on every redirect hop).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Host;

/// True for an address on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local, shared (CGNAT), unspecified, multicast, broadcast, documentation or benchmarking,
/// and not an IPv4 address in IPv6 clothing that is any of those.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // Addresses that carry (or reach) an IPv4 address: judge that address.
            let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64, 64:ff9b::/96
                || s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0
            // IPv4-translated ::ffff:0:0/96
            {
                return is_public_v4(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                // 6to4: the IPv4 address is in the second and third groups.
                return is_public_v4(embedded(s[1], s[2]));
            }
            let first = s[0];
            if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64, 64:ff9b:1::/48
                || (s[0] == 0x2001 && s[1] == 0) // Teredo, 2001::/32 (tunnels to anywhere)
                || s[..4] == [0x100, 0, 0, 0]
            // discard-only, 100::/64
            {
                return false;
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// True when a URL host is a loopback address or a name for one (`localhost`, `*.localhost`).
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// True when a URL host can be public as written: a public IP literal, or a name that is not
/// local by its form (`localhost`, `*.localhost`, `*.local`, `*.internal`, or a single label like
/// `intranet`). A name may still resolve to a private address; devices check after resolving.
pub fn is_public_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_public_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_public_ip(IpAddr::V6(*ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            const LOCAL_SUFFIXES: [&str; 9] = [
                ".local",
                ".internal",
                ".localdomain",
                ".home.arpa",
                ".lan",
                ".home",
                ".corp",
                ".intranet",
                ".private",
            ];
            name.contains('.')
                && !is_loopback_host(host)
                && !LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s))
                && name.parse::<Ipv6Addr>().is_err()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(
                !is_public_ip(ip.parse().unwrap()),
                "{ip} must not count as public"
            );
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn local_names_are_not_public() {
        for url in [
            "http://localhost/x",
            "http://LOCALHOST./x",
            "http://a.localhost/x",
            "http://printer.local/x",
            "http://intranet/x",
            "http://db.internal/x",
            "http://127.0.0.1/x",
            "http://[::1]/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
        ] {
            let url = url::Url::parse(url).unwrap();
            assert!(
                !is_public_host(&url.host().unwrap()),
                "{url} must not count as public"
            );
        }
        let url = url::Url::parse("https://cdn.acme.example/logo.png").unwrap();
        assert!(is_public_host(&url.host().unwrap()));
    }
}
