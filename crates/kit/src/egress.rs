//! Where p06 may send requests that callers choose the destination of
//! (webhooks): the one definition of an acceptable endpoint URL and of an
//! acceptable destination address, shared by the service that stores the
//! URL (localities, at `UpdateContacts`) and the one that sends to it
//! (notifications, before sending and again on every resolved address).
//!
//! A URL must be `http` or `https` with a host that the allow-list admits
//! ([`hosts`]). An address must be public ([`address`]) unless the
//! deployment opts in to private networks (loopback, RFC 1918,
//! unique-local, link-local, shared CGNAT space: its receivers are on its
//! own network); unspecified, broadcast, multicast, documentation and
//! reserved addresses are never destinations. A URL's IP literal is checked
//! here; a host name is checked by the sender after resolution, on the
//! addresses it then connects to, so a name that resolves differently
//! between a check and the connection cannot slip through.

pub mod address;
pub mod hosts;

pub use address::{Class, classify};
pub use hosts::AllowList;

use std::net::IpAddr;
use url::{Host, Url};

/// Why a destination is refused; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL does not parse.
    #[error("invalid endpoint url: {0}")]
    InvalidUrl(String),
    /// Neither `http` nor `https`.
    #[error("endpoint scheme {0:?} is not http or https")]
    Scheme(String),
    /// The URL names no host.
    #[error("endpoint url has no host")]
    NoHost,
    /// The host is not on the allow-list.
    #[error("endpoint host {0:?} is not in the allow-list")]
    NotAllowed(String),
    /// The address (an IP literal, or one a host name resolved to) is not
    /// a permitted destination.
    #[error("{}", address_message(host.as_deref(), *ip, *class, *opt_in))]
    Address {
        /// The host name that resolved to `ip`, when the URL named one.
        host: Option<String>,
        /// The refused address.
        ip: IpAddr,
        /// Its class.
        class: Class,
        /// The setting that would allow it, when one would.
        opt_in: Option<&'static str>,
    },
    /// A host name resolved to no address at all.
    #[error("webhook host {0:?} resolved to no address")]
    NoAddress(String),
}

fn address_message(
    host: Option<&str>,
    ip: IpAddr,
    class: Class,
    opt_in: Option<&'static str>,
) -> String {
    let subject = match host {
        Some(host) => format!("webhook host {host:?} resolves to {ip}, which"),
        None => format!("webhook address {ip}"),
    };
    match opt_in {
        Some(setting) => {
            format!("{subject} is {class}; set {setting}=true to allow private networks")
        }
        None => format!("{subject} is {class}, never a webhook destination"),
    }
}

/// What a service allows: its allow-list and whether private networks are
/// destinations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Policy {
    allowed_hosts: AllowList,
    allow_private_networks: bool,
    opt_in_setting: &'static str,
}

impl Policy {
    /// A policy with `allowed_hosts` (empty: any host) that admits private
    /// networks when `allow_private_networks`; refusals of private
    /// addresses name `opt_in_setting` (the service's environment
    /// variable) as the way to allow them.
    pub fn new<S: AsRef<str>>(
        allowed_hosts: &[S],
        allow_private_networks: bool,
        opt_in_setting: &'static str,
    ) -> Self {
        Self {
            allowed_hosts: AllowList::new(allowed_hosts),
            allow_private_networks,
            opt_in_setting,
        }
    }

