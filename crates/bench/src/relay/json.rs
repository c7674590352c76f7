//! The relay's JSON output, written straight into a connection's batch of
//! replies (or an event's buffer) without building values first.

use std::io::Write as _;

/// Writes `s` as a JSON string.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    // A &str always serialises, and Vec writes cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes `{"re":RE,"ok":true` (the caller closes the object).
pub(super) fn ok_head(out: &mut Vec<u8>, re: Option<u64>) {
    let _ = match re {
        Some(re) => write!(out, "{{\"re\":{re},\"ok\":true"),
        None => write!(out, "{{\"re\":null,\"ok\":true"),
    };
}

/// Appends a failed reply.
pub(super) fn err_reply(out: &mut Vec<u8>, re: Option<u64>, code: &str, error: &str) {
    let _ = match re {
        Some(re) => write!(
            out,
            "{{\"re\":{re},\"ok\":false,\"code\":\"{code}\",\"error\":"
        ),
        None => write!(
            out,
            "{{\"re\":null,\"ok\":false,\"code\":\"{code}\",\"error\":"
        ),
    };
    json_str(out, error);
    out.extend_from_slice(b"}\n");
}

/// Writes `{"id":ID,"name":NAME` plus `,"online":B` when given, and `}`.
pub(super) fn user_obj(out: &mut Vec<u8>, id: u64, name: &str, online: Option<bool>) {
    let _ = write!(out, "{{\"id\":{id},\"name\":");
    json_str(out, name);
    if let Some(on) = online {
        let _ = write!(out, ",\"online\":{on}");
    }
    out.push(b'}');
}
