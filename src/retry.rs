//! Retries with exponential backoff and jitter: the only module that uses the `backoff` crate.
//!
//! `backoff` is the design card's choice but carries the RustSec "unmaintained" advisory
//! (RUSTSEC-2025-0012); keeping it behind these two functions makes it a one-file swap.

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How one request is retried after transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Delay before the first retry; it doubles with each further one.
    pub initial: Duration,
    /// Upper bound of one delay.
    pub max: Duration,
}

/// What the retry loop needs to know about an error.
pub trait Retryable {
    /// `None` when retrying cannot help; `Some(delay)` when it may, with the server's requested
    /// delay (Retry-After) when it gave one.
    fn retry_hint(&self) -> Option<Option<Duration>>;
}

fn exponential(initial: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBackoff {
        initial_interval: initial,
        current_interval: initial,
        randomization_factor: 0.5,
        multiplier: 2.0,
        max_interval: max,
        // Attempts are counted by us; elapsed time must not end the loop on its own.
        max_elapsed_time: None,
        ..ExponentialBackoff::default()
    }
}

/// Runs `op` until it succeeds, fails permanently, or has been retried `policy.retries` times.
/// A server's Retry-After wins over the computed delay.
pub async fn retry<T, E, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = AtomicU32::new(0);
    let schedule = exponential(policy.initial, policy.max);
    backoff::future::retry_notify(
        schedule,
        || {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed);
            let fut = op();
            async move {
                match fut.await {
                    Ok(v) => Ok(v),
                    Err(e) => match e.retry_hint() {
                        Some(after) if attempt < policy.retries => {
                            Err(backoff::Error::Transient { err: e, retry_after: after })
                        }
                        _ => Err(backoff::Error::Permanent(e)),
                    },
                }
            }
        },
        |e: E, delay: Duration| tracing::debug!(error = %e, ?delay, "transient failure, retrying"),
    )
    .await
}

/// The delay before an outbox entry that failed `attempts` times is tried again.
pub fn outbox_delay(attempts: u32, base: Duration, max: Duration) -> Duration {
    let mut schedule = exponential(base, max);
    let mut delay = base;
    for _ in 0..attempts.max(1) {
        delay = schedule.next_backoff().unwrap_or(max);
    }
    delay.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Flaky(bool);
    impl fmt::Display for Flaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "flaky")
        }
    }
    impl Retryable for Flaky {
        fn retry_hint(&self) -> Option<Option<Duration>> {
            self.0.then_some(None)
        }
    }

    fn fast(retries: u32) -> RetryPolicy {
        RetryPolicy { retries, initial: Duration::from_millis(1), max: Duration::from_millis(5) }
    }

    #[tokio::test]
    async fn stops_after_the_configured_retries() {
        let mut calls = 0;
        let r: Result<(), Flaky> = retry(fast(3), || {
            calls += 1;
            async { Err(Flaky(true)) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let mut calls = 0;
        let r: Result<(), Flaky> = retry(fast(3), || {
            calls += 1;
            async { Err(Flaky(false)) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }

    /// The schedule's own numbers: the first delay is `initial` ± 50 %, each further one doubles,
    /// and past the cap it stays within ± 50 % of `max` (jitter on, never in lockstep).
    #[test]
    fn the_schedule_starts_at_initial_doubles_and_is_capped_with_jitter() {
        let ms = Duration::from_millis;
        for _ in 0..20 {
            let first = exponential(ms(100), ms(100_000)).next_backoff().unwrap();
            assert!((ms(50)..=ms(150)).contains(&first), "first delay {first:?}");
            // `retry` resets the schedule before its first delay: the reset starts at `initial` too.
            let mut again = exponential(ms(100), ms(100_000));
            again.reset();
            let first = again.next_backoff().unwrap();
            assert!((ms(50)..=ms(150)).contains(&first), "first delay after a reset {first:?}");
            // Sixth delay: 100 ms × 2⁵ = 3.2 s ± 50 % (a multiplier of 1.5 would give 0.76 s).
            let sixth = outbox_delay(6, ms(100), ms(100_000));
            assert!((ms(1_600)..=ms(4_800)).contains(&sixth), "sixth delay {sixth:?}");
            let mut capped = exponential(ms(100), ms(1_000));
            let late = (0..30).filter_map(|_| capped.next_backoff()).last().unwrap();
            assert!((ms(500)..=ms(1_500)).contains(&late), "capped delay {late:?}");
        }
    }

    #[test]
    fn outbox_delay_grows_and_is_capped() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(100);
        assert!(outbox_delay(1, base, max) <= Duration::from_secs(15));
        // Jitter stays on at the cap, so retries of many entries do not arrive in lockstep.
        let late = outbox_delay(30, base, max);
        assert!(late >= max / 2 && late <= max, "{late:?}");
    }
}
