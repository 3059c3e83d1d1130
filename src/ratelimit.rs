//! The per-shop request limiter, shared by every stream and push of one shop.
//!
//! A sliding window rather than a token bucket: the contract is "no platform sees more than N
//! requests in any second", and a window of the last N send times states exactly that.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Allows at most `per_sec` requests to start in any window of one second (plus a safety margin).
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// A limiter for `per_sec` requests per second; 0 is treated as 1.
    pub fn new(per_sec: u32) -> Self {
        RateLimiter {
            per_sec: per_sec.max(1) as usize,
            // The margin absorbs scheduling jitter between our send and the vendor's receive clock.
            window: Duration::from_millis(1050),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request may start, and records it as started.
    pub async fn acquire(&self) {
        // Holding the lock while sleeping queues callers fairly in arrival order.
        let mut sent = self.sent.lock().await;
        loop {
            let now = Instant::now();
            while sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                sent.pop_front();
            }
            if sent.len() < self.per_sec {
                sent.push_back(now);
                return;
            }
            if let Some(oldest) = sent.front() {
                tokio::time::sleep_until(*oldest + self.window).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_n_in_a_window() {
        let limiter = RateLimiter::new(5);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            limiter.acquire().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times.iter().filter(|u| **u >= *t && **u < *t + Duration::from_secs(1)).count();
            assert!(in_window <= 5, "request {i} at {t:?} has {in_window} in its second");
        }
        assert!(times[11] >= Duration::from_secs(2));
    }
}
