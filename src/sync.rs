//! One pass of one stream for one shop: cursor in, batches committed, cursor out.
//!
//! Architecture invariant: the cursor only moves inside the transaction that commits the rows
//! before it (the connector attaches it to a batch; [`StoreSink`] commits both at once).

use crate::lease::{self, Hold, WhenHeld};
use crate::model::Stream;
use crate::platforms::{Batch, Interruptible, Sink, StoredOrder, SyncError, SyncRequest};
use crate::runtime::{Runtime, Shop};
use crate::store::{BatchCounts, Lease, RunEnd, Store};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What a finished pass did.
#[derive(Debug, Clone, Copy)]
pub struct PassReport {
    /// Row counts over all batches (none when another process held the pass).
    pub counts: BatchCounts,
}

/// A failed pass, naming the shop and stream.
#[derive(Debug, thiserror::Error)]
#[error("shop `{shop}` stream `{stream}`: {source}")]
pub struct PassError {
    /// The shop.
    pub shop: String,
    /// The stream.
    pub stream: Stream,
    /// What went wrong.
    pub source: SyncError,
    /// What was committed before the failure.
    pub counts: BatchCounts,
}

struct StoreSink<'a> {
    store: &'a mut Store,
    /// The pass's lease: every batch commits only while it is still ours.
    lease: &'a Lease,
    shop_id: &'a str,
    platform: &'a str,
    stream: Stream,
    counts: BatchCounts,
    batches: u64,
    shortfalls: Vec<String>,
}

impl Sink for StoreSink<'_> {
    fn commit(&mut self, batch: Batch) -> Result<(), SyncError> {
        for short in &batch.shortfalls {
            tracing::warn!(shop = self.shop_id, stream = %self.stream, %short, "rows fell short of the vendor's total after a re-read; the cursor stays before this window");
            self.shortfalls.push(short.to_string());
        }
        let c = self.store.commit_batch_under(
            Some(self.lease),
            self.shop_id,
            self.platform,
            self.stream,
            &batch,
            Utc::now(),
        )?;
        self.counts.add(c);
        self.batches += 1;
        Ok(())
    }

    fn stored_orders(&mut self, order_nos: &[String]) -> Result<Vec<StoredOrder>, SyncError> {
        Ok(self.store.stored_orders(self.shop_id, order_nos)?)
    }

    fn known_orders(&mut self, raw_hashes: &[i64]) -> Result<Vec<(i64, String)>, SyncError> {
        Ok(self.store.orders_by_raw_hash(self.shop_id, raw_hashes)?)
    }

    fn shipment_candidates(
        &mut self,
        changed_since: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(StoredOrder, Vec<String>)>, SyncError> {
        Ok(self.store.shipment_candidates(self.shop_id, changed_since, after, limit)?)
    }

    fn open_refunds(&mut self) -> Result<Vec<String>, SyncError> {
        Ok(self.store.open_refunds(self.shop_id)?)
    }
}

/// Runs one pass of `stream` for `shop`, waiting while another process holds it.
pub async fn run_pass(
    rt: &Runtime,
    shop: &Shop,
    stream: Stream,
    cancel: &CancellationToken,
) -> Result<PassReport, PassError> {
    run_pass_with(rt, shop, stream, cancel, WhenHeld::Wait).await
}

