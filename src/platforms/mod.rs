//! The `Connector` trait every platform implements, and the registry that names the platforms.
//!
//! Architecture invariant: this file's [`REGISTRY`] is the only place in the crate that lists
//! platforms. The core (sync, push, scheduler, store) talks to `dyn Connector` and reads
//! [`Capabilities`]; it never matches on a platform name.

pub mod bearer;
pub mod envelope;
pub mod guanmai;
pub mod http;
pub mod liangben;
pub mod paging;
pub mod shopsuite;
pub mod values;
pub mod window;
pub mod ymcart;

use crate::config::{HttpConfig, Problem, ShopConfig};
use crate::model::{Order, OrderStatus, PushKind, Refund, Rejected, Shipment, Stream};
use crate::ratelimit::RateLimiter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use http::{HttpClient, HttpError};

/// What one platform can sync and push; read by `check`, `push`, the push job and `capabilities`.
#[derive(Debug)]
pub struct Capabilities {
    /// The platform's name in the config file.
    pub platform: &'static str,
    /// Streams that can be scheduled.
    pub streams: &'static [Stream],
    /// Kinds of push the platform accepts.
    pub pushes: &'static [PushKind],
    /// Unified statuses `push status` may ask for.
    pub push_statuses: &'static [OrderStatus],
    /// Most entries one push request may carry (never above 20).
    pub max_batch: usize,
    /// Push kinds whose effect can be read back before a resend (exactly-once delivery).
    pub read_back: &'static [PushKind],
    /// Why a stream the platform does not sync is missing, shown when one is scheduled.
    pub stream_gaps: &'static [(Stream, &'static str)],
    /// Keys the shop's `[shops.options]` table may hold.
    pub options: &'static [&'static str],
    /// Credential keys the shop's config must provide.
    pub credentials: &'static [&'static str],
    /// One-line notes for `ordersync capabilities` (what is missing and why).
    pub notes: &'static [&'static str],
    /// Which side of the trade the platform's shops are on (a link runs buyer → seller).
    pub side: Side,
    /// How a supplier shipment reaches an order of this platform as a link's storefront.
    pub forward: Forward,
    /// True when orders carry the other side's order number (`orders.external_ref`).
    pub external_ref: bool,
    /// The vendor order field holding the free-text message, for `match = "message"`.
    pub message_field: Option<&'static str>,
}

/// Which side of the trade a platform serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The merchant sells here (a storefront).
    Seller,
    /// The merchant buys here (a supplier).
    Buyer,
}

impl Side {
    /// The word `check` and `capabilities` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Seller => "seller",
            Side::Buyer => "buyer",
        }
    }
}

/// How a linked supplier shipment is pushed to a storefront order of this platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// It cannot be: the platform cannot be a link's storefront.
    Nothing,
    /// A ship push with carrier and tracking number; `several`: one per parcel, else the first
    /// parcel only. Sent while the storefront order is in one of `accepts`.
    Ship {
        /// The order takes several tracking numbers.
        several: bool,
        /// Storefront statuses that take a shipment.
        accepts: &'static [OrderStatus],
    },
    /// A status push to `to` (no tracking number), legal only from `accepts`.
    Status {
        /// The status the order is moved to.
        to: OrderStatus,
        /// Storefront statuses that move is legal from.
        accepts: &'static [OrderStatus],
    },
}

/// The largest batch any platform may be sent (DESIGN.md invariant 5).
pub const MAX_BATCH: usize = 20;

/// What a connector needs to know for one pass of one stream.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The stream to sync.
    pub stream: Stream,
    /// The stream's saved cursor (connector-defined text); None on the first run.
    pub cursor: Option<String>,
    /// The pass's clock.
    pub now: DateTime<Utc>,
    /// How far back the first run reaches.
    pub backfill_days: u32,
    /// How far back later runs re-read, for platforms without an updated-since filter.
    pub lookback_days: u32,
    /// Order numbers stored for this shop in a non-terminal state, for platforms that re-poll them.
    pub open_orders: Vec<String>,
}

