//! Names and helpers for the node's metrics (Prometheus names: `chat_`
//! prefix, `_total` counters, `_seconds` histograms, no user ids in
//! labels). Without an installed recorder these calls cost almost nothing.

use std::time::Duration;

use chat_proto::ErrorCode;

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
