//! The web client's files, embedded in the binary at build time (see
//! `build.rs`): the server needs no files and no network to serve them.

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Shown at `/` by a binary built without a web client.
const NO_CLIENT: &str = "<!doctype html><title>chat</title><p>This server was built without \
    its web client (the folder <code>web/</code> was empty). The WebSocket transport is at \
    <code>/ws</code>.</p>";

/// The file at `path` (`/` is `/index.html`): its content type and bytes.
pub fn find(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
        .or_else(|| {
            (path == "/index.html").then_some(("text/html; charset=utf-8", NO_CLIENT.as_bytes()))
        })
}
