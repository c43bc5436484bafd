//! What kind of destination an IP address is: public, on a private network
//! (loopback, RFC 1918, unique-local, link-local, shared CGNAT space), or
//! never a destination at all (unspecified, this-network, broadcast,
//! multicast, documentation, reserved). IPv6 forms that carry an IPv4
//! address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they
//! lead to. The ranges are the IANA special-purpose registries' (RFC 6890
//! and successors), written once in the two tables below.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Globally routable: an ordinary webhook destination.
    Public,
    /// `127.0.0.0/8`, `::1`: this host.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `169.254.0.0/16`, `fe80::/10`; cloud metadata services live here.
    LinkLocal,
    /// `100.64.0.0/10`, carrier-grade NAT and overlay networks (RFC 6598).
    Shared,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8` other than `0.0.0.0`.
    ThisNetwork,
    /// `255.255.255.255`.
    Broadcast,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// Anything else set aside: protocol assignments, benchmarking,
    /// `240.0.0.0/4`, discard-only, deprecated or unassigned IPv6 space.
    Reserved,
}

impl Class {
    /// Whether this is a private-network class, allowed only when a
    /// deployment opts in (its webhook receivers are on its own network).
    pub fn is_private_network(self) -> bool {
        matches!(
            self,
            Class::Loopback
                | Class::Private
                | Class::UniqueLocal
                | Class::LinkLocal
                | Class::Shared
        )
    }

    /// How messages name the class.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::UniqueLocal => "unique-local",
            Class::LinkLocal => "link-local",
            Class::Shared => "shared address space (100.64.0.0/10)",
            Class::Unspecified => "unspecified",
            Class::ThisNetwork => "this-network (0.0.0.0/8)",
            Class::Broadcast => "broadcast",
            Class::Multicast => "multicast",
            Class::Documentation => "documentation",
            Class::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IPv4 special ranges, most specific first: (network, prefix length, class).
const V4: &[([u8; 4], u8, Class)] = &[
    ([0, 0, 0, 0], 32, Class::Unspecified),
    ([0, 0, 0, 0], 8, Class::ThisNetwork),
    ([10, 0, 0, 0], 8, Class::Private),
    ([100, 64, 0, 0], 10, Class::Shared),
    ([127, 0, 0, 0], 8, Class::Loopback),
    ([169, 254, 0, 0], 16, Class::LinkLocal),
    ([172, 16, 0, 0], 12, Class::Private),
    ([192, 0, 0, 0], 24, Class::Reserved),
    ([192, 0, 2, 0], 24, Class::Documentation),
    ([192, 88, 99, 0], 24, Class::Reserved),
    ([192, 168, 0, 0], 16, Class::Private),
    ([198, 18, 0, 0], 15, Class::Reserved),
    ([198, 51, 100, 0], 24, Class::Documentation),
    ([203, 0, 113, 0], 24, Class::Documentation),
    ([224, 0, 0, 0], 4, Class::Multicast),
    ([255, 255, 255, 255], 32, Class::Broadcast),
    ([240, 0, 0, 0], 4, Class::Reserved),
];

/// IPv6 special ranges not carrying an IPv4 address, most specific first.
const V6: &[([u16; 8], u8, Class)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, Class::Unspecified),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, Class::Loopback),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Class::Reserved),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Class::Documentation),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Class::Reserved),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Class::Documentation),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Class::UniqueLocal),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, Class::LinkLocal),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Class::Reserved),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Class::Multicast),
];

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let bits = u32::from(ip);
    V4.iter()
        .find(|(network, len, _)| prefix_matches_v4(bits, u32::from_be_bytes(*network), *len))
        .map_or(Class::Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let bits = u128::from(ip);
    if let Some((_, _, class)) = V6.iter().find(|(network, len, _)| {
        prefix_matches_v6(bits, u128::from(Ipv6Addr::from(*network)), *len)
    }) {
        return *class;
    }
    if let Some((v4, form)) = embedded_v4(bits) {
        let class = classify_v4(v4);
        // Compatible addresses are deprecated and no longer routed: one
        // leading to a public address is not a destination either.
        return match (form, class) {
            (Form::Compatible, Class::Public) => Class::Reserved,
            _ => class,
        };
    }
    if prefix_matches_v6(bits, 0x2000 << 112, 3) {
        Class::Public
    } else {
        Class::Reserved
    }
}

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `::a.b.c.d` (RFC 4291, deprecated).
    Compatible,
    /// `64:ff9b::a.b.c.d`: a NAT64 translator connects to the IPv4 address.
    Nat64,
    /// `2002:aabb:ccdd::/48`: a 6to4 relay tunnels to the IPv4 address.
    SixToFour,
}

/// The IPv4 address an IPv6 address leads to, other than the mapped form.
fn embedded_v4(bits: u128) -> Option<(Ipv4Addr, Form)> {
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0 {
        return Some((low, Form::Compatible));
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some((low, Form::Nat64));
    }
    if bits >> 112 == 0x2002 {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return Some((v4, Form::SixToFour));
    }
    None
}

fn prefix_matches_v4(bits: u32, network: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    bits & mask == network & mask
}

fn prefix_matches_v6(bits: u128, network: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    bits & mask == network & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Class {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "203.113.131.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2400:cb00::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(class(ip), Class::Public, "{ip}");
        }
    }

    #[test]
    fn v4_private_networks() {
        for (ip, expected) in [
            ("127.0.0.1", Class::Loopback),
            ("127.255.255.254", Class::Loopback),
            ("10.0.0.1", Class::Private),
            ("10.255.255.255", Class::Private),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("192.168.1.1", Class::Private),
            ("169.254.169.254", Class::LinkLocal),
            ("100.64.0.1", Class::Shared),
            ("100.127.255.255", Class::Shared),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
            assert!(expected.is_private_network(), "{ip}");
        }
    }

    #[test]
    fn v4_never_destinations() {
        for (ip, expected) in [
            ("0.0.0.0", Class::Unspecified),
            ("0.0.0.1", Class::ThisNetwork),
            ("0.255.255.255", Class::ThisNetwork),
            ("255.255.255.255", Class::Broadcast),
            ("224.0.0.1", Class::Multicast),
            ("239.255.255.250", Class::Multicast),
            ("192.0.2.1", Class::Documentation),
            ("198.51.100.7", Class::Documentation),
            ("203.0.113.9", Class::Documentation),
            ("192.0.0.8", Class::Reserved),
            ("198.18.0.1", Class::Reserved),
            ("198.19.255.255", Class::Reserved),
            ("240.0.0.1", Class::Reserved),
            ("255.255.255.254", Class::Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
            assert!(!expected.is_private_network(), "{ip}");
        }
    }

    #[test]
    fn v6_classes() {
        for (ip, expected) in [
            ("::", Class::Unspecified),
            ("::1", Class::Loopback),
            ("fc00::1", Class::UniqueLocal),
            ("fd12:3456:789a::1", Class::UniqueLocal),
            ("fe80::1", Class::LinkLocal),
            ("febf::1", Class::LinkLocal),
            ("fec0::1", Class::Reserved),
            ("ff02::1", Class::Multicast),
            ("2001:db8::1", Class::Documentation),
            ("3fff:fff::1", Class::Documentation),
            ("2001::1", Class::Reserved),
            ("100::1", Class::Reserved),
            ("4000::1", Class::Reserved),
            ("64:ff9b:1::1", Class::Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn v6_forms_of_v4_addresses_are_judged_by_the_v4_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:7f00:1", Class::Loopback),
            ("::ffff:10.1.2.3", Class::Private),
            ("::ffff:169.254.169.254", Class::LinkLocal),
            ("::ffff:0.0.0.0", Class::Unspecified),
            ("::ffff:224.0.0.1", Class::Multicast),
            ("::127.0.0.1", Class::Loopback),
            ("::192.168.0.1", Class::Private),
            ("::0.0.0.2", Class::ThisNetwork),
            ("::8.8.8.8", Class::Reserved),
            ("64:ff9b::127.0.0.1", Class::Loopback),
            ("64:ff9b::a9fe:a9fe", Class::LinkLocal),
            ("2002:7f00:1::1", Class::Loopback),
            ("2002:c0a8:101::1", Class::Private),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }
}