/// One committed unit of a sync: rows and, optionally, the cursor they advance to.
#[derive(Debug, Default)]
pub struct Batch {
    /// Orders read.
    pub orders: Vec<Order>,
    /// Shipments read.
    pub shipments: Vec<Shipment>,
    /// Refunds read.
    pub refunds: Vec<Refund>,
    /// Records that could not be normalized; stored raw with their error.
    pub rejected: Vec<Rejected>,
    /// The cursor to save in the same transaction as these rows.
    pub cursor: Option<String>,
    /// Queries whose rows fell short of the total the vendor reported, even after a re-read.
    pub shortfalls: Vec<Shortfall>,
    /// Rows read and found already stored unchanged by their raw hash ([`Sink::known_orders`]),
    /// skipped unread; counted as seen.
    pub unchanged: u64,
}

/// A query that returned fewer rows than the vendor said it holds (the completeness check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// The endpoint and filter, as an admin would repeat it (`orderList 2026-11-01..2026-11-07`).
    pub query: String,
    /// Rows the vendor reported for the query.
    pub reported: u64,
    /// Distinct rows received.
    pub received: u64,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: vendor reported {} rows, {} received", self.query, self.reported, self.received)
    }
}

impl Batch {
    /// Reads each of `rows` with `read` and adds the result with `add`; a row that cannot be
    /// read is kept raw with its error (nothing fetched is lost), keyed by its `key` field.
    pub fn read<T, E: std::fmt::Display>(
        &mut self,
        rows: &[serde_json::Value],
        (stream, key): (Stream, &str),
        read: impl Fn(&serde_json::Value) -> Result<T, E>,
        add: impl Fn(&mut Batch, T),
    ) {
        for row in rows {
            match read(row) {
                Ok(item) => add(self, item),
                Err(e) => self.rejected.push(rejected(stream, row, key, e.to_string())),
            }
        }
    }

    /// [`Batch::read`] for rows kept as the text the vendor sent (see `envelope::RawRows`).
    pub fn read_text<'r, T, E: std::fmt::Display>(
        &mut self,
        rows: impl IntoIterator<Item = &'r str>,
        (stream, key): (Stream, &str),
        read: impl Fn(&str) -> Result<T, E>,
        add: impl Fn(&mut Batch, T),
    ) {
        for row in rows {
            match read(row) {
                Ok(item) => add(self, item),
                Err(e) => {
                    // The text parsed as JSON when the answer was read, so only its key is looked up here.
                    let value: serde_json::Value = serde_json::from_str(row).unwrap_or_default();
                    self.rejected.push(rejected_as(stream, &value, row.to_string(), key, e.to_string()));
                }
            }
        }
    }
}

/// A vendor record kept raw: keyed by its `key` field, or by a hash of its JSON when it has none.
pub fn rejected(stream: Stream, row: &serde_json::Value, key: &str, error: String) -> Rejected {
    rejected_as(stream, row, row.to_string(), key, error)
}

fn rejected_as(stream: Stream, row: &serde_json::Value, raw_json: String, key: &str, error: String) -> Rejected {
    let vendor_key =
        values::non_empty(row, key).unwrap_or_else(|| format!("raw:{}", crate::store::fingerprint(&[&raw_json])));
    Rejected { stream, vendor_key, error, raw_json }
}

/// Where a connector hands its batches; the core commits each one atomically with its cursor.
pub trait Sink: Send {
    /// Commits `batch`; an error stops the pass (the cursor stays where it was).
    fn commit(&mut self, batch: Batch) -> Result<(), SyncError>;

    /// The stored orders among `order_nos`, for platforms that re-read only what changed.
    fn stored_orders(&mut self, order_nos: &[String]) -> Result<Vec<StoredOrder>, SyncError>;

    /// Stored orders whose shipments may still be incomplete — those without any shipment row,
    /// every non-terminal one, and any whose row changed at or after `changed_since` (an RFC 3339
    /// time; "" for none) — each with the raw JSON of its stored shipments. Read a page at a time
    /// (orders after `after`, by order number), so memory stays bounded.
    fn shipment_candidates(
        &mut self,
        changed_since: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(StoredOrder, Vec<String>)>, SyncError>;

    /// Refund ids stored for this shop that may still change (any status but `closed`,
    /// `rejected` and `cancelled`: a `refunded` one may still close), for platforms that re-read
    /// open refunds instead of re-listing them all.
    fn open_refunds(&mut self) -> Result<Vec<String>, SyncError> {
        Ok(Vec::new())
    }

    /// The stored orders whose raw JSON hashes to one of `raw_hashes` (`store::raw_hash` of
    /// the row's text as received), as (raw hash, order number): rows a connector may skip
    /// without reading, since the same bytes were stored by the same readers.
    fn known_orders(&mut self, _raw_hashes: &[i64]) -> Result<Vec<(i64, String)>, SyncError> {
        Ok(Vec::new())
    }
}

/// An order as the database holds it, for connectors deciding what to re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order number.
    pub order_no: String,
    /// Unified status.
    pub status: OrderStatus,
    /// The vendor's code.
    pub platform_status: String,
    /// The vendor JSON last stored.
    pub raw_json: String,
    /// When the row last changed here (RFC 3339 UTC, as `store::ts` writes it).
    pub synced_at: String,
}

