//! `GET /metrics` in the Prometheus text exposition format, and the counters and histograms the
//! service keeps. Every series carries the instance's name, so several instances behind one
//! balancer can be told apart after scraping.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_protocol::error::ErrorCode;
use assent_protocol::request::RequestStatus;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, instance: &str) {
        write_header(out, name, "histogram", help);
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{instance=\"{instance}\",le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{instance=\"{instance}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{instance=\"{instance}\"}} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{instance=\"{instance}\"}} {count}");
    }
}

/// What the service counts and times.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Refusals answered, by route and code.
    refusals: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Connections closed on arrival, by the limit they hit.
    refused_connections: Mutex<BTreeMap<&'static str, u64>>,
    /// From a request's creation to its push being queued on a connection.
    pub push_latency: Histogram,
    /// Time to record a decision (from its call's arrival to the answer).
    pub decision_latency: Histogram,
    /// One callback delivery attempt.
    pub callback_latency: Histogram,
    /// Stream messages sent to devices.
    pub pushes: AtomicU64,
    /// "This wasn't me" reports recorded by this instance (each froze a person for an app).
    pub fraud_reports: AtomicU64,
    /// Authenticated calls being worked on (see [`Working`]).
    calls_working: AtomicUsize,
}

/// One authenticated call whose body has arrived, counted in [`Metrics::calls_working`] until it
/// is answered (or dropped unfinished, when its client goes away). What the count leaves out is
/// deliberate: a client still sending its headers or body, or one that never authenticates, costs
/// the service nothing but a socket and must not make it refuse work (a slow sender would
/// otherwise shut new requests off for everyone); a status long-poll waiting for a request's end
/// stops counting while it waits ([`Working::stop`]).
#[derive(Debug)]
pub struct Working {
    metrics: Arc<Metrics>,
    counted: bool,
}

impl Working {
    /// Counts a call from now on.
    pub fn start(metrics: &Arc<Metrics>) -> Working {
        metrics.calls_working.fetch_add(1, Ordering::Relaxed);
        Working {
            metrics: Arc::clone(metrics),
            counted: true,
        }
    }

    /// Stops counting this call (it is about to wait, not work).
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.metrics.calls_working.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Metrics {
    /// Authenticated calls being worked on right now, the one asking included (see [`Working`]).
    pub fn calls_working(&self) -> usize {
        self.calls_working.load(Ordering::Relaxed)
    }

    /// Counts a refusal answered on `route` with `code`.
    pub fn refusal(&self, route: &str, code: ErrorCode) {
        *self
            .refusals
            .lock()
            .expect("metrics lock")
            .entry((route.to_owned(), code.as_str()))
            .or_insert(0) += 1;
    }

    /// Counts a connection closed on arrival because of `limit`.
    pub fn refused_connection(&self, limit: &'static str) {
        *self
            .refused_connections
            .lock()
            .expect("metrics lock")
            .entry(limit)
            .or_insert(0) += 1;
    }
}

/// Counts every refusal by route and code, and times decisions. When `ASSENT_REFUSAL_LOG` names a
/// file, each refusal is also appended to it as `METHOD ROUTE CODE` (the test suites use this to
/// check that `docs/api.md` lists every code an endpoint returns).
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unknown route)".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    if route.ends_with("/decision") && response.status().is_success() {
        state.metrics.decision_latency.observe(started.elapsed());
    }
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.refusal(&route, *code);
        if let Some(path) = std::env::var_os("ASSENT_REFUSAL_LOG") {
            let line = format!("{method} {route} {}\n", code.as_str());
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = file.write_all(line.as_bytes());
            }
        }
    }
    response
}

/// A series' `# HELP` and `# TYPE` lines.
fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the metrics.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.metrics().await?;
    let instance = &state.config.instance;
    let m = &state.metrics;
    let mut out = String::new();
    let single = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
        write_header(out, name, kind, help);
        let _ = writeln!(out, "{name}{{instance=\"{instance}\"}} {value}");
    };
    single(
        &mut out,
        "assent_connected_devices",
        "gauge",
        "Distinct devices with an open push stream on this instance.",
        state.hub.connected_devices(),
    );
    single(
        &mut out,
        "assent_calls_working",
        "gauge",
        "Authenticated calls this instance is working on (long-polls waiting are not counted).",
        m.calls_working() as u64,
    );
    single(
        &mut out,
        "assent_stream_connections",
        "gauge",
        "Open push-stream connections on this instance.",
        state.hub.connections(),
    );
    write_header(
        &mut out,
        "assent_requests",
        "gauge",
        "Approval requests by stored status (database-wide).",
    );
    for status in RequestStatus::ALL {
        let n = counts
            .requests_by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "assent_requests{{instance=\"{instance}\",status=\"{status}\"}} {n}"
        );
    }
    single(
        &mut out,
        "assent_callback_backlog",
        "gauge",
        "Callbacks waiting to be delivered (database-wide).",
        counts.callback_backlog,
    );
    single(
        &mut out,
        "assent_pushes_total",
        "counter",
        "Stream messages queued for devices on this instance.",
        m.pushes.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "assent_fraud_reports_total",
        "counter",
        "\"This wasn't me\" denials recorded on this instance (refusals of frozen people are under assent_refusals_total, code 60117).",
        m.fraud_reports.load(Ordering::Relaxed),
    );
    write_header(
        &mut out,
        "assent_refusals_total",
        "counter",
        "Calls refused, by route and error code.",
    );
    for ((route, code), n) in m.refusals.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "assent_refusals_total{{instance=\"{instance}\",route=\"{route}\",code=\"{code}\"}} {n}"
        );
    }
    write_header(
        &mut out,
        "assent_refused_connections_total",
        "counter",
        "Connections closed on arrival, by the limit they hit.",
    );
    for (limit, n) in m.refused_connections.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "assent_refused_connections_total{{instance=\"{instance}\",limit=\"{limit}\"}} {n}"
        );
    }
    m.push_latency.render(
        &mut out,
        "assent_push_latency_seconds",
        "From a request's creation to its push being queued for a connected device.",
        instance,
    );
    m.decision_latency.render(
        &mut out,
        "assent_decision_latency_seconds",
        "Time to verify and record a decision.",
        instance,
    );
    m.callback_latency.render(
        &mut out,
        "assent_callback_delivery_seconds",
        "One callback delivery attempt.",
        instance,
    );
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    ))
}
