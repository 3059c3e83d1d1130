//! Built-in platform simulators: loopback HTTP servers that speak each vendor's API well enough for
//! tests, benchmarks and `ordersync demo`, seeded with generated orders and injectable faults.
//!
//! This file holds the platform-neutral parts every simulator reuses: the fault plan
//! ([`Faults`], decided with a seeded rng so a test run is reproducible), the request and
//! applied-push logs, the [`SimCore::respond`] wrapper that applies faults around a handler,
//! [`serve`] (bind 127.0.0.1:0, run an axum `Router`, stop on [`SimHandle`] drop), clock helpers in
//! China Standard Time and random data (names, phones, goods, money amounts).
//! Each platform lives in its own sibling file with the same shape: state, generator, routes and
//! test hooks.

pub mod guanmai;
pub mod liangben;
pub mod shopsuite;
pub mod ymcart;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How a simulator writes a time: each vendor page's samples use one form, and a real vendor may
/// use another (PLATFORMS.md, "Common rules"), so every simulator can serve each of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeForm {
    /// Unix seconds as a string (`"1472789032"`), as YMCart's page writes them.
    #[default]
    UnixSecondsText,
    /// Unix milliseconds as a JSON number.
    UnixMillis,
    /// RFC 3339 in UTC with `Z` (`"2019-08-24T14:15:22Z"`).
    Rfc3339Z,
    /// `YYYY-MM-DD HH:MM:SS` in China Standard Time, no zone written.
    CstText,
}

impl TimeForm {
    /// `secs` (unix seconds; 0 = unset) written in this form; unset stays the form's "no time".
    pub fn write(self, secs: i64) -> Value {
        let at = (secs != 0).then(|| chrono::DateTime::from_timestamp(secs, 0)).flatten();
        match (self, at) {
            (TimeForm::UnixSecondsText, _) => Value::String(secs.to_string()),
            (TimeForm::UnixMillis, _) => Value::from(secs.saturating_mul(1000)),
            (TimeForm::Rfc3339Z, Some(t)) => Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            (TimeForm::CstText, Some(t)) => {
                Value::String(t.with_timezone(&cst()).format("%Y-%m-%d %H:%M:%S").to_string())
            }
            (TimeForm::Rfc3339Z | TimeForm::CstText, None) => Value::String(String::new()),
        }
    }
}

/// Per-request fault probabilities (0.0..=1.0); the default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Chance of answering HTTP 500 without processing (nothing applied).
    pub http_500: f64,
    /// Chance of answering HTTP 429 with `Retry-After`, without processing (nothing applied).
    pub http_429: f64,
    /// Seconds sent in the `Retry-After` header of a 429.
    pub retry_after_secs: u64,
    /// Chance of sleeping `slow_ms` before answering (whatever the answer).
    pub slow: f64,
    /// Milliseconds slept by a slow answer.
    pub slow_ms: u64,
    /// Sleep after doing the work instead of before: the push is applied, the answer is late
    /// (a client that dies meanwhile never learns it landed).
    pub slow_after: bool,
    /// Chance of processing the request (pushes ARE applied), then answering 200 with the JSON
    /// body cut in half: an ambiguous failure.
    pub cut_body: f64,
    /// A misbehaviour applied to every request instead of the normal answer (nothing applied).
    pub hostile: Option<Hostile>,
    /// When set, the faults above strike only requests whose path contains this text (a push
    /// endpoint, say), and every other request is answered normally.
    pub only_path: Option<String>,
}

/// Ways a broken vendor answers, for the reliability tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// HTTP 200 with an HTML error page (a proxy in front of the vendor).
    HtmlPage,
    /// HTTP 200 with a body that is not UTF-8.
    NotUtf8,
    /// HTTP 200 streaming this many bytes without a Content-Length (must be refused, not buffered).
    Huge(usize),
    /// HTTP 200 whose body arrives one byte per this many milliseconds (a slow drip).
    Drip(u64),
    /// A 302 redirect to this URL (another host: credentials must never follow).
    RedirectTo(String),
}

