//! ShopSuite trade API (PLATFORMS.md §4): the second buyer side — orders we placed in a mall,
//! with their shipments embedded (`logistics[]`), returns, and cancel/receive pushes.
//!
//! The order list has no updated-since filter: each pass lists by creation time from the cursor
//! (or the backfill) widened to `lookback_days`, then re-reads by detail every stored open order
//! the listing did not cover. Logistics rows are committed with their order, in one batch.
//! Returns are listed by creation time from their own cursor; stored returns that may still
//! change are re-read by state (`returnStateId`) or one by one (`orderReturn/get`), never the
//! whole list. Every list query is checked against the `records` it reports (see [`list`]).

pub mod list;
pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, RefundStatus, Stream};
use crate::platforms::bearer::BearerClient;
use crate::platforms::http::Idempotency;
use crate::platforms::values::{self, cst};
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    one_by_one, push_outcome, Batch, Capabilities, Connector, ConnectorParts, Forward, PushItem, PushOutcome,
    PushPayload, ReadBack, Side, Sink, SyncError, SyncRequest,
};
use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime, TimeZone};
use futures_util::{stream, StreamExt};
use list::{ListPage, Tally};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What ShopSuite can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    platform: "shopsuite",
    streams: &[Stream::Orders, Stream::Refunds],
    pushes: &[PushKind::Status],
    push_statuses: &[OrderStatus::Cancelled, OrderStatus::Completed],
    max_batch: 1,
    read_back: &[PushKind::Status],
    stream_gaps: &[(Stream::Shipments, "shipments come with the orders stream (each order embeds its logistics rows)")],
    options: &["cancel_reason"],
    credentials: &["token"],
    notes: &["buyer side: `cancelled` cancels our order (with options.cancel_reason), `completed` confirms receipt"],
    side: Side::Buyer,
    forward: Forward::Nothing,
    external_ref: false,
    message_field: Some("order_message"),
};

/// Detail calls in flight at once per shop (the shop's rate limit still applies to each).
const DETAIL_CONCURRENCY: usize = 4;
/// Pages one query may run to: a vendor that pages forever is stopped here.
const MAX_PAGES: u64 = 100_000;

/// The ShopSuite connector for one shop.
pub struct ShopSuite {
    client: BearerClient,
    cancel_reason: String,
}