/// Runs one pass of `stream` for `shop` under its lease, recording it in `sync_state` and
/// `sync_runs`; `when` says what to do while another process holds the pass.
pub async fn run_pass_with(
    rt: &Runtime,
    shop: &Shop,
    stream: Stream,
    cancel: &CancellationToken,
    when: WhenHeld,
) -> Result<PassReport, PassError> {
    let fail =
        |source: SyncError| PassError { shop: shop.config.id.clone(), stream, source, counts: BatchCounts::default() };
    let mut store = rt.store().map_err(|e| fail(e.into()))?;
    let lease = match lease::take(rt, &mut store, &shop.config.id, stream.as_str(), when, cancel).await {
        Ok(Hold::Taken(lease)) => lease,
        Ok(Hold::Skipped(by)) => {
            tracing::info!(shop = shop.config.id, %stream, holder = by, "sync pass skipped: another process holds it");
            return Ok(PassReport { counts: BatchCounts::default() });
        }
        Ok(Hold::Cancelled) => return Err(fail(SyncError::Interrupted)),
        Err(e) => return Err(fail(e.into())),
    };
    let name = format!("{}/{stream}/{}/{}", shop.config.id, crate::holder::this().id, lease.claim);
    let work = crate::platforms::http::PASS.scope(name, pass(shop, stream, cancel, &mut store, &lease));
    let result = lease::renewing(rt, &lease, work).await;
    lease::give_back(&mut store, &lease);
    match result {
        Some(result) => result,
        None => Err(fail(SyncError::LeaseLost)),
    }
}

async fn pass(
    shop: &Shop,
    stream: Stream,
    cancel: &CancellationToken,
    store: &mut Store,
    lease: &Lease,
) -> Result<PassReport, PassError> {
    let fail = |source: SyncError, counts| PassError { shop: shop.config.id.clone(), stream, source, counts };
    let shop_id = shop.config.id.as_str();
    let now = Utc::now();
    let run = store.run_started(shop_id, stream, now).map_err(|e| fail(e.into(), BatchCounts::default()))?;
    let req = SyncRequest {
        stream,
        cursor: store.cursor(shop_id, stream).map_err(|e| fail(e.into(), BatchCounts::default()))?,
        now,
        backfill_days: shop.config.backfill_days,
        lookback_days: shop.config.lookback_days,
        open_orders: store.open_orders(shop_id).map_err(|e| fail(e.into(), BatchCounts::default()))?,
    };
    let mut sink = StoreSink {
        store,
        lease,
        shop_id,
        platform: &shop.config.platform,
        stream,
        counts: BatchCounts::default(),
        batches: 0,
        shortfalls: Vec::new(),
    };
    let started = std::time::Instant::now();
    // The span names shop and stream on every line the connector logs.
    let span = tracing::info_span!("pass", shop = shop_id, %stream);
    let result = shop
        .connector
        .sync(&req, &mut Interruptible { inner: &mut sink, cancel: cancel.clone() })
        .instrument(span)
        .await;
    let (counts, batches) = (sink.counts, sink.batches);
    let incomplete = (!sink.shortfalls.is_empty()).then(|| sink.shortfalls.join("; "));
    let error = result.as_ref().err().map(|e| e.to_string());
    let m = &crate::metrics::METRICS;
    for (kind, n) in [("new", counts.inserted), ("changed", counts.updated), ("kept_raw", counts.rejected)] {
        m.rows.with_label_values(&[shop_id, stream.as_str(), kind]).inc_by(n);
    }
    m.pass_seconds.with_label_values(&[shop_id, stream.as_str()]).observe(started.elapsed().as_secs_f64());
    // One summary line per pass, success or not: what an admin greps the journal for.
    let unchanged = counts.seen.saturating_sub(counts.inserted + counts.updated + counts.stale + counts.rejected);
    tracing::info!(
        shop = shop_id,
        %stream,
        batches,
        seen = counts.seen,
        new = counts.inserted,
        changed = counts.updated,
        unchanged,
        stale = counts.stale,
        kept_raw = counts.rejected,
        incomplete = incomplete.as_deref().unwrap_or(""),
        duration_ms = started.elapsed().as_millis() as u64,
        error = error.as_deref().unwrap_or(""),
        "sync pass {}",
        if error.is_none() { "done" } else { "failed" }
    );
    if let Err(e) = store.run_finished(
        run,
        shop_id,
        stream,
        Utc::now(),
        RunEnd { counts, error: error.as_deref(), incomplete: incomplete.as_deref() },
    ) {
        tracing::error!(shop = shop_id, %stream, error = %e, "could not record the end of the pass");
    }
    match result {
        Ok(()) => Ok(PassReport { counts }),
        Err(e) => Err(fail(e, counts)),
    }
}