/// One request as the simulator received it.
#[derive(Debug, Clone)]
pub struct RequestLogEntry {
    /// Arrival time on the monotonic clock (for requests-per-second checks).
    pub at: Instant,
    /// Arrival time on the wall clock.
    pub at_utc: DateTime<Utc>,
    /// The shop credential the request carried (token), empty when missing.
    pub shop: String,
    /// The request path, e.g. `/api-erp-orderList.html`.
    pub endpoint: String,
    /// Number of entries a request carries: push entries, or order numbers a list call names.
    pub items: usize,
    /// The fault injected into this request, if any.
    pub fault: Option<&'static str>,
}

/// One push entry the simulator actually applied to its state.
#[derive(Debug, Clone)]
pub struct AppliedPush {
    /// The shop credential (token) the push came with, as in [`RequestLogEntry::shop`].
    pub shop: String,
    /// What was applied: `ship`, `status` or `remark` (the outbox kinds).
    pub kind: &'static str,
    /// The vendor order number the entry named (YMCart's `itemno`).
    pub order_no: String,
    /// The entry exactly as the client sent it.
    pub entry: Value,
    /// When it was applied.
    pub at_utc: DateTime<Utc>,
}

/// What every simulator offers tests, through its shared [`SimCore`].
pub trait Simulator {
    /// The simulator's core: fault plan, request log, applied-push log.
    fn core(&self) -> &SimCore;

    /// Every push entry applied so far, all shops.
    fn applied_pushes(&self) -> Vec<AppliedPush> {
        self.core().applied_pushes()
    }

    /// Every request received so far, all shops.
    fn requests(&self) -> Vec<RequestLogEntry> {
        self.core().requests()
    }

    /// Empties the request log.
    fn clear_requests(&self) {
        self.core().clear_requests();
    }

    /// Replaces the fault plan (takes effect from the next request).
    fn set_faults(&self, faults: Faults) {
        self.core().set_faults(faults);
    }
}

/// Runs `tick` every `period` until the returned handle is aborted: the demo's shop activity.
pub(crate) fn every(period: Duration, mut tick: impl FnMut() + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            tick();
        }
    })
}

/// The fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Http500,
    Http429 { retry_after_secs: u64 },
    Cut,
}

