//! The one HTTP client every connector uses: rate limit, timeouts, body cap, error classes, retries.
//!
//! Connectors describe a request ([`Request`]) and get JSON back; how it is sent, limited,
//! retried and classified is decided here once, so no platform module carries its own plumbing.

use crate::config::{HttpConfig, Secret};
use crate::ratelimit::RateLimiter;
use crate::retry::{self, RetryPolicy, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The header naming the pass a request belongs to (`shop/stream/holder/claim`), so a vendor's
/// logs — and our simulators — can tell passes apart, and see two at once.
pub const PASS_HEADER: &str = "x-ordersync-pass";

tokio::task_local! {
    /// The pass the current task works for; set around a pass by `sync::run_pass_with`.
    pub static PASS: String;
}

/// A failed HTTP exchange. Messages name the path, never the query string (it may hold a token).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The base URL and path do not form a URL.
    #[error("bad URL for `{path}`: {detail}")]
    BadUrl {
        /// The request path.
        path: String,
        /// Why it is bad.
        detail: String,
    },
    /// No connection could be made; nothing reached the server.
    #[error("`{path}`: cannot connect: {detail}")]
    Connect {
        /// The request path.
        path: String,
        /// The transport's reason.
        detail: String,
    },
    /// The request was sent but no complete answer came back in time.
    #[error("`{path}`: timed out: {detail}")]
    Timeout {
        /// The request path.
        path: String,
        /// The transport's reason.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("`{path}`: HTTP {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        /// The request path.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The server's Retry-After, when it gave one.
        retry_after: Option<Duration>,
    },
    /// The server answered with a redirect; we never follow one (credentials could leak).
    #[error("`{path}`: refused to follow a redirect (HTTP {status}) to `{location}` (query not shown)")]
    Redirect {
        /// The request path.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// Where the server pointed, without its query ([`without_query`]).
        location: String,
    },
    /// The body was larger than the configured cap.
    #[error("`{path}`: response body exceeds the {limit}-byte cap")]
    TooLarge {
        /// The request path.
        path: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The body was cut short or is not JSON (an HTML error page, say).
    #[error("`{path}`: response is not valid JSON ({detail}); it starts `{start}`")]
    NotJson {
        /// The request path.
        path: String,
        /// The parser's reason.
        detail: String,
        /// The first characters of the body, for the log.
        start: String,
    },
}

impl HttpError {
    /// True when retrying may succeed: transport trouble, 429, 5xx, broken bodies.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect { .. } | HttpError::Timeout { .. } | HttpError::NotJson { .. } => true,
            HttpError::Status { status, .. } => *status == 429 || *status >= 500,
            HttpError::BadUrl { .. } | HttpError::Redirect { .. } | HttpError::TooLarge { .. } => false,
        }
    }

    /// True when the server may have acted on the request although we saw a failure; a write that
    /// failed this way is read back before it is sent again.
    pub fn may_have_applied(&self) -> bool {
        match self {
            HttpError::Timeout { .. } | HttpError::NotJson { .. } | HttpError::TooLarge { .. } => true,
            HttpError::Status { status, .. } => *status >= 500,
            HttpError::Connect { .. } | HttpError::BadUrl { .. } | HttpError::Redirect { .. } => false,
        }
    }

    /// The server's requested delay, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label of the failure, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::BadUrl { .. } => "bad_url",
            HttpError::Connect { .. } => "connect",
            HttpError::Timeout { .. } => "timeout",
            HttpError::Status { status: 429, .. } => "http_429",
            HttpError::Status { status, .. } if *status >= 500 => "http_5xx",
            HttpError::Status { .. } => "http_4xx",
            HttpError::Redirect { .. } => "redirect",
            HttpError::TooLarge { .. } => "too_large",
            HttpError::NotJson { .. } => "not_json",
        }
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Whether a request may be repeated blindly after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// A read: repeat it after any transient failure.
    Read,
    /// A write: repeat it only when it surely never took effect (connect errors, 429).
    Write,
}

/// One HTTP request as a connector describes it.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET or POST.
    pub method: Method,
    /// Path below the shop's base URL, starting with `/`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Form fields (sent url-encoded when non-empty).
    pub form: Vec<(String, String)>,
    /// A bearer token for the Authorization header.
    pub bearer: Option<Secret>,
    /// Read or write, for the retry rules.
    pub idempotency: Idempotency,
}

impl Request {
    /// A form POST.
    pub fn post_form(path: &str, form: Vec<(String, String)>, idempotency: Idempotency) -> Self {
        Request { method: Method::POST, path: path.to_string(), query: vec![], form, bearer: None, idempotency }
    }

    /// A GET with query parameters.
    pub fn get(path: &str, query: Vec<(String, String)>) -> Self {
        Request {
            method: Method::GET,
            path: path.to_string(),
            query,
            form: vec![],
            bearer: None,
            idempotency: Idempotency::Read,
        }
    }
}

/// The connection pool and TLS set-up shared by every shop: one per daemon, since a client per shop
/// costs a root store and a pool each (hundreds of shops would hold tens of MiB for nothing).
#[derive(Debug, Clone)]
pub struct Transport(reqwest::Client);

impl Transport {
    /// A transport with the configured timeouts, never following redirects.
    pub fn new(cfg: &HttpConfig) -> Result<Transport, HttpError> {
        reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.request_timeout)
            .timeout(cfg.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ordersync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map(Transport)
            .map_err(|e| HttpError::BadUrl { path: String::new(), detail: e.to_string() })
    }
}

