//! Drains the outbox: claim due entries with a lease, read back what may have landed, send in
//! batches no larger than the platform allows (never over 20), and settle each entry.
//!
//! Architecture invariant: an entry reaches `done` exactly once (settling is fenced by the
//! claim), and an entry whose earlier send may have landed is read back before it is resent.

use crate::lease::{self, Hold, WhenHeld};
use crate::platforms::{Capabilities, PushItem, PushOutcome, ReadBack, SyncError, MAX_BATCH};
use crate::retry;
use crate::runtime::{Runtime, Shop};
use crate::store::{Claimed, Settlement, Store, StoreError};
use chrono::{Duration as ChronoDuration, Utc};
use tokio_util::sync::CancellationToken;

/// Entries claimed per round; a round's batches are sent before more are claimed.
const CLAIM_LIMIT: usize = 100;

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Push requests sent.
    pub requests: u64,
    /// Entries settled done by sending.
    pub done: u64,
    /// Entries found applied by read-back and settled done without sending.
    pub read_back: u64,
    /// Entries settled failed.
    pub failed: u64,
    /// Entries put back for a later attempt.
    pub retried: u64,
    /// Shops left to another process that was flushing them at the same time.
    pub held: u64,
}

impl FlushReport {
    fn add(&mut self, o: FlushReport) {
        self.requests += o.requests;
        self.done += o.done;
        self.read_back += o.read_back;
        self.failed += o.failed;
        self.retried += o.retried;
        self.held += o.held;
    }
}

/// Delivers every due entry of every shop (shops in parallel, each under its own limiter).
pub async fn flush_all(rt: &Runtime, cancel: &CancellationToken) -> Result<FlushReport, StoreError> {
    let due = rt.store()?.shops_with_due(Utc::now())?;
    let mut report = FlushReport::default();
    let jobs = due.iter().filter_map(|id| {
        let shop = rt.shop(id);
        if shop.is_none() {
            tracing::warn!(shop = id, "outbox has entries for a shop that is not in the config; they wait until it is");
        }
        shop.map(|s| flush_shop(rt, s, cancel))
    });
    for r in futures_util::future::join_all(jobs).await {
        report.add(r?);
    }
    Ok(report)
}

/// Delivers every due entry of one shop, under the shop's flush lease; a shop another process
/// is flushing right now is left to it (its claims are that process's to settle anyway).
pub async fn flush_shop(rt: &Runtime, shop: &Shop, cancel: &CancellationToken) -> Result<FlushReport, StoreError> {
    let mut store = rt.store()?;
    let lease = match lease::take(rt, &mut store, &shop.config.id, "flush", WhenHeld::Skip, cancel).await? {
        Hold::Taken(lease) => lease,
        Hold::Skipped(by) => {
            tracing::info!(shop = shop.config.id, holder = by, "flush skipped: another process is flushing this shop");
            return Ok(FlushReport { held: 1, ..FlushReport::default() });
        }
        Hold::Cancelled => return Ok(FlushReport::default()),
    };
    match lease::renewing(rt, &lease, flush_held(rt, shop, cancel, &mut store)).await {
        Some(report) => report,
        // The claims this flush made stay in flight under their own lease, read back when due.
        None => Ok(FlushReport::default()),
    }
}

async fn flush_held(
    rt: &Runtime,
    shop: &Shop,
    cancel: &CancellationToken,
    store: &mut Store,
) -> Result<FlushReport, StoreError> {
    let cfg = &rt.config.push;
    let mut report = FlushReport::default();
    let caps = shop.connector.capabilities();
    while !cancel.is_cancelled() {
        let claimed = store.claim_due(&shop.config.id, Utc::now(), cfg.lease, CLAIM_LIMIT)?;
        if claimed.is_empty() {
            break;
        }
        let mut sendable = Vec::new();
        for c in claimed {
            match &c.payload {
                Ok(payload) => match caps.check(payload) {
                    Ok(()) => sendable.push(c),
                    Err(why) => settle(store, &c, Settlement::Failed(why), &mut report)?,
                },
                Err(why) => {
                    tracing::error!(
                        shop = shop.config.id,
                        id = c.id,
                        error = why,
                        "outbox row cannot be read; marked failed"
                    );
                    let why = why.clone();
                    settle(store, &c, Settlement::Failed(why), &mut report)?;
                }
            }
        }
        let mut stop = false;
        for batch in batches(sendable, caps) {
            if stop || cancel.is_cancelled() {
                // Unsent claims go back as they were; nothing was sent for them.
                for c in &batch {
                    let again = Settlement::Retry {
                        reason: "flush stopped before sending".into(),
                        at: Utc::now(),
                        may_have_applied: false,
                    };
                    store.settle(c, &again, Utc::now())?;
                }
                continue;
            }
            stop = !send_batch(store, shop, caps, batch, &mut report, rt).await?;
        }
        if stop {
            break;
        }
    }
    let m = &crate::metrics::METRICS;
    for (outcome, n) in
        [("done", report.done), ("read_back", report.read_back), ("failed", report.failed), ("retried", report.retried)]
    {
        m.pushes.with_label_values(&[shop.config.id.as_str(), outcome]).inc_by(n);
    }
    Ok(report)
}