/// State shared by every simulator: fault plan with its rng, request log, applied-push log.
#[derive(Debug)]
pub struct SimCore {
    faults: Mutex<(Faults, StdRng)>,
    requests: Mutex<Vec<RequestLogEntry>>,
    pushes: Mutex<Vec<AppliedPush>>,
    /// Per pass (the client's pass header): when its first and its last request arrived.
    passes: Mutex<HashMap<String, (Instant, Instant)>>,
    streamed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Answers remembered by request while [`SimCore::cache_pages`] is on (benchmarks only).
    pages: Mutex<Option<HashMap<String, axum::body::Bytes>>>,
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not wedge the simulator.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimCore {
    /// A core with no faults whose fault rng is seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SimCore {
            faults: Mutex::new((Faults::default(), StdRng::seed_from_u64(seed))),
            requests: Mutex::new(Vec::new()),
            pushes: Mutex::new(Vec::new()),
            passes: Mutex::new(HashMap::new()),
            streamed: Default::default(),
            pages: Mutex::new(None),
        }
    }

    /// Remembers every cacheable answer by its request and serves it again byte for byte, even
    /// after the data changed (`false` forgets them). For benchmarks: pages rendered before the
    /// clock starts cost the simulator next to nothing, so the figures are the client's.
    pub fn cache_pages(&self, on: bool) {
        *lock(&self.pages) = on.then(HashMap::new);
    }

    /// Replaces the fault plan; the rng keeps its sequence.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.faults).0 = faults;
    }

    /// A copy of the request log.
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        lock(&self.requests).clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Bytes of [`Hostile::Huge`] bodies handed to the network so far: a client that stops
    /// reading at its cap keeps this far below the body's size.
    pub fn streamed_bytes(&self) -> usize {
        self.streamed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A copy of the applied-push log.
    pub fn applied_pushes(&self) -> Vec<AppliedPush> {
        lock(&self.pushes).clone()
    }

    /// Notes that a request of pass `pass` (the client's pass header) arrived now.
    fn note_pass(&self, pass: &str) {
        let now = Instant::now();
        let mut passes = lock(&self.passes);
        passes.entry(pass.to_string()).and_modify(|span| span.1 = now).or_insert((now, now));
    }

    /// Pairs of passes of one shop and stream (`shop/stream/holder/claim` headers) that were
    /// sending at the same time: each pass's span runs from its first request's arrival to its
    /// last one's. (Arrivals, not answers: a killed client's last request may still be answered
    /// after another has taken over, but it sends nothing more.)
    pub fn overlapping_passes(&self) -> Vec<(String, String)> {
        let passes = lock(&self.passes);
        let mut spans: Vec<(&String, &(Instant, Instant))> = passes.iter().collect();
        spans.sort_by_key(|(_, (start, _))| *start);
        let job = |p: &str| p.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
        let mut overlaps = Vec::new();
        for (i, (a, (_, a_end))) in spans.iter().enumerate() {
            for (b, (b_start, _)) in &spans[i + 1..] {
                if b_start <= a_end && job(a) == job(b) {
                    overlaps.push(((*a).clone(), (*b).clone()));
                }
            }
        }
        overlaps
    }

    /// How many distinct passes (pass headers) reached this simulator.
    pub fn pass_count(&self) -> usize {
        lock(&self.passes).len()
    }

    /// Records one applied push entry.
    pub fn record_push(&self, shop: &str, kind: &'static str, order_no: &str, entry: &Value) {
        lock(&self.pushes).push(AppliedPush {
            shop: shop.to_string(),
            kind,
            order_no: order_no.to_string(),
            entry: entry.clone(),
            at_utc: Utc::now(),
        });
    }

    /// Draws this request's faults. Four numbers are drawn every time, whatever the
    /// probabilities, so the sequence depends only on the seed and the request order.
    fn decide(&self, endpoint: &str) -> (Option<Fault>, Option<Duration>) {
        let mut guard = lock(&self.faults);
        let (f, rng) = &mut *guard;
        let draws: [f64; 4] = [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
        if f.only_path.as_deref().is_some_and(|p| !endpoint.contains(p)) {
            return (None, None);
        }
        let fault = if draws[0] < f.http_500 {
            Some(Fault::Http500)
        } else if draws[1] < f.http_429 {
            Some(Fault::Http429 { retry_after_secs: f.retry_after_secs })
        } else if draws[3] < f.cut_body {
            Some(Fault::Cut)
        } else {
            None
        };
        let slow = (draws[2] < f.slow).then(|| Duration::from_millis(f.slow_ms));
        (fault, slow)
    }

    /// Logs the request, applies the fault plan around `handler` (which returns the HTTP status and
    /// JSON body) and builds the response. A slow answer sleeps first, whatever it is; 500 and 429
    /// are answered without running `handler`.
    pub async fn respond<F>(&self, shop: &str, endpoint: &str, items: usize, handler: F) -> Response
    where
        F: FnOnce() -> (StatusCode, Value),
    {
        self.respond_cached(shop, endpoint, items, None, handler).await
    }

    /// The bodies remembered while [`SimCore::cache_pages`] is on, exactly as they were sent.
    pub fn cached_pages(&self) -> Vec<axum::body::Bytes> {
        lock(&self.pages).iter().flat_map(|p| p.values().cloned()).collect()
    }

    /// [`SimCore::respond`] for a read whose answer depends only on `key` (the request's fields):
    /// while [`SimCore::cache_pages`] is on, a remembered answer is served without `handler`.
    pub async fn respond_cached<F>(
        &self,
        shop: &str,
        endpoint: &str,
        items: usize,
        key: Option<String>,
        handler: F,
    ) -> Response
    where
        F: FnOnce() -> (StatusCode, Value),
    {
        let (fault, slow) = self.decide(endpoint);
        let label = match (fault, slow.is_some()) {
            (None, false) => None,
            (None, true) => Some("slow"),
            (Some(Fault::Http500), false) => Some("http_500"),
            (Some(Fault::Http500), true) => Some("slow+http_500"),
            (Some(Fault::Http429 { .. }), false) => Some("http_429"),
            (Some(Fault::Http429 { .. }), true) => Some("slow+http_429"),
            (Some(Fault::Cut), false) => Some("cut_body"),
            (Some(Fault::Cut), true) => Some("slow+cut_body"),
        };
        lock(&self.requests).push(RequestLogEntry {
            at: Instant::now(),
            at_utc: Utc::now(),
            shop: shop.to_string(),
            endpoint: endpoint.to_string(),
            items,
            fault: label,
        });
        let slow_after = lock(&self.faults).0.slow_after;
        if let Some(d) = slow.filter(|_| !slow_after) {
            tokio::time::sleep(d).await;
        }
        let hostile = {
            let f = &lock(&self.faults).0;
            f.hostile.clone().filter(|_| f.only_path.as_deref().is_none_or(|p| endpoint.contains(p)))
        };
        if let Some(h) = hostile {
            return hostile_answer(h, std::sync::Arc::clone(&self.streamed));
        }
        match fault {
            Some(Fault::Http500) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
            Some(Fault::Http429 { retry_after_secs }) => {
                let retry = [(header::RETRY_AFTER, retry_after_secs.to_string())];
                return (StatusCode::TOO_MANY_REQUESTS, retry, "Too Many Requests").into_response();
            }
            _ => {}
        }
        let remembered = key.as_ref().and_then(|k| lock(&self.pages).as_ref()?.get(k).cloned());
        let (status, mut text) = match remembered {
            Some(text) => (StatusCode::OK, text),
            None => {
                let (status, body) = handler();
                let text = axum::body::Bytes::from(body.to_string());
                if let (Some(k), Some(pages), true) = (key, lock(&self.pages).as_mut(), status == StatusCode::OK) {
                    pages.insert(k, text.clone());
                }
                (status, text)
            }
        };
        if let Some(d) = slow.filter(|_| slow_after) {
            tokio::time::sleep(d).await;
        }
        if fault == Some(Fault::Cut) {
            // Cut on a char boundary so the body stays valid UTF-8 but not valid JSON.
            let mut half = text.len() / 2;
            while half > 0 && (text[half] as i8) < -0x40 {
                half -= 1;
            }
            text.truncate(half);
        }
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        (status, [(header::CONTENT_TYPE, json)], text).into_response()
    }
}

fn hostile_answer(h: Hostile, streamed: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Response {
    use axum::body::{Body, Bytes};
    let json = HeaderValue::from_static("application/json; charset=utf-8");
    match h {
        Hostile::HtmlPage => {
            let html = HeaderValue::from_static("text/html");
            let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
            (StatusCode::OK, [(header::CONTENT_TYPE, html)], page).into_response()
        }
        Hostile::NotUtf8 => {
            (StatusCode::OK, [(header::CONTENT_TYPE, json)], vec![b'{', 0xff, 0xfe, 0xfd, b'}']).into_response()
        }
        Hostile::Huge(bytes) => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = bytes.div_ceil(chunk.len());
            let stream = futures_util::stream::iter((0..chunks).map(move |_| {
                streamed.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                Ok::<_, std::io::Error>(chunk.clone())
            }));
            (StatusCode::OK, [(header::CONTENT_TYPE, json)], Body::from_stream(stream)).into_response()
        }
        Hostile::Drip(ms) => {
            let body = br#"{"code":0,"count":"0","data":[]}"#;
            let stream = futures_util::stream::unfold(0usize, move |i| async move {
                if i >= body.len() {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(&body[i..i + 1])), i + 1))
            });
            (StatusCode::OK, [(header::CONTENT_TYPE, json)], Body::from_stream(stream)).into_response()
        }
        Hostile::RedirectTo(url) => match HeaderValue::from_str(&url) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)], "").into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "bad redirect target").into_response(),
        },
    }
}