/// A push entry handed to a connector.
#[derive(Debug, Clone)]
pub struct PushItem {
    /// The outbox id.
    pub id: i64,
    /// The order it concerns.
    pub order_no: String,
    /// What to do.
    pub payload: PushPayload,
    /// Ids of the order's stored shipments (some platforms name one when confirming receipt).
    pub shipment_ids: Vec<String>,
}

/// The unified body of a push; stored as JSON in `outbox.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushPayload {
    /// Mark the order shipped with this carrier and tracking number.
    Ship {
        /// Carrier name.
        carrier: String,
        /// Tracking number.
        tracking: String,
    },
    /// Move the order to a unified status.
    Status {
        /// The target status.
        status: OrderStatus,
    },
    /// Add a remark to the order.
    Remark {
        /// The remark text.
        text: String,
    },
}

impl PushPayload {
    /// The outbox `kind` column for this payload.
    pub fn kind(&self) -> PushKind {
        match self {
            PushPayload::Ship { .. } => PushKind::Ship,
            PushPayload::Status { .. } => PushKind::Status,
            PushPayload::Remark { .. } => PushKind::Remark,
        }
    }

    /// The part of the dedupe key after shop and order: the same request twice gives one row,
    /// and a changed tracking number is a new push.
    pub fn dedupe_suffix(&self) -> String {
        match self {
            PushPayload::Ship { carrier, tracking } => format!("ship|{carrier}|{tracking}"),
            PushPayload::Status { status } => format!("status|{status}"),
            PushPayload::Remark { text } => format!("remark|{text}"),
        }
    }
}

/// How the platform answered for one entry of a push request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Applied.
    Done,
    /// Not sent: a read just before sending showed the effect already there (settled as a
    /// read-back, so `outbox.settled_by` tells it from a push that went out).
    AlreadyApplied,
    /// Refused for good (no such order, wrong state); the reason is the vendor's.
    Refused(String),
    /// Failed for now; try again later.
    Retry(String),
}

/// What reading an entry back from the platform showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// The platform already shows the entry's effect: settle it done without sending.
    Applied,
    /// The platform does not show it: send it.
    NotApplied,
    /// The platform cannot tell (no read-back for this kind): send it.
    Unknown,
}

/// Why a sync pass or a push request failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(HttpError),
    /// The vendor refused the request (`code` ≠ 0).
    #[error("vendor refused `{path}`: code {code}: {msg}")]
    Vendor {
        /// The request path.
        path: String,
        /// The vendor's code.
        code: String,
        /// The vendor's message.
        msg: String,
    },
    /// The credentials were refused; the admin must act (not retried).
    #[error("credentials refused by the platform: {0}")]
    Auth(String),
    /// The vendor's answer did not have the documented shape.
    #[error("unexpected answer from `{path}`: {detail}")]
    Shape {
        /// The request path.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// Storing the rows failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Shutdown was requested; the committed batches stand.
    #[error("interrupted by shutdown")]
    Interrupted,
    /// This process stalled past its lease and another took the pass; the committed batches stand.
    #[error("lost the pass's lease to another process; stopped")]
    LeaseLost,
}

impl From<HttpError> for SyncError {
    fn from(e: HttpError) -> Self {
        // Every platform answers refused credentials with 401/403; the admin must act, so this is
        // reported as such and never retried.
        match e.status() {
            Some(401 | 403) => SyncError::Auth(e.to_string()),
            _ => SyncError::Http(e),
        }
    }
}