/// An HTTP client for one shop: its base URL, its rate limiter and the configured limits.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    base: Url,
    limiter: Arc<RateLimiter>,
    max_body: u64,
    policy: RetryPolicy,
    shop: String,
}

struct Attempt(HttpError, Idempotency);

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retryable for Attempt {
    fn retry_hint(&self) -> Option<Option<Duration>> {
        let Attempt(e, idem) = self;
        let may_repeat = match idem {
            Idempotency::Read => e.is_transient(),
            Idempotency::Write => e.is_transient() && !e.may_have_applied(),
        };
        may_repeat.then(|| e.retry_after())
    }
}

impl HttpClient {
    /// A client for `base_url` under `limiter`, with the timeouts and caps of `cfg`.
    pub fn new(
        shop: &str,
        base_url: &str,
        cfg: &HttpConfig,
        transport: &Transport,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self, HttpError> {
        let base = Url::parse(base_url)
            .map_err(|e| HttpError::BadUrl { path: base_url.to_string(), detail: e.to_string() })?;
        Ok(HttpClient {
            inner: transport.0.clone(),
            base,
            limiter,
            max_body: cfg.max_body_bytes,
            policy: RetryPolicy { retries: cfg.retries, initial: cfg.retry_initial, max: Duration::from_secs(60) },
            shop: shop.to_string(),
        })
    }

    /// Sends `req`, retrying transient failures as its idempotency allows, and parses the JSON body.
    pub async fn send(&self, req: &Request) -> Result<Value, HttpError> {
        self.send_with(req, |body| serde_json::from_slice(&body).map_err(|e| e.to_string())).await
    }

    /// Sends `req` like [`HttpClient::send`] but reads the body with `read`, for answers a
    /// connector reads typed from the bytes. A body `read` refuses counts as cut (retried).
    pub async fn send_with<T>(
        &self,
        req: &Request,
        read: impl Fn(Vec<u8>) -> Result<T, String>,
    ) -> Result<T, HttpError> {
        let read = &read;
        retry::retry(self.policy, || async { self.send_once(req, read).await.map_err(|e| Attempt(e, req.idempotency)) })
            .await
            .map_err(|Attempt(e, _)| e)
    }

    /// One attempt: waits for the rate limiter, sends, reads at most the body cap, reads it.
    async fn send_once<T>(&self, req: &Request, read: impl Fn(Vec<u8>) -> Result<T, String>) -> Result<T, HttpError> {
        let result = self.exchange(req).await.and_then(|body| {
            // The body's start, for the error only: kept on the stack, since `read` takes the body.
            let mut start = [0u8; 60];
            let n = body.len().min(start.len());
            start[..n].copy_from_slice(&body[..n]);
            read(body).map_err(|detail| HttpError::NotJson {
                path: req.path.clone(),
                detail,
                start: String::from_utf8_lossy(&start[..n]).into_owned(),
            })
        });
        let outcome = result.as_ref().map_or_else(HttpError::kind, |_| "ok");
        crate::metrics::METRICS.requests.with_label_values(&[self.shop.as_str(), req.path.as_str(), outcome]).inc();
        result
    }

    async fn exchange(&self, req: &Request) -> Result<Vec<u8>, HttpError> {
        let path = req.path.clone();
        let url = self.url(&req.path)?;
        let mut builder = self.inner.request(req.method.clone(), url);
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if !req.form.is_empty() {
            builder = builder.form(&req.form);
        }
        if let Some(token) = &req.bearer {
            builder = builder.bearer_auth(token.expose());
        }
        if let Ok(pass) = PASS.try_with(String::clone) {
            builder = builder.header(PASS_HEADER, pass);
        }
        self.limiter.acquire().await;
        let mut resp = builder.send().await.map_err(|e| transport_error(&path, &e))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
            return Err(HttpError::Redirect { path, status: status.as_u16(), location: without_query(location) });
        }
        if !status.is_success() {
            return Err(HttpError::Status {
                path,
                status: status.as_u16(),
                retry_after: retry_after(resp.headers(), status),
            });
        }
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(HttpError::TooLarge { path, limit: self.max_body });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&path, &e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(HttpError::TooLarge { path, limit: self.max_body });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> Result<Url, HttpError> {
        // Join by text so a base URL with a path prefix keeps it.
        let joined = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        Url::parse(&joined).map_err(|e| HttpError::BadUrl { path: path.to_string(), detail: e.to_string() })
    }
}

/// A URL as errors and logs may show it: scheme, host and path, without user info, query or
/// fragment (a redirect may carry an access token in its query).
pub fn without_query(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            // Only fails for URLs that cannot have credentials, which then have none to hide.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        // A relative or broken Location: keep the text before any `?` or `#`.
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

fn transport_error(path: &str, e: &reqwest::Error) -> HttpError {
    // reqwest's Display includes the URL with its query string; report only the cause chain.
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        detail = if e.is_body() { "body cut short".into() } else { "transport error".into() };
    }
    if e.is_timeout() {
        HttpError::Timeout { path: path.to_string(), detail }
    } else if e.is_connect() {
        HttpError::Connect { path: path.to_string(), detail }
    } else {
        // A reset or truncated body after the request went out: treat like a timeout (ambiguous).
        HttpError::Timeout { path: path.to_string(), detail }
    }
}

fn retry_after(headers: &HeaderMap, status: StatusCode) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    // A hostile or broken header must not park a shop for days.
    Some(Duration::from_secs(secs.min(300)))
}