/// A running simulator server; dropping it (or calling [`SimHandle::shutdown`]) stops it.
#[derive(Debug)]
pub struct SimHandle {
    /// The loopback address the server listens on.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The base URL clients use, like `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open connections finish (at most 5 s) and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// `router` with every request's pass header noted in `sim`'s core (see
/// [`SimCore::overlapping_passes`]).
pub(crate) fn noting_passes<S: Simulator + Clone + Send + Sync + 'static>(router: Router, sim: S) -> Router {
    router.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
        let sim = sim.clone();
        async move {
            let pass = req.headers().get(crate::platforms::http::PASS_HEADER).and_then(|v| v.to_str().ok());
            if let Some(pass) = pass {
                sim.core().note_pass(pass);
            }
            next.run(req).await
        }
    }))
}

/// Binds 127.0.0.1 on a free port and serves `router` in a spawned task until the handle stops it.
pub async fn serve(router: Router) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        // Without TCP_NODELAY small answers wait for delayed ACKs: ~20 ms a request on loopback.
        if let Err(e) = axum::serve(listener, router).tcp_nodelay(true).with_graceful_shutdown(shutdown).await {
            tracing::warn!(%addr, error = %e, "simulator server stopped with an error");
        }
    });
    Ok(SimHandle { addr, stop: Some(stop), task: Some(task) })
}

