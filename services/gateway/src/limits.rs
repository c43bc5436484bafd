//! Protecting the gateway and the services behind it: a rate limit per API
//! key (governor, keyed by key id), bounds on calls in flight that shed
//! load instead of queueing (one for authenticated calls, taken after
//! authentication, and a separate one for the calls anyone may make
//! without a key, so those can never starve key holders), and a deadline
//! per call: the configured timeout, or the caller's `grpc-timeout` when
//! that is shorter.
//!
//! The in-flight permit and the deadline cover a call until its response
//! headers: the whole of a unary call, the start of a streaming one, so
//! long-lived streams are neither cut off nor counted against the limit.
//! The rate limiter keeps state only for keys that passed authentication,
//! so its memory is bounded by the number of keys.

use crate::{Config, error::GatewayError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use std::{num::NonZeroU32, sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one gateway.
#[derive(Debug)]
pub struct Limits {
    rate: Option<DefaultKeyedRateLimiter<String>>,
    per_second: u32,
    permits: Budget,
    open: Budget,
    timeout: Option<Duration>,
}

/// One bound on calls in flight.
#[derive(Debug)]
struct Budget {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Budget {
    /// `limit` permits; 0 = unlimited.
    fn new(limit: usize) -> Self {
        let limit = match limit {
            0 => Semaphore::MAX_PERMITS,
            n => n.min(Semaphore::MAX_PERMITS),
        };
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| GatewayError::Overloaded { limit: self.limit })
    }
}

impl Limits {
    /// Limits from the configuration; a zero rate, concurrency or timeout
    /// turns that limit off.
    pub fn new(config: &Config) -> Self {
        let rate = NonZeroU32::new(config.rate_limit_per_second).map(|per_second| {
            let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(per_second);
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Self {
            rate,
            per_second: config.rate_limit_per_second,
            permits: Budget::new(config.max_concurrent_requests),
            open: Budget::new(config.max_open_requests),
            timeout: (config.request_timeout_ms > 0)
                .then(|| Duration::from_millis(config.request_timeout_ms)),
        }
    }

    /// A permit for one authenticated call, or RESOURCE_EXHAUSTED when too
    /// many are in flight.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        self.permits.admit()
    }

    /// A permit for one call that needs no key (health, reflection), from
    /// their own budget, or RESOURCE_EXHAUSTED.
    pub fn admit_open(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        self.open.admit()
    }

    /// RESOURCE_EXHAUSTED when the key `key_name` ("apiKeys/…") is over its rate.
    pub fn check_rate(&self, key_name: &str) -> Result<(), GatewayError> {
        match &self.rate {
            Some(rate) if rate.check_key(&key_name.to_string()).is_err() => {
                Err(GatewayError::RateLimited {
                    key: key_name.to_string(),
                    per_second: self.per_second,
                })
            }
            _ => Ok(()),
        }
    }

    /// How long a call may take to its response headers, if bounded.
    pub fn deadline(&self, headers: &HeaderMap) -> Option<Duration> {
        let asked = headers
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        match (self.timeout, asked) {
            (Some(ours), Some(theirs)) => Some(ours.min(theirs)),
            (ours, theirs) => ours.or(theirs),
        }
    }
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(rate: u32, burst: u32, in_flight: usize, timeout_ms: u64) -> Config {
        Config {
            rate_limit_per_second: rate,
            rate_limit_burst: burst,
            max_concurrent_requests: in_flight,
            max_open_requests: 1,
            request_timeout_ms: timeout_ms,
            ..Config::default()
        }
    }

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5n"), Some(Duration::from_nanos(5)));
        for bad in ["", "m", "10", "123456789S", "1x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shorter_deadline_wins() {
        let limits = Limits::new(&config(1, 1, 1, 30_000));
        let mut headers = HeaderMap::new();
        assert_eq!(limits.deadline(&headers), Some(Duration::from_secs(30)));
        headers.insert("grpc-timeout", HeaderValue::from_static("250m"));
        assert_eq!(limits.deadline(&headers), Some(Duration::from_millis(250)));
        headers.insert("grpc-timeout", HeaderValue::from_static("1H"));
        assert_eq!(limits.deadline(&headers), Some(Duration::from_secs(30)));
        assert_eq!(
            Limits::new(&config(1, 1, 1, 0)).deadline(&HeaderMap::new()),
            None
        );
    }

    #[test]
    fn rate_is_per_key() {
        let limits = Limits::new(&config(1, 2, 1, 0));
        assert!(limits.check_rate("apiKeys/a").is_ok());
        assert!(limits.check_rate("apiKeys/a").is_ok());
        let refused = limits.check_rate("apiKeys/a").err().map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("rate limit exceeded for apiKeys/a: 1 requests/s")
        );
        assert!(limits.check_rate("apiKeys/b").is_ok());
        assert!(
            Limits::new(&config(0, 0, 1, 0))
                .check_rate("apiKeys/a")
                .is_ok()
        );
    }

    #[test]
    fn in_flight_calls_are_bounded() {
        let limits = Limits::new(&config(1, 1, 2, 0));
        let a = limits.admit();
        let b = limits.admit();
        assert!(a.is_ok() && b.is_ok());
        assert!(matches!(
            limits.admit(),
            Err(GatewayError::Overloaded { limit: 2 })
        ));
        drop(a);
        assert!(limits.admit().is_ok());
        // The open budget is a separate one.
        let open = limits.admit_open();
        assert!(open.is_ok());
        assert!(matches!(
            limits.admit_open(),
            Err(GatewayError::Overloaded { limit: 1 })
        ));
        drop(open);
        assert!(limits.admit_open().is_ok());
    }
}