impl SyncError {
    /// True when a later attempt may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Http(e) => e.is_transient(),
            SyncError::Store(e) => e.is_busy(),
            _ => false,
        }
    }

    /// True when the platform may have applied a write that reported this error.
    pub fn may_have_applied(&self) -> bool {
        match self {
            SyncError::Http(e) => e.may_have_applied(),
            SyncError::Shape { .. } => true,
            _ => false,
        }
    }

    /// The server's requested delay, when it gave one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// One platform's client for one shop.
#[async_trait]
pub trait Connector: Send + Sync {
    /// What this platform can do.
    fn capabilities(&self) -> &'static Capabilities;

    /// Runs one pass of `req.stream`, handing batches to `sink` as they are read.
    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError>;

    /// Sends one request carrying `items` (all of one kind, at most `max_batch`), one outcome each.
    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError>;

    /// True when pushes of `kind` are read back before their first send too, not only after a
    /// send that may have landed (platforms where a read is cheap and a stale push does harm).
    fn read_back_first(&self, _kind: PushKind) -> bool {
        false
    }

    /// Reads back whether each item's effect is already visible at the platform.
    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        Ok(vec![ReadBack::Unknown; items.len()])
    }

    /// The cursor that makes the next pass of `stream` re-read from `since`; `None` means
    /// "start over" (a full backfill, or the whole list for id-cursored streams). Every platform's
    /// orders stream keeps a day cursor (`window::pass_span`).
    fn resync_cursor(&self, stream: Stream, since: chrono::NaiveDate) -> Option<String> {
        (stream == Stream::Orders).then(|| window::resync_cursor(since))
    }

    /// Checks, before enqueueing, that the order can make the move `payload` asks for from its
    /// stored status (`None` when the order is not stored). Most platforms accept any move.
    fn check_move(&self, _payload: &PushPayload, _current: Option<OrderStatus>) -> Result<(), String> {
        Ok(())
    }
}

impl Capabilities {
    /// Checks that the platform takes this kind of push and, for a status push, this status.
    pub fn check(&self, payload: &PushPayload) -> Result<(), String> {
        let kind = payload.kind();
        if !self.pushes.contains(&kind) {
            return Err(format!("{} cannot take `{kind}` pushes (it takes: {})", self.platform, join(self.pushes)));
        }
        if let PushPayload::Status { status } = payload {
            if !self.push_statuses.contains(status) {
                return Err(format!(
                    "{} cannot be moved to `{status}` (allowed: {})",
                    self.platform,
                    join(self.push_statuses)
                ));
            }
        }
        Ok(())
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// How a shop's connector is made: the parts every platform's constructor receives.
pub struct ConnectorParts<'a> {
    /// The shop's configuration.
    pub shop: &'a ShopConfig,
    /// An HTTP client for the shop, under the shop's shared rate limiter.
    pub http: HttpClient,
}

impl ConnectorParts<'_> {
    /// A credential the platform requires (`shop_rules` has checked it is configured).
    pub fn credential(&self, key: &str) -> Result<crate::config::Secret, String> {
        self.shop.credentials.get(key).cloned().ok_or_else(|| format!("shop `{}`: no `{key}` configured", self.shop.id))
    }
}

/// Runs `f` for each item in turn (platforms that take one order per call), stopping at the
/// first error: the core then treats the whole batch as failed and reads back what may have landed.
pub async fn one_by_one<'a, T, F, Fut>(items: &'a [PushItem], mut f: F) -> Result<Vec<T>, SyncError>
where
    F: FnMut(&'a PushItem) -> Fut,
    Fut: std::future::Future<Output = Result<T, SyncError>>,
{
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(f(item).await?);
    }
    Ok(out)
}

/// The outcome of a one-order push call: done, or refused for good with the vendor's code and
/// message when it answered `code` ≠ 0; transport errors stay errors (they may be retried).
pub fn push_outcome(answer: Result<serde_json::Value, SyncError>) -> Result<PushOutcome, SyncError> {
    match answer {
        Ok(_) => Ok(PushOutcome::Done),
        Err(SyncError::Vendor { code, msg, .. }) => Ok(PushOutcome::Refused(format!("code {code}: {msg}"))),
        Err(e) => Err(e),
    }
}

