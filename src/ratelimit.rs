//! The per-shop request limiter, shared by every stream and push of one shop — and, through the
//! database, by every process that talks to the shop.
//!
//! A sliding window rather than a token bucket: the contract is "no platform sees more than N
//! requests in any second", and a window of the last N send times states exactly that. The
//! window lives in the database (`rate_slots`), so the daemon, an admin's `sync` or `flush`, and
//! other instances on the same database spend one budget. The in-process window stays in front
//! of it: it queues this process's callers fairly and still limits them when the database
//! cannot be reached.

use crate::config::Database;
use crate::store::Store;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Allows at most `per_sec` requests to start in any window of one second (plus a safety margin).
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
    shared: Option<SharedBudget>,
}

/// The one database connection a process spends every shop's budget through (opened at the
/// first request): one per shop would be thousands of PostgreSQL connections per instance.
#[derive(Clone)]
pub struct BudgetLink {
    database: Database,
    busy_timeout: Duration,
    conn: Arc<std::sync::Mutex<Option<Store>>>,
}

impl BudgetLink {
    /// A link to `database`, opened at the first request with `busy_timeout`.
    pub fn new(database: Database, busy_timeout: Duration) -> BudgetLink {
        BudgetLink { database, busy_timeout, conn: Arc::default() }
    }

    /// Whether this link reaches `database`.
    pub fn reaches(&self, database: &Database) -> bool {
        self.database == *database
    }
}

/// A shop's budget as the database holds it, for every process at once.
pub struct SharedBudget {
    shop_id: String,
    link: BudgetLink,
    /// Whether the fallback to this process's own window has been logged since the last success.
    degraded: AtomicBool,
}

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBudget")
            .field("database", &self.link.database.to_string())
            .field("shop_id", &self.shop_id)
            .finish()
    }
}

impl SharedBudget {
    /// The budget of `shop_id`, spent through `link`.
    pub fn new(shop_id: &str, link: &BudgetLink) -> SharedBudget {
        SharedBudget { shop_id: shop_id.to_string(), link: link.clone(), degraded: AtomicBool::new(false) }
    }

    /// Spends a slot now, or says how long until one frees.
    async fn take(&self, per_sec: usize, window: Duration) -> Result<Option<Duration>, String> {
        let (conn, database, busy, shop) =
            (Arc::clone(&self.link.conn), self.link.database.clone(), self.link.busy_timeout, self.shop_id.clone());
        let per = u32::try_from(per_sec).unwrap_or(u32::MAX);
        let window_ms = window.as_millis() as i64;
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| "rate budget connection poisoned".to_string())?;
            if guard.is_none() {
                *guard = Some(Store::connect(&database, busy).map_err(|e| e.to_string())?);
            }
            let store = guard.as_mut().ok_or("rate budget connection missing")?;
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let taken = store.take_rate_slot(&shop, per, window_ms, now_ms);
            if taken.is_err() {
                // A broken connection is opened afresh next time.
                *guard = None;
            }
            taken.map(|wait| wait.map(Duration::from_millis)).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl RateLimiter {
    /// A limiter for `per_sec` requests per second in this process alone; 0 is treated as 1.
    pub fn new(per_sec: u32) -> Self {
        RateLimiter {
            per_sec: per_sec.max(1) as usize,
            // The margin absorbs the time between taking a slot and the request reaching the
            // vendor (a busy machine can hold a process that long), and the vendor's clock.
            window: Duration::from_millis(1100),
            sent: Mutex::new(VecDeque::new()),
            shared: None,
        }
    }

    /// A limiter for `per_sec` requests per second across every process sharing `budget`.
    pub fn shared(per_sec: u32, budget: SharedBudget) -> Self {
        RateLimiter { shared: Some(budget), ..RateLimiter::new(per_sec) }
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
            if sent.len() >= self.per_sec {
                if let Some(oldest) = sent.front() {
                    tokio::time::sleep_until(*oldest + self.window).await;
                }
                continue;
            }
            if let Some(budget) = &self.shared {
                match budget.take(self.per_sec, self.window).await {
                    Ok(None) => budget.degraded.store(false, Ordering::Relaxed),
                    Ok(Some(wait)) => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => {
                        if !budget.degraded.swap(true, Ordering::Relaxed) {
                            tracing::warn!(shop = budget.shop_id, error = %e, "the shared rate budget cannot be read; limiting this process's requests alone until it can");
                        }
                    }
                }
            }
            sent.push_back(Instant::now());
            return;
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

    #[tokio::test(flavor = "multi_thread")]
    async fn two_limiters_on_one_database_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        // Two processes' limiters, as far as the database can tell.
        let a = Arc::new(RateLimiter::shared(
            3,
            SharedBudget::new("s", &BudgetLink::new(Database::Sqlite(db.clone()), Duration::from_secs(10))),
        ));
        let b = Arc::new(RateLimiter::shared(
            3,
            SharedBudget::new("s", &BudgetLink::new(Database::Sqlite(db.clone()), Duration::from_secs(10))),
        ));
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for limiter in [a, b] {
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..5 {
                    limiter.acquire().await;
                    times.push(start.elapsed());
                }
                times
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.extend(t.await.unwrap());
        }
        // Slots record the wall clock at the moment they are spent, so read them back for the check.
        let store = Store::open(&db).unwrap();
        let mut spent: Vec<i64> = store
            .connection()
            .prepare("SELECT sent_ms FROM rate_slots WHERE shop_id = 's'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        spent.sort();
        assert_eq!(spent.len(), 3, "one slot per allowed request in a window");
        // 10 requests at 3 per window need at least three full windows after the first three.
        times.sort();
        assert!(times[9] >= Duration::from_millis(3 * 1100), "{times:?}");
    }
}
