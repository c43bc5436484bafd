//! Protecting the gateway and the services behind it: a rate limit per API
//! key (governor, keyed by key id); bounds on calls in flight — per API
//! key and per unit, so no one caller takes the whole budget, and overall,
//! where a call waits for a permit at most `max_queue_wait_ms` (tokio's
//! fair semaphore: first come, first served) and is shed with
//! RESOURCE_EXHAUSTED after that, so queueing time stays bounded; a
//! separate small budget for the calls anyone may make without a key, so
//! those can never starve key holders; and a deadline per call: the
//! configured timeout, or the caller's `grpc-timeout` when that is shorter.
//!
//! The call permits are taken after authentication and are keyed by the
//! caller, which is why they are not tower's concurrency-limit and
//! load-shed layers: those sit in front of a whole service and would be
//! taken before the caller is known.
//!
//! The in-flight permit and the deadline cover a call until its response
//! headers: the whole of a unary call, the start of a streaming one, so
//! long-lived streams are neither cut off nor counted against the limit.
//! The rate limiter keeps state only for keys that passed authentication,
//! so its memory is bounded by the number of keys.

use crate::{Config, error::GatewayError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use p06_kit::keyed::{KeyedCount, KeyedSlot};
use std::{num::NonZeroU32, sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one gateway.
#[derive(Debug)]
pub struct Limits {
    rate: Option<DefaultKeyedRateLimiter<String>>,
    per_second: u32,
    permits: Budget,
    open: Budget,
    per_key: Arc<KeyedCount<String>>,
    per_unit: Arc<KeyedCount<String>>,
    queue_wait: Duration,
    timeout: Option<Duration>,
}

/// What one admitted call holds until its response headers.
#[derive(Debug)]
pub struct Admitted {
    _key: KeyedSlot<String>,
    _unit: KeyedSlot<String>,
    _permit: OwnedSemaphorePermit,
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

    /// A permit, waiting at most `wait` for one.
    async fn admit_within(&self, wait: Duration) -> Result<OwnedSemaphorePermit, GatewayError> {
        if let Ok(permit) = self.admit() {
            return Ok(permit);
        }
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(GatewayError::Overloaded { limit: self.limit }),
        }
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
            per_key: KeyedCount::new(config.max_concurrent_per_key),
            per_unit: KeyedCount::new(config.max_concurrent_per_unit),
            queue_wait: Duration::from_millis(config.max_queue_wait_ms),
            timeout: (config.request_timeout_ms > 0)
                .then(|| Duration::from_millis(config.request_timeout_ms)),
        }
    }

    /// Admits one call of the key `key` ("apiKeys/…") acting for `unit`:
    /// RESOURCE_EXHAUSTED at once when that key or unit has its share in
    /// flight, or when no overall permit frees up within the queue wait.
    pub async fn admit(&self, key: &str, unit: &str) -> Result<Admitted, GatewayError> {
        let busy = |what: &'static str, limit: usize| GatewayError::Busy { what, limit };
        let key = self
            .per_key
            .enter(key.to_string())
            .ok_or_else(|| busy("API key", self.per_key.max()))?;
        let unit = self
            .per_unit
            .enter(unit.to_string())
            .ok_or_else(|| busy("unit", self.per_unit.max()))?;
        let permit = self.permits.admit_within(self.queue_wait).await?;
        Ok(Admitted {
            _key: key,
            _unit: unit,
            _permit: permit,
        })
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
            max_queue_wait_ms: 0,
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

    #[tokio::test]
    async fn in_flight_calls_are_bounded() {
        let limits = Limits::new(&config(1, 1, 2, 0));
        let a = limits.admit("apiKeys/a", "units/p01").await;
        let b = limits.admit("apiKeys/b", "units/p02").await;
        assert!(a.is_ok() && b.is_ok());
        assert!(matches!(
            limits.admit("apiKeys/c", "units/p03").await,
            Err(GatewayError::Overloaded { limit: 2 })
        ));
        drop(a);
        assert!(limits.admit("apiKeys/c", "units/p03").await.is_ok());
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

    #[tokio::test]
    async fn one_key_or_unit_cannot_take_the_whole_budget() {
        let limits = Limits::new(&Config {
            max_concurrent_per_key: 2,
            max_concurrent_per_unit: 3,
            ..config(0, 0, 100, 0)
        });
        let held = [
            limits.admit("apiKeys/a", "units/p01").await.unwrap(),
            limits.admit("apiKeys/a", "units/p01").await.unwrap(),
        ];
        assert!(matches!(
            limits.admit("apiKeys/a", "units/p01").await,
            Err(GatewayError::Busy {
                what: "API key",
                limit: 2
            })
        ));
        let third = limits.admit("apiKeys/b", "units/p01").await.unwrap();
        assert!(matches!(
            limits.admit("apiKeys/c", "units/p01").await,
            Err(GatewayError::Busy {
                what: "unit",
                limit: 3
            })
        ));
        // Other keys and units are untouched.
        assert!(limits.admit("apiKeys/d", "units/p02").await.is_ok());
        drop((held, third));
        assert!(limits.admit("apiKeys/a", "units/p01").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_waits_for_a_permit_at_most_the_queue_wait() {
        let limits = Arc::new(Limits::new(&Config {
            max_queue_wait_ms: 200,
            ..config(0, 0, 1, 0)
        }));
        let first = limits.admit("apiKeys/a", "units/p01").await.unwrap();
        // Freed within the wait: the waiting call gets it.
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit("apiKeys/b", "units/p02").await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        assert!(waiting.await.unwrap());
        // Not freed within the wait: shed.
        let _held = limits.admit("apiKeys/a", "units/p01").await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(matches!(
            limits.admit("apiKeys/b", "units/p02").await,
            Err(GatewayError::Overloaded { limit: 1 })
        ));
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }
}