    /// Whether private networks are destinations.
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }

    /// Checks `ip` as a destination; `host` is the name it was resolved
    /// from, if any (for the message).
    pub fn check_ip(&self, host: Option<&str>, ip: IpAddr) -> Result<(), Refusal> {
        let class = classify(ip);
        let allowed =
            class == Class::Public || (self.allow_private_networks && class.is_private_network());
        if allowed {
            return Ok(());
        }
        Err(Refusal::Address {
            host: host.map(str::to_string),
            ip,
            class,
            opt_in: class.is_private_network().then_some(self.opt_in_setting),
        })
    }

    /// Parses and checks an endpoint URL: scheme, host, allow-list, and the
    /// address when the host is an IP literal (a host name is not resolved
    /// here). The parsed URL is what should be sent to.
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url).map_err(|error| Refusal::InvalidUrl(error.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(parsed.scheme().to_string()));
        }
        let ip = match parsed.host() {
            None => return Err(Refusal::NoHost),
            Some(Host::Domain("")) => return Err(Refusal::NoHost),
            Some(Host::Domain(_)) => None,
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        let host = parsed.host_str().unwrap_or_default();
        if !self.allowed_hosts.allows(host) {
            return Err(Refusal::NotAllowed(hosts::normalise_host(host)));
        }
        if let Some(ip) = ip {
            self.check_ip(None, ip)?;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPT_IN: &str = "P06_TEST__WEBHOOK_ALLOW_PRIVATE_NETWORKS";

    fn open() -> Policy {
        Policy::new::<&str>(&[], false, OPT_IN)
    }

    fn private() -> Policy {
        Policy::new::<&str>(&[], true, OPT_IN)
    }

    #[test]
    fn public_urls_pass() {
        for url in [
            "https://hooks.example.com/in",
            "http://hooks.example.com:8080/in?x=1",
            "https://8.8.8.8/hook",
            "https://[2001:4860:4860::8888]/hook",
        ] {
            assert!(open().check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "unix:/run/socket",
            "not a url",
            "",
            "http://",
        ] {
            assert!(open().check_url(url).is_err(), "{url} passed");
        }
        let error = open().check_url("ftp://example.com/").unwrap_err();
        assert!(error.to_string().contains("scheme"), "{error}");
    }

    #[test]
    fn private_literals_are_refused_by_default_with_the_setting_named() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://127.1/hook",
            "http://2130706433/hook",
            "http://0x7f000001/hook",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.5/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/",
            "http://100.64.1.1/",
        ] {
            let error = open().check_url(url).unwrap_err();
            assert!(error.to_string().contains(OPT_IN), "{url}: {error}");
            assert!(private().check_url(url).is_ok(), "{url}");
        }
        let error = open().check_url("http://127.0.0.1:9/").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "webhook address 127.0.0.1 is loopback; set {OPT_IN}=true to allow private networks"
            )
        );
    }

    #[test]
    fn never_destinations_stay_refused_with_the_opt_in() {
        for url in [
            "http://0.0.0.0:8080/",
            "http://0.1.2.3/",
            "http://[::]/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://[ff02::1]/",
            "http://192.0.2.1/",
            "http://[::ffff:0.0.0.0]/",
        ] {
            let error = private().check_url(url).unwrap_err();
            assert!(
                error.to_string().contains("never a webhook destination"),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn host_names_are_not_resolved_here() {
        assert!(open().check_url("http://localhost:8080/").is_ok());
    }

    #[test]
    fn the_allow_list_applies_before_the_address() {
        let listed = Policy::new(&["127.0.0.1", "*.gov.vn"], false, OPT_IN);
        assert!(listed.check_url("https://hooks.hanoi.gov.vn/").is_ok());
        let error = listed.check_url("https://evil.io/").unwrap_err();
        assert_eq!(error, Refusal::NotAllowed("evil.io".into()));
        assert!(error.to_string().contains("allow-list"));
        // Listed, but still loopback.
        let error = listed.check_url("http://127.0.0.1:9/").unwrap_err();
        assert!(matches!(error, Refusal::Address { .. }), "{error}");
        let both = Policy::new(&["127.0.0.1"], true, OPT_IN);
        assert!(both.check_url("http://127.0.0.1:9/").is_ok());
        assert!(both.check_url("http://10.0.0.1:9/").is_err());
    }

    #[test]
    fn user_info_does_not_fool_the_host_check() {
        let listed = Policy::new(&["hooks.example.com"], false, OPT_IN);
        let url = "https://hooks.example.com@evil.io/";
        assert!(listed.check_url(url).is_err());
    }

    #[test]
    fn resolved_addresses_name_their_host() {
        let error = open()
            .check_ip(Some("localhost"), "127.0.0.1".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "webhook host \"localhost\" resolves to 127.0.0.1, which is loopback; set {OPT_IN}=true to allow private networks"
            )
        );
        assert!(
            open()
                .check_ip(Some("x"), "8.8.8.8".parse().unwrap())
                .is_ok()
        );
    }
}