// ---- clock helpers (vendor times without a zone are China Standard Time) ----

/// China Standard Time, UTC+8.
pub(crate) fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+8h is a valid offset"))
}

/// The current time in unix seconds.
pub(crate) fn now_unix() -> i64 {
    Utc::now().timestamp()
}

/// Parses a date like `2016-9-9` or `2016-09-09` (padding optional, as the vendors write it).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.trim().splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// First and last unix second of a whole day in China Standard Time (both inclusive).
pub(crate) fn cst_day_bounds(day: NaiveDate) -> (i64, i64) {
    let start = day.and_time(NaiveTime::MIN).and_utc().timestamp() - 8 * 3600;
    (start, start + 86_399)
}

/// A unix time as a China Standard Time date, `%Y%m%d` (as in order numbers).
pub(crate) fn cst_compact_date(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0).unwrap_or_default().with_timezone(&cst()).format("%Y%m%d").to_string()
}

// ---- money: 1/10000 yuan units, the finest precision vendors send ----

/// Formats 1/10000-yuan units as a 4-decimal yuan string (`129300` → `"12.9300"`).
pub(crate) fn yuan4(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let a = units.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

/// The exact fen of 1/10000-yuan units, rounding half away from zero (integer arithmetic only).
pub(crate) fn units_to_fen(units: i64) -> i64 {
    if units >= 0 {
        (units + 50) / 100
    } else {
        (units - 50) / 100
    }
}

/// A random amount between `lo_fen` and `hi_fen` fen, in 1/10000-yuan units. About one in ten has
/// 3–4 significant decimals, half of those on an exact half fen, so rounding gets exercised.
pub(crate) fn random_units(rng: &mut impl Rng, lo_fen: i64, hi_fen: i64) -> i64 {
    let fen = rng.gen_range(lo_fen..=hi_fen.max(lo_fen));
    if !rng.gen_bool(0.1) {
        return fen * 100;
    }
    let extra = if rng.gen_bool(0.5) { 50 } else { rng.gen_range(1..100) };
    // Step down from the whole fen so a zero lower bound still yields sub-fen values like 0.0049.
    (fen * 100 - extra).max(extra)
}

// ---- random people, places and goods ----

/// Given names (pinyin) for generated buyers.
pub(crate) const FIRST_NAMES: &[&str] = &["Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Xiu", "Tao", "Li"];
/// Family names (pinyin) for generated buyers.
pub(crate) const LAST_NAMES: &[&str] = &["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"];
/// (province, city, postcode) for generated addresses.
pub(crate) const PLACES: &[(&str, &str, &str)] = &[
    ("fujian", "xiamen", "361004"),
    ("guangdong", "shenzhen", "518000"),
    ("zhejiang", "hangzhou", "310000"),
    ("shanghai", "shanghai", "200000"),
    ("sichuan", "chengdu", "610000"),
    ("beijing", "beijing", "100000"),
];
/// (goods name, code, lowest price fen, highest price fen) for generated order lines; some names
/// are Chinese so clients meet multi-byte text.
pub(crate) const GOODS: &[(&str, &str, i64, i64)] = &[
    ("Low Rise Flowery Legging", "LC79246", 180, 5_900),
    ("有机菠菜 500g", "VG10021", 350, 1_800),
    ("Cotton Crew T-Shirt", "LC27768", 2_900, 12_900),
    ("五常大米 5kg", "RC50005", 4_500, 9_900),
    ("Ceramic Mug 350ml", "HM33350", 1_200, 4_500),
    ("铁观音 250g", "TE25001", 6_800, 38_800),
    ("Wool Scarf", "LC22248", 5_900, 19_900),
    ("Bamboo Chopsticks x10", "HM11010", 99, 1_999),
];
/// (id, name) of shipping carriers.
pub(crate) const CARRIERS: &[(i64, &str)] = &[(28, "UPS"), (30, "EMS"), (31, "SF Express"), (32, "DHL"), (33, "ZTO")];

/// A random element of a non-empty table.
pub(crate) fn pick<'a, T>(rng: &mut impl Rng, table: &'a [T]) -> &'a T {
    &table[rng.gen_range(0..table.len())]
}

