//! The webhook client's DNS resolver: resolves with tokio (the system
//! resolver) and hands the HTTP client only the addresses the egress
//! policy allows, so a webhook connects to a vetted address and nothing
//! else. The check sits where the connection gets its addresses, so a name
//! that resolves to a public address for one lookup and to an internal one
//! for the next (DNS rebinding) cannot slip past it. IP literals never
//! reach a resolver; [`super::webhook`] checks those before sending.

use p06_kit::egress::{Policy, Refusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::{net::SocketAddr, sync::Arc};

/// A resolver that drops every address the policy refuses, and fails with
/// the [`Refusal`] when none is left.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<Policy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: the client puts the URL's port on each address.
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = vetted(&policy, &host, found)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `host` the policy allows, in resolver order; the first
/// refusal when there are none.
fn vetted(
    policy: &Policy,
    host: &str,
    found: impl Iterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, Refusal> {
    let mut refused = None;
    let allowed: Vec<SocketAddr> = found
        .filter(|addr| match policy.check_ip(Some(host), addr.ip()) {
            Ok(()) => true,
            Err(refusal) => {
                refused.get_or_insert(refusal);
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        return Err(refused.unwrap_or_else(|| Refusal::NoAddress(host.to_string())));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn refused_addresses_are_dropped_and_the_rest_kept() {
        let policy = Policy::new::<&str>(&[], false, "X");
        let found = addrs(&["127.0.0.1", "93.184.215.14", "::1", "2606:2800::1"]);
        let kept = vetted(&policy, "hooks.example.com", found.into_iter()).unwrap();
        assert_eq!(kept, addrs(&["93.184.215.14", "2606:2800::1"]));
    }

    #[test]
    fn a_name_with_only_refused_addresses_fails_with_the_first_reason() {
        let policy = Policy::new::<&str>(&[], false, "X");
        let found = addrs(&["10.0.0.7", "::ffff:127.0.0.1"]);
        let error = vetted(&policy, "internal.example", found.into_iter()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "webhook host \"internal.example\" resolves to 10.0.0.7, which is private; set X=true to allow private networks"
        );
        let error = vetted(&policy, "nothing.example", std::iter::empty()).unwrap_err();
        assert_eq!(error, Refusal::NoAddress("nothing.example".into()));
    }

    #[test]
    fn the_opt_in_keeps_private_addresses_but_never_multicast() {
        let policy = Policy::new::<&str>(&[], true, "X");
        let found = addrs(&["224.0.0.1", "127.0.0.1"]);
        let kept = vetted(&policy, "localhost", found.into_iter()).unwrap();
        assert_eq!(kept, addrs(&["127.0.0.1"]));
    }

    #[tokio::test]
    async fn localhost_resolves_to_nothing_allowed() {
        let resolver = GuardedResolver::new(Arc::new(Policy::new::<&str>(&[], false, "X")));
        let error = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(error) => error,
        };
        let refusal = error.downcast_ref::<Refusal>().expect("a refusal");
        assert!(matches!(refusal, Refusal::Address { .. }), "{refusal}");
    }
}
