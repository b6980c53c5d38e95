//! Prometheus metrics through the `metrics` facade. One recorder per **process**, installed
//! the first time a router is built and shared by every node the process runs (the e2e
//! tests run many): per-node recorders would need `metrics::with_local_recorder`, which
//! does not follow the work across `.await`s and threads, so core's
//! `metrics::counter!`/`histogram!` calls could not reach them. Each node's `/metrics`
//! renders the process's series. If another recorder was installed first, `/metrics`
//! still answers, with what this module's handle sees (nothing), and a warning is logged.
//!
//! Series:
//! - `baseplate_http_requests_total{method,route,status}` and
//!   `baseplate_http_request_duration_seconds{method,route}` (histogram), from `observe`;
//!   `route` is the matched route template (`/api/v1/orders/{id}`), `unmatched` otherwise.
//! - emitted by core: `baseplate_plugin_calls_total{plugin,hook,outcome}`,
//!   `baseplate_plugin_call_duration_seconds{plugin,hook}`, and the gauges
//!   `baseplate_outbox_pending`, `baseplate_timers_due` (described here, so they carry help).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const HTTP_REQUESTS: &str = "baseplate_http_requests_total";
pub const HTTP_DURATION: &str = "baseplate_http_request_duration_seconds";
pub const PLUGIN_CALLS: &str = "baseplate_plugin_calls_total";
pub const PLUGIN_CALL_DURATION: &str = "baseplate_plugin_call_duration_seconds";
pub const OUTBOX_PENDING: &str = "baseplate_outbox_pending";
pub const TIMERS_DUE: &str = "baseplate_timers_due";

/// Buckets for every `*_seconds` histogram: 1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder is installed; /metrics will not see the platform's series"
                );
            }
            describe();
            // Histograms keep raw samples until drained; drain them even if nobody scrapes.
            // A plain thread, so it outlives whichever async runtime built the first router.
            let h = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        h.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route template"
    );
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin hook calls, by plugin, hook and outcome"
    );
    describe_histogram!(
        PLUGIN_CALL_DURATION,
        Unit::Seconds,
        "Plugin hook call duration, by plugin and hook"
    );
    describe_gauge!(OUTBOX_PENDING, "Events in the outbox not yet delivered");
    describe_gauge!(TIMERS_DUE, "Plugin timers due and not yet fired");
}

/// The Prometheus text exposition of the process's series.
pub fn render() -> String {
    install().render()
}