/// A random mainland mobile number.
pub(crate) fn random_phone(rng: &mut impl Rng) -> String {
    format!("1{}{:08}", rng.gen_range(30..=89), rng.gen_range(0..100_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_and_rounds_half_away_from_zero() {
        assert_eq!(yuan4(129_300), "12.9300");
        assert_eq!(yuan4(49), "0.0049");
        assert_eq!(yuan4(-10_050), "-1.0050");
        assert_eq!(units_to_fen(10_050), 101);
        assert_eq!(units_to_fen(26_750), 268);
        assert_eq!(units_to_fen(49), 0);
        assert_eq!(units_to_fen(-10_050), -101);
    }

    #[test]
    fn dates_with_or_without_padding() {
        assert_eq!(parse_date("2016-9-9"), NaiveDate::from_ymd_opt(2016, 9, 9));
        assert_eq!(parse_date("2016-09-09"), NaiveDate::from_ymd_opt(2016, 9, 9));
        assert_eq!(parse_date("2016-13-01"), None);
        assert_eq!(parse_date("2016-09-09 10:00:00"), None);
        let (start, end) = cst_day_bounds(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default());
        assert_eq!((start, end), (86_400 - 8 * 3600, 2 * 86_400 - 8 * 3600 - 1));
    }

    #[test]
    fn same_seed_same_faults() {
        let plan = Faults { http_500: 0.5, cut_body: 0.5, slow: 0.5, ..Faults::default() };
        let (a, b) = (SimCore::new(7), SimCore::new(7));
        a.set_faults(plan.clone());
        b.set_faults(plan);
        let draws: Vec<_> = (0..50).map(|_| (a.decide("/x"), b.decide("/x"))).collect();
        assert!(draws.iter().all(|(x, y)| x == y));
        assert!(draws.iter().any(|(x, _)| x.0.is_some()) && draws.iter().any(|(x, _)| x.0.is_none()));
    }
}