/// Groups claims by kind into requests of at most the platform's batch size, never two entries
/// for the same order in one request (per-entry answers are keyed by order number).
fn batches(claims: Vec<Claimed>, caps: &Capabilities) -> Vec<Vec<Claimed>> {
    let size = caps.max_batch.clamp(1, MAX_BATCH);
    let mut out: Vec<Vec<Claimed>> = Vec::new();
    for c in claims {
        let kind = c.payload.as_ref().map(|p| p.kind()).ok();
        let slot = out.iter_mut().find(|b| {
            b.len() < size
                && b[0].payload.as_ref().map(|p| p.kind()).ok() == kind
                && b.iter().all(|o| o.order_no != c.order_no)
        });
        match slot {
            Some(b) => b.push(c),
            None => out.push(vec![c]),
        }
    }
    out
}

fn items(store: &Store, shop_id: &str, claims: &[Claimed]) -> Result<Vec<PushItem>, StoreError> {
    let mut out = Vec::new();
    for c in claims {
        if let Ok(payload) = &c.payload {
            let shipment_ids = store.shipment_ids(shop_id, &c.order_no)?;
            out.push(PushItem { id: c.id, order_no: c.order_no.clone(), payload: payload.clone(), shipment_ids });
        }
    }
    Ok(out)
}

/// Reads back and sends one batch; returns false when the shop's flush should stop (the
/// platform refused the request itself, e.g. a bad token: more requests would fail the same way).
async fn send_batch(
    store: &mut Store,
    shop: &Shop,
    caps: &Capabilities,
    batch: Vec<Claimed>,
    report: &mut FlushReport,
    rt: &Runtime,
) -> Result<bool, StoreError> {
    let mut to_send = Vec::new();
    let (check, direct): (Vec<_>, Vec<_>) = batch.into_iter().partition(|c| {
        c.payload.as_ref().is_ok_and(|p| {
            let kind = p.kind();
            caps.read_back.contains(&kind) && (c.needs_read_back || shop.connector.read_back_first(kind))
        })
    });
    to_send.extend(direct);
    if !check.is_empty() {
        let items = items(store, &shop.config.id, &check)?;
        match shop.connector.read_back(&items).await {
            Ok(results) => {
                for (c, r) in check.into_iter().zip(results) {
                    if r == ReadBack::Applied {
                        tracing::info!(
                            shop = shop.config.id,
                            id = c.id,
                            order = c.order_no,
                            "push found applied on read-back; settled without resending"
                        );
                        settle(store, &c, Settlement::Done { read_back: true }, report)?;
                    } else {
                        to_send.push(c);
                    }
                }
            }
            Err(e) => {
                // Without knowing whether it landed, sending again could apply it twice: wait.
                for c in &check {
                    retry_or_fail(store, c, &e, rt, report)?;
                }
                return Ok(e.is_transient());
            }
        }
    }
    if to_send.is_empty() {
        return Ok(true);
    }
    let items = items(store, &shop.config.id, &to_send)?;
    report.requests += 1;
    match shop.connector.push(&items).await {
        Ok(outcomes) => {
            for (c, outcome) in to_send.iter().zip(outcomes) {
                match outcome {
                    PushOutcome::Done => settle(store, c, Settlement::Done { read_back: false }, report)?,
                    PushOutcome::AlreadyApplied => settle(store, c, Settlement::Done { read_back: true }, report)?,
                    PushOutcome::Refused(code) => {
                        tracing::warn!(
                            shop = shop.config.id,
                            id = c.id,
                            order = c.order_no,
                            code,
                            "platform refused the push"
                        );
                        settle(store, c, Settlement::Failed(format!("refused by {}: {code}", caps.platform)), report)?
                    }
                    PushOutcome::Retry(why) => {
                        let e = SyncError::Vendor { path: String::new(), code: "retry".into(), msg: why };
                        retry_or_fail(store, c, &e, rt, report)?
                    }
                }
            }
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(shop = shop.config.id, entries = to_send.len(), error = %e, "push request failed");
            for c in &to_send {
                retry_or_fail(store, c, &e, rt, report)?;
            }
            Ok(e.is_transient())
        }
    }
}

fn settle(store: &mut Store, c: &Claimed, how: Settlement, report: &mut FlushReport) -> Result<(), StoreError> {
    if store.settle(c, &how, Utc::now())? {
        match how {
            Settlement::Done { read_back: true } => report.read_back += 1,
            Settlement::Done { read_back: false } => report.done += 1,
            Settlement::Failed(_) => report.failed += 1,
            Settlement::Retry { .. } => report.retried += 1,
        }
    }
    Ok(())
}

fn retry_or_fail(
    store: &mut Store,
    c: &Claimed,
    e: &SyncError,
    rt: &Runtime,
    report: &mut FlushReport,
) -> Result<(), StoreError> {
    let cfg = &rt.config.push;
    let reason = e.to_string();
    if c.attempts >= cfg.max_attempts {
        let why = format!("gave up after {} attempts: {reason}", c.attempts);
        return settle(store, c, Settlement::Failed(why), report);
    }
    let backoff = retry::outbox_delay(c.attempts, cfg.retry_base, cfg.retry_max);
    // The server's Retry-After wins over our own schedule when it asks for longer.
    let delay = e.retry_after().map_or(backoff, |ra| ra.max(backoff));
    let at = Utc::now() + ChronoDuration::from_std(delay).unwrap_or(ChronoDuration::seconds(60));
    settle(store, c, Settlement::Retry { reason, at, may_have_applied: e.may_have_applied() }, report)
}