/// Builds the connector (registry entry).
pub fn build(parts: ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String> {
    let token = parts.credential("token")?;
    let cancel_reason =
        parts.shop.options.get("cancel_reason").cloned().unwrap_or_else(|| wire::DEFAULT_CANCEL_REASON.to_string());
    Ok(Arc::new(ShopSuite { client: BearerClient::new(parts.http, token), cancel_reason }))
}

fn query(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Unix milliseconds of a CST day's first and last instant.
fn day_bounds_ms(w: DayWindow) -> (i64, i64) {
    let at = |day: NaiveDate, t: NaiveTime| {
        cst().from_local_datetime(&day.and_time(t)).single().map(|t| t.timestamp_millis())
    };
    let start = at(w.start, NaiveTime::MIN).unwrap_or_default();
    let end = at(w.end + chrono::Duration::days(1), NaiveTime::MIN).unwrap_or_default() - 1;
    (start, end)
}

/// Makes a batch of one page's rows.
type Reader<'a> = dyn Fn(&[Value]) -> Batch + Sync + 'a;

/// One list query: endpoint and filter, the key field of its rows, and its name in `status`.
struct ListQuery {
    path: &'static str,
    filter: Vec<(String, String)>,
    key: &'static str,
    label: String,
}

impl ListQuery {
    /// The creation-time window `w` of a list (`createTimeStart`/`createTimeEnd`, unix ms).
    fn window(path: &'static str, key: &'static str, sidx: &str, w: DayWindow) -> ListQuery {
        let (start, end) = day_bounds_ms(w);
        ListQuery {
            path,
            filter: query(&[
                ("createTimeStart", start.to_string()),
                ("createTimeEnd", end.to_string()),
                ("sidx", sidx.to_string()),
            ]),
            key,
            label: format!("{} createTime {}..{}", short(path), window::day(w.start), window::day(w.end)),
        }
    }
}

/// `order/list` for `/front/trade/order/list`: how an admin finds the query in the vendor's docs.
fn short(path: &str) -> &str {
    path.strip_prefix("/front/trade/").unwrap_or(path)
}

/// A page is known by its size and its first and last rows: enough to tell a vendor that ignores
/// `page` (and repeats itself) from one that pages.
fn signature(rows: &[Value]) -> (usize, String, String) {
    let text = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_default();
    (rows.len(), text(rows.first()), text(rows.last()))
}

/// Return states that may still move: every `return_state_id` whose unified status is not final.
fn open_return_states() -> Vec<&'static str> {
    let open = |s: &RefundStatus| !matches!(s, RefundStatus::Closed | RefundStatus::Rejected | RefundStatus::Cancelled);
    map::RETURN_STATE.iter().filter(|(_, s)| open(s)).map(|(code, _)| *code).collect()
}

/// The object in `data` of a one-record answer; None for null or `{}` (the page's own
/// `order/detail` sample is `{}`), which tells nothing about the record.
pub fn record(answer: Value) -> Option<Value> {
    answer.get("data").filter(|d| d.as_object().is_some_and(|o| !o.is_empty())).cloned()
}

impl ShopSuite {
    async fn get(&self, path: &str, q: Vec<(String, String)>) -> Result<Value, SyncError> {
        self.client.call(Method::GET, path, q, Vec::new(), Idempotency::Read).await
    }

    /// Page `page` of `q`, oldest first.
    async fn list(&self, q: &ListQuery, page: u64) -> Result<ListPage, SyncError> {
        let mut params = q.filter.clone();
        params.extend(query(&[
            ("page", page.to_string()),
            ("size", wire::PAGE_SIZE.to_string()),
            ("sort", "asc".into()),
        ]));
        list::list_page(self.get(q.path, params).await?, q.path)
    }

    /// Reads every page of `q` once into `tally`, committing each page's batch (`read` makes it)
    /// but the last one, which is returned for the caller to commit with a cursor or a shortfall.
    async fn read_pages(
        &self,
        q: &ListQuery,
        tally: &mut Tally,
        sink: &mut dyn Sink,
        read: &Reader<'_>,
    ) -> Result<Batch, SyncError> {
        let mut received = 0u64;
        let mut previous = None;
        for page in 1..=MAX_PAGES {
            let p = self.list(q, page).await?;
            let sig = signature(&p.rows);
            if !p.rows.is_empty() && previous.as_ref() == Some(&sig) {
                // A vendor that ignores `page`: what it served is in; the tally shows what is not.
                tracing::warn!(query = q.label, page, "page repeats the previous one; taking the query as ended");
                return Ok(Batch::default());
            }
            received += p.rows.len() as u64;
            tally.add(&p, q.key);
            let batch = read(&p.rows);
            if !p.more(page, received, wire::PAGE_SIZE) {
                return Ok(batch);
            }
            sink.commit(batch)?;
            previous = Some(sig);
        }
        Err(SyncError::Shape { path: q.path.to_string(), detail: format!("more than {MAX_PAGES} pages") })
    }

    /// Reads `q` completely: once, and once more when fewer distinct rows came than its `records`
    /// said. Returns the last page's batch (uncommitted; carrying the shortfall when still short),
    /// the distinct keys received, and whether it fell short.
    async fn read_query(
        &self,
        q: &ListQuery,
        sink: &mut dyn Sink,
        read: &Reader<'_>,
    ) -> Result<(Batch, HashSet<String>, bool), SyncError> {
        let mut tally = Tally::default();
        let mut last = self.read_pages(q, &mut tally, sink, read).await?;
        if let Some(short) = tally.shortfall(&q.label) {
            tracing::info!(%short, "fewer rows than the vendor reported; reading the query again");
            sink.commit(last)?;
            last = self.read_pages(q, &mut tally, sink, read).await?;
        }
        let short = tally.shortfall(&q.label);
        let held = short.is_some();
        last.shortfalls.extend(short);
        Ok((last, tally.keys().clone(), held))
    }

    /// Lists `span` window by window; each window's last batch carries the cursor until a window
    /// falls short, after which no later window moves it. Returns the keys listed.
    async fn read_windows(
        &self,
        span: DayWindow,
        (path, key, sidx): (&'static str, &'static str, &str),
        sink: &mut dyn Sink,
        read: &Reader<'_>,
    ) -> Result<HashSet<String>, SyncError> {
        let mut seen = HashSet::new();
        let mut held = false;
        for w in span.split(wire::WINDOW_DAYS) {
            let (mut last, keys, short) = self.read_query(&ListQuery::window(path, key, sidx, w), sink, read).await?;
            held |= short;
            if !held {
                last.cursor = Some(w.cursor());
            }
            sink.commit(last)?;
            seen.extend(keys);
        }
        Ok(seen)
    }

    fn order_batch(rows: &[Value]) -> Batch {
        let mut batch = Batch::default();
        batch.read(rows, (Stream::Orders, "order_id"), map::order, |b, (order, shipments)| {
            b.orders.push(order);
            b.shipments.extend(shipments);
        });
        batch
    }

    fn refund_batch<'a>(rows: impl IntoIterator<Item = &'a Value>) -> Batch {
        let rows: Vec<Value> = rows.into_iter().cloned().collect();
        let mut batch = Batch::default();
        batch.read(&rows, (Stream::Refunds, "return_id"), map::refund, |b, r| b.refunds.push(r));
        batch
    }

    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let span = window::pass_span(req, true);
        let seen =
            self.read_windows(span, (wire::ORDER_LIST, "order_id", "order_time"), sink, &Self::order_batch).await?;
        // Open orders created before the look-back still change: read each by its detail.
        let open: Vec<String> = req.open_orders.iter().filter(|o| !seen.contains(*o)).cloned().collect();
        let mut details = stream::iter(open)
            .map(|id| self.one(wire::ORDER_DETAIL, "order_id", id))
            .buffered(DETAIL_CONCURRENCY)
            .chunks(wire::PAGE_SIZE);
        while let Some(chunk) = details.next().await {
            let rows = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            sink.commit(Self::order_batch(&rows.into_iter().flatten().collect::<Vec<_>>()))?;
        }
        Ok(())
    }

    /// One record by its id (`order/detail`, `orderReturn/get`); None when the mall no longer
    /// returns it, which keeps the stored row as it is.
    async fn one(&self, path: &str, param: &str, id: String) -> Result<Option<Value>, SyncError> {
        match self.get(path, query(&[(param, id.clone())])).await {
            Ok(answer) => {
                let found = record(answer);
                if found.is_none() {
                    tracing::warn!(path, id, "ShopSuite answered no record; keeping what we have");
                }
                Ok(found)
            }
            Err(SyncError::Vendor { msg, .. }) => {
                tracing::warn!(path, id, msg, "ShopSuite no longer returns this stored record; keeping what we have");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// New returns by creation window, then the stored returns that may still change and were
    /// not listed: by state lists when there are more of them than open states, and the rest
    /// (all of them when few) one by one with `orderReturn/get`.
    async fn sync_refunds(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let open = sink.open_refunds()?;
        let span = window::pass_span(req, false);
        let read = |rows: &[Value]| Self::refund_batch(rows);
        let mut seen =
            self.read_windows(span, (wire::RETURN_LIST, "return_id", "return_add_time"), sink, &read).await?;
        let mut left: Vec<String> = open.into_iter().filter(|id| !seen.contains(id)).collect();
        let states = open_return_states();
        if left.len() > states.len() {
            left = self.read_open_states(&states, left, &mut seen, sink).await?;
        }
        let mut returns = stream::iter(left)
            .map(|id| self.one(wire::RETURN_GET, "return_id", id))
            .buffered(DETAIL_CONCURRENCY)
            .chunks(wire::PAGE_SIZE);
        while let Some(chunk) = returns.next().await {
            let rows = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            sink.commit(Self::refund_batch(rows.iter().flatten()))?;
        }
        Ok(())
    }

    /// Lists the returns in each open state until every one of `left` is found; returns those not
    /// found (they left the open states: closed, or a state the table does not know). A mall that
    /// ignores `returnStateId` answers its whole list to the first query, which then covers all.
    async fn read_open_states(
        &self,
        states: &[&str],
        left: Vec<String>,
        seen: &mut HashSet<String>,
        sink: &mut dyn Sink,
    ) -> Result<Vec<String>, SyncError> {
        let mut left: HashSet<String> = left.into_iter().collect();
        for code in states {
            if left.is_empty() {
                break;
            }
            let q = ListQuery {
                path: wire::RETURN_LIST,
                filter: query(&[("returnStateId", code.to_string()), ("sidx", "return_add_time".into())]),
                key: "return_id",
                label: format!("{} returnStateId {code}", short(wire::RETURN_LIST)),
            };
            let ignored = AtomicBool::new(false);
            let listed = &*seen;
            let read = |rows: &[Value]| {
                if rows.iter().any(|r| values::code(r, "return_state_id") != *code) {
                    ignored.store(true, Ordering::Relaxed);
                }
                Self::refund_batch(
                    rows.iter().filter(|r| values::non_empty(r, "return_id").is_none_or(|id| !listed.contains(&id))),
                )
            };
            let (last, keys, _) = self.read_query(&q, sink, &read).await?;
            sink.commit(last)?;
            left.retain(|id| !keys.contains(id));
            seen.extend(keys);
            if ignored.load(Ordering::Relaxed) {
                tracing::info!(state = code, "the mall ignores returnStateId: its whole return list was read");
                break;
            }
        }
        let mut left: Vec<String> = left.into_iter().collect();
        left.sort();
        Ok(left)
    }

    async fn push_one(&self, item: &PushItem) -> Result<PushOutcome, SyncError> {
        let (path, q) = match &item.payload {
            PushPayload::Status { status: OrderStatus::Cancelled } => (
                wire::CANCEL,
                query(&[("orderId", item.order_no.clone()), ("orderCancelReason", self.cancel_reason.clone())]),
            ),
            PushPayload::Status { status: OrderStatus::Completed } => {
                (wire::RECEIVE, query(&[("orderId", item.order_no.clone())]))
            }
            other => return Ok(PushOutcome::Refused(format!("shopsuite cannot take {other:?}"))),
        };
        push_outcome(self.client.call(Method::POST, path, q, Vec::new(), Idempotency::Write).await)
    }
}

#[async_trait]
impl Connector for ShopSuite {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        match req.stream {
            Stream::Orders => self.sync_orders(req, sink).await,
            Stream::Refunds => self.sync_refunds(req, sink).await,
            Stream::Shipments => Err(SyncError::Shape {
                path: String::new(),
                detail: "ShopSuite shipments come with the orders stream".into(),
            }),
        }
    }

    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError> {
        one_by_one(items, |item| self.push_one(item)).await
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        one_by_one(items, |item| async move {
            let detail = self.one(wire::ORDER_DETAIL, "order_id", item.order_no.clone()).await?;
            let state = detail.and_then(|d| values::int(&d, "order_state_id").ok().flatten());
            let target = match &item.payload {
                PushPayload::Status { status: OrderStatus::Cancelled } => Some(wire::STATE_CANCELLED),
                PushPayload::Status { status: OrderStatus::Completed } => Some(wire::STATE_RECEIVED),
                _ => None,
            };
            Ok(if state.is_some() && state == target { ReadBack::Applied } else { ReadBack::NotApplied })
        })
        .await
    }
}
