//! Prometheus metrics, served on `[daemon] metrics_listen` when it is set.
//!
//! Counters and histograms are updated where the work happens (HTTP client, sync pass, push
//! settlement); gauges that describe the database (lag, outbox depth) are read at scrape time.

use crate::runtime::Runtime;
use chrono::{DateTime, Utc};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use std::sync::{Arc, LazyLock};

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// Requests to platforms by shop, endpoint and outcome.
    pub requests: IntCounterVec,
    /// Rows written by sync passes, by shop, stream and kind (new, changed, kept_raw).
    pub rows: IntCounterVec,
    /// Push entries settled, by shop and outcome (done, read_back, failed, retried).
    pub pushes: IntCounterVec,
    /// Sync pass durations by shop and stream.
    pub pass_seconds: HistogramVec,
    lag: IntGaugeVec,
    outbox: IntGaugeVec,
    link_shipments: IntGaugeVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("ordersync".into()), None)?;
    let requests = IntCounterVec::new(
        Opts::new("http_requests_total", "Requests to platforms"),
        &["shop", "endpoint", "outcome"],
    )?;
    let rows = IntCounterVec::new(
        Opts::new("rows_written_total", "Rows written by sync passes"),
        &["shop", "stream", "kind"],
    )?;
    let pushes = IntCounterVec::new(Opts::new("push_entries_total", "Outbox entries settled"), &["shop", "outcome"])?;
    let pass_seconds = HistogramVec::new(
        HistogramOpts::new("sync_pass_seconds", "Duration of sync passes")
            .buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
        &["shop", "stream"],
    )?;
    let lag = IntGaugeVec::new(
        Opts::new("stream_lag_seconds", "Seconds since the last successful pass"),
        &["shop", "stream"],
    )?;
    let outbox = IntGaugeVec::new(Opts::new("outbox_entries", "Outbox entries by state"), &["shop", "state"])?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(rows.clone()))?;
    registry.register(Box::new(pushes.clone()))?;
    registry.register(Box::new(pass_seconds.clone()))?;
    registry.register(Box::new(lag.clone()))?;
    let link_shipments = IntGaugeVec::new(
        Opts::new("link_shipments", "Linked supplier shipments by state (forwarded, waiting, failed, skipped)"),
        &["from", "to", "state"],
    )?;
    registry.register(Box::new(outbox.clone()))?;
    registry.register(Box::new(link_shipments.clone()))?;
    Ok(Metrics { registry, requests, rows, pushes, pass_seconds, lag, outbox, link_shipments })
}

/// The process's metrics (registered once; the names are fixed, so building cannot fail).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("static metric definitions are valid"));

/// The exposition text, with the database gauges refreshed from `rt`.
pub fn render(rt: &Runtime) -> String {
    let m = &*METRICS;
    if let Ok(store) = rt.store() {
        let now = Utc::now();
        for s in store.stream_statuses().unwrap_or_default() {
            let success = s.last_success_at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            let lag = success.map_or(-1, |t| (now - t.with_timezone(&Utc)).num_seconds());
            m.lag.with_label_values(&[&s.shop_id, &s.stream]).set(lag);
        }
        for o in store.outbox_depths().unwrap_or_default() {
            for (state, n) in
                [("pending", o.pending), ("in_flight", o.in_flight), ("failed", o.failed), ("done", o.done)]
            {
                m.outbox.with_label_values(&[&o.shop_id, state]).set(n as i64);
            }
        }
        for link in rt.links.iter() {
            let Ok(f) = store.link_figures(&link.from, &link.to) else { continue };
            for (state, n) in
                [("forwarded", f.forwarded), ("waiting", f.waiting), ("failed", f.failed), ("skipped", f.skipped)]
            {
                m.link_shipments.with_label_values(&[&f.from, &f.to, state]).set(n as i64);
            }
        }
    }
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Serves `GET /metrics` on `addr` until `stop` is cancelled.
pub async fn serve(
    addr: std::net::SocketAddr,
    rt: Arc<std::sync::RwLock<Arc<Runtime>>>,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving metrics on /metrics");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let rt = rt.read().map(|r| Arc::clone(&r)).ok();
            async move {
                let body = rt.map(|rt| render(&rt)).unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
}
