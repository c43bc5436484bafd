//! The wait before retrying a failed delivery: exponential backoff with
//! jitter.
//!
//! Attempt `n` (counting from 1) waits a uniformly random time in
//! `[base, ceiling]` where `ceiling = min(cap, base · 2^(n-1))`. This is
//! "full jitter" with a floor of `base`: retries of many failed deliveries
//! spread over the whole window instead of arriving at the endpoint in
//! lockstep, yet no retry comes sooner than `base`. The first attempt's
//! window is the single point `base`; when `base` exceeds `cap` every wait
//! is `cap`.

use rand::Rng;
use std::time::Duration;

/// The wait before retry `attempt` (1 = the first retry); see the module
/// docs for the distribution. Attempt 0 counts as 1; large attempts saturate
/// at `cap` without overflow.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = ceiling(attempt, base, cap);
    let floor = base.min(ceiling);
    let (low, high) = (nanos(floor), nanos(ceiling));
    if low >= high {
        return ceiling;
    }
    Duration::from_nanos(rng.random_range(low..=high))
}

/// `min(cap, base · 2^(attempt-1))`, saturating instead of overflowing.
fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.max(1) - 1;
    1u32.checked_shl(doublings)
        .and_then(|factor| base.checked_mul(factor))
        .map_or(cap, |grown| grown.min(cap))
}

/// Whole nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    const BASE: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(3600);

    fn rng() -> StdRng {
        StdRng::seed_from_u64(6)
    }

    #[test]
    fn the_first_attempt_waits_the_base() {
        let mut rng = rng();
        assert_eq!(retry_delay(1, BASE, CAP, &mut rng), BASE);
        assert_eq!(retry_delay(0, BASE, CAP, &mut rng), BASE);
    }

    #[test]
    fn every_wait_lies_between_base_and_the_doubled_ceiling() {
        let mut rng = rng();
        for attempt in 1..=20u32 {
            let ceiling = BASE * 2u32.pow(attempt - 1);
            let ceiling = ceiling.min(CAP);
            for _ in 0..200 {
                let delay = retry_delay(attempt, BASE, CAP, &mut rng);
                assert!(delay >= BASE, "attempt {attempt}: {delay:?} below base");
                assert!(
                    delay <= ceiling,
                    "attempt {attempt}: {delay:?} above {ceiling:?}"
                );
            }
        }
    }

    #[test]
    fn waits_grow_with_the_attempt() {
        let mut rng = rng();
        let mean = |attempt: u32, rng: &mut StdRng| {
            let total: Duration = (0..500).map(|_| retry_delay(attempt, BASE, CAP, rng)).sum();
            total / 500
        };
        let means: Vec<Duration> = (1..=8).map(|attempt| mean(attempt, &mut rng)).collect();
        for pair in means.windows(2) {
            assert!(pair[1] > pair[0], "means do not grow: {means:?}");
        }
        // Uniform on [1 s, 128 s] averages 64.5 s.
        let last = means[7].as_secs_f64();
        assert!((55.0..75.0).contains(&last), "attempt 8 mean {last}");
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let mut rng = rng();
        let delays: std::collections::HashSet<Duration> = (0..50)
            .map(|_| retry_delay(6, BASE, CAP, &mut rng))
            .collect();
        assert!(delays.len() > 40);
    }

    #[test]
    fn large_attempts_saturate_at_the_cap() {
        let mut rng = rng();
        for attempt in [31, 32, 33, 64, 1000, u32::MAX] {
            let delay = retry_delay(attempt, BASE, CAP, &mut rng);
            assert!(
                delay >= BASE && delay <= CAP,
                "attempt {attempt}: {delay:?}"
            );
        }
        let huge = Duration::MAX;
        let delay = retry_delay(u32::MAX, huge, huge, &mut rng);
        assert!(delay >= Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn a_base_above_the_cap_waits_the_cap() {
        let mut rng = rng();
        let cap = Duration::from_millis(500);
        for attempt in [1, 2, 10] {
            assert_eq!(retry_delay(attempt, BASE, cap, &mut rng), cap);
        }
    }
}