/// A platform as the registry knows it.
pub struct Platform {
    /// What it can do (also carries its name).
    pub capabilities: &'static Capabilities,
    /// Builds a connector for one shop.
    pub build: fn(ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String>,
}

/// Every platform the daemon can talk to. Adding one is adding a line here and a folder.
pub static REGISTRY: &[Platform] = &[
    Platform { capabilities: &ymcart::CAPABILITIES, build: ymcart::build },
    Platform { capabilities: &guanmai::CAPABILITIES, build: guanmai::build },
    Platform { capabilities: &liangben::CAPABILITIES, build: liangben::build },
    Platform { capabilities: &shopsuite::CAPABILITIES, build: shopsuite::build },
];

/// The registry entry for `name`.
pub fn platform(name: &str) -> Option<&'static Platform> {
    REGISTRY.iter().find(|p| p.capabilities.platform == name)
}

/// Builds the connector for `shop`, sharing `limiter` with everything else of that shop.
pub fn connect(
    shop: &ShopConfig,
    http: &HttpConfig,
    transport: &http::Transport,
    limiter: Arc<RateLimiter>,
) -> Result<Arc<dyn Connector>, String> {
    let platform = platform(&shop.platform).ok_or_else(|| format!("unknown platform `{}`", shop.platform))?;
    let client = HttpClient::new(&shop.id, &shop.base_url, http, transport, limiter).map_err(|e| e.to_string())?;
    (platform.build)(ConnectorParts { shop, http: client })
}

/// The platform rules of the config file: a known platform, its credentials, streams it can sync.
pub fn shop_rules(shop: &ShopConfig, prefix: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(platform) = platform(&shop.platform) else {
        let known: Vec<_> = REGISTRY.iter().map(|p| p.capabilities.platform).collect();
        problems.push(Problem {
            key: format!("{prefix}.platform"),
            message: format!("unknown platform `{}` (expected one of: {})", shop.platform, known.join(", ")),
        });
        return problems;
    };
    let caps = platform.capabilities;
    for key in caps.credentials {
        if !shop.credentials.contains_key(*key) {
            problems.push(Problem {
                key: format!("{prefix}.{key}"),
                message: format!("{} needs `{key}` (as \"${{ENV_VAR}}\" or {key}_file = \"/path\")", caps.platform),
            });
        }
    }
    for key in shop.credentials.keys() {
        if !caps.credentials.contains(&key.as_str()) {
            problems.push(Problem {
                key: format!("{prefix}.{key}"),
                message: format!("{} does not use `{key}`", caps.platform),
            });
        }
    }
    for key in shop.options.keys() {
        if !caps.options.contains(&key.as_str()) {
            let known = if caps.options.is_empty() { "none".to_string() } else { caps.options.join(", ") };
            problems.push(Problem {
                key: format!("{prefix}.options.{key}"),
                message: format!("{} has no option `{key}` (it has: {known})", caps.platform),
            });
        }
    }
    for stream in shop.schedule.keys() {
        if !caps.streams.contains(stream) {
            let why = caps
                .stream_gaps
                .iter()
                .find(|(s, _)| s == stream)
                .map(|(_, why)| format!(": {why}"))
                .unwrap_or_default();
            problems.push(Problem {
                key: format!("{prefix}.schedule.{stream}"),
                message: format!("{} cannot sync `{stream}`{why} (it syncs: {})", caps.platform, join(caps.streams)),
            });
        }
    }
    problems
}

/// A sink wrapper that stops a pass between batches once shutdown is requested.
pub struct Interruptible<'a> {
    /// The real sink.
    pub inner: &'a mut dyn Sink,
    /// Cancelled on shutdown.
    pub cancel: CancellationToken,
}

impl Sink for Interruptible<'_> {
    fn commit(&mut self, batch: Batch) -> Result<(), SyncError> {
        self.inner.commit(batch)?;
        if self.cancel.is_cancelled() {
            return Err(SyncError::Interrupted);
        }
        Ok(())
    }

    fn stored_orders(&mut self, order_nos: &[String]) -> Result<Vec<StoredOrder>, SyncError> {
        self.inner.stored_orders(order_nos)
    }

    fn shipment_candidates(
        &mut self,
        changed_since: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(StoredOrder, Vec<String>)>, SyncError> {
        self.inner.shipment_candidates(changed_since, after, limit)
    }

    fn open_refunds(&mut self) -> Result<Vec<String>, SyncError> {
        self.inner.open_refunds()
    }

    fn known_orders(&mut self, raw_hashes: &[i64]) -> Result<Vec<(i64, String)>, SyncError> {
        self.inner.known_orders(raw_hashes)
    }
}
