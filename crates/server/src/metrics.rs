//! Names and helpers for the node's metrics (Prometheus names: `chat_`
//! prefix, `_total` counters, `_seconds` histograms, no user ids in
//! labels). Without an installed recorder these calls cost almost nothing.

use std::sync::OnceLock;
use std::time::Duration;

use chat_proto::ErrorCode;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's metrics recorder. The `metrics` facade is process-wide by
/// design, so this is the one global: nodes in one process share it.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and gives every
/// gauge and counter a value, so `/metrics` is complete from the start.
pub fn install() {
    let handle = RECORDER.get_or_init(|| {
        let buckets = [
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0,
        ];
        let builder = PrometheusBuilder::new().set_buckets(&buckets).ok()?;
        match builder.install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        }
    });
    if handle.is_some() {
        metrics::gauge!("chat_connections").increment(0.0);
        metrics::gauge!("chat_sessions").increment(0.0);
        for name in [
            "chat_connections_total",
            "chat_messages_stored_total",
            "chat_messages_delivered_total",
            "chat_store_write_ops_total",
            "chat_store_conflicts_total",
            "chat_bus_received_total",
            "chat_bus_dropped_total",
            "chat_bus_outages_total",
        ] {
            metrics::counter!(name).increment(0);
        }
    }
}

/// The metrics in the Prometheus text format (after upkeep).
pub fn render() -> Option<String> {
    let handle = RECORDER.get()?.as_ref()?;
    handle.run_upkeep();
    Some(handle.render())
}

pub fn connection_opened() {
    metrics::counter!("chat_connections_total").increment(1);
    metrics::gauge!("chat_connections").increment(1.0);
}

pub fn connection_closed() {
    metrics::gauge!("chat_connections").decrement(1.0);
}

pub fn session_started() {
    metrics::gauge!("chat_sessions").increment(1.0);
}

pub fn session_ended() {
    metrics::gauge!("chat_sessions").decrement(1.0);
}

pub fn request(op: &'static str) {
    metrics::counter!("chat_requests_total", "op" => op).increment(1);
}

pub fn error(code: ErrorCode) {
    metrics::counter!("chat_errors_total", "code" => code.as_str()).increment(1);
}

pub fn store_write(took: Duration, ops: usize) {
    metrics::histogram!("chat_store_write_seconds").record(took.as_secs_f64());
    metrics::counter!("chat_store_write_ops_total").increment(ops as u64);
}

pub fn message_stored() {
    metrics::counter!("chat_messages_stored_total").increment(1);
}

pub fn delivered(n: usize) {
    metrics::counter!("chat_messages_delivered_total").increment(n as u64);
}

pub fn store_conflict() {
    metrics::counter!("chat_store_conflicts_total").increment(1);
}

pub fn bus_call(took: Duration) {
    metrics::histogram!("chat_bus_seconds").record(took.as_secs_f64());
}

pub fn bus_received() {
    metrics::counter!("chat_bus_received_total").increment(1);
}

pub fn bus_dropped() {
    metrics::counter!("chat_bus_dropped_total").increment(1);
}

pub fn bus_unreadable() {
    metrics::counter!("chat_bus_unreadable_total").increment(1);
}

pub fn bus_outage() {
    metrics::counter!("chat_bus_outages_total").increment(1);
}
